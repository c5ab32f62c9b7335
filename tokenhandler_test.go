package jwks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/ratelimit"
)

// tokenFixture is a key set with its Signer and Verifier.
type tokenFixture struct {
	ks       *jwks.KeySet
	signer   *jwks.Signer
	verifier *jwks.Verifier
}

func newTokenFixture(t testing.TB) *tokenFixture {
	t.Helper()
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, testAudience)
	require.NoError(t, err)
	v, err := jwks.NewVerifier(ks, testAudience)
	require.NoError(t, err)
	return &tokenFixture{ks: ks, signer: s, verifier: v}
}

// requireToken checks a successful token response and returns the verified
// claims of its token.
func (f *tokenFixture) requireToken(t testing.TB, rec *httptest.ResponseRecorder) (testkit.TokenBody, *jwks.Claims) {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	var body testkit.TokenBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	claims, err := f.verifier.Verify(context.Background(), body.Token)
	require.NoError(t, err)
	assert.Equal(t, claims.Subject, body.UserID)
	exp, err := time.Parse(time.RFC3339, body.ExpiresAt)
	require.NoError(t, err)
	assert.True(t, exp.Equal(claims.ExpiresAt))
	return body, claims
}

func serve(h http.Handler, method, target string, header http.Header, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestTokenHandlerAnonymous(t *testing.T) {
	f := newTokenFixture(t)
	h := newTokenHandler(t, f.signer, jwks.Anonymous())
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			body, claims := f.requireToken(t, serve(h, method, "/powersync-auth-anonymous", nil, ""))
			assert.Equal(t, "anonymous", claims.Subject, "the original example's subject")
			assert.Equal(t, testAudience, body.PowerSyncURL)
			assert.Equal(t, []string{testAudience}, claims.Audience)
			assert.WithinDuration(t, time.Now().Add(5*time.Minute), claims.ExpiresAt, 5*time.Second)
		})
	}

	t.Run("the original example's fields only", func(t *testing.T) {
		rec := serve(h, http.MethodGet, "/", nil, "")
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
		assert.ElementsMatch(t, []string{"token", "powersync_url", "expires_at", "user_id"}, keysOf(m))
	})

	t.Run("unique subjects", func(t *testing.T) {
		h := newTokenHandler(t, f.signer, jwks.Anonymous(jwks.WithUniqueSubjects()))
		uuid := regexp.MustCompile(`^anon-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		_, a := f.requireToken(t, serve(h, http.MethodGet, "/", nil, ""))
		_, b := f.requireToken(t, serve(h, http.MethodGet, "/", nil, ""))
		assert.Regexp(t, uuid, a.Subject)
		assert.Regexp(t, uuid, b.Subject)
		assert.NotEqual(t, a.Subject, b.Subject)
	})

	t.Run("subject function and parameters", func(t *testing.T) {
		h := newTokenHandler(t, f.signer, jwks.Anonymous(
			jwks.WithSubjectFunc(func(r *http.Request) (string, error) {
				if id := r.Header.Get("X-Device-ID"); id != "" {
					return "device-" + id, nil
				}
				return "", fmt.Errorf("%w: no device ID", jwks.ErrUnauthenticated)
			}),
			jwks.WithAnonymousParameters(map[string]any{"anonymous": true})))
		_, c := f.requireToken(t, serve(h, http.MethodGet, "/", http.Header{"X-Device-Id": {"d1"}}, ""))
		assert.Equal(t, "device-d1", c.Subject)
		assert.Equal(t, map[string]any{"anonymous": true}, c.Parameters)
		rec := serve(h, http.MethodGet, "/", nil, "")
		requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	})

	t.Run("powersync_url", func(t *testing.T) {
		h := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithPowerSyncURL("https://sync.example//"))
		body, _ := f.requireToken(t, serve(h, http.MethodGet, "/", nil, ""))
		assert.Equal(t, "https://sync.example", body.PowerSyncURL, "never a trailing slash")

		s, err := jwks.NewSigner(f.ks, testAudience+"/")
		require.NoError(t, err)
		rec := serve(newTokenHandler(t, s, jwks.Anonymous()), http.MethodGet, "/", nil, "")
		require.Equal(t, http.StatusOK, rec.Code)
		var b testkit.TokenBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
		assert.Equal(t, testAudience, b.PowerSyncURL)
	})
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTokenHandlerStatusCodes(t *testing.T) {
	f := newTokenFixture(t)
	const secret = "Bearer eyJsecret.credential.value"
	fail := func(err error) jwks.Authenticator {
		return jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) { return nil, err })
	}
	identity := func(id *jwks.Identity) jwks.Authenticator {
		return jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) { return id, nil })
	}

	for _, tc := range []struct {
		name      string
		auth      jwks.Authenticator
		method    string
		status    int
		code      string
		challenge string
		logLevel  string
		logText   string
	}{
		{"not signed in", fail(fmt.Errorf("%w: no session", jwks.ErrUnauthenticated)), "GET", 401, "invalid_token", `Bearer error="invalid_token"`, "INFO", "no session"},
		{"expired credentials", fail(fmt.Errorf("%w: %w", jwks.ErrUnauthenticated, jwks.ErrExpired)), "GET", 401, "invalid_token", `Bearer error="invalid_token", error_description="the token has expired"`, "INFO", "token expired"},
		{"signed in, not allowed", fail(fmt.Errorf("%w: anonymous Supabase user", jwks.ErrForbidden)), "POST", 403, "access_denied", "", "INFO", "anonymous Supabase user"},
		{"upstream down", fail(fmt.Errorf("%w: dial tcp 10.0.0.1:443: i/o timeout", jwks.ErrUnavailable)), "GET", 503, "temporarily_unavailable", "", "WARN", "i/o timeout"},
		{"unexpected error", fail(errors.New("pq: relation users does not exist")), "GET", 500, "server_error", "", "ERROR", "relation users"},
		{"no identity", identity(nil), "GET", 500, "server_error", "", "ERROR", "no subject"},
		{"empty subject", identity(&jwks.Identity{}), "GET", 500, "server_error", "", "ERROR", "no subject"},
		{"reserved claim", identity(&jwks.Identity{Subject: "u", Claims: map[string]any{"exp": 1}}), "GET", 500, "server_error", "", "ERROR", `claim \"exp\"`},
		{"PUT", jwks.Anonymous(), "PUT", 405, "method_not_allowed", "", "", ""},
		{"DELETE", jwks.Anonymous(), "DELETE", 405, "method_not_allowed", "", "", ""},
		{"OPTIONS without CORS", jwks.Anonymous(), "OPTIONS", 405, "method_not_allowed", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.LogBuffer
			h := newTokenHandler(t, f.signer, tc.auth, jwks.WithLogger(logs.Logger()))
			rec := serve(h, tc.method, "/", http.Header{"Authorization": {secret}}, "")
			res := rec.Result()
			body := rec.Body.String()
			requireJSONError(t, res, tc.status, tc.code)
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			if tc.challenge != "" {
				assert.True(t, strings.HasPrefix(res.Header.Get("WWW-Authenticate"), tc.challenge), res.Header.Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, res.Header.Get("WWW-Authenticate"))
			}
			if tc.status == 405 {
				assert.Equal(t, "GET, POST", res.Header.Get("Allow"))
			}
			if tc.status == 503 {
				assert.Equal(t, "5", res.Header.Get("Retry-After"))
			}
			if tc.logLevel != "" {
				assert.Contains(t, logs.String(), "level="+tc.logLevel)
				assert.Contains(t, logs.String(), tc.logText, "the reason is logged")
				assert.Contains(t, logs.String(), "status="+strconv.Itoa(tc.status))
			}
			if tc.logText != "" {
				assert.NotContains(t, body, tc.logText, "the reason stays in the log")
			}
			assert.NotContains(t, body, "eyJsecret")
			assert.NotContains(t, logs.String(), "eyJsecret", "credentials are never logged")
		})
	}
}

