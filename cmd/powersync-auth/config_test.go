package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/keyring"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":8090", c.listen)
	assert.Equal(t, "http://localhost:8080", c.powersyncURL)
	assert.True(t, c.powersyncURLDefault)
	assert.Nil(t, c.signingKey, "no key: the key file")
	assert.Empty(t, c.published)
	assert.Equal(t, "powersync-auth.key", c.keyFile)
	assert.Equal(t, storeSpec{kind: storeFile, path: "powersync-auth.key"}, c.store, "a key ring in the key file")
	assert.False(t, c.static())
	assert.Zero(t, c.rotateEvery, "rotation by hand only")
	assert.Zero(t, c.publishAhead, "the safe minimum")
	assert.Equal(t, 5*time.Minute, c.jwksMaxAge)
	assert.Equal(t, 5*time.Minute, c.verifierRefresh)
	assert.Equal(t, 30*time.Second, c.storePoll)
	assert.Empty(t, c.keks)
	assert.Equal(t, 10*time.Minute+30*time.Second, c.policy().SafePublishAhead())
	assert.Empty(t, c.supabaseURL)
	assert.False(t, c.supabaseStrict)
	assert.False(t, c.anonymous)
	assert.False(t, c.anonymousUnique)
	assert.Equal(t, 10, c.anonymousBurst)
	assert.Equal(t, time.Second, c.anonymousEvery)
	assert.Empty(t, c.trustedProxies)
	assert.Empty(t, c.corsOrigins)
	assert.Equal(t, 5*time.Minute, c.lifetime)
	assert.Empty(t, c.issuer)
	assert.Equal(t, "text", c.logFormat)
	assert.Equal(t, slog.LevelInfo, c.logLevel)
	require.Len(t, c.warnings, 1)
	assert.Contains(t, c.warnings[0], "no token route")
}

