package jwks

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// ParseKey reads a key in any of the forms it is commonly kept in, and tells
// them apart by itself:
//
//   - a JWK as JSON, private or public ([FormatJWK]);
//   - the JWK JSON in base64, standard or URL-safe, padded or not, line
//     breaks allowed: the base64 JWK secret format of POWERSYNC_PRIVATE_KEY
//     and POWERSYNC_PUBLIC_KEY ([FormatSecret]);
//   - PEM: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY", "RSA PUBLIC
//     KEY"), SEC 1 ("EC PRIVATE KEY") or PKIX ("PUBLIC KEY"), also in base64;
//     text before the block (RFC 7468 explanatory text) is ignored, and so
//     is an "EC PARAMETERS" block.
//
// A JWK keeps its "kid" and "alg". Where the input has no algorithm, an RSA
// key is [RS256] and an EC or Ed25519 key takes its curve's algorithm (see
// [WithAlgorithm]). Where it has no key ID, the key gets its RFC 7638
// thumbprint, so that every replica that loads the same key agrees on its ID.
//
// ParseKey refuses, with an error wrapping one of [ErrKeyFormat],
// [ErrUnsupportedAlgorithm], [ErrAlgorithmMismatch], [ErrWeakKey] and
// [ErrInvalidKey]: RSA keys under 2048 bits or over 8192, multi-prime RSA
// keys, RSA public exponents over 2^31 − 1, symmetric keys, algorithms
// other than the seven of [Algorithms], a curve that does not match the
// algorithm, EC points off their curve, private halves that do not match
// their public half, and unreadable input. The size of an RSA key, and of
// its private values (none may be longer than the modulus), is read from
// its encoding before the key is validated, so that an oversized key costs
// no more than its reading. The errors never contain key material.
func ParseKey(data []byte, opts ...KeyOption) (*Key, error) {
	c, err := newKeyConfig(opts)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrKeyFormat)
	}
	if !isJSONObject(data) && !isPEM(data) {
		decoded, err := decodeBase64(data)
		if err != nil {
			return nil, fmt.Errorf("%w: neither JWK JSON, PEM, nor base64 of either", ErrKeyFormat)
		}
		data = bytes.TrimSpace(decoded)
		if !isJSONObject(data) && !isPEM(data) {
			return nil, fmt.Errorf("%w: base64 that holds neither JWK JSON nor PEM", ErrKeyFormat)
		}
	}
	if isJSONObject(data) {
		return parseJWK(data, c)
	}
	return parsePEM(data, c)
}

var pemPrefix = []byte("-----BEGIN ")

// isJSONObject reports whether trimmed input looks like a JWK.
func isJSONObject(data []byte) bool { return len(data) > 0 && data[0] == '{' }

// isPEM reports whether input holds a PEM block, possibly after text.
func isPEM(data []byte) bool { return bytes.Contains(data, pemPrefix) }

// decodeBase64 decodes standard or URL-safe base64, padded or not, ignoring
// ASCII whitespace (base64 tools wrap their output at 76 columns).
func decodeBase64(data []byte) ([]byte, error) {
	clean := make([]byte, 0, len(data))
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, b)
		}
	}
	enc := base64.StdEncoding
	if bytes.ContainsAny(clean, "-_") {
		enc = base64.URLEncoding
	}
	if !bytes.HasSuffix(clean, []byte("=")) {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out := make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(out, clean)
	return out[:n], err
}

// jwkHeader holds the members of a JWK that are read before its key
// material, by their exact names (as jwx reads the material).
type jwkHeader struct {
	Kty    string
	Alg    *string
	Kid    *string
	Use    string
	KeyOps []string
	Crv    string
	E      *string // RSA public exponent, base64url
	D      bool    // a private member "d" is present
	Oth    bool    // an "oth" member: the other primes of a multi-prime RSA key
	Keys   bool    // a "keys" member: a JWK set

	// RSA: the members of rsaJWKMembers, base64url, read for their lengths
	// (see checkJWKSizes); nil where absent or not a string.
	RSAValues [len(rsaJWKMembers)]*string
}

// rsaJWKMembers are the members of an RSA JWK whose lengths checkJWKSizes
// bounds: the modulus, then the private members.
var rsaJWKMembers = [...]string{"n", "d", "p", "q", "dp", "dq", "qi"}

