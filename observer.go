package jwks

import (
	"errors"
	"net/http"
	"time"
)

// An EventKind says what a handler did with a request (see [Event]).
type EventKind string

// The kinds of [Event].
const (
	EventTokenIssued  EventKind = "token_issued"  // the token handler answered 200 with a token
	EventTokenRefused EventKind = "token_refused" // the token handler answered an error
	EventJWKSServed   EventKind = "jwks_served"   // the JWKS handler answered (200, 304, or 405)
)

// An Event reports one request that the token handler ([WithObserver]) or
// the JWKS handler ([WithJWKSObserver]) answered, for the host to count
// and time in the metrics system it uses: the package imports none. Every
// field is a value of a small, fixed set, fit for a metric label, except
// KeyID and Duration.
//
// Reason is "" for an issued token and a 200 or 304 JWKS, and otherwise one
// of these codes, never an error's text:
//
//	method_not_allowed  405: a method the handler does not answer
//	too_large           413: a request body over the limit
//	rate_limited        429: refused by the rate limiter (WithRateLimit)
//	no_credentials      401: no Authorization header
//	bad_header          401: an Authorization header that is not "Bearer <one token>"
//	expired             401: the caller's token has expired (ErrExpired)
//	not_yet_valid       401: ErrNotYetValid
//	lifetime            401: ErrLifetime
//	missing_claim       401: ErrMissingClaim
//	audience            401: ErrAudience
//	issuer              401: ErrIssuer
//	unknown_key         401: ErrUnknownKey
//	signature           401: ErrSignature
//	malformed           401: ErrMalformed (an API key rather than a user's token, say)
//	unauthenticated     401: any other ErrUnauthenticated of the Authenticator
//	forbidden           403: ErrForbidden
//	unavailable         503: ErrUnavailable (Supabase or a remote JWKS cannot be reached)
//	internal            500: anything else (the log has the error)
//
// The token reasons are those of the caller's credentials as the
// [Authenticator] checked them: for Supabase users, their Supabase access
// token.
type Event struct {
	Kind     EventKind
	Route    string        // the ServeMux pattern that routed the request (Request.Pattern); "" under a router that sets none. Never the path, whose values are unbounded
	Status   int           // the HTTP status answered
	Reason   string        // why the request was refused, a fixed code (above); "" when it was not
	KeyID    string        // the kid of the key that signed an issued token; "" otherwise
	Duration time.Duration // from the start of ServeHTTP to the end of the answer
}

// WithObserver has f told of every request the token handler answers (an
// [Event]: the token issued, or why it was refused), except the CORS
// preflights it answers when [WithCORS] is on. f is called on the
// request's goroutine after the answer is written: it must be quick and
// safe for concurrent use. Off (nil) by default; then the handler measures
// nothing and allocates nothing for it.
func WithObserver(f func(Event)) TokenHandlerOption {
	return func(h *tokenHandler) { h.observe = f }
}

// WithJWKSObserver has f told of every request the JWKS handler answers
// (an [Event] of kind [EventJWKSServed], with status 200, 304 or 405), on
// the request's goroutine after the answer is written: f must be quick and
// safe for concurrent use. The handler still allocates nothing per
// request. Off (nil) by default.
func WithJWKSObserver(f func(Event)) JWKSHandlerOption {
	return func(h *jwksHandler) { h.observe = f }
}

// ServeHTTP answers as described at [NewTokenHandler], and reports the
// answer to the observer when there is one.
func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.observe == nil || (r.Method == http.MethodOptions && len(h.origins) > 0) {
		h.serve(w, r)
		return
	}
	start := time.Now()
	o := &observedWriter{ResponseWriter: w}
	h.serve(o, r)
	ev := Event{Kind: EventTokenIssued, Route: r.Pattern, Status: o.status, KeyID: o.kid}
	if o.status != http.StatusOK {
		ev.Kind, ev.Reason, ev.KeyID = EventTokenRefused, o.reason, ""
		if ev.Reason == "" {
			ev.Reason = statusReason(o.status)
		}
	}
	ev.Duration = time.Since(start)
	h.observe(ev)
}

// observedWriter records what the token handler answers, for its observer.
type observedWriter struct {
	http.ResponseWriter
	status int    // the status written; 0 before
	reason string // set by refuse
	kid    string // set when a token is issued
}

func (w *observedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *observedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets [http.ResponseController] reach the server's writer.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observeRefusal records, when w is observed, why a request got p for err.
func observeRefusal(w http.ResponseWriter, p problem, err error) {
	if o, ok := w.(*observedWriter); ok {
		o.reason = refusalReason(p, err)
	}
}

// observeToken records, when w is observed, the key that signed the token
// it hands out.
func observeToken(w http.ResponseWriter, kid string) {
	if o, ok := w.(*observedWriter); ok {
		o.kid = kid
	}
}

// tokenReasons names the token errors of tokenProblems.
var tokenReasons = map[error]string{
	ErrExpired:      "expired",
	ErrNotYetValid:  "not_yet_valid",
	ErrLifetime:     "lifetime",
	ErrMissingClaim: "missing_claim",
	ErrAudience:     "audience",
	ErrIssuer:       "issuer",
	ErrUnknownKey:   "unknown_key",
	ErrSignature:    "signature",
	ErrMalformed:    "malformed",
}

// refusalReason is the Reason of an Event for a request answered with p
// (which problemFor chose for err, or the handler itself): by p's status,
// and for a refused token by the first error of tokenProblems that err
// wraps, as problemFor picks it.
func refusalReason(p problem, err error) string {
	switch {
	case p == problemNoCredentials:
		return "no_credentials"
	case p == problemBadHeader:
		return "bad_header"
	case p.status == http.StatusUnauthorized:
		for _, tp := range tokenProblems {
			if errors.Is(err, tp.err) {
				return tokenReasons[tp.err]
			}
		}
		return "unauthenticated"
	}
	return statusReason(p.status)
}

// statusReason is the Reason of a refusal with the given status, when
// nothing more is known.
func statusReason(status int) string {
	switch status {
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal"
}
