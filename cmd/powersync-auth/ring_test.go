package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/remote"
)

// fastRing are the flags of a key ring whose lifecycle runs in seconds:
// publish-ahead 3s, the safe minimum.
var fastRing = []string{"-store-poll", "1s", "-jwks-max-age", "1s", "-verifier-refresh", "1s"}

// keysResult is what a keys subcommand did.
type keysResult struct {
	code           int
	stdout, stderr string
}

// runKeysCmd runs "powersync-auth keys ARGS" in-process with env.
func runKeysCmd(t testing.TB, env map[string]string, args ...string) keysResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"keys"}, args...), envOf(env), &stdout, &stderr)
	return keysResult{code, stdout.String(), stderr.String()}
}

// TestKeysImportStdin imports a key from standard input, and refuses one
// over 1 MiB rather than reading its first MiB.
func TestKeysImportStdin(t *testing.T) {
	env := map[string]string{"POWERSYNC_AUTH_STORE": filepath.Join(t.TempDir(), "ring.json")}
	key := newSecretKey(t, jwks.ES256)
	var stdout, stderr bytes.Buffer
	code := runKeys(t.Context(), []string{"import", "-"}, envOf(env), strings.NewReader(key.secret), &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Equal(t, []string{key.key.KeyID()}, kidsOf(listKeys(t, env), "active"))

	stdout.Reset()
	stderr.Reset()
	big := strings.NewReader(key.secret + strings.Repeat(" ", 1<<20))
	code = runKeys(t.Context(), []string{"import", "-"}, envOf(env), big, &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "standard input is larger than 1 MiB")
}

// listKeys returns the keys of the ring, by keys list -json.
func listKeys(t testing.TB, env map[string]string, args ...string) []keyJSON {
	t.Helper()
	r := runKeysCmd(t, env, append([]string{"list", "-json"}, args...)...)
	require.Equal(t, exitOK, r.code, "keys list: %s", r.stderr)
	var keys []keyJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &keys), "%s", r.stdout)
	return keys
}

// kidsOf returns the key IDs of keys, by state ("" for all).
func kidsOf(keys []keyJSON, state string) []string {
	var out []string
	for _, k := range keys {
		if state == "" || k.State == state {
			out = append(out, k.KID)
		}
	}
	return out
}

// jwksKIDs returns the key IDs of the JWKS a server serves.
func jwksKIDs(t testing.TB, base string) []string {
	t.Helper()
	res := do(t, "GET", base+routeJWKS)
	require.Equal(t, http.StatusOK, res.status)
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(res.body, &doc))
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k.KID)
	}
	return out
}

// verifyAt checks a token for testPowerSyncURL against the JWKS at base,
// fetched now, and returns its key ID.
func verifyAt(t testing.TB, base, token string) string {
	t.Helper()
	return verifyFor(t, base, testPowerSyncURL, token)
}

// verifyFor checks a token for audience against the JWKS at base, fetched
// now, and returns its key ID.
func verifyFor(t testing.TB, base, audience, token string) string {
	t.Helper()
	keys, err := remote.New(t.Context(), base+routeJWKS, remote.WithLogger(testkit.Discard))
	require.NoError(t, err)
	v, err := jwks.NewVerifier(keys, audience)
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), token)
	require.NoError(t, err, "the token verifies against %s", base)
	return tokenKID(t, token)
}

// tokenKID returns the kid of a token's header, unverified.
func tokenKID(t testing.TB, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	require.NoError(t, err)
	var h struct {
		KID string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(data, &h))
	require.NotEmpty(t, h.KID, "a kid in the token's header")
	return h.KID
}