func TestParseConfig(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	retired := newSecretKey(t, jwks.RS256)
	other := newSecretKey(t, jwks.EdDSA)
	jwkJSON := func(k secretKey) string {
		b, err := k.key.MarshalPublic(jwks.FormatJWK)
		require.NoError(t, err)
		return string(b)
	}
	pemOf := func(k secretKey) string {
		b, err := k.key.MarshalPublic(jwks.FormatPEM)
		require.NoError(t, err)
		return string(b)
	}
	kids := func(keys []*jwks.Key) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.KeyID())
		}
		return out
	}

	kek1, kek2 := newKEK(t), newKEK(t)

	// allEnv sets every setting by its environment variable.
	allEnv := map[string]string{
		"POWERSYNC_AUTH_LISTEN":             "127.0.0.1:9000",
		"POWERSYNC_URL":                     "https://env.powersync.example",
		"SUPABASE_URL":                      "https://ref.supabase.co/",
		"SUPABASE_ANON_KEY":                 "sb_publishable_abc",
		"POWERSYNC_AUTH_SUPABASE_STRICT":    "true",
		"POWERSYNC_AUTH_ANONYMOUS":          "1",
		"POWERSYNC_AUTH_ANONYMOUS_UNIQUE":   "t",
		"POWERSYNC_AUTH_ANONYMOUS_BURST":    "3",
		"POWERSYNC_AUTH_ANONYMOUS_EVERY":    "250ms",
		"POWERSYNC_AUTH_TRUSTED_PROXIES":    "10.0.0.0/8, 192.0.2.7,2001:db8::/32",
		"POWERSYNC_AUTH_CORS_ORIGINS":       "https://app.example.com,http://localhost:3000",
		"POWERSYNC_AUTH_TOKEN_LIFETIME":     "1h",
		"POWERSYNC_AUTH_ISSUER":             "https://issuer.example",
		"POWERSYNC_AUTH_KEY_FILE":           "/var/lib/powersync-auth/key",
		"POWERSYNC_AUTH_ROTATE_EVERY":       "720h",
		"POWERSYNC_AUTH_PUBLISH_AHEAD":      "1h",
		"POWERSYNC_AUTH_JWKS_MAX_AGE":       "10m",
		"POWERSYNC_AUTH_VERIFIER_REFRESH":   "6m",
		"POWERSYNC_AUTH_STORE_POLL":         "1m",
		"POWERSYNC_AUTH_KEY_ENCRYPTION_KEY": kek1 + "," + kek2,
		"POWERSYNC_AUTH_LOG_FORMAT":         "json",
		"POWERSYNC_AUTH_LOG_LEVEL":          "debug",
	}
	fromEnv := func(t *testing.T, c *config) {
		assert.Equal(t, "127.0.0.1:9000", c.listen)
		assert.Equal(t, "https://env.powersync.example", c.powersyncURL)
		assert.False(t, c.powersyncURLDefault)
		assert.Equal(t, "https://ref.supabase.co", c.supabaseURL, "trailing slash dropped")
		assert.Equal(t, "sb_publishable_abc", c.anonKey)
		assert.True(t, c.supabaseStrict)
		assert.True(t, c.anonymous)
		assert.True(t, c.anonymousUnique)
		assert.Equal(t, 3, c.anonymousBurst)
		assert.Equal(t, 250*time.Millisecond, c.anonymousEvery)
		assert.Equal(t, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
		}, c.trustedProxies)
		assert.Equal(t, []string{"https://app.example.com", "http://localhost:3000"}, c.corsOrigins)
		assert.Equal(t, time.Hour, c.lifetime)
		assert.Equal(t, "https://issuer.example", c.issuer)
		assert.Equal(t, "/var/lib/powersync-auth/key", c.keyFile)
		assert.Equal(t, storeSpec{kind: storeFile, path: "/var/lib/powersync-auth/key"}, c.store)
		assert.Equal(t, 720*time.Hour, c.rotateEvery)
		assert.Equal(t, time.Hour, c.publishAhead)
		assert.Equal(t, 10*time.Minute, c.jwksMaxAge)
		assert.Equal(t, 6*time.Minute, c.verifierRefresh)
		assert.Equal(t, time.Minute, c.storePoll)
		assert.Equal(t, [][]byte{kekBytes(t, kek1), kekBytes(t, kek2)}, c.keks)
		assert.Equal(t, keyring.Policy{
			RotateEvery: 720 * time.Hour, PublishAhead: time.Hour, JWKSMaxAge: 10 * time.Minute,
			VerifierRefresh: 6 * time.Minute, StorePoll: time.Minute, MaxTokenLifetime: time.Hour,
		}, c.policy())
		assert.Equal(t, "json", c.logFormat)
		assert.Equal(t, slog.LevelDebug, c.logLevel)
		assert.Empty(t, c.warnings)
	}

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *config)
	}{
		{name: "every setting from the environment", env: allEnv, check: fromEnv},
		{
			name: "flags win over the environment",
			env:  allEnv,
			args: []string{
				"-listen", ":7000", "-powersync-url", "http://flag.example:8080",
				"-supabase-url", "http://127.0.0.1:54321", "-supabase-strict=false",
				"-anonymous=false", "-anonymous-unique=false",
				"-anonymous-burst", "0", "-anonymous-every", "2s",
				"-trusted-proxies", "127.0.0.1", "-cors-origins", "*",
				"-token-lifetime", "90s", "-issuer", "", "-key-file", "k.key",
				"-log-format", "text", "-log-level", "warn",
			},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, ":7000", c.listen)
				assert.Equal(t, "http://flag.example:8080", c.powersyncURL)
				assert.Equal(t, "http://127.0.0.1:54321", c.supabaseURL)
				assert.False(t, c.supabaseStrict)
				assert.False(t, c.anonymous)
				assert.False(t, c.anonymousUnique)
				assert.Equal(t, 0, c.anonymousBurst)
				assert.Equal(t, 2*time.Second, c.anonymousEvery)
				assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, c.trustedProxies)
				assert.Equal(t, []string{"*"}, c.corsOrigins)
				assert.Equal(t, 90*time.Second, c.lifetime)
				assert.Empty(t, c.issuer, "an empty flag wins over the variable")
				assert.Equal(t, "k.key", c.keyFile)
				assert.Equal(t, "text", c.logFormat)
				assert.Equal(t, slog.LevelWarn, c.logLevel)
			},
		},
		{
			name: "bool flags without a value",
			args: []string{"-anonymous", "-anonymous-unique"},
			check: func(t *testing.T, c *config) {
				assert.True(t, c.anonymous)
				assert.True(t, c.anonymousUnique)
				assert.Empty(t, c.warnings)
			},
		},
		{
			name:  "PORT, as platforms set it",
			env:   map[string]string{"PORT": "3000"},
			check: func(t *testing.T, c *config) { assert.Equal(t, ":3000", c.listen) },
		},
		{
			name:  "POWERSYNC_AUTH_LISTEN wins over PORT",
			env:   map[string]string{"PORT": "3000", "POWERSYNC_AUTH_LISTEN": "127.0.0.1:4000"},
			check: func(t *testing.T, c *config) { assert.Equal(t, "127.0.0.1:4000", c.listen) },
		},
		{
			name:  "-listen wins over PORT",
			env:   map[string]string{"PORT": "3000"},
			args:  []string{"-listen", "[::1]:0"},
			check: func(t *testing.T, c *config) { assert.Equal(t, "[::1]:0", c.listen) },
		},
		{
			name: "the original example's two secrets: the public one is the signing key's own half",
			env:  map[string]string{"POWERSYNC_PRIVATE_KEY": signing.secret, "POWERSYNC_PUBLIC_KEY": signing.publicSecret(t)},
			check: func(t *testing.T, c *config) {
				require.NotNil(t, c.signingKey)
				assert.True(t, c.signingKey.Equal(signing.key))
				assert.True(t, c.signingKey.CanSign())
				assert.Equal(t, []string{signing.key.KeyID()}, kids(c.published))
				assert.Len(t, c.warnings, 1, "only: no token route")
			},
		},
		{
			name: "private key as JWK JSON",
			env:  map[string]string{"POWERSYNC_PRIVATE_KEY": string(testkit.Must(signing.key.MarshalPrivate(jwks.FormatJWK)))},
			check: func(t *testing.T, c *config) {
				assert.True(t, c.signingKey.Equal(signing.key))
			},
		},
		{
			name: "a rotation: the signing key's half and a retired key, comma-separated",
			env: map[string]string{
				"POWERSYNC_PRIVATE_KEY": signing.secret,
				"POWERSYNC_PUBLIC_KEY":  signing.publicSecret(t) + ", " + retired.publicSecret(t) + "\n",
			},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, []string{signing.key.KeyID(), retired.key.KeyID()}, kids(c.published))
			},
		},
		{
			name: "public keys as JWK JSON (with its own commas) and PEM",
			env: map[string]string{
				"POWERSYNC_PRIVATE_KEY": signing.secret,
				"POWERSYNC_PUBLIC_KEY":  jwkJSON(retired) + "," + jwkJSON(other) + "," + pemOf(retired),
			},
			check: func(t *testing.T, c *config) {
				require.Len(t, c.published, 3)
				assert.True(t, c.published[0].Equal(retired.key))
				assert.True(t, c.published[1].Equal(other.key))
				// PEM has no kid: it gets its thumbprint.
				assert.Equal(t, retired.key.Public(), c.published[2].Public())
			},
		},
		{
			name: "public keys as a JSON array",
			env: map[string]string{
				"POWERSYNC_PRIVATE_KEY": signing.secret,
				"POWERSYNC_PUBLIC_KEY":  "[" + jwkJSON(retired) + ", " + jwkJSON(other) + "]",
			},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, []string{retired.key.KeyID(), other.key.KeyID()}, kids(c.published))
			},
		},
		{
			name: "a private key in POWERSYNC_PUBLIC_KEY is published as its public half, with a warning",
			env:  map[string]string{"POWERSYNC_PRIVATE_KEY": signing.secret, "POWERSYNC_PUBLIC_KEY": retired.secret},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, []string{retired.key.KeyID()}, kids(c.published))
				assert.True(t, hasWarning(c, "POWERSYNC_PUBLIC_KEY holds the private key"), "%q", c.warnings)
				requireNoSecrets(t, strings.Join(c.warnings, "\n"), append(retired.private, retired.secret)...)
			},
		},
		{
			name: "POWERSYNC_PUBLIC_KEY without POWERSYNC_PRIVATE_KEY: the key ring signs and publishes, the variable is not used",
			env:  map[string]string{"POWERSYNC_PUBLIC_KEY": retired.publicSecret(t)},
			check: func(t *testing.T, c *config) {
				assert.Nil(t, c.signingKey)
				assert.False(t, c.static())
				assert.True(t, hasWarning(c, "POWERSYNC_PUBLIC_KEY is not used with a key ring (kids "+retired.key.KeyID()+")"), "%q", c.warnings)
			},
		},
		{
			name: "the original example's two secrets with a store: the ring, and no warning for the signing key's own half",
			env: map[string]string{
				"POWERSYNC_PRIVATE_KEY": signing.secret, "POWERSYNC_PUBLIC_KEY": signing.publicSecret(t),
				"POWERSYNC_AUTH_STORE": "file:/var/lib/powersync-auth/ring.json",
			},
			check: func(t *testing.T, c *config) {
				assert.False(t, c.static())
				assert.Equal(t, storeSpec{kind: storeFile, path: "/var/lib/powersync-auth/ring.json", explicit: true}, c.store)
				assert.Len(t, c.warnings, 1, "only: no token route: %q", c.warnings)
			},
		},
		{
			name: "POWERSYNC_PRIVATE_KEY without a store: static, and the ring's settings are said to do nothing",
			env: map[string]string{
				"POWERSYNC_PRIVATE_KEY": signing.secret, "POWERSYNC_AUTH_ROTATE_EVERY": "720h",
				"POWERSYNC_AUTH_KEY_ENCRYPTION_KEY": newKEK(t),
			},
			args: []string{"-store-poll", "10s"},
			check: func(t *testing.T, c *config) {
				assert.True(t, c.static())
				assert.True(t, hasWarning(c, "POWERSYNC_AUTH_ROTATE_EVERY has no effect: POWERSYNC_PRIVATE_KEY is set and -store is not"), "%q", c.warnings)
				assert.True(t, hasWarning(c, "-store-poll has no effect"), "%q", c.warnings)
				assert.True(t, hasWarning(c, "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY is set but not used"), "%q", c.warnings)
			},
		},
		{
			name: "a PostgreSQL store; -key-file beside it is not used",
			args: []string{"-store", "postgres://auth:pw@db.internal:5432/app?sslmode=require", "-key-file", "k.key"},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, storeSpec{kind: storePostgres, url: "postgres://auth:pw@db.internal:5432/app?sslmode=require", explicit: true}, c.store)
				assert.True(t, hasWarning(c, "-key-file is not used: -store names the key ring's store"), "%q", c.warnings)
				requireNoSecrets(t, strings.Join(c.warnings, "\n"), "auth:pw")
			},
		},
		{
			name: "Supabase secrets",
			env: map[string]string{
				"SUPABASE_URL": "https://ref.supabase.co", "SUPABASE_ANON_KEY": "eyJhbGciOiJIUzI1NiJ9.e30.sig",
				"SUPABASE_JWT_SECRET": "super-secret-jwt-token-with-at-least-32-characters",
			},
			check: func(t *testing.T, c *config) {
				assert.Equal(t, "eyJhbGciOiJIUzI1NiJ9.e30.sig", c.anonKey)
				assert.Equal(t, "super-secret-jwt-token-with-at-least-32-characters", c.jwtSecret)
				assert.Empty(t, c.warnings)
			},
		},
		{
			name: "warnings for what works but is likely wrong",
			env: map[string]string{
				"POWERSYNC_URL": "https://x.powersync.journeyapps.com/", "SUPABASE_ANON_KEY": "sb_publishable_x",
				"SUPABASE_JWT_SECRET": "super-secret-jwt-token-with-at-least-32-characters",
			},
			args: []string{"-anonymous", "-anonymous-burst", "0", "-issuer", "https://ref.supabase.co", "-access-log", "-log-level", "warn"},
			check: func(t *testing.T, c *config) {
				for _, w := range []string{
					"POWERSYNC_URL ends with a slash", "SUPABASE_ANON_KEY is set but SUPABASE_URL is not",
					"SUPABASE_JWT_SECRET is set but SUPABASE_URL is not", "supabase.co", "rate limit is off",
					"-access-log is on, but its lines are INFO and -log-level leaves them out",
				} {
					assert.True(t, hasWarning(c, w), "a warning %q in %q", w, c.warnings)
				}
				assert.Equal(t, "https://x.powersync.journeyapps.com/", c.powersyncURL, "the audience as given")
				requireNoSecrets(t, strings.Join(c.warnings, "\n"), "super-secret-jwt-token-with-at-least-32-characters")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func hasWarning(c *config, substr string) bool {
	for _, w := range c.warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}

func TestParseConfigErrors(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weak)}))
	const jwtSecret = "super-secret-jwt-token-with-at-least-32-characters"

	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		want   []string // in the message
		secret string   // not in the message
	}{
		{name: "unknown flag", args: []string{"-nope"}, want: []string{"-nope"}},
		{name: "an argument", args: []string{"serve"}, want: []string{`"serve"`, "flags only"}},
		{name: "bad bool flag", args: []string{"-anonymous=maybe"}, want: []string{"-anonymous", "maybe"}},
		{name: "bad bool variable", env: map[string]string{"POWERSYNC_AUTH_ANONYMOUS": "yes"},
			want: []string{"POWERSYNC_AUTH_ANONYMOUS", `"yes"`}},
		{name: "corrupt private key", env: map[string]string{"POWERSYNC_PRIVATE_KEY": "not-a-key-but-a-secret-value"},
			want: []string{"POWERSYNC_PRIVATE_KEY", "unreadable key"}, secret: "not-a-key-but-a-secret-value"},
		{name: "truncated base64 JWK secret", env: map[string]string{"POWERSYNC_PRIVATE_KEY": signing.secret[:len(signing.secret)/2]},
			want: []string{"POWERSYNC_PRIVATE_KEY"}, secret: signing.secret[:len(signing.secret)/2]},
		{name: "public key as the private key", env: map[string]string{"POWERSYNC_PRIVATE_KEY": signing.publicSecret(t)},
			want: []string{"POWERSYNC_PRIVATE_KEY holds a public key", signing.key.KeyID()}},
		{name: "weak RSA key", env: map[string]string{"POWERSYNC_PRIVATE_KEY": weakPEM},
			want: []string{"POWERSYNC_PRIVATE_KEY", "weak"}, secret: strings.Split(weakPEM, "\n")[1]},
		{name: "corrupt public key", env: map[string]string{"POWERSYNC_PUBLIC_KEY": "garbage"},
			want: []string{"POWERSYNC_PUBLIC_KEY", "unreadable key"}},
		{name: "second public key corrupt",
			env:  map[string]string{"POWERSYNC_PUBLIC_KEY": signing.publicSecret(t) + ",eyJrdHkiOiJFQyJ9"},
			want: []string{"POWERSYNC_PUBLIC_KEY, key 2 of 2,"}},
		{name: "short JWT secret", env: map[string]string{"SUPABASE_URL": "https://r.supabase.co", "SUPABASE_JWT_SECRET": "short-secret"},
			want: []string{"SUPABASE_JWT_SECRET is shorter than 32"}, secret: "short-secret"},
		{name: "JWT secret with a line break", env: map[string]string{"SUPABASE_JWT_SECRET": jwtSecret + "\n"},
			want: []string{"SUPABASE_JWT_SECRET has surrounding whitespace"}, secret: jwtSecret},
		{name: "anon key with a line break", env: map[string]string{"SUPABASE_ANON_KEY": "sb_publishable_secretish\n"},
			want: []string{"SUPABASE_ANON_KEY holds whitespace"}, secret: "sb_publishable_secretish"},
		{name: "strict without Supabase", args: []string{"-supabase-strict"}, want: []string{"-supabase-strict needs SUPABASE_URL"}},
		{name: "strict without the anon key", args: []string{"-supabase-strict"}, env: map[string]string{"SUPABASE_URL": "https://r.supabase.co"},
			want: []string{"-supabase-strict needs SUPABASE_ANON_KEY"}},
		{name: "lifetime not a duration", args: []string{"-token-lifetime", "5x"}, want: []string{"-token-lifetime", `"5x"`}},
		{name: "lifetime over a day", env: map[string]string{"POWERSYNC_AUTH_TOKEN_LIFETIME": "25h"},
			want: []string{"POWERSYNC_AUTH_TOKEN_LIFETIME", "outside 1s to 24h"}},
		{name: "lifetime zero", args: []string{"-token-lifetime", "0s"}, want: []string{"-token-lifetime", "outside"}},
		{name: "lifetime fractional", args: []string{"-token-lifetime", "1.5s"}, want: []string{"-token-lifetime", "whole number of seconds"}},
		{name: "listen without port", args: []string{"-listen", "localhost"}, want: []string{"-listen", "host:port"}},
		{name: "listen with a named port", env: map[string]string{"POWERSYNC_AUTH_LISTEN": ":http"},
			want: []string{"POWERSYNC_AUTH_LISTEN", "port number"}},
		{name: "PORT not a number", env: map[string]string{"PORT": "80a"}, want: []string{`PORT="80a"`}},
		{name: "PORT out of range", env: map[string]string{"PORT": "70000"}, want: []string{"PORT", "1 to 65535"}},
		{name: "log format", args: []string{"-log-format", "xml"}, want: []string{"-log-format", `"xml"`}},
		{name: "log level", env: map[string]string{"POWERSYNC_AUTH_LOG_LEVEL": "loud"}, want: []string{"POWERSYNC_AUTH_LOG_LEVEL", `"loud"`}},
		{name: "negative burst", args: []string{"-anonymous-burst", "-1"}, want: []string{"-anonymous-burst"}},
		{name: "zero interval", env: map[string]string{"POWERSYNC_AUTH_ANONYMOUS_EVERY": "0s"}, want: []string{"POWERSYNC_AUTH_ANONYMOUS_EVERY"}},
		{name: "bad proxy", args: []string{"-trusted-proxies", "10.0.0.1,10.0.0/8"}, want: []string{"-trusted-proxies", `"10.0.0/8"`}},
		{name: "issuer with spaces", args: []string{"-issuer", " x"}, want: []string{"-issuer has surrounding spaces"}},
		{name: "empty key file", args: []string{"-key-file", ""}, want: []string{"-key-file is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			require.Error(t, err)
			var ce *configError
			require.True(t, errors.As(err, &ce), "a configError: %v", err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.secret != "" {
				requireNoSecrets(t, err.Error(), tt.secret)
			}
			requireNoSecrets(t, err.Error(), append(signing.private, signing.secret)...)

			// The command exits with status 2 and says the same.
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, envOf(tt.env), &stdout, &stderr)
			assert.Equal(t, exitConfig, code)
			assert.Empty(t, stdout.String())
			assert.Equal(t, "powersync-auth: "+err.Error()+"\nRun 'powersync-auth -h' for usage.\n", stderr.String())
		})
	}
}

