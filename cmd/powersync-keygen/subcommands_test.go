package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
	"github.com/powersync-jwks/jwks/remote"
)

// runIn runs the command in-process with stdin as standard input.
func runIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runWith(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// keyFiles makes a signing key of alg and writes it in every form ParseKey
// reads: the private JWK, the base64 secret, PEM; and the public JWK.
func keyFiles(t *testing.T, alg jwks.Algorithm, kid string) (key *jwks.Key, files map[string]string) {
	t.Helper()
	key, err := jwks.GenerateKey(alg, jwks.WithKeyID(kid))
	require.NoError(t, err)
	dir := t.TempDir()
	files = map[string]string{}
	for name, f := range map[string]func() ([]byte, error){
		"jwk":        func() ([]byte, error) { return key.MarshalPrivate(jwks.FormatJWK) },
		"secret":     func() ([]byte, error) { return key.MarshalPrivate(jwks.FormatSecret) },
		"pem":        func() ([]byte, error) { return key.MarshalPrivate(jwks.FormatPEM) },
		"public jwk": func() ([]byte, error) { return key.MarshalPublic(jwks.FormatJWK) },
	} {
		data, err := f()
		require.NoError(t, err)
		files[name] = filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		require.NoError(t, os.WriteFile(files[name], data, 0o600))
	}
	return key, files
}

// privateStrings returns the private members of key's JWK, which no public
// output may hold.
func privateStrings(t *testing.T, key *jwks.Key) []string {
	t.Helper()
	data, err := key.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	var out []string
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if v, ok := m[name].(string); ok {
			out = append(out, v)
		}
	}
	secret, err := key.MarshalPrivate(jwks.FormatSecret)
	require.NoError(t, err)
	pemText, err := key.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	lines := strings.Split(string(pemText), "\n")
	require.Greater(t, len(lines), 2)
	return append(out, string(secret), lines[1])
}

// assertPublic checks that out holds none of key's private material.
func assertPublic(t *testing.T, key *jwks.Key, out string) {
	t.Helper()
	for _, s := range privateStrings(t, key) {
		assert.NotContains(t, out, s, "no private material")
	}
	assert.NotContains(t, out, "PRIVATE KEY")
	assert.NotRegexp(t, `"(d|p|q|dp|dq|qi)"`, out)
}

// TestPublicFormats checks -format jwks and powersync-yaml: the public key of
// -key, from a file or standard input, in every form, in the shape PowerSync
// reads.
func TestPublicFormats(t *testing.T) {
	t.Parallel()
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key, files := keyFiles(t, alg, "key-"+strings.ToLower(string(alg)))
			for form, path := range files {
				r := runCmd(t, "-format", "jwks", "-key", path)
				require.Equal(t, 0, r.code, "%s: %s", form, r.stderr)
				assert.Empty(t, r.stderr)
				assertPublic(t, key, r.stdout)
				keys, skipped, err := remote.ParseDocument([]byte(r.stdout))
				require.NoError(t, err)
				assert.Empty(t, skipped)
				require.Len(t, keys, 1)
				want := key
				if form == "pem" { // PEM holds no kid: the key gets its thumbprint
					assert.NotEqual(t, key.KeyID(), keys[0].KeyID())
					want = keys[0]
				}
				assert.True(t, want.PublicOnly().Equal(keys[0]), form)
				assert.Equal(t, key.Public(), keys[0].Public())

				y := runCmd(t, "-format", "powersync-yaml", "-key", path)
				require.Equal(t, 0, y.code, "%s: %s", form, y.stderr)
				assertPublic(t, key, y.stdout)
				var conf struct {
					ClientAuth struct {
						JWKS struct {
							Keys []map[string]any `yaml:"keys"`
						} `yaml:"jwks"`
						Audience []string `yaml:"audience"`
					} `yaml:"client_auth"`
				}
				dec := yaml.NewDecoder(strings.NewReader(y.stdout))
				dec.KnownFields(true)
				require.NoError(t, dec.Decode(&conf), y.stdout)
				require.Len(t, conf.ClientAuth.JWKS.Keys, 1)
				assert.Len(t, conf.ClientAuth.Audience, 1)
				assert.Contains(t, y.stdout, "# Replace with the audience")
				// The inline key is the JWKS's key, member for member.
				jwksKeys, _, _ := remote.ParseDocument([]byte(r.stdout))
				inline, skipped, err := remote.ParseDocument(toJSONDoc(t, conf.ClientAuth.JWKS.Keys))
				require.NoError(t, err)
				assert.Empty(t, skipped)
				require.Len(t, inline, 1)
				assert.True(t, inline[0].Equal(jwksKeys[0]))
			}

			// Standard input.
			data, err := os.ReadFile(files["secret"])
			require.NoError(t, err)
			r := runIn(t, string(data), "-format", "jwks", "-key", "-")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, `"kid": "`+key.KeyID()+`"`)
		})
	}
}

