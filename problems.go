package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// A ProblemError is one reason a token is refused, as [Verifier.Problems]
// reports it: the part of the token at fault, and the error Verify would
// return for it.
type ProblemError struct {
	// Part is what is at fault: "token" for its form as a whole (not a
	// compact JWS, too large, a header that does not decode or has a "crit"
	// member), "alg" or "kid" of the header, "signature" (its encoding, the
	// key's algorithm, or the signature itself), "claims" for a claims part
	// that does not decode, or the name of a claim: "sub", "iat", "exp" (an
	// expiry, or a lifetime too long), "nbf", "aud", "iss", "jti",
	// "parameters", or another claim of the wrong type.
	Part string
	Err  error // wraps the token errors of the package, as Verify's error would
}

// Error returns the text of e.Err.
func (e *ProblemError) Error() string { return e.Err.Error() }

// Unwrap returns e.Err, so that errors.Is sees the token errors.
func (e *ProblemError) Unwrap() error { return e.Err }

// Problems returns every reason [Verifier.Verify] would refuse raw, where
// Verify returns only the first. Each is a [*ProblemError], whose Err wraps
// the token errors of this package as Verify's would ([ErrMalformed],
// [ErrExpired], [ErrAudience], …), to tell apart with errors.Is. It returns
// nil exactly when Verify accepts raw, and every token error that Verify's
// error wraps is wrapped by one of the problems.
//
// The checks are Verify's own, each run on its own: the header ("alg",
// "kid"), each claim (a claim of the wrong type does not hide the others,
// and a lifetime over the maximum is reported beside an expiry), then the key
// lookup and the signature. Unlike Verify, Problems asks the key source for
// the key even when the claims fail, so a token for another audience can make
// a remote key source fetch: it is meant for diagnostics (the powersync-token
// command), not for every request. A token that is not three parts, or is
// over [MaxTokenSize], has that one problem.
func (v *Verifier) Problems(ctx context.Context, raw string) []error {
	t, err := splitToken(raw)
	if err != nil {
		problems := []error{&ProblemError{"token", err}}
		// The claims can still be read when only the header is at fault.
		if parts := strings.Split(raw, "."); len(raw) <= MaxTokenSize && len(parts) == 3 {
			problems = append(problems, v.claimProblems(parts[1])...)
		}
		return problems
	}

	var problems []error
	headerOK := true
	if err := v.checkAlgorithm(&t.header); err != nil {
		problems = append(problems, &ProblemError{"alg", err})
		headerOK = false
	}
	if err := checkHeaderKeyID(&t.header); err != nil {
		problems = append(problems, &ProblemError{"kid", err})
		headerOK = false
	}
	sig, err := decodeBase64URL(t.signature) // strict, as Verify
	sigOK := err == nil && len(sig) > 0
	if !sigOK {
		problems = append(problems, &ProblemError{"signature", fmt.Errorf("%w: signature is not base64url", ErrMalformed)})
	}
	problems = append(problems, v.claimProblems(t.claims)...)
	if headerOK && sigOK {
		if err := v.checkSignature(ctx, t, sig); err != nil {
			part := "signature"
			if errors.Is(err, ErrUnknownKey) {
				part = "kid"
			}
			problems = append(problems, &ProblemError{part, err})
		}
	}
	return problems
}

// claimProblems runs each check of [Verifier.checkClaims] on its own, over
// the claims segment seg, and returns every failure.
func (v *Verifier) claimProblems(seg string) []error {
	_, o, err := decodeSegment(seg)
	if err != nil {
		return []error{&ProblemError{"claims", fmt.Errorf("%w: claims: %v", ErrMalformed, err)}}
	}
	var problems []error

	// readClaims stops at the first claim of the wrong type: read each
	// member on its own, and the registered claims from those that pass. A
	// claim of the wrong type is that one problem, not also a missing claim.
	last := make(map[string]json.RawMessage, len(o)) // the last of a name wins
	for _, m := range o {
		last[string(m.name)] = m.value
	}
	usable := make(jsonObject, 0, len(last))
	bad := make(map[string]bool)
	for _, name := range slices.Sorted(maps.Keys(last)) {
		member := jsonMember{name: []byte(name), value: last[name]}
		if _, err := readClaims(jsonObject{member}); err != nil {
			problems = append(problems, &ProblemError{name, fmt.Errorf("%w: claims: %v", ErrMalformed, err)})
			bad[name] = true
			continue
		}
		usable = append(usable, member)
	}
	tc, err := readClaims(usable)
	if err != nil { // not expected: each member passed on its own
		return append(problems, &ProblemError{"claims", fmt.Errorf("%w: claims: %v", ErrMalformed, err)})
	}

	now := v.clock() // in whole seconds, as checkClaims
	check := func(claim string, f func() error) {
		if bad[claim] {
			return
		}
		if err := f(); err != nil {
			problems = append(problems, &ProblemError{claim, err})
		}
	}
	check("sub", func() error { _, err := verifySubject(tc.Sub); return err })
	check("iat", func() error { _, err := v.verifyIssuedAt(tc.Iat, now); return err })
	check("exp", func() error { _, err := v.verifyExpiresAt(tc.Exp, now); return err })
	// The lifetime is checked whatever the clock says of "iat" and "exp",
	// whenever both are in range.
	if tc.Iat != nil && tc.Exp != nil {
		iat, err1 := unixTime("iat", *tc.Iat)
		exp, err2 := unixTime("exp", *tc.Exp)
		if err1 == nil && err2 == nil {
			check("exp", func() error { return v.verifyLifetime(iat, exp) })
		}
	}
	check("nbf", func() error { _, err := v.verifyNotBefore(tc.Nbf, now); return err })
	check("aud", func() error { _, err := v.verifyAudience(tc.Aud); return err })
	check("iss", func() error { _, err := v.verifyIssuer(tc.Iss); return err })
	check("parameters", func() error { _, err := verifyParameters(tc.Parameters); return err })
	return problems
}
