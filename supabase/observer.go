package supabase

import "time"

// Why an [Authenticator] calls Supabase's /auth/v1/user (see
// [UserCallEvent]).
const (
	// CallStrict: strict mode ([WithStrict]) asks about every token.
	CallStrict = "strict"
	// CallHS256: an HS256 token that could not be verified locally (no
	// [WithLegacySecret]): Supabase vouches for it.
	CallHS256 = "hs256"
)

// A UserCallEvent reports one call to Supabase's /auth/v1/user to the
// function given to [WithObserver].
type UserCallEvent struct {
	Cause    string        // CallStrict or CallHS256
	Status   int           // the HTTP status of the answer; 0 when none came (a transport error, the timeout)
	Duration time.Duration // from sending the request to reading the answer
	Err      error         // why the user was not confirmed, nil when it was: for logs and traces, not a metric label
}

// WithObserver has f told of every call to Supabase's /auth/v1/user (a
// [UserCallEvent]), in strict mode and for HS256 tokens that Supabase must
// vouch for: a host counts them by status and times them, into the metrics
// system it uses; the package imports none. f is called on the request's
// goroutine once the call is over: it must be quick and safe for concurrent
// use. Off (nil) by default; then nothing is measured.
//
// The fetches of the project's JWKS are observed with
// WithJWKSOptions(remote.WithObserver(…)) (see [remote.WithObserver]).
func WithObserver(f func(UserCallEvent)) Option {
	return func(c *config) { c.observe = f }
}

// observeCall tells the observer about a call to /auth/v1/user that began
// at start; status is 0 when no answer came, err is the call's verdict.
func (a *Authenticator) observeCall(start time.Time, status int, err error) {
	cause := CallHS256
	if a.cfg.strict {
		cause = CallStrict
	}
	a.cfg.observe(UserCallEvent{Cause: cause, Status: status, Duration: time.Since(start), Err: err})
}
