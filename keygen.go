package jwks

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/powersync-jwks/jwks/internal/quote"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Limits on keys. Shorter RSA moduli are refused (PowerSync refuses them
// too); longer ones are refused so that a hostile JWKS cannot make every
// verification expensive.
const (
	minRSABits     = 2048
	maxRSABits     = 8192
	maxKeyIDLength = 256
	keyIDPrefix    = "powersync-"
)

// A Key is a signing key or a public key, with its algorithm and key ID.
//
// A Key is immutable and safe for concurrent use. Its private half never
// leaves it by accident: String, GoString, every fmt verb, log/slog and
// encoding/json show only the key ID, the algorithm and the public key. The
// private half is exported only by an explicit call to MarshalPrivate.
type Key struct {
	kid      string
	spec     *algSpec
	public   crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	signer   crypto.Signer    // nil for a public key
	external bool             // signer is a caller's crypto.Signer (KMS, HSM)
	jwk      []byte           // the public JWK as published, compact JSON
	header   string           // base64url of the JWS header {"alg","kid","typ":"JWT"}
}

// KeyOption configures GenerateKey, ParseKey and NewExternalKey.
type KeyOption func(*keyConfig)

type keyConfig struct {
	kid        string
	thumbprint bool
	rsaBits    int
	alg        Algorithm
}

// WithKeyID sets the key ID. For ParseKey it replaces the key ID the input
// carries, if any. A key ID is 1 to 256 bytes of UTF-8 without control
// characters.
func WithKeyID(kid string) KeyOption {
	return func(c *keyConfig) { c.kid = kid }
}

// WithThumbprintKeyID sets the key ID to the key's RFC 7638 JWK thumbprint
// (SHA-256, base64url): the same key always gets the same ID, on every
// replica that loads it. For ParseKey it replaces the key ID the input
// carries, if any.
func WithThumbprintKeyID() KeyOption {
	return func(c *keyConfig) { c.thumbprint = true }
}

// WithRSABits sets the size of a new RSA key for GenerateKey: 2048 (the
// default, as the seed), 3072 or 4096 bits.
func WithRSABits(bits int) KeyOption {
	return func(c *keyConfig) { c.rsaBits = bits }
}

// WithAlgorithm sets the algorithm of a key read by ParseKey whose input does
// not name one (PEM, or a JWK without "alg"). Without it, an RSA key is
// RS256 and an EC or Ed25519 key takes the algorithm of its curve. A JWK
// that names a different algorithm is refused.
func WithAlgorithm(alg Algorithm) KeyOption {
	return func(c *keyConfig) { c.alg = alg }
}

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
// RS algorithms (see WithRSABits), a key on P-256, P-384 or P-521 for ES256,
// ES384 and ES512, and an Ed25519 key for EdDSA. Its key ID is "powersync-"
// followed by 10 random lowercase hex characters, as the seed's
// generate-keys.ts made them, unless WithKeyID or WithThumbprintKeyID says
// otherwise.
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

	var signer crypto.Signer
	switch spec.kty {
	case "RSA":
		bits := c.rsaBits
		switch bits {
		case 0:
			bits = minRSABits
		case 2048, 3072, 4096:
		default:
			sentinel := ErrInvalidKey
			if bits < minRSABits {
				sentinel = ErrWeakKey
			}
			return nil, fmt.Errorf("%w: RSA keys are made with 2048, 3072 or 4096 bits, not %d", sentinel, bits)
		}
		signer, err = rsa.GenerateKey(rand.Reader, bits)
	case "EC":
		signer, err = ecdsa.GenerateKey(spec.curve, rand.Reader)
	case "OKP":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("jwks: generating %s key: %w", alg, err)
	}
	if c.kid == "" && !c.thumbprint {
		if c.kid, err = randomKeyID(); err != nil {
			return nil, err
		}
	}
	return newKey(spec, signer.Public(), signer, false, c)
}

// randomKeyID returns "powersync-" and 10 random lowercase hex characters.
func randomKeyID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jwks: reading random key ID: %w", err)
	}
	return keyIDPrefix + hex.EncodeToString(b[:]), nil
}