func TestTokenHandlerIdentity(t *testing.T) {
	f := newTokenFixture(t)
	h := newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		return &jwks.Identity{
			Subject:    "user-9",
			Parameters: map[string]any{"org": "acme"},
			Claims:     map[string]any{"role": "admin"},
		}, nil
	}))
	body, c := f.requireToken(t, serve(h, http.MethodPost, "/", nil, `{"ignored":true}`))
	assert.Equal(t, "user-9", body.UserID)
	assert.Equal(t, map[string]any{"org": "acme"}, c.Parameters)
	assert.Equal(t, map[string]any{"role": "admin"}, c.Extra())
}

func TestTokenHandlerBodyLimit(t *testing.T) {
	f := newTokenFixture(t)
	reading := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		var form struct{ Device string }
		if err := json.NewDecoder(r.Body).Decode(&form); err != nil {
			return nil, fmt.Errorf("%w: reading the body: %w", jwks.ErrUnauthenticated, err)
		}
		return &jwks.Identity{Subject: form.Device}, nil
	})
	h := newTokenHandler(t, f.signer, reading, jwks.WithMaxBodyBytes(64))

	_, c := f.requireToken(t, serve(h, http.MethodPost, "/", nil, `{"Device":"d-1"}`))
	assert.Equal(t, "d-1", c.Subject)

	big := `{"Device":"` + strings.Repeat("x", 100) + `"}`
	rec := serve(h, http.MethodPost, "/", nil, big)
	requireJSONError(t, rec.Result(), http.StatusRequestEntityTooLarge, "invalid_request")

	// A body of unknown length is cut off as the authenticator reads it.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	requireJSONError(t, rec.Result(), http.StatusRequestEntityTooLarge, "invalid_request")
}