// TestKeyFile runs the command as a user would on a fresh machine: no key
// configured. It keeps a key ring in the key file (mode 0600), makes its
// first key, warns that replicas must share a store, and uses the same key
// after a restart without rewriting the file.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "powersync-auth.key")
	env := map[string]string{"POWERSYNC_AUTH_KEY_FILE": path}

	first := startRun(t, env, "-anonymous")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"powersync-auth.key", "powersync-auth.key.lock"}, names, "the ring and its lock file, no temporary file")

	keys := listKeys(t, env)
	require.Len(t, keys, 1)
	kid := keys[0].KID
	assert.Equal(t, "active", keys[0].State)
	assert.Equal(t, "ES256", keys[0].Alg)
	assert.Equal(t, []string{kid}, jwksKIDs(t, first.url))
	token := do(t, "GET", first.url+routeAuthAnonymous).tokenBody(t).Token
	assert.Equal(t, kid, verifyFor(t, first.url, defaultPowerSyncURL, token))
	assert.Equal(t, exitOK, first.stop())

	made := findRecord(t, first.logs.String(), "made a new signing key in the key ring file")
	assert.Equal(t, "WARN", made["level"])
	assert.Contains(t, made["msg"], "every replica must share one store (-store postgres://…) or the same POWERSYNC_PRIVATE_KEY")
	assert.Equal(t, path, made["path"])
	assert.Equal(t, kid, made["kid"])
	assert.Equal(t, "ES256", made["alg"])
	assert.Equal(t, "file:"+path, made["store"])
	findRecord(t, first.logs.String(), "private keys are stored in clear: configure a key-encryption key (POWERSYNC_AUTH_KEY_ENCRYPTION_KEY)")
	assert.NotNil(t, findRecord(t, first.logs.String(), "POWERSYNC_URL is not set"), "the default audience is said")
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	second := startRun(t, env, "-anonymous")
	assert.Equal(t, []string{kid}, jwksKIDs(t, second.url), "the same key after a restart")
	assert.Equal(t, exitOK, second.stop())
	reused := findRecord(t, second.logs.String(), "signing with the key ring's active key")
	assert.Equal(t, kid, reused["kid"])
	assert.Equal(t, data, testkit.Must(os.ReadFile(path)), "the file is not rewritten")
	for _, r := range jsonRecords(t, second.logs.String()) {
		assert.NotContains(t, r["msg"], "made a new signing key")
	}
}

// TestKeyFileOfEarlierVersion starts the server on the key file an earlier
// version wrote (one private JWK): it signs with that key, under its kid,
// and leaves the file as it was.
func TestKeyFileOfEarlierVersion(t *testing.T) {
	key := newSecretKey(t, jwks.ES256)
	path := filepath.Join(t.TempDir(), "powersync-auth.key")
	old := append(testkit.Must(key.key.MarshalPrivate(jwks.FormatJWK)), '\n')
	require.NoError(t, os.WriteFile(path, old, 0o600))

	r := startRun(t, map[string]string{"POWERSYNC_AUTH_KEY_FILE": path, envPowerSyncURL: testPowerSyncURL}, "-anonymous")
	assert.Equal(t, []string{key.key.KeyID()}, jwksKIDs(t, r.url))
	token := do(t, "GET", r.url+routeAuthAnonymous).tokenBody(t).Token
	assert.Equal(t, key.key.KeyID(), verifyAt(t, r.url, token))
	assert.Equal(t, exitOK, r.stop())
	assert.Equal(t, key.key.KeyID(), findRecord(t, r.logs.String(), "signing with the key ring's active key")["kid"])
	assert.Equal(t, old, testkit.Must(os.ReadFile(path)), "nothing changed, nothing written")
	requireNoSecrets(t, r.logs.String(), key.private...)
}

// TestStartTogether starts several servers at once on one new key ring
// file, as replicas sharing a volume might: they agree on one key.
func TestStartTogether(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.key")
	const n = 6
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := newTestServer(t, map[string]string{envPrivateKey: "", "POWERSYNC_AUTH_KEY_FILE": path})
			kids[i] = s.app.key.KeyID()
		})
	}
	wg.Wait()
	for i := range n {
		assert.Equal(t, kids[0], kids[i], "server %d signs with the same key", i)
	}
	assert.Equal(t, []string{kids[0]}, kidsOf(listKeys(t, map[string]string{"POWERSYNC_AUTH_KEY_FILE": path}), ""))
}

