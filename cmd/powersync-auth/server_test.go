package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
)

// testServer is the handler of newApp served on loopback.
type testServer struct {
	url  string
	app  *app
	logs *testkit.LogBuffer
}

// newTestServer configures the server as the command would with args and
// env, and serves its handler on loopback. Unless env says otherwise, the
// key is a new ES256 key and the audience testPowerSyncURL.
func newTestServer(t *testing.T, env map[string]string, args ...string) *testServer {
	t.Helper()
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env[envPrivateKey]; !ok {
		env[envPrivateKey] = newSecretKey(t, jwks.ES256).secret
	}
	if _, ok := env[envPowerSyncURL]; !ok {
		env[envPowerSyncURL] = testPowerSyncURL
	}
	c, err := parseConfig(args, envOf(env), io.Discard)
	require.NoError(t, err)
	logs := &testkit.LogBuffer{}
	a, err := newApp(t.Context(), c, logs.JSONLogger())
	require.NoError(t, err)
	t.Cleanup(a.close)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, app: a, logs: logs}
}

// verify checks a token with the library's Verifier against the server's
// own JWKS, fetched over HTTP, and returns its claims.
func (s *testServer) verify(t *testing.T, token string, opts ...jwks.VerifierOption) *jwks.Claims {
	t.Helper()
	keys, err := remote.New(t.Context(), s.url+routeJWKS, remote.WithLogger(testkit.Discard))
	require.NoError(t, err)
	v, err := jwks.NewVerifier(keys, testPowerSyncURL, opts...)
	require.NoError(t, err)
	claims, err := v.Verify(t.Context(), token)
	require.NoError(t, err)
	return claims
}

func TestJWKSRoutes(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	retired := newSecretKey(t, jwks.RS256)
	s := newTestServer(t, map[string]string{
		envPrivateKey: signing.secret,
		envPublicKey:  signing.publicSecret(t) + "," + retired.publicSecret(t),
	})
	want := string(testkit.Must(jwks.NewKeySet(signing.key, retired.key)).JWKS())

	for _, path := range []string{routeJWKS, routeJWKSFunction} {
		t.Run(path, func(t *testing.T) {
			res := do(t, "GET", s.url+path)
			require.Equal(t, http.StatusOK, res.status)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			assert.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
			assert.JSONEq(t, want, string(res.body), "the signing key once, then the retired key, public halves only")
			requireNoSecrets(t, string(res.body), append(signing.private, retired.private...)...)

			head := do(t, "HEAD", s.url+path)
			assert.Equal(t, http.StatusOK, head.status)
			assert.Empty(t, head.body)

			post := do(t, "POST", s.url+path)
			assert.Equal(t, http.StatusMethodNotAllowed, post.status)
			assert.Equal(t, "GET, HEAD", post.header.Get("Allow"))
			code := post.errorCode(t)
			assert.Equal(t, "method_not_allowed", code)
		})
	}
}

func TestHealthz(t *testing.T) {
	// Supabase is down: /healthz does not care.
	sb := supabasetest.New(t)
	sb.SetFailure(supabasetest.Hang)
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()})

	res := do(t, "GET", s.url+"/healthz")
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.JSONEq(t, `{"status":"ok"}`, string(res.body))

	assert.Equal(t, http.StatusOK, do(t, "HEAD", s.url+"/healthz").status)
	post := do(t, "POST", s.url+"/healthz")
	assert.Equal(t, http.StatusMethodNotAllowed, post.status)
	assert.Equal(t, "GET, HEAD", post.header.Get("Allow"))
	post.errorCode(t)
}

func TestNotFound(t *testing.T) {
	// Neither token route is on.
	s := newTestServer(t, nil)
	for _, path := range []string{"/", "/nope", routeAuth, routeAuthAnonymous, "/powersync-jwks/", "/.well-known/jwks.json/x", "/healthz/"} {
		res := do(t, "GET", s.url+path)
		assert.Equal(t, http.StatusNotFound, res.status, path)
		code := res.errorCode(t)
		assert.Equal(t, "not_found", code, path)
	}
	assert.Equal(t, []string{"GET " + routeJWKS, "GET " + routeJWKSFunction, "GET " + routeHealth, "GET " + routeReady}, s.app.routes)
}