func TestTokenHandlerCORS(t *testing.T) {
	f := newTokenFixture(t)
	const app = "https://app.example"
	for _, tc := range []struct {
		name       string
		origins    []string
		method     string
		origin     string
		status     int
		allowed    string
		allowedHdr bool
	}{
		{"preflight from an allowed origin", []string{app}, "OPTIONS", app, 204, app, true},
		{"preflight from another origin", []string{app}, "OPTIONS", "https://evil.example", 403, "", false},
		{"preflight with any origin allowed", []string{"*"}, "OPTIONS", "https://any.example", 204, "*", true},
		{"GET from an allowed origin", []string{"https://other.example", app}, "GET", app, 200, app, false},
		{"GET from another origin", []string{app}, "GET", "https://evil.example", 200, "", false},
		{"GET without Origin", []string{app}, "GET", "", 200, "", false},
		{"GET with any origin allowed", []string{"*"}, "GET", app, 200, "*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithCORS(tc.origins...))
			header := http.Header{"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}
			if tc.origin != "" {
				header["Origin"] = []string{tc.origin}
			}
			rec := serve(h, tc.method, "/", header, "")
			require.Equal(t, tc.status, rec.Code)
			assert.Equal(t, tc.allowed, rec.Header().Get("Access-Control-Allow-Origin"))
			assert.Contains(t, rec.Header().Values("Vary"), "Origin")
			if tc.allowedHdr {
				assert.Equal(t, "GET, POST", rec.Header().Get("Access-Control-Allow-Methods"))
				assert.Contains(t, rec.Header().Get("Access-Control-Allow-Headers"), "Authorization")
				assert.Empty(t, rec.Body.String())
			}
		})
	}
	rec := serve(newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithCORS(app)), http.MethodPut, "/", nil, "")
	assert.Equal(t, "GET, POST, OPTIONS", rec.Header().Get("Allow"))
	rec = serve(newTokenHandler(t, f.signer, jwks.Anonymous()), http.MethodGet, "/", http.Header{"Origin": {app}}, "")
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "no CORS unless configured")
}