// ParseKey reads a key in any of the forms it is commonly kept in, and tells
// them apart by itself:
//
//   - a JWK as JSON, private or public;
//   - the JWK JSON in base64, standard or URL-safe, padded or not, line
//     breaks allowed: the seed's POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY
//     secrets are this;
//   - PEM: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY", "RSA PUBLIC
//     KEY"), SEC 1 ("EC PRIVATE KEY") or PKIX ("PUBLIC KEY"), also in base64;
//     text before the block (RFC 7468 explanatory text) is ignored, and so
//     is an "EC PARAMETERS" block.
//
// A JWK keeps its "kid" and "alg". Where the input has no algorithm, an RSA
// key is RS256 and an EC or Ed25519 key takes its curve's algorithm (see
// WithAlgorithm). Where it has no key ID, the key gets its RFC 7638
// thumbprint, so that every replica that loads the same key agrees on its ID.
//
// ParseKey refuses, with an error wrapping one of the Err values of this
// package, RSA keys under 2048 bits, symmetric keys, algorithms other than
// the seven of Algorithms, a curve that does not match the algorithm, EC
// points off their curve, private halves that do not match their public
// half, and unreadable input. The errors never contain key material.
func ParseKey(data []byte, opts ...KeyOption) (*Key, error) {
	c, err := newKeyConfig(opts)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrKeyFormat)
	}
	if data[0] != '{' && !bytes.Contains(data, pemPrefix) {
		decoded, err := decodeBase64(data)
		if err != nil {
			return nil, fmt.Errorf("%w: neither JWK JSON, PEM, nor base64 of either", ErrKeyFormat)
		}
		data = bytes.TrimSpace(decoded)
		if len(data) == 0 || (data[0] != '{' && !bytes.Contains(data, pemPrefix)) {
			return nil, fmt.Errorf("%w: base64 that holds neither JWK JSON nor PEM", ErrKeyFormat)
		}
	}
	if data[0] == '{' {
		return parseJWK(data, c)
	}
	return parsePEM(data, c)
}

var pemPrefix = []byte("-----BEGIN ")

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
	D      bool // a private member "d" is present
	Keys   bool // a "keys" member: a JWK set
}

// readJWKHeader reads the members of a JWK that ParseKey checks itself.
func readJWKHeader(data []byte) (jwkHeader, error) {
	h := jwkHeader{}
	o, err := decodeObject(data)
	if err != nil {
		return h, fmt.Errorf("%w: JWK is %v", ErrKeyFormat, err)
	}
	h.D, h.Keys = o.has("d"), o.has("keys")
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"kty", &h.Kty}, {"alg", &h.Alg}, {"kid", &h.Kid}, {"use", &h.Use}, {"key_ops", &h.KeyOps}, {"crv", &h.Crv},
	} {
		if err := o.get(m.name, m.dst); err != nil {
			return h, fmt.Errorf("%w: JWK member %v", ErrKeyFormat, err)
		}
	}
	return h, nil
}

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
		return nil, fmt.Errorf("%w: JWK use %q is not sig", ErrInvalidKey, quote.Value(h.Use))
	}
	if h.KeyOps != nil && !containsAny(h.KeyOps, "sign", "verify") {
		return nil, fmt.Errorf("%w: JWK key_ops allow neither sign nor verify", ErrInvalidKey)
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
		return nil, fmt.Errorf("%w: key type %q", ErrUnsupportedAlgorithm, quote.Value(h.Kty))
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
			return nil, fmt.Errorf("%w: %s curve %q", ErrUnsupportedAlgorithm, h.Kty, quote.Value(h.Crv))
		}
	}
	if spec.kty != h.Kty {
		return nil, fmt.Errorf("%w: %s key labelled %s", ErrAlgorithmMismatch, h.Kty, spec.alg)
	}
	if spec.crv != "" && h.Crv != spec.crv {
		return nil, fmt.Errorf("%w: %s needs curve %s, not %q", ErrAlgorithmMismatch, spec.alg, spec.crv, quote.Value(h.Crv))
	}
	return spec, nil
}