// TestPrecedence sets each flag by its default, by its variable and by both,
// with the variables' names written out (outside checks use them): a flag
// on the command line wins over its variable, which wins over the default,
// and an empty variable counts as unset.
func TestPrecedence(t *testing.T) {
	supabase := map[string]string{"SUPABASE_URL": "https://ref.supabase.co", "SUPABASE_ANON_KEY": "sb_publishable_x"}
	tests := []struct {
		flag, env string
		get       func(*config) any
		def       any
		envValue  string
		envWant   any
		flagValue string
		flagWant  any
		needs     map[string]string // other variables the flag needs
	}{
		{"listen", "POWERSYNC_AUTH_LISTEN", func(c *config) any { return c.listen },
			":8090", "127.0.0.1:9000", "127.0.0.1:9000", "[::1]:0", "[::1]:0", nil},
		{"powersync-url", "POWERSYNC_URL", func(c *config) any { return c.powersyncURL },
			"http://localhost:8080", "https://env.example", "https://env.example", "http://flag.example:8080", "http://flag.example:8080", nil},
		{"supabase-url", "SUPABASE_URL", func(c *config) any { return c.supabaseURL },
			"", "https://env.supabase.co/", "https://env.supabase.co", "http://127.0.0.1:54321", "http://127.0.0.1:54321", nil},
		{"supabase-strict", "POWERSYNC_AUTH_SUPABASE_STRICT", func(c *config) any { return c.supabaseStrict },
			false, "true", true, "false", false, supabase},
		{"anonymous", "POWERSYNC_AUTH_ANONYMOUS", func(c *config) any { return c.anonymous },
			false, "1", true, "false", false, nil},
		{"anonymous-unique", "POWERSYNC_AUTH_ANONYMOUS_UNIQUE", func(c *config) any { return c.anonymousUnique },
			false, "T", true, "0", false, nil},
		{"anonymous-burst", "POWERSYNC_AUTH_ANONYMOUS_BURST", func(c *config) any { return c.anonymousBurst },
			10, "3", 3, "0", 0, nil},
		{"anonymous-every", "POWERSYNC_AUTH_ANONYMOUS_EVERY", func(c *config) any { return c.anonymousEvery },
			time.Second, "250ms", 250 * time.Millisecond, "2s", 2 * time.Second, nil},
		{"trusted-proxies", "POWERSYNC_AUTH_TRUSTED_PROXIES", func(c *config) any { return c.trustedProxies },
			[]netip.Prefix(nil), "10.0.0.0/8, 192.0.2.7", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")},
			"2001:db8::/32", []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}, nil},
		{"cors-origins", "POWERSYNC_AUTH_CORS_ORIGINS", func(c *config) any { return c.corsOrigins },
			[]string(nil), "https://a.example,http://localhost:3000", []string{"https://a.example", "http://localhost:3000"}, "*", []string{"*"}, nil},
		{"token-lifetime", "POWERSYNC_AUTH_TOKEN_LIFETIME", func(c *config) any { return c.lifetime },
			5 * time.Minute, "1h", time.Hour, "90s", 90 * time.Second, nil},
		{"issuer", "POWERSYNC_AUTH_ISSUER", func(c *config) any { return c.issuer },
			"", "https://env.example", "https://env.example", "", "", nil},
		{"key-file", "POWERSYNC_AUTH_KEY_FILE", func(c *config) any { return c.keyFile },
			"powersync-auth.key", "/var/lib/powersync-auth/key", "/var/lib/powersync-auth/key", "k.key", "k.key", nil},
		{"store", "POWERSYNC_AUTH_STORE", func(c *config) any { return c.store },
			storeSpec{kind: storeFile, path: "powersync-auth.key"},
			"postgres://auth@db/app", storeSpec{kind: storePostgres, url: "postgres://auth@db/app", explicit: true},
			"file:ring.json", storeSpec{kind: storeFile, path: "ring.json", explicit: true}, nil},
		{"rotate-every", "POWERSYNC_AUTH_ROTATE_EVERY", func(c *config) any { return c.rotateEvery },
			time.Duration(0), "720h", 720 * time.Hour, "0", time.Duration(0), nil},
		{"publish-ahead", "POWERSYNC_AUTH_PUBLISH_AHEAD", func(c *config) any { return c.publishAhead },
			time.Duration(0), "1h", time.Hour, "11m", 11 * time.Minute, nil},
		{"jwks-max-age", "POWERSYNC_AUTH_JWKS_MAX_AGE", func(c *config) any { return c.jwksMaxAge },
			5 * time.Minute, "1m", time.Minute, "2s", 2 * time.Second, nil},
		{"verifier-refresh", "POWERSYNC_AUTH_VERIFIER_REFRESH", func(c *config) any { return c.verifierRefresh },
			5 * time.Minute, "6m", 6 * time.Minute, "1s", time.Second, nil},
		{"store-poll", "POWERSYNC_AUTH_STORE_POLL", func(c *config) any { return c.storePoll },
			30 * time.Second, "1s", time.Second, "2m", 2 * time.Minute, nil},
		{"log-format", "POWERSYNC_AUTH_LOG_FORMAT", func(c *config) any { return c.logFormat },
			"text", "json", "json", "text", "text", nil},
		{"log-level", "POWERSYNC_AUTH_LOG_LEVEL", func(c *config) any { return c.logLevel },
			slog.LevelInfo, "debug", slog.LevelDebug, "WARN", slog.LevelWarn, nil},
		{"supabase-issuer", "POWERSYNC_AUTH_SUPABASE_ISSUER", func(c *config) any { return c.supabaseIssuer },
			"", "any", "any", "https://supabase.example.com/auth/v1", "https://supabase.example.com/auth/v1", supabase},
		{"functions-paths", "POWERSYNC_AUTH_FUNCTIONS_PATHS", func(c *config) any { return c.functionsPaths },
			false, "true", true, "false", false, nil},
		{"access-log", "POWERSYNC_AUTH_ACCESS_LOG", func(c *config) any { return c.accessLog },
			false, "1", true, "false", false, nil},
		{"metrics-listen", "POWERSYNC_AUTH_METRICS_LISTEN", func(c *config) any { return c.metricsListen },
			"", "127.0.0.1:9090", "127.0.0.1:9090", ":0", ":0", nil},
		{"create-key", "POWERSYNC_AUTH_CREATE_KEY", func(c *config) any { return c.createKey },
			true, "false", false, "true", true, nil},
	}

	// The table is the whole mapping.
	want := make(map[string]string)
	for _, tt := range tests {
		want[tt.flag] = tt.env
	}
	assert.Equal(t, want, flagEnv)
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		if f.Name != "version" { // the one flag without a variable
			assert.Contains(t, want, f.Name, "the table covers -%s", f.Name)
		}
	})

	parse := func(t *testing.T, args []string, env map[string]string) *config {
		t.Helper()
		c, err := parseConfig(args, envOf(env), io.Discard)
		require.NoError(t, err)
		return c
	}
	with := func(m map[string]string, name, value string) map[string]string {
		m = maps.Clone(m)
		if m == nil {
			m = map[string]string{}
		}
		m[name] = value
		return m
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			assert.Equal(t, tt.def, tt.get(parse(t, nil, tt.needs)), "the default")
			assert.Equal(t, tt.def, tt.get(parse(t, nil, with(tt.needs, tt.env, ""))), "an empty %s", tt.env)
			assert.Equal(t, tt.envWant, tt.get(parse(t, nil, with(tt.needs, tt.env, tt.envValue))), "from %s", tt.env)
			assert.Equal(t, tt.flagWant, tt.get(parse(t, []string{"-" + tt.flag + "=" + tt.flagValue}, with(tt.needs, tt.env, tt.envValue))),
				"-%s over %s", tt.flag, tt.env)
		})
	}
}

