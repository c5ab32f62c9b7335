package jwks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/unverified"
)

// DefaultLeeway is the clock skew a Verifier tolerates on "exp", "nbf" and
// "iat": PowerSync's own tolerance.
const DefaultLeeway = 60 * time.Second

// maxVerifiedLifetime bounds WithMaxTokenLifetime: a week, the longest
// access-token lifetime a Supabase project can be configured with.
const maxVerifiedLifetime = 7 * 24 * time.Hour

// hs256 is the one symmetric algorithm a Verifier can accept, and only for a
// secret configured with WithHS256Secret (a Supabase legacy JWT secret).
const hs256 = "HS256"

// A Verifier checks tokens: their signature against a KeySource, and their
// claims against what PowerSync requires, and more where PowerSync is lax.
//
// A Verifier is immutable and safe for concurrent use.
type Verifier struct {
	keys        KeySource
	audiences   []string
	issuer      string
	leeway      time.Duration
	maxLifetime time.Duration
	algorithms  []Algorithm
	hmacSecret  []byte
	now         func() time.Time
}

// WithLeeway sets the clock skew tolerated on "exp", "nbf" and "iat"
// (default DefaultLeeway, 60 seconds, as PowerSync; at most 5 minutes).
func WithLeeway(d time.Duration) VerifierOption {
	return verifierOption(func(v *Verifier) { v.leeway = d })
}

// WithMaxTokenLifetime sets the longest "exp" − "iat" accepted (default
// [MaxTokenLifetime], 24 hours, as PowerSync). It may be raised up to a week
// to verify the tokens of another issuer (a Supabase project can issue access
// tokens that live a week); PowerSync itself refuses anything over a day.
func WithMaxTokenLifetime(d time.Duration) VerifierOption {
	return verifierOption(func(v *Verifier) { v.maxLifetime = d })
}

// WithAlgorithms restricts the algorithms accepted (default: the seven of
// Algorithms, and HS256 when WithHS256Secret is given). A token's "alg" must
// also equal its key's algorithm, whatever this list says. With
// WithHS256Secret, the list must name "HS256".
func WithAlgorithms(algs ...Algorithm) VerifierOption {
	return verifierOption(func(v *Verifier) { v.algorithms = append([]Algorithm{}, algs...) })
}

// WithHS256Secret accepts HS256 tokens signed with secret, such as a Supabase
// project's legacy JWT secret (pass its raw UTF-8 bytes: it is not base64).
// HS256 is accepted only through this option, never from a key source, so a
// public key can never be used as an HMAC secret. The secret must be at
// least 32 bytes.
func WithHS256Secret(secret []byte) VerifierOption {
	return verifierOption(func(v *Verifier) { v.hmacSecret = bytes.Clone(secret) })
}

// NewVerifier returns a Verifier that accepts tokens signed by a key of keys
// and whose "aud" holds audience (or an audience added with WithExtraAudiences).
func NewVerifier(keys KeySource, audience string, opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{
		keys:        keys,
		audiences:   []string{audience},
		leeway:      DefaultLeeway,
		maxLifetime: MaxTokenLifetime,
		now:         time.Now,
	}
	for _, opt := range opts {
		opt.applyVerifier(v)
	}
	if keys == nil {
		return nil, errors.New("jwks: NewVerifier with a nil KeySource")
	}
	if err := checkAudiences(v.audiences); err != nil {
		return nil, err
	}
	if v.leeway < 0 || v.leeway > 5*time.Minute {
		return nil, fmt.Errorf("jwks: leeway %v is outside [0, 5m]", v.leeway)
	}
	if v.maxLifetime < minLifetime || v.maxLifetime > maxVerifiedLifetime {
		return nil, fmt.Errorf("jwks: maximum token lifetime %v is outside [1s, 168h]", v.maxLifetime)
	}
	if v.now == nil {
		return nil, errors.New("jwks: nil clock")
	}
	if v.hmacSecret != nil && len(v.hmacSecret) < 32 {
		return nil, errors.New("jwks: HS256 secret shorter than 32 bytes")
	}
	if v.algorithms == nil {
		v.algorithms = Algorithms()
		if v.hmacSecret != nil {
			v.algorithms = append(v.algorithms, hs256)
		}
	} else {
		if len(v.algorithms) == 0 {
			return nil, errors.New("jwks: WithAlgorithms with no algorithm")
		}
		for _, alg := range v.algorithms {
			if !alg.Supported() && !(alg == hs256 && v.hmacSecret != nil) {
				return nil, unsupportedAlgorithm(string(alg))
			}
		}
		if v.hmacSecret != nil && !slices.Contains(v.algorithms, hs256) {
			return nil, errors.New("jwks: WithHS256Secret with a WithAlgorithms list that leaves out HS256")
		}
	}
	return v, nil
}