// readJWKHeader reads the members of a JWK that ParseKey checks itself.
func readJWKHeader(data []byte) (jwkHeader, error) {
	h := jwkHeader{}
	o, err := decodeObject(data)
	if err != nil {
		return h, fmt.Errorf("%w: JWK is %v", ErrKeyFormat, err)
	}
	h.D, h.Oth, h.Keys = o.has("d"), o.has("oth"), o.has("keys")
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"kty", &h.Kty}, {"alg", &h.Alg}, {"kid", &h.Kid}, {"use", &h.Use}, {"key_ops", &h.KeyOps}, {"crv", &h.Crv}, {"e", &h.E},
	} {
		if err := o.get(m.name, m.dst); err != nil {
			return h, fmt.Errorf("%w: JWK member %v", ErrKeyFormat, err)
		}
	}
	if h.Kty == "RSA" {
		for i, name := range rsaJWKMembers {
			// A member of the wrong type stays nil, for jwx to refuse.
			_ = o.get(name, &h.RSAValues[i])
		}
	}
	return h, nil
}

// parseJWK reads a single JWK: its header first, then its key material
// through jwx.
func parseJWK(data []byte, c keyConfig) (*Key, error) {
	h, err := readJWKHeader(data)
	if err != nil {
		return nil, err
	}
	if h.Keys {
		return nil, fmt.Errorf("%w: a JWK set, not a single JWK", ErrKeyFormat)
	}
	spec, err := jwkAlgorithm(&h, c.alg)
	if err != nil {
		return nil, err
	}
	if h.Use != "" && h.Use != "sig" {
		return nil, fmt.Errorf("%w: JWK use %s is not sig", ErrInvalidKey, quote.Value(h.Use))
	}
	if h.KeyOps != nil && !slices.Contains(h.KeyOps, "sign") && !slices.Contains(h.KeyOps, "verify") {
		return nil, fmt.Errorf("%w: JWK key_ops allow neither sign nor verify", ErrInvalidKey)
	}
	if h.Kty == "RSA" {
		if err := checkJWKExponent(&h); err != nil {
			return nil, err
		}
		if err := checkJWKSizes(&h); err != nil {
			return nil, err
		}
	}
	if h.Kid != nil && c.kid == "" && !c.thumbprint {
		if err := checkKeyID(*h.Kid); err != nil {
			return nil, err
		}
		c.kid = *h.Kid
	}

	parsed, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s JWK members are missing or malformed", ErrKeyFormat, spec.kty)
	}
	var raw any
	if err := parsed.Raw(&raw); err != nil {
		if h.D { // jwx checks that d matches x for Ed25519
			return nil, fmt.Errorf("%w: %s private JWK members are malformed or do not match its public key", ErrInvalidKey, spec.kty)
		}
		return nil, fmt.Errorf("%w: %s JWK members are missing or malformed", ErrKeyFormat, spec.kty)
	}
	pub, signer, err := splitKey(raw)
	if err != nil {
		return nil, err
	}
	if h.D && signer == nil {
		return nil, fmt.Errorf("%w: %s JWK has a private member but no usable private key", ErrInvalidKey, spec.kty)
	}
	return newKey(spec, pub, signer, false, c)
}

// checkJWKExponent refuses a multi-prime RSA JWK (one with "oth", which jwx
// would ignore) and an "e" over 2^31 − 1, the largest exponent crypto/rsa
// works with: jwx would truncate a longer one to its low 64 bits, so that
// e = 2^64 + 65537 would read as 65537. An "e" that is not base64 is left to
// jwx to refuse.
func checkJWKExponent(h *jwkHeader) error {
	if h.Oth {
		return fmt.Errorf("%w: multi-prime RSA keys (JWK oth) are not supported", ErrUnsupportedAlgorithm)
	}
	if h.E == nil {
		return nil
	}
	e, err := decodeJWKInt(*h.E)
	if err != nil {
		return nil
	}
	if len(e) > 4 || len(e) == 4 && e[0] >= 0x80 {
		return fmt.Errorf("%w: RSA public exponent over 2^31 - 1", ErrInvalidKey)
	}
	return nil
}

