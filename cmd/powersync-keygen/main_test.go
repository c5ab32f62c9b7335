package main

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
)

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// runCmd runs the command in-process with args.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// seedKeyID is the form of the key IDs the seed made.
var seedKeyID = regexp.MustCompile(`^powersync-[0-9a-f]{10}$`)

// supabaseLayout is the seed's output, line for line, with the public JWK
// (indented by two spaces) and the two secrets (standard base64, padded)
// captured.
var supabaseLayout = regexp.MustCompile(`^Public Key:\n` +
	`(\{\n(?:  "[a-z]+": .+\n)+\})\n` +
	`\n` +
	`---\n` +
	`\n` +
	`Update secrets on Supabase by running the following:\n` +
	`\n` +
	`supabase secrets set POWERSYNC_PUBLIC_KEY=([A-Za-z0-9+/]+={0,2})\n` +
	`\n` +
	`supabase secrets set POWERSYNC_PRIVATE_KEY=([A-Za-z0-9+/]+={0,2})\n` +
	`\n` +
	`# Get the PowerSync instance URL from the PowerSync dashboard\n` +
	`supabase secrets set POWERSYNC_URL=\.\.\.\n` +
	`\n$`)

// envLayout is the -format env output.
var envLayout = regexp.MustCompile(`^# PowerSync signing key "[^"\n]+" \([A-Za-z0-9]+\), made by powersync-keygen\n` +
	`POWERSYNC_PRIVATE_KEY=([A-Za-z0-9+/]+={0,2})\n` +
	`POWERSYNC_PUBLIC_KEY=([A-Za-z0-9+/]+={0,2})\n$`)

// pemNote is the note that gives the key ID and algorithm of a PEM key.
var pemNote = regexp.MustCompile(`load it with key ID "([^"]+)" and algorithm ([A-Za-z0-9]+)\.`)

// loaded is a key pair read back from the command's output.
type loaded struct {
	private, public *jwks.Key
	secret          string // the private key's text in the output, to look for where it must not be
}

// parseOutput reads the output of one format back with jwks.ParseKey, and
// checks its layout. note is where the PEM note went (stderr, or stdout
// with -out).
func parseOutput(t *testing.T, format, out, note string) loaded {
	t.Helper()
	switch format {
	case "supabase":
		m := supabaseLayout.FindStringSubmatch(out)
		require.NotNil(t, m, "the seed's layout:\n%s", out)
		priv, err := jwks.ParseKey([]byte(m[3]))
		require.NoError(t, err, "POWERSYNC_PRIVATE_KEY")
		pub, err := jwks.ParseKey([]byte(m[2]))
		require.NoError(t, err, "POWERSYNC_PUBLIC_KEY")
		printed, err := jwks.ParseKey([]byte(m[1]))
		require.NoError(t, err, "the printed public JWK")
		assert.True(t, pub.Equal(printed), "the printed JWK is POWERSYNC_PUBLIC_KEY")
		assert.False(t, printed.CanSign(), "the printed JWK is public")
		return loaded{priv, pub, m[3]}

	case "env":
		m := envLayout.FindStringSubmatch(out)
		require.NotNil(t, m, "the env layout:\n%s", out)
		priv, err := jwks.ParseKey([]byte(m[1]))
		require.NoError(t, err, "POWERSYNC_PRIVATE_KEY")
		pub, err := jwks.ParseKey([]byte(m[2]))
		require.NoError(t, err, "POWERSYNC_PUBLIC_KEY")
		return loaded{priv, pub, m[1]}

	case "json":
		var members map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &members), "JSON")
		assert.Contains(t, members, "d", "a private JWK")
		assert.True(t, strings.HasPrefix(out, "{\n  \"kty\": "), "indented, kty first:\n%s", out)
		assert.True(t, strings.HasSuffix(out, "\n}\n"), "ends with a line break")
		priv, err := jwks.ParseKey([]byte(out))
		require.NoError(t, err, "the private JWK")
		return loaded{priv, priv.PublicOnly(), out}

	case "pem":
		nm := pemNote.FindStringSubmatch(note)
		require.NotNil(t, nm, "a note with the key ID and algorithm: %q", note)
		opts := []jwks.KeyOption{jwks.WithKeyID(nm[1]), jwks.WithAlgorithm(jwks.Algorithm(nm[2]))}
		privBlock, rest := pem.Decode([]byte(out))
		require.NotNil(t, privBlock, "a PEM block")
		require.Equal(t, "PRIVATE KEY", privBlock.Type, "PKCS#8 first")
		pubBlock, rest := pem.Decode(rest)
		require.NotNil(t, pubBlock, "a second PEM block")
		require.Equal(t, "PUBLIC KEY", pubBlock.Type, "PKIX second")
		assert.Empty(t, rest, "nothing after the public key")

		whole, err := jwks.ParseKey([]byte(out), opts...)
		require.NoError(t, err, "the whole output")
		priv, err := jwks.ParseKey(pem.EncodeToMemory(privBlock), opts...)
		require.NoError(t, err, "the private PEM")
		assert.True(t, whole.Equal(priv) && whole.CanSign(), "the output as a whole reads as its private key")
		pub, err := jwks.ParseKey(pem.EncodeToMemory(pubBlock), opts...)
		require.NoError(t, err, "the public PEM")
		return loaded{priv, pub, string(pem.EncodeToMemory(privBlock))}
	}
	t.Fatalf("unknown format %q", format)
	return loaded{}
}