func TestTokenHandlerRateLimit(t *testing.T) {
	f := newTokenFixture(t)
	limiter, err := ratelimit.New(time.Hour, 2)
	require.NoError(t, err)
	calls := 0
	counting := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		calls++
		return &jwks.Identity{Subject: "anonymous"}, nil
	})
	h := newTokenHandler(t, f.signer, counting, jwks.WithRateLimit(limiter))
	from := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	f.requireToken(t, from("192.0.2.1:1000"))
	f.requireToken(t, from("192.0.2.1:1001"))
	rec := from("192.0.2.1:1002")
	requireJSONError(t, rec.Result(), http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 3600, retry, 2, "an hour until the bucket of one token an hour has one again")
	assert.Equal(t, 2, calls, "a limited request never reaches the authenticator")

	f.requireToken(t, from("192.0.2.2:1000"))
	f.requireToken(t, from("[2001:db8::1]:1"))
	f.requireToken(t, from("[2001:db8::2]:1"))
	requireJSONError(t, from("[2001:db8::3]:1").Result(), http.StatusTooManyRequests, "rate_limited")
	f.requireToken(t, from("[2001:db8:0:100::1]:1"))
}

// TestNewTokenHandlerRefusesBadConfiguration: what no request could be
// served with is an error of the constructor, never a panic.
func TestNewTokenHandlerRefusesBadConfiguration(t *testing.T) {
	f := newTokenFixture(t)
	notURL, err := jwks.NewSigner(f.ks, "powersync-dev") // a self-hosted audience need not be a URL
	require.NoError(t, err)
	var nilLimiter jwks.RateLimiter
	for _, tc := range []struct {
		name   string
		signer *jwks.Signer
		auth   jwks.Authenticator
		opts   []jwks.TokenHandlerOption
		want   string
	}{
		{"nil signer", nil, jwks.Anonymous(), nil, "nil Signer"},
		{"nil authenticator", f.signer, nil, nil, "nil Authenticator"},
		{"nil AuthenticatorFunc", f.signer, jwks.AuthenticatorFunc(nil), nil, "nil Authenticator"},
		{"empty powersync_url", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("")}, "empty powersync_url"},
		{"slash powersync_url", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("/")}, "empty powersync_url"},
		{"powersync_url without scheme", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("sync.example")}, "not an http or https URL"},
		{"powersync_url of another scheme", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("ftp://sync.example")}, "not an http or https URL"},
		{"powersync_url with a query", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("https://sync.example?x=1")}, "not an http or https URL"},
		{"powersync_url with a user", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithPowerSyncURL("https://u:p@sync.example")}, "not an http or https URL"},
		{"audience that is not a URL", notURL, jwks.Anonymous(), nil, "WithPowerSyncURL"},
		{"zero body limit", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithMaxBodyBytes(0)}, "body limit"},
		{"negative body limit", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithMaxBodyBytes(-1)}, "body limit"},
		{"origin with a slash", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithCORS("https://app.example/")}, "CORS origin"},
		{"origin with a path", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithCORS("https://app.example/app")}, "CORS origin"},
		{"origin with a query", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithCORS("https://app.example?")}, "CORS origin"},
		{"origin without scheme", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithCORS("app.example")}, "CORS origin"},
		{"empty origin", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithCORS("https://ok.example", "")}, "CORS origin"},
		{"nil rate limiter", f.signer, jwks.Anonymous(), []jwks.TokenHandlerOption{jwks.WithRateLimit(nilLimiter)}, "WithRateLimit(nil)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler
			var err error
			require.NotPanics(t, func() { h, err = jwks.NewTokenHandler(tc.signer, tc.auth, tc.opts...) })
			require.ErrorContains(t, err, tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			assert.Nil(t, h)
		})
	}

	// The same audience is fine with an instance URL of its own, and a URL
	// with a path (behind a reverse proxy) is one.
	for _, u := range []string{"http://localhost:8080", "https://sync.example/powersync/"} {
		_, err = jwks.NewTokenHandler(notURL, jwks.Anonymous(), jwks.WithPowerSyncURL(u))
		require.NoError(t, err, u)
	}
}