// TestListFlags checks the comma-separated flags: given more than once,
// they add up; given at all, even empty, they leave their variable unread.
func TestListFlags(t *testing.T) {
	env := map[string]string{"POWERSYNC_AUTH_TRUSTED_PROXIES": "172.16.0.0/12", "POWERSYNC_AUTH_CORS_ORIGINS": "https://env.example"}
	c, err := parseConfig([]string{
		"-trusted-proxies", "10.1.2.3/8", "-trusted-proxies", "192.0.2.1, ::ffff:192.0.2.2,",
		"-cors-origins", "https://a.example", "-cors-origins", "*",
	}, envOf(env), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), // masked
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("192.0.2.2/32"), // unmapped
	}, c.trustedProxies)
	assert.Equal(t, []string{"https://a.example", "*"}, c.corsOrigins)

	c, err = parseConfig([]string{"-trusted-proxies", "", "-cors-origins="}, envOf(env), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, c.trustedProxies)
	assert.Empty(t, c.corsOrigins)
}

// TestBadValues gives each flag a bad value, on the command line and by its
// variable: the message names the one that was used and what is wrong, and
// the command exits with status 2.
func TestBadValues(t *testing.T) {
	tests := []struct{ flag, value, want string }{
		{"listen", "localhost", "is not host:port"},
		{"listen", ":http", "port number"},
		{"powersync-url", "localhost:8080", "is not an http or https URL"},
		{"powersync-url", "https://x.example#top", "no user, query or fragment"},
		{"powersync-url", "https://x.example?a=b", "no user, query or fragment"},
		{"powersync-url", "https://x.example\n", "surrounding spaces"},
		{"supabase-url", "ftp://ref.supabase.co", "must be http or https"},
		{"supabase-url", "ref.supabase.co", "must be http or https"},
		{"supabase-strict", "maybe", `"maybe"`},
		{"anonymous", "yes", `"yes"`},
		{"anonymous-unique", "2", `"2"`},
		{"anonymous-burst", "ten", `"ten"`},
		{"anonymous-burst", "-1", "below 0"},
		{"anonymous-every", "soon", `"soon"`},
		{"anonymous-every", "-1s", "not a positive duration"},
		{"trusted-proxies", "10.0.0.1,10.0.0/8", `"10.0.0/8" is not a CIDR`},
		{"cors-origins", "https://app.example.com/", "trailing slash"},
		{"cors-origins", "app.example.com", `is not scheme://host`},
		{"token-lifetime", "5x", `"5x"`},
		{"token-lifetime", "25h", "outside 1s to 24h"},
		{"token-lifetime", "1.5s", "whole number of seconds"},
		{"issuer", " https://x.example", "has surrounding spaces"},
		{"log-format", "xml", `"xml" is neither text nor json`},
		{"log-level", "loud", `"loud"`},
		{"store", "mysql://db/app", `names a "mysql" URL`},
		{"store", "file:", "file: names no path"},
		{"store", "file://otherhost/ring.json", "not a file: URL of this machine"},
		{"store", "host=db user=auth dbname=app", "key=value connection string"},
		{"store", "postgres://auth@db/app\n", "spaces or line breaks"},
		{"rotate-every", "monthly", `"monthly"`},
		{"rotate-every", "-1h", "neither 0 nor at least 1s"},
		{"rotate-every", "500ms", "neither 0 nor at least 1s"},
		{"rotate-every", "720h30.5s", "whole number of seconds"},
		{"publish-ahead", "10", `"10"`},
		{"publish-ahead", "-11m", "neither 0 nor at least 1s"},
		{"jwks-max-age", "0", "less than 1s"},
		{"jwks-max-age", "1.5s", "whole number of seconds"},
		{"verifier-refresh", "0s", "less than 1s"},
		{"verifier-refresh", "5 m", `"5 m"`},
		{"store-poll", "100ms", "less than 1s"},
		{"store-poll", "-30s", "less than 1s"},
	}
	for _, tt := range tests {
		env := flagEnv[tt.flag]
		check := func(t *testing.T, args []string, vars map[string]string, named, unnamed string) {
			t.Helper()
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitConfig, run(t.Context(), args, envOf(vars), &stdout, &stderr))
			// The message is the line that names the command (warnings
			// may come before it).
			var msg string
			for line := range strings.Lines(stderr.String()) {
				if strings.Contains(line, program+": ") {
					msg = line
					break
				}
			}
			assert.Contains(t, msg, named)
			assert.NotContains(t, msg, unnamed)
			assert.Contains(t, msg, tt.want)
		}
		t.Run(env+"="+tt.value, func(t *testing.T) {
			check(t, nil, map[string]string{env: tt.value}, "powersync-auth: "+env, "-"+tt.flag)
		})
		t.Run("-"+tt.flag+"="+tt.value, func(t *testing.T) {
			check(t, []string{"-" + tt.flag + "=" + tt.value}, nil, "-"+tt.flag, env)
		})
	}
}