func TestSupabaseRoute(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL(), envAnonKey: sb.AnonKey()})
	assert.Contains(t, s.app.routes, "GET|POST "+routeAuth)

	for _, method := range []string{"GET", "POST"} {
		res := do(t, method, s.url+routeAuth, "Authorization: Bearer "+sb.Token(alice))
		body := res.tokenBody(t)
		assert.Equal(t, testPowerSyncURL, body.PowerSyncURL)
		assert.Equal(t, alice.ID, body.UserID)
		claims := s.verify(t, body.Token)
		assert.Equal(t, alice.ID, claims.Subject)
		assert.Equal(t, 5*time.Minute, claims.ExpiresAt.Sub(claims.IssuedAt), "the original example's 5 minutes")
		assert.Empty(t, claims.Issuer, "no issuer by default")
		expires, err := time.Parse(time.RFC3339, body.ExpiresAt)
		require.NoError(t, err)
		assert.True(t, expires.Equal(claims.ExpiresAt), "expires_at is exp")
	}

	refused := map[string][]string{
		"no credentials":       nil,
		"not a JWT":            {"Authorization: Bearer not-a-jwt"},
		"the anon key":         {"Authorization: Bearer " + sb.AnonKey()},
		"the publishable key":  {"Authorization: Bearer " + sb.PublishableKey()},
		"an expired token":     {"Authorization: Bearer " + sb.Token(alice, supabasetest.Expired())},
		"an unknown key":       {"Authorization: Bearer " + sb.Token(alice, supabasetest.SignedByUnknownKey())},
		"another scheme":       {"Authorization: Basic " + sb.Token(alice)},
		"a service_role token": {"Authorization: Bearer " + sb.ServiceRoleKey()},
	}
	for name, headers := range refused {
		res := do(t, "GET", s.url+routeAuth, headers...)
		assert.Equal(t, http.StatusUnauthorized, res.status, name)
		assert.True(t, strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer"), name)
		res.errorCode(t)
	}

	put := do(t, "PUT", s.url+routeAuth)
	assert.Equal(t, http.StatusMethodNotAllowed, put.status)
	assert.Equal(t, "GET, POST", put.header.Get("Allow"))
}

// TestSupabaseUnreachable starts with Supabase down, as in a compose file
// whose containers start in any order: the server starts, requests that
// need no Supabase get their 401 at once, the signed-in route answers 503,
// and then 200 once Supabase is back.
func TestSupabaseUnreachable(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()})

	start := time.Now()
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", s.url+routeAuth).status)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.PublishableKey()).status)
	assert.Less(t, time.Since(start), 5*time.Second, "no wait for Supabase")

	res := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(alice))
	assert.Equal(t, http.StatusServiceUnavailable, res.status, "%s", res.body)
	code := res.errorCode(t)
	assert.Equal(t, "temporarily_unavailable", code)

	sb.Restore()
	// The key set is fetched again on the next request, or by the
	// background refresh; either way the route recovers.
	waitFor(t, 10*time.Second, "the signed-in route to recover", func() bool {
		return do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(alice)).status == http.StatusOK
	})
}

// TestSupabaseStrict checks that strict mode asks /auth/v1/user: a signed
// out user is refused before its access token expires, and a /user that is
// down gives 503.
func TestSupabaseStrict(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL(), envAnonKey: sb.PublishableKey()}, "-supabase-strict")

	token := sb.Token(alice)
	do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+token).tokenBody(t)
	assert.Equal(t, 1, sb.UserRequests())

	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+token).status)
	sb.Restore()

	sb.SignOut(alice.ID)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+token).status)
}

// TestSupabaseLegacySecret checks that SUPABASE_JWT_SECRET verifies HS256
// access tokens locally, without a call to Supabase.
func TestSupabaseLegacySecret(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
	alice := sb.NewUser()
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL(), envJWTSecret: sb.LegacySecret()})
	body := do(t, "GET", s.url+routeAuth, "Authorization: Bearer "+sb.Token(alice)).tokenBody(t)
	assert.Equal(t, alice.ID, body.UserID)
	assert.Equal(t, 0, sb.UserRequests())
}