// checkJWKSizes refuses an RSA JWK whose modulus is over 8192 bits or whose
// private members are longer than its modulus (see checkRSASizes), before
// jwx reads them and crypto/rsa validates them, which takes time quadratic
// in their length. A member that is not base64 is left to jwx to refuse.
func checkJWKSizes(h *jwkHeader) error {
	var nBits int
	values := make([]rsaValue, 0, len(rsaJWKMembers)-1)
	for i, name := range rsaJWKMembers {
		s := h.RSAValues[i]
		if s == nil {
			continue
		}
		b, err := decodeJWKInt(*s)
		if err != nil {
			continue
		}
		bits := new(big.Int).SetBytes(b).BitLen()
		if name == "n" {
			nBits = bits
		} else {
			values = append(values, rsaValue{name, bits})
		}
	}
	return checkRSASizes(nBits, values)
}

// decodeJWKInt decodes the base64 of a JWK's integer member, as jwx reads
// it (base64url or standard base64, padded or not), without its leading
// zero bytes.
func decodeJWKInt(s string) ([]byte, error) {
	std := strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(s, "="))
	b, err := base64.RawStdEncoding.DecodeString(std)
	return bytes.TrimLeft(b, "\x00"), err
}

// jwkAlgorithm picks the algorithm of a JWK: its own "alg", or the one the
// caller gave, or the one its key type and curve imply.
func jwkAlgorithm(h *jwkHeader, want Algorithm) (*algSpec, error) {
	switch h.Kty {
	case "RSA", "EC", "OKP":
	case "oct":
		return nil, fmt.Errorf("%w: symmetric (oct) keys cannot be published or used here", ErrUnsupportedAlgorithm)
	case "":
		return nil, fmt.Errorf("%w: JWK has no kty", ErrKeyFormat)
	default:
		return nil, fmt.Errorf("%w: key type %s", ErrUnsupportedAlgorithm, quote.Value(h.Kty))
	}
	var spec *algSpec
	switch {
	case h.Alg != nil:
		if spec = Algorithm(*h.Alg).spec(); spec == nil {
			return nil, unsupportedAlgorithm(*h.Alg)
		}
		if want != "" && want != spec.alg {
			return nil, fmt.Errorf("%w: JWK alg is %s, not %s", ErrAlgorithmMismatch, spec.alg, want)
		}
	case want != "":
		spec = want.spec()
	case h.Kty == "RSA":
		spec = RS256.spec()
	default:
		if spec = specForCurve(h.Crv); spec == nil {
			return nil, fmt.Errorf("%w: %s curve %s", ErrUnsupportedAlgorithm, h.Kty, quote.Value(h.Crv))
		}
	}
	if spec.kty != h.Kty {
		return nil, fmt.Errorf("%w: %s key labelled %s", ErrAlgorithmMismatch, h.Kty, spec.alg)
	}
	if spec.crv != "" && h.Crv != spec.crv {
		return nil, fmt.Errorf("%w: %s needs curve %s, not %s", ErrAlgorithmMismatch, spec.alg, spec.crv, quote.Value(h.Crv))
	}
	return spec, nil
}

// algorithmForPublicKey picks the algorithm of a key that carries none
// (a PEM key, an external signer's), as jwkAlgorithm does for a JWK.
func algorithmForPublicKey(pub crypto.PublicKey, want Algorithm) (*algSpec, error) {
	var kty, crv string
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		kty = "RSA"
	case *ecdsa.PublicKey:
		kty, crv = "EC", pub.Curve.Params().Name
	case ed25519.PublicKey:
		kty, crv = "OKP", "Ed25519"
	}
	h := jwkHeader{Kty: kty, Crv: crv}
	return jwkAlgorithm(&h, want)
}

// parsePEM reads the first key block of PEM input.
func parsePEM(data []byte, c keyConfig) (*Key, error) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: corrupt PEM", ErrKeyFormat)
		}
		if err := checkDERSize(block.Type, block.Bytes); err != nil {
			return nil, err
		}
		var raw any
		var err error
		switch block.Type {
		case "EC PARAMETERS": // openssl ecparam writes these before the key
			data = rest
			continue
		case "PRIVATE KEY":
			raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			raw, err = x509.ParseECPrivateKey(block.Bytes)
		case "PUBLIC KEY":
			raw, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			raw, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: encrypted PEM keys are not supported; decrypt it first", ErrKeyFormat)
		default:
			return nil, fmt.Errorf("%w: PEM block %s is not a key", ErrKeyFormat, quote.Value(block.Type))
		}
		if err != nil {
			return nil, pemError(block.Type, block.Bytes)
		}
		pub, signer, err := splitKey(raw)
		if err != nil {
			return nil, err
		}
		spec, err := algorithmForPublicKey(pub, c.alg)
		if err != nil {
			return nil, err
		}
		return newKey(spec, pub, signer, false, c)
	}
}

