package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// The moment the conformance tests run at.
var verifyNow = time.Unix(1_790_000_000, 0)

// forge makes a token with any header and claims, signed with the standard
// library (not the Signer). A header without "alg" or "kid" gets the key's;
// a nil value removes a member.
func forge(t testing.TB, key *jwks.Key, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": string(key.Algorithm()), "kid": key.KeyID(), "typ": "JWT"}
	maps.Copy(h, header)
	for name, v := range h {
		if v == nil {
			delete(h, name)
		}
	}
	input := b64(toJSON(t, h)) + "." + b64(toJSON(t, claims))
	alg, _ := h["alg"].(string)
	if len(alg) < 5 {
		alg = string(key.Algorithm())
	}
	sig, err := floorSignature(alg, privateOf(t, key), []byte(input))
	require.NoError(t, err)
	return input + "." + b64(sig)
}

// goodClaims returns claims PowerSync accepts at verifyNow.
func goodClaims(changes map[string]any) map[string]any {
	c := map[string]any{
		"sub": "user-1",
		"aud": testAudience,
		"iat": verifyNow.Unix() - 10,
		"exp": verifyNow.Unix() + 290,
	}
	for name, v := range changes {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return c
}

// conformanceVerifier verifies against a key set with one key of each
// algorithm, at verifyNow.
func conformanceVerifier(t testing.TB, opts ...jwks.VerifierOption) (*jwks.Verifier, map[jwks.Algorithm]*jwks.Key) {
	t.Helper()
	keys := map[jwks.Algorithm]*jwks.Key{}
	var published []*jwks.Key
	for _, alg := range jwks.Algorithms() {
		keys[alg] = testkit.Key(t, alg)
		published = append(published, keys[alg].PublicOnly())
	}
	ks, err := jwks.NewKeySet(nil, published...)
	require.NoError(t, err)
	v, err := jwks.NewVerifier(ks, testAudience, append([]jwks.VerifierOption{jwks.WithClock(fixedClock(verifyNow))}, opts...)...)
	require.NoError(t, err)
	return v, keys
}

// TestVerifierAcceptsWhatPowerSyncAccepts: the good vectors of POWERSYNC.md.
func TestVerifierAcceptsWhatPowerSyncAccepts(t *testing.T) {
	v, keys := conformanceVerifier(t)
	now := verifyNow.Unix()
	for _, alg := range jwks.Algorithms() {
		key := keys[alg]
		for _, tc := range []struct {
			name   string
			claims map[string]any
			header map[string]any
		}{
			{"minimal", goodClaims(nil), nil},
			{"no typ", goodClaims(nil), map[string]any{"typ": nil}},
			{"aud array", goodClaims(map[string]any{"aud": []string{"https://other.example", testAudience}}), nil},
			{"lifetime of exactly 86400 s", goodClaims(map[string]any{"iat": now - 100, "exp": now - 100 + 86400}), nil},
			{"expired 59 s ago", goodClaims(map[string]any{"iat": now - 359, "exp": now - 59}), nil},
			{"nbf 60 s ahead", goodClaims(map[string]any{"nbf": now + 60}), nil},
			{"iat 60 s ahead", goodClaims(map[string]any{"iat": now + 60, "exp": now + 360}), nil},
			{"fractional times", goodClaims(map[string]any{"iat": float64(now) - 0.5, "exp": float64(now) + 299.5}), nil},
			{"parameters object", goodClaims(map[string]any{"parameters": map[string]any{"org": "acme"}}), nil},
			{"any iss", goodClaims(map[string]any{"iss": "https://ref.supabase.co"}), nil},
			{"custom claims", goodClaims(map[string]any{"role": "admin", "n": 3}), nil},
		} {
			t.Run(string(alg)+"/"+tc.name, func(t *testing.T) {
				tok := forge(t, key, tc.header, tc.claims)
				c, err := v.Verify(context.Background(), tok)
				require.NoError(t, err)
				assertProblemsAgree(t, v, tok, err)
				assert.Equal(t, "user-1", c.Subject)
				assert.Equal(t, key.KeyID(), c.KeyID)
				assert.Contains(t, c.Audience, testAudience)
			})
		}
	}
}

// TestVerifierRefusesWhatPowerSyncRefuses: the bad vectors of POWERSYNC.md,
// and more where PowerSync is lax.
func TestVerifierRefusesWhatPowerSyncRefuses(t *testing.T) {
	v, keys := conformanceVerifier(t)
	es, rs := keys[jwks.ES256], keys[jwks.RS256]
	now := verifyNow.Unix()
	good := forge(t, es, nil, goodClaims(nil))
	parts := strings.Split(good, ".")

	// A DER signature of the same input, as crypto.Signer would return it.
	priv := privateOf(t, es).(*ecdsa.PrivateKey)
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	require.NoError(t, err)

	// HS256 "signed" with the public key, the classic algorithm confusion.
	confused := func(secret []byte) string {
		input := b64(toJSON(t, map[string]any{"alg": "HS256", "kid": rs.KeyID(), "typ": "JWT"})) + "." + parts[1]
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}
	pemPub, err := rs.MarshalPublic(jwks.FormatPEM)
	require.NoError(t, err)
	sigBytes, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	sigBytes[10] ^= 1
	flipped := b64(sigBytes)

	for _, tc := range []struct {
		name  string
		token string
		want  []error
	}{
		// Form.
		{"empty", "", []error{jwks.ErrMalformed}},
		{"two parts", parts[0] + "." + parts[1], []error{jwks.ErrMalformed}},
		{"four parts", good + ".x", []error{jwks.ErrMalformed}},
		{"JSON serialisation", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, []error{jwks.ErrMalformed}},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], []error{jwks.ErrMalformed}},
		{"standard base64 signature", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", []error{jwks.ErrMalformed}},
		{"empty signature", parts[0] + "." + parts[1] + ".", []error{jwks.ErrMalformed}},
		{"header not JSON", b64([]byte("alg")) + "." + parts[1] + "." + parts[2], []error{jwks.ErrMalformed}},
		{"header array", b64([]byte(`["ES256"]`)) + "." + parts[1] + "." + parts[2], []error{jwks.ErrMalformed}},
		{"claims not JSON", forgeRawClaims(t, es, []byte("sub=x")), []error{jwks.ErrMalformed}},
		{"claims array", forgeRawClaims(t, es, []byte(`[1]`)), []error{jwks.ErrMalformed}},
		{"oversized", forge(t, es, nil, goodClaims(map[string]any{"pad": strings.Repeat("x", jwks.MaxTokenSize)})), []error{jwks.ErrMalformed}},
		{"crit header", forge(t, es, map[string]any{"crit": []string{"exp"}, "exp": 1}, goodClaims(nil)), []error{jwks.ErrMalformed}},

		// Algorithm and key.
		{"alg none", forge(t, es, map[string]any{"alg": "none"}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"alg PS256", forge(t, rs, map[string]any{"alg": "PS256"}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"alg ES256K", forge(t, es, map[string]any{"alg": "ES256K"}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"alg HS256 without a secret", confused([]byte("x")), []error{jwks.ErrSignature}},
		{"HS256 signed with the public PEM", confused(pemPub), []error{jwks.ErrSignature}},
		{"alg of another key", forge(t, keys[jwks.ES384], map[string]any{"kid": es.KeyID()}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"alg differs from key", forge(t, es, map[string]any{"alg": "ES384"}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"RS384 header on RS256 key", forge(t, rs, map[string]any{"alg": "RS384"}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"no kid", forge(t, es, map[string]any{"kid": nil}, goodClaims(nil)), []error{jwks.ErrUnknownKey}},
		{"empty kid", forge(t, es, map[string]any{"kid": ""}, goodClaims(nil)), []error{jwks.ErrUnknownKey}},
		{"unknown kid", forge(t, es, map[string]any{"kid": "powersync-0000000000"}, goodClaims(nil)), []error{jwks.ErrUnknownKey}},
		{"signature of other claims", parts[0] + "." + b64(toJSON(t, goodClaims(map[string]any{"sub": "admin"}))) + "." + parts[2], []error{jwks.ErrSignature}},
		{"flipped signature bit", parts[0] + "." + parts[1] + "." + flipped, []error{jwks.ErrSignature}},
		{"DER ECDSA signature", parts[0] + "." + parts[1] + "." + b64(der), []error{jwks.ErrSignature}},

		// Names are exact, as in PowerSync: "SUB" is not "sub".
		{"header names in capitals", forge(t, es, map[string]any{"alg": nil, "kid": nil, "ALG": "ES256", "KID": es.KeyID()}, goodClaims(nil)), []error{jwks.ErrSignature}},
		{"sub in capitals", forge(t, es, nil, goodClaims(map[string]any{"sub": nil, "SUB": "admin"})), []error{jwks.ErrMissingClaim}},
		{"aud in another case", forge(t, es, nil, goodClaims(map[string]any{"aud": nil, "Aud": testAudience})), []error{jwks.ErrMissingClaim, jwks.ErrAudience}},
		{"exp in capitals", forge(t, es, nil, goodClaims(map[string]any{"exp": nil, "EXP": now + 60})), []error{jwks.ErrMissingClaim}},

		// Claims.
		{"no sub", forge(t, es, nil, goodClaims(map[string]any{"sub": nil})), []error{jwks.ErrMissingClaim}},
		{"empty sub", forge(t, es, nil, goodClaims(map[string]any{"sub": ""})), []error{jwks.ErrMissingClaim}},
		{"numeric sub", forge(t, es, nil, goodClaims(map[string]any{"sub": 42})), []error{jwks.ErrMalformed}},
		{"no iat", forge(t, es, nil, goodClaims(map[string]any{"iat": nil})), []error{jwks.ErrMissingClaim}},
		{"no exp", forge(t, es, nil, goodClaims(map[string]any{"exp": nil})), []error{jwks.ErrMissingClaim}},
		{"no aud", forge(t, es, nil, goodClaims(map[string]any{"aud": nil})), []error{jwks.ErrMissingClaim, jwks.ErrAudience}},
		{"string iat", forge(t, es, nil, goodClaims(map[string]any{"iat": fmt.Sprint(now)})), []error{jwks.ErrMalformed}},
		{"string exp", forge(t, es, nil, goodClaims(map[string]any{"exp": fmt.Sprint(now + 300)})), []error{jwks.ErrMalformed}},
		{"string nbf", forge(t, es, nil, goodClaims(map[string]any{"nbf": fmt.Sprint(now)})), []error{jwks.ErrMalformed}},
		{"negative exp", forge(t, es, nil, goodClaims(map[string]any{"exp": -1})), []error{jwks.ErrMalformed}},
		{"huge exp", forge(t, es, nil, goodClaims(map[string]any{"exp": 1e300})), []error{jwks.ErrMalformed}},
		{"expired 60 s ago", forge(t, es, nil, goodClaims(map[string]any{"iat": now - 360, "exp": now - 60})), []error{jwks.ErrExpired}},
		{"expired an hour ago", forge(t, es, nil, goodClaims(map[string]any{"iat": now - 3900, "exp": now - 3600})), []error{jwks.ErrExpired}},
		{"nbf 61 s ahead", forge(t, es, nil, goodClaims(map[string]any{"nbf": now + 61})), []error{jwks.ErrNotYetValid}},
		{"iat a year ahead", forge(t, es, nil, goodClaims(map[string]any{"iat": now + 365*86400, "exp": now + 365*86400 + 300})), []error{jwks.ErrNotYetValid}},
		{"lifetime of 86401 s", forge(t, es, nil, goodClaims(map[string]any{"iat": now - 100, "exp": now - 100 + 86401})), []error{jwks.ErrLifetime}},
		{"exp before iat", forge(t, es, nil, goodClaims(map[string]any{"iat": now + 30, "exp": now + 20})), []error{jwks.ErrMalformed}},
		{"other aud", forge(t, es, nil, goodClaims(map[string]any{"aud": "https://other.example"})), []error{jwks.ErrAudience}},
		{"aud with trailing slash", forge(t, es, nil, goodClaims(map[string]any{"aud": testAudience + "/"})), []error{jwks.ErrAudience}},
		{"aud in other case", forge(t, es, nil, goodClaims(map[string]any{"aud": strings.ToUpper(testAudience)})), []error{jwks.ErrAudience}},
		{"empty aud array", forge(t, es, nil, goodClaims(map[string]any{"aud": []string{}})), []error{jwks.ErrAudience}},
		{"numeric aud", forge(t, es, nil, goodClaims(map[string]any{"aud": 1})), []error{jwks.ErrMalformed}},
		{"aud array of numbers", forge(t, es, nil, goodClaims(map[string]any{"aud": []int{1}})), []error{jwks.ErrMalformed}},
		{"parameters array", forge(t, es, nil, goodClaims(map[string]any{"parameters": []int{1}})), []error{jwks.ErrMalformed}},
		{"parameters string", forge(t, es, nil, goodClaims(map[string]any{"parameters": "x"})), []error{jwks.ErrMalformed}},
		{"parameters null", forgeRawClaims(t, es, []byte(`{"sub":"u","aud":"`+testAudience+`","iat":`+fmt.Sprint(now)+`,"exp":`+fmt.Sprint(now+60)+`,"parameters":null}`)), []error{jwks.ErrMalformed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			require.Error(t, err)
			assert.Nil(t, c)
			assertProblemsAgree(t, v, tc.token, err)
			for _, want := range tc.want {
				assert.ErrorIs(t, err, want)
			}
			assert.Equal(t, len(tc.want), countSentinels(err), "the error names exactly its reasons: %v", err)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			if len(tc.token) > 40 {
				assert.NotContains(t, err.Error(), tc.token[len(tc.token)-40:], "the error does not echo the token")
			}
		})
	}
}

// countSentinels counts the token errors err wraps.
func countSentinels(err error) int {
	n := 0
	for _, s := range []error{jwks.ErrMalformed, jwks.ErrUnknownKey, jwks.ErrSignature, jwks.ErrExpired, jwks.ErrNotYetValid,
		jwks.ErrAudience, jwks.ErrIssuer, jwks.ErrLifetime, jwks.ErrMissingClaim, jwks.ErrUnavailable} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// forgeRawClaims signs claims given as raw bytes.
func forgeRawClaims(t testing.TB, key *jwks.Key, claims []byte) string {
	t.Helper()
	input := b64(toJSON(t, map[string]any{"alg": string(key.Algorithm()), "kid": key.KeyID()})) + "." + b64(claims)
	sig, err := floorSignature(string(key.Algorithm()), privateOf(t, key), []byte(input))
	require.NoError(t, err)
	return input + "." + b64(sig)
}

func TestVerifierClaims(t *testing.T) {
	v, keys := conformanceVerifier(t, jwks.WithExtraAudiences("https://second.example"))
	now := verifyNow.Unix()
	tok := forge(t, keys[jwks.EdDSA], nil, goodClaims(map[string]any{
		"aud":        []string{"https://second.example"},
		"iss":        "https://issuer.example",
		"nbf":        now - 5,
		"jti":        "t-1",
		"parameters": map[string]any{"org": "acme", "n": 2},
		"role":       "admin",
		"scopes":     []string{"a", "b"},
	}))
	c, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "user-1", c.Subject)
	assert.Equal(t, []string{"https://second.example"}, c.Audience)
	assert.Equal(t, "https://issuer.example", c.Issuer)
	assert.Equal(t, time.Unix(now-10, 0), c.IssuedAt)
	assert.Equal(t, time.Unix(now+290, 0), c.ExpiresAt)
	assert.Equal(t, time.Unix(now-5, 0), c.NotBefore)
	assert.Equal(t, "t-1", c.ID)
	assert.Equal(t, keys[jwks.EdDSA].KeyID(), c.KeyID)
	assert.Equal(t, map[string]any{"org": "acme", "n": float64(2)}, c.Parameters)
	assert.Equal(t, map[string]any{"role": "admin", "scopes": []any{"a", "b"}}, c.Extra())

	var mine struct {
		Role   string   `json:"role"`
		Scopes []string `json:"scopes"`
		Sub    string   `json:"sub"`
	}
	require.NoError(t, c.Decode(&mine))
	assert.Equal(t, "admin", mine.Role)
	assert.Equal(t, []string{"a", "b"}, mine.Scopes)
	assert.Equal(t, "user-1", mine.Sub)

	c, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(nil)))
	require.NoError(t, err)
	assert.Nil(t, c.Parameters)
	assert.True(t, c.NotBefore.IsZero())
	assert.Empty(t, c.Extra())
}

func TestVerifierOptions(t *testing.T) {
	now := verifyNow.Unix()
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	hs := func(secret []byte, kid any) string {
		h := map[string]any{"alg": "HS256", "typ": "JWT"}
		if kid != nil {
			h["kid"] = kid
		}
		input := b64(toJSON(t, h)) + "." + b64(toJSON(t, goodClaims(nil)))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}

	t.Run("required issuer", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithIssuer("https://issuer.example"))
		_, err := v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"iss": "https://issuer.example"})))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"iss": "https://other.example"})))
		require.ErrorIs(t, err, jwks.ErrIssuer)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(nil)))
		require.ErrorIs(t, err, jwks.ErrIssuer)
	})
	t.Run("leeway", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithLeeway(0))
		_, err := v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"iat": now - 100, "exp": now - 1})))
		require.ErrorIs(t, err, jwks.ErrExpired)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"nbf": now + 1})))
		require.ErrorIs(t, err, jwks.ErrNotYetValid)
	})
	t.Run("max lifetime", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithMaxTokenLifetime(time.Hour))
		_, err := v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"iat": now, "exp": now + 3600})))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(map[string]any{"iat": now, "exp": now + 3601})))
		require.ErrorIs(t, err, jwks.ErrLifetime)
	})
	t.Run("algorithms", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithAlgorithms(jwks.ES256, jwks.EdDSA))
		_, err := v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(nil)))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.RS256], nil, goodClaims(nil)))
		require.ErrorIs(t, err, jwks.ErrSignature)
	})
	t.Run("HS256 secret", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithHS256Secret(secret))
		c, err := v.Verify(context.Background(), hs(secret, nil))
		require.NoError(t, err, "legacy Supabase tokens have no kid")
		assert.Equal(t, "user-1", c.Subject)
		_, err = v.Verify(context.Background(), hs(secret, "any-kid"))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), hs([]byte(base64.StdEncoding.EncodeToString(secret)), nil))
		require.ErrorIs(t, err, jwks.ErrSignature, "the secret is its raw bytes, not base64")
		_, err = v.Verify(context.Background(), hs(append(secret, 'x'), nil))
		require.ErrorIs(t, err, jwks.ErrSignature)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.ES256], nil, goodClaims(nil)))
		require.NoError(t, err, "asymmetric keys still verify")
	})
	t.Run("HS256 secret with restricted algorithms", func(t *testing.T) {
		v, keys := conformanceVerifier(t, jwks.WithHS256Secret(secret), jwks.WithAlgorithms(jwks.ES256, "HS256"))
		_, err := v.Verify(context.Background(), hs(secret, nil))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), forge(t, keys[jwks.RS256], nil, goodClaims(nil)))
		require.ErrorIs(t, err, jwks.ErrSignature)
	})

	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		keys jwks.KeySource
		aud  string
		opts []jwks.VerifierOption
		want string
	}{
		{"nil key source", nil, testAudience, nil, "nil KeySource"},
		{"empty audience", ks, "", nil, "empty audience"},
		{"audience with newline", ks, testAudience + "\n", nil, "surrounding spaces"},
		{"negative leeway", ks, testAudience, []jwks.VerifierOption{jwks.WithLeeway(-time.Second)}, "leeway"},
		{"leeway over 5 minutes", ks, testAudience, []jwks.VerifierOption{jwks.WithLeeway(time.Hour)}, "leeway"},
		{"max lifetime over a week", ks, testAudience, []jwks.VerifierOption{jwks.WithMaxTokenLifetime(8 * 24 * time.Hour)}, "maximum token lifetime"},
		{"no algorithms", ks, testAudience, []jwks.VerifierOption{jwks.WithAlgorithms()}, "no algorithm"},
		{"PS256", ks, testAudience, []jwks.VerifierOption{jwks.WithAlgorithms("PS256")}, "unsupported"},
		{"HS256 without a secret", ks, testAudience, []jwks.VerifierOption{jwks.WithAlgorithms("HS256")}, "unsupported"},
		{"short secret", ks, testAudience, []jwks.VerifierOption{jwks.WithHS256Secret([]byte("short"))}, "32 bytes"},
		{"secret with a list without HS256", ks, testAudience, []jwks.VerifierOption{jwks.WithHS256Secret(secret), jwks.WithAlgorithms(jwks.ES256)}, "leaves out HS256"},
		{"nil clock", ks, testAudience, []jwks.VerifierOption{jwks.WithClock(nil)}, "nil clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jwks.NewVerifier(tc.keys, tc.aud, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, v)
		})
	}
}

