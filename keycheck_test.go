package jwks_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestKeyChecks covers the checks every key passes, whatever it was read
// from: by key family, and of the key ID.
func TestKeyChecks(t *testing.T) {
	es256 := testkit.Key(t, jwks.ES256)
	es384 := testkit.Key(t, jwks.ES384)
	ed := testkit.Key(t, jwks.EdDSA)
	rs := testkit.Key(t, jwks.RS256)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakJWK := fmt.Sprintf(`{"kty":"RSA","alg":"RS256","kid":"weak","n":%q,"e":"AQAB"}`, b64(weak.N.Bytes()))
	weakPKCS8, err := x509.MarshalPKCS8PrivateKey(weak)
	require.NoError(t, err)
	huge := new(big.Int).Lsh(big.NewInt(1), 8192) // an odd modulus of 8193 bits
	huge.SetBit(huge, 0, 1)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	x25519PKCS8, err := x509.MarshalPKCS8PrivateKey(x25519)
	require.NoError(t, err)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	otherD, err := otherEC.Bytes()
	require.NoError(t, err)
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	ecPub := jwkMembers(t, mustPublicJWK(t, es256))
	yBytes, err := base64.RawURLEncoding.DecodeString(ecPub["y"].(string))
	require.NoError(t, err)
	yBytes[len(yBytes)-1] ^= 1 // (x, y±1) is not on the curve
	rsPub := jwkMembers(t, mustPublicJWK(t, rs))
	nBytes, err := base64.RawURLEncoding.DecodeString(rsPub["n"].(string))
	require.NoError(t, err)
	nBytes[len(nBytes)-1] &^= 1 // an even modulus

	for _, tc := range []struct {
		name  string
		input string
		want  error
	}{
		// Keys that cannot sign a PowerSync token.
		{"oct key", `{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"}`, jwks.ErrUnsupportedAlgorithm},
		{"PS256", string(mutateJWK(t, rs, true, map[string]any{"alg": "PS256"})), jwks.ErrUnsupportedAlgorithm},
		{"HS256 label on RSA", string(mutateJWK(t, rs, false, map[string]any{"alg": "HS256"})), jwks.ErrUnsupportedAlgorithm},
		{"none", string(mutateJWK(t, es256, true, map[string]any{"alg": "none"})), jwks.ErrUnsupportedAlgorithm},
		{"ES256K", `{"kty":"EC","crv":"secp256k1","alg":"ES256K","x":"AA","y":"AA"}`, jwks.ErrUnsupportedAlgorithm},
		{"secp256k1 without alg", `{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}`, jwks.ErrUnsupportedAlgorithm},
		{"X25519 JWK", `{"kty":"OKP","crv":"X25519","x":"` + b64(x25519.PublicKey().Bytes()) + `"}`, jwks.ErrUnsupportedAlgorithm},
		{"X25519 PEM", string(pemBlock("PRIVATE KEY", x25519PKCS8)), jwks.ErrUnsupportedAlgorithm},
		{"unknown kty", `{"kty":"LWE"}`, jwks.ErrUnsupportedAlgorithm},

		// RSA.
		{"RSA 1024 JWK", weakJWK, jwks.ErrWeakKey},
		{"RSA 1024 PEM", string(pemBlock("PRIVATE KEY", weakPKCS8)), jwks.ErrWeakKey},
		{"RSA modulus over 8192 bits", fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, b64(huge.Bytes())), jwks.ErrInvalidKey},
		{"RSA even modulus", string(mutateJWK(t, rs, false, map[string]any{"n": b64(nBytes)})), jwks.ErrInvalidKey},
		{"RSA exponent 1", string(mutateJWK(t, rs, false, map[string]any{"e": "AQ"})), jwks.ErrInvalidKey},
		{"RSA private key with a wrong prime", string(mutateJWK(t, rs, true, map[string]any{"p": b64(big.NewInt(65537).Bytes())})), jwks.ErrInvalidKey},
		{"RSA key labelled EdDSA", string(mutateJWK(t, rs, false, map[string]any{"alg": "EdDSA"})), jwks.ErrAlgorithmMismatch},

		// EC.
		{"P-384 key labelled ES256", string(mutateJWK(t, es384, true, map[string]any{"alg": "ES256"})), jwks.ErrAlgorithmMismatch},
		{"EC key labelled RS256", string(mutateJWK(t, es256, false, map[string]any{"alg": "RS256"})), jwks.ErrAlgorithmMismatch},
		{"EC point not on the curve", string(mutateJWK(t, es256, false, map[string]any{"y": b64(yBytes)})), jwks.ErrInvalidKey},
		{"EC private key of another point", string(mutateJWK(t, es256, true, map[string]any{"d": b64(otherD)})), jwks.ErrInvalidKey},

		// Ed25519.
		{"Ed25519 key labelled ES256", string(mutateJWK(t, ed, false, map[string]any{"alg": "ES256"})), jwks.ErrAlgorithmMismatch},
		{"Ed25519 private key of another point", string(mutateJWK(t, ed, true, map[string]any{"d": b64(otherEd.Seed())})), jwks.ErrInvalidKey},

		// What a JWK says of its use, and its key ID.
		{"encryption key", string(mutateJWK(t, es256, false, map[string]any{"use": "enc"})), jwks.ErrInvalidKey},
		{"key_ops without sign or verify", string(mutateJWK(t, es256, false, map[string]any{"key_ops": []string{"encrypt"}})), jwks.ErrInvalidKey},
		{"empty kid", string(mutateJWK(t, es256, false, map[string]any{"kid": ""})), jwks.ErrInvalidKey},
		{"kid with control character", string(mutateJWK(t, es256, false, map[string]any{"kid": "a\u0000b"})), jwks.ErrInvalidKey},
		{"kid of 257 bytes", string(mutateJWK(t, es256, false, map[string]any{"kid": strings.Repeat("k", 257)})), jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKeyRefused(t, tc.input, tc.want, es256, es384, ed, rs)
		})
	}
}

// TestKeyChecksAccept covers keys at the edges of what the checks allow.
func TestKeyChecksAccept(t *testing.T) {
	for name, input := range map[string][]byte{
		"key_ops verify":   mutateJWK(t, testkit.Key(t, jwks.ES256), false, map[string]any{"key_ops": []string{"verify"}}),
		"key_ops sign":     mutateJWK(t, testkit.Key(t, jwks.EdDSA), true, map[string]any{"key_ops": []string{"sign"}}),
		"no use":           mutateJWK(t, testkit.Key(t, jwks.RS256), false, map[string]any{"use": nil}),
		"kid of 256 bytes": mutateJWK(t, testkit.Key(t, jwks.ES384), false, map[string]any{"kid": strings.Repeat("k", 256)}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jwks.ParseKey(input)
			require.NoError(t, err)
		})
	}
}
