package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/pgtest"
	"github.com/powersync-jwks/jwks/pgstore"
)

// ringData returns the ring's row of a PostgreSQL store, as a dump would
// show it ("" when there is none).
func ringData(t testing.TB, dbURL string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var data []byte
	err = conn.QueryRow(ctx, "SELECT data FROM "+pgstore.DefaultTable+" WHERE name = $1", pgstore.DefaultRing).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	require.NoError(t, err)
	return data
}

// withPassword makes a login role with a password on the server of dbURL
// and returns dbURL as that role, password included. (The test servers
// trust every local connection: the password is in the URL, not checked.)
func withPassword(t testing.TB, dbURL string) (string, string) {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	role, password := "auth_"+hex.EncodeToString(b[:4]), "pw-"+hex.EncodeToString(b[:])+"-secret"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pgExec(ctx, dbURL, fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", role, password)))
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	return u.String(), password
}

// TestKeysSubcommandsPostgres runs every subcommand on a PostgreSQL store.
func TestKeysSubcommandsPostgres(t *testing.T) {
	dbURL := pgDatabase(t)
	testKeysSubcommands(t, map[string]string{"POWERSYNC_AUTH_STORE": dbURL}, func() []byte { return ringData(t, dbURL) })
}

// TestPostgresReplicas runs two servers in-process on one PostgreSQL ring
// with a key-encryption key: they sign with one key and publish the same
// JWKS; a key staged by the subcommand reaches both at once (LISTEN/NOTIFY,
// well within -store-poll); and the table holds no private key in clear.
func TestPostgresReplicas(t *testing.T) {
	dbURL := pgDatabase(t)
	key := newSecretKey(t, jwks.RS256)
	kek := newKEK(t)
	env := map[string]string{
		"POWERSYNC_AUTH_STORE": dbURL, envKEK: kek, envPrivateKey: key.secret, envPowerSyncURL: testPowerSyncURL,
	}
	a := startRun(t, env, "-anonymous", "-anonymous-burst", "0", "-store-poll", "30s")
	b := startRun(t, env, "-anonymous", "-anonymous-burst", "0", "-store-poll", "30s")
	assert.Equal(t, []string{key.key.KeyID()}, jwksKIDs(t, a.url), "POWERSYNC_PRIVATE_KEY is the first key of the empty ring")
	assert.Equal(t, do(t, "GET", a.url+routeJWKS).body, do(t, "GET", b.url+routeJWKS).body)
	assert.Equal(t, key.key.KeyID(), verifyAt(t, b.url, do(t, "GET", a.url+routeAuthAnonymous).tokenBody(t).Token))

	r := runKeysCmd(t, env, "stage")
	require.Equal(t, exitOK, r.code, r.stderr)
	next := kidsOf(listKeys(t, env), "next")
	require.Len(t, next, 1)
	for _, s := range []*running{a, b} {
		waitFor(t, 5*time.Second, "the staged key on every replica, by notification", func() bool {
			return len(jwksKIDs(t, s.url)) == 2
		})
		assert.Equal(t, []string{key.key.KeyID(), next[0]}, jwksKIDs(t, s.url))
	}

	data := string(ringData(t, dbURL))
	require.NotEmpty(t, data)
	assert.NotContains(t, data, `"d":`, "no private JWK member in clear")
	assert.NotContains(t, data, `\"d\":`)
	assert.NotContains(t, data, "PRIVATE KEY")
	requireNoSecrets(t, data, append(key.private, key.secret)...)
	assert.Equal(t, exitOK, a.stop())
	assert.Equal(t, exitOK, b.stop())
	findRecord(t, a.logs.String(), "the key ring was empty: POWERSYNC_PRIVATE_KEY is its first key")
	assert.NotContains(t, a.logs.String()+b.logs.String(), "made a new signing key")
	requireNoSecrets(t, a.logs.String()+b.logs.String()+r.stdout+r.stderr, append(key.private, key.secret, kek)...)
}

// TestPostgresDownAtStart starts the server on a PostgreSQL store that
// cannot be reached: refused at once, or silent until the store timeout. It
// exits with status 2 and a message naming the store without its password;
// a keys subcommand fails with status 1.
func TestPostgresDownAtStart(t *testing.T) {
	const password = "hunter2-correct-horse-battery"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusedAddr := closed.Addr().String()
	closed.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, and never says a word
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func(d time.Duration) { storeTimeout = d }(storeTimeout)
	storeTimeout = 2 * time.Second

	for _, tt := range []struct {
		name, addr, want string
		within           time.Duration
	}{
		{"refused", refusedAddr, "", 5 * time.Second},
		{"silent", silent.Addr().String(), "the database did not answer within 2s", 6 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := "postgres://auth:" + password + "@" + tt.addr + "/app?sslmode=disable"
			shown := "postgres://auth:xxxxx@" + tt.addr + "/app?sslmode=disable"
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(t.Context(), []string{"-store", store, "-anonymous"}, envOf(nil), &stdout, &stderr)
			assert.Less(t, time.Since(start), tt.within)
			assert.Equal(t, exitConfig, code, "%s", stderr.String())
			assert.Contains(t, stderr.String(), "powersync-auth: the key ring's store "+shown+": ")
			assert.Contains(t, stderr.String(), tt.want)
			assert.NotContains(t, stderr.String(), password)
			assert.NotContains(t, stdout.String()+stderr.String(), "hunter2")

			r := runKeysCmd(t, map[string]string{"POWERSYNC_AUTH_STORE": store}, "list")
			assert.Equal(t, exitFailure, r.code)
			assert.Contains(t, r.stderr, "powersync-auth keys list: the key ring's store "+shown)
			assert.NotContains(t, r.stdout+r.stderr, "hunter2")
		})
	}
}

