package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
)

// readyAnswer is an answer of /readyz.
type readyAnswer struct {
	status int
	body   map[string]string
}

func getReady(t *testing.T, base string) readyAnswer {
	t.Helper()
	res := do(t, "GET", base+routeReady)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(res.body, &body), "%s", res.body)
	return readyAnswer{res.status, body}
}

// TestReadyz starts with Supabase's JWKS unreachable: the server lives
// (/healthz 200) but is not ready (/readyz 503, saying why) until the JWKS
// has loaded, and then is, without a request to the token route.
func TestReadyz(t *testing.T) {
	sb := supabasetest.New(t)
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()}, "-anonymous")

	assert.Equal(t, http.StatusOK, do(t, "GET", s.url+routeHealth).status, "alive")
	r := getReady(t, s.url)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, map[string]string{
		"error":             "not_ready",
		"error_description": "the Supabase project's JWKS has not loaded yet",
		"reason":            "supabase_jwks",
	}, r.body)
	assert.Equal(t, http.StatusOK, do(t, "GET", s.url+routeAuthAnonymous).status,
		"the anonymous route needs no Supabase: not ready is no reason to refuse it")

	jwksRequests := sb.JWKSRequests()
	sb.Restore()
	waitFor(t, 20*time.Second, "/readyz to answer 200 once the JWKS loads", func() bool {
		return do(t, "GET", s.url+routeReady).status == http.StatusOK
	})
	assert.Greater(t, sb.JWKSRequests(), jwksRequests, "the background refresh fetched it")
	assert.Equal(t, readyAnswer{http.StatusOK, map[string]string{"status": "ready"}}, getReady(t, s.url))

	// Supabase goes away again, and a token of a key the cached JWKS lacks
	// makes the server try it: the fetch fails, the caller gets 503, and
	// the server stays ready (its JWKS and anonymous routes serve on).
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
	fetched := sb.JWKSRequests()
	res := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(sb.NewUser(), supabasetest.SignedByUnknownKey()))
	assert.Equal(t, http.StatusServiceUnavailable, res.status, "%s", res.body)
	assert.Greater(t, sb.JWKSRequests(), fetched, "the unknown kid was fetched for")
	assert.Equal(t, readyAnswer{http.StatusOK, map[string]string{"status": "ready"}}, getReady(t, s.url), "loaded once is enough")

	head := do(t, "HEAD", s.url+routeReady)
	assert.Equal(t, http.StatusOK, head.status)
	assert.Empty(t, head.body)
	post := do(t, "POST", s.url+routeReady)
	assert.Equal(t, http.StatusMethodNotAllowed, post.status)
	assert.Equal(t, "GET, HEAD", post.header.Get("Allow"))
	assert.Equal(t, "method_not_allowed", post.errorCode(t))
}

// TestReadyzWithoutSupabase: with no Supabase project the signing key is
// all it takes, from the first request on.
func TestReadyzWithoutSupabase(t *testing.T) {
	s := newTestServer(t, nil, "-anonymous")
	assert.Equal(t, readyAnswer{http.StatusOK, map[string]string{"status": "ready"}}, getReady(t, s.url))
}

// TestSupabaseIssuer runs the signed-in route against a Supabase whose
// tokens carry no "iss" (self-hosted Supabase's compose file sets no
// GOTRUE_JWT_ISSUER), and one whose tokens name another URL than the one
// the server reaches it on.
func TestSupabaseIssuer(t *testing.T) {
	t.Run("no iss: refused by default", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithJWTIssuer(""))
		s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()})
		res := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(sb.NewUser()))
		assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res.body)
	})

	t.Run("no iss: any", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithJWTIssuer(""))
		alice := sb.NewUser()
		s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL(), "POWERSYNC_AUTH_SUPABASE_ISSUER": "any"})
		tok := sb.Token(alice)
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		require.NoError(t, err)
		require.NotContains(t, string(payload), `"iss"`, "the stand-in's token has no iss")

		body := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+tok).tokenBody(t)
		assert.Equal(t, alice.ID, body.UserID)
		assert.Equal(t, alice.ID, s.verify(t, body.Token).Subject)
		warning := findRecord(t, s.logs.String(), "accepting Supabase access tokens of any issuer")
		assert.Equal(t, "WARN", warning["level"])
		assert.Contains(t, warning["msg"], "POWERSYNC_AUTH_SUPABASE_ISSUER", "names where the choice was made")

		// The rest is still checked.
		for name, tok := range map[string]string{
			"expired":     sb.Token(alice, supabasetest.Expired()),
			"unknown key": sb.Token(alice, supabasetest.SignedByUnknownKey()),
			"anon key":    sb.AnonKey(),
		} {
			assert.Equal(t, http.StatusUnauthorized, do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+tok).status, name)
		}
	})

	t.Run("the public issuer of an internal URL", func(t *testing.T) {
		const public = "https://supabase.example.com/auth/v1"
		sb := supabasetest.New(t, supabasetest.WithJWTIssuer(public))
		alice := sb.NewUser()
		s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()}, "-supabase-issuer", public)
		body := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(alice)).tokenBody(t)
		assert.Equal(t, alice.ID, body.UserID)
		assert.NotContains(t, s.logs.String(), "any issuer")

		other := supabasetest.New(t, supabasetest.WithJWTIssuer("https://other.example.com/auth/v1"))
		s2 := newTestServer(t, map[string]string{envSupabaseURL: other.URL()}, "-supabase-issuer", public)
		res := do(t, "GET", s2.url+routeAuth, "Authorization: Bearer "+other.Token(other.NewUser()))
		assert.Equal(t, http.StatusUnauthorized, res.status, "another issuer than the one named")
	})

	t.Run("without SUPABASE_URL", func(t *testing.T) {
		c, err := parseConfig([]string{"-supabase-issuer", "any"}, envOf(nil), nil)
		require.NoError(t, err)
		assert.True(t, hasWarning(c, "-supabase-issuer is set but SUPABASE_URL is not"), "%q", c.warnings)
	})
}