// TestSignerVerifierRoundTrip: every token the Signer makes, the Verifier
// accepts, with the claims it was given.
func TestSignerVerifierRoundTrip(t *testing.T) {
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			ks, err := jwks.NewKeySet(testkit.Key(t, alg))
			require.NoError(t, err)
			s, err := jwks.NewSigner(ks, testAudience, jwks.WithIssuer("iss"), jwks.WithTokenID(true))
			require.NoError(t, err)
			v, err := jwks.NewVerifier(ks, testAudience, jwks.WithIssuer("iss"))
			require.NoError(t, err)
			tok, err := s.Sign(context.Background(), "u-1", jwks.WithParameters(map[string]string{"k": "v"}), jwks.WithClaim("role", "r"))
			require.NoError(t, err)
			c, err := v.Verify(context.Background(), tok.Raw)
			require.NoError(t, err)
			assert.Equal(t, tok.Subject, c.Subject)
			assert.Equal(t, tok.IssuedAt, c.IssuedAt)
			assert.Equal(t, tok.ExpiresAt, c.ExpiresAt)
			assert.Equal(t, tok.ID, c.ID)
			assert.Equal(t, tok.KeyID, c.KeyID)
			assert.Equal(t, map[string]any{"k": "v"}, c.Parameters)
			assert.Equal(t, map[string]any{"role": "r"}, c.Extra())

			var claims map[string]json.RawMessage
			require.NoError(t, c.Decode(&claims))
			assert.Equal(t, `"iss"`, string(claims["iss"]))
		})
	}
}

