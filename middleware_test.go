package jwks_test

import (
	"context"
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
)

// unavailableKeys is a key source that cannot be read, as a remote JWKS
// whose server is down.
type unavailableKeys struct{}

func (unavailableKeys) LookupKey(context.Context, string) (*jwks.Key, error) {
	return nil, fmt.Errorf("%w: connection refused", jwks.ErrUnavailable)
}

func TestMiddleware(t *testing.T) {
	key := testKey(t, jwks.ES256)
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
			tc.verifier.Middleware(protected).ServeHTTP(rec, req)
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
	_, err = v.Verify(context.Background(), forge(t, testKey(t, jwks.ES256), nil, goodClaims(nil)))
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
