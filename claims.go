package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// Claims are the verified claims of a token, as [Verifier.Verify] returns
// them and [ClaimsFromContext] finds them.
type Claims struct {
	Subject    string         // "sub"
	Audience   []string       // "aud", always as a list
	Issuer     string         // "iss", empty when absent
	IssuedAt   time.Time      // "iat"
	ExpiresAt  time.Time      // "exp"
	NotBefore  time.Time      // "nbf", zero when absent
	ID         string         // "jti", empty when absent
	Parameters map[string]any // "parameters" (PowerSync's token_parameters), nil when absent
	KeyID      string         // the "kid" of the header, empty for an HS256 token without one

	raw     []byte     // the claims JSON
	members jsonObject // the claims by their exact names
}

// Decode decodes the whole claim set into v, a pointer to a struct or a map,
// with encoding/json: the way to read claims other than the registered ones.
// Mind that encoding/json matches struct fields without regard to case,
// where PowerSync does not: decode into a map, or use [Claims.Get], to see
// the exact names. Claims that did not come from a token have nothing to
// decode.
func (c *Claims) Decode(v any) error {
	if c.raw == nil {
		return errors.New("jwks: these claims were not decoded from a token")
	}
	return json.Unmarshal(c.raw, v)
}

// Get decodes the claim name, read by its exact name, into v, a pointer (as
// for [encoding/json.Unmarshal]). It reports whether the token has the claim;
// an absent claim leaves v as it is, and a claim of another type than v is an
// error. Unlike [Claims.Decode] into a struct, "Role" never fills "role".
func (c *Claims) Get(name string, v any) (bool, error) {
	if !c.members.has(name) {
		return false, nil
	}
	if err := c.members.get(name, v); err != nil {
		return true, fmt.Errorf("jwks: claim %w", err)
	}
	return true, nil
}

// Extra returns the claims other than "sub", "aud", "iss", "iat", "exp",
// "nbf", "jti" and "parameters", by their exact names, decoded anew on each
// call.
func (c *Claims) Extra() map[string]any {
	extra := make(map[string]any)
	for _, m := range c.members { // in order: the last of a name wins
		name := string(m.name)
		if slices.Contains(reservedClaims, name) {
			continue
		}
		var v any
		if json.Unmarshal(m.value, &v) == nil {
			extra[name] = v
		} else {
			delete(extra, name)
		}
	}
	return extra
}

// tokenClaims is the registered claims of a token. Pointers tell absent (or
// null) claims from zero ones.
type tokenClaims struct {
	Sub        *string
	Aud        json.RawMessage
	Iss        *string
	Iat        *float64
	Exp        *float64
	Nbf        *float64
	Jti        *string
	Parameters json.RawMessage
}

// readClaims reads the registered claims by their exact names; a claim of
// the wrong type is an error.
func readClaims(o jsonObject) (tokenClaims, error) {
	var tc tokenClaims
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"sub", &tc.Sub}, {"iss", &tc.Iss}, {"jti", &tc.Jti},
		{"iat", &tc.Iat}, {"exp", &tc.Exp}, {"nbf", &tc.Nbf},
	} {
		if err := o.get(m.name, m.dst); err != nil {
			return tc, err
		}
	}
	if tc.Nbf == nil && o.has("nbf") {
		// Optional, but a number when present: PowerSync refuses null.
		return tc, errors.New(`"nbf" is null`)
	}
	tc.Aud, tc.Parameters = o.value("aud"), o.value("parameters")
	return tc, nil
}

