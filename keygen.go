package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
)

// keyIDPrefix starts the key IDs that GenerateKey makes.
const keyIDPrefix = "powersync-"

// KeyOption configures [GenerateKey], [ParseKey] and [NewExternalKey].
type KeyOption func(*keyConfig)

type keyConfig struct {
	kid        string    // from WithKeyID; empty: the input's, a random one, or the thumbprint
	thumbprint bool      // WithThumbprintKeyID
	rsaBits    int       // WithRSABits; 0: minRSABits
	alg        Algorithm // WithAlgorithm; empty: the input's, or the one its key type implies
}

// WithKeyID sets the key ID. For [ParseKey] it replaces the key ID the
// input carries, if any. A key ID is 1 to 256 bytes of UTF-8 without
// control characters; an empty one leaves the default.
func WithKeyID(kid string) KeyOption {
	return func(c *keyConfig) { c.kid = kid }
}

// WithThumbprintKeyID sets the key ID to the key's RFC 7638 JWK thumbprint
// (SHA-256, base64url): the same key always gets the same ID, on every
// replica that loads it. For [ParseKey] it replaces the key ID the input
// carries, if any.
func WithThumbprintKeyID() KeyOption {
	return func(c *keyConfig) { c.thumbprint = true }
}

// WithRSABits sets the size of a new RSA key for [GenerateKey]: 2048 (the
// default), 3072 or 4096 bits.
func WithRSABits(bits int) KeyOption {
	return func(c *keyConfig) { c.rsaBits = bits }
}

// WithAlgorithm sets the algorithm of a key read by [ParseKey] whose input
// does not name one (PEM, or a JWK without "alg"). Without it, an RSA key
// is [RS256] and an EC or Ed25519 key takes the algorithm of its curve. A
// JWK that names a different algorithm is refused.
func WithAlgorithm(alg Algorithm) KeyOption {
	return func(c *keyConfig) { c.alg = alg }
}

// newKeyConfig applies opts and refuses options that are invalid on their
// own or contradict each other.
func newKeyConfig(opts []KeyOption) (keyConfig, error) {
	var c keyConfig
	for _, opt := range opts {
		opt(&c)
	}
	if c.kid != "" && c.thumbprint {
		return c, fmt.Errorf("%w: WithKeyID and WithThumbprintKeyID both given", ErrInvalidKey)
	}
	if c.kid != "" {
		if err := checkKeyID(c.kid); err != nil {
			return c, err
		}
	}
	if c.alg != "" && !c.alg.Supported() {
		return c, unsupportedAlgorithm(string(c.alg))
	}
	return c, nil
}

// GenerateKey makes a new signing key for alg: a 2048-bit RSA key for the
// RS algorithms (see [WithRSABits]), a key on P-256, P-384 or P-521 for
// [ES256], [ES384] and [ES512], and an Ed25519 key for [EdDSA]. Its key ID
// is "powersync-" followed by 10 random lowercase hex characters, unless
// [WithKeyID] or [WithThumbprintKeyID] says otherwise.
func GenerateKey(alg Algorithm, opts ...KeyOption) (*Key, error) {
	spec := alg.spec()
	if spec == nil {
		return nil, unsupportedAlgorithm(string(alg))
	}
	c, err := newKeyConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.alg != "" && c.alg != alg {
		return nil, fmt.Errorf("%w: WithAlgorithm(%s) given to GenerateKey(%s)", ErrAlgorithmMismatch, c.alg, alg)
	}
	if c.rsaBits != 0 && spec.kty != "RSA" {
		return nil, fmt.Errorf("%w: WithRSABits given for %s", ErrAlgorithmMismatch, alg)
	}
	signer, err := generateSigner(spec, c.rsaBits)
	if err != nil {
		return nil, err
	}
	if c.kid == "" && !c.thumbprint {
		if c.kid, err = randomKeyID(); err != nil {
			return nil, err
		}
	}
	return newKey(spec, signer.Public(), signer, false, c)
}

// generateSigner makes a private key of the family of spec; rsaBits is the
// size of an RSA modulus, 0 for the default.
func generateSigner(spec *algSpec, rsaBits int) (crypto.Signer, error) {
	var signer crypto.Signer
	var err error
	switch spec.kty {
	case "RSA":
		switch rsaBits {
		case 0:
			rsaBits = minRSABits
		case 2048, 3072, 4096:
		default:
			sentinel := ErrInvalidKey
			if rsaBits < minRSABits {
				sentinel = ErrWeakKey
			}
			return nil, fmt.Errorf("%w: RSA keys are made with 2048, 3072 or 4096 bits, not %d", sentinel, rsaBits)
		}
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case "EC":
		signer, err = ecdsa.GenerateKey(spec.curve, rand.Reader)
	case "OKP":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("jwks: generating %s key: %w", spec.alg, err)
	}
	return signer, nil
}

// randomKeyID returns "powersync-" and 10 random lowercase hex characters.
func randomKeyID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jwks: reading random key ID: %w", err)
	}
	return keyIDPrefix + hex.EncodeToString(b[:]), nil
}
