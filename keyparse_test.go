package jwks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestParseKeyEncodings(t *testing.T) {
	k := testkit.Key(t, jwks.ES256)
	jwk, err := k.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	pemKey, err := k.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	wrapped := func(s string) string { // as base64(1) writes it: 76 columns
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString(s[:76] + "\n")
			s = s[76:]
		}
		return b.String() + s + "\n"
	}

	for name, input := range map[string]string{
		"JSON":                      string(jwk),
		"JSON with spaces":          "\n  " + string(jwk) + "\n",
		"standard base64":           base64.StdEncoding.EncodeToString(jwk),
		"standard base64 unpadded":  base64.RawStdEncoding.EncodeToString(jwk),
		"URL-safe base64":           base64.URLEncoding.EncodeToString(jwk),
		"URL-safe base64 unpadded":  base64.RawURLEncoding.EncodeToString(jwk),
		"base64 in lines":           wrapped(base64.StdEncoding.EncodeToString(jwk)),
		"PEM":                       string(pemKey),
		"base64 of PEM":             base64.StdEncoding.EncodeToString(pemKey),
		"PEM with explanatory text": "Key for the staging instance\n" + string(pemKey),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := jwks.ParseKey([]byte(input), jwks.WithKeyID(k.KeyID()))
			require.NoError(t, err)
			assert.True(t, got.Equal(k))
			assert.True(t, got.CanSign())
		})
	}
}

func TestParseKeyPEMKinds(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	pkix, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	require.NoError(t, err)
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 5, 43, 129, 4, 0, 34}})

	for _, tc := range []struct {
		name    string
		pem     []byte
		alg     jwks.Algorithm
		canSign bool
	}{
		{"PKCS#1 private", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), jwks.RS256, true},
		{"PKCS#1 public", pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), jwks.RS256, false},
		{"SEC 1", pemBlock("EC PRIVATE KEY", sec1), jwks.ES384, true},
		{"SEC 1 after EC PARAMETERS", append(ecParams, pemBlock("EC PRIVATE KEY", sec1)...), jwks.ES384, true},
		{"PKIX", pemBlock("PUBLIC KEY", pkix), jwks.ES384, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := jwks.ParseKey(tc.pem)
			require.NoError(t, err)
			assert.Equal(t, tc.alg, k.Algorithm())
			assert.Equal(t, tc.canSign, k.CanSign())
			assert.Equal(t, rfc7638(t, k), k.KeyID(), "a PEM key is named by its thumbprint")
		})
	}

	t.Run("RSA PEM as RS512", func(t *testing.T) {
		k, err := jwks.ParseKey(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), jwks.WithAlgorithm(jwks.RS512))
		require.NoError(t, err)
		assert.Equal(t, jwks.RS512, k.Algorithm())
	})
}

func TestParseKeyInfersAlgorithmAndKeyID(t *testing.T) {
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k := testkit.Key(t, alg)
			m := privateJWK(t, k)
			delete(m, "alg")
			delete(m, "kid")
			got, err := jwks.ParseKey(toJSON(t, m))
			require.NoError(t, err)
			want := alg
			if strings.HasPrefix(string(alg), "RS") {
				want = jwks.RS256 // RSA keys say nothing of their hash
			}
			assert.Equal(t, want, got.Algorithm())
			assert.Equal(t, rfc7638(t, k), got.KeyID(), "the key ID is the thumbprint, the same on every replica")
		})
	}
}

func TestParseKeyAlgorithmOption(t *testing.T) {
	es := testkit.Key(t, jwks.ES256)
	_, err := jwks.ParseKey(mustPublicJWK(t, es), jwks.WithAlgorithm(jwks.ES384))
	require.ErrorIs(t, err, jwks.ErrAlgorithmMismatch, "a JWK's own alg wins over a conflicting option")

	_, err = jwks.ParseKey(mustPublicJWK(t, es), jwks.WithAlgorithm("PS256"))
	require.ErrorIs(t, err, jwks.ErrUnsupportedAlgorithm)

	got, err := jwks.ParseKey(mustPublicJWK(t, es), jwks.WithKeyID("renamed"))
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.KeyID())
}

