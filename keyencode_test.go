package jwks_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestParseKeyRoundTrip(t *testing.T) {
	for _, alg := range jwks.Algorithms() {
		k := testkit.Key(t, alg)
		for _, f := range []jwks.KeyFormat{jwks.FormatJWK, jwks.FormatSecret, jwks.FormatPEM} {
			t.Run(fmt.Sprintf("%s/%v", alg, f), func(t *testing.T) {
				priv, err := k.MarshalPrivate(f)
				require.NoError(t, err)
				pub, err := k.MarshalPublic(f)
				require.NoError(t, err)

				opts := []jwks.KeyOption{}
				if f == jwks.FormatPEM { // PEM carries neither alg nor kid
					opts = append(opts, jwks.WithAlgorithm(alg), jwks.WithKeyID(k.KeyID()))
				}
				gotPriv, err := jwks.ParseKey(priv, opts...)
				require.NoError(t, err)
				assert.True(t, gotPriv.CanSign())
				assert.True(t, gotPriv.Equal(k), "private %v reads back as the same key", f)
				again, err := gotPriv.MarshalPrivate(f)
				require.NoError(t, err)
				assert.Equal(t, string(priv), string(again), "encoding is stable")

				gotPub, err := jwks.ParseKey(pub, opts...)
				require.NoError(t, err)
				assert.False(t, gotPub.CanSign())
				assert.True(t, gotPub.Equal(k), "public %v reads back as the same key", f)
			})
		}
	}
}

func TestFormatSecretIsBase64OfJWK(t *testing.T) {
	k := testkit.Key(t, jwks.RS256)
	for _, marshal := range []func(jwks.KeyFormat) ([]byte, error){k.MarshalPublic, k.MarshalPrivate} {
		jwk, err := marshal(jwks.FormatJWK)
		require.NoError(t, err)
		secret, err := marshal(jwks.FormatSecret)
		require.NoError(t, err)
		assert.Equal(t, base64.StdEncoding.EncodeToString(jwk), string(secret), "standard base64, padded, of the JWK JSON")
	}
}

func TestPublicJWKMembers(t *testing.T) {
	want := map[string][]string{
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for _, alg := range jwks.Algorithms() {
		k := testkit.Key(t, alg)
		m := jwkMembers(t, mustPublicJWK(t, k))
		var names []string
		for name := range m {
			names = append(names, name)
		}
		assert.ElementsMatch(t, want[m["kty"].(string)], names, alg)
		assert.Equal(t, "sig", m["use"])
		assert.Equal(t, string(alg), m["alg"])
		assert.Equal(t, k.KeyID(), m["kid"])
		if m["kty"] == "EC" { // fixed-width coordinates, RFC 7518 section 6.2.1.2
			size := map[string]int{"P-256": 32, "P-384": 48, "P-521": 66}[m["crv"].(string)]
			for _, c := range []string{"x", "y"} {
				raw, err := base64.RawURLEncoding.DecodeString(m[c].(string))
				require.NoError(t, err)
				assert.Len(t, raw, size)
			}
		}
	}
}

func TestMarshalPrivateOfPublicKey(t *testing.T) {
	pub := testkit.Key(t, jwks.ES256).PublicOnly()
	assert.False(t, pub.CanSign())
	assert.Same(t, pub, pub.PublicOnly())
	for _, f := range []jwks.KeyFormat{jwks.FormatJWK, jwks.FormatSecret, jwks.FormatPEM} {
		_, err := pub.MarshalPrivate(f)
		require.ErrorIs(t, err, jwks.ErrPublicKey)
	}
	_, err := testkit.Key(t, jwks.ES256).MarshalPrivate(jwks.KeyFormat(42))
	require.ErrorIs(t, err, jwks.ErrKeyFormat)
	_, err = pub.MarshalPublic(jwks.KeyFormat(42))
	require.ErrorIs(t, err, jwks.ErrKeyFormat)
}

func TestKeyFormatString(t *testing.T) {
	assert.Equal(t, "jwk", jwks.FormatJWK.String())
	assert.Equal(t, "secret", jwks.FormatSecret.String())
	assert.Equal(t, "pem", jwks.FormatPEM.String())
	assert.Equal(t, "KeyFormat(9)", jwks.KeyFormat(9).String())
}
