package jwks

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/powersync-jwks/jwks/internal/bearer"
)

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx that carries c, as the
// [Verifier.Middleware] does. It is useful to test handlers that read
// [ClaimsFromContext].
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims the [Verifier.Middleware] verified
// for this request. It reports false when there are none, as for a request
// without credentials let through by [WithCredentialsOptional].
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// VerifyRequest verifies the token of r's Authorization header, with
// r.Context() for the key source: what [Verifier.Middleware] does, as one
// call for handlers and frameworks of the caller's own.
//
// The header is read strictly: exactly one, "Bearer <jwt>" (the scheme in
// any case) or PowerSync's "Token <jwt>", with a single space and no other
// whitespace. Without an Authorization header the error wraps [ErrNoToken];
// a header of another form is refused with an error wrapping
// [ErrMalformed]; otherwise the errors are those of [Verifier.Verify].
func (v *Verifier) VerifyRequest(r *http.Request) (*Claims, error) {
	raw, err := bearer.Token(r, true, MaxTokenSize)
	switch {
	case errors.Is(err, bearer.ErrNoCredentials):
		return nil, fmt.Errorf("%w: %w", ErrNoToken, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return v.Verify(r.Context(), raw)
}

// A MiddlewareOption configures [Verifier.Middleware].
type MiddlewareOption func(*middleware)

// WithCredentialsOptional lets requests without credentials through: next
// is called without claims ([ClaimsFromContext] reports false), and decides
// what an anonymous caller may see. Requests with credentials that do not
// verify are still refused.
func WithCredentialsOptional() MiddlewareOption {
	return func(m *middleware) { m.optional = true }
}

// WithTokenFrom reads the token with f instead of from the Authorization
// header (a cookie, say). f returns an error wrapping [ErrNoToken], or an
// empty token, when the request has no credentials. Any other error refuses
// the request, as a malformed token unless it wraps [ErrUnavailable]. A nil
// f reads the Authorization header, as [Verifier.VerifyRequest] does.
func WithTokenFrom(f func(r *http.Request) (string, error)) MiddlewareOption {
	return func(m *middleware) { m.tokenFrom = f }
}

// WithErrorHandler answers refused requests with f, which is given the
// error of [Verifier.VerifyRequest] (or of [WithTokenFrom]'s function, or
// of [Verifier.Verify]). A nil f keeps the default: a JSON error
// {"error", "error_description"} with a fixed text per kind of error,
// 401 with a WWW-Authenticate: Bearer challenge (RFC 6750), or 503 with
// Retry-After when the keys cannot be fetched.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return func(m *middleware) { m.onError = f }
}

type middleware struct {
	v         *Verifier
	optional  bool
	tokenFrom func(*http.Request) (string, error)
	onError   func(http.ResponseWriter, *http.Request, error)
}

// Middleware returns a middleware that protects a handler with the
// Verifier, in the shape routers such as chi take (r.Use(v.Middleware())):
// it verifies the request's token and calls the next handler with the
// claims in the request's context (see [ClaimsFromContext]). A request it
// refuses gets a 401 JSON error with a WWW-Authenticate challenge, or 503
// when the keys cannot be fetched (see [WithErrorHandler]), and never
// reaches the next handler.
//
// The token comes from "Authorization: Bearer <jwt>" or PowerSync's
// "Token <jwt>", read as [Verifier.VerifyRequest] does, unless
// [WithTokenFrom] says otherwise; a request without one is refused unless
// [WithCredentialsOptional] is given.
func (v *Verifier) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m := &middleware{v: v}
	for _, opt := range opts {
		opt(m)
	}
	if m.onError == nil {
		m.onError = writeAuthError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := m.verify(r)
			switch {
			case err == nil:
				next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
			case m.optional && errors.Is(err, ErrNoToken):
				next.ServeHTTP(w, r)
			default:
				m.onError(w, r, err)
			}
		})
	}
}

// verify reads the token of r and verifies it.
func (m *middleware) verify(r *http.Request) (*Claims, error) {
	if m.tokenFrom == nil {
		return m.v.VerifyRequest(r)
	}
	raw, err := m.tokenFrom(r)
	switch {
	case err == nil && raw == "":
		return nil, ErrNoToken
	case err == nil:
		return m.v.Verify(r.Context(), raw)
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrMalformed), errors.Is(err, ErrUnavailable):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}
