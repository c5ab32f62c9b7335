package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"

	"github.com/powersync-jwks/jwks/internal/keyid"
)

// Limits on keys. Shorter RSA moduli are refused (PowerSync refuses them
// too); longer ones are refused so that a hostile JWKS cannot make every
// verification expensive.
const (
	minRSABits     = 2048
	maxRSABits     = 8192
	maxRSAExponent = 1<<31 - 1
)

// checkKey checks a key against its algorithm, whatever it was read from,
// and returns it in the form the package keeps. Each family has its own
// checks: checkRSAKey, checkECKey and checkEd25519Key. The private
// half of an external key (a caller's crypto.Signer) is not examined.
func checkKey(spec *algSpec, pub crypto.PublicKey, signer crypto.Signer, external bool) (crypto.PublicKey, crypto.Signer, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return checkRSAKey(spec, p, signer, external)
	case *ecdsa.PublicKey:
		return checkECKey(spec, p, signer, external)
	case ed25519.PublicKey:
		return checkEd25519Key(spec, p, signer, external)
	}
	return nil, nil, fmt.Errorf("%w: key type %T", ErrUnsupportedAlgorithm, pub)
}

// checkFamily refuses a key of type kty (named name in the error) labelled
// with an algorithm of another family, such as an RSA key labelled EdDSA.
func checkFamily(spec *algSpec, kty, name string) error {
	if spec.kty != kty {
		return fmt.Errorf("%w: %s key labelled %s", ErrAlgorithmMismatch, name, spec.alg)
	}
	return nil
}

// checkRSAKey checks an RSA key: its public half by checkRSAPublicKey, and
// a private half in the process by checkRSAPrivateKey.
func checkRSAKey(spec *algSpec, pub *rsa.PublicKey, signer crypto.Signer, external bool) (crypto.PublicKey, crypto.Signer, error) {
	if err := checkRSAPublicKey(spec, pub); err != nil {
		return nil, nil, err
	}
	if priv, ok := signer.(*rsa.PrivateKey); ok && !external {
		if err := checkRSAPrivateKey(priv); err != nil {
			return nil, nil, err
		}
	}
	return pub, signer, nil
}

// checkRSAPublicKey refuses an RSA key labelled with another family's
// algorithm, a malformed modulus or exponent (even, under 3, or over
// 2^31 − 1, the largest crypto/rsa verifies with), and a modulus under 2048
// bits ([ErrWeakKey]) or over 8192.
func checkRSAPublicKey(spec *algSpec, pub *rsa.PublicKey) error {
	if err := checkFamily(spec, "RSA", "RSA"); err != nil {
		return err
	}
	if pub.N == nil || pub.N.Sign() <= 0 || pub.N.Bit(0) == 0 || pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("%w: RSA public key is malformed", ErrInvalidKey)
	}
	if pub.E > maxRSAExponent {
		return fmt.Errorf("%w: RSA public exponent over 2^31 - 1", ErrInvalidKey)
	}
	bits := pub.N.BitLen()
	if bits < minRSABits {
		return fmt.Errorf("%w: RSA key of %d bits; at least %d are required", ErrWeakKey, bits, minRSABits)
	}
	return checkRSASizes(bits, nil)
}

// An rsaValue is the length of one value of an RSA private key other than
// its modulus, named by its JWK member ("d", "p", "q", "dp", "dq", "qi"; an
// additional prime of a multi-prime key is "oth").
type rsaValue struct {
	name string
	bits int
}

// checkRSASizes refuses ([ErrInvalidKey]) an RSA modulus of nBits over
// 8192 bits, and a private value longer than a modulus of nBits, which no
// valid key has (the primes, the exponents and the CRT values are all below
// the modulus). ParseKey calls it with the lengths read from a key's
// encoding, before anything computes with the values: validating and
// precomputing a private key takes time quadratic in their length, seconds
// for a few hundred kilobytes. A modulus of no length (absent, zero or
// negative) is left to the other checks.
func checkRSASizes(nBits int, values []rsaValue) error {
	if nBits > maxRSABits {
		return fmt.Errorf("%w: RSA key of %d bits is too large; at most %d are accepted", ErrInvalidKey, nBits, maxRSABits)
	}
	if nBits <= 0 {
		return nil
	}
	for _, v := range values {
		if v.bits > nBits {
			return fmt.Errorf("%w: RSA private key is too large: %s of %d bits, longer than its %d-bit modulus", ErrInvalidKey, v.name, v.bits, nBits)
		}
	}
	return nil
}

// checkRSAPrivateKey refuses a multi-prime key ([ErrUnsupportedAlgorithm]:
// PowerSync's jose and most JOSE libraries refuse them, and they cannot be
// exported as a JWK), a private key whose values do not fit together
// (primes, exponents, CRT values: [ErrInvalidKey]), and precomputes what
// makes it sign fast.
func checkRSAPrivateKey(priv *rsa.PrivateKey) error {
	if len(priv.Primes) > 2 {
		return fmt.Errorf("%w: multi-prime RSA keys (%d primes) are not supported", ErrUnsupportedAlgorithm, len(priv.Primes))
	}
	if err := priv.Validate(); err != nil {
		return fmt.Errorf("%w: RSA private key is inconsistent", ErrInvalidKey)
	}
	priv.Precompute()
	return nil
}

