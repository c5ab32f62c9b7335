package jwks_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// The tests in this file run the interop/ Node scripts, with the jose 4.15.9
// that the PowerSync Service runs; see internal/nodejs.

const interopAudience = "https://example.powersync.journeyapps.com"

// serveJWKS serves the JWKS of ks on a loopback server for the test's
// duration and returns its URL.
func serveJWKS(t testing.TB, ks *jwks.KeySet) string {
	t.Helper()
	srv := httptest.NewServer(newJWKSHandler(t, ks))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

// tokenHeader decodes the protected header of a compact JWS, checking that
// it has three non-empty parts.
func tokenHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a compact JWS has three parts")
	for i, p := range parts {
		require.NotEmpty(t, p, "part %d of the token", i)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err, "header base64url")
	var h map[string]any
	require.NoError(t, json.Unmarshal(raw, &h), "header JSON")
	return h
}

// TestSeedSecretsLoad checks that secrets made by the seed's
// generate-keys.ts load unchanged, and that the secret this library writes
// is one the seed's edge function can sign with.
func TestSeedSecretsLoad(t *testing.T) {
	t.Parallel()
	for run := range 3 {
		t.Run(fmt.Sprintf("run%d", run), func(t *testing.T) {
			t.Parallel()
			seed := nodejs.SeedKeygen(t)
			require.Regexp(t, `^powersync-[0-9a-f]{10}$`, seed.KeyID, "the seed's kid")
			require.Equal(t, "RS256", seed.Algorithm)

			priv, err := jwks.ParseKey([]byte(seed.PrivateSecret))
			require.NoError(t, err, "POWERSYNC_PRIVATE_KEY")
			assert.Equal(t, seed.KeyID, priv.KeyID())
			assert.Equal(t, jwks.RS256, priv.Algorithm())
			assert.True(t, priv.CanSign(), "the private secret can sign")

			pub, err := jwks.ParseKey([]byte(seed.PublicSecret))
			require.NoError(t, err, "POWERSYNC_PUBLIC_KEY")
			assert.False(t, pub.CanSign(), "the public secret is public only")
			assert.True(t, priv.Equal(pub), "the private secret's public half is the public secret")

			pubJWK, err := jwks.ParseKey(seed.PublicJWK)
			require.NoError(t, err, "the seed's public JWK")
			assert.True(t, pub.Equal(pubJWK), "the public secret is the printed public JWK")

			// The public JWK we publish has the seed's members, values unchanged.
			ours := jwkMembers(t, testkit.Must(pub.MarshalPublic(jwks.FormatJWK)))
			theirs := jwkMembers(t, seed.PublicJWK)
			for _, m := range []string{"kty", "n", "e", "kid", "alg"} {
				assert.Equal(t, theirs[m], ours[m], "public JWK member %q", m)
			}

			// Our private secret holds the same private key as the seed's.
			secret, err := priv.MarshalPrivate(jwks.FormatSecret)
			require.NoError(t, err)
			seedPrivate, err := base64.StdEncoding.DecodeString(seed.PrivateSecret)
			require.NoError(t, err, "the seed's secret is standard base64")
			ourPrivate, err := base64.StdEncoding.DecodeString(string(secret))
			require.NoError(t, err, "our secret is standard base64")
			theirs, ours = jwkMembers(t, seedPrivate), jwkMembers(t, ourPrivate)
			for _, m := range []string{"kty", "n", "e", "d", "p", "q", "dp", "dq", "qi", "kid", "alg"} {
				assert.Equal(t, theirs[m], ours[m], "private JWK member %q", m)
			}

			// The seed's edge function signs with our secret, and PowerSync
			// accepts the token against the JWKS we serve for the seed's key.
			token := nodejs.SignToken(t, nodejs.SignRequest{
				Secret:   string(secret),
				Subject:  "user-1",
				Audience: interopAudience,
				Issuer:   "https://project.supabase.co/auth/v1",
			})
			h := tokenHeader(t, token)
			assert.Equal(t, seed.KeyID, h["kid"], "token header kid")
			assert.Equal(t, "RS256", h["alg"], "token header alg")

			ks, err := jwks.NewKeySet(priv)
			require.NoError(t, err)
			got := nodejs.VerifyTokens(t, serveJWKS(t, ks), []string{interopAudience}, token)
			require.True(t, got[0].OK, "PowerSync's verification: %s", got[0].Error)
			assert.Equal(t, "user-1", got[0].Payload["sub"])
		})
	}
}