// decodeClaims decodes the claims of a token and checks them. It needs no
// key: [Verifier.verify] runs it before the key lookup.
func (v *Verifier) decodeClaims(t *splitJWS) (*Claims, error) {
	c := &Claims{}
	if t.header.Kid != nil {
		c.KeyID = *t.header.Kid
	}
	var err error
	var tc tokenClaims
	c.raw, c.members, err = decodeSegment(t.claims)
	if err == nil {
		tc, err = readClaims(c.members)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := v.checkClaims(&tc, c); err != nil {
		return nil, err
	}
	return c, nil
}

// clock reads the Verifier's clock in whole seconds, floor(now), as jose's
// epoch() does: PowerSync compares the claims with that, so a Verifier with
// the exact time would accept an "nbf" up to a second later than PowerSync.
func (v *Verifier) clock() time.Time {
	return time.Unix(v.now().Unix(), 0)
}

// checkClaims checks the registered claims and fills c with them. It only
// orchestrates: each claim has a check of its own, and the first to fail
// decides the error. All of them read the clock once, here (see clock).
func (v *Verifier) checkClaims(tc *tokenClaims, c *Claims) error {
	now := v.clock()
	var err error
	if c.Subject, err = verifySubject(tc.Sub); err != nil {
		return err
	}
	if c.IssuedAt, err = v.verifyIssuedAt(tc.Iat, now); err != nil {
		return err
	}
	if c.ExpiresAt, err = v.verifyExpiresAt(tc.Exp, now); err != nil {
		return err
	}
	if err = v.verifyLifetime(c.IssuedAt, c.ExpiresAt); err != nil {
		return err
	}
	if c.NotBefore, err = v.verifyNotBefore(tc.Nbf, now); err != nil {
		return err
	}
	if c.Audience, err = v.verifyAudience(tc.Aud); err != nil {
		return err
	}
	if c.Issuer, err = v.verifyIssuer(tc.Iss); err != nil {
		return err
	}
	if tc.Jti != nil {
		c.ID = *tc.Jti
	}
	c.Parameters, err = verifyParameters(tc.Parameters)
	return err
}

// verifySubject requires "sub", a non-empty string: the user ID that sync
// rules see.
func verifySubject(sub *string) (string, error) {
	if sub == nil || *sub == "" {
		return "", fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	return *sub, nil
}

// verifyIssuedAt requires "iat" and refuses one later than now plus the
// leeway. PowerSync does not compare "iat" with its clock, but a token
// issued in the future would live longer than its lifetime says.
func (v *Verifier) verifyIssuedAt(iat *float64, now time.Time) (time.Time, error) {
	if iat == nil {
		return time.Time{}, fmt.Errorf("%w: iat", ErrMissingClaim)
	}
	t, err := unixTime("iat", *iat)
	if err != nil {
		return time.Time{}, err
	}
	if t.After(now.Add(v.leeway)) {
		return time.Time{}, fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// verifyExpiresAt requires "exp" and refuses the token once now minus the
// leeway has reached it, as PowerSync does.
func (v *Verifier) verifyExpiresAt(exp *float64, now time.Time) (time.Time, error) {
	if exp == nil {
		return time.Time{}, fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	t, err := unixTime("exp", *exp)
	if err != nil {
		return time.Time{}, err
	}
	if !now.Add(-v.leeway).Before(t) {
		return time.Time{}, fmt.Errorf("%w: expired at %s", ErrExpired, t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// verifyLifetime refuses an "exp" before "iat", and an "exp" − "iat" longer
// than the maximum lifetime (see [WithMaxTokenLifetime]; PowerSync refuses
// more than 86400 seconds).
func (v *Verifier) verifyLifetime(iat, exp time.Time) error {
	if exp.Before(iat) {
		return fmt.Errorf("%w: exp is before iat", ErrMalformed)
	}
	if exp.Sub(iat) > v.maxLifetime {
		return fmt.Errorf("%w: %v, more than %v", ErrLifetime, exp.Sub(iat), v.maxLifetime)
	}
	return nil
}

// verifyNotBefore checks the optional "nbf": the token is refused until now
// plus the leeway reaches it. An absent "nbf" is the zero time (a null one
// is refused by readClaims, as PowerSync does).
func (v *Verifier) verifyNotBefore(nbf *float64, now time.Time) (time.Time, error) {
	if nbf == nil {
		return time.Time{}, nil
	}
	t, err := unixTime("nbf", *nbf)
	if err != nil {
		return time.Time{}, err
	}
	if t.After(now.Add(v.leeway)) {
		return time.Time{}, fmt.Errorf("%w: not before %s", ErrNotYetValid, t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// verifyAudience requires "aud", a string or an array of strings, and at
// least one of its values among the Verifier's audiences, byte for byte.
func (v *Verifier) verifyAudience(raw json.RawMessage) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, fmt.Errorf("%w: %w: aud", ErrMissingClaim, ErrAudience)
	}
	auds, err := decodeAudience(raw)
	if err != nil {
		return nil, err
	}
	if !acceptsAudience(v.audiences, auds) {
		return nil, fmt.Errorf("%w: %s", ErrAudience, quote.Value(strings.Join(auds, ",")))
	}
	return auds, nil
}

// verifyIssuer reads the optional "iss", and requires it to be exactly the
// issuer of [WithIssuer] when the Verifier has one.
func (v *Verifier) verifyIssuer(iss *string) (string, error) {
	var got string
	if iss != nil {
		got = *iss
	}
	if v.issuer != "" && got != v.issuer {
		return "", fmt.Errorf("%w: %s", ErrIssuer, quote.Value(got))
	}
	return got, nil
}

// verifyParameters reads the optional "parameters", which must be a JSON
// object: PowerSync hands its members to sync rules as token_parameters.
func verifyParameters(raw json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil || params == nil {
		return nil, fmt.Errorf("%w: parameters is not a JSON object", ErrMalformed)
	}
	return params, nil
}

// maxUnixSeconds bounds time claims to integers a float64 holds exactly
// (beyond the year 285 million, well past any real token).
const maxUnixSeconds = 1 << 53

// unixTime converts a NumericDate claim to a time.
func unixTime(name string, secs float64) (time.Time, error) {
	if secs < 0 || secs > maxUnixSeconds || math.IsNaN(secs) {
		return time.Time{}, fmt.Errorf("%w: %s out of range", ErrMalformed, name)
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)), nil
}