func parsePEM(data []byte, c keyConfig) (*Key, error) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: corrupt PEM", ErrKeyFormat)
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
			return nil, fmt.Errorf("%w: PEM block %q is not a key", ErrKeyFormat, quote.Value(block.Type))
		}
		if err != nil {
			return nil, pemError(block.Type, err)
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

// pemError reports why x509 refused a PEM block without passing on its text
// verbatim: some of the x509 errors quote bytes of the input.
func pemError(blockType string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown elliptic curve"), strings.Contains(msg, "unsupported elliptic curve"):
		return fmt.Errorf("%w: PEM %s on an unsupported curve", ErrUnsupportedAlgorithm, blockType)
	case strings.Contains(msg, "unknown public key algorithm"), strings.Contains(msg, "unknown private key algorithm"),
		strings.Contains(msg, "PKCS#8 wrapping contained private key with unknown algorithm"):
		return fmt.Errorf("%w: PEM %s of an unsupported key type", ErrUnsupportedAlgorithm, blockType)
	case strings.Contains(msg, "too short"), strings.Contains(msg, "insecure"):
		return fmt.Errorf("%w: PEM %s RSA key under %d bits", ErrWeakKey, blockType, minRSABits)
	case strings.Contains(msg, "invalid"), strings.Contains(msg, "not on curve"):
		return fmt.Errorf("%w: PEM %s does not hold a valid key", ErrInvalidKey, blockType)
	}
	return fmt.Errorf("%w: PEM %s is not valid DER", ErrKeyFormat, blockType)
}

// algorithmForPublicKey picks the algorithm of a key that carries none.
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

// NewExternalKey wraps a signer whose private half stays elsewhere, such as
// a cloud KMS or an HSM key, so that a KeySet can publish it and a Signer can
// sign with it. Its Sign method receives the digest of each token (the token
// itself for EdDSA) and must return a PKCS#1 v1.5 signature for RSA, an ASN.1
// signature for ECDSA (as crypto.Signer requires; it is converted to the JWS
// form), or an Ed25519 signature. The key ID is set with WithKeyID, or else
// is the key's thumbprint.
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

// newKey checks a key against its algorithm and builds the Key. The public
// key and signer are rebuilt from their bytes where that validates them (EC
// points on their curve, private halves matching public halves).
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

// marshalJWK adds the key ID, algorithm and use to a jwx key and encodes it.
func marshalJWK(k jwk.Key, kid string, alg Algorithm) ([]byte, error) {
	for name, value := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: string(alg), jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, value); err != nil {
			return nil, fmt.Errorf("%w: setting JWK %s", ErrInvalidKey, name)
		}
	}
	out, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %s key cannot be encoded as a JWK", ErrInvalidKey, alg)
	}
	return out, nil
}

