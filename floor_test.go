package jwks_test

// The floor: tokens made and checked with the standard library alone, as
// directly as it allows. The benchmarks compare the library with it, and the
// conformance tests use it to forge tokens the library did not make.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"time"
)

// floorHash hashes input for alg; EdDSA signs the input itself.
func floorHash(alg string, input []byte) (crypto.Hash, []byte) {
	switch alg[2:] {
	case "256":
		sum := sha256.Sum256(input)
		return crypto.SHA256, sum[:]
	case "384":
		sum := sha512.Sum384(input)
		return crypto.SHA384, sum[:]
	case "512":
		sum := sha512.Sum512(input)
		return crypto.SHA512, sum[:]
	}
	return 0, input
}

// floorSignature signs input with priv the JWS way for alg.
func floorSignature(alg string, priv crypto.PrivateKey, input []byte) ([]byte, error) {
	switch priv := priv.(type) {
	case *rsa.PrivateKey:
		h, digest := floorHash(alg, input)
		return rsa.SignPKCS1v15(nil, priv, h, digest)
	case *ecdsa.PrivateKey:
		_, digest := floorHash(alg, input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
		if err != nil {
			return nil, err
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil
	}
	return nil, errors.New("floor: unknown key type")
}

// floorVerifySignature checks a JWS signature the way floorSignature makes
// it.
func floorVerifySignature(alg string, pub crypto.PublicKey, input, sig []byte) bool {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		h, digest := floorHash(alg, input)
		return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		_, digest := floorHash(alg, input)
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	case ed25519.PublicKey:
		return ed25519.Verify(pub, input, sig)
	}
	return false
}

// floorSigner mints the Signer's default token: header {"alg","kid","typ"}
// encoded once, claims sub, aud, iat, exp.
type floorSigner struct {
	alg, header string
	priv        crypto.PrivateKey
	aud         string
	lifetime    time.Duration
}

type floorClaims struct {
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

func newFloorSigner(alg, kid string, priv crypto.PrivateKey, aud string) *floorSigner {
	header, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	return &floorSigner{alg: alg, header: base64.RawURLEncoding.EncodeToString(header), priv: priv, aud: aud, lifetime: 5 * time.Minute}
}

func (f *floorSigner) sign(sub string) (string, error) {
	now := time.Now().Unix()
	claims, err := json.Marshal(floorClaims{Sub: sub, Aud: f.aud, Iat: now, Exp: now + int64(f.lifetime/time.Second)})
	if err != nil {
		return "", err
	}
	input := f.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := floorSignature(f.alg, f.priv, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// floorVerifier checks a token with the checks PowerSync makes: the key by
// kid, alg equal to the key's, the signature, then sub, iat, exp, aud, the
// 60 s leeway and the 24 h lifetime.
type floorVerifier struct {
	keys map[string]floorKey
	aud  string
}

type floorKey struct {
	alg string
	pub crypto.PublicKey
}

type floorVerifiedClaims struct {
	Sub *string         `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Iat *float64        `json:"iat"`
	Exp *float64        `json:"exp"`
}

func (f *floorVerifier) verify(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("floor: malformed")
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", err
	}
	var header struct{ Alg, Kid string }
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return "", err
	}
	key, ok := f.keys[header.Kid]
	if !ok || key.alg != header.Alg {
		return "", errors.New("floor: unknown key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	if !floorVerifySignature(header.Alg, key.pub, []byte(token[:len(parts[0])+1+len(parts[1])]), sig) {
		return "", errors.New("floor: signature")
	}
	claimsJSON, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c floorVerifiedClaims
	if err := json.Unmarshal(claimsJSON, &c); err != nil {
		return "", err
	}
	if c.Sub == nil || c.Iat == nil || c.Exp == nil || c.Aud == nil {
		return "", errors.New("floor: missing claim")
	}
	now := float64(time.Now().Unix())
	if *c.Exp <= now-60 || *c.Exp-*c.Iat > 86400 {
		return "", errors.New("floor: expired or too long")
	}
	var auds []string
	if c.Aud[0] == '"' {
		var s string
		if err := json.Unmarshal(c.Aud, &s); err != nil {
			return "", err
		}
		auds = []string{s}
	} else if err := json.Unmarshal(c.Aud, &auds); err != nil {
		return "", err
	}
	if !slices.Contains(auds, f.aud) {
		return "", errors.New("floor: audience")
	}
	return *c.Sub, nil
}
