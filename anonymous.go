package jwks

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
)

// AnonymousSubject is the subject of anonymous tokens by default: every
// anonymous client shares it, and so syncs the same buckets.
const AnonymousSubject = "anonymous"

// AnonymousOption configures [Anonymous].
type AnonymousOption func(*anonymous)

// WithUniqueSubjects gives every anonymous token a subject of its own,
// "anon-" followed by a random UUID, instead of [AnonymousSubject]: each
// client then syncs its own buckets, and sync rules can still tell anonymous
// users apart by the prefix.
func WithUniqueSubjects() AnonymousOption {
	return func(a *anonymous) { a.subject, a.shared = uniqueSubject, false }
}

// WithSubjectFunc makes subjects with f, which may read the request (a
// device ID header, say). An error from f is handled as an
// [Authenticator]'s error. A nil f keeps the default.
func WithSubjectFunc(f func(r *http.Request) (string, error)) AnonymousOption {
	return func(a *anonymous) {
		if f != nil {
			a.subject, a.shared = f, false
		}
	}
}

// WithAnonymousParameters adds PowerSync parameters to every anonymous token,
// such as {"anonymous": true}, which sync rules read as
// token_parameters.anonymous.
func WithAnonymousParameters(params map[string]any) AnonymousOption {
	params = maps.Clone(params)
	return func(a *anonymous) { a.params = params }
}

type anonymous struct {
	subject func(*http.Request) (string, error)
	params  map[string]any
	shared  bool // every caller has the subject AnonymousSubject
}

// Anonymous returns an [Authenticator] that lets anyone have a token, with
// the subject [AnonymousSubject] ("anonymous") by default. Mount it behind a
// rate limit (see [WithRateLimit]): every request is granted a token.
//
// With the shared subject (neither [WithUniqueSubjects] nor
// [WithSubjectFunc]), the token handler signs one token per second and
// signing key and hands it to every caller of that second, unless the
// Signer adds a "jti" ([WithTokenID]). That is safe: the tokens it would
// otherwise sign in that second are byte for byte the same (the same "sub",
// "iat", "exp", "aud", "iss", parameters and "kid") except for the
// signature, and an ECDSA, RSA or Ed25519 signature of the same claims
// carries nothing about the caller who asked for it. Each token is handed
// out only in the second it was issued (its "iat" is never more than a
// second old), with its real "expires_at", and never once a new signing key
// has replaced the key that signed it. At a second boundary one request
// signs and the others of that second wait for it, each only as long as its
// own request lasts. Unique subjects, a subject function and "jti" make a
// token per request.
func Anonymous(opts ...AnonymousOption) Authenticator {
	a := &anonymous{subject: func(*http.Request) (string, error) { return AnonymousSubject, nil }, shared: true}
	for _, opt := range opts {
		opt(a)
	}
	return a
}

func (a *anonymous) Authenticate(r *http.Request) (*Identity, error) {
	sub, err := a.subject(r)
	if err != nil {
		return nil, err
	}
	return &Identity{Subject: sub, Parameters: maps.Clone(a.params)}, nil
}

// identityShared implements sharedAuthenticator: with the default subject,
// every Identity is {AnonymousSubject, the same parameters}.
func (a *anonymous) identityShared() bool { return a.shared }

// uniqueSubject returns "anon-" and a random (version 4) UUID.
func uniqueSubject(*http.Request) (string, error) {
	var u [16]byte
	rand.Read(u[:])         // never fails (crypto/rand panics rather)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(u[:])
	return "anon-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