// TestPostgresOutage runs the built server on a PostgreSQL server of the
// test's own, and stops the database under it: the server keeps signing
// tokens and serving its JWKS, /healthz stays 200, and its log says when
// the ring could not be refreshed and when it could again, after the
// database is back; then a change of the ring reaches it again. Before
// that, a start while the database is down exits with status 2. The
// store's password is in no log line.
func TestPostgresOutage(t *testing.T) {
	bin := buildCommand(t)
	server := pgtest.NewServer(t)
	dbURL, password := withPassword(t, server.NewDatabase(t, pgExec))
	env := []string{"POWERSYNC_AUTH_STORE=" + dbURL, "POWERSYNC_URL=" + testPowerSyncURL}
	args := append([]string{"-anonymous", "-anonymous-burst", "0"}, fastRing...)

	// Down at start: exit 2, at once, the password unsaid.
	require.NoError(t, server.Stop())
	down := exec.Command(bin, append(args, "-listen", "127.0.0.1:0")...)
	down.Env, down.Dir = env, t.TempDir()
	out, err := down.CombinedOutput()
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "%v: %s", err, out)
	assert.Equal(t, exitConfig, exitErr.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "the key ring's store postgres://")
	assert.NotContains(t, string(out), password)
	require.NoError(t, server.Start())

	c := startChild(t, bin, env, args...)
	jwksBefore := do(t, "GET", c.url+routeJWKS).body
	kid := tokenKID(t, do(t, "GET", c.url+routeAuthAnonymous).tokenBody(t).Token)

	require.NoError(t, server.Stop())
	deadline := time.Now().Add(3 * time.Second) // three refreshes of -store-poll 1s, at least
	waitFor(t, 15*time.Second, "the log of the failed refresh", func() bool {
		return strings.Contains(c.logs.String(), "keyring: cannot refresh the key ring")
	})
	for time.Now().Before(deadline) || !strings.Contains(c.logs.String(), "keyring: cannot refresh the key ring") {
		tok := do(t, "GET", c.url+routeAuthAnonymous).tokenBody(t).Token
		assert.Equal(t, kid, tokenKID(t, tok), "signing with the key it has")
		res := do(t, "GET", c.url+routeJWKS)
		assert.Equal(t, http.StatusOK, res.status)
		assert.Equal(t, jwksBefore, res.body, "serving the JWKS it has")
		assert.Equal(t, http.StatusOK, do(t, "GET", c.url+routeHealth).status, "/healthz stays up")
		time.Sleep(200 * time.Millisecond)
	}
	failed := findRecord(t, c.logs.String(), "keyring: cannot refresh the key ring")
	assert.Equal(t, "ERROR", failed["level"])
	assert.Contains(t, failed["msg"], "signing and serving go on with the keys this replica has")

	require.NoError(t, server.Start())
	waitFor(t, 20*time.Second, "the log of the recovery", func() bool {
		return strings.Contains(c.logs.String(), "keyring: the key ring can be refreshed again")
	})
	assert.Equal(t, "INFO", findRecord(t, c.logs.String(), "keyring: the key ring can be refreshed again")["level"])

	// Rotation works again: a staged key reaches the server.
	r := runKeysCmd(t, map[string]string{"POWERSYNC_AUTH_STORE": dbURL}, append([]string{"stage"}, fastRing...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	waitFor(t, 10*time.Second, "the staged key in the JWKS", func() bool { return len(jwksKIDs(t, c.url)) == 2 })
	assert.NotContains(t, c.logs.String(), password)
	assert.NotContains(t, r.stdout+r.stderr, password)
}

// TestReplicaKilledMidRotation runs two built servers rotating every 4 s on
// one PostgreSQL ring, kills one (SIGKILL) while a next key is staged, and
// starts it again: its ring loads (the same JWKS as the other's, no new
// key made), and the tokens of each verify against the other's JWKS, also
// after the next promotion. Then the same with one server on a file store.
func TestReplicaKilledMidRotation(t *testing.T) {
	bin := buildCommand(t)
	rotating := append([]string{"-anonymous", "-anonymous-burst", "0", "-rotate-every", "4s", "-token-lifetime", "2s"}, fastRing...)

	t.Run("postgres", func(t *testing.T) {
		dbURL := pgDatabase(t)
		env := []string{"POWERSYNC_AUTH_STORE=" + dbURL, "POWERSYNC_URL=" + testPowerSyncURL}
		a := startChild(t, bin, env, rotating...)
		b := startChild(t, bin, env, rotating...)
		ringEnv := map[string]string{"POWERSYNC_AUTH_STORE": dbURL}
		waitFor(t, 15*time.Second, "a staged next key", func() bool { return len(kidsOf(listKeys(t, ringEnv), "next")) == 1 })
		require.NoError(t, b.cmd.Process.Kill())
		<-b.done

		b = startChild(t, bin, env, rotating...)
		assert.NotContains(t, b.logs.String(), "made a new signing key")
		findRecord(t, b.logs.String(), "signing with the key ring's active key")
		checkReplicas(t, ringEnv, a, b)
		first := tokenKID(t, do(t, "GET", a.url+routeAuthAnonymous).tokenBody(t).Token)
		waitFor(t, 15*time.Second, "the next promotion", func() bool {
			return tokenKID(t, do(t, "GET", b.url+routeAuthAnonymous).tokenBody(t).Token) != first
		})
		checkReplicas(t, ringEnv, a, b)
	})
	t.Run("file", func(t *testing.T) {
		path := t.TempDir() + "/ring.json"
		env := []string{"POWERSYNC_AUTH_STORE=" + path, "POWERSYNC_URL=" + testPowerSyncURL}
		ringEnv := map[string]string{"POWERSYNC_AUTH_STORE": path}
		a := startChild(t, bin, env, rotating...)
		waitFor(t, 15*time.Second, "a staged next key", func() bool { return len(kidsOf(listKeys(t, ringEnv), "next")) == 1 })
		before := jwksKIDs(t, a.url)
		require.NoError(t, a.cmd.Process.Kill())
		<-a.done
		a = startChild(t, bin, env, rotating...)
		assert.NotContains(t, a.logs.String(), "made a new signing key")
		assert.Subset(t, jwksKIDs(t, a.url), before[:1], "the active key of before the kill is published (active, or retired)")
		verifyAt(t, a.url, do(t, "GET", a.url+routeAuthAnonymous).tokenBody(t).Token)
		keys := listKeys(t, ringEnv)
		assert.Len(t, kidsOf(keys, "active"), 1)
	})
}

// checkReplicas checks that two replicas publish the same JWKS (once they
// have converged), that the ring has one active key, and that each one's
// tokens verify against the other's JWKS.
func checkReplicas(t *testing.T, ringEnv map[string]string, a, b *child) {
	t.Helper()
	waitFor(t, 5*time.Second, "the replicas' JWKS to converge", func() bool {
		return bytes.Equal(do(t, "GET", a.url+routeJWKS).body, do(t, "GET", b.url+routeJWKS).body)
	})
	assert.Len(t, kidsOf(listKeys(t, ringEnv), "active"), 1)
	verifyAt(t, b.url, do(t, "GET", a.url+routeAuthAnonymous).tokenBody(t).Token)
	verifyAt(t, a.url, do(t, "GET", b.url+routeAuthAnonymous).tokenBody(t).Token)
}
