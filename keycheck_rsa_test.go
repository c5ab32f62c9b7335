package jwks_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestRSAKeyShapes covers the RSA keys that decode but are not the plain
// two-prime keys with a small public exponent that PowerSync (and jose)
// import: multi-prime keys, in every form they come in (ErrUnsupportedAlgorithm),
// exponents that do not fit in 31 bits, which encoding would otherwise
// truncate (ErrInvalidKey), and private keys whose primes are not the
// modulus's (ErrInvalidKey).
func TestRSAKeyShapes(t *testing.T) {
	//lint:ignore SA1019 a multi-prime key is what the test refuses
	multi, err := rsa.GenerateMultiPrimeKey(rand.Reader, 3, 2048)
	require.NoError(t, err)
	require.Len(t, multi.Primes, 3)
	multiPKCS8, err := x509.MarshalPKCS8PrivateKey(multi)
	require.NoError(t, err)
	multiPKCS1 := x509.MarshalPKCS1PrivateKey(multi)
	big64 := func(b *big.Int) string { return b64(b.Bytes()) }
	multiJWK := toJSON(t, map[string]any{
		"kty": "RSA", "n": big64(multi.N), "e": "AQAB", "d": big64(multi.D),
		"p": big64(multi.Primes[0]), "q": big64(multi.Primes[1]),
		"dp": big64(multi.Precomputed.Dp), "dq": big64(multi.Precomputed.Dq), "qi": big64(multi.Precomputed.Qinv),
		"oth": []map[string]string{{
			"r": big64(multi.Primes[2]),
			"d": big64(multi.Precomputed.CRTValues[0].Exp),
			"t": big64(multi.Precomputed.CRTValues[0].Coeff),
		}},
	})

	rs := testkit.Key(t, jwks.RS256)
	other := testkit.NewKey(t, jwks.RS256)
	otherJWK := privateJWK(t, other)
	exp := func(bits uint, plus int64) string { // 2^bits + plus
		return big64(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), bits), big.NewInt(plus)))
	}
	pkcs1Public := func(e *big.Int) []byte {
		n := jwkMembers(t, mustPublicJWK(t, rs))["n"].(string)
		nb, err := base64.RawURLEncoding.DecodeString(n)
		require.NoError(t, err)
		return pemBlock("RSA PUBLIC KEY", derOf(t, struct{ N, E *big.Int }{new(big.Int).SetBytes(nb), e}))
	}

	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		// Multi-prime keys.
		{"three-prime JWK (oth)", multiJWK, jwks.ErrUnsupportedAlgorithm},
		{"public JWK with oth", mutateJWK(t, rs, false, map[string]any{"oth": []any{}}), jwks.ErrUnsupportedAlgorithm},
		{"three-prime PKCS#1", pemBlock("RSA PRIVATE KEY", multiPKCS1), jwks.ErrUnsupportedAlgorithm},
		{"three-prime PKCS#8", pemBlock("PRIVATE KEY", multiPKCS8), jwks.ErrUnsupportedAlgorithm},
		{"three-prime PKCS#8 in base64", []byte(base64.StdEncoding.EncodeToString(pemBlock("PRIVATE KEY", multiPKCS8))), jwks.ErrUnsupportedAlgorithm},

		// Public exponents that do not fit.
		{"exponent 2^64+65537 (reads as 65537 when truncated)", mutateJWK(t, rs, false, map[string]any{"e": exp(64, 65537)}), jwks.ErrInvalidKey},
		{"exponent 2^64+65537 in a private JWK", mutateJWK(t, rs, true, map[string]any{"e": exp(64, 65537)}), jwks.ErrInvalidKey},
		{"exponent over 64 bits in standard base64", mutateJWK(t, rs, false, map[string]any{"e": base64.StdEncoding.EncodeToString([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}), jwks.ErrInvalidKey},
		{"exponent of 2049 bits", mutateJWK(t, rs, false, map[string]any{"e": exp(2048, 1)}), jwks.ErrInvalidKey},
		{"exponent 2^63-1", mutateJWK(t, rs, false, map[string]any{"e": exp(63, -1)}), jwks.ErrInvalidKey},
		{"exponent 2^40+1", mutateJWK(t, rs, false, map[string]any{"e": exp(40, 1)}), jwks.ErrInvalidKey},
		{"exponent 2^31+1", mutateJWK(t, rs, false, map[string]any{"e": exp(31, 1)}), jwks.ErrInvalidKey},
		{"PKCS#1 public key with exponent 2^31+1", pkcs1Public(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 31), big.NewInt(1))), jwks.ErrInvalidKey},
		{"PKCS#1 public key with exponent 2^64+65537", pkcs1Public(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(65537))), jwks.ErrInvalidKey},

		// Primes that are not the modulus's.
		{"JWK with another key's primes", mutateJWK(t, rs, true, map[string]any{"p": otherJWK["p"], "q": otherJWK["q"]}), jwks.ErrInvalidKey},
		{"JWK with another key's primes and CRT values", mutateJWK(t, rs, true, map[string]any{"p": otherJWK["p"], "q": otherJWK["q"], "dp": otherJWK["dp"], "dq": otherJWK["dq"], "qi": otherJWK["qi"]}), jwks.ErrInvalidKey},
		{"JWK without its primes", mutateJWK(t, rs, true, map[string]any{"p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil}), jwks.ErrInvalidKey},
		{"PKCS#1 with another key's primes", pemBlock("RSA PRIVATE KEY", pkcs1With(t, privateOf(t, rs).(*rsa.PrivateKey), privateOf(t, other).(*rsa.PrivateKey).Primes)), jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKeyRefused(t, string(tc.input), tc.want, rs, other)
		})
	}

	t.Run("exponent 2^31-1 is accepted", func(t *testing.T) {
		k, err := jwks.ParseKey(mutateJWK(t, rs, false, map[string]any{"e": exp(31, -1)}))
		require.NoError(t, err)
		assert.Equal(t, exp(31, -1), jwkMembers(t, mustPublicJWK(t, k))["e"])
	})
	t.Run("exponent with a leading zero byte is accepted", func(t *testing.T) {
		_, err := jwks.ParseKey(mutateJWK(t, rs, false, map[string]any{"e": "AAEAAQ"}))
		require.NoError(t, err)
	})
}