// TestSecretsNeverEchoed sets every secret and makes each kind of mistake:
// nothing the command prints holds a secret, nor the password of a URL.
func TestSecretsNeverEchoed(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	const (
		anonKey   = "sb_publishable_0123456789abcdefghij"
		jwtSecret = "super-secret-jwt-token-with-at-least-32-characters"
		password  = "hunter2hunter2"
	)
	secrets := append([]string{signing.secret, anonKey, jwtSecret, password}, signing.private...)
	base := map[string]string{
		envPrivateKey: signing.secret, envAnonKey: anonKey, envJWTSecret: jwtSecret,
		envSupabaseURL: "https://ref.supabase.co",
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string // over base
		code int
	}{
		{"-h", []string{"-h"}, nil, exitOK},
		{"an unknown flag", []string{"-nope"}, nil, exitConfig},
		{"a bad flag", []string{"-token-lifetime", "x"}, nil, exitConfig},
		{"a bad variable", nil, map[string]string{"POWERSYNC_AUTH_ANONYMOUS": "maybe"}, exitConfig},
		{"a URL flag with a password", []string{"-powersync-url", "https://u:" + password + "@x.example"}, nil, exitConfig},
		{"a URL variable with a password", nil, map[string]string{envSupabaseURL: "https://u:" + password + "@ref.supabase.co"}, exitConfig},
		{"a setting that needs another", []string{"-supabase-strict"}, map[string]string{envAnonKey: ""}, exitConfig},
		{"a JWT secret with a line break", nil, map[string]string{envJWTSecret: jwtSecret + "\n"}, exitConfig},
		{"an anon key with a space", nil, map[string]string{envAnonKey: anonKey + " "}, exitConfig},
		{"a truncated private key", nil, map[string]string{envPrivateKey: signing.secret[:len(signing.secret)-8]}, exitConfig},
		{"a store URL flag with a password, and a bad policy", []string{"-store", "postgres://u:" + password + "@db/app", "-publish-ahead", "1m"}, nil, exitConfig},
		{"a store URL variable with a password, of an unknown kind", nil, map[string]string{"POWERSYNC_AUTH_STORE": "mysql://u:" + password + "@db/app"}, exitConfig},
		{"a store URL with a password that does not parse", []string{"-store", "postgres://u:" + password + "@db:port/app"}, nil, exitConfig},
		{"a store URL with a password and a line break", []string{"-store", "postgres://u:" + password + "@db/app\n"}, nil, exitConfig},
		{"a store as a connection string", []string{"-store", "host=db password=" + password}, nil, exitConfig},
		{"a key-encryption key too short", nil, map[string]string{envKEK: password}, exitConfig},
		{"a key-encryption key not base64", nil, map[string]string{envKEK: password + "!!"}, exitConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tt.env)
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tt.code, run(t.Context(), tt.args, envOf(env), &stdout, &stderr), "%s", stderr.String())
			requireNoSecrets(t, stdout.String()+stderr.String(), secrets...)
		})
	}
}

