package jwks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Token lifetimes. PowerSync refuses tokens that live longer than a day and
// recommends at most an hour; PowerSync's clients fetch a new token when
// theirs has less than 30 seconds left.
const (
	DefaultTokenLifetime = 5 * time.Minute
	MaxTokenLifetime     = 24 * time.Hour
	minLifetime          = time.Second

	// MaxTokenSize is the largest token the [Verifier] reads and the [Signer]
	// makes, in bytes. Larger tokens are refused before any decoding.
	MaxTokenSize = 16 << 10
)

// A Signer mints PowerSync tokens with the signing key of a [KeySet].
//
// A Signer is immutable and safe for concurrent use. It reads the key set's
// current signing key without a lock on each [Signer.Sign], so tokens keep being
// signed while the set is replaced, each with the key that was current when
// it began.
//
// A Signer makes at most GOMAXPROCS (as it was when NewSigner ran)
// signatures at once with keys held in the process; further calls of Sign
// wait their turn, first come first served, so that under load (RS256 takes
// about a millisecond per signature) latency grows with the queue rather
// than every signature slowing down together. External keys
// ([NewExternalKey]) are not limited: their signatures wait for a KMS or an
// HSM, not for the CPU.
type Signer struct {
	ks        *KeySet
	audiences []string
	issuer    string
	lifetime  time.Duration
	now       func() time.Time
	tokenID   bool

	// The JSON of the claims that are the same in every token, built once:
	// `,"aud":…` and `,"iss":…`.
	fixedClaims []byte

	// slots bounds the signatures in progress with in-process keys: a
	// signature holds a slot (a value in the channel) while it runs.
	slots chan struct{}
}

// WithTokenLifetime sets how long tokens are valid: at least a second, at
// most [MaxTokenLifetime] (24 hours, PowerSync's limit); [DefaultTokenLifetime]
// (5 minutes) when not set. PowerSync's clients fetch a new token when theirs
// has less than 30 seconds left, so lifetimes under a minute or two make them
// fetch all the time; an old key stays published for a lifetime after a
// rotation (see [Rotation] in the package documentation). Lifetimes are whole
// seconds: a fraction of a second is dropped, from the tokens and from
// [Signer.Lifetime] alike.
//
// [Rotation]: https://pkg.go.dev/github.com/powersync-jwks/jwks#hdr-Rotation
func WithTokenLifetime(d time.Duration) SignerOption {
	return signerOption(func(s *Signer) { s.lifetime = d })
}

// WithTokenID adds a random "jti" (128 bits, base64url) to every token, so
// that a token can be told apart from another with the same subject and
// times, for logs or replay checks. Off by default.
func WithTokenID(on bool) SignerOption {
	return signerOption(func(s *Signer) { s.tokenID = on })
}

