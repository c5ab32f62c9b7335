package jwks

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// A Key is a signing key or a public key, with its algorithm and key ID.
// [GenerateKey] makes one, [ParseKey] reads one, and [NewExternalKey] wraps
// a key whose private half lives in a KMS or an HSM.
//
// A Key is immutable and safe for concurrent use. Its private half never
// leaves it by accident: [Key.String], [Key.GoString], every fmt verb,
// log/slog and encoding/json show only the key ID, the algorithm and the
// public key. The private half is exported only by an explicit call to
// [Key.MarshalPrivate].
type Key struct {
	kid      string
	spec     *algSpec
	public   crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	signer   crypto.Signer    // nil for a public key
	external bool             // signer is a caller's crypto.Signer (KMS, HSM)
	jwk      []byte           // the public JWK as published, compact JSON
	header   string           // base64url of the JWS header {"alg","kid","typ":"JWT"}
}

// NewExternalKey wraps a signer whose private half stays elsewhere, such as
// a cloud KMS or an HSM key, so that a [KeySet] can publish it and a
// [Signer] can sign with it. Its Sign method receives the digest of each
// token (the token itself for EdDSA) and must return a PKCS#1 v1.5
// signature for RSA, an ASN.1 signature for ECDSA (as [crypto.Signer]
// requires; it is converted to the JWS form), or an Ed25519 signature. The
// key ID is set with [WithKeyID], or else is the key's thumbprint.
func NewExternalKey(signer crypto.Signer, alg Algorithm, opts ...KeyOption) (*Key, error) {
	spec := alg.spec()
	if spec == nil {
		return nil, unsupportedAlgorithm(string(alg))
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrInvalidKey)
	}
	c, err := newKeyConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.rsaBits != 0 {
		return nil, fmt.Errorf("%w: WithRSABits given to NewExternalKey", ErrInvalidKey)
	}
	pub, _, err := splitKey(signer.Public())
	if err != nil {
		return nil, err
	}
	if _, err := algorithmForPublicKey(pub, alg); err != nil {
		return nil, err
	}
	return newKey(spec, pub, signer, true, c)
}

// splitKey sorts a standard library key into its public half and, for a
// private key, its signer.
func splitKey(raw any) (crypto.PublicKey, crypto.Signer, error) {
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey, k, nil
	case *ecdsa.PrivateKey:
		return &k.PublicKey, k, nil
	case ed25519.PrivateKey:
		return k.Public(), k, nil
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil, nil
	case []byte:
		return nil, nil, fmt.Errorf("%w: symmetric keys cannot be published or used here", ErrUnsupportedAlgorithm)
	}
	return nil, nil, fmt.Errorf("%w: key type %T", ErrUnsupportedAlgorithm, raw)
}

// newKey checks a key against its algorithm (see checkKey) and builds the
// Key: its key ID (the thumbprint when c names none), its public JWK and its
// JWS header, all computed once.
func newKey(spec *algSpec, pub crypto.PublicKey, signer crypto.Signer, external bool, c keyConfig) (*Key, error) {
	pub, signer, err := checkKey(spec, pub, signer, external)
	if err != nil {
		return nil, err
	}
	k := &Key{spec: spec, public: pub, signer: signer, external: external, kid: c.kid}

	pk, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %s public key cannot be encoded as a JWK", ErrInvalidKey, spec.alg)
	}
	if c.kid == "" {
		tp, err := pk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%w: %s key has no thumbprint", ErrInvalidKey, spec.alg)
		}
		k.kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	if k.jwk, err = marshalJWK(pk, k.kid, spec.alg); err != nil {
		return nil, err
	}
	header, err := json.Marshal(struct {
		Alg Algorithm `json:"alg"`
		Kid string    `json:"kid"`
		Typ string    `json:"typ"`
	}{spec.alg, k.kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("%w: key ID cannot be encoded", ErrInvalidKey)
	}
	k.header = base64.RawURLEncoding.EncodeToString(header)
	return k, nil
}

// KeyID returns the key ID, the "kid" of the JWK and of every token header
// the key signs.
func (k *Key) KeyID() string { return k.kid }

// Algorithm returns the algorithm the key signs and verifies with.
func (k *Key) Algorithm() Algorithm { return k.spec.alg }

// Public returns the public key: an [*rsa.PublicKey], an [*ecdsa.PublicKey]
// or an [ed25519.PublicKey]. It must not be modified.
func (k *Key) Public() crypto.PublicKey { return k.public }

// CanSign reports whether the key has a private half (in the process, or
// behind an external signer), that is whether it can be a [KeySet]'s
// signing key.
func (k *Key) CanSign() bool { return k.signer != nil }

// PublicOnly returns the key without its private half. A public key returns
// itself.
func (k *Key) PublicOnly() *Key {
	if k.signer == nil {
		return k
	}
	pub := *k
	pub.signer, pub.external = nil, false
	return &pub
}

// Equal reports whether k and other have the same key ID, algorithm and
// public key. Private halves are not compared.
func (k *Key) Equal(other *Key) bool {
	if k == nil || other == nil {
		return k == other
	}
	if k.kid != other.kid || k.spec != other.spec {
		return false
	}
	eq, ok := k.public.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(other.public)
}

// The methods below have value receivers so that a Key printed or logged by
// value, not only through a pointer, shows no more than a *Key does.

// String returns a short description: algorithm, key ID, and whether the key
// can sign. It never contains key material.
func (k Key) String() string {
	if k.spec == nil {
		return "jwks.Key(invalid)"
	}
	kind := "public"
	if k.signer != nil {
		kind = "signing"
	}
	return fmt.Sprintf("jwks.Key(%s %s, kid %q)", k.spec.alg, kind, k.kid)
}

// GoString returns the key ID, algorithm and public JWK, for %#v.
func (k Key) GoString() string {
	if k.spec == nil {
		return "jwks.Key{}"
	}
	return fmt.Sprintf("jwks.Key{KeyID: %q, Algorithm: %q, CanSign: %t, Public: %s}", k.kid, k.spec.alg, k.signer != nil, k.jwk)
}

// Format implements [fmt.Formatter] so that every verb, not only %v and %s,
// prints [Key.String] (or [Key.GoString] for %#v) rather than the struct's
// fields.
func (k Key) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, k.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(k.String()))
	default:
		fmt.Fprint(f, k.String())
	}
}

// LogValue implements [slog.LogValuer]: a group of the key ID, the algorithm
// and whether the key can sign.
func (k Key) LogValue() slog.Value {
	if k.spec == nil {
		return slog.StringValue("invalid")
	}
	return slog.GroupValue(
		slog.String("kid", k.kid),
		slog.String("alg", string(k.spec.alg)),
		slog.Bool("can_sign", k.signer != nil),
	)
}

// MarshalJSON encodes the public JWK, as [Key.MarshalPublic] with
// [FormatJWK] does, so that encoding/json never sees the private half.
func (k Key) MarshalJSON() ([]byte, error) {
	if k.spec == nil {
		return nil, fmt.Errorf("%w: zero Key", ErrInvalidKey)
	}
	return bytes.Clone(k.jwk), nil
}