// TestPolicyRelations breaks each safety relation of the key ring's policy:
// the command exits with status 2, and the message names every flag of the
// relation with its value (and its variable when it came from one).
func TestPolicyRelations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"publish-ahead below the default minimum", []string{"-publish-ahead", "10m"}, nil, []string{
			"-publish-ahead 10m0s is below the safe minimum 10m30s",
			"-store-poll 30s (default)", "-jwks-max-age 5m0s (default)", "-verifier-refresh 5m0s (default)",
			"verifiers could meet tokens of a key they have not fetched",
		}},
		{"publish-ahead below a minimum raised by the environment",
			[]string{"-publish-ahead", "20m"},
			map[string]string{"POWERSYNC_AUTH_JWKS_MAX_AGE": "1h", "POWERSYNC_AUTH_STORE_POLL": "1m"},
			[]string{
				"-publish-ahead 20m0s is below the safe minimum 1h6m0s",
				"-store-poll 1m0s (POWERSYNC_AUTH_STORE_POLL)", "-jwks-max-age 1h0m0s (POWERSYNC_AUTH_JWKS_MAX_AGE)",
				"-verifier-refresh 5m0s (default)",
			}},
		{"publish-ahead from its variable", nil, map[string]string{"POWERSYNC_AUTH_PUBLISH_AHEAD": "3s"},
			[]string{"-publish-ahead 3s (POWERSYNC_AUTH_PUBLISH_AHEAD) is below the safe minimum 10m30s"}},
		{"rotate-every not above the default publish-ahead", []string{"-rotate-every", "10m"}, nil, []string{
			"-rotate-every 10m0s must exceed -publish-ahead 10m30s (the safe minimum: -store-poll + -jwks-max-age + -verifier-refresh)",
		}},
		{"rotate-every equal to publish-ahead", nil,
			map[string]string{"POWERSYNC_AUTH_ROTATE_EVERY": "1h", "POWERSYNC_AUTH_PUBLISH_AHEAD": "1h"},
			[]string{"-rotate-every 1h0m0s (POWERSYNC_AUTH_ROTATE_EVERY) must exceed -publish-ahead 1h0m0s (POWERSYNC_AUTH_PUBLISH_AHEAD)"}},
		{"fast periods for tests: rotate-every just under publish-ahead",
			[]string{"-store-poll", "1s", "-jwks-max-age", "1s", "-verifier-refresh", "1s", "-rotate-every", "3s"}, nil,
			[]string{"-rotate-every 3s must exceed -publish-ahead 3s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitConfig, run(t.Context(), tt.args, envOf(tt.env), &stdout, &stderr))
			for _, w := range tt.want {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}

	// Periods of a second, as the tests run the lifecycle, are accepted.
	c, err := parseConfig([]string{"-store-poll", "1s", "-jwks-max-age", "1s", "-verifier-refresh", "1s",
		"-publish-ahead", "3s", "-rotate-every", "4s", "-token-lifetime", "1s"}, envOf(nil), io.Discard)
	require.NoError(t, err)
	p := c.policy()
	assert.NoError(t, p.Validate())
	assert.Equal(t, 3*time.Second, p.SafePublishAhead())
	assert.Equal(t, time.Second, p.MaxTokenLifetime, "the policy's longest token is -token-lifetime")
	assert.Equal(t, time.Second+time.Second+keyring.DefaultLeeway, p.Retention())
}

// TestStoreArgument reads -store in each of its forms, and describes each
// store without a password.
func TestStoreArgument(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		arg  string
		want storeSpec
		desc string
	}{
		{"", storeSpec{kind: storeFile, path: "k.key"}, "file:" + filepath.Join(testkit.Must(os.Getwd()), "k.key")},
		{"ring.json", storeSpec{kind: storeFile, path: "ring.json", explicit: true}, ""},
		{dir + "/ring.json", storeSpec{kind: storeFile, path: dir + "/ring.json", explicit: true}, "file:" + dir + "/ring.json"},
		{"file:" + dir + "/r", storeSpec{kind: storeFile, path: dir + "/r", explicit: true}, "file:" + dir + "/r"},
		{"FILE:rel/r", storeSpec{kind: storeFile, path: "rel/r", explicit: true}, ""},
		{"file://" + dir + "/r", storeSpec{kind: storeFile, path: dir + "/r", explicit: true}, "file:" + dir + "/r"},
		{"file://localhost" + dir + "/r", storeSpec{kind: storeFile, path: dir + "/r", explicit: true}, "file:" + dir + "/r"},
		{"postgres://auth:s3cret@db:5432/app?sslmode=require", storeSpec{kind: storePostgres, url: "postgres://auth:s3cret@db:5432/app?sslmode=require", explicit: true},
			"postgres://auth:xxxxx@db:5432/app?sslmode=require"},
		{"postgresql://db/app?user=auth&password=s3cret", storeSpec{kind: storePostgres, url: "postgresql://db/app?user=auth&password=s3cret", explicit: true},
			"postgresql://db/app?password=xxxxx&user=auth"},
		{"POSTGRES://auth@db/app", storeSpec{kind: storePostgres, url: "POSTGRES://auth@db/app", explicit: true}, "postgres://auth@db/app"},
		{"./host=x", storeSpec{kind: storeFile, path: "./host=x", explicit: true}, ""},
	}
	for _, tt := range tests {
		got, err := parseStore(tt.arg, "k.key")
		require.NoError(t, err, "%q", tt.arg)
		assert.Equal(t, tt.want, got, "%q", tt.arg)
		if tt.desc != "" {
			assert.Equal(t, tt.desc, got.String(), "%q", tt.arg)
		}
		assert.NotContains(t, got.String(), "s3cret")
	}
}