// derOf is asn1.Marshal that must succeed.
func derOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	require.NoError(t, err)
	return b
}

// pkcs1With writes the PKCS#1 DER of k with its primes (and CRT values)
// replaced by primes.
func pkcs1With(t testing.TB, k *rsa.PrivateKey, primes []*big.Int) []byte {
	t.Helper()
	p, q := primes[0], primes[1]
	one := big.NewInt(1)
	dp := new(big.Int).Mod(k.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(k.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	return derOf(t, struct {
		Version               int
		N                     *big.Int
		E                     int
		D, P, Q, Dp, Dq, Qinv *big.Int
	}{0, k.N, k.E, k.D, p, q, dp, dq, qinv})
}

// TestRSAKeySizes covers RSA keys too large to be worth computing with: a
// modulus over 8192 bits, or private values (d, p, q, the CRT values, the
// primes of a multi-prime key) longer than the modulus, which no valid key
// has. Their lengths are read from the encoding before the x509 parsers or
// crypto/rsa validate or precompute the key, which takes time quadratic in
// the values' length (seconds for a few hundred kilobytes): the values
// here are random numbers that make no valid key, so that a refusal that
// says "too large" is one made before the key was checked.
func TestRSAKeySizes(t *testing.T) {
	rs := testkit.Key(t, jwks.RS256)
	priv := privateOf(t, rs).(*rsa.PrivateKey)
	huge := func() *big.Int { // a random odd number of 20000 bits
		b := make([]byte, 2500)
		_, err := rand.Read(b)
		require.NoError(t, err)
		b[0] |= 0x80
		b[len(b)-1] |= 1
		return new(big.Int).SetBytes(b)
	}
	type otherPrime struct{ Prime, Exponent, Coefficient *big.Int }
	type pkcs1 struct {
		Version               int
		N                     *big.Int
		E                     int
		D, P, Q, Dp, Dq, Qinv *big.Int
		AdditionalPrimes      []otherPrime `asn1:"optional,omitempty"`
	}
	pkcs8 := func(pkcs1 []byte) []byte {
		return derOf(t, struct {
			Version    int
			Algorithm  pkix.AlgorithmIdentifier
			PrivateKey []byte
		}{0, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, Parameters: asn1.NullRawValue}, pkcs1})
	}
	pre := priv.Precomputed
	allHuge := derOf(t, pkcs1{0, huge(), 65537, huge(), huge(), huge(), huge(), huge(), huge(), nil})
	hugePrimes := derOf(t, pkcs1{0, priv.N, priv.E, huge(), huge(), huge(), pre.Dp, pre.Dq, pre.Qinv, nil})
	hugeQinv := derOf(t, pkcs1{0, priv.N, priv.E, priv.D, priv.Primes[0], priv.Primes[1], pre.Dp, pre.Dq, huge(), nil})
	hugeOther := derOf(t, pkcs1{1, priv.N, priv.E, priv.D, priv.Primes[0], priv.Primes[1], pre.Dp, pre.Dq, pre.Qinv, []otherPrime{{huge(), huge(), huge()}}})
	hugeModulus := huge()
	std := func(n *big.Int) string { return base64.StdEncoding.EncodeToString(n.Bytes()) }

	const modulus, value = "is too large; at most 8192 are accepted", "RSA private key is too large"
	for _, tc := range []struct {
		name  string
		input []byte
		says  string
	}{
		// PEM, read from the DER before x509 parses it.
		{"PKCS#1 of 20000-bit values", pemBlock("RSA PRIVATE KEY", allHuge), modulus},
		{"PKCS#8 of 20000-bit values", pemBlock("PRIVATE KEY", pkcs8(allHuge)), modulus},
		{"PKCS#8 of 20000-bit values in base64", []byte(base64.StdEncoding.EncodeToString(pemBlock("PRIVATE KEY", pkcs8(allHuge)))), modulus},
		{"PKCS#1 public key of 20000 bits", pemBlock("RSA PUBLIC KEY", derOf(t, struct {
			N *big.Int
			E int
		}{hugeModulus, 65537})), modulus},
		{"PKCS#1 with a 2048-bit modulus and 20000-bit d, p, q", pemBlock("RSA PRIVATE KEY", hugePrimes), value},
		{"PKCS#8 with a 2048-bit modulus and 20000-bit d, p, q", pemBlock("PRIVATE KEY", pkcs8(hugePrimes)), value},
		{"PKCS#1 with a 20000-bit CRT coefficient", pemBlock("RSA PRIVATE KEY", hugeQinv), value},
		{"three-prime PKCS#1 with a 20000-bit third prime", pemBlock("RSA PRIVATE KEY", hugeOther), value},

		// JWK, read before jwx.
		{"JWK with a 2048-bit n and 20000-bit d, p, q", mutateJWK(t, rs, true, map[string]any{"d": b64(huge().Bytes()), "p": b64(huge().Bytes()), "q": b64(huge().Bytes())}), value},
		{"JWK with a 20000-bit d", mutateJWK(t, rs, true, map[string]any{"d": b64(huge().Bytes())}), value},
		{"JWK with a 20000-bit qi", mutateJWK(t, rs, true, map[string]any{"qi": b64(huge().Bytes())}), value},
		{"JWK with a 20000-bit p in padded standard base64", mutateJWK(t, rs, true, map[string]any{"p": std(huge())}), value},
		{"JWK with d, p, q of 2049 bits and n of 2048", mutateJWK(t, rs, true, map[string]any{
			"d": b64(append([]byte{1}, priv.D.Bytes()...)), "p": b64(append([]byte{1}, priv.N.Bytes()...)), "q": b64(append([]byte{1}, priv.N.Bytes()...)),
		}), value},
		{"JWK of 20000-bit values", mutateJWK(t, rs, true, map[string]any{"n": b64(hugeModulus.Bytes()), "d": b64(huge().Bytes()), "p": b64(huge().Bytes())}), modulus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKeyRefused(t, string(tc.input), jwks.ErrInvalidKey, rs)
			_, err := jwks.ParseKey(tc.input)
			assert.Contains(t, err.Error(), tc.says)
		})
	}

	t.Run("private members with leading zero bytes are accepted", func(t *testing.T) {
		m := privateJWK(t, rs)
		for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			raw, err := base64.RawURLEncoding.DecodeString(m[name].(string))
			require.NoError(t, err)
			m[name] = b64(append(make([]byte, 300), raw...))
		}
		k, err := jwks.ParseKey(toJSON(t, m))
		require.NoError(t, err)
		assert.True(t, k.Equal(rs))
		assert.True(t, k.CanSign())
	})
}
