package jwks

import (
	"context"
	"errors"
	"net/http"

	"github.com/powersync-jwks/jwks/internal/bearer"
)

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx that carries c, as the Middleware
// does. It is useful to test handlers that read ClaimsFromContext.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims the Middleware verified for this
// request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware protects next with the Verifier: it reads the token from
// "Authorization: Bearer <jwt>" (or PowerSync's "Token <jwt>"), verifies it,
// and calls next with the claims in the request's context (see
// ClaimsFromContext). Otherwise it answers 401 with a JSON error and a
// WWW-Authenticate challenge (RFC 6750), or 503 when the keys cannot be
// fetched; next is not called.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := bearer.Token(r, true, MaxTokenSize)
		if err == nil {
			var c *Claims
			if c, err = v.Verify(r.Context(), raw); err == nil {
				next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
				return
			}
		}
		writeAuthError(w, err)
	})
}

// authProblem is how an authentication error is shown to a client: fixed
// texts per kind of error, never the error's own message, which may name a
// key ID, a claim value or an upstream answer.
type authProblem struct {
	status      int
	code        string
	description string
}

var (
	problemNoCredentials = authProblem{http.StatusUnauthorized, "invalid_request", "sign in first: no Authorization header"}
	problemBadHeader     = authProblem{http.StatusUnauthorized, "invalid_request", "the Authorization header must be Bearer and one token"}
	problemUnavailable   = authProblem{http.StatusServiceUnavailable, "temporarily_unavailable", "the keys to check the token cannot be fetched; try again later"}
	problemInternal      = authProblem{http.StatusInternalServerError, "server_error", "internal error"}
)

// tokenProblems maps the token errors to what the client is told.
var tokenProblems = []struct {
	err         error
	description string
}{
	{ErrExpired, "the token has expired"},
	{ErrNotYetValid, "the token is not valid yet"},
	{ErrLifetime, "the token's lifetime is too long"},
	{ErrMissingClaim, "the token lacks a required claim"},
	{ErrAudience, "the token is not meant for this service"},
	{ErrIssuer, "the token's issuer is not accepted"},
	{ErrUnknownKey, "the token's signing key is unknown"},
	{ErrSignature, "the token's signature is invalid"},
	{ErrMalformed, "the token is malformed"},
}

// problemFor classifies an authentication error.
func problemFor(err error) authProblem {
	switch {
	case errors.Is(err, bearer.ErrNoCredentials):
		return problemNoCredentials
	case errors.Is(err, bearer.ErrBadCredentials):
		return problemBadHeader
	case errors.Is(err, ErrUnavailable):
		return problemUnavailable
	}
	for _, p := range tokenProblems {
		if errors.Is(err, p.err) {
			return authProblem{http.StatusUnauthorized, "invalid_token", p.description}
		}
	}
	return problemInternal
}

// writeAuthError answers a request whose credentials were refused.
func writeAuthError(w http.ResponseWriter, err error) {
	writeProblem(w, problemFor(err))
}

// writeProblem writes the JSON error of p, with the RFC 6750 challenge of a
// 401 (a bare "Bearer" when no credentials came, the error otherwise), and a
// short Retry-After on a 503.
func writeProblem(w http.ResponseWriter, p authProblem) {
	if p.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if p.status == http.StatusUnauthorized {
		challenge := "Bearer"
		if p != problemNoCredentials {
			challenge = `Bearer error="` + p.code + `", error_description="` + p.description + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeError(w, p.status, p.code, p.description)
}
