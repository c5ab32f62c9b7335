package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/powersync-jwks/jwks"
)

// FuzzParseConfig: any command line (one argument a line) and any values of
// the environment variables (NAME=value lines, and the four that hold keys
// and secrets on their own). No input makes parseConfig panic; it returns a
// configuration, flag.ErrHelp, or a *configError; and neither its error nor
// its warnings hold a secret: the values of POWERSYNC_PRIVATE_KEY,
// SUPABASE_ANON_KEY and SUPABASE_JWT_SECRET, or a private member of the key
// POWERSYNC_PRIVATE_KEY holds. The seed corpus is in
// testdata/fuzz/FuzzParseConfig. Run longer with
// go test -run '^$' -fuzz '^FuzzParseConfig$' -fuzztime 5m ./cmd/powersync-auth.
func FuzzParseConfig(f *testing.F) {
	f.Add("-anonymous\n-cors-origins\nhttps://app.example", "PORT=8080", "", "", "", "")
	f.Add("-supabase-url=https://abc.supabase.co\n-supabase-strict", "POWERSYNC_URL=https://x.powersync.journeyapps.com",
		"", "", "sb_publishable_abcdefghijklmnop", "your-super-secret-jwt-token-with-at-least-32-characters-long")
	f.Add("-h", "", "", "", "", "")

	// known is text any message may quote: the names of the variables and
	// of the flags.
	known := slices.Collect(maps.Keys(flagEnv))
	known = append(known, slices.Collect(maps.Values(flagEnv))...)
	known = append(known, envPrivateKey, envPublicKey, envAnonKey, envJWTSecret, envPort)

	f.Fuzz(func(t *testing.T, args, env, privateKey, publicKey, anonKey, jwtSecret string) {
		if len(args)+len(env)+len(privateKey)+len(publicKey)+len(anonKey)+len(jwtSecret) > 32<<10 {
			return
		}
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\n")
		}
		vars := map[string]string{
			envPrivateKey: privateKey,
			envPublicKey:  publicKey,
			envAnonKey:    anonKey,
			envJWTSecret:  jwtSecret,
		}
		for line := range strings.Lines(env) {
			if name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
				if _, secret := vars[name]; !secret {
					vars[name] = value
				}
			}
		}

		c, err := parseConfig(argv, envOf(vars), io.Discard)
		var text []string
		var cerr *configError
		switch {
		case err == nil:
			if c == nil {
				t.Fatal("no configuration and no error")
			}
			text = c.warnings
		case errors.Is(err, flag.ErrHelp):
		case errors.As(err, &cerr):
			text = []string{err.Error()}
		default:
			t.Fatalf("an error that is not a *configError: %T %v", err, err)
		}

		secrets := []string{privateKey, anonKey, jwtSecret}
		if k, err := jwks.ParseKey([]byte(privateKey)); err == nil && k.CanSign() {
			secrets = append(secrets, privateValues(t, k)...)
		}
		public := append([]string{args, env, publicKey}, known...)
		for _, s := range secrets {
			if len(s) < 8 || slices.ContainsFunc(public, func(p string) bool { return strings.Contains(p, s) }) {
				continue // short, or given where it may be quoted
			}
			for _, msg := range text {
				if strings.Contains(msg, s) {
					t.Fatalf("a secret in %q", msg)
				}
			}
		}
	})
}

// privateValues returns the values of the private members of k's JWK.
func privateValues(t *testing.T, k *jwks.Key) []string {
	jwk, err := k.MarshalPrivate(jwks.FormatJWK)
	if err != nil {
		t.Fatalf("a signing key does not encode: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if v, ok := m[name].(string); ok {
			out = append(out, v)
		}
	}
	return out
}