// TestModes checks which keys the server signs with: POWERSYNC_PRIVATE_KEY
// alone without -store; with -store, that key as the first key of an empty
// ring, and the ring's keys (with a warning) once the ring holds others.
func TestModes(t *testing.T) {
	first := newSecretKey(t, jwks.ES256)
	other := newSecretKey(t, jwks.RS256)
	retired := newSecretKey(t, jwks.EdDSA)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "unused.key")
	store := "file:" + filepath.Join(dir, "ring.json")

	t.Run("static", func(t *testing.T) {
		s := newTestServer(t, map[string]string{
			envPrivateKey: first.secret, envPublicKey: retired.publicSecret(t), "POWERSYNC_AUTH_KEY_FILE": keyFile,
		})
		assert.Equal(t, []string{first.key.KeyID(), retired.key.KeyID()}, jwksKIDs(t, s.url), "the key, and POWERSYNC_PUBLIC_KEY's")
		rec := findRecord(t, s.logs.String(), "signing with POWERSYNC_PRIVATE_KEY alone")
		assert.Contains(t, rec["note"], "rotation needs a key ring: set -store")
		assert.Nil(t, s.app.keys.ring)
		assert.NoFileExists(t, keyFile, "no key file")
	})
	t.Run("imported into an empty ring", func(t *testing.T) {
		s := newTestServer(t, map[string]string{envPrivateKey: first.secret, "POWERSYNC_AUTH_STORE": store}, "-anonymous")
		assert.Equal(t, []string{first.key.KeyID()}, jwksKIDs(t, s.url))
		findRecord(t, s.logs.String(), "the key ring was empty: POWERSYNC_PRIVATE_KEY is its first key")
		keys := listKeys(t, nil, "-store", store)
		require.Len(t, keys, 1)
		assert.Equal(t, keyJSON{KID: first.key.KeyID(), Alg: "ES256", State: "active",
			Created: keys[0].Created, Published: keys[0].Published, Activated: keys[0].Activated}, keys[0])
		assert.Equal(t, first.key.KeyID(), s.verify(t, do(t, "GET", s.url+routeAuthAnonymous).tokenBody(t).Token).KeyID)
	})
	t.Run("restarted with the same key: nothing said", func(t *testing.T) {
		s := newTestServer(t, map[string]string{envPrivateKey: first.secret, "POWERSYNC_AUTH_STORE": store})
		assert.Equal(t, []string{first.key.KeyID()}, jwksKIDs(t, s.url))
		assert.NotContains(t, s.logs.String(), "is not in the key ring")
		assert.NotContains(t, s.logs.String(), "was empty")
	})
	t.Run("another key in a ring that has one: the ring's, with a warning", func(t *testing.T) {
		s := newTestServer(t, map[string]string{
			envPrivateKey: other.secret, envPublicKey: retired.publicSecret(t), "POWERSYNC_AUTH_STORE": store,
		})
		assert.Equal(t, []string{first.key.KeyID()}, jwksKIDs(t, s.url), "POWERSYNC_PUBLIC_KEY is not published with a ring")
		rec := findRecord(t, s.logs.String(), "POWERSYNC_PRIVATE_KEY is not in the key ring: signing with the ring's keys")
		assert.Equal(t, "WARN", rec["level"])
		assert.Equal(t, other.key.KeyID(), rec["kid"])
		assert.Equal(t, first.key.KeyID(), s.app.key.KeyID())
		requireNoSecrets(t, s.logs.String(), append(other.private, first.private...)...)
	})
}

// TestJWKSMaxAge serves the JWKS with the -jwks-max-age of the flags.
func TestJWKSMaxAge(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "public, max-age=300"},
		{[]string{"-jwks-max-age", "1m"}, "public, max-age=60"},
		{fastRing, "public, max-age=1"},
	} {
		s := newTestServer(t, nil, tt.args...)
		assert.Equal(t, tt.want, do(t, "GET", s.url+routeJWKS).header.Get("Cache-Control"), "%q", tt.args)
	}
}