// TestFunctionsPaths checks the Edge Functions' paths: off by default, and
// with -functions-paths the same handlers under /functions/v1/.
func TestFunctionsPaths(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	env := map[string]string{envSupabaseURL: sb.URL()}

	off := newTestServer(t, env, "-anonymous")
	for _, path := range []string{functionsPrefix + routeJWKSFunction, functionsPrefix + routeAuth, functionsPrefix + routeAuthAnonymous} {
		assert.Equal(t, http.StatusNotFound, do(t, "GET", off.url+path).status, path)
	}

	s := newTestServer(t, env, "-anonymous", "-functions-paths")
	assert.Equal(t, []string{
		"GET " + routeJWKS,
		"GET " + routeJWKSFunction, "GET " + functionsPrefix + routeJWKSFunction,
		"GET|POST " + routeAuth, "GET|POST " + functionsPrefix + routeAuth,
		"GET|POST " + routeAuthAnonymous, "GET|POST " + functionsPrefix + routeAuthAnonymous,
		"GET " + routeHealth, "GET " + routeReady,
	}, s.app.routes)

	assert.Equal(t, do(t, "GET", s.url+routeJWKS).body, do(t, "GET", s.url+"/functions/v1/powersync-jwks").body)
	// As supabase-js's functions.invoke calls it: POST, the access token,
	// the apikey header.
	body := do(t, "POST", s.url+"/functions/v1/powersync-auth",
		"Authorization: Bearer "+sb.Token(alice), "apikey: "+sb.AnonKey(), "Content-Type: application/json").tokenBody(t)
	assert.Equal(t, alice.ID, s.verify(t, body.Token).Subject)
	body = do(t, "POST", s.url+"/functions/v1/powersync-auth-anonymous").tokenBody(t)
	assert.Equal(t, "anonymous", s.verify(t, body.Token).Subject)
	assert.Equal(t, http.StatusNotFound, do(t, "GET", s.url+"/functions/v1/healthz").status, "only the functions' routes")
	assert.Equal(t, http.StatusNotFound, do(t, "GET", s.url+"/functions/v1/.well-known/jwks.json").status)
}

