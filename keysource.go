package jwks

import "context"

// A KeySource finds the public key that verifies a token, by the token's key
// ID. LookupKey returns an error wrapping [ErrUnknownKey] when no key has that
// ID, and one wrapping [ErrUnavailable] when the keys cannot be read at the
// moment (the token may be fine; try again later).
//
// Implementations are safe for concurrent use, and the keys they return are
// public and immutable. [*KeySet] (the process's own keys) is one; a JWKS
// fetched from a URL is another (see package
// github.com/powersync-jwks/jwks/remote).
type KeySource interface {
	LookupKey(ctx context.Context, kid string) (*Key, error)
}

var _ KeySource = (*KeySet)(nil)
