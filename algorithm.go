package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// Algorithm is a JWS signature algorithm (RFC 7518 section 3, RFC 8037). The
// seven values below are the asymmetric algorithms PowerSync accepts; nothing
// else can sign or publish a key in this package.
type Algorithm string

// The supported algorithms. ES256 is the default for new keys: Go signs it
// about 30 times faster than RS256 and its tokens are about 40% shorter
// (a 64-byte signature against 256). RS256 is the usual algorithm of
// existing POWERSYNC_PRIVATE_KEY secrets, which [ParseKey] reads unchanged;
// EdDSA means Ed25519.
const (
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	RS384 Algorithm = "RS384" // RSASSA-PKCS1-v1_5 with SHA-384
	RS512 Algorithm = "RS512" // RSASSA-PKCS1-v1_5 with SHA-512
	ES256 Algorithm = "ES256" // ECDSA on P-256 with SHA-256
	ES384 Algorithm = "ES384" // ECDSA on P-384 with SHA-384
	ES512 Algorithm = "ES512" // ECDSA on P-521 with SHA-512
	EdDSA Algorithm = "EdDSA" // Ed25519
)

// Algorithms returns the supported algorithms, RSA first, in a new slice.
func Algorithms() []Algorithm {
	return []Algorithm{RS256, RS384, RS512, ES256, ES384, ES512, EdDSA}
}

// String returns the algorithm's JOSE name.
func (a Algorithm) String() string { return string(a) }

// Supported reports whether a is one of the seven supported algorithms.
func (a Algorithm) Supported() bool { return a.spec() != nil }

// algSpec is what the package knows about one algorithm. The values are
// shared and never modified.
type algSpec struct {
	alg   Algorithm
	kty   string         // JWK key type: RSA, EC or OKP
	crv   string         // JWK curve name; empty for RSA
	curve elliptic.Curve // ECDSA only
	size  int            // ECDSA only: bytes per coordinate, and per half of R‖S
	hash  crypto.Hash    // zero for EdDSA, which hashes internally
}

var algSpecs = [...]algSpec{
	{alg: RS256, kty: "RSA", hash: crypto.SHA256},
	{alg: RS384, kty: "RSA", hash: crypto.SHA384},
	{alg: RS512, kty: "RSA", hash: crypto.SHA512},
	{alg: ES256, kty: "EC", crv: "P-256", curve: elliptic.P256(), size: 32, hash: crypto.SHA256},
	{alg: ES384, kty: "EC", crv: "P-384", curve: elliptic.P384(), size: 48, hash: crypto.SHA384},
	{alg: ES512, kty: "EC", crv: "P-521", curve: elliptic.P521(), size: 66, hash: crypto.SHA512},
	{alg: EdDSA, kty: "OKP", crv: "Ed25519"},
}

// spec returns the description of a, or nil when a is not supported.
func (a Algorithm) spec() *algSpec {
	for i := range algSpecs {
		if algSpecs[i].alg == a {
			return &algSpecs[i]
		}
	}
	return nil
}

// unsupportedAlgorithm is the error for an algorithm the package does not
// accept, wrapping ErrUnsupportedAlgorithm; keys and tokens both use it.
func unsupportedAlgorithm(alg string) error {
	if alg == "" {
		return fmt.Errorf("%w: no algorithm", ErrUnsupportedAlgorithm)
	}
	return fmt.Errorf("%w: %s (supported: RS256, RS384, RS512, ES256, ES384, ES512, EdDSA)", ErrUnsupportedAlgorithm, quote.Value(alg))
}

// specForCurve returns the ECDSA or EdDSA algorithm whose curve is crv.
func specForCurve(crv string) *algSpec {
	for i := range algSpecs {
		if algSpecs[i].crv != "" && algSpecs[i].crv == crv {
			return &algSpecs[i]
		}
	}
	return nil
}

// digest hashes the signing input with the algorithm's hash, into buf when it
// is large enough, so that the common case does not allocate.
func (s *algSpec) digest(buf *[64]byte, input []byte) []byte {
	switch s.hash {
	case crypto.SHA256:
		*(*[32]byte)(buf[:32]) = sha256.Sum256(input)
		return buf[:32]
	case crypto.SHA384:
		*(*[48]byte)(buf[:48]) = sha512.Sum384(input)
		return buf[:48]
	case crypto.SHA512:
		*buf = sha512.Sum512(input)
		return buf[:64]
	}
	return input // EdDSA signs the message itself
}