// checkPair checks what every output holds: a signing key of the algorithm
// asked for, with the seed's kind of key ID, and its public half.
func checkPair(t *testing.T, k loaded, alg jwks.Algorithm) {
	t.Helper()
	assert.True(t, k.private.CanSign(), "the private key can sign")
	assert.False(t, k.public.CanSign(), "the public key is public only")
	assert.True(t, k.private.Equal(k.public), "the private key's public half is the public key")
	assert.Equal(t, alg, k.private.Algorithm())
	assert.Regexp(t, seedKeyID, k.private.KeyID())
}

// TestDefaultOutput checks that the command with no flags prints the seed's
// output for an ES256 key, and with -alg RS256 for the seed's own kind of
// key, and that the seed's edge function (jose, in Node) signs with the
// printed secret a token that PowerSync's checks accept.
func TestDefaultOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		alg  jwks.Algorithm
	}{
		{"default", nil, jwks.ES256},
		{"RS256", []string{"-alg", "RS256"}, jwks.RS256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, tc.args...)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stderr)
			k := parseOutput(t, "supabase", r.stdout, "")
			checkPair(t, k, tc.alg)
			if rsaKey, ok := k.public.Public().(*rsa.PublicKey); ok {
				assert.Equal(t, 2048, rsaKey.N.BitLen(), "the seed's RSA size")
			}

			// The public secret carries the members the seed's did.
			m := supabaseLayout.FindStringSubmatch(r.stdout)
			raw, err := base64.StdEncoding.DecodeString(m[2])
			require.NoError(t, err)
			var members map[string]any
			require.NoError(t, json.Unmarshal(raw, &members))
			assert.Equal(t, string(tc.alg), members["alg"])
			assert.Equal(t, k.public.KeyID(), members["kid"])
			assert.NotContains(t, members, "d", "no private member in the public secret")

			ks, err := jwks.NewKeySet(nil, k.public)
			require.NoError(t, err)
			h, err := jwks.NewJWKSHandler(ks)
			require.NoError(t, err)
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			const aud = "https://example.powersync.journeyapps.com"
			token := nodejs.SignToken(t, nodejs.SignRequest{Secret: m[3], Subject: "user-1", Audience: aud, Issuer: "https://project.supabase.co"})
			v := nodejs.VerifyTokens(t, srv.URL, []string{aud}, token)
			assert.True(t, v[0].OK, "PowerSync's verification: %s", v[0].Error)
			assert.Equal(t, k.public.KeyID(), v[0].Header["kid"])
			assert.Equal(t, string(tc.alg), v[0].Header["alg"])
		})
	}
}

// TestSeedLayout compares the output with what the seed's generate-keys.ts
// prints (run in Node by interop/seed-keygen.mjs --print), byte for byte
// once the JWK and the two secrets, which differ from key to key, are set
// aside.
func TestSeedLayout(t *testing.T) {
	t.Parallel()
	seed := string(nodejs.Run(t, "seed-keygen.mjs", nil, "--print"))
	r := runCmd(t, "-alg", "RS256")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, withoutKeys(t, seed), withoutKeys(t, r.stdout))

	// And the seed's secrets, as printed, load.
	m := supabaseLayout.FindStringSubmatch(seed)
	priv, err := jwks.ParseKey([]byte(m[3]))
	require.NoError(t, err)
	pub, err := jwks.ParseKey([]byte(m[2]))
	require.NoError(t, err)
	printed, err := jwks.ParseKey([]byte(m[1]))
	require.NoError(t, err)
	assert.True(t, priv.Equal(pub) && pub.Equal(printed))
}

// withoutKeys replaces the public JWK and the secrets of a supabase-format
// output with placeholders.
func withoutKeys(t *testing.T, out string) string {
	t.Helper()
	idx := supabaseLayout.FindStringSubmatchIndex(out)
	require.NotNil(t, idx, "the seed's layout:\n%s", out)
	var b strings.Builder
	last := 0
	for i, placeholder := range []string{"<JWK>", "<PUBLIC>", "<PRIVATE>"} {
		start, end := idx[2*(i+1)], idx[2*(i+1)+1]
		b.WriteString(out[last:start])
		b.WriteString(placeholder)
		last = end
	}
	b.WriteString(out[last:])
	return b.String()
}

