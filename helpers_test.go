package jwks_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

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
		d := new(big.Int).SetBytes(b) // the private scalar, as a number
		out = append(out, d.String(), d.Text(16), string(b))
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

// requireJSONError checks that a response is a JSON error with the given
// status and error code, and returns its description.
func requireJSONError(t testing.TB, res *http.Response, status int, code string) string {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, status, res.StatusCode, "%s", body)
	got, description := testkit.ErrorBody(t, res.Header, body)
	assert.Equal(t, code, got)
	return description
}