// TestKeyEncryptionKeys reads POWERSYNC_AUTH_KEY_ENCRYPTION_KEY: its forms,
// and its mistakes, named without the key.
func TestKeyEncryptionKeys(t *testing.T) {
	a, b := newKEK(t), newKEK(t)
	raw := kekBytes(t, b)
	keks, err := parseKEKs(a + ", " + base64.RawURLEncoding.EncodeToString(raw) + ",")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{kekBytes(t, a), raw}, keks, "standard or URL base64, padded or not; the order kept")
	keks, err = parseKEKs("")
	require.NoError(t, err)
	assert.Empty(t, keks)

	short := base64.StdEncoding.EncodeToString(raw[:16])
	for _, tt := range []struct{ v, want string }{
		{short, "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY holds 16 bytes, not 32: make a key with: openssl rand -base64 32"},
		{a + "," + short, "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY, key 2 of 2, holds 16 bytes, not 32"},
		{"not base64!", "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY is not base64"},
		{a + "," + b + "," + a, "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY: keys 1 and 3 are the same key (ID " + keyring.KEKID(kekBytes(t, a)) + ")"},
	} {
		_, err := parseKEKs(tt.v)
		require.Error(t, err, "%q", tt.v)
		assert.Contains(t, err.Error(), tt.want)
		requireNoSecrets(t, err.Error(), a, b, short)
		var ce *configError
		assert.True(t, errors.As(err, &ce))
	}
}