func TestAnonymousRoute(t *testing.T) {
	s := newTestServer(t, nil, "-anonymous", "-issuer", "https://issuer.example", "-token-lifetime", "1h")
	assert.Contains(t, s.app.routes, "GET|POST "+routeAuthAnonymous)
	assert.NotContains(t, s.app.routes, "GET|POST "+routeAuth)

	body := do(t, "POST", s.url+routeAuthAnonymous).tokenBody(t)
	assert.Equal(t, "anonymous", body.UserID, "the original example's subject")
	assert.Equal(t, testPowerSyncURL, body.PowerSyncURL)
	claims := s.verify(t, body.Token, jwks.WithIssuer("https://issuer.example"))
	assert.Equal(t, "anonymous", claims.Subject)
	assert.Equal(t, time.Hour, claims.ExpiresAt.Sub(claims.IssuedAt))

	unique := newTestServer(t, nil, "-anonymous", "-anonymous-unique")
	first := do(t, "GET", unique.url+routeAuthAnonymous).tokenBody(t)
	second := do(t, "GET", unique.url+routeAuthAnonymous).tokenBody(t)
	assert.Regexp(t, `^anon-[0-9a-f-]{36}$`, first.UserID)
	assert.NotEqual(t, first.UserID, second.UserID)
}

func TestPowerSyncURLTrailingSlash(t *testing.T) {
	s := newTestServer(t, map[string]string{envPowerSyncURL: testPowerSyncURL + "/"}, "-anonymous")
	body := do(t, "GET", s.url+routeAuthAnonymous).tokenBody(t)
	assert.Equal(t, testPowerSyncURL, body.PowerSyncURL, "no trailing slash: the JS SDK refuses one")
}

func TestAnonymousRateLimit(t *testing.T) {
	s := newTestServer(t, nil, "-anonymous", "-anonymous-burst", "3", "-anonymous-every", "1h")
	for i := range 3 {
		assert.Equal(t, http.StatusOK, do(t, "GET", s.url+routeAuthAnonymous).status, "request %d of the burst", i+1)
	}
	res := do(t, "GET", s.url+routeAuthAnonymous)
	assert.Equal(t, http.StatusTooManyRequests, res.status)
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After in seconds")
	assert.InDelta(t, 3600, retry, 5)
	code := res.errorCode(t)
	assert.Equal(t, "rate_limited", code)

	// X-Forwarded-For is ignored from an untrusted peer...
	assert.Equal(t, http.StatusTooManyRequests, do(t, "GET", s.url+routeAuthAnonymous, "X-Forwarded-For: 203.0.113.9").status)

	// ...and names the client behind a trusted proxy.
	proxied := newTestServer(t, nil, "-anonymous", "-anonymous-burst", "1", "-anonymous-every", "1h", "-trusted-proxies", "127.0.0.1/32,::1")
	assert.Equal(t, http.StatusOK, do(t, "GET", proxied.url+routeAuthAnonymous, "X-Forwarded-For: 203.0.113.9").status)
	assert.Equal(t, http.StatusTooManyRequests, do(t, "GET", proxied.url+routeAuthAnonymous, "X-Forwarded-For: 203.0.113.9").status)
	assert.Equal(t, http.StatusOK, do(t, "GET", proxied.url+routeAuthAnonymous, "X-Forwarded-For: 203.0.113.10").status)

	// -anonymous-burst 0 turns the limit off.
	off := newTestServer(t, nil, "-anonymous", "-anonymous-burst", "0")
	for range 20 {
		require.Equal(t, http.StatusOK, do(t, "GET", off.url+routeAuthAnonymous).status)
	}
}