func checkKey(spec *algSpec, pub crypto.PublicKey, signer crypto.Signer, external bool) (crypto.PublicKey, crypto.Signer, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if spec.kty != "RSA" {
			return nil, nil, fmt.Errorf("%w: RSA key labelled %s", ErrAlgorithmMismatch, spec.alg)
		}
		if p.N == nil || p.N.Sign() <= 0 || p.N.Bit(0) == 0 || p.E < 3 || p.E%2 == 0 {
			return nil, nil, fmt.Errorf("%w: RSA public key is malformed", ErrInvalidKey)
		}
		if bits := p.N.BitLen(); bits < minRSABits {
			return nil, nil, fmt.Errorf("%w: RSA key of %d bits; at least %d are required", ErrWeakKey, bits, minRSABits)
		} else if bits > maxRSABits {
			return nil, nil, fmt.Errorf("%w: RSA key of %d bits; at most %d are accepted", ErrInvalidKey, bits, maxRSABits)
		}
		if priv, ok := signer.(*rsa.PrivateKey); ok && !external {
			if err := priv.Validate(); err != nil {
				return nil, nil, fmt.Errorf("%w: RSA private key is inconsistent", ErrInvalidKey)
			}
			priv.Precompute()
		}
		return p, signer, nil

	case *ecdsa.PublicKey:
		if spec.kty != "EC" {
			return nil, nil, fmt.Errorf("%w: EC key labelled %s", ErrAlgorithmMismatch, spec.alg)
		}
		if p.Curve == nil || p.Curve.Params().Name != spec.crv {
			return nil, nil, fmt.Errorf("%w: %s needs curve %s", ErrAlgorithmMismatch, spec.alg, spec.crv)
		}
		// Rebuild the key from its encoding: PublicKey.Bytes refuses points
		// off the curve, and the new key is one the standard library can
		// precompute for (jwx builds keys from big.Int coordinates).
		//lint:ignore SA1019 only checks that jwx set the coordinates, which Bytes would dereference
		if p.X == nil || p.Y == nil {
			return nil, nil, fmt.Errorf("%w: EC point has no coordinates", ErrInvalidKey)
		}
		point, err := p.Bytes()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: EC point is not on curve %s", ErrInvalidKey, spec.crv)
		}
		clean, err := ecdsa.ParseUncompressedPublicKey(spec.curve, point)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: EC point is not on curve %s", ErrInvalidKey, spec.crv)
		}
		priv, ok := signer.(*ecdsa.PrivateKey)
		if !ok || external {
			return clean, signer, nil
		}
		//lint:ignore SA1019 only checks that jwx set the scalar, which Bytes would dereference
		if priv.D == nil {
			return nil, nil, fmt.Errorf("%w: EC private key has no scalar", ErrInvalidKey)
		}
		d, err := priv.Bytes() // refuses a scalar out of range or not matching the point
		if err != nil {
			return nil, nil, fmt.Errorf("%w: EC private key is out of range or does not match its public key", ErrInvalidKey)
		}
		cleanPriv, err := ecdsa.ParseRawPrivateKey(spec.curve, d)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: EC private key is out of range", ErrInvalidKey)
		}
		if !cleanPriv.PublicKey.Equal(clean) {
			return nil, nil, fmt.Errorf("%w: EC private key does not match its public key", ErrInvalidKey)
		}
		return &cleanPriv.PublicKey, cleanPriv, nil

	case ed25519.PublicKey:
		if spec.kty != "OKP" {
			return nil, nil, fmt.Errorf("%w: Ed25519 key labelled %s", ErrAlgorithmMismatch, spec.alg)
		}
		if len(p) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(p))
		}
		priv, ok := signer.(ed25519.PrivateKey)
		if !ok || external {
			return p, signer, nil
		}
		if len(priv) != ed25519.PrivateKeySize {
			return nil, nil, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(priv))
		}
		cleanPriv := ed25519.NewKeyFromSeed(priv.Seed())
		if !cleanPriv.Public().(ed25519.PublicKey).Equal(p) {
			return nil, nil, fmt.Errorf("%w: Ed25519 private key does not match its public key", ErrInvalidKey)
		}
		return p, cleanPriv, nil
	}
	return nil, nil, fmt.Errorf("%w: key type %T", ErrUnsupportedAlgorithm, pub)
}

// checkKeyID refuses key IDs that would be awkward in a header, a JWKS or a
// log line: empty, very long, invalid UTF-8 or holding control characters.
func checkKeyID(kid string) error {
	if kid == "" || len(kid) > maxKeyIDLength || !utf8.ValidString(kid) {
		return fmt.Errorf("%w: key ID must be 1 to %d bytes of UTF-8", ErrInvalidKey, maxKeyIDLength)
	}
	for _, r := range kid {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: key ID holds a control character", ErrInvalidKey)
		}
	}
	return nil
}

// KeyID returns the key ID, the "kid" of the JWK and of every token header
// the key signs.
func (k *Key) KeyID() string { return k.kid }

// Algorithm returns the algorithm the key signs and verifies with.
func (k *Key) Algorithm() Algorithm { return k.spec.alg }

// Public returns the public key: an *rsa.PublicKey, an *ecdsa.PublicKey or
// an ed25519.PublicKey. It must not be modified.
func (k *Key) Public() crypto.PublicKey { return k.public }

// CanSign reports whether the key has a private half (in the process, or
// behind an external signer), that is whether it can be a KeySet's signing
// key.
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