// TestHelp checks the usage text of -h: on stdout, exit status 0, every
// flag with its variable and its default, and the variables without a flag.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-h"}, envOf(nil), &stdout, &stderr)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr.String())
	usage := stdout.String()
	assert.True(t, strings.HasPrefix(usage, "Usage: powersync-auth [flags]\n"), usage)

	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		block := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(f.Name) + `(?: \S+)?\n((?:    \t.*\n)+)`).FindStringSubmatch(usage)
		if !assert.NotNil(t, block, "the usage lists -%s", f.Name) {
			return
		}
		if f.Name == "version" {
			assert.NotContains(t, block[1], "(env ", "-version has no variable")
			return
		}
		assert.Contains(t, block[1], "(env "+flagEnv[f.Name]+")", "-%s", f.Name)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" { // flag prints no zero default
			assert.Contains(t, block[1], "(default ", "-%s", f.Name)
			assert.Contains(t, block[1], f.DefValue, "-%s", f.Name)
		}
	})
	for _, v := range envOnly {
		assert.Regexp(t, `(?m)^  `+v.name+`\n`, usage)
	}
	assert.Contains(t, usage, "PORT=n")
	assert.NotContains(t, strings.ToLower(usage), "seed")

	for _, arg := range []string{"-help", "--help"} {
		_, err := parseConfig([]string{arg}, envOf(nil), io.Discard)
		assert.ErrorIs(t, err, flag.ErrHelp)
	}
}

// TestDocListsFlags checks the table of flags in the package documentation
// against the flags: a row for each flag, naming its variable.
func TestDocListsFlags(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	got := make(map[string]string)
	for _, row := range regexp.MustCompile(`(?m)^//\t-([a-z-]+) +([A-Z_]+)`).FindAllStringSubmatch(string(src), -1) {
		got[row[1]] = row[2]
	}
	assert.Equal(t, flagEnv, got)
}

// TestSplitKeys checks the splitting of POWERSYNC_PUBLIC_KEY on its own,
// with JSON that holds commas, brackets and quotes in strings.
func TestSplitKeys(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{" a ,b,, c\n", []string{"a", "b", "c"}},
		{`{"a":1,"b":[1,2]},x`, []string{`{"a":1,"b":[1,2]}`, "x"}},
		{`[{"a":"x,}"} , {"b":"\",{"}]`, []string{`{"a":"x,}"}`, `{"b":"\",{"}`}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, splitKeys(tt.in), "splitKeys(%q)", tt.in)
	}
}

func TestSameListener(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{":8090", ":8090", true},
		{":8090", "0.0.0.0:8090", true},
		{"127.0.0.1:8090", ":8090", true},
		{"[::]:8090", "127.0.0.1:8090", true},
		{"127.0.0.1:8090", "127.0.0.1:08090", true},
		{"LocalHost:9090", "localhost:9090", true},
		{"[::ffff:127.0.0.1]:9090", "127.0.0.1:9090", true},
		{"127.0.0.1:8090", "127.0.0.2:8090", false},
		{":8090", ":9090", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{":0", ":0", false},
	} {
		assert.Equal(t, tc.same, sameListener(tc.a, tc.b), "%s %s", tc.a, tc.b)
	}
}