func TestParseKeyRefusesUnreadableInput(t *testing.T) {
	es256 := testkit.Key(t, jwks.ES256)
	rs := testkit.Key(t, jwks.RS256)
	for _, tc := range []struct {
		name  string
		input string
		want  error
	}{
		{"empty", "", jwks.ErrKeyFormat},
		{"only whitespace", " \n\t", jwks.ErrKeyFormat},
		{"corrupt base64", "not base64 at all!", jwks.ErrKeyFormat},
		{"base64 of neither JSON nor PEM", base64.StdEncoding.EncodeToString([]byte("hello world")), jwks.ErrKeyFormat},
		{"base64 of whitespace", base64.StdEncoding.EncodeToString([]byte("  \n")), jwks.ErrKeyFormat},
		{"corrupt JSON", `{"kty":"EC",`, jwks.ErrKeyFormat},
		{"JSON of the wrong shape", `{"kty":["EC"]}`, jwks.ErrKeyFormat},
		{"JWK without kty", `{"crv":"P-256"}`, jwks.ErrKeyFormat},
		{"kty in capitals only", `{"KTY":"EC","crv":"P-256","x":"AA","y":"AA"}`, jwks.ErrKeyFormat},
		{"oct behind a capitalised EC", strings.Replace(string(mutateJWK(t, es256, false, map[string]any{"KTY": "EC"})), `"kty":"EC"`, `"kty":"oct"`, 1), jwks.ErrUnsupportedAlgorithm},
		{"JWK set", `{"keys":[` + string(mustPublicJWK(t, es256)) + `]}`, jwks.ErrKeyFormat},
		{"EC JWK without y", string(mutateJWK(t, es256, false, map[string]any{"y": nil})), jwks.ErrKeyFormat},
		{"RSA JWK with bad n", string(mutateJWK(t, rs, false, map[string]any{"n": "%%%"})), jwks.ErrKeyFormat},
		{"corrupt PEM", "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", jwks.ErrKeyFormat},
		{"PEM of garbage DER", string(pemBlock("PRIVATE KEY", []byte("garbage"))), jwks.ErrKeyFormat},
		{"encrypted PEM", string(pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0})), jwks.ErrKeyFormat},
		{"certificate PEM", string(pemBlock("CERTIFICATE", []byte{0x30, 0})), jwks.ErrKeyFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKeyRefused(t, tc.input, tc.want, es256, rs)
		})
	}
}