// TestKeyEncryptionAtRest keeps the ring in a file with a key-encryption
// key: the file holds no private key in clear, the server restarts with it,
// refuses to start without it, and keys rewrap moves the ring to a new one.
func TestKeyEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ring.json")
	kek, kek2 := newKEK(t), newKEK(t)
	env := map[string]string{"POWERSYNC_AUTH_STORE": path, envKEK: kek}

	imported := newSecretKey(t, jwks.RS256) // an RSA key has the most private members
	require.Equal(t, exitOK, runKeysCmd(t, maps.Clone(env), "stage").code)
	r := runKeysCmd(t, map[string]string{"POWERSYNC_AUTH_STORE": path, envKEK: kek, envPrivateKey: imported.secret}, "import")
	require.Equal(t, exitOK, r.code, r.stderr)
	s := startRun(t, env, "-anonymous", "-powersync-url", testPowerSyncURL)
	token := do(t, "GET", s.url+routeAuthAnonymous).tokenBody(t).Token
	verifyAt(t, s.url, token)
	assert.Equal(t, exitOK, s.stop())
	assert.NotContains(t, s.logs.String(), "stored in clear")

	sealed := func(t *testing.T) {
		t.Helper()
		data := string(testkit.Must(os.ReadFile(path)))
		assert.NotContains(t, data, `"d":`, "no private JWK member in clear")
		assert.NotContains(t, data, `\"d\":`, "not even inside an escaped string")
		assert.NotContains(t, data, "PRIVATE KEY")
		requireNoSecrets(t, data, append(imported.private, imported.secret)...)
		assert.Contains(t, data, keyring.KEKID(kekBytes(t, kek)), "sealed under the key's ID")
	}
	sealed(t)

	// Without the key-encryption key, or with another, the ring cannot be read.
	before := testkit.Must(os.ReadFile(path))
	for name, v := range map[string]string{"none": "", "another": kek2} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(t.Context(), []string{"-store", path}, envOf(map[string]string{envKEK: v}), io.Discard, &stderr)
			assert.Equal(t, exitConfig, code)
			assert.Contains(t, stderr.String(), keyring.KEKID(kekBytes(t, kek)), "the message names the key-encryption key's ID")
			assert.Contains(t, stderr.String(), "set POWERSYNC_AUTH_KEY_ENCRYPTION_KEY")
			requireNoSecrets(t, stderr.String(), kek, kek2)
		})
	}
	assert.Equal(t, before, testkit.Must(os.ReadFile(path)))

	// A new key-encryption key: second, then first and rewrap, then alone.
	both := map[string]string{"POWERSYNC_AUTH_STORE": path, envKEK: kek2 + "," + kek}
	r = runKeysCmd(t, both, "rewrap")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "sealed with key-encryption key "+keyring.KEKID(kekBytes(t, kek2)))
	requireNoSecrets(t, r.stdout+r.stderr, kek, kek2)
	data := string(testkit.Must(os.ReadFile(path)))
	assert.NotContains(t, data, keyring.KEKID(kekBytes(t, kek)), "nothing sealed under the old key")
	assert.NotContains(t, data, `"d":`)
	assert.Len(t, listKeys(t, map[string]string{"POWERSYNC_AUTH_STORE": path, envKEK: kek2}), 2, "readable with the new key alone")

	// Without a key-encryption key, the file does hold the keys in clear:
	// the checks above would see them.
	clear := filepath.Join(dir, "clear.json")
	r = runKeysCmd(t, map[string]string{"POWERSYNC_AUTH_STORE": clear, envPrivateKey: imported.secret}, "import")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, string(testkit.Must(os.ReadFile(clear))), `"d":`)
	assert.Contains(t, r.stderr, "private keys are stored in clear")
}

