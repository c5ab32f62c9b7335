package jwks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// unavailableKeys is a key source that cannot be read, as a remote JWKS
// whose server is down.
type unavailableKeys struct{}

func (unavailableKeys) LookupKey(context.Context, string) (*jwks.Key, error) {
	return nil, fmt.Errorf("%w: connection refused", jwks.ErrUnavailable)
}

func TestMiddleware(t *testing.T) {
	key := testkit.Key(t, jwks.ES256)
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	v, err := jwks.NewVerifier(ks, testAudience)
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, testAudience)
	require.NoError(t, err)
	tok, err := s.Sign(context.Background(), "user-7")
	require.NoError(t, err)
	expired, err := jwks.NewSigner(ks, testAudience, jwks.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	require.NoError(t, err)
	old, err := expired.Sign(context.Background(), "user-7")
	require.NoError(t, err)
	down, err := jwks.NewVerifier(unavailableKeys{}, testAudience)
	require.NoError(t, err)

	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := jwks.ClaimsFromContext(r.Context())
		require.True(t, ok)
		fmt.Fprint(w, "hello "+c.Subject)
	})

	for _, tc := range []struct {
		name      string
		verifier  *jwks.Verifier
		header    []string
		status    int
		code      string
		challenge string
	}{
		{"Bearer", v, []string{"Bearer " + tok.Raw}, http.StatusOK, "", ""},
		{"lower-case bearer", v, []string{"bearer " + tok.Raw}, http.StatusOK, "", ""},
		{"PowerSync's Token scheme", v, []string{"Token " + tok.Raw}, http.StatusOK, "", ""},
		{"no header", v, nil, http.StatusUnauthorized, "invalid_request", "Bearer"},
		{"empty header", v, []string{""}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"scheme only", v, []string{"Bearer"}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"scheme and space", v, []string{"Bearer "}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"Basic", v, []string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"two spaces", v, []string{"Bearer  " + tok.Raw}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"trailing space", v, []string{"Bearer " + tok.Raw + " "}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"two tokens", v, []string{"Bearer " + tok.Raw + " " + tok.Raw}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"tab", v, []string{"Bearer\t" + tok.Raw}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"two headers", v, []string{"Bearer " + tok.Raw, "Bearer " + tok.Raw}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"not token68", v, []string{"Bearer a=b"}, http.StatusUnauthorized, "invalid_request", `Bearer error="invalid_request"`},
		{"expired token", v, []string{"Bearer " + old.Raw}, http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token", error_description="the token has expired"`},
		{"not a JWT", v, []string{"Bearer sb_publishable_abc123"}, http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token", error_description="the token is malformed"`},
		{"keys unavailable", down, []string{"Bearer " + tok.Raw}, http.StatusServiceUnavailable, "temporarily_unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/data", nil)
			req.Header["Authorization"] = tc.header
			rec := httptest.NewRecorder()
			tc.verifier.Middleware()(protected).ServeHTTP(rec, req)
			res := rec.Result()
			if tc.status == http.StatusOK {
				require.Equal(t, http.StatusOK, res.StatusCode)
				body, _ := io.ReadAll(res.Body)
				assert.Equal(t, "hello user-7", string(body))
				return
			}
			body := rec.Body.String()
			requireJSONError(t, res, tc.status, tc.code)
			assert.True(t, strings.HasPrefix(res.Header.Get("WWW-Authenticate"), tc.challenge), res.Header.Get("WWW-Authenticate"))
			if tc.challenge == "" {
				assert.Empty(t, res.Header.Get("WWW-Authenticate"))
			}
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			for _, secret := range []string{tok.Raw, old.Raw, strings.Split(tok.Raw, ".")[2]} {
				assert.NotContains(t, body, secret)
				assert.NotContains(t, res.Header.Get("WWW-Authenticate"), secret)
			}
			assert.NotContains(t, body, "connection refused", "upstream details stay in the server")
		})
	}
}

// brokenKeys is a key source that breaks its contract: no key, no error.
type brokenKeys struct{}

func (brokenKeys) LookupKey(context.Context, string) (*jwks.Key, error) { return nil, nil }

func TestVerifierSurvivesABrokenKeySource(t *testing.T) {
	v, err := jwks.NewVerifier(brokenKeys{}, testAudience, jwks.WithClock(fixedClock(verifyNow)))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), forge(t, testkit.Key(t, jwks.ES256), nil, goodClaims(nil)))
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
}

