package jwks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/keyid"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/unverified"
)

// DefaultLeeway is the clock skew a [Verifier] tolerates on "exp", "nbf" and
// "iat": PowerSync's own tolerance.
const DefaultLeeway = 60 * time.Second

// maxVerifiedLifetime bounds [WithMaxTokenLifetime]: a week, the longest
// access-token lifetime a Supabase project can be configured with.
const maxVerifiedLifetime = 7 * 24 * time.Hour

// hs256 is the one symmetric algorithm a Verifier can accept, and only for a
// secret configured with WithHS256Secret (a Supabase legacy JWT secret).
const hs256 = "HS256"

// A Verifier checks tokens: their claims against what PowerSync requires,
// and more where PowerSync is lax, and their signature against a
// [KeySource]. [Verifier.Verify] checks a token, [Verifier.VerifyRequest]
// the token of a request, and [Verifier.Middleware] protects a handler.
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
// (default [DefaultLeeway], 60 seconds, as PowerSync; at most 5 minutes).
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
// [Algorithms], and HS256 when [WithHS256Secret] is given). A token's "alg"
// must also equal its key's algorithm, whatever this list says. With
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
// (a [*KeySet] for the host's own keys, or a remote JWKS) and whose "aud"
// holds audience (or an audience added with [WithExtraAudiences]).
// Configuration errors (a nil key source, no audience, an option out of
// range) are returned here rather than from Verify.
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

// Verify checks raw and returns its claims. It refuses, with an error that
// wraps one of the token errors of this package ([ErrMalformed],
// [ErrUnknownKey], [ErrSignature], [ErrExpired], [ErrNotYetValid],
// [ErrAudience], [ErrIssuer], [ErrLifetime], [ErrMissingClaim], or
// [ErrUnavailable] from a remote key source):
//
//   - anything but a compact JWS of at most [MaxTokenSize] bytes, whose
//     three segments are strict, unpadded base64url (no "=", no line
//     breaks, unused trailing bits zero: a token has one spelling);
//   - an "alg" outside the allowed list or different from the key's (so an
//     HS256 token "signed" with a public key never verifies), a missing
//     "kid" (except for HS256), a "crit" header, an ASN.1 ECDSA signature;
//   - a missing "sub", "iat", "exp" or "aud", or one of the wrong type (a
//     "nbf" may be absent, but not null);
//   - "exp" ≤ now − leeway, "nbf" or "iat" > now + leeway, with now the
//     clock floored to the second, as PowerSync's jose reads it; "exp" −
//     "iat" over the maximum lifetime, "exp" before "iat";
//   - an "aud" without an accepted audience, an "iss" other than the required
//     issuer, a "parameters" that is not a JSON object.
//
// The header and the claims are checked before the key source is asked for
// the key, so a token that is expired or meant for another audience never
// makes a remote key source fetch. ctx is passed to the key source.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	t, err := splitToken(raw)
	if err != nil {
		return nil, err
	}
	return v.verify(ctx, t)
}

// verify is Verify of a token already taken apart. It orchestrates the
// checks, those that need no key first: the header, the claims, then the
// key lookup (which may fetch) and the signature.
func (v *Verifier) verify(ctx context.Context, t *splitJWS) (*Claims, error) {
	if err := v.checkHeader(&t.header); err != nil {
		return nil, err
	}
	sig, err := decodeBase64URL(t.signature)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	c, err := v.decodeClaims(t)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(ctx, t, sig); err != nil {
		return nil, err
	}
	return c, nil
}

// checkHeader refuses an "alg" the Verifier does not accept, and a token
// without a "kid" unless it is HS256 (legacy Supabase tokens have none).
func (v *Verifier) checkHeader(h *jwsHeader) error {
	if err := v.checkAlgorithm(h); err != nil {
		return err
	}
	return checkHeaderKeyID(h)
}

// checkAlgorithm refuses an "alg" the Verifier does not accept.
func (v *Verifier) checkAlgorithm(h *jwsHeader) error {
	if !slices.Contains(v.algorithms, Algorithm(h.Alg)) {
		return fmt.Errorf("%w: algorithm %s not allowed", ErrSignature, quote.Value(h.Alg))
	}
	return nil
}

// checkHeaderKeyID refuses a token without a "kid" unless it is HS256,
// and one whose kid no key can have (see checkKeyID), before any
// KeySource is asked about it.
func checkHeaderKeyID(h *jwsHeader) error {
	switch {
	case h.Alg != hs256 && (h.Kid == nil || *h.Kid == ""):
		return fmt.Errorf("%w: token has no kid", ErrUnknownKey)
	case h.Kid != nil && *h.Kid != "" && !keyid.Valid(*h.Kid):
		return fmt.Errorf("%w: kid %s is not a key ID any key can have", ErrUnknownKey, quote.Value(*h.Kid))
	}
	return nil
}

// checkSignature checks sig over the token's signing input: with the
// secret of [WithHS256Secret] for HS256, otherwise with the key the header's
// "kid" names, whose algorithm must be the header's "alg".
func (v *Verifier) checkSignature(ctx context.Context, t *splitJWS, sig []byte) error {
	h := &t.header
	if h.Alg == hs256 {
		mac := hmac.New(sha256.New, v.hmacSecret)
		mac.Write([]byte(t.signingInput))
		if !hmac.Equal(sig, mac.Sum(nil)) {
			return fmt.Errorf("%w: HS256", ErrSignature)
		}
		return nil
	}
	key, err := v.keys.LookupKey(ctx, *h.Kid)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return fmt.Errorf("%w: kid %s", ErrUnknownKey, quote.Value(*h.Kid))
		}
		return err
	}
	if key == nil || key.spec == nil { // a KeySource of the caller's that broke its contract
		return fmt.Errorf("%w: the key source returned no key for kid %s", ErrUnknownKey, quote.Value(*h.Kid))
	}
	if key.spec.alg != Algorithm(h.Alg) {
		return fmt.Errorf("%w: token alg %s, key %s is %s", ErrSignature, h.Alg, key.kid, key.spec.alg)
	}
	if !key.spec.verify(key.public, []byte(t.signingInput), sig) {
		return fmt.Errorf("%w: %s", ErrSignature, h.Alg)
	}
	return nil
}

// init sets the one bridge of package internal/unverified: the checks of
// Verify without the signature, for a token whose "alg" is unsignedAlg,
// which the Supabase authenticator has Supabase vouch for instead.
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

// decodeSegment decodes a base64url segment holding a JSON object.
func decodeSegment(seg string) ([]byte, jsonObject, error) {
	b, err := decodeBase64URL(seg)
	if err != nil {
		return nil, nil, errors.New("not base64url")
	}
	o, err := decodeObject(b)
	return b, o, err
}

// strictBase64URL decodes unpadded base64url whose unused trailing bits are
// zero, so that a segment has one spelling only.
var strictBase64URL = base64.RawURLEncoding.Strict()

// decodeBase64URL decodes a segment of a token as strict, unpadded
// base64url: every byte in the URL-safe alphabet, no "=", and unused
// trailing bits zero. The raw token string is then unique to the token,
// which a cache or replay list keyed on it relies on. The encoding/base64
// decoder would skip CR and LF, even in strict mode: they are refused first.
func decodeBase64URL(seg string) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errors.New("not base64url")
		}
	}
	return strictBase64URL.DecodeString(seg)
}