// TestAccessLog checks the access log: off by default; on, one line per
// request with method, route, status, duration, bytes and client, the
// client named through the trusted proxies, and never a token or a path.
func TestAccessLog(t *testing.T) {
	off := newTestServer(t, nil, "-anonymous")
	do(t, "GET", off.url+routeAuthAnonymous)
	assert.NotContains(t, off.logs.String(), `"msg":"request"`)

	sb := supabasetest.New(t)
	alice := sb.NewUser()
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()},
		"-anonymous", "-access-log", "-trusted-proxies", "127.0.0.1/32")
	tok := sb.Token(alice)
	issued := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+tok).tokenBody(t).Token
	do(t, "GET", s.url+routeAuthAnonymous, "X-Forwarded-For: 198.51.100.7")
	do(t, "GET", s.url+"/no/such/path?token="+tok)
	do(t, "BREW", s.url+routeJWKS)

	// A line is written once the handler returns, which may be after its
	// client has the answer.
	var lines []logRecord
	waitFor(t, 5*time.Second, "four request lines", func() bool {
		lines = nil
		for _, rec := range jsonRecords(t, s.logs.String()) {
			if rec["msg"] == "request" {
				lines = append(lines, rec)
			}
		}
		return len(lines) >= 4
	})
	require.Len(t, lines, 4)
	want := []struct {
		method, route, client string
		status                float64
	}{
		{"GET", routeAuth, "127.0.0.1", 200},
		{"GET", routeAuthAnonymous, "198.51.100.7", 200},
		{"GET", routeUnknown, "127.0.0.1", 404},
		{"other", routeJWKS, "127.0.0.1", 405},
	}
	for i, w := range want {
		rec := lines[i]
		assert.Equal(t, "INFO", rec["level"])
		assert.Equal(t, w.method, rec["method"], "line %d", i)
		assert.Equal(t, w.route, rec["route"], "line %d", i)
		assert.Equal(t, w.status, rec["status"], "line %d", i)
		assert.Equal(t, w.client, rec["client"], "line %d", i)
		assert.IsType(t, float64(0), rec["duration_ms"])
		assert.Greater(t, rec["bytes"], float64(0))
	}
	requireNoSecrets(t, s.logs.String(), tok, issued, tok[strings.LastIndexByte(tok, '.')+1:])
	assert.NotContains(t, s.logs.String(), "/no/such/path", "the route, never the path")
}

// TestVersion checks -version: the version, whatever the rest of the
// configuration, and in the start-up line.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-version"}, envOf(map[string]string{"POWERSYNC_AUTH_LISTEN": "not an address"}), &stdout, &stderr)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr.String())
	assert.Equal(t, program+" "+buildVersion()+"\n", stdout.String())
	assert.Regexp(t, `^powersync-auth \S+ .*go1\.\d+`, stdout.String())

	r := startRun(t, map[string]string{envPrivateKey: newSecretKey(t, jwks.ES256).secret})
	start := findRecord(t, r.logs.String(), "powersync-auth listening")
	assert.Equal(t, buildVersion(), start["version"])
}

// TestLinkedVersion checks the version set at link time: it replaces the
// module's, in -version and in build_info alike.
func TestLinkedVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	assert.Regexp(t, `^v1\.2\.3 go1\.\d+`, buildVersion())
	v, goVersion := buildLabels()
	assert.Equal(t, "v1.2.3", v)
	assert.Regexp(t, `^go1\.\d+`, goVersion)
}

func TestDescribeBuild(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install of a tag", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0 go1.26.8"},
		{"a clone without VCS stamping", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "(devel) go1.26.8"},
		{"a clone with its commit", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "2cc1a6b0c4d1e2f3a4b5", "vcs.time", "2026-12-01T13:59:56Z", "vcs.modified", "true")},
			"(devel) 2cc1a6b0c4d1 2026-12-01T13:59:56Z+modified go1.26.8"},
		{"a pseudo-version names the commit already", debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Version: "v0.0.0-20261201135151-2cc1a6b0c4d1+dirty"},
			Settings: settings("vcs.revision", "2cc1a6b0c4d1e2f3a4b5", "vcs.modified", "true")},
			"v0.0.0-20261201135151-2cc1a6b0c4d1+dirty go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, describeBuild(&tc.info))
		})
	}
}

// TestCreateKey checks -create-key=false: an empty key ring is refused at
// start (status 2, saying what to do) rather than given a key of this
// replica's own; a ring with a key starts as always.
func TestCreateKey(t *testing.T) {
	dir := t.TempDir()
	ring := filepath.Join(dir, "ring.json")
	env := map[string]string{"POWERSYNC_AUTH_STORE": ring}

	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a run that served would end, and fail the test
	defer cancel()
	code := run(ctx, []string{"-create-key=false", "-listen", "127.0.0.1:0"}, envOf(env), nil, &stderr)
	assert.Equal(t, exitConfig, code, "%s", stderr.String())
	assert.Contains(t, stderr.String(), "has no key, and -create-key=false")
	assert.Contains(t, stderr.String(), "keys stage")
	_, err := os.Stat(ring)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing was written")

	staged := runKeysCmd(t, env, "stage")
	require.Equal(t, exitOK, staged.code, "%s", staged.stderr)
	env["POWERSYNC_AUTH_CREATE_KEY"] = "false"
	r := startRun(t, env)
	kids := jwksKIDs(t, r.url)
	require.Len(t, kids, 1)
	assert.Equal(t, kidsOf(listKeys(t, env), "active"), kids, "the staged key signs: it was the ring's first")
	assert.NotContains(t, r.logs.String(), "made a new signing key")
}