// NewSigner returns a Signer that signs with the signing key of ks for the
// PowerSync instance whose URL is audience. The audience is written to "aud"
// exactly as given: configure PowerSync with the same string, byte for byte.
//
// Configuration errors (no audience, no signing key, a lifetime out of
// range) are returned here rather than from Sign.
func NewSigner(ks *KeySet, audience string, opts ...SignerOption) (*Signer, error) {
	s := &Signer{
		ks:        ks,
		audiences: []string{audience},
		lifetime:  DefaultTokenLifetime,
		now:       time.Now,
		slots:     make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	for _, opt := range opts {
		opt.applySigner(s)
	}
	if ks == nil {
		return nil, errors.New("jwks: NewSigner with a nil KeySet")
	}
	if ks.SigningKey() == nil {
		return nil, fmt.Errorf("%w: the key set has no signing key", ErrPublicKey)
	}
	if err := checkAudiences(s.audiences); err != nil {
		return nil, err
	}
	if s.issuer != strings.TrimSpace(s.issuer) || !utf8.ValidString(s.issuer) {
		return nil, errors.New("jwks: issuer has surrounding spaces or invalid UTF-8")
	}
	if s.lifetime < minLifetime || s.lifetime > MaxTokenLifetime {
		return nil, fmt.Errorf("jwks: token lifetime %v is outside [1s, 24h]", s.lifetime)
	}
	s.lifetime = s.lifetime.Truncate(time.Second) // tokens carry whole seconds, and Lifetime says what they carry
	if s.now == nil {
		return nil, errors.New("jwks: nil clock")
	}

	var fixed []byte
	fixed = append(fixed, `,"aud":`...)
	if len(s.audiences) == 1 {
		fixed = appendJSON(fixed, s.audiences[0])
	} else {
		fixed = appendJSON(fixed, s.audiences)
	}
	if s.issuer != "" {
		fixed = append(fixed, `,"iss":`...)
		fixed = appendJSON(fixed, s.issuer)
	}
	s.fixedClaims = fixed
	return s, nil
}

// Audience returns the audience given to [NewSigner]: the PowerSync instance
// URL.
func (s *Signer) Audience() string { return s.audiences[0] }

// Lifetime returns the lifetime of the tokens the Signer makes.
func (s *Signer) Lifetime() time.Duration { return s.lifetime }

// A Token is a signed PowerSync token.
type Token struct {
	Raw       string    // the compact JWS, header.claims.signature
	Subject   string    // the "sub" claim: the user ID in sync rules
	KeyID     string    // the "kid" of the key that signed it
	ID        string    // the "jti" claim, when WithTokenID is on
	IssuedAt  time.Time // the "iat" claim
	ExpiresAt time.Time // the "exp" claim
}

// A SignOption configures one call to Sign.
type SignOption func(*signRequest)

type signRequest struct {
	params any
	claims map[string]any
}

// reservedClaims are set by the Signer and cannot be set with WithClaim.
var reservedClaims = []string{"sub", "aud", "iat", "exp", "iss", "nbf", "jti", "parameters"}

// WithParameters sets the token's "parameters" claim, which PowerSync's sync
// rules read as token_parameters.<name>. params must encode to a JSON object:
// a map with string keys or a struct; a nil map or pointer adds nothing.
func WithParameters(params any) SignOption {
	return func(r *signRequest) { r.params = params }
}

// WithClaim adds a top-level claim, which sync rules read with
// request.jwt() or auth.parameter(name). It cannot replace the claims the
// [Signer] sets ("sub", "aud", "iat", "exp", "iss", "nbf", "jti") nor
// "parameters" (see [WithParameters]), in any letter case. Given twice, the
// last value wins.
func WithClaim(name string, value any) SignOption {
	return func(r *signRequest) {
		if r.claims == nil {
			r.claims = make(map[string]any)
		}
		r.claims[name] = value
	}
}

// Sign mints a token for subject, the user ID that sync rules see. The header
// is {"alg","kid","typ":"JWT"} of the key set's current signing key; the
// claims are "sub", "aud", "iat", "exp" (integer seconds), "iss" when
// configured, "jti" when [WithTokenID] is on, then "parameters" and any
// [WithClaim] claims.
//
// ctx bounds the wait for a turn to sign (see [Signer]): when it ends
// first, Sign returns an error wrapping [ErrUnavailable] and ctx's error,
// which the token handler answers with 503. It cannot interrupt a signature
// in progress, as [crypto.Signer] (behind an external key) takes no context.
func (s *Signer) Sign(ctx context.Context, subject string, opts ...SignOption) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	var req signRequest
	for _, opt := range opts {
		opt(&req)
	}
	key := s.ks.load().signing
	if key == nil {
		return nil, fmt.Errorf("%w: the key set has no signing key", ErrPublicKey)
	}
	if err := s.acquire(ctx, key); err != nil {
		return nil, err
	}
	defer s.release(key)
	return s.signAt(key, s.now(), subject, &req)
}

// checkSubject refuses a subject that is empty or not valid UTF-8.
func checkSubject(subject string) error {
	if subject == "" {
		return errors.New("jwks: empty subject")
	}
	if !utf8.ValidString(subject) {
		return errors.New("jwks: subject is not valid UTF-8")
	}
	return nil
}

// acquire waits for a turn to sign with key, until ctx ends; release ends
// the turn. External keys need no turn.
func (s *Signer) acquire(ctx context.Context, key *Key) error {
	if key.external {
		return nil
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: no turn to sign before the request ended: %w", ErrUnavailable, context.Cause(ctx))
	}
}

// release ends the turn acquire began.
func (s *Signer) release(key *Key) {
	if !key.external {
		<-s.slots
	}
}

