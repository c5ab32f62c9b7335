package jwks_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/bearer"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// events collects the events of an observer.
type events struct {
	mu  sync.Mutex
	got []jwks.Event // guarded by mu
}

func (e *events) observe(ev jwks.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

// take returns the events so far, their durations zeroed, and forgets
// them.
func (e *events) take(t testing.TB) []jwks.Event {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	for i := range out {
		assert.Positive(t, out[i].Duration)
		out[i].Duration = 0
	}
	return out
}

func TestTokenHandlerObserver(t *testing.T) {
	f := newTokenFixture(t)
	var got events
	limiter := &stubLimiter{n: 2, wait: time.Second} // the third request that reaches it is refused
	h := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithObserver(got.observe),
		jwks.WithRateLimit(limiter), jwks.WithCORS("https://app.example"), jwks.WithMaxBodyBytes(10))
	mux := http.NewServeMux()
	mux.Handle("/powersync-auth-anonymous", h)
	kid := f.ks.SigningKey().KeyID()

	rec := serve(mux, http.MethodGet, "/powersync-auth-anonymous", http.Header{"Origin": {"https://app.example"}}, "")
	f.requireToken(t, rec)
	assert.Equal(t, []jwks.Event{{Kind: jwks.EventTokenIssued, Route: "/powersync-auth-anonymous", Status: 200, KeyID: kid}}, got.take(t))

	// A preflight is not a token request.
	rec = serve(mux, http.MethodOptions, "/powersync-auth-anonymous",
		http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}}, "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, got.take(t))

	serve(mux, http.MethodPut, "/powersync-auth-anonymous", nil, "")
	serve(mux, http.MethodPost, "/powersync-auth-anonymous", nil, "more than ten bytes")
	serve(mux, http.MethodGet, "/powersync-auth-anonymous", nil, "")
	route := "/powersync-auth-anonymous"
	assert.Equal(t, []jwks.Event{
		{Kind: jwks.EventTokenRefused, Route: route, Status: 405, Reason: "method_not_allowed"},
		{Kind: jwks.EventTokenRefused, Route: route, Status: 413, Reason: "too_large"},
		{Kind: jwks.EventTokenRefused, Route: route, Status: 429, Reason: "rate_limited"},
	}, got.take(t))

	t.Run("without a ServeMux, no route", func(t *testing.T) {
		limiter.n = 100
		serve(h, http.MethodGet, "/anything/at/all", nil, "")
		evs := got.take(t)
		require.Len(t, evs, 1)
		assert.Empty(t, evs[0].Route, "never the path")
	})
}

func TestTokenHandlerObserverReasons(t *testing.T) {
	f := newTokenFixture(t)
	for _, tc := range []struct {
		err    error
		status int
		reason string
	}{
		{fmt.Errorf("x: %w: %w", jwks.ErrNoToken, jwks.ErrUnauthenticated), 401, "no_credentials"},
		{fmt.Errorf("x: %w", bearer.ErrNoCredentials), 401, "no_credentials"},
		{fmt.Errorf("x: %w: %w", bearer.ErrBadCredentials, jwks.ErrUnauthenticated), 401, "bad_header"},
		{fmt.Errorf("x: %w: %w", jwks.ErrExpired, jwks.ErrUnauthenticated), 401, "expired"},
		{fmt.Errorf("x: %w", jwks.ErrNotYetValid), 401, "not_yet_valid"},
		{fmt.Errorf("x: %w", jwks.ErrLifetime), 401, "lifetime"},
		{fmt.Errorf("x: %w: %w", jwks.ErrMissingClaim, jwks.ErrAudience), 401, "missing_claim"},
		{fmt.Errorf("x: %w", jwks.ErrAudience), 401, "audience"},
		{fmt.Errorf("x: %w", jwks.ErrIssuer), 401, "issuer"},
		{fmt.Errorf("x: %w", jwks.ErrUnknownKey), 401, "unknown_key"},
		{fmt.Errorf("x: %w", jwks.ErrSignature), 401, "signature"},
		{fmt.Errorf("x: %w: %w", jwks.ErrMalformed, jwks.ErrUnauthenticated), 401, "malformed"},
		{fmt.Errorf("x: %w", jwks.ErrUnauthenticated), 401, "unauthenticated"},
		{fmt.Errorf("x: %w", jwks.ErrForbidden), 403, "forbidden"},
		{fmt.Errorf("x: %w: %w", jwks.ErrUnknownKey, jwks.ErrUnavailable), 503, "unavailable"},
		{errors.New("the database is down"), 500, "internal"},
		{&http.MaxBytesError{Limit: 1}, 413, "too_large"},
	} {
		t.Run(tc.reason+" "+tc.err.Error(), func(t *testing.T) {
			var got events
			h := newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(*http.Request) (*jwks.Identity, error) {
				return nil, tc.err
			}), jwks.WithObserver(got.observe), jwks.WithLogger(testkit.Discard))
			rec := serve(h, http.MethodGet, "/", nil, "")
			require.Equal(t, tc.status, rec.Code)
			assert.Equal(t, []jwks.Event{{Kind: jwks.EventTokenRefused, Status: tc.status, Reason: tc.reason}}, got.take(t))
			assert.NotContains(t, tc.reason, " ")
		})
	}
}