// pemError says why x509 refused the DER of a PEM block of type blockType.
// The x509 errors are untyped text, and some quote bytes of the input, so
// the reason is read from the DER itself (see readDERKey): the structure
// does not decode ([ErrKeyFormat]); it names a key type or curve the
// package does not support ([ErrUnsupportedAlgorithm]); it holds an RSA
// modulus under 2048 bits ([ErrWeakKey]); or else its values do not make a
// valid key ([ErrInvalidKey]).
func pemError(blockType string, der []byte) error {
	k, err := readDERKey(blockType, der)
	switch {
	case err != nil:
		return fmt.Errorf("%w: PEM %s is not valid DER", ErrKeyFormat, blockType)
	case k.kty == "":
		return fmt.Errorf("%w: PEM %s of an unsupported key type", ErrUnsupportedAlgorithm, blockType)
	case k.kty == "EC" && k.crv == "":
		return fmt.Errorf("%w: PEM %s on an unsupported curve", ErrUnsupportedAlgorithm, blockType)
	case k.kty == "RSA" && k.rsaBits > 0 && k.rsaBits < minRSABits:
		return fmt.Errorf("%w: PEM %s RSA key under %d bits", ErrWeakKey, blockType, minRSABits)
	}
	return fmt.Errorf("%w: PEM %s does not hold a valid key", ErrInvalidKey, blockType)
}

// checkDERSize refuses the DER of an RSA key of a PEM block of type
// blockType whose modulus or private values are too large (checkRSASizes),
// reading their lengths from its structure (readDERKey): the x509 parsers
// validate and precompute a private key, in time quadratic in the length
// of its values, before the key's size could be checked. DER that
// readDERKey cannot read is left to the x509 parsers to refuse.
func checkDERSize(blockType string, der []byte) error {
	k, err := readDERKey(blockType, der)
	if err != nil || k.kty != "RSA" {
		return nil
	}
	return checkRSASizes(k.rsaBits, k.rsaValues)
}

// derKey is what readDERKey finds in the DER of a key.
type derKey struct {
	kty       string     // RSA, EC or OKP (Ed25519); empty for any other key type
	crv       string     // EC: P-256, P-384 or P-521; empty for any other curve
	rsaBits   int        // RSA: the length of a positive modulus
	rsaValues []rsaValue // RSA private key: the lengths of its other values, where they decode
}

// Object identifiers of the key types and curves the package supports.
var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1} // RFC 3279
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}     // RFC 5480
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}             // RFC 8410
	oidCurves  = []struct {
		oid asn1.ObjectIdentifier
		crv string
	}{
		{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, "P-256"},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, "P-384"},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, "P-521"},
	}
)