// TestRSA256MemberOrder checks that the printed RSA JWK lists its members in
// the seed's order: kty, n, e, alg, kid (then use, which the seed did not
// set).
func TestRSA256MemberOrder(t *testing.T) {
	t.Parallel()
	r := runCmd(t, "-alg", "RS256")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	m := supabaseLayout.FindStringSubmatch(r.stdout)
	require.NotNil(t, m)
	var names []string
	for _, line := range strings.Split(m[1], "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			names = append(names, strings.Trim(name, `"`))
		}
	}
	assert.Equal(t, []string{"kty", "n", "e", "alg", "kid", "use"}, names)
}

// TestFormats runs every format for every algorithm and reads the output
// back.
func TestFormats(t *testing.T) {
	t.Parallel()
	for _, alg := range jwks.Algorithms() {
		for _, format := range formats {
			t.Run(string(alg)+"/"+format, func(t *testing.T) {
				t.Parallel()
				r := runCmd(t, "-alg", string(alg), "-format", format)
				require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
				k := parseOutput(t, format, r.stdout, r.stderr)
				checkPair(t, k, alg)
				if format == "pem" {
					assert.Regexp(t, `^powersync-keygen: PEM records neither`, r.stderr)
				} else {
					assert.Empty(t, r.stderr)
				}
				assert.NotContains(t, r.stderr, "PRIVATE", "no private material on stderr")
				assert.NotContains(t, r.stderr, k.secret, "no private material on stderr")
			})
		}
	}
}

// TestKeyOptions checks -kid, -bits and algorithm names in other cases.
func TestKeyOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		alg  jwks.Algorithm
		kid  string // "" for the seed's random form
		bits int    // RSA only
	}{
		{"kid", []string{"-kid", "my-key-2025"}, jwks.ES256, "my-key-2025", 0},
		{"kid unicode", []string{"-alg", "EdDSA", "-kid", "clé 1"}, jwks.EdDSA, "clé 1", 0},
		{"bits 3072", []string{"-alg", "RS384", "-bits", "3072"}, jwks.RS384, "", 3072},
		{"bits 4096", []string{"-alg", "RS256", "-bits", "4096", "-format", "env"}, jwks.RS256, "", 4096},
		{"bits 2048", []string{"-alg", "RS512", "-bits", "2048"}, jwks.RS512, "", 2048},
		{"lower-case alg", []string{"-alg", "eddsa"}, jwks.EdDSA, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, tc.args...)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			format := "supabase"
			if strings.Contains(strings.Join(tc.args, " "), "-format env") {
				format = "env"
			}
			k := parseOutput(t, format, r.stdout, r.stderr)
			assert.True(t, k.private.Equal(k.public))
			assert.Equal(t, tc.alg, k.private.Algorithm())
			if tc.kid != "" {
				assert.Equal(t, tc.kid, k.private.KeyID())
			} else {
				assert.Regexp(t, seedKeyID, k.private.KeyID())
			}
			if tc.bits != 0 {
				assert.Equal(t, tc.bits, k.public.Public().(*rsa.PublicKey).N.BitLen())
			}
		})
	}
}

// TestUsageErrors checks that bad flags exit with status 2, a message that
// names the problem, and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"PS256", []string{"-alg", "PS256"}, []string{`-alg "PS256"`, "RSA-PSS", "ES256, ES384, ES512, EdDSA"}},
		{"HS256", []string{"-alg", "HS256"}, []string{`-alg "HS256"`, "shared secrets"}},
		{"none", []string{"-alg", "none"}, []string{`-alg "none"`, "unsigned"}},
		{"ES256K", []string{"-alg", "ES256K"}, []string{`-alg "ES256K"`}},
		{"empty alg", []string{"-alg", ""}, []string{`-alg ""`}},
		{"format", []string{"-format", "yaml"}, []string{`-format "yaml"`, "supabase, env, json, pem"}},
		{"format case", []string{"-format", "PEM"}, []string{`-format "PEM"`}},
		{"bits weak", []string{"-alg", "RS256", "-bits", "1024"}, []string{"-bits 1024", "2048, 3072 or 4096"}},
		{"bits odd", []string{"-alg", "RS256", "-bits", "2049"}, []string{"-bits 2049"}},
		{"bits not a number", []string{"-bits", "big"}, []string{"-bits"}},
		{"bits for EC", []string{"-bits", "3072"}, []string{"-bits is for RSA keys", "ES256"}},
		{"kid empty", []string{"-kid", ""}, []string{"-kid is empty"}},
		{"kid control", []string{"-kid", "a\x01b"}, []string{"-kid", "control character"}},
		{"kid long", []string{"-kid", strings.Repeat("k", 300)}, []string{"-kid", "256 bytes"}},
		{"force without out", []string{"-force"}, []string{"-force needs -out"}},
		{"argument", []string{"keys.env"}, []string{`unexpected argument "keys.env"`}},
		{"unknown flag", []string{"-type", "rsa"}, []string{"-type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout, "no key when the command line is wrong")
			assert.True(t, strings.HasPrefix(r.stderr, "powersync-keygen: "), "stderr: %q", r.stderr)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.Contains(t, r.stderr, "Run 'powersync-keygen -h' for usage.")
		})
	}
}

// TestHelp checks that -h prints the usage on stdout and succeeds, and that
// it explains the algorithm choice.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, arg)
			assert.Equal(t, 0, r.code)
			assert.Empty(t, r.stderr)
			assert.True(t, strings.HasPrefix(r.stdout, "Usage: powersync-keygen [flags]\n"), r.stdout)
			for _, alg := range jwks.Algorithms() {
				assert.Contains(t, r.stdout, string(alg))
			}
			for _, s := range []string{"30×", "PowerSync and Supabase", "-alg", "-kid", "-bits", "-format", "-out", "-force", "0600"} {
				assert.Contains(t, r.stdout, s)
			}
			assert.NotContains(t, strings.ToLower(r.stdout), "seed", "a reader of -h does not know what the seed is")
		})
	}
}

// TestOut checks -out: a new file of mode 0600 holding the secret output,
// only public information on stdout, and no file replaced without -force.
func TestOut(t *testing.T) {
	t.Parallel()
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "powersync."+format)
			r := runCmd(t, "-format", format, "-out", path)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stderr)
			assertPrivateFile(t, path)

			data, err := os.ReadFile(path)
			require.NoError(t, err)
			k := parseOutput(t, format, string(data), r.stdout)
			checkPair(t, k, jwks.ES256)

			// Standard output: the public JWK and where the key went, and
			// nothing private.
			jwkText, ok := strings.CutPrefix(r.stdout, "Public Key:\n")
			require.True(t, ok, "stdout: %s", r.stdout)
			jwkText, _, ok = strings.Cut(jwkText, "\n}\n")
			require.True(t, ok, "stdout: %s", r.stdout)
			printed, err := jwks.ParseKey([]byte(jwkText + "\n}"))
			require.NoError(t, err, "the public JWK on stdout")
			assert.False(t, printed.CanSign())
			assert.True(t, printed.Equal(k.public))
			assert.Contains(t, r.stdout, path)
			assert.Contains(t, r.stdout, k.public.KeyID())
			assert.NotContains(t, r.stdout, k.secret)
			assert.NotContains(t, r.stdout, "POWERSYNC_PRIVATE_KEY")
			assert.NotContains(t, r.stdout, "PRIVATE KEY")
			assert.NotContains(t, r.stdout, `"d"`)
		})
	}
}

// TestOutRefusesToOverwrite checks that an existing file is kept unless
// -force, and that -force leaves a file of mode 0600 even where the old one
// was readable by all.
func TestOutRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(path, []byte("KEEP=me\n"), 0o644))

	r := runCmd(t, "-format", "env", "-out", path)
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "powersync-keygen: "+path+" already exists; use -force")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "KEEP=me\n", string(data), "the file is unchanged")

	r = runCmd(t, "-format", "env", "-out", path, "-force")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assertPrivateFile(t, path)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	first := parseOutput(t, "env", string(data), "")

	r = runCmd(t, "-format", "env", "-out", path, "-force")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	second := parseOutput(t, "env", string(data), "")
	assert.False(t, first.public.Equal(second.public), "-force writes a new key")

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}

// TestOutFailures checks that a file that cannot be written is a failure
// (status 1) that names the file.
func TestOutFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no directory", []string{"-out", filepath.Join(dir, "missing", "key.env")}, filepath.Join(dir, "missing")},
		{"a directory", []string{"-out", dir}, dir},
		{"a directory, forced", []string{"-out", dir, "-force"}, dir + " is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, tc.args...)
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			assert.True(t, strings.HasPrefix(r.stderr, "powersync-keygen: "), r.stderr)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

// TestStdoutFailure checks that a key that cannot be printed is a failure.
func TestStdoutFailure(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	code := run([]string{"-format", "json"}, failingWriter{}, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "powersync-keygen: writing the key: disk full")
	assert.NotContains(t, stderr.String(), `"d"`)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// assertPrivateFile checks that path is a regular file of mode 0600.
func assertPrivateFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "mode of %s", path)
}