func TestTokenHandlerObserverLeavesAnswersAlone(t *testing.T) {
	f := newTokenFixture(t)
	var got events
	plain := newTokenHandler(t, f.signer, jwks.Anonymous())
	observed := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithObserver(got.observe))
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions} {
		a := serve(plain, method, "/", nil, "")
		b := serve(observed, method, "/", nil, "")
		assert.Equal(t, a.Code, b.Code, method)
		assert.Equal(t, a.Header().Get("Content-Type"), b.Header().Get("Content-Type"), method)
		assert.Equal(t, a.Header().Get("Allow"), b.Header().Get("Allow"), method)
		if a.Code != http.StatusOK {
			assert.Equal(t, a.Body.String(), b.Body.String(), method)
		}
	}
	assert.Len(t, got.take(t), 4, "OPTIONS without CORS is a refused request (405)")
}

func TestJWKSHandlerObserver(t *testing.T) {
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	var got events
	h := newJWKSHandler(t, ks, jwks.WithJWKSObserver(got.observe))
	mux := http.NewServeMux()
	mux.Handle("/.well-known/jwks.json", h)

	serve(mux, http.MethodGet, "/.well-known/jwks.json", nil, "")
	serve(mux, http.MethodGet, "/.well-known/jwks.json", http.Header{"If-None-Match": {ks.ETag()}}, "")
	serve(mux, http.MethodHead, "/.well-known/jwks.json", nil, "")
	serve(mux, http.MethodPost, "/.well-known/jwks.json", nil, "")
	route := "/.well-known/jwks.json"
	assert.Equal(t, []jwks.Event{
		{Kind: jwks.EventJWKSServed, Route: route, Status: 200},
		{Kind: jwks.EventJWKSServed, Route: route, Status: 304},
		{Kind: jwks.EventJWKSServed, Route: route, Status: 200},
		{Kind: jwks.EventJWKSServed, Route: route, Status: 405, Reason: "method_not_allowed"},
	}, got.take(t))

	// Observed or not, serving the document allocates nothing.
	var served int
	counting := newJWKSHandler(t, ks, jwks.WithJWKSObserver(func(ev jwks.Event) { served += ev.Status }))
	w := &discardWriter{header: make(http.Header)}
	req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.header)
		counting.ServeHTTP(w, req)
	})
	assert.Zero(t, allocs)
	assert.Positive(t, served)
}

func TestObserverReasonsAreDocumented(t *testing.T) {
	// Every reason the tests above see is in the Event documentation's
	// list, and has the form of a metric label value.
	for _, r := range []string{"method_not_allowed", "too_large", "rate_limited", "no_credentials", "bad_header",
		"expired", "not_yet_valid", "lifetime", "missing_claim", "audience", "issuer", "unknown_key", "signature",
		"malformed", "unauthenticated", "forbidden", "unavailable", "internal"} {
		assert.Regexp(t, `^[a-z_]+$`, r)
		assert.True(t, strings.Contains(eventDoc(t), "//\t"+r+" "), "%s is not in the Event documentation", r)
	}
}

// eventDoc returns the source of observer.go, where Event is documented.
func eventDoc(t testing.TB) string {
	t.Helper()
	src, err := os.ReadFile("observer.go")
	require.NoError(t, err)
	return string(src)
}