func TestClaimsContext(t *testing.T) {
	_, ok := jwks.ClaimsFromContext(context.Background())
	assert.False(t, ok)
	c := &jwks.Claims{Subject: "s"}
	got, ok := jwks.ClaimsFromContext(jwks.ContextWithClaims(context.Background(), c))
	assert.True(t, ok)
	assert.Same(t, c, got)
	_, ok = jwks.ClaimsFromContext(jwks.ContextWithClaims(context.Background(), nil))
	assert.False(t, ok)
	require.ErrorContains(t, c.Decode(&map[string]any{}), "not decoded from a token")
}

// middlewareFixture is a Verifier with a good and an expired token of its
// key set.
type middlewareFixture struct {
	verifier   *jwks.Verifier
	good, old  string
	nextCalled bool
}

func newMiddlewareFixture(t *testing.T) *middlewareFixture {
	t.Helper()
	f := newTokenFixture(t)
	tok, err := f.signer.Sign(context.Background(), "user-7")
	require.NoError(t, err)
	expired, err := jwks.NewSigner(f.ks, testAudience, jwks.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	require.NoError(t, err)
	old, err := expired.Sign(context.Background(), "user-7")
	require.NoError(t, err)
	return &middlewareFixture{verifier: f.verifier, good: tok.Raw, old: old.Raw}
}

// next is the protected handler: it answers "hello <sub>", or "hello
// stranger" without claims.
func (f *middlewareFixture) next() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.nextCalled = true
		if c, ok := jwks.ClaimsFromContext(r.Context()); ok {
			fmt.Fprint(w, "hello "+c.Subject)
			return
		}
		fmt.Fprint(w, "hello stranger")
	})
}

func (f *middlewareFixture) serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	f.nextCalled = false
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// requestWith returns a request with the given Authorization headers, or
// none when there are none.
func requestWith(authorization ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/data", nil)
	if len(authorization) > 0 {
		req.Header["Authorization"] = authorization
	}
	return req
}

// ctxKeys is a key source that records the context it was asked with.
type ctxKeys struct {
	jwks.KeySource
	got context.Context
}

func (k *ctxKeys) LookupKey(ctx context.Context, kid string) (*jwks.Key, error) {
	k.got = ctx
	return k.KeySource.LookupKey(ctx, kid)
}

func TestVerifyRequest(t *testing.T) {
	f := newMiddlewareFixture(t)
	for _, tc := range []struct {
		name   string
		header []string
		want   error
		not    error
	}{
		{"Bearer", []string{"Bearer " + f.good}, nil, nil},
		{"PowerSync's Token scheme", []string{"Token " + f.good}, nil, nil},
		{"no header", nil, jwks.ErrNoToken, jwks.ErrMalformed},
		{"empty header", []string{""}, jwks.ErrMalformed, jwks.ErrNoToken},
		{"Basic", []string{"Basic dXNlcjpwYXNz"}, jwks.ErrMalformed, jwks.ErrNoToken},
		{"two headers", []string{"Bearer " + f.good, "Bearer " + f.good}, jwks.ErrMalformed, jwks.ErrNoToken},
		{"stray space", []string{"Bearer  " + f.good}, jwks.ErrMalformed, jwks.ErrNoToken},
		{"over MaxTokenSize", []string{"Bearer " + strings.Repeat("a", jwks.MaxTokenSize+1)}, jwks.ErrMalformed, jwks.ErrNoToken},
		{"expired", []string{"Bearer " + f.old}, jwks.ErrExpired, jwks.ErrNoToken},
		{"not a JWT", []string{"Bearer sb_publishable_abc123"}, jwks.ErrMalformed, jwks.ErrNoToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.verifier.VerifyRequest(requestWith(tc.header...))
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "user-7", c.Subject)
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, tc.not)
			assert.Nil(t, c)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			assert.NotContains(t, err.Error(), f.old)
		})
	}

	t.Run("the request's context reaches the key source", func(t *testing.T) {
		ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
		require.NoError(t, err)
		keys := &ctxKeys{KeySource: ks}
		v, err := jwks.NewVerifier(keys, testAudience)
		require.NoError(t, err)
		type ctxMark struct{}
		req := requestWith("Bearer " + f.good)
		req = req.WithContext(context.WithValue(req.Context(), ctxMark{}, "this request"))
		_, err = v.VerifyRequest(req)
		require.NoError(t, err)
		require.NotNil(t, keys.got)
		assert.Equal(t, "this request", keys.got.Value(ctxMark{}))
	})
}