func toJSONDoc(t *testing.T, keys []map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	require.NoError(t, err)
	return b
}

// TestPublicFormatsImportInJose: PowerSync's jose imports the key of -format
// jwks, as it would from the static JWKS.
func TestPublicFormatsImportInJose(t *testing.T) {
	t.Parallel()
	var docs [][]byte
	for _, alg := range []jwks.Algorithm{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		_, files := keyFiles(t, alg, "key-"+string(alg))
		r := runCmd(t, "-format", "jwks", "-key", files["jwk"])
		require.Equal(t, 0, r.code, r.stderr)
		docs = append(docs, []byte(r.stdout))
	}
	for _, doc := range docs {
		for _, imp := range nodejs.ImportJWKSDocument(t, doc) {
			assert.True(t, imp.OK, "jose: %+v", imp)
		}
	}
}

// TestPublicFormatUsage: the public formats need -key, and none of the
// flags that make a key.
func TestPublicFormatUsage(t *testing.T) {
	t.Parallel()
	_, files := keyFiles(t, jwks.ES256, "k")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no -key", []string{"-format", "powersync-yaml"}, 2, "-key FILE"},
		{"-alg", []string{"-format", "jwks", "-key", files["jwk"], "-alg", "RS256"}, 2, "-alg makes or writes a new key"},
		{"-out", []string{"-format", "jwks", "-key", files["jwk"], "-out", filepath.Join(t.TempDir(), "x")}, 2, "-out"},
		{"-key with a private format", []string{"-format", "env", "-key", files["jwk"]}, 2, "convert"},
		{"no such file", []string{"-format", "jwks", "-key", filepath.Join(t.TempDir(), "none")}, 1, "no such file"},
		{"not a key", []string{"-format", "jwks", "-key", "-"}, 1, "unreadable key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runIn(t, "not a key", tc.args...)
			assert.Equal(t, tc.code, r.code)
			assert.Contains(t, r.stderr, tc.want)
			assert.Empty(t, r.stdout)
		})
	}
}

// TestInspect: inspect describes a key in any form from its public half,
// and never prints private material.
func TestInspect(t *testing.T) {
	t.Parallel()
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key, files := keyFiles(t, alg, "key-"+strings.ToLower(string(alg)))
			thumb, err := jwks.ParseKey(mustPublic(t, key), jwks.WithThumbprintKeyID())
			require.NoError(t, err)
			for form, path := range files {
				r := runCmd(t, "inspect", path)
				require.Equal(t, 0, r.code, "%s: %s", form, r.stderr)
				assert.Empty(t, r.stderr)
				assertPublic(t, key, r.stdout)
				kid := key.KeyID()
				if form == "pem" {
					kid = thumb.KeyID()
				}
				assert.Regexp(t, `(?m)^kid: +`+regexp.QuoteMeta(kid)+`\b`, r.stdout, form)
				if form == "pem" && strings.HasPrefix(string(alg), "RS") { // PEM holds no alg
					assert.Regexp(t, `(?m)^alg: +RS256 \(the input names none`, r.stdout)
				} else {
					assert.Regexp(t, `(?m)^alg: +`+string(alg)+`$`, r.stdout)
				}
				assert.Regexp(t, `(?m)^thumbprint: +`+regexp.QuoteMeta(thumb.KeyID())+` `, r.stdout)
				wantType := map[jwks.Algorithm]string{
					jwks.RS256: "RSA 2048 bits", jwks.RS384: "RSA 2048 bits", jwks.RS512: "RSA 2048 bits",
					jwks.ES256: "EC P-256", jwks.ES384: "EC P-384", jwks.ES512: "EC P-521", jwks.EdDSA: "OKP Ed25519",
				}[alg]
				assert.Regexp(t, `(?m)^key: +`+wantType+`$`, r.stdout)
				assert.Regexp(t, `(?m)^private: +`+map[bool]string{true: "yes", false: "no"}[form != "public jwk"], r.stdout)

				// The public JWK and PEM it prints read back as the key.
				jwkText, ok := strings.CutPrefix(r.stdout[strings.Index(r.stdout, "public JWK:\n"):], "public JWK:\n")
				require.True(t, ok)
				jwkText = jwkText[:strings.Index(jwkText, "\n}\n")+2]
				printed, err := jwks.ParseKey([]byte(jwkText))
				require.NoError(t, err, jwkText)
				assert.False(t, printed.CanSign())
				assert.Equal(t, key.Public(), printed.Public())
				pemText := r.stdout[strings.Index(r.stdout, "-----BEGIN PUBLIC KEY-----"):]
				pemKey, err := jwks.ParseKey([]byte(pemText), jwks.WithAlgorithm(alg))
				require.NoError(t, err)
				assert.Equal(t, key.Public(), pemKey.Public())
			}
			data, err := os.ReadFile(files["secret"])
			require.NoError(t, err)
			for _, args := range [][]string{{"inspect"}, {"inspect", "-"}} {
				r := runIn(t, string(data), args...)
				require.Equal(t, 0, r.code, r.stderr)
				assert.Contains(t, r.stdout, key.KeyID())
				assertPublic(t, key, r.stdout)
			}
		})
	}
}

