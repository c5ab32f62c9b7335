package jwks

import "errors"

// Errors about keys. The errors of [ParseKey], [GenerateKey],
// [NewExternalKey], [NewKeySet] and the [Key] encoders wrap one of these when
// the key or its options are at fault (a failure of the system's randomness
// does not), so callers can tell the reasons apart with [errors.Is]. The messages name the
// reason and never contain key material.
var (
	// ErrKeyFormat: the input is not a key in any accepted encoding: empty,
	// corrupt base64, JSON or PEM, or a PEM block of an unknown type.
	ErrKeyFormat = errors.New("jwks: unreadable key")

	// ErrUnsupportedAlgorithm: the algorithm is not one of RS256, RS384,
	// RS512, ES256, ES384, ES512 or EdDSA (for example PS256, ES256K, HS256 or
	// none), or the key type cannot sign (oct, X25519), or the key is a
	// multi-prime RSA key (more than two primes: a JWK with "oth", a
	// multi-prime PKCS#1 or PKCS#8 key), which PowerSync's jose refuses.
	ErrUnsupportedAlgorithm = errors.New("jwks: unsupported algorithm or key type")

	// ErrAlgorithmMismatch: the key does not fit its algorithm, such as a
	// P-384 key labelled ES256 or an RSA key labelled EdDSA.
	ErrAlgorithmMismatch = errors.New("jwks: key does not match its algorithm")

	// ErrWeakKey: an RSA modulus shorter than 2048 bits.
	ErrWeakKey = errors.New("jwks: key too weak")

	// ErrInvalidKey: the key decodes but is not a valid key: an EC point
	// that is not on its curve, a private half that does not match its public
	// half (such as RSA primes that are not the modulus's), a malformed
	// modulus, an RSA modulus over 8192 bits or a private value longer than
	// the modulus, an RSA public exponent that is even, under 3 or over
	// 2^31 − 1, an invalid key ID; or key options that contradict each
	// other.
	ErrInvalidKey = errors.New("jwks: invalid key")

	// ErrPublicKey: a public key was given where a signing key is required.
	ErrPublicKey = errors.New("jwks: public key where a private key is required")

	// ErrDuplicateKeyID: two different keys of one key set share a key ID.
	ErrDuplicateKeyID = errors.New("jwks: duplicate key ID")
)

// Errors about tokens. [Verifier.Verify] returns an error wrapping one of
// these (and sometimes two, such as a missing "aud", which is both
// [ErrMissingClaim] and [ErrAudience]); test them with [errors.Is]. The
// middleware and the token handler answer each with a fixed text, never the
// error's own message.
//
// Where a message of this package or its subpackages names text a client
// or an upstream controls (a "kid", an "alg", an "aud", an "iss", a key's
// member, Supabase's error code), that text is quoted and escaped as
// [strconv.Quote] does, and cut to its first 32 bytes on a UTF-8 boundary,
// with "…" after the closing quote when cut: control characters and invalid
// UTF-8 cannot forge a log line, and a long value cannot flood one.
var (
	// ErrNoToken: the request carries no token at all (no Authorization
	// header), as opposed to a malformed one. [Verifier.VerifyRequest]
	// returns it, a [WithTokenFrom] function returns it to say so, and a
	// middleware with [WithCredentialsOptional] lets such a request through.
	ErrNoToken = errors.New("jwks: no token")

	// ErrMalformed: not a compact JWS of three strict, unpadded base64url
	// parts (no padding, line breaks or non-zero unused bits) holding JSON
	// objects, too large, or a claim of the wrong type.
	ErrMalformed = errors.New("jwks: malformed token")

	// ErrUnknownKey: the token has no "kid", or no key of the key source has
	// that key ID.
	ErrUnknownKey = errors.New("jwks: unknown signing key")

	// ErrSignature: the signature does not verify, or the token's "alg" is
	// not allowed, or not the algorithm of the key it names.
	ErrSignature = errors.New("jwks: invalid signature")

	// ErrExpired: "exp" is in the past, beyond the leeway.
	ErrExpired = errors.New("jwks: token expired")

	// ErrNotYetValid: "nbf" or "iat" is in the future, beyond the leeway.
	ErrNotYetValid = errors.New("jwks: token not yet valid")

	// ErrAudience: no "aud" value is an accepted audience.
	ErrAudience = errors.New("jwks: audience not accepted")

	// ErrIssuer: "iss" is not the required issuer.
	ErrIssuer = errors.New("jwks: issuer not accepted")

	// ErrLifetime: "exp" − "iat" is longer than the maximum lifetime.
	ErrLifetime = errors.New("jwks: token lifetime too long")

	// ErrMissingClaim: a required claim ("sub", "iat", "exp", "aud") is absent.
	ErrMissingClaim = errors.New("jwks: missing claim")

	// ErrUnavailable: something the check depends on could not be reached
	// in time: a remote JWKS that cannot be fetched and has no usable copy,
	// or Supabase's /auth/v1/user. The credentials may be fine; try again
	// later. The token handler and the middleware answer 503 with
	// Retry-After.
	ErrUnavailable = errors.New("jwks: upstream unavailable")
)

// Errors of authenticators (see [Authenticator]). The token handler answers
// 401 and 403 for them.
var (
	// ErrUnauthenticated: the caller is not signed in, or its credentials
	// were refused.
	ErrUnauthenticated = errors.New("jwks: not signed in")

	// ErrForbidden: the caller is signed in but may not have a token, such
	// as an anonymous Supabase user when a policy refuses them.
	ErrForbidden = errors.New("jwks: not allowed")
)
