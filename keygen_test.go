package jwks_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

var seedKeyID = regexp.MustCompile(`^powersync-[0-9a-f]{10}$`)

func parsePEMPrivate(data []byte) (crypto.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}

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
			k := newKey(t, tc.alg)
			assert.Equal(t, tc.alg, k.Algorithm())
			assert.Regexp(t, seedKeyID, k.KeyID())
			assert.True(t, k.CanSign())
			tc.check(t, k.Public())

			other := newKey(t, tc.alg)
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
		k := newKey(t, jwks.RS256, jwks.WithRSABits(3072))
		rsaBits(3072)(t, k.Public())
	})
	t.Run("own key ID", func(t *testing.T) {
		k := newKey(t, jwks.ES256, jwks.WithKeyID("2026-11 primary"))
		assert.Equal(t, "2026-11 primary", k.KeyID())
	})
	t.Run("thumbprint key ID", func(t *testing.T) {
		for _, alg := range jwks.Algorithms() {
			k := testKey(t, alg)
			tp, err := jwks.ParseKey(mustPublicJWK(t, k), jwks.WithThumbprintKeyID())
			require.NoError(t, err)
			assert.Equal(t, rfc7638(t, k), tp.KeyID(), alg)
		}
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
				assert.Regexp(t, seedKeyID, k.KeyID(), "an empty WithKeyID keeps the default")
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, k)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
		})
	}
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

