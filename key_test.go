package jwks_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestKeyNeverShowsPrivateHalf(t *testing.T) {
	var buf bytes.Buffer
	textLog := slog.New(slog.NewTextHandler(&buf, nil))
	jsonLog := slog.New(slog.NewJSONHandler(&buf, nil))

	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k := testkit.Key(t, alg)
			var outputs []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%T"} {
				outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
				outputs = append(outputs, fmt.Sprintf(verb, struct{ K *jwks.Key }{k}), fmt.Sprintf(verb, []any{k, *k}))
			}
			outputs = append(outputs, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprintln(*k))
			buf.Reset()
			textLog.Info("key", "key", k, "value", *k)
			jsonLog.Info("key", "key", k, "value", *k)
			outputs = append(outputs, buf.String())
			outputs = append(outputs, string(toJSON(t, k)), string(toJSON(t, *k)), string(toJSON(t, map[string]any{"k": k})))

			for _, out := range outputs {
				for _, s := range secretStrings(t, k) {
					require.NotContains(t, out, s, "private material in %q", out)
				}
				assert.NotContains(t, out, `"d"`)
			}
			assert.Contains(t, k.String(), k.KeyID())
			assert.Contains(t, k.String(), string(alg))
			assert.Contains(t, buf.String(), k.KeyID())
			assert.JSONEq(t, string(mustPublicJWK(t, k)), string(toJSON(t, k)), "json.Marshal gives the public JWK")
		})
	}
}

func TestZeroKeyRedaction(t *testing.T) {
	var k jwks.Key
	assert.Equal(t, "jwks.Key(invalid)", k.String())
	assert.Equal(t, "jwks.Key{}", fmt.Sprintf("%#v", k))
	assert.Equal(t, "invalid", k.LogValue().String())
	_, err := k.MarshalJSON()
	require.ErrorIs(t, err, jwks.ErrInvalidKey)
}

func TestKeyPublicOnlyAndEqual(t *testing.T) {
	k := testkit.Key(t, jwks.ES256)
	pub := k.PublicOnly()
	assert.False(t, pub.CanSign())
	assert.True(t, k.CanSign(), "PublicOnly leaves the key itself alone")
	assert.Same(t, pub, pub.PublicOnly())
	assert.True(t, pub.Equal(k), "private halves are not compared")
	assert.True(t, k.Equal(pub))

	renamed, err := jwks.ParseKey(mustPublicJWK(t, k), jwks.WithKeyID("other"))
	require.NoError(t, err)
	assert.False(t, renamed.Equal(k), "the key ID is compared")
	asES384 := testkit.Key(t, jwks.ES384)
	assert.False(t, asES384.Equal(k))

	var none *jwks.Key
	assert.True(t, none.Equal(nil))
	assert.False(t, none.Equal(k))
	assert.False(t, k.Equal(nil))
}

// countingSigner stands for a KMS key: a crypto.Signer that is not one of the
// standard library's key types, and that counts its signatures.
type countingSigner struct {
	crypto.Signer
	calls atomic.Int64
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	return s.Signer.Sign(r, digest, opts)
}

func TestNewExternalKey(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ext := &countingSigner{Signer: ecKey}

	k, err := jwks.NewExternalKey(ext, jwks.ES256, jwks.WithKeyID("kms-1"))
	require.NoError(t, err)
	assert.Equal(t, "kms-1", k.KeyID())
	assert.True(t, k.CanSign())
	assert.True(t, k.Public().(*ecdsa.PublicKey).Equal(&ecKey.PublicKey))
	_, err = k.MarshalPrivate(jwks.FormatJWK)
	require.ErrorIs(t, err, jwks.ErrPublicKey, "an external key's private half cannot be exported")
	_, err = k.MarshalPrivate(jwks.FormatPEM)
	require.ErrorIs(t, err, jwks.ErrPublicKey)

	byThumbprint, err := jwks.NewExternalKey(ext, jwks.ES256)
	require.NoError(t, err)
	assert.Equal(t, rfc7638(t, k), byThumbprint.KeyID())

	_, err = jwks.NewExternalKey(ext, jwks.ES384)
	require.ErrorIs(t, err, jwks.ErrAlgorithmMismatch)
	_, err = jwks.NewExternalKey(ext, jwks.RS256)
	require.ErrorIs(t, err, jwks.ErrAlgorithmMismatch)
	_, err = jwks.NewExternalKey(ext, "PS256")
	require.ErrorIs(t, err, jwks.ErrUnsupportedAlgorithm)
	_, err = jwks.NewExternalKey(nil, jwks.ES256)
	require.ErrorIs(t, err, jwks.ErrInvalidKey)
	_, err = jwks.NewExternalKey(ext, jwks.ES256, jwks.WithRSABits(2048))
	require.ErrorIs(t, err, jwks.ErrInvalidKey)

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, err = jwks.NewExternalKey(&countingSigner{Signer: weak}, jwks.RS256)
	require.ErrorIs(t, err, jwks.ErrWeakKey)
}

// Helpers for the tests of keys.

// requireKeyRefused checks that ParseKey refuses input with an error
// wrapping want, whose text names the reason in a few words, starts with
// "jwks: " and holds no private material of any of keys.
func requireKeyRefused(t *testing.T, input string, want error, keys ...*jwks.Key) {
	t.Helper()
	k, err := jwks.ParseKey([]byte(input))
	require.ErrorIs(t, err, want)
	assert.Nil(t, k)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "jwks: "), msg)
	assert.NotContains(t, msg, "x509", "the error is the package's own, not another package's text")
	for _, key := range keys {
		for _, s := range secretStrings(t, key) {
			assert.NotContains(t, msg, s, "the error leaks key material")
		}
	}
	assert.LessOrEqual(t, len(msg), 200, "errors name the reason, not the input: %s", msg)
}

// rfc7638 computes the JWK thumbprint of k by the RFC's recipe, from the
// public JWK's required members in lexicographic order.
func rfc7638(t testing.TB, k *jwks.Key) string {
	m := jwkMembers(t, mustPublicJWK(t, k))
	var canonical string
	switch m["kty"] {
	case "RSA":
		canonical = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, m["e"], m["n"])
	case "EC":
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, m["crv"], m["x"], m["y"])
	case "OKP":
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, m["crv"], m["x"])
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func mustPublicJWK(t testing.TB, k *jwks.Key) []byte {
	t.Helper()
	b, err := k.MarshalPublic(jwks.FormatJWK)
	require.NoError(t, err)
	return b
}

// mutateJWK returns the JWK of k (private or public) with changes applied;
// a nil value deletes the member.
func mutateJWK(t testing.TB, k *jwks.Key, private bool, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if private {
		m = privateJWK(t, k)
	} else {
		m = jwkMembers(t, mustPublicJWK(t, k))
	}
	for name, v := range changes {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return toJSON(t, m)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parsePEMPrivate(data []byte) (crypto.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