func TestCORS(t *testing.T) {
	sb := supabasetest.New(t)
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()}, "-anonymous", "-cors-origins", "https://app.example.com")

	for _, path := range []string{routeAuth, routeAuthAnonymous} {
		pre := do(t, "OPTIONS", s.url+path, "Origin: https://app.example.com", "Access-Control-Request-Method: GET",
			"Access-Control-Request-Headers: authorization")
		assert.Equal(t, http.StatusNoContent, pre.status, path)
		assert.Equal(t, "https://app.example.com", pre.header.Get("Access-Control-Allow-Origin"), path)
		assert.Contains(t, pre.header.Get("Access-Control-Allow-Headers"), "Authorization", path)

		other := do(t, "OPTIONS", s.url+path, "Origin: https://evil.example", "Access-Control-Request-Method: GET")
		assert.Equal(t, http.StatusForbidden, other.status, path)
		assert.Empty(t, other.header.Get("Access-Control-Allow-Origin"), path)
	}
	res := do(t, "GET", s.url+routeAuthAnonymous, "Origin: https://app.example.com")
	res.tokenBody(t)
	assert.Equal(t, "https://app.example.com", res.header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, do(t, "GET", s.url+routeAuthAnonymous, "Origin: https://evil.example").header.Get("Access-Control-Allow-Origin"))

	// Without -cors-origins there is no CORS on the token routes.
	plain := newTestServer(t, nil, "-anonymous")
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "OPTIONS", plain.url+routeAuthAnonymous, "Origin: https://app.example.com").status)
	assert.Empty(t, do(t, "GET", plain.url+routeAuthAnonymous, "Origin: https://app.example.com").header.Get("Access-Control-Allow-Origin"))
}

// findRecord returns the first record of a JSON log whose message contains
// msg, failing the test when there is none.
func findRecord(t testing.TB, log, msg string) logRecord {
	t.Helper()
	for _, r := range jsonRecords(t, log) {
		if m, _ := r["msg"].(string); strings.Contains(m, msg) {
			return r
		}
	}
	t.Fatalf("no log record %q in:\n%s", msg, log)
	return nil
}

// TestRunFailures checks the failures found after the logger is made: bad
// key ring files and key sets exit with status 2, a port in use with 1, and
// none of the messages holds a key. A file the server refuses is left byte
// for byte as it was.
func TestRunFailures(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	sameKID := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID(signing.key.KeyID()))
	sameKIDSecret := string(testkit.Must(sameKID.PublicOnly().MarshalPublic(jwks.FormatSecret)))

	dir := t.TempDir()
	writeKey := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	privateJWK := testkit.Must(signing.key.MarshalPrivate(jwks.FormatJWK))
	readable := writeKey("readable.key", privateJWK, 0o644)
	corrupt := writeKey("corrupt.key", []byte("{not json"), 0o600)
	public := writeKey("public.key", testkit.Must(signing.key.MarshalPublic(jwks.FormatJWK)), 0o600)
	empty := writeKey("empty.key", nil, 0o600)

	// A ring file cut short, as a crash of a careless writer would leave it.
	whole := filepath.Join(dir, "whole.json")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(t.Context(), []string{"keys", "stage", "-store", whole}, envOf(nil), &stdout, &stderr), "%s", stderr.String())
	ring := testkit.Must(os.ReadFile(whole))
	truncated := writeKey("truncated.json", ring[:len(ring)/2], 0o600)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
		file string // left as it was
	}{
		{"key file readable by others", nil, []string{"-key-file", readable}, exitConfig, "may be read or written by others (mode 0644)", readable},
		{"corrupt key file", nil, []string{"-key-file", corrupt}, exitConfig, "key ring file " + corrupt + " is corrupt or truncated", corrupt},
		{"truncated key ring file", nil, []string{"-store", "file:" + truncated}, exitConfig, "key ring file " + truncated + " is corrupt or truncated", truncated},
		{"empty key file", nil, []string{"-key-file", empty}, exitConfig, "key ring file " + empty + " is empty (truncated?)", empty},
		{"public key in the key file", nil, []string{"-key-file", public}, exitConfig, "holds a public key", public},
		{"key file in a missing directory", nil, []string{"-key-file", filepath.Join(dir, "no", "such.key")}, exitConfig, "the directory " + filepath.Join(dir, "no") + " does not exist", ""},
		{"two keys with one kid", map[string]string{envPrivateKey: signing.secret, envPublicKey: sameKIDSecret}, nil,
			exitConfig, "POWERSYNC_PUBLIC_KEY: duplicate key ID", ""},
		{"port in use", map[string]string{envPrivateKey: signing.secret}, []string{"-listen", busy.Addr().String()},
			exitFailure, "listening on " + busy.Addr().String(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []byte
			if tt.file != "" {
				before = testkit.Must(os.ReadFile(tt.file))
			}
			var stderr testkit.LogBuffer
			code := run(context.Background(), append(tt.args, "-log-format", "json"), envOf(tt.env), io.Discard, &stderr)
			assert.Equal(t, tt.code, code)
			rec := findRecord(t, stderr.String(), tt.want)
			assert.Equal(t, "ERROR", rec["level"])
			assert.True(t, strings.HasPrefix(rec["msg"].(string), "powersync-auth: "), "%s", rec["msg"])
			requireNoSecrets(t, stderr.String(), append(signing.private, signing.secret)...)
			if tt.file != "" {
				assert.Equal(t, before, testkit.Must(os.ReadFile(tt.file)), "the file is left byte for byte as it was")
				assert.NoFileExists(t, tt.file+".tmp", "no stray files")
			}
		})
	}
}