func mustPublic(t *testing.T, k *jwks.Key) []byte {
	t.Helper()
	b, err := k.MarshalPublic(jwks.FormatJWK)
	require.NoError(t, err)
	return b
}

// TestConvert: every form to every form, private and public; kid and alg
// kept where the target holds them, and a note on stderr for PEM.
func TestConvert(t *testing.T) {
	t.Parallel()
	for _, alg := range []jwks.Algorithm{jwks.ES256, jwks.RS256, jwks.EdDSA, jwks.ES512} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key, files := keyFiles(t, alg, "key-1")
			for from, path := range files {
				for _, to := range []string{"jwk", "secret", "pem"} {
					for _, public := range []bool{false, true} {
						args := []string{"convert", "-to", to}
						if public {
							args = append(args, "-public")
						}
						if from == "pem" {
							args = append(args, "-kid", "key-1") // what PEM does not hold
						}
						r := runCmd(t, append(args, path)...)
						require.Equal(t, 0, r.code, "%s → %s: %s", from, to, r.stderr)
						var opts []jwks.KeyOption
						if to == "pem" {
							m := pemNote.FindStringSubmatch(r.stderr)
							require.NotNil(t, m, "the PEM note: %q", r.stderr)
							assert.Equal(t, []string{"key-1", string(alg)}, m[1:])
							opts = append(opts, jwks.WithKeyID(m[1]), jwks.WithAlgorithm(jwks.Algorithm(m[2])))
						} else {
							assert.Empty(t, r.stderr)
						}
						got, err := jwks.ParseKey([]byte(r.stdout), opts...)
						require.NoError(t, err, "%s → %s:\n%s", from, to, r.stdout)
						assert.True(t, got.Equal(key), "%s → %s: the same key, kid and alg", from, to)
						wantPrivate := !public && from != "public jwk"
						assert.Equal(t, wantPrivate, got.CanSign(), "%s → %s", from, to)
						if !wantPrivate {
							assertPublic(t, key, r.stdout)
						}
						assert.NotContains(t, r.stderr, "PRIVATE")
						for _, s := range privateStrings(t, key) {
							assert.NotContains(t, r.stderr, s)
						}
					}
				}
			}
		})
	}

	t.Run("secret from standard input", func(t *testing.T) {
		key, files := keyFiles(t, jwks.ES256, "key-2")
		data, err := os.ReadFile(files["pem"])
		require.NoError(t, err)
		r := runIn(t, string(data), "convert", "-to", "secret", "-kid", "key-2", "-alg", "es256")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Regexp(t, `^[A-Za-z0-9+/]+={0,2}\n$`, r.stdout, "standard base64, as POWERSYNC_PRIVATE_KEY")
		got, err := jwks.ParseKey([]byte(r.stdout))
		require.NoError(t, err)
		assert.True(t, got.Equal(key))
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -to", []string{"convert", "k"}, "-to"},
		{"-to yaml", []string{"convert", "-to", "yaml", "k"}, `-to "yaml"`},
		{"-alg PS256", []string{"convert", "-to", "jwk", "-alg", "PS256", "k"}, `-alg "PS256"`},
		{"two files", []string{"convert", "-to", "jwk", "a", "b"}, `unexpected argument "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Contains(t, r.stderr, tc.want)
			assert.Empty(t, r.stdout)
		})
	}
	t.Run("help", func(t *testing.T) {
		for _, sub := range []string{"convert", "inspect"} {
			r := runCmd(t, sub, "-h")
			assert.Equal(t, 0, r.code)
			assert.Contains(t, r.stdout, "Usage: powersync-keygen "+sub)
		}
	})
}
