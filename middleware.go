package jwks

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Errors of the Authorization header, kept apart from token errors: the
// first means "not signed in", the second "signed in wrongly".
var (
	errNoCredentials  = errors.New("jwks: no Authorization header")
	errBadCredentials = errors.New("jwks: malformed Authorization header")
)

// bearerToken returns the credential of the request's Authorization header:
// exactly one header, of the form "<scheme> <token68>" with a single space,
// where scheme is Bearer (any case) or, when allowToken is set, PowerSync's
// Token. Anything else — two headers, two credentials, stray whitespace,
// characters outside token68 — is refused.
func bearerToken(r *http.Request, allowToken bool) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", errNoCredentials
	case 1:
	default:
		return "", errBadCredentials
	}
	scheme, cred, ok := strings.Cut(values[0], " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || allowToken && strings.EqualFold(scheme, "Token")) || !isToken68(cred) {
		return "", errBadCredentials
	}
	return cred, nil
}

// isToken68 reports whether s is a token68 of RFC 9110 section 11.2, which
// covers JWTs and Supabase's sb_… API keys.
func isToken68(s string) bool {
	if s == "" || len(s) > MaxTokenSize {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

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
		raw, err := bearerToken(r, true)
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
	case errors.Is(err, errNoCredentials):
		return problemNoCredentials
	case errors.Is(err, errBadCredentials):
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
