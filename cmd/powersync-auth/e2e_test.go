package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks/internal/nodejs"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// built is the command built once for the tests that run it as a process.
var built struct {
	once sync.Once
	dir  string // removed by TestMain
	bin  string
	err  error
}

// buildCommand builds the command, once for the test binary, and returns
// the binary's path. It builds with the race detector when the test runs
// with it: the packages compiled for the test binary are then reused from
// the build cache, and only the command itself is compiled and linked.
func buildCommand(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("the go command, to build powersync-auth: %w", err)
			return
		}
		if built.dir, err = os.MkdirTemp("", "powersync-auth-test-"); err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(built.dir, program)
		args := []string{"build", "-o", built.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command(goBin, append(args, ".")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, built.err)
	return built.bin
}

// removeBuilt removes the command built by buildCommand.
func removeBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// TestEndToEnd runs the built command as a user of the seed project would:
// with the seed's secrets (made by the seed's own recipe, in Node), the
// PowerSync instance URL, a Supabase project (the in-process stand-in) and
// anonymous tokens on. Every token it hands out is verified in Node exactly
// as the PowerSync Service verifies it, against the JWKS the command serves.
func TestEndToEnd(t *testing.T) {
	bin := buildCommand(t)
	seed := nodejs.SeedKeygen(t)
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	// Supabase is not up yet when the command starts: it must start anyway.
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)

	// No key file is made: POWERSYNC_PRIVATE_KEY is set.
	c := startChild(t, bin, []string{
		"POWERSYNC_PRIVATE_KEY=" + seed.PrivateSecret,
		"POWERSYNC_PUBLIC_KEY=" + seed.PublicSecret,
		"POWERSYNC_URL=" + testPowerSyncURL,
		"SUPABASE_URL=" + sb.URL(),
		"SUPABASE_ANON_KEY=" + sb.AnonKey(),
		"SUPABASE_JWT_SECRET=" + sb.LegacySecret(),
	}, "-anonymous")
	base, logs := c.url, c.logs

	// The JWKS: the seed's public key, once, under both names.
	var want map[string]any
	require.NoError(t, json.Unmarshal(seed.PublicJWK, &want))
	for _, path := range []string{routeJWKS, routeJWKSFunction} {
		res := do(t, "GET", base+path)
		require.Equal(t, http.StatusOK, res.status, path)
		var doc struct{ Keys []map[string]any }
		require.NoError(t, json.Unmarshal(res.body, &doc), path)
		require.Len(t, doc.Keys, 1, "%s: the signing key's public half is published once", path)
		for name, v := range want {
			assert.Equal(t, v, doc.Keys[0][name], "%s: member %q", path, name)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			assert.NotContains(t, doc.Keys[0], private, path)
		}
	}

	// While Supabase is down: credentials that need no Supabase get 401 at
	// once, a real user gets 503.
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", base+routeAuth).status)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", base+routeAuth, "Authorization: Bearer not-a-jwt").status)
	aliceToken := sb.Token(alice)
	down := do(t, "GET", base+routeAuth, "Authorization: Bearer "+aliceToken)
	assert.Equal(t, http.StatusServiceUnavailable, down.status, "%s", down.body)
	code := down.errorCode(t)
	assert.Equal(t, "temporarily_unavailable", code)

	// Supabase comes up.
	sb.Restore()
	var signedIn testkit.TokenBody
	waitFor(t, 10*time.Second, "the signed-in route", func() bool {
		res := do(t, "GET", base+routeAuth, "Authorization: Bearer "+aliceToken)
		if res.status == http.StatusOK {
			signedIn = res.tokenBody(t)
		}
		return res.status == http.StatusOK
	})
	posted := do(t, "POST", base+routeAuth, "Authorization: Bearer "+aliceToken).tokenBody(t)
	anonymous := do(t, "GET", base+routeAuthAnonymous).tokenBody(t)
	bodies := []testkit.TokenBody{signedIn, posted, anonymous}
	subjects := []string{alice.ID, alice.ID, "anonymous"}

	// Refusals, Supabase being up.
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", base+routeAuth, "Authorization: Bearer "+sb.AnonKey()).status)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", base+routeAuth, "Authorization: Bearer "+sb.Token(alice, supabasetest.Expired())).status)

	// PowerSync accepts every token, from both JWKS URLs.
	var tokens []string
	for _, b := range bodies {
		tokens = append(tokens, b.Token)
	}
	results := nodejs.VerifyTokens(t, base+routeJWKS, []string{testPowerSyncURL}, tokens...)
	results = append(results, nodejs.VerifyTokens(t, base+routeJWKSFunction, []string{testPowerSyncURL}, tokens...)...)
	for i, v := range results {
		b, sub := bodies[i%len(bodies)], subjects[i%len(bodies)]
		require.True(t, v.OK, "token %d refused by PowerSync's checks: %s %s", i, v.Code, v.Error)
		assert.Equal(t, sub, v.Payload["sub"])
		assert.Equal(t, testPowerSyncURL, v.Payload["aud"])
		assert.Equal(t, float64(300), v.Payload["exp"].(float64)-v.Payload["iat"].(float64), "the seed's 5 minutes")
		assert.NotContains(t, v.Payload, "iss", "no issuer by default")
		assert.Equal(t, seed.KeyID, v.Header["kid"])
		assert.Equal(t, "RS256", v.Header["alg"])

		assert.Equal(t, testPowerSyncURL, b.PowerSyncURL)
		assert.Equal(t, sub, b.UserID)
		expires, err := time.Parse(time.RFC3339, b.ExpiresAt)
		require.NoError(t, err, "expires_at")
		assert.Equal(t, int64(v.Payload["exp"].(float64)), expires.Unix(), "expires_at is exp")
	}

	// SIGTERM: a clean exit, promptly.
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-c.done:
		var exitErr *exec.ExitError
		if errors.As(c.err, &exitErr) {
			t.Fatalf("exit status %d after SIGTERM; log:\n%s", exitErr.ExitCode(), logs.String())
		}
		require.NoError(t, c.err)
	case <-time.After(shutdownTimeout):
		t.Fatalf("still running %v after SIGTERM; log:\n%s", shutdownTimeout, logs.String())
	}
	assert.Equal(t, 0, c.cmd.ProcessState.ExitCode())

	log := logs.String()
	findRecord(t, log, "shutting down")
	findRecord(t, log, "stopped")
	secrets := []string{seed.PrivateSecret, sb.AnonKey(), sb.LegacySecret(), aliceToken}
	secrets = append(secrets, privateMembers(t, seed.PrivateSecret)...)
	secrets = append(secrets, tokens...)
	requireNoSecrets(t, log, secrets...)
}
