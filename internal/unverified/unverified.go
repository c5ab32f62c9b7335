// Package unverified is the one bridge between package jwks and a package of
// this module that needs a check jwks does not export: the claims of a token
// whose signature another party vouches for.
//
// The Supabase authenticator accepts a legacy HS256 access token without the
// project's secret only once Supabase's /auth/v1/user has vouched for it.
// Before it spends that call it checks everything else about the token (its
// form, "exp", "aud", "iss", "sub") exactly as a jwks.Verifier would.
// Exporting that from jwks would hand every user a way to accept unsigned
// tokens, so jwks sets Verify in an init function instead, and only packages
// of this module can reach it.
package unverified

import "context"

// Verify checks raw as verifier (a *jwks.Verifier) does in Verify, except
// that when the token's "alg" is unsignedAlg (and unsignedAlg is not empty)
// its header and claims are checked but not its signature. It returns the
// token's "alg" (empty when the token is too malformed to have one) and, when
// every check passes, its claims (a *jwks.Claims). The error wraps the same
// jwks errors as Verifier.Verify.
//
// Package jwks sets it in an init function; it is never nil once jwks is
// linked in, which every importer of this package is.
var Verify func(ctx context.Context, verifier any, raw, unsignedAlg string) (alg string, claims any, err error)