// Claims are the verified claims of a token.
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
// where PowerSync does not: decode into a map to see the exact names.
// Claims that did not come from Verify have nothing to decode.
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
	for name, raw := range c.members {
		if slices.Contains(reservedClaims, name) {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			extra[name] = v
		}
	}
	return extra
}

// jwsHeader is the protected header of a token, as far as it is read.
type jwsHeader struct {
	Alg  string
	Kid  *string
	Crit bool // a "crit" member is present
}

// readHeader reads the header members by their exact names.
func readHeader(o jsonObject) (jwsHeader, error) {
	h := jwsHeader{Crit: o.has("crit")}
	if err := o.get("alg", &h.Alg); err != nil {
		return h, err
	}
	return h, o.get("kid", &h.Kid)
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
	tc.Aud, tc.Parameters = o["aud"], o["parameters"]
	return tc, nil
}

// Verify checks raw and returns its claims. It refuses, with an error that
// wraps one of the token errors of this package (ErrMalformed, ErrUnknownKey,
// ErrSignature, ErrExpired, ErrNotYetValid, ErrAudience, ErrIssuer,
// ErrLifetime, ErrMissingClaim, or ErrUnavailable from a remote key
// source):
//
//   - anything but a compact JWS of at most MaxTokenSize bytes;
//   - an "alg" outside the allowed list or different from the key's (so an
//     HS256 token "signed" with a public key never verifies), a missing
//     "kid" (except for HS256), a "crit" header, an ASN.1 ECDSA signature;
//   - a missing "sub", "iat", "exp" or "aud", or one of the wrong type;
//   - "exp" ≤ now − leeway, "nbf" or "iat" > now + leeway, "exp" − "iat"
//     over the maximum lifetime, "exp" before "iat";
//   - an "aud" without an accepted audience, an "iss" other than the required
//     issuer, a "parameters" that is not a JSON object.
//
// ctx is passed to the key source, which may fetch keys.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	t, err := splitToken(raw)
	if err != nil {
		return nil, err
	}
	return v.verify(ctx, t)
}

// verify is Verify of a token already taken apart.
func (v *Verifier) verify(ctx context.Context, t *splitJWS) (*Claims, error) {
	h := &t.header
	if !slices.Contains(v.algorithms, Algorithm(h.Alg)) {
		return nil, fmt.Errorf("%w: algorithm %q not allowed", ErrSignature, quote.Value(h.Alg))
	}
	sig, err := base64.RawURLEncoding.DecodeString(t.signature)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}

	if h.Alg == hs256 {
		mac := hmac.New(sha256.New, v.hmacSecret)
		mac.Write([]byte(t.signingInput))
		if !hmac.Equal(sig, mac.Sum(nil)) {
			return nil, fmt.Errorf("%w: HS256", ErrSignature)
		}
	} else {
		if h.Kid == nil || *h.Kid == "" {
			return nil, fmt.Errorf("%w: token has no kid", ErrUnknownKey)
		}
		key, err := v.keys.LookupKey(ctx, *h.Kid)
		if err != nil {
			if errors.Is(err, ErrUnknownKey) {
				return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, quote.Value(*h.Kid))
			}
			return nil, err
		}
		if key == nil || key.spec == nil { // a KeySource of the caller's that broke its contract
			return nil, fmt.Errorf("%w: the key source returned no key for kid %q", ErrUnknownKey, quote.Value(*h.Kid))
		}
		if key.spec.alg != Algorithm(h.Alg) {
			return nil, fmt.Errorf("%w: token alg %s, key %s is %s", ErrSignature, h.Alg, key.kid, key.spec.alg)
		}
		if !key.spec.verify(key.public, []byte(t.signingInput), sig) {
			return nil, fmt.Errorf("%w: %s", ErrSignature, h.Alg)
		}
	}
	return v.decodeClaims(t)
}