// The ASN.1 structures of keys, with the members readDERKey reads. Members
// after those are allowed and ignored.
type (
	pkcs8Key struct { // RFC 5208 PrivateKeyInfo
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	pkixKey struct { // RFC 5280 SubjectPublicKeyInfo
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	sec1Key struct { // RFC 5915 ECPrivateKey
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	}
	pkcs1PrivateKey struct { // RFC 8017 RSAPrivateKey
		Version int
		N       *big.Int
	}
	pkcs1PrivateValues struct { // RFC 8017 RSAPrivateKey, as x509 reads it
		Version          int
		N, E, D, P, Q    *big.Int
		Dp, Dq, Qinv     *big.Int `asn1:"optional"`
		AdditionalPrimes []struct {
			Prime, Exponent, Coefficient *big.Int
		} `asn1:"optional,omitempty"`
	}
	pkcs1PublicKey struct { // RFC 8017 RSAPublicKey
		N *big.Int
	}
)

// readDERKey reads the key type, the curve and the modulus length of the
// DER of a PEM block of type blockType, without checking the key's values.
// It returns an error when the structure of the type does not decode.
func readDERKey(blockType string, der []byte) (derKey, error) {
	switch blockType {
	case "PRIVATE KEY":
		var info pkcs8Key
		if err := unmarshalDER(der, &info); err != nil {
			return derKey{}, err
		}
		return readAlgorithmKey(info.Algorithm, info.PrivateKey, true)
	case "PUBLIC KEY":
		var info pkixKey
		if err := unmarshalDER(der, &info); err != nil {
			return derKey{}, err
		}
		return readAlgorithmKey(info.Algorithm, info.PublicKey.RightAlign(), false)
	case "RSA PRIVATE KEY":
		return readRSAKey(der, true)
	case "RSA PUBLIC KEY":
		return readRSAKey(der, false)
	case "EC PRIVATE KEY":
		var key sec1Key
		if err := unmarshalDER(der, &key); err != nil {
			return derKey{}, err
		}
		return derKey{kty: "EC", crv: curveName(key.Curve)}, nil
	}
	return derKey{}, fmt.Errorf("PEM block %s is not a key", quote.Value(blockType))
}

// readAlgorithmKey reads the key that a PKCS#8 or PKIX structure wraps:
// algo names its type (and for EC, in its parameters, its curve), and inner
// holds the key of that type.
func readAlgorithmKey(algo pkix.AlgorithmIdentifier, inner []byte, private bool) (derKey, error) {
	switch {
	case algo.Algorithm.Equal(oidRSA):
		return readRSAKey(inner, private)
	case algo.Algorithm.Equal(oidEC):
		var curve asn1.ObjectIdentifier
		if err := unmarshalDER(algo.Parameters.FullBytes, &curve); err == nil {
			return derKey{kty: "EC", crv: curveName(curve)}, nil
		}
		// A PKCS#8 key may name its curve in the SEC 1 key instead.
		var key sec1Key
		if !private || unmarshalDER(inner, &key) != nil {
			return derKey{kty: "EC"}, nil
		}
		return derKey{kty: "EC", crv: curveName(key.Curve)}, nil
	case algo.Algorithm.Equal(oidEd25519):
		return derKey{kty: "OKP"}, nil
	}
	return derKey{}, nil
}

// readRSAKey reads the modulus of a PKCS#1 RSA private or public key, and
// the lengths of a private key's other values where the whole structure
// decodes (it does wherever x509 reads the key).
func readRSAKey(der []byte, private bool) (derKey, error) {
	var n *big.Int
	var values []rsaValue
	if private {
		var key pkcs1PrivateKey
		if err := unmarshalDER(der, &key); err != nil {
			return derKey{}, err
		}
		n = key.N
		var all pkcs1PrivateValues
		if unmarshalDER(der, &all) == nil {
			values = privateValueLengths(&all)
		}
	} else {
		var key pkcs1PublicKey
		if err := unmarshalDER(der, &key); err != nil {
			return derKey{}, err
		}
		n = key.N
	}
	k := derKey{kty: "RSA", rsaValues: values}
	if n != nil && n.Sign() > 0 {
		k.rsaBits = n.BitLen()
	}
	return k, nil
}

// privateValueLengths returns the lengths of the values of an RSA private
// key other than its modulus and public exponent, named as JWK members.
func privateValueLengths(key *pkcs1PrivateValues) []rsaValue {
	values := make([]rsaValue, 0, 6+3*len(key.AdditionalPrimes))
	for _, v := range []struct {
		name string
		n    *big.Int
	}{{"d", key.D}, {"p", key.P}, {"q", key.Q}, {"dp", key.Dp}, {"dq", key.Dq}, {"qi", key.Qinv}} {
		if v.n != nil {
			values = append(values, rsaValue{v.name, v.n.BitLen()})
		}
	}
	for _, a := range key.AdditionalPrimes {
		for _, n := range []*big.Int{a.Prime, a.Exponent, a.Coefficient} {
			if n != nil {
				values = append(values, rsaValue{"oth", n.BitLen()})
			}
		}
	}
	return values
}

// curveName returns the JWK name of a supported curve, or "".
func curveName(oid asn1.ObjectIdentifier) string {
	for _, c := range oidCurves {
		if c.oid.Equal(oid) {
			return c.crv
		}
	}
	return ""
}

// unmarshalDER decodes one complete DER value into v.
func unmarshalDER(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err == nil && len(rest) > 0 {
		err = errors.New("trailing data after DER value")
	}
	return err
}
