package jwks

import "net/http"

// An Identity is who a token is for, as an [Authenticator] established it.
// Each Authenticate call returns an Identity of its own, maps included, that
// the caller may change.
type Identity struct {
	// Subject is the token's "sub": the user ID that sync rules see.
	Subject string
	// Parameters become the token's "parameters" claim, which sync rules
	// read as token_parameters.<name>. Nil for none.
	Parameters map[string]any
	// Claims are extra top-level claims, read in sync rules with
	// request.jwt(). They cannot replace the claims the Signer sets.
	Claims map[string]any
}

// An Authenticator establishes who is asking for a token, for
// [NewTokenHandler]. It returns an error wrapping [ErrUnauthenticated] when
// the caller is not signed in or its credentials are refused (the token
// handler answers 401), [ErrForbidden] when it is signed in but may not have
// a token (403), [ErrUnavailable] when an upstream it depends on cannot be
// reached in time (503); any other error is answered with a generic 500,
// and so is a panic, which the token handler recovers and logs (with the
// Authorization header taken out of its text) rather than drop the
// connection; a panic with [http.ErrAbortHandler] still aborts the
// response. Errors are logged by the token handler: they must not contain
// credentials.
//
// An Authenticator may read the request's body, which the token handler
// limits in size (see [WithMaxBodyBytes]). It must be safe for concurrent
// use.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// AuthenticatorFunc adapts a function to the [Authenticator] interface: the
// way to put an existing session check behind [NewTokenHandler].
type AuthenticatorFunc func(r *http.Request) (*Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Identity, error) { return f(r) }