func init() {
	unverified.Verify = func(ctx context.Context, verifier any, raw, unsignedAlg string) (string, any, error) {
		t, err := splitToken(raw)
		if err != nil {
			return "", nil, err
		}
		v := verifier.(*Verifier)
		var c *Claims
		if unsignedAlg != "" && t.header.Alg == unsignedAlg {
			c, err = v.decodeClaims(t)
		} else {
			c, err = v.verify(ctx, t)
		}
		if err != nil {
			return t.header.Alg, nil, err
		}
		return t.header.Alg, c, nil
	}
}

// splitJWS is a compact JWS taken apart, with its header decoded.
type splitJWS struct {
	header       jwsHeader
	signingInput string // header.claims, what the signature covers
	claims       string // base64url
	signature    string // base64url
}

// splitToken takes a token apart and decodes its header. It refuses tokens
// over MaxTokenSize before anything else, anything but three parts, and
// headers with critical extensions.
func splitToken(raw string) (*splitJWS, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token of more than %d bytes", ErrMalformed, MaxTokenSize)
	}
	headerB64, rest, ok1 := strings.Cut(raw, ".")
	claimsB64, sigB64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sigB64, '.') >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS of three parts", ErrMalformed)
	}
	t := &splitJWS{signingInput: raw[:len(headerB64)+1+len(claimsB64)], claims: claimsB64, signature: sigB64}
	_, o, err := decodeSegment(headerB64)
	if err == nil {
		t.header, err = readHeader(o)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if t.header.Crit {
		return nil, fmt.Errorf("%w: header has critical extensions", ErrMalformed)
	}
	return t, nil
}

// decodeClaims decodes the claims of a token and checks them.
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

// checkClaims checks the decoded claims and fills c.
func (v *Verifier) checkClaims(tc *tokenClaims, c *Claims) error {
	switch {
	case tc.Sub == nil || *tc.Sub == "":
		return fmt.Errorf("%w: sub", ErrMissingClaim)
	case tc.Iat == nil:
		return fmt.Errorf("%w: iat", ErrMissingClaim)
	case tc.Exp == nil:
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	case tc.Aud == nil || string(tc.Aud) == "null":
		return fmt.Errorf("%w: %w: aud", ErrMissingClaim, ErrAudience)
	}
	c.Subject = *tc.Sub

	iat, err := unixTime("iat", *tc.Iat)
	if err != nil {
		return err
	}
	exp, err := unixTime("exp", *tc.Exp)
	if err != nil {
		return err
	}
	now := v.now()
	if !now.Add(-v.leeway).Before(exp) {
		return fmt.Errorf("%w: expired at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if iat.After(now.Add(v.leeway)) {
		return fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, iat.UTC().Format(time.RFC3339))
	}
	if exp.Before(iat) {
		return fmt.Errorf("%w: exp is before iat", ErrMalformed)
	}
	if exp.Sub(iat) > v.maxLifetime {
		return fmt.Errorf("%w: %v, more than %v", ErrLifetime, exp.Sub(iat), v.maxLifetime)
	}
	c.IssuedAt, c.ExpiresAt = iat, exp
	if tc.Nbf != nil {
		if c.NotBefore, err = unixTime("nbf", *tc.Nbf); err != nil {
			return err
		}
		if c.NotBefore.After(now.Add(v.leeway)) {
			return fmt.Errorf("%w: not before %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}

	if c.Audience, err = decodeAudience(tc.Aud); err != nil {
		return err
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return fmt.Errorf("%w: %q", ErrAudience, quote.Value(strings.Join(c.Audience, ",")))
	}

	if tc.Iss != nil {
		c.Issuer = *tc.Iss
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, quote.Value(c.Issuer))
	}
	if tc.Jti != nil {
		c.ID = *tc.Jti
	}
	if tc.Parameters != nil {
		if err := json.Unmarshal(tc.Parameters, &c.Parameters); err != nil || c.Parameters == nil {
			return fmt.Errorf("%w: parameters is not a JSON object", ErrMalformed)
		}
	}
	return nil
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

// decodeAudience reads "aud": a string or an array of strings.
func decodeAudience(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: aud", ErrMalformed)
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: aud is neither a string nor an array of strings", ErrMalformed)
	}
	return list, nil
}

// decodeSegment decodes a base64url segment holding a JSON object.
func decodeSegment(seg string) ([]byte, jsonObject, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, nil, errors.New("not base64url")
	}
	o, err := decodeObject(b)
	return b, o, err
}