// TestGeneratedKeysImportInJose serves each kind of key the library makes as
// a JWKS on a loopback server and has jose fetch and import it, as PowerSync
// does; then the key's private secret signs a token in Node that PowerSync's
// checks accept against that JWKS.
func TestGeneratedKeysImportInJose(t *testing.T) {
	t.Parallel()
	type keyCase struct {
		name string
		alg  jwks.Algorithm
		opts []jwks.KeyOption
		kty  string
	}
	ktys := map[jwks.Algorithm]string{
		jwks.RS256: "RSA", jwks.RS384: "RSA", jwks.RS512: "RSA",
		jwks.ES256: "EC", jwks.ES384: "EC", jwks.ES512: "EC",
		jwks.EdDSA: "OKP",
	}
	var cases []keyCase
	for _, alg := range jwks.Algorithms() {
		cases = append(cases, keyCase{name: string(alg), alg: alg, kty: ktys[alg]})
	}
	require.Len(t, cases, 7, "every algorithm has a case")
	cases = append(cases,
		keyCase{name: "RS256-3072", alg: jwks.RS256, opts: []jwks.KeyOption{jwks.WithRSABits(3072)}, kty: "RSA"},
		keyCase{name: "RS512-4096", alg: jwks.RS512, opts: []jwks.KeyOption{jwks.WithRSABits(4096)}, kty: "RSA"},
		keyCase{name: "ES256-thumbprint", alg: jwks.ES256, opts: []jwks.KeyOption{jwks.WithThumbprintKeyID()}, kty: "EC"},
		keyCase{name: "EdDSA-own-kid", alg: jwks.EdDSA, opts: []jwks.KeyOption{jwks.WithKeyID("my key/2025-01 ✓")}, kty: "OKP"},
	)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := jwks.GenerateKey(tc.alg, tc.opts...)
			require.NoError(t, err)
			ks, err := jwks.NewKeySet(key)
			require.NoError(t, err)
			url := serveJWKS(t, ks)

			got := nodejs.ImportJWKS(t, url)
			require.Len(t, got, 1)
			assert.Equal(t, nodejs.Import{KeyID: key.KeyID(), Algorithm: string(tc.alg), KeyType: tc.kty, OK: true}, got[0])

			secret, err := key.MarshalPrivate(jwks.FormatSecret)
			require.NoError(t, err)
			token := nodejs.SignToken(t, nodejs.SignRequest{Secret: string(secret), Subject: "s", Audience: interopAudience})
			h := tokenHeader(t, token)
			assert.Equal(t, key.KeyID(), h["kid"])
			assert.Equal(t, string(tc.alg), h["alg"])

			v := nodejs.VerifyTokens(t, url, []string{interopAudience}, token)
			assert.True(t, v[0].OK, "PowerSync's verification: %s", v[0].Error)
		})
	}
}