// TestVerifierReadsExactNames: claims whose names differ from the registered
// ones only in case are other claims, as PowerSync's jose sees them; they
// neither replace nor shadow the registered ones.
func TestVerifierReadsExactNames(t *testing.T) {
	v, keys := conformanceVerifier(t)
	tok := forge(t, keys[jwks.ES256], map[string]any{"ALG": "none", "Kid": "other"}, goodClaims(map[string]any{
		"Sub": "admin", "AUD": "https://internal.example", "Exp": verifyNow.Unix() + 86400*365, "Parameters": "x",
	}))
	c, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "user-1", c.Subject)
	assert.Equal(t, []string{testAudience}, c.Audience)
	assert.Equal(t, time.Unix(verifyNow.Unix()+290, 0), c.ExpiresAt)
	assert.Nil(t, c.Parameters)
	assert.Equal(t, "admin", c.Extra()["Sub"], "other claims keep their exact names")

	// The Signer refuses such names: another verifier might fold them.
	s := newSigner(t, keys[jwks.ES256])
	for _, name := range []string{"Sub", "AUD", "Exp", "PARAMETERS", "jTi"} {
		_, err := s.Sign(context.Background(), "u", jwks.WithClaim(name, "x"))
		require.ErrorContains(t, err, "is set by the Signer", name)
	}
}