// TestCORSOriginsThatCannotMatch: a browser's Origin header is
// scheme://host[:port], compared byte for byte, so an origin configured with
// a wildcard or a fragment would never match; NewTokenHandler refuses it.
func TestCORSOriginsThatCannotMatch(t *testing.T) {
	f := newTokenFixture(t)
	for _, o := range []string{
		"https://*.example.com",
		"http://*.localhost:3000",
		"https://app.*.example",
		"https://*",
		"*.example.com",
		"https://app*.example",
		"https://app.example:*",
		"https://app.example#",
		"https://app.example#top",
		"https://app.example?#",
		"https://app.example#?",
	} {
		t.Run(o, func(t *testing.T) {
			h, err := jwks.NewTokenHandler(f.signer, jwks.Anonymous(), jwks.WithCORS("https://ok.example", o))
			require.ErrorContains(t, err, "CORS origin")
			assert.Nil(t, h)
		})
	}
	// Nor one of another spelling than the browser's own, which is in lower
	// case, ASCII, and without the default port: the message gives it.
	for o, want := range map[string]string{
		"https://App.example":       `"https://app.example"`,
		"HTTPS://app.example":       `"https://app.example"`,
		"https://app.example:443":   `"https://app.example"`,
		"http://localhost:80":       `"http://localhost"`,
		"https://bücher.example":    "punycode",
		"https://app.example:8443 ": "",
		"https://app example":       "a space or a control character",
		"https://app.example:":      `"https://app.example"`,
		"https://app.example:08443": `"https://app.example:8443"`,
		"https://app.example:0443":  `"https://app.example"`,
	} {
		t.Run(o, func(t *testing.T) {
			h, err := jwks.NewTokenHandler(f.signer, jwks.Anonymous(), jwks.WithCORS(o))
			require.ErrorContains(t, err, "CORS origin")
			assert.ErrorContains(t, err, want)
			assert.Nil(t, h)
		})
	}
	for _, o := range []string{"*", "https://app.example", "http://localhost:3000", "https://[::1]:8443", "https://xn--bcher-kva.example",
		"https://app.example:80", "http://app.example:443"} {
		_, err := jwks.NewTokenHandler(f.signer, jwks.Anonymous(), jwks.WithCORS(o))
		require.NoError(t, err, o)
	}
}

// stubLimiter is a RateLimiter of the caller's: it refuses every request
// after the first n.
type stubLimiter struct {
	n     int
	wait  time.Duration
	asked int
}

func (l *stubLimiter) Allow(*http.Request) (bool, time.Duration) {
	l.asked++
	return l.asked <= l.n, l.wait
}

func TestTokenHandlerTakesAnyRateLimiter(t *testing.T) {
	f := newTokenFixture(t)
	l := &stubLimiter{n: 1, wait: 1500 * time.Millisecond}
	calls := 0
	h := newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		calls++
		return &jwks.Identity{Subject: "u"}, nil
	}), jwks.WithRateLimit(l))
	f.requireToken(t, serve(h, http.MethodGet, "/", nil, ""))
	rec := serve(h, http.MethodGet, "/", nil, "")
	requireJSONError(t, rec.Result(), http.StatusTooManyRequests, "rate_limited")
	assert.Equal(t, "2", rec.Header().Get("Retry-After"), "whole seconds, rounded up")
	assert.Equal(t, 1, calls, "a limited request never reaches the authenticator")
	assert.Equal(t, 2, l.asked)
}

func TestRateLimiterRefusals(t *testing.T) {
	_, err := ratelimit.New(0, 1)
	require.ErrorContains(t, err, "interval")
	_, err = ratelimit.New(time.Second, 0)
	require.ErrorContains(t, err, "burst")
}