// TestParseKeyPEMRefusals covers the DER that x509 refuses: the reason is
// read from the DER's structure, never from the text of x509's error.
func TestParseKeyPEMRefusals(t *testing.T) {
	rs := testkit.Key(t, jwks.RS256)
	es := testkit.Key(t, jwks.ES256)
	ed := testkit.Key(t, jwks.EdDSA)
	rsaPriv := privateOf(t, rs).(*rsa.PrivateKey)
	ecPriv := privateOf(t, es).(*ecdsa.PrivateKey)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)

	var (
		oidRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
		oidEC        = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
		oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
		oidEd448     = asn1.ObjectIdentifier{1, 3, 101, 113}
		oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
		oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	)
	der := func(v any) []byte {
		t.Helper()
		b, err := asn1.Marshal(v)
		require.NoError(t, err)
		return b
	}
	oidParams := func(oid asn1.ObjectIdentifier) asn1.RawValue { return asn1.RawValue{FullBytes: der(oid)} }
	type pkcs8 struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	type spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	type sec1 struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	}
	// pkcs1 writes an RSA private key whose second prime is replaced by q.
	pkcs1 := func(k *rsa.PrivateKey, q *big.Int) []byte {
		return der(struct {
			Version               int
			N                     *big.Int
			E                     int
			D, P, Q, Dp, Dq, Qinv *big.Int
		}{0, k.N, k.E, k.D, k.Primes[0], q, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv})
	}
	badQ := new(big.Int).Add(rsaPriv.Primes[1], big.NewInt(2))
	weakBadQ := new(big.Int).Add(weak.Primes[1], big.NewInt(2))
	uncompressed, err := ecPriv.PublicKey.Bytes() // 04 ‖ X ‖ Y
	require.NoError(t, err)
	compressed := append([]byte{2 | uncompressed[64]&1}, uncompressed[1:33]...)
	offCurve := append([]byte(nil), uncompressed...)
	offCurve[len(offCurve)-1] ^= 1
	rsaAlgo := pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue}

	for _, tc := range []struct {
		name, blockType string
		der             []byte
		want            error
	}{
		// The structure does not decode.
		{"PKCS#1 with trailing data", "RSA PRIVATE KEY", append(x509.MarshalPKCS1PrivateKey(rsaPriv), 0), jwks.ErrKeyFormat},
		{"PKCS#8 of RSA garbage", "PRIVATE KEY", der(pkcs8{0, rsaAlgo, []byte("garbage")}), jwks.ErrKeyFormat},
		{"SEC 1 garbage", "EC PRIVATE KEY", []byte{0x30, 3, 2, 1}, jwks.ErrKeyFormat},

		// Key types and curves the package does not support.
		{"PKCS#8 of Ed448", "PRIVATE KEY", der(pkcs8{0, pkix.AlgorithmIdentifier{Algorithm: oidEd448}, der(make([]byte, 57))}), jwks.ErrUnsupportedAlgorithm},
		{"PKIX of Ed448", "PUBLIC KEY", der(spki{pkix.AlgorithmIdentifier{Algorithm: oidEd448}, asn1.BitString{Bytes: make([]byte, 57), BitLength: 57 * 8}}), jwks.ErrUnsupportedAlgorithm},
		{"SEC 1 on secp256k1", "EC PRIVATE KEY", der(sec1{1, make([]byte, 32), oidSecp256k1}), jwks.ErrUnsupportedAlgorithm},
		{"PKCS#8 on secp256k1", "PRIVATE KEY", der(pkcs8{0, pkix.AlgorithmIdentifier{Algorithm: oidEC, Parameters: oidParams(oidSecp256k1)}, der(sec1{Version: 1, PrivateKey: make([]byte, 32)})}), jwks.ErrUnsupportedAlgorithm},
		{"PKCS#8 naming its curve in the SEC 1 key", "PRIVATE KEY", der(pkcs8{0, pkix.AlgorithmIdentifier{Algorithm: oidEC}, der(sec1{1, make([]byte, 32), oidSecp256k1})}), jwks.ErrUnsupportedAlgorithm},
		{"PKIX on secp256k1", "PUBLIC KEY", der(spki{pkix.AlgorithmIdentifier{Algorithm: oidEC, Parameters: oidParams(oidSecp256k1)}, asn1.BitString{Bytes: make([]byte, 65), BitLength: 65 * 8}}), jwks.ErrUnsupportedAlgorithm},

		// RSA moduli under 2048 bits, however broken the rest.
		{"PKCS#1 of 1024 bits with a wrong prime", "RSA PRIVATE KEY", pkcs1(weak, weakBadQ), jwks.ErrWeakKey},
		{"PKCS#8 of 1024 bits with a wrong prime", "PRIVATE KEY", der(pkcs8{0, rsaAlgo, pkcs1(weak, weakBadQ)}), jwks.ErrWeakKey},

		// Structures that decode but do not hold a valid key.
		{"PKCS#1 with a wrong prime", "RSA PRIVATE KEY", pkcs1(rsaPriv, badQ), jwks.ErrInvalidKey},
		{"PKCS#8 RSA with a wrong prime", "PRIVATE KEY", der(pkcs8{0, rsaAlgo, pkcs1(rsaPriv, badQ)}), jwks.ErrInvalidKey},
		{"PKCS#1 public key of modulus 0", "RSA PUBLIC KEY", der(struct{ N, E *big.Int }{big.NewInt(0), big.NewInt(65537)}), jwks.ErrInvalidKey},
		{"SEC 1 with a zero scalar", "EC PRIVATE KEY", der(sec1{1, make([]byte, 32), oidP256}), jwks.ErrInvalidKey},
		{"PKIX EC point off the curve", "PUBLIC KEY", der(spki{pkix.AlgorithmIdentifier{Algorithm: oidEC, Parameters: oidParams(oidP256)}, asn1.BitString{Bytes: offCurve, BitLength: len(offCurve) * 8}}), jwks.ErrInvalidKey},
		{"PKIX EC point compressed", "PUBLIC KEY", der(spki{pkix.AlgorithmIdentifier{Algorithm: oidEC, Parameters: oidParams(oidP256)}, asn1.BitString{Bytes: compressed, BitLength: len(compressed) * 8}}), jwks.ErrInvalidKey},
		{"PKCS#8 Ed25519 of 31 bytes", "PRIVATE KEY", der(pkcs8{0, pkix.AlgorithmIdentifier{Algorithm: oidEd25519}, der(make([]byte, 31))}), jwks.ErrInvalidKey},
		{"PKIX Ed25519 of 31 bytes", "PUBLIC KEY", der(spki{pkix.AlgorithmIdentifier{Algorithm: oidEd25519}, asn1.BitString{Bytes: make([]byte, 31), BitLength: 31 * 8}}), jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKeyRefused(t, string(pemBlock(tc.blockType, tc.der)), tc.want, rs, es, ed)
		})
	}
}