// KeyFormat is an encoding of a key for MarshalPublic and MarshalPrivate.
type KeyFormat int

// The encodings ParseKey reads back.
const (
	// FormatJWK is the JSON of a JWK with "kid", "alg" and "use": "sig".
	FormatJWK KeyFormat = iota + 1
	// FormatSecret is standard base64 (padded) of the JWK JSON: the form of
	// the seed's POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY secrets.
	FormatSecret
	// FormatPEM is PEM: PKCS#8 "PRIVATE KEY" or PKIX "PUBLIC KEY".
	FormatPEM
)

// String returns the format's name: jwk, secret or pem.
func (f KeyFormat) String() string {
	switch f {
	case FormatJWK:
		return "jwk"
	case FormatSecret:
		return "secret"
	case FormatPEM:
		return "pem"
	}
	return "KeyFormat(" + strconv.Itoa(int(f)) + ")"
}

// MarshalPublic encodes the public half of the key. The JWK carries "kty",
// "kid", "alg", "use": "sig" and the public members only.
func (k *Key) MarshalPublic(f KeyFormat) ([]byte, error) {
	switch f {
	case FormatJWK:
		return bytes.Clone(k.jwk), nil
	case FormatSecret:
		return base64.StdEncoding.AppendEncode(nil, k.jwk), nil
	case FormatPEM:
		der, err := x509.MarshalPKIXPublicKey(k.public)
		if err != nil {
			return nil, fmt.Errorf("%w: %s public key cannot be encoded as PEM", ErrInvalidKey, k.spec.alg)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("%w: unknown %v", ErrKeyFormat, f)
}

// MarshalPrivate encodes the private half of the key, for storing it. It is
// the only way key material leaves a Key; handle its result as a secret. A
// public key, or an external key whose private half is not in the process,
// returns an error wrapping ErrPublicKey.
func (k *Key) MarshalPrivate(f KeyFormat) ([]byte, error) {
	if k.signer == nil {
		return nil, fmt.Errorf("%w: key %s has no private half", ErrPublicKey, k.kid)
	}
	if k.external {
		return nil, fmt.Errorf("%w: key %s is external; its private half is not in this process", ErrPublicKey, k.kid)
	}
	switch f {
	case FormatJWK, FormatSecret:
		pk, err := jwk.FromRaw(k.signer)
		if err != nil {
			return nil, fmt.Errorf("%w: %s private key cannot be encoded as a JWK", ErrInvalidKey, k.spec.alg)
		}
		out, err := marshalJWK(pk, k.kid, k.spec.alg)
		if err != nil || f == FormatJWK {
			return out, err
		}
		return base64.StdEncoding.AppendEncode(nil, out), nil
	case FormatPEM:
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return nil, fmt.Errorf("%w: %s private key cannot be encoded as PEM", ErrInvalidKey, k.spec.alg)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("%w: unknown %v", ErrKeyFormat, f)
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

// Format implements fmt.Formatter so that every verb, not only %v and %s,
// prints String (or GoString for %#v) rather than the struct's fields.
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

// LogValue implements slog.LogValuer: a group of the key ID, the algorithm
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

// MarshalJSON encodes the public JWK, so that encoding/json never sees the
// private half.
func (k Key) MarshalJSON() ([]byte, error) {
	if k.spec == nil {
		return nil, fmt.Errorf("%w: zero Key", ErrInvalidKey)
	}
	return bytes.Clone(k.jwk), nil
}

// unsupportedAlgorithm names an algorithm the package does not accept.
func unsupportedAlgorithm(alg string) error {
	if alg == "" {
		return fmt.Errorf("%w: no algorithm", ErrUnsupportedAlgorithm)
	}
	return fmt.Errorf("%w: %q (supported: RS256, RS384, RS512, ES256, ES384, ES512, EdDSA)", ErrUnsupportedAlgorithm, quote.Value(alg))
}

func containsAny(list []string, values ...string) bool {
	for _, s := range list {
		for _, v := range values {
			if s == v {
				return true
			}
		}
	}
	return false
}