// TestServerFollowsTheRing runs a server on a file store with fast periods
// and changes the ring under it with the keys subcommands: the server
// publishes a staged key within -store-poll, signs with it once promoted,
// and drops a revoked key from its JWKS.
func TestServerFollowsTheRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ring.json")
	env := map[string]string{"POWERSYNC_AUTH_STORE": path}
	s := startRun(t, env, append([]string{"-anonymous", "-anonymous-burst", "0"}, fastRing...)...)
	first := jwksKIDs(t, s.url)
	require.Len(t, first, 1)

	r := runKeysCmd(t, env, append([]string{"stage"}, fastRing...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	next := kidsOf(listKeys(t, env), "next")
	require.Len(t, next, 1)
	waitFor(t, 5*time.Second, "the next key in the JWKS", func() bool { return len(jwksKIDs(t, s.url)) == 2 })
	assert.Equal(t, []string{first[0], next[0]}, jwksKIDs(t, s.url), "active, then next")
	assert.Equal(t, first[0], tokenKID(t, do(t, "GET", s.url+routeAuthAnonymous).tokenBody(t).Token), "the next key does not sign yet")

	// Refused before the publish-ahead is over, saying when it is safe.
	r = runKeysCmd(t, env, append([]string{"promote"}, fastRing...)...)
	if r.code == exitFailure { // (unless this machine took 3 s since the staging)
		assert.Contains(t, r.stderr, "key "+next[0]+" becomes safe to promote at ")
		assert.Contains(t, r.stderr, "-publish-ahead 3s")
		assert.Contains(t, r.stderr, "or promote it now with -force")
		assert.Empty(t, r.stdout)
	}
	waitFor(t, 10*time.Second, "the promotion", func() bool {
		r = runKeysCmd(t, env, append([]string{"promote", next[0]}, fastRing...)...)
		return r.code == exitOK
	})
	assert.Contains(t, r.stdout, "promoted key "+next[0])
	assert.Contains(t, r.stdout, "key "+first[0]+" is retired and stays published until ")
	waitFor(t, 5*time.Second, "signing with the promoted key", func() bool {
		return tokenKID(t, do(t, "GET", s.url+routeAuthAnonymous).tokenBody(t).Token) == next[0]
	})
	assert.Equal(t, []string{next[0], first[0]}, jwksKIDs(t, s.url), "active, then retired")

	r = runKeysCmd(t, env, "revoke", first[0])
	require.Equal(t, exitOK, r.code, r.stderr)
	waitFor(t, 5*time.Second, "the revoked key out of the JWKS", func() bool { return len(jwksKIDs(t, s.url)) == 1 })
	assert.Equal(t, []string{next[0]}, jwksKIDs(t, s.url))
	assert.Equal(t, exitOK, s.stop())
	assert.Equal(t, first[0], findRecord(t, s.logs.String(), "made a new signing key")["kid"])
	count := map[any]int{}
	for _, r := range jsonRecords(t, s.logs.String()) {
		count[r["msg"]]++
	}
	// The server made its first key only: the subcommands made the rest.
	assert.Equal(t, 1, count["keyring: key staged"])
	assert.Equal(t, 1, count["keyring: key promoted"])
	assert.Zero(t, count["keyring: key revoked"])
}

// TestKeysSubcommands runs every subcommand on a file store, with its
// refusals and mistakes and their exit statuses.
func TestKeysSubcommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ring.json")
	env := map[string]string{"POWERSYNC_AUTH_STORE": "file:" + path}
	testKeysSubcommands(t, env, func() []byte { return testkit.Must(os.ReadFile(path)) })

	t.Run("usage", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			code int
			want string
		}{
			{nil, exitConfig, "Usage: powersync-auth keys SUBCOMMAND"},
			{[]string{"nope"}, exitConfig, `no subcommand "nope"`},
			{[]string{"list", "extra"}, exitConfig, `keys list: unexpected argument "extra"`},
			{[]string{"revoke"}, exitConfig, "keys revoke needs KID"},
			{[]string{"promote", "a", "b"}, exitConfig, `unexpected argument "b"`},
			{[]string{"list", "-nope"}, exitConfig, "-nope"},
			{[]string{"list", "-store", "mysql://u:hunter2hunter2@db/x"}, exitConfig, `names a "mysql" URL`},
			{[]string{"stage", "-publish-ahead", "1s"}, exitConfig, "-publish-ahead 1s is below the safe minimum"},
			{[]string{"rewrap"}, exitConfig, "needs POWERSYNC_AUTH_KEY_ENCRYPTION_KEY"},
			{[]string{"import"}, exitConfig, "give a FILE with the key, or set POWERSYNC_PRIVATE_KEY"},
			{[]string{"import", filepath.Join(dir, "missing.key")}, exitConfig, "no such file"},
			{[]string{"list", "-store", filepath.Join(dir, "no", "ring.json")}, exitFailure, "does not exist"},
		} {
			r := runKeysCmd(t, nil, tt.args...)
			assert.Equal(t, tt.code, r.code, "%q: %s", tt.args, r.stderr)
			assert.Contains(t, r.stderr, tt.want, "%q", tt.args)
			assert.NotContains(t, r.stderr, "hunter2")
		}
		r := runKeysCmd(t, nil, "-h")
		assert.Equal(t, exitOK, r.code)
		for _, kc := range keysCommands {
			assert.Contains(t, r.stdout, "  "+kc.name, "the list names %s", kc.name)
			h := runKeysCmd(t, nil, kc.name, "-h")
			assert.Equal(t, exitOK, h.code, kc.name)
			assert.Contains(t, h.stdout, "Usage: powersync-auth keys "+kc.name, kc.name)
			assert.Contains(t, h.stdout, "-store URL", kc.name)
			assert.Contains(t, h.stdout, "(env POWERSYNC_AUTH_PUBLISH_AHEAD)", kc.name)
			assert.Empty(t, h.stderr, kc.name)
		}
		var stderr bytes.Buffer
		assert.Equal(t, exitConfig, run(t.Context(), []string{"-anonymous", "keys", "list"}, envOf(nil), io.Discard, &stderr))
		assert.Contains(t, stderr.String(), "the keys subcommand comes first")
	})
}

