package jwks

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/powersync-jwks/jwks/internal/bearer"
)

// The one place that turns an error into an HTTP answer, for the token
// handler and the middleware alike: a status, a JSON body in the OAuth 2.0
// shape (RFC 6749 section 5.2) that clients already parse, and the RFC 6750
// challenge of a 401.

// Header values shared by every response. net/http only reads them; they
// are assigned to the header map directly so that serving the JWKS allocates
// nothing. Each has len == cap, so an append by a middleware copies.
var (
	headerJSON        = []string{"application/json"}
	headerNoSniff     = []string{"nosniff"}
	headerNoStore     = []string{"no-store"}
	headerNoCache     = []string{"no-cache"}
	headerContentType = "Content-Type"
)

// A problem is what a client is told about a refused request: fixed texts
// per kind of error, never the error's own message, which may name a key
// ID, a claim value or an upstream answer.
type problem struct {
	status      int
	code        string // the OAuth error code
	description string
}

var (
	problemNoCredentials = problem{http.StatusUnauthorized, "invalid_request", "sign in first: no Authorization header"}
	problemBadHeader     = problem{http.StatusUnauthorized, "invalid_request", "the Authorization header must be Bearer and one token"}
	problemRefused       = problem{http.StatusUnauthorized, "invalid_token", "the credentials were refused"}
	problemForbidden     = problem{http.StatusForbidden, "access_denied", "this account may not sync"}
	problemTooLarge      = problem{http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large"}
	problemRateLimited   = problem{http.StatusTooManyRequests, "rate_limited", "too many token requests; retry later"}
	problemUnavailable   = problem{http.StatusServiceUnavailable, "temporarily_unavailable", "the keys to check the token cannot be fetched; try again later"}
	problemBusy          = problem{http.StatusServiceUnavailable, "temporarily_unavailable", "the server is busy; try again later"}
	problemInternal      = problem{http.StatusInternalServerError, "server_error", "internal error"}
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

// problemFor classifies the error of a refused request, the first match
// winning: a body over the limit (413); [ErrForbidden] (403); no
// credentials ([ErrNoToken], 401 with a bare challenge); a malformed
// Authorization header (401); [ErrUnavailable] (503); a token error (401,
// told which); [ErrUnauthenticated] (401); anything else (500).
func problemFor(err error) problem {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return problemTooLarge
	case errors.Is(err, ErrForbidden):
		return problemForbidden
	case errors.Is(err, ErrNoToken), errors.Is(err, bearer.ErrNoCredentials):
		return problemNoCredentials
	case errors.Is(err, bearer.ErrBadCredentials):
		return problemBadHeader
	case errors.Is(err, ErrUnavailable):
		return problemUnavailable
	}
	for _, p := range tokenProblems {
		if errors.Is(err, p.err) {
			return problem{http.StatusUnauthorized, "invalid_token", p.description}
		}
	}
	if errors.Is(err, ErrUnauthenticated) {
		return problemRefused
	}
	return problemInternal
}

// writeAuthError answers a request whose credentials were refused for err:
// what the middleware answers unless [WithErrorHandler] says otherwise.
func writeAuthError(w http.ResponseWriter, _ *http.Request, err error) {
	writeProblem(w, problemFor(err))
}

// writeProblem writes the JSON error of p, with the RFC 6750 challenge of a
// 401 (a bare "Bearer" when no credentials came, the error otherwise), and a
// short Retry-After on a 503.
func writeProblem(w http.ResponseWriter, p problem) {
	switch p.status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case http.StatusUnauthorized:
		challenge := "Bearer"
		if p != problemNoCredentials {
			challenge = `Bearer error="` + p.code + `", error_description="` + p.description + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeError(w, p.status, p.code, p.description)
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// writeError writes a JSON error response, not to be cached or sniffed.
// code and description are fixed texts of this package: never a token, a
// key or an upstream message.
func writeError(w http.ResponseWriter, status int, code, description string) {
	hdr := w.Header()
	hdr[headerContentType] = headerJSON
	hdr["Cache-Control"] = headerNoStore
	hdr["X-Content-Type-Options"] = headerNoSniff
	delete(hdr, "Content-Length")
	delete(hdr, "Etag")
	body, _ := json.Marshal(errorBody{Error: code, Description: description})
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away; nothing to do
}