// TestLogsHoldNoSecrets runs the command with every secret set, at debug
// level, through successes and refusals, and looks for the secrets, the
// tokens it issued and the credentials it was sent in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithSigningKeys(supabasetest.ES256))
	alice := sb.NewUser()
	signing := newSecretKey(t, jwks.RS256)
	retired := newSecretKey(t, jwks.ES256)
	env := map[string]string{
		envPrivateKey:   signing.secret,
		envPublicKey:    retired.secret, // a private key where a public one belongs: warned about, not shown
		envPowerSyncURL: testPowerSyncURL,
		envSupabaseURL:  sb.URL(),
		envAnonKey:      sb.AnonKey(),
		envJWTSecret:    sb.LegacySecret(),
	}
	r := startRun(t, env, "-anonymous")

	aliceToken := sb.Token(alice)
	hsToken := sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256))
	expired := sb.Token(alice, supabasetest.Expired())
	var issued []string
	issued = append(issued, do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+aliceToken).tokenBody(t).Token)
	issued = append(issued, do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+hsToken).tokenBody(t).Token)
	issued = append(issued, do(t, "GET", r.url+routeAuthAnonymous).tokenBody(t).Token)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+expired).status)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+sb.AnonKey()).status)
	assert.Equal(t, exitOK, r.stop())

	logs := r.logs.String()
	findRecord(t, logs, "request refused") // the refusals were logged, at least
	secrets := []string{signing.secret, retired.secret, sb.AnonKey(), sb.LegacySecret(), aliceToken, hsToken, expired}
	secrets = append(secrets, signing.private...)
	secrets = append(secrets, retired.private...)
	secrets = append(secrets, issued...)
	for _, tok := range append([]string{aliceToken, hsToken, expired}, issued...) {
		secrets = append(secrets, tok[strings.LastIndexByte(tok, '.')+1:]) // the signature alone
	}
	requireNoSecrets(t, logs, secrets...)

	start := findRecord(t, logs, "powersync-auth listening")
	assert.Equal(t, signing.key.KeyID(), start["kid"])
	assert.Equal(t, "RS256", start["alg"])
	assert.Equal(t, testPowerSyncURL, start["audience"])
	assert.Equal(t, []any{"GET " + routeJWKS, "GET " + routeJWKSFunction, "GET|POST " + routeAuth, "GET|POST " + routeAuthAnonymous, "GET " + routeHealth, "GET " + routeReady}, start["routes"])
	assert.Equal(t, []any{signing.key.KeyID(), retired.key.KeyID()}, start["published_kids"])
	findRecord(t, logs, "POWERSYNC_PUBLIC_KEY holds the private key")
	findRecord(t, logs, "shutting down")
	findRecord(t, logs, "stopped")
}