// testKeysSubcommands runs the subcommands on the store env names; read
// returns what the store holds, to check that listing changes nothing.
func testKeysSubcommands(t *testing.T, env map[string]string, read func() []byte) {
	t.Run("list an empty ring", func(t *testing.T) {
		r := runKeysCmd(t, env, "list")
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "is empty: a server makes its first key on its first start")
		r = runKeysCmd(t, env, "list", "-json")
		assert.Equal(t, exitOK, r.code)
		assert.Equal(t, "[]\n", r.stdout)
		assert.Contains(t, r.stderr, "is empty")
	})

	key := newSecretKey(t, jwks.RS256)
	keyPath := filepath.Join(t.TempDir(), "key.jwk")
	require.NoError(t, os.WriteFile(keyPath, testkit.Must(key.key.MarshalPrivate(jwks.FormatJWK)), 0o600))
	pemPath := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(pemPath, testkit.Must(key.key.MarshalPrivate(jwks.FormatPEM)), 0o600))
	var active, next string
	t.Run("import into an empty ring: the active key", func(t *testing.T) {
		withKey := maps.Clone(env)
		withKey[envPrivateKey] = key.secret
		r := runKeysCmd(t, withKey, "import")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "imported key "+key.key.KeyID()+" (RS256) as the active key of the empty ring")
		r = runKeysCmd(t, env, "import", keyPath)
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "the ring's active key already: nothing changed", "from a JWK file, the same kid")
		r = runKeysCmd(t, env, "import", pemPath)
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assert.Contains(t, r.stderr, "the ring holds this key already, as key "+key.key.KeyID()+" (active)", "PEM has no kid")
		requireNoSecrets(t, r.stdout+r.stderr, append(key.private, key.secret)...)
		active = key.key.KeyID()
	})
	t.Run("stage", func(t *testing.T) {
		r := runKeysCmd(t, env, "stage")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "as a next key: published from now on; it may sign from ")
		assert.Contains(t, r.stdout, "(after -publish-ahead 10m30s)")
		next = kidsOf(listKeys(t, env), "next")[0]
	})
	t.Run("list", func(t *testing.T) {
		before := read()
		r := runKeysCmd(t, env, "list")
		require.Equal(t, exitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 4, r.stdout)
		assert.Regexp(t, `^KID +ALG +STATE +CREATED +PUBLISHED +ACTIVATED +RETIRED +REVOKED$`, lines[0])
		assert.Regexp(t, `^`+active+` +RS256 +active +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\S+ +\S+ +- +-$`, lines[1])
		assert.Regexp(t, `^`+next+` +ES256 +next +\S+ +\S+ +- +- +-$`, lines[2])
		assert.Regexp(t, `^next key `+next+` may be promoted from \S+ \(published for -publish-ahead 10m30s\)$`, lines[3])

		keys := listKeys(t, env)
		require.Len(t, keys, 2)
		for _, k := range keys {
			for _, ts := range []string{k.Created, k.Published} {
				_, err := time.Parse(time.RFC3339, ts)
				assert.NoError(t, err, "%+v", k)
			}
		}
		assert.NotEmpty(t, keys[0].Activated)
		assert.Empty(t, keys[1].Activated, "omitted when not reached")
		published, _ := time.Parse(time.RFC3339, keys[1].Published)
		promotable, _ := time.Parse(time.RFC3339, keys[1].PromotableAt)
		// Published is cut to the second, PromotableAt rounded up to it: waiting
		// until the time printed is enough.
		assert.GreaterOrEqual(t, promotable.Sub(published), 10*time.Minute+30*time.Second)
		assert.LessOrEqual(t, promotable.Sub(published), 10*time.Minute+31*time.Second)
		raw := runKeysCmd(t, env, "list", "-json").stdout
		assert.NotContains(t, raw, `"retired"`, "zero times are omitted")
		assert.Equal(t, before, read(), "listing writes nothing")
	})
	t.Run("promote too early, then forced", func(t *testing.T) {
		r := runKeysCmd(t, env, "promote")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "key "+next+" becomes safe to promote at ")
		assert.Contains(t, r.stderr, "(in 10m")
		assert.Contains(t, r.stderr, "verifiers whose copy of the JWKS was fetched before")
		assert.NotContains(t, r.stderr, "PublishAhead", "the flags' names, not the library's")
		assert.Equal(t, []string{active}, kidsOf(listKeys(t, env), "active"), "nothing changed")

		r = runKeysCmd(t, env, "promote", next, "-force")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "promoted key "+next+": it signs from now on")
		assert.Contains(t, r.stdout, "key "+active+" is retired")
		assert.Contains(t, r.stdout, "forced 10m")
		assert.Contains(t, r.stdout, "may refuse its tokens until")
		assert.Contains(t, r.stderr, "before its publish-ahead was over", "the key ring's warning")
		assert.Equal(t, []string{next}, kidsOf(listKeys(t, env), "active"))
		assert.Equal(t, []string{active}, kidsOf(listKeys(t, env), "retired"))

		r = runKeysCmd(t, env, "promote", next)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "is the active key already: nothing changed")
		r = runKeysCmd(t, env, "promote", active)
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "is retired: it never signs again")
		r = runKeysCmd(t, env, "promote")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "no next key to promote: stage one first")
		r = runKeysCmd(t, env, "promote", "powersync-0000000000")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "no such key: powersync-0000000000")
	})
	t.Run("import a retired key: refused", func(t *testing.T) {
		r := runKeysCmd(t, env, "import", keyPath)
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "retired")
		pub := filepath.Join(t.TempDir(), "pub.jwk")
		require.NoError(t, os.WriteFile(pub, testkit.Must(key.key.MarshalPublic(jwks.FormatJWK)), 0o600))
		r = runKeysCmd(t, env, "import", pub)
		assert.Equal(t, exitConfig, r.code)
		assert.Contains(t, r.stderr, "holds a public key")
	})
	t.Run("import into a ring with keys: a next key", func(t *testing.T) {
		other := newSecretKey(t, jwks.EdDSA)
		withKey := maps.Clone(env)
		withKey[envPrivateKey] = other.secret
		r := runKeysCmd(t, withKey, "import")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "imported key "+other.key.KeyID()+" (EdDSA) as a next key")
		assert.Equal(t, []string{other.key.KeyID()}, kidsOf(listKeys(t, env), "next"))
	})
	t.Run("revoke the active key", func(t *testing.T) {
		r := runKeysCmd(t, env, "revoke", next)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "revoked key "+next)
		assert.Contains(t, r.stdout, "signs now")
		keys := listKeys(t, env)
		assert.Equal(t, []string{next}, kidsOf(keys, "revoked"))
		assert.Len(t, kidsOf(keys, "active"), 1)
		for _, k := range keys {
			if k.State == "revoked" {
				assert.NotEmpty(t, k.Revoked)
			}
		}
		r = runKeysCmd(t, env, "revoke", next)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "was revoked already")
		r = runKeysCmd(t, env, "revoke", "powersync-0000000000")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "no such key")
	})
	t.Run("rewrap", func(t *testing.T) {
		kek := newKEK(t)
		sealed := maps.Clone(env)
		sealed[envKEK] = kek
		r := runKeysCmd(t, sealed, "rewrap")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "sealed with key-encryption key "+keyring.KEKID(kekBytes(t, kek)))
		assert.NotContains(t, string(read()), `"d":`)
		r = runKeysCmd(t, env, "list")
		assert.Equal(t, exitFailure, r.code, "sealed: unreadable without the key")
		assert.Contains(t, r.stderr, keyring.KEKID(kekBytes(t, kek)))
		assert.Len(t, listKeys(t, sealed), 3)
	})
}