// sign signs the JWS signing input with signer and returns the signature in
// its JWS form: PKCS#1 v1.5 for RSA, R‖S of fixed width for ECDSA, the 64
// bytes of Ed25519. The standard library's own key types take the direct
// route; any other crypto.Signer (a KMS or HSM key) is asked through its Sign
// method and its answer converted.
func (s *algSpec) sign(signer crypto.Signer, input []byte) ([]byte, error) {
	var buf [64]byte
	switch priv := signer.(type) {
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, priv, s.digest(&buf, input))
		if err != nil {
			return nil, err
		}
		return s.rawECDSA(r, ss)
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(nil, priv, s.hash, s.digest(&buf, input))
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil
	}

	// An external signer.
	if s.kty == "OKP" {
		sig, err := signer.Sign(rand.Reader, input, crypto.Hash(0))
		if err != nil {
			return nil, err
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("external signer returned a %d-byte Ed25519 signature", len(sig))
		}
		return sig, nil
	}
	sig, err := signer.Sign(rand.Reader, s.digest(&buf, input), s.hash)
	if err != nil || s.kty != "EC" {
		return sig, err
	}
	// crypto.Signer returns ECDSA signatures in ASN.1 DER; JWS wants R‖S.
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		return nil, errors.New("external signer returned a malformed ECDSA signature")
	}
	return s.rawECDSA(rs.R, rs.S)
}

// rawECDSA encodes r and s as the fixed-width R‖S of RFC 7518 section 3.4.
func (s *algSpec) rawECDSA(r, ss *big.Int) ([]byte, error) {
	if r.Sign() <= 0 || ss.Sign() <= 0 || r.BitLen() > 8*s.size || ss.BitLen() > 8*s.size {
		return nil, errors.New("ECDSA signature out of range")
	}
	out := make([]byte, 2*s.size)
	r.FillBytes(out[:s.size])
	ss.FillBytes(out[s.size:])
	return out, nil
}

// verify reports whether sig is a valid JWS signature of input under pub,
// which must be of the key type of s. An ECDSA signature must be R‖S of the
// exact width for the curve: ASN.1 DER signatures are refused.
func (s *algSpec) verify(pub crypto.PublicKey, input, sig []byte) bool {
	var buf [64]byte
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 2*s.size {
			return false
		}
		var der [maxECDSADER]byte
		return ecdsa.VerifyASN1(pub, s.digest(&buf, input), appendECDSADER(der[:0], sig[:s.size], sig[s.size:]))
	case *rsa.PublicKey:
		if len(sig) != pub.Size() {
			return false
		}
		return rsa.VerifyPKCS1v15(pub, s.hash, s.digest(&buf, input), sig) == nil
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, input, sig)
	}
	return false
}

// maxECDSADER is the length of the longest ASN.1 DER ECDSA signature, of
// P-521: SEQUENCE (with a two-byte length) of two INTEGERs of 66 bytes, each
// with a tag, a length and perhaps a zero byte ahead.
const maxECDSADER = 3 + 2*(2+1+66)

// appendECDSADER appends the ASN.1 DER form, SEQUENCE { INTEGER r, INTEGER
// s }, of the big-endian r and s of a JWS signature: what
// ecdsa.VerifyASN1 reads, without the big.Int conversions of ecdsa.Verify.
// The values are not range-checked here: VerifyASN1 refuses zero and
// values out of range as ecdsa.Verify does.
func appendECDSADER(dst, r, s []byte) []byte {
	var body [maxECDSADER - 3]byte
	b := appendASN1Int(appendASN1Int(body[:0], r), s)
	dst = append(dst, 0x30) // SEQUENCE
	if len(b) >= 0x80 {
		dst = append(dst, 0x81) // one length byte follows
	}
	dst = append(dst, byte(len(b)))
	return append(dst, b...)
}

// appendASN1Int appends the DER INTEGER of the unsigned big-endian v: no
// leading zero bytes but one ahead of a high bit, so that it stays positive.
func appendASN1Int(dst, v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	pad := v[0]&0x80 != 0
	n := len(v)
	if pad {
		n++
	}
	dst = append(dst, 0x02, byte(n)) // INTEGER, under 128 bytes
	if pad {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}
