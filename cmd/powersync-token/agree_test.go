package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
)

// verifyNow is the moment of the conformance vectors.
var verifyNow = time.Unix(1_790_000_000, 0)

// conformanceTokens returns the tokens of TestVerifierRefusesWhatPowerSyncRefuses
// and TestVerifierAcceptsWhatPowerSyncAccepts (verifier_test.go of package
// jwks), made again here on purpose, since a command cannot import another
// package's tests: keep the two lists alike. Each is made at verifyNow,
// against a JWKS of one key per algorithm.
func conformanceTokens(t testing.TB) (keys []*jwks.Key, accepted, refused map[string]string) {
	t.Helper()
	byAlg := map[jwks.Algorithm]*jwks.Key{}
	for _, alg := range jwks.Algorithms() {
		byAlg[alg] = testKey(t, alg, "conformance-"+string(alg))
		keys = append(keys, byAlg[alg])
	}
	es, rs := byAlg[jwks.ES256], byAlg[jwks.RS256]
	now := verifyNow.Unix()
	good := func(changes map[string]any) map[string]any { return claimsAt(verifyNow, changes) }
	goodTok := forge(t, es, nil, good(nil))
	parts := strings.Split(goodTok, ".")
	rawClaims := func(claims string) string {
		return forgeRaw(t, es, toJSON(t, map[string]any{"alg": "ES256", "kid": es.KeyID()}), []byte(claims))
	}
	hsConfused := func(secret []byte) string {
		return hs256(t, toJSON(t, map[string]any{"alg": "HS256", "kid": rs.KeyID(), "typ": "JWT"}), parts[1], secret)
	}
	pemPub, err := rs.MarshalPublic(jwks.FormatPEM)
	require.NoError(t, err)
	sig := []byte(parts[2])
	flipped := parts[0] + "." + parts[1] + "." + flipBit(t, string(sig))

	accepted = map[string]string{}
	for _, alg := range jwks.Algorithms() {
		key := byAlg[alg]
		for name, claims := range map[string]map[string]any{
			"minimal":                     good(nil),
			"aud array":                   good(map[string]any{"aud": []string{"https://other.example", testAudience}}),
			"lifetime of exactly 86400 s": good(map[string]any{"iat": now - 100, "exp": now - 100 + 86400}),
			"expired 59 s ago":            good(map[string]any{"iat": now - 359, "exp": now - 59}),
			"nbf 60 s ahead":              good(map[string]any{"nbf": now + 60}),
			"iat 60 s ahead":              good(map[string]any{"iat": now + 60, "exp": now + 360}),
			"fractional times":            good(map[string]any{"iat": float64(now) - 0.5, "exp": float64(now) + 299.5}),
			"parameters object":           good(map[string]any{"parameters": map[string]any{"org": "acme"}}),
			"any iss":                     good(map[string]any{"iss": "https://ref.supabase.co"}),
			"custom claims":               good(map[string]any{"role": "admin", "n": 3}),
		} {
			accepted[string(alg)+"/"+name] = forge(t, key, nil, claims)
		}
		accepted[string(alg)+"/no typ"] = forge(t, key, map[string]any{"typ": nil}, good(nil))
	}

	refused = map[string]string{
		// Form.
		"empty":                     "",
		"two parts":                 parts[0] + "." + parts[1],
		"four parts":                goodTok + ".x",
		"JSON serialisation":        `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"padded base64":             parts[0] + "=." + parts[1] + "." + parts[2],
		"standard base64 signature": parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/",
		"empty signature":           parts[0] + "." + parts[1] + ".",
		"header not JSON":           b64([]byte("alg")) + "." + parts[1] + "." + parts[2],
		"header array":              b64([]byte(`["ES256"]`)) + "." + parts[1] + "." + parts[2],
		"claims not JSON":           rawClaims("sub=x"),
		"claims array":              rawClaims(`[1]`),
		"oversized":                 forge(t, es, nil, good(map[string]any{"pad": strings.Repeat("x", jwks.MaxTokenSize)})),
		"crit header":               forge(t, es, map[string]any{"crit": []string{"exp"}, "exp": 1}, good(nil)),

		// Algorithm and key.
		"alg none":                         forge(t, es, map[string]any{"alg": "none"}, good(nil)),
		"alg PS256":                        forge(t, rs, map[string]any{"alg": "PS256"}, good(nil)),
		"alg ES256K":                       forge(t, es, map[string]any{"alg": "ES256K"}, good(nil)),
		"alg HS256 without a secret":       hsConfused([]byte("x")),
		"HS256 signed with the public PEM": hsConfused(pemPub),
		"alg of another key":               forge(t, byAlg[jwks.ES384], map[string]any{"kid": es.KeyID()}, good(nil)),
		"alg differs from key":             forge(t, es, map[string]any{"alg": "ES384"}, good(nil)),
		"RS384 header on RS256 key":        forge(t, rs, map[string]any{"alg": "RS384"}, good(nil)),
		"no kid":                           forge(t, es, map[string]any{"kid": nil}, good(nil)),
		"empty kid":                        forge(t, es, map[string]any{"kid": ""}, good(nil)),
		"unknown kid":                      forge(t, es, map[string]any{"kid": "powersync-0000000000"}, good(nil)),
		"signature of other claims":        parts[0] + "." + b64(toJSON(t, good(map[string]any{"sub": "admin"}))) + "." + parts[2],
		"flipped signature bit":            flipped,
		"DER ECDSA signature":              parts[0] + "." + parts[1] + "." + b64(derSignature(t, es, []byte(parts[0]+"."+parts[1]))),

		// Names are exact, as in PowerSync: "SUB" is not "sub".
		"header names in capitals": forge(t, es, map[string]any{"alg": nil, "kid": nil, "ALG": "ES256", "KID": es.KeyID()}, good(nil)),
		"sub in capitals":          forge(t, es, nil, good(map[string]any{"sub": nil, "SUB": "admin"})),
		"aud in another case":      forge(t, es, nil, good(map[string]any{"aud": nil, "Aud": testAudience})),
		"exp in capitals":          forge(t, es, nil, good(map[string]any{"exp": nil, "EXP": now + 60})),

		// Claims.
		"no sub":                  forge(t, es, nil, good(map[string]any{"sub": nil})),
		"empty sub":               forge(t, es, nil, good(map[string]any{"sub": ""})),
		"numeric sub":             forge(t, es, nil, good(map[string]any{"sub": 42})),
		"no iat":                  forge(t, es, nil, good(map[string]any{"iat": nil})),
		"no exp":                  forge(t, es, nil, good(map[string]any{"exp": nil})),
		"no aud":                  forge(t, es, nil, good(map[string]any{"aud": nil})),
		"string iat":              forge(t, es, nil, good(map[string]any{"iat": fmt.Sprint(now)})),
		"string exp":              forge(t, es, nil, good(map[string]any{"exp": fmt.Sprint(now + 300)})),
		"string nbf":              forge(t, es, nil, good(map[string]any{"nbf": fmt.Sprint(now)})),
		"negative exp":            forge(t, es, nil, good(map[string]any{"exp": -1})),
		"huge exp":                forge(t, es, nil, good(map[string]any{"exp": 1e300})),
		"expired 60 s ago":        forge(t, es, nil, good(map[string]any{"iat": now - 360, "exp": now - 60})),
		"expired an hour ago":     forge(t, es, nil, good(map[string]any{"iat": now - 3900, "exp": now - 3600})),
		"nbf 61 s ahead":          forge(t, es, nil, good(map[string]any{"nbf": now + 61})),
		"iat a year ahead":        forge(t, es, nil, good(map[string]any{"iat": now + 365*86400, "exp": now + 365*86400 + 300})),
		"lifetime of 86401 s":     forge(t, es, nil, good(map[string]any{"iat": now - 100, "exp": now - 100 + 86401})),
		"exp before iat":          forge(t, es, nil, good(map[string]any{"iat": now + 30, "exp": now + 20})),
		"other aud":               forge(t, es, nil, good(map[string]any{"aud": "https://other.example"})),
		"aud with trailing slash": forge(t, es, nil, good(map[string]any{"aud": testAudience + "/"})),
		"aud in other case":       forge(t, es, nil, good(map[string]any{"aud": strings.ToUpper(testAudience)})),
		"empty aud array":         forge(t, es, nil, good(map[string]any{"aud": []string{}})),
		"numeric aud":             forge(t, es, nil, good(map[string]any{"aud": 1})),
		"aud array of numbers":    forge(t, es, nil, good(map[string]any{"aud": []int{1}})),
		"parameters array":        forge(t, es, nil, good(map[string]any{"parameters": []int{1}})),
		"parameters string":       forge(t, es, nil, good(map[string]any{"parameters": "x"})),
		"parameters null":         rawClaims(`{"sub":"u","aud":"` + testAudience + `","iat":` + fmt.Sprint(now) + `,"exp":` + fmt.Sprint(now+60) + `,"parameters":null}`),
	}
	return keys, accepted, refused
}

// hs256 makes an HS256 token of header and the claims part, with secret.
func hs256(t testing.TB, header []byte, claims string, secret []byte) string {
	t.Helper()
	input := b64(header) + "." + claims
	return input + "." + b64(hmacSHA256(secret, []byte(input)))
}

// flipBit flips one bit of a base64url signature.
func flipBit(t testing.TB, sig string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(sig)
	require.NoError(t, err)
	b[10] ^= 1
	return b64(b)
}

// TestVerdictAgreesWithTheVerifier: on every token of the Verifier's
// conformance tests, the command's verdict (and exit status) is the
// Verifier's, and each token error of the Verifier's has its PowerSync code
// among the problems.
func TestVerdictAgreesWithTheVerifier(t *testing.T) {
	t.Parallel()
	keys, accepted, refused := conformanceTokens(t)
	var entries []any
	published := make([]*jwks.Key, len(keys))
	for i, k := range keys {
		entries = append(entries, k)
		published[i] = k.PublicOnly()
	}
	path := jwksFile(t, document(t, entries...))
	ks, err := jwks.NewKeySet(nil, published...)
	require.NoError(t, err)
	v, err := jwks.NewVerifier(ks, testAudience, jwks.WithClock(func() time.Time { return verifyNow }))
	require.NoError(t, err)

	codeOf := map[error]string{
		jwks.ErrExpired: codeS2103, jwks.ErrLifetime: codeS2104, jwks.ErrAudience: codeS2105,
		jwks.ErrMalformed: codeS2101, jwks.ErrUnknownKey: codeS2101, jwks.ErrSignature: codeS2101,
		jwks.ErrMissingClaim: codeS2101, jwks.ErrNotYetValid: codeS2101,
	}
	check := func(t *testing.T, tok string, wantOK bool) {
		_, verr := v.Verify(context.Background(), tok)
		require.Equal(t, wantOK, verr == nil, "the Verifier's verdict: %v", verr)
		r := runCheck(t, verifyNow, "", "check", "-json", "-jwks", path, "-audience", testAudience, tok)
		if tok == "" {
			assert.Equal(t, exitUsage, r.code, "an empty token is bad usage")
			return
		}
		want := map[bool]int{true: exitAccepted, false: exitRefused}[wantOK]
		require.Equal(t, want, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		rep, _ := checkJSON(t, verifyNow, "-jwks", path, "-audience", testAudience, tok)
		assert.Equal(t, wantOK, *rep.OK)
		for s, code := range codeOf {
			if verr != nil && errors.Is(verr, s) && !(s == jwks.ErrMissingClaim && errors.Is(verr, jwks.ErrAudience)) {
				assert.Contains(t, rep.codes(), code, "Verify: %v; report: %s", verr, r.stdout)
			}
		}
	}
	for name, tok := range accepted {
		t.Run("accepted/"+name, func(t *testing.T) { check(t, tok, true) })
	}
	for name, tok := range refused {
		t.Run("refused/"+name, func(t *testing.T) { check(t, tok, false) })
	}
}

// TestCodesAgreeWithPowerSync: for tokens PowerSync's checks (with jose
// 4.15.9, interop/verify-token.mjs) refuse, the code PowerSync answers is
// among the command's problems; for tokens they accept, the command finds
// none.
func TestCodesAgreeWithPowerSync(t *testing.T) {
	t.Parallel()
	now := time.Now()
	es := testKey(t, jwks.ES256, "key-es")
	rs := testKey(t, jwks.RS256, "key-rs")
	url := serveJWKS(t, document(t, es, rs))
	good := sign(t, es, testAudience)
	parts := strings.Split(good, ".")
	tokens := map[string]string{
		"good":                 good,
		"good RS256":           sign(t, rs, testAudience),
		"unknown kid":          sign(t, testKey(t, jwks.ES256, "key-stranger"), testAudience),
		"no kid":               forge(t, es, map[string]any{"kid": nil}, claimsAt(now, nil)),
		"alg not the key's":    forge(t, rs, map[string]any{"alg": "RS384"}, claimsAt(now, nil)),
		"alg none":             forge(t, es, map[string]any{"alg": "none"}, claimsAt(now, nil)),
		"lifetime over a day":  forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 10, "exp": now.Unix() - 10 + 86401})),
		"expired":              forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 4000, "exp": now.Unix() - 3600})),
		"trailing slash":       sign(t, es, testAudience+"/"),
		"no aud":               forge(t, es, nil, claimsAt(now, map[string]any{"aud": nil})),
		"no sub":               forge(t, es, nil, claimsAt(now, map[string]any{"sub": nil})),
		"no iat":               forge(t, es, nil, claimsAt(now, map[string]any{"iat": nil})),
		"parameters an array":  forge(t, es, nil, claimsAt(now, map[string]any{"parameters": []int{1}})),
		"bad signature":        parts[0] + "." + b64(toJSON(t, claimsAt(now, map[string]any{"sub": "admin"}))) + "." + parts[2],
		"DER signature":        parts[0] + "." + parts[1] + "." + b64(derSignature(t, es, []byte(parts[0]+"."+parts[1]))),
		"malformed":            "not-a-token",
		"expired and too long": forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 2*86400, "exp": now.Unix() - 3600})),
	}
	var names, raw []string
	for name, tok := range tokens {
		names = append(names, name)
		raw = append(raw, tok)
	}
	got := nodejs.VerifyTokens(t, url, []string{testAudience}, raw...)
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			rep, r := checkJSON(t, time.Time{}, "-jwks", url, "-audience", testAudience, raw[i])
			ps := got[i]
			assert.Equal(t, ps.OK, *rep.OK, "PowerSync: %v %s %s; report: %s", ps.OK, ps.Code, ps.Error, r.stdout)
			if !ps.OK {
				assert.Contains(t, rep.codes(), "PSYNC_"+ps.Code, "PowerSync: %s; report: %s", ps.Error, r.stdout)
			}
		})
	}
}

func hmacSHA256(secret, input []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(input)
	return mac.Sum(nil)
}