// TestKeySetImportsWhole checks a JWKS of several keys, as served during a
// rotation: the signing key, a retired key kept public only, and the next
// key published ahead of use. PowerSync refuses a whole refresh for one bad
// key, so every key must import.
func TestKeySetImportsWhole(t *testing.T) {
	t.Parallel()
	signing, err := jwks.GenerateKey(jwks.ES256)
	require.NoError(t, err)
	retired, err := jwks.GenerateKey(jwks.RS256)
	require.NoError(t, err)
	next, err := jwks.GenerateKey(jwks.EdDSA)
	require.NoError(t, err)
	seed := nodejs.SeedKeygen(t)
	seedPub, err := jwks.ParseKey([]byte(seed.PublicSecret))
	require.NoError(t, err)

	ks, err := jwks.NewKeySet(signing, retired.PublicOnly(), next, seedPub)
	require.NoError(t, err)
	url := serveJWKS(t, ks)

	got := nodejs.ImportJWKS(t, url)
	want := []nodejs.Import{
		{KeyID: signing.KeyID(), Algorithm: "ES256", KeyType: "EC", OK: true},
		{KeyID: retired.KeyID(), Algorithm: "RS256", KeyType: "RSA", OK: true},
		{KeyID: next.KeyID(), Algorithm: "EdDSA", KeyType: "OKP", OK: true},
		{KeyID: seed.KeyID, Algorithm: "RS256", KeyType: "RSA", OK: true},
	}
	assert.Equal(t, want, got)

	// Tokens of the signing key and of the retired key both verify; the
	// retired key's are signed with its old secret, as before the rotation.
	// A token with a kid the set does not hold, or for another audience,
	// does not.
	sign := func(k *jwks.Key, aud string) string {
		secret, err := k.MarshalPrivate(jwks.FormatSecret)
		require.NoError(t, err)
		return nodejs.SignToken(t, nodejs.SignRequest{Secret: string(secret), Subject: "s", Audience: aud})
	}
	stranger, err := jwks.GenerateKey(jwks.ES256)
	require.NoError(t, err)
	v := nodejs.VerifyTokens(t, url, []string{"https://other.example", interopAudience},
		sign(signing, interopAudience),
		sign(retired, interopAudience),
		sign(stranger, interopAudience),
		sign(signing, interopAudience+"/"),
	)
	assert.True(t, v[0].OK, "signing key: %s", v[0].Error)
	assert.True(t, v[1].OK, "retired key: %s", v[1].Error)
	assert.False(t, v[2].OK, "a key the set does not publish")
	assert.Equal(t, "S2101", v[2].Code)
	assert.Contains(t, v[2].Error, stranger.KeyID())
	assert.False(t, v[3].OK, "an audience with a trailing slash is another audience")
	assert.Equal(t, "S2105", v[3].Code)
}

// TestImportJWKSCatchesBadKeys makes sure import-jwks.mjs is not a rubber
// stamp: each JWK below would fail PowerSync, or leak a private key, and
// must be reported.
func TestImportJWKSCatchesBadKeys(t *testing.T) {
	t.Parallel()
	es, err := jwks.GenerateKey(jwks.ES256)
	require.NoError(t, err)
	pub := jwkMembers(t, testkit.Must(es.MarshalPublic(jwks.FormatJWK)))
	with := func(changes map[string]any) map[string]any {
		m := make(map[string]any, len(pub))
		for k, v := range pub {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name  string
		jwk   map[string]any
		error string
	}{
		{"private", jwkMembers(t, testkit.Must(es.MarshalPrivate(jwks.FormatJWK))), "private members"},
		{"symmetric", map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "k", "alg": "HS256"}, "kty"},
		{"use enc", with(map[string]any{"use": "enc"}), "use"},
		{"key_ops sign", with(map[string]any{"key_ops": []string{"sign"}}), "key_ops"},
		{"no alg", with(map[string]any{"alg": nil}), "no alg"},
		{"no kid", with(map[string]any{"kid": nil}), "no kid"},
		{"PS256", with(map[string]any{"alg": "PS256"}), "PS256"},
		{"curve mismatch", with(map[string]any{"alg": "ES384"}), "secp384r1"},
		{"point off curve", with(map[string]any{"x": "AQ"}), "importJWK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := json.Marshal(map[string]any{"keys": []any{tc.jwk}})
			require.NoError(t, err)
			got := nodejs.ImportJWKSDocument(t, doc)
			require.Len(t, got, 1)
			assert.False(t, got[0].OK)
			assert.Contains(t, got[0].Error, tc.error)
		})
	}
}
