package jwks_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestOneErrorMapping: the token handler and the middleware answer an error
// alike (status, JSON body, challenge), as both go through one mapping.
func TestOneErrorMapping(t *testing.T) {
	f := newTokenFixture(t)
	for _, tc := range []struct {
		err       error
		status    int
		code      string
		challenge string
	}{
		{jwks.ErrNoToken, 401, "invalid_request", "Bearer"},
		{jwks.ErrExpired, 401, "invalid_token", `Bearer error="invalid_token", error_description="the token has expired"`},
		{jwks.ErrAudience, 401, "invalid_token", `Bearer error="invalid_token", error_description="the token is not meant for this service"`},
		{jwks.ErrSignature, 401, "invalid_token", `Bearer error="invalid_token", error_description="the token's signature is invalid"`},
		{jwks.ErrMalformed, 401, "invalid_token", `Bearer error="invalid_token", error_description="the token is malformed"`},
		{jwks.ErrUnavailable, 503, "temporarily_unavailable", ""},
		{jwks.ErrForbidden, 403, "access_denied", ""},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			err := fmt.Errorf("%w: details that stay in the server", tc.err)
			token := newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(*http.Request) (*jwks.Identity, error) {
				return nil, err
			}), jwks.WithLogger(testkit.Discard))
			mw := f.verifier.Middleware(jwks.WithTokenFrom(func(*http.Request) (string, error) { return "", err }))(
				http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("next called") }))

			var descriptions []string
			for _, h := range []http.Handler{token, mw} {
				rec := serve(h, http.MethodGet, "/", nil, "")
				descriptions = append(descriptions, requireJSONError(t, rec.Result(), tc.status, tc.code))
				assert.Equal(t, tc.challenge, rec.Header().Get("WWW-Authenticate"))
				assert.NotContains(t, rec.Body.String(), "details")
			}
			assert.Equal(t, descriptions[0], descriptions[1])
		})
	}

	// An error the mapping does not know is the server's: 500, whatever
	// its text says.
	rec := serve(newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(*http.Request) (*jwks.Identity, error) {
		return nil, errors.New("jwks: token expired (not the sentinel)")
	}), jwks.WithLogger(testkit.Discard)), http.MethodGet, "/", nil, "")
	requireJSONError(t, rec.Result(), http.StatusInternalServerError, "server_error")
}