// countingKeys is a KeySource that counts its lookups, around a KeySet: a
// stand-in for a remote key set, whose lookup of an unknown kid refetches.
type countingKeys struct {
	ks      *jwks.KeySet
	lookups atomic.Int32
}

func (c *countingKeys) LookupKey(ctx context.Context, kid string) (*jwks.Key, error) {
	c.lookups.Add(1)
	return c.ks.LookupKey(ctx, kid)
}

// TestVerifierChecksClaimsBeforeTheKeyLookup: a token that fails on a claim
// never reaches the key source, so it never makes a remote JWKS refetch,
// even when its kid is unknown.
func TestVerifierChecksClaimsBeforeTheKeyLookup(t *testing.T) {
	key := testkit.Key(t, jwks.ES256)
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	keys := &countingKeys{ks: ks}
	v, err := jwks.NewVerifier(keys, testAudience, jwks.WithClock(fixedClock(verifyNow)), jwks.WithIssuer("https://issuer.example"))
	require.NoError(t, err)
	now := verifyNow.Unix()
	good := goodClaims(map[string]any{"iss": "https://issuer.example"})
	with := func(changes map[string]any) map[string]any {
		c := maps.Clone(good)
		maps.Copy(c, changes)
		for name, v := range changes {
			if v == nil {
				delete(c, name)
			}
		}
		return c
	}
	unknownKID := map[string]any{"kid": "powersync-0000000000"}

	for _, tc := range []struct {
		name   string
		header map[string]any
		claims map[string]any
		want   error
	}{
		{"other audience", nil, with(map[string]any{"aud": "https://other.example"}), jwks.ErrAudience},
		{"other audience, unknown kid", unknownKID, with(map[string]any{"aud": "https://other.example"}), jwks.ErrAudience},
		{"no audience", unknownKID, with(map[string]any{"aud": nil}), jwks.ErrAudience},
		{"expired", nil, with(map[string]any{"iat": now - 3900, "exp": now - 3600}), jwks.ErrExpired},
		{"expired, unknown kid", unknownKID, with(map[string]any{"iat": now - 3900, "exp": now - 3600}), jwks.ErrExpired},
		{"not yet valid", unknownKID, with(map[string]any{"nbf": now + 3600}), jwks.ErrNotYetValid},
		{"issued in the future", unknownKID, with(map[string]any{"iat": now + 3600, "exp": now + 3900}), jwks.ErrNotYetValid},
		{"lifetime too long", unknownKID, with(map[string]any{"iat": now - 10, "exp": now + 2*86400}), jwks.ErrLifetime},
		{"no subject", unknownKID, with(map[string]any{"sub": nil}), jwks.ErrMissingClaim},
		{"other issuer", unknownKID, with(map[string]any{"iss": "https://other.example"}), jwks.ErrIssuer},
		{"parameters not an object", unknownKID, with(map[string]any{"parameters": "x"}), jwks.ErrMalformed},
		{"alg not allowed", map[string]any{"alg": "PS256"}, good, jwks.ErrSignature},
		{"no kid", map[string]any{"kid": nil}, good, jwks.ErrUnknownKey},
		{"a kid with a control character", map[string]any{"kid": "powersync-\n"}, good, jwks.ErrUnknownKey},
		{"a kid over 256 bytes", map[string]any{"kid": strings.Repeat("k", 257)}, good, jwks.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := keys.lookups.Load()
			_, err := v.Verify(context.Background(), forge(t, key, tc.header, tc.claims))
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, before, keys.lookups.Load(), "the key source was asked for a key")
		})
	}

	// A token whose claims pass costs one lookup, whatever its signature.
	_, err = v.Verify(context.Background(), forge(t, key, nil, good))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), forge(t, key, unknownKID, good))
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
	assert.Equal(t, int32(2), keys.lookups.Load())
}
