package main

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
)

// envOnly are the variables that have no flag, in the order the usage text
// lists them: keys and secrets, kept off the command line, which every user
// of the machine can read (ps).
var envOnly = []struct{ name, usage string }{
	{envPrivateKey, "the signing key: base64 of a private JWK (as powersync-keygen prints it),\n" +
		"JWK JSON or PEM. Without -store, the server signs with it alone; with\n" +
		"-store, it becomes the first key of an empty ring (default: the ring's keys)"},
	{envPublicKey, "more public keys to publish, comma-separated, when the server keeps\n" +
		"no key ring: a retired key during a rotation by hand, say (the signing\n" +
		"key's own public half may be given); with a ring it is not used"},
	{envKEK, "key-encryption keys that seal the key ring's private keys at rest:\n" +
		"base64 of 32 random bytes (openssl rand -base64 32), comma-separated;\n" +
		"the first seals, all open (to change it: add the new one second on every\n" +
		"replica, then put it first and run powersync-auth keys rewrap)"},
	{envAnonKey, "the Supabase project's anon or publishable key"},
	{envJWTSecret, "the Supabase project's legacy JWT secret, to verify HS256 access tokens"},
}

// readSecrets reads the environment variables that hold keys and secrets.
// Its errors name the variable and the reason, never the value.
func (c *config) readSecrets(getenv func(string) string) error {
	if v := getenv(envPrivateKey); v != "" {
		k, err := jwks.ParseKey([]byte(v))
		if err != nil {
			return configErrorf("%s: %s", envPrivateKey, reason(err))
		}
		if !k.CanSign() {
			return configErrorf("%s holds a public key (kid %q); it must be the private key, and the public key goes in %s",
				envPrivateKey, k.KeyID(), envPublicKey)
		}
		c.signingKey = k
	}
	if v := getenv(envPublicKey); v != "" {
		items := splitKeys(v)
		for i, item := range items {
			k, err := jwks.ParseKey([]byte(item))
			if err != nil {
				which := envPublicKey
				if len(items) > 1 {
					which = fmt.Sprintf("%s, key %d of %d,", envPublicKey, i+1, len(items))
				}
				return configErrorf("%s: %s", which, reason(err))
			}
			if k.CanSign() && !(c.signingKey != nil && k.Equal(c.signingKey)) {
				c.warnings = append(c.warnings, fmt.Sprintf(
					"%s holds the private key %q: only its public half is published, but a private key does not belong in that variable",
					envPublicKey, k.KeyID()))
			}
			c.published = append(c.published, k)
		}
	}
	keks, err := parseKEKs(getenv(envKEK))
	if err != nil {
		return err
	}
	c.keks = keks

	c.anonKey = getenv(envAnonKey)
	if strings.ContainsAny(c.anonKey, " \t\r\n") {
		return configErrorf("%s holds whitespace (a stray line break?)", envAnonKey)
	}
	c.jwtSecret = getenv(envJWTSecret)
	switch {
	case c.jwtSecret != "" && c.jwtSecret != strings.TrimSpace(c.jwtSecret):
		return configErrorf("%s has surrounding whitespace (a stray line break?)", envJWTSecret)
	case c.jwtSecret != "" && len(c.jwtSecret) < 32:
		return configErrorf("%s is shorter than 32 characters: it is not a Supabase JWT secret", envJWTSecret)
	}
	return nil
}

// splitKeys splits the keys of POWERSYNC_PUBLIC_KEY: base64 secrets, PEM
// blocks and JWK JSON objects separated by commas, or a JSON array of JWKs.
// Commas inside a JSON object (a JWK has several) do not split it.
func splitKeys(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	var items []string
	depth, inString, escaped, start := 0, false, false, 0
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case escaped:
			escaped = false
		case inString:
			switch ch {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			depth++
		case ch == '}' || ch == ']':
			depth--
		case ch == ',' && depth == 0:
			items = append(items, v[start:i])
			start = i + 1
		}
	}
	items = append(items, v[start:])
	var out []string
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseKEKs reads POWERSYNC_AUTH_KEY_ENCRYPTION_KEY: comma-separated base64
// (standard or URL alphabet, padded or not) of 32 bytes each. Its errors
// say which key is wrong and how, never what it holds.
func parseKEKs(v string) ([][]byte, error) {
	items := splitList(v)
	var keks [][]byte
	seen := make(map[string]int)
	for i, item := range items {
		which := envKEK
		if len(items) > 1 {
			which = fmt.Sprintf("%s, key %d of %d,", envKEK, i+1, len(items))
		}
		var b []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(item); err == nil {
				break
			}
		}
		switch {
		case err != nil:
			return nil, configErrorf("%s is not base64: make a key with: openssl rand -base64 32", which)
		case len(b) != keyring.KEKSize:
			return nil, configErrorf("%s holds %d bytes, not %d: make a key with: openssl rand -base64 32", which, len(b), keyring.KEKSize)
		}
		id := keyring.KEKID(b)
		if j, ok := seen[id]; ok {
			return nil, configErrorf("%s: keys %d and %d are the same key (ID %s)", envKEK, j+1, i+1, id)
		}
		seen[id] = i
		keks = append(keks, b)
	}
	return keks, nil
}