// signAt signs the token for subject issued at now (in whole seconds) with
// key. The caller holds a turn to sign (see acquire).
func (s *Signer) signAt(key *Key, now time.Time, subject string, req *signRequest) (*Token, error) {
	now = now.Truncate(time.Second)
	exp := now.Add(s.lifetime)
	tok := &Token{Subject: subject, KeyID: key.kid, IssuedAt: now, ExpiresAt: exp}

	claims := make([]byte, 0, 128+len(s.fixedClaims)+len(subject))
	claims = append(claims, `{"sub":`...)
	claims = appendJSON(claims, subject)
	claims = append(claims, s.fixedClaims...)
	claims = append(claims, `,"iat":`...)
	claims = strconv.AppendInt(claims, now.Unix(), 10)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, exp.Unix(), 10)
	if s.tokenID {
		var id [16]byte
		rand.Read(id[:]) // never fails (crypto/rand panics rather)
		tok.ID = base64.RawURLEncoding.EncodeToString(id[:])
		claims = append(claims, `,"jti":"`...)
		claims = append(claims, tok.ID...)
		claims = append(claims, '"')
	}
	var err error
	if claims, err = req.appendExtra(claims); err != nil {
		return nil, err
	}
	claims = append(claims, '}')

	if tok.Raw, err = signJWS(key, claims); err != nil {
		return nil, err
	}
	return tok, nil
}

// appendExtra appends the "parameters" claim and the WithClaim claims, in
// name order so that equal requests make equal tokens.
func (r *signRequest) appendExtra(claims []byte) ([]byte, error) {
	if r.params != nil {
		p, err := json.Marshal(r.params)
		if err != nil {
			return nil, fmt.Errorf("jwks: encoding parameters: %w", err)
		}
		switch {
		case string(p) == "null": // a nil map or pointer: no parameters
		case len(p) == 0 || p[0] != '{':
			return nil, errors.New("jwks: parameters must encode to a JSON object")
		default:
			claims = append(claims, `,"parameters":`...)
			claims = append(claims, p...)
		}
	}
	names := make([]string, 0, len(r.claims))
	for name := range r.claims {
		// Refused in any case: a verifier that matches names without regard
		// to case (encoding/json does) would read "Sub" as "sub".
		if slices.ContainsFunc(reservedClaims, func(r string) bool { return strings.EqualFold(r, name) }) {
			return nil, fmt.Errorf("jwks: claim %q is set by the Signer", name)
		}
		if name == "" || !utf8.ValidString(name) {
			return nil, errors.New("jwks: claim name is empty or invalid UTF-8")
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := json.Marshal(r.claims[name])
		if err != nil {
			return nil, fmt.Errorf("jwks: encoding claim %q: %w", name, err)
		}
		claims = append(claims, ',')
		claims = appendJSON(claims, name)
		claims = append(claims, ':')
		claims = append(claims, v...)
	}
	return claims, nil
}

// signJWS signs claims with key and returns the compact JWS.
func signJWS(key *Key, claims []byte) (string, error) {
	enc := base64.RawURLEncoding
	n := len(key.header) + 1 + enc.EncodedLen(len(claims))
	sigLen := enc.EncodedLen(key.signatureSize())
	if n+1+sigLen > MaxTokenSize {
		return "", fmt.Errorf("jwks: token of more than %d bytes", MaxTokenSize)
	}
	buf := make([]byte, 0, n+1+sigLen)
	buf = append(buf, key.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, claims)
	sig, err := key.spec.sign(key.signer, buf)
	if err != nil {
		return "", fmt.Errorf("jwks: signing with key %s: %w", key.kid, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// signatureSize is the length of the key's JWS signatures, in bytes.
func (k *Key) signatureSize() int {
	switch pub := k.public.(type) {
	case interface{ Size() int }: // *rsa.PublicKey
		return pub.Size()
	}
	if k.spec.size > 0 {
		return 2 * k.spec.size
	}
	return 64 // Ed25519
}

// appendJSON appends the JSON encoding of v, which is a string or a slice of
// strings and cannot fail to encode.
func appendJSON(dst []byte, v any) []byte {
	b, _ := json.Marshal(v)
	return append(dst, b...)
}