func TestParseKeyRoundTrip(t *testing.T) {
	for _, alg := range jwks.Algorithms() {
		k := testKey(t, alg)
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

func TestParseKeyEncodings(t *testing.T) {
	k := testKey(t, jwks.ES256)
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

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeyInfersAlgorithmAndKeyID(t *testing.T) {
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
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

func TestParseKeyRefusals(t *testing.T) {
	es256 := testKey(t, jwks.ES256)
	es384 := testKey(t, jwks.ES384)
	ed := testKey(t, jwks.EdDSA)
	rs := testKey(t, jwks.RS256)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakJWK := fmt.Sprintf(`{"kty":"RSA","alg":"RS256","kid":"weak","n":%q,"e":"AQAB"}`, b64(weak.N.Bytes()))
	weakPKCS8, err := x509.MarshalPKCS8PrivateKey(weak)
	require.NoError(t, err)
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

	for _, tc := range []struct {
		name  string
		input string
		want  error
	}{
		// Unreadable input.
		{"empty", "", jwks.ErrKeyFormat},
		{"only whitespace", " \n\t", jwks.ErrKeyFormat},
		{"corrupt base64", "not base64 at all!", jwks.ErrKeyFormat},
		{"base64 of neither JSON nor PEM", base64.StdEncoding.EncodeToString([]byte("hello world")), jwks.ErrKeyFormat},
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
		{"RSA 1024 JWK", weakJWK, jwks.ErrWeakKey},
		{"RSA 1024 PEM", string(pemBlock("PRIVATE KEY", weakPKCS8)), jwks.ErrWeakKey},

		// Keys that do not fit their algorithm.
		{"P-384 key labelled ES256", string(mutateJWK(t, es384, true, map[string]any{"alg": "ES256"})), jwks.ErrAlgorithmMismatch},
		{"EC key labelled RS256", string(mutateJWK(t, es256, false, map[string]any{"alg": "RS256"})), jwks.ErrAlgorithmMismatch},
		{"RSA key labelled EdDSA", string(mutateJWK(t, rs, false, map[string]any{"alg": "EdDSA"})), jwks.ErrAlgorithmMismatch},
		{"Ed25519 key labelled ES256", string(mutateJWK(t, ed, false, map[string]any{"alg": "ES256"})), jwks.ErrAlgorithmMismatch},

		// Keys that are not valid keys.
		{"EC point not on the curve", string(mutateJWK(t, es256, false, map[string]any{"y": b64(yBytes)})), jwks.ErrInvalidKey},
		{"EC private key of another point", string(mutateJWK(t, es256, true, map[string]any{"d": b64(otherD)})), jwks.ErrInvalidKey},
		{"Ed25519 private key of another point", string(mutateJWK(t, ed, true, map[string]any{"d": b64(otherEd.Seed())})), jwks.ErrInvalidKey},
		{"RSA private key with a wrong prime", string(mutateJWK(t, rs, true, map[string]any{"p": b64(big.NewInt(65537).Bytes())})), jwks.ErrInvalidKey},
		{"encryption key", string(mutateJWK(t, es256, false, map[string]any{"use": "enc"})), jwks.ErrInvalidKey},
		{"key_ops without sign or verify", string(mutateJWK(t, es256, false, map[string]any{"key_ops": []string{"encrypt"}})), jwks.ErrInvalidKey},
		{"empty kid", string(mutateJWK(t, es256, false, map[string]any{"kid": ""})), jwks.ErrInvalidKey},
		{"kid with control character", string(mutateJWK(t, es256, false, map[string]any{"kid": "a\u0000b"})), jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := jwks.ParseKey([]byte(tc.input))
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, k)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "jwks: "), msg)
			for _, secret := range [][]string{secretStrings(t, es256), secretStrings(t, es384), secretStrings(t, ed), secretStrings(t, rs)} {
				for _, s := range secret {
					assert.NotContains(t, msg, s, "the error leaks key material")
				}
			}
			assert.LessOrEqual(t, len(msg), 200, "errors name the reason, not the input: %s", msg)
		})
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestParseKeyAlgorithmOption(t *testing.T) {
	es := testKey(t, jwks.ES256)
	_, err := jwks.ParseKey(mustPublicJWK(t, es), jwks.WithAlgorithm(jwks.ES384))
	require.ErrorIs(t, err, jwks.ErrAlgorithmMismatch, "a JWK's own alg wins over a conflicting option")

	_, err = jwks.ParseKey(mustPublicJWK(t, es), jwks.WithAlgorithm("PS256"))
	require.ErrorIs(t, err, jwks.ErrUnsupportedAlgorithm)

	got, err := jwks.ParseKey(mustPublicJWK(t, es), jwks.WithKeyID("renamed"))
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.KeyID())
}

func TestKeyNeverShowsPrivateHalf(t *testing.T) {
	var buf bytes.Buffer
	textLog := slog.New(slog.NewTextHandler(&buf, nil))
	jsonLog := slog.New(slog.NewJSONHandler(&buf, nil))

	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
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

func TestPublicJWKMembers(t *testing.T) {
	want := map[string][]string{
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for _, alg := range jwks.Algorithms() {
		k := testKey(t, alg)
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
	pub := testKey(t, jwks.ES256).PublicOnly()
	assert.False(t, pub.CanSign())
	assert.Same(t, pub, pub.PublicOnly())
	for _, f := range []jwks.KeyFormat{jwks.FormatJWK, jwks.FormatSecret, jwks.FormatPEM} {
		_, err := pub.MarshalPrivate(f)
		require.ErrorIs(t, err, jwks.ErrPublicKey)
	}
	_, err := testKey(t, jwks.ES256).MarshalPrivate(jwks.KeyFormat(42))
	require.ErrorIs(t, err, jwks.ErrKeyFormat)
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

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, err = jwks.NewExternalKey(&countingSigner{Signer: weak}, jwks.RS256)
	require.ErrorIs(t, err, jwks.ErrWeakKey)
}

func TestKeyFormatString(t *testing.T) {
	assert.Equal(t, "jwk", jwks.FormatJWK.String())
	assert.Equal(t, "secret", jwks.FormatSecret.String())
	assert.Equal(t, "pem", jwks.FormatPEM.String())
	assert.Equal(t, "KeyFormat(9)", jwks.KeyFormat(9).String())
}

func TestAlgorithms(t *testing.T) {
	algs := jwks.Algorithms()
	assert.Equal(t, []jwks.Algorithm{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}, algs)
	algs[0] = "PS256"
	assert.Equal(t, jwks.RS256, jwks.Algorithms()[0], "Algorithms returns a new slice")
	for _, a := range jwks.Algorithms() {
		assert.True(t, a.Supported())
	}
	for _, a := range []jwks.Algorithm{"PS256", "ES256K", "HS256", "none", "", "es256"} {
		assert.False(t, a.Supported(), a)
	}
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(mustPublicJWK(t, testKey(t, jwks.EdDSA)), &m))
	assert.Equal(t, `"EdDSA"`, string(m["alg"]))
}