func TestMiddlewareCredentialsOptional(t *testing.T) {
	f := newMiddlewareFixture(t)
	h := f.verifier.Middleware(jwks.WithCredentialsOptional())(f.next())

	rec := f.serve(h, requestWith())
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "hello stranger", rec.Body.String(), "no credentials: next, without claims")

	rec = f.serve(h, requestWith("Token "+f.good))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "hello user-7", rec.Body.String())

	for _, tc := range []struct{ name, header, code string }{
		{"malformed header", "Bearer  " + f.good, "invalid_request"},
		{"Basic", "Basic dXNlcjpwYXNz", "invalid_request"},
		{"expired token", "Bearer " + f.old, "invalid_token"},
		{"not a JWT", "Bearer sb_publishable_abc123", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.serve(h, requestWith(tc.header))
			requireJSONError(t, rec.Result(), http.StatusUnauthorized, tc.code)
			assert.False(t, f.nextCalled, "bad credentials are still refused")
		})
	}

	// Without the option, no credentials is a 401 with a bare challenge.
	rec = f.serve(f.verifier.Middleware()(f.next()), requestWith())
	requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_request")
	assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
	assert.False(t, f.nextCalled)
}

func TestMiddlewareTokenFrom(t *testing.T) {
	f := newMiddlewareFixture(t)
	fromCookie := jwks.WithTokenFrom(func(r *http.Request) (string, error) {
		c, err := r.Cookie("token")
		switch {
		case errors.Is(err, http.ErrNoCookie):
			return "", fmt.Errorf("%w: no cookie", jwks.ErrNoToken)
		case err != nil:
			return "", err
		case c.Value == "broken":
			return "", errors.New("cookie: cannot decrypt")
		case c.Value == "store down":
			return "", fmt.Errorf("%w: session store unreachable", jwks.ErrUnavailable)
		case c.Value == "empty":
			return "", nil
		}
		return c.Value, nil
	})
	withCookie := func(value string) *http.Request {
		req := requestWith("Bearer " + f.good) // ignored: the cookie is the source
		if value != "" {
			req.AddCookie(&http.Cookie{Name: "token", Value: value})
		}
		return req
	}
	h := f.verifier.Middleware(fromCookie)(f.next())
	optional := f.verifier.Middleware(fromCookie, jwks.WithCredentialsOptional())(f.next())

	rec := f.serve(h, withCookie(f.good))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "hello user-7", rec.Body.String())

	for _, tc := range []struct {
		name     string
		cookie   string
		status   int
		code     string
		optional string // the body behind WithCredentialsOptional, or "" for the same refusal
	}{
		{"no cookie", "", 401, "invalid_request", "hello stranger"},
		{"empty token", "empty", 401, "invalid_request", "hello stranger"},
		{"expired", f.old, 401, "invalid_token", ""},
		{"source error", "broken", 401, "invalid_token", ""},
		{"source unavailable", "store down", 503, "temporarily_unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.serve(h, withCookie(tc.cookie))
			requireJSONError(t, rec.Result(), tc.status, tc.code)
			assert.False(t, f.nextCalled)

			rec = f.serve(optional, withCookie(tc.cookie))
			if tc.optional != "" {
				require.Equal(t, http.StatusOK, rec.Code)
				assert.Equal(t, tc.optional, rec.Body.String())
				return
			}
			requireJSONError(t, rec.Result(), tc.status, tc.code)
			assert.False(t, f.nextCalled)
		})
	}

	// A nil function reads the Authorization header.
	rec = f.serve(f.verifier.Middleware(jwks.WithTokenFrom(nil))(f.next()), requestWith("Bearer "+f.good))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "hello user-7", rec.Body.String())
}

func TestMiddlewareErrorHandler(t *testing.T) {
	f := newMiddlewareFixture(t)
	var got error
	h := f.verifier.Middleware(jwks.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}))(f.next())

	for _, tc := range []struct {
		name   string
		header []string
		want   error
	}{
		{"no header", nil, jwks.ErrNoToken},
		{"malformed header", []string{"Bearer"}, jwks.ErrMalformed},
		{"expired", []string{"Bearer " + f.old}, jwks.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			rec := f.serve(h, requestWith(tc.header...))
			assert.Equal(t, http.StatusTeapot, rec.Code)
			require.ErrorIs(t, got, tc.want)
			assert.False(t, f.nextCalled)
		})
	}

	got = nil
	rec := f.serve(h, requestWith("Bearer "+f.good))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.NoError(t, got, "an accepted request never reaches the error handler")

	// A nil handler keeps the JSON default.
	rec = f.serve(f.verifier.Middleware(jwks.WithErrorHandler(nil))(f.next()), requestWith("Bearer "+f.old))
	requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	assert.Equal(t, `Bearer error="invalid_token", error_description="the token has expired"`, rec.Header().Get("WWW-Authenticate"))
}
