package jwks_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// defaultKeyID is the form of the key IDs GenerateKey makes.
var defaultKeyID = regexp.MustCompile(`^powersync-[0-9a-f]{10}$`)

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		alg   jwks.Algorithm
		check func(t *testing.T, pub crypto.PublicKey)
	}{
		{jwks.RS256, rsaBits(2048)},
		{jwks.RS384, rsaBits(2048)},
		{jwks.RS512, rsaBits(2048)},
		{jwks.ES256, ecCurve(elliptic.P256())},
		{jwks.ES384, ecCurve(elliptic.P384())},
		{jwks.ES512, ecCurve(elliptic.P521())},
		{jwks.EdDSA, func(t *testing.T, pub crypto.PublicKey) { assert.IsType(t, ed25519.PublicKey{}, pub) }},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			k := testkit.NewKey(t, tc.alg)
			assert.Equal(t, tc.alg, k.Algorithm())
			assert.Regexp(t, defaultKeyID, k.KeyID())
			assert.True(t, k.CanSign())
			tc.check(t, k.Public())

			other := testkit.NewKey(t, tc.alg)
			assert.NotEqual(t, k.KeyID(), other.KeyID(), "key IDs are random")
			assert.False(t, k.Equal(other))
		})
	}
}

func rsaBits(bits int) func(*testing.T, crypto.PublicKey) {
	return func(t *testing.T, pub crypto.PublicKey) {
		require.IsType(t, &rsa.PublicKey{}, pub)
		assert.Equal(t, bits, pub.(*rsa.PublicKey).N.BitLen())
	}
}

func ecCurve(c elliptic.Curve) func(*testing.T, crypto.PublicKey) {
	return func(t *testing.T, pub crypto.PublicKey) {
		require.IsType(t, &ecdsa.PublicKey{}, pub)
		assert.Equal(t, c.Params().Name, pub.(*ecdsa.PublicKey).Curve.Params().Name)
	}
}

func TestGenerateKeyOptions(t *testing.T) {
	t.Run("RSA 3072", func(t *testing.T) {
		k := testkit.NewKey(t, jwks.RS256, jwks.WithRSABits(3072))
		rsaBits(3072)(t, k.Public())
	})
	t.Run("own key ID", func(t *testing.T) {
		k := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("2026-11 primary"))
		assert.Equal(t, "2026-11 primary", k.KeyID())
	})
	t.Run("thumbprint key ID", func(t *testing.T) {
		for _, alg := range jwks.Algorithms() {
			k := testkit.Key(t, alg)
			tp, err := jwks.ParseKey(mustPublicJWK(t, k), jwks.WithThumbprintKeyID())
			require.NoError(t, err)
			assert.Equal(t, rfc7638(t, k), tp.KeyID(), alg)
		}
		k := testkit.NewKey(t, jwks.EdDSA, jwks.WithThumbprintKeyID())
		assert.Equal(t, rfc7638(t, k), k.KeyID(), "a new key named by its thumbprint")
	})
	t.Run("same algorithm option", func(t *testing.T) {
		k := testkit.NewKey(t, jwks.ES384, jwks.WithAlgorithm(jwks.ES384))
		assert.Equal(t, jwks.ES384, k.Algorithm())
	})

	for _, tc := range []struct {
		name string
		alg  jwks.Algorithm
		opts []jwks.KeyOption
		want error
	}{
		{"PS256", "PS256", nil, jwks.ErrUnsupportedAlgorithm},
		{"ES256K", "ES256K", nil, jwks.ErrUnsupportedAlgorithm},
		{"HS256", "HS256", nil, jwks.ErrUnsupportedAlgorithm},
		{"none", "none", nil, jwks.ErrUnsupportedAlgorithm},
		{"empty algorithm", "", nil, jwks.ErrUnsupportedAlgorithm},
		{"unsupported algorithm option", jwks.ES256, []jwks.KeyOption{jwks.WithAlgorithm("PS256")}, jwks.ErrUnsupportedAlgorithm},
		{"RSA 1024 bits", jwks.RS256, []jwks.KeyOption{jwks.WithRSABits(1024)}, jwks.ErrWeakKey},
		{"RSA 2047 bits", jwks.RS256, []jwks.KeyOption{jwks.WithRSABits(2047)}, jwks.ErrWeakKey},
		{"RSA 8192 bits", jwks.RS256, []jwks.KeyOption{jwks.WithRSABits(8192)}, jwks.ErrInvalidKey},
		{"RSA bits for ES256", jwks.ES256, []jwks.KeyOption{jwks.WithRSABits(2048)}, jwks.ErrAlgorithmMismatch},
		{"other algorithm option", jwks.ES256, []jwks.KeyOption{jwks.WithAlgorithm(jwks.ES384)}, jwks.ErrAlgorithmMismatch},
		{"empty key ID", jwks.ES256, []jwks.KeyOption{jwks.WithKeyID("")}, nil},
		{"key ID with newline", jwks.ES256, []jwks.KeyOption{jwks.WithKeyID("a\nb")}, jwks.ErrInvalidKey},
		{"key ID too long", jwks.ES256, []jwks.KeyOption{jwks.WithKeyID(strings.Repeat("k", 257))}, jwks.ErrInvalidKey},
		{"key ID not UTF-8", jwks.ES256, []jwks.KeyOption{jwks.WithKeyID("\xff")}, jwks.ErrInvalidKey},
		{"two key ID options", jwks.ES256, []jwks.KeyOption{jwks.WithKeyID("a"), jwks.WithThumbprintKeyID()}, jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := jwks.GenerateKey(tc.alg, tc.opts...)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Regexp(t, defaultKeyID, k.KeyID(), "an empty WithKeyID keeps the default")
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, k)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
		})
	}
}
