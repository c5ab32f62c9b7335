package jwks_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// testKeys caches one generated key per algorithm: RSA generation is slow
// under the race detector, and most tests only need some key.
var testKeys sync.Map // Algorithm → *jwks.Key

// testKey returns a cached signing key for alg.
func testKey(t testing.TB, alg jwks.Algorithm) *jwks.Key {
	t.Helper()
	if k, ok := testKeys.Load(alg); ok {
		return k.(*jwks.Key)
	}
	k, err := jwks.GenerateKey(alg)
	require.NoError(t, err)
	actual, _ := testKeys.LoadOrStore(alg, k)
	return actual.(*jwks.Key)
}

// newKey returns a fresh signing key for alg.
func newKey(t testing.TB, alg jwks.Algorithm, opts ...jwks.KeyOption) *jwks.Key {
	t.Helper()
	k, err := jwks.GenerateKey(alg, opts...)
	require.NoError(t, err)
	return k
}

// jwkMembers returns the members of a JWK (or any JSON object).
func jwkMembers(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// privateJWK returns the private JWK of k as a map.
func privateJWK(t testing.TB, k *jwks.Key) map[string]any {
	t.Helper()
	data, err := k.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	return jwkMembers(t, data)
}

// toJSON encodes v.
func toJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// secretStrings returns the private members of k in the encodings that could
// leak into text: the base64url JWK members and their standard base64 form.
func secretStrings(t testing.TB, k *jwks.Key) []string {
	t.Helper()
	m := privateJWK(t, k)
	var out []string
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if v, ok := m[name].(string); ok {
			out = append(out, v)
			raw, err := base64.RawURLEncoding.DecodeString(v)
			require.NoError(t, err)
			out = append(out, base64.StdEncoding.EncodeToString(raw))
		}
	}
	switch priv := privateOf(t, k).(type) {
	case *rsa.PrivateKey:
		out = append(out, priv.D.String(), priv.D.Text(16))
	case *ecdsa.PrivateKey:
		b, err := priv.Bytes()
		require.NoError(t, err)
		out = append(out, priv.D.String(), priv.D.Text(16), string(b))
	case ed25519.PrivateKey:
		out = append(out, string(priv.Seed()))
	}
	require.NotEmpty(t, out)
	return out
}

// privateOf reads back the private key of k through its PEM export.
func privateOf(t testing.TB, k *jwks.Key) crypto.PrivateKey {
	t.Helper()
	der, err := k.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	priv, err := parsePEMPrivate(der)
	require.NoError(t, err)
	return priv
}

// newTokenHandler returns NewTokenHandler(s, a, opts...), which must accept
// its configuration.
func newTokenHandler(t testing.TB, s *jwks.Signer, a jwks.Authenticator, opts ...jwks.TokenHandlerOption) http.Handler {
	t.Helper()
	h, err := jwks.NewTokenHandler(s, a, opts...)
	require.NoError(t, err)
	return h
}

// newJWKSHandler returns NewJWKSHandler(ks, opts...), which must accept its
// configuration.
func newJWKSHandler(t testing.TB, ks *jwks.KeySet, opts ...jwks.JWKSHandlerOption) http.Handler {
	t.Helper()
	h, err := jwks.NewJWKSHandler(ks, opts...)
	require.NoError(t, err)
	return h
}