// checkECKey checks an ECDSA key: its public half by checkECPublicKey, and
// a private half in the process by checkECPrivateKey. It returns the key
// rebuilt from its encoding (jwx builds keys from big.Int coordinates; the
// rebuilt key is one the standard library can precompute for).
func checkECKey(spec *algSpec, pub *ecdsa.PublicKey, signer crypto.Signer, external bool) (crypto.PublicKey, crypto.Signer, error) {
	clean, err := checkECPublicKey(spec, pub)
	if err != nil {
		return nil, nil, err
	}
	priv, ok := signer.(*ecdsa.PrivateKey)
	if !ok || external {
		return clean, signer, nil
	}
	cleanPriv, err := checkECPrivateKey(spec, priv, clean)
	if err != nil {
		return nil, nil, err
	}
	return &cleanPriv.PublicKey, cleanPriv, nil
}

// checkECPublicKey refuses an EC key labelled with another family's
// algorithm or on another curve than its algorithm's (ES256 is P-256 only),
// and a point that is not on its curve. It returns the key rebuilt from its
// uncompressed encoding.
func checkECPublicKey(spec *algSpec, pub *ecdsa.PublicKey) (*ecdsa.PublicKey, error) {
	if err := checkFamily(spec, "EC", "EC"); err != nil {
		return nil, err
	}
	if pub.Curve == nil || pub.Curve.Params().Name != spec.crv {
		return nil, fmt.Errorf("%w: %s needs curve %s", ErrAlgorithmMismatch, spec.alg, spec.crv)
	}
	//lint:ignore SA1019 only checks that jwx set the coordinates, which Bytes would dereference
	if pub.X == nil || pub.Y == nil {
		return nil, fmt.Errorf("%w: EC point has no coordinates", ErrInvalidKey)
	}
	point, err := pub.Bytes() // refuses a point off the curve
	if err != nil {
		return nil, fmt.Errorf("%w: EC point is not on curve %s", ErrInvalidKey, spec.crv)
	}
	clean, err := ecdsa.ParseUncompressedPublicKey(spec.curve, point)
	if err != nil {
		return nil, fmt.Errorf("%w: EC point is not on curve %s", ErrInvalidKey, spec.crv)
	}
	return clean, nil
}

// checkECPrivateKey refuses a private scalar that is missing, out of range
// for the curve, or not the scalar of pub. It returns the private key
// rebuilt from its scalar.
func checkECPrivateKey(spec *algSpec, priv *ecdsa.PrivateKey, pub *ecdsa.PublicKey) (*ecdsa.PrivateKey, error) {
	//lint:ignore SA1019 only checks that jwx set the scalar, which Bytes would dereference
	if priv.D == nil {
		return nil, fmt.Errorf("%w: EC private key has no scalar", ErrInvalidKey)
	}
	d, err := priv.Bytes() // refuses a scalar out of range or not matching the point
	if err != nil {
		return nil, fmt.Errorf("%w: EC private key is out of range or does not match its public key", ErrInvalidKey)
	}
	clean, err := ecdsa.ParseRawPrivateKey(spec.curve, d)
	if err != nil {
		return nil, fmt.Errorf("%w: EC private key is out of range", ErrInvalidKey)
	}
	if !clean.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("%w: EC private key does not match its public key", ErrInvalidKey)
	}
	return clean, nil
}

// checkEd25519Key checks an Ed25519 key: its public half by
// checkEd25519PublicKey, and a private half in the process by
// checkEd25519PrivateKey.
func checkEd25519Key(spec *algSpec, pub ed25519.PublicKey, signer crypto.Signer, external bool) (crypto.PublicKey, crypto.Signer, error) {
	if err := checkEd25519PublicKey(spec, pub); err != nil {
		return nil, nil, err
	}
	priv, ok := signer.(ed25519.PrivateKey)
	if !ok || external {
		return pub, signer, nil
	}
	cleanPriv, err := checkEd25519PrivateKey(priv, pub)
	if err != nil {
		return nil, nil, err
	}
	return pub, cleanPriv, nil
}

// checkEd25519PublicKey refuses an Ed25519 (OKP) key labelled with another
// family's algorithm, and a public key of the wrong length.
func checkEd25519PublicKey(spec *algSpec, pub ed25519.PublicKey) error {
	if err := checkFamily(spec, "OKP", "Ed25519"); err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(pub))
	}
	return nil
}

// checkEd25519PrivateKey refuses a private key of the wrong length, or one
// whose public half is not pub. It returns the private key rebuilt from its
// RFC 8032 private key bytes, so that its second half is the right one.
func checkEd25519PrivateKey(priv ed25519.PrivateKey, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(priv))
	}
	clean := ed25519.NewKeyFromSeed(priv.Seed())
	if !clean.Public().(ed25519.PublicKey).Equal(pub) {
		return nil, fmt.Errorf("%w: Ed25519 private key does not match its public key", ErrInvalidKey)
	}
	return clean, nil
}

// checkKeyID refuses key IDs that would be awkward in a header, a JWKS or a
// log line: empty, longer than 256 bytes, invalid UTF-8 or holding control
// characters.
func checkKeyID(kid string) error {
	if !keyid.Valid(kid) {
		return fmt.Errorf("%w: key ID must be 1 to %d bytes of UTF-8 without a control character", ErrInvalidKey, keyid.MaxLength)
	}
	return nil
}
