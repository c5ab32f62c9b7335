package jwks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// tokenErrors are the token errors of the package, which Verify's errors and
// the problems wrap.
var tokenErrors = []error{jwks.ErrMalformed, jwks.ErrUnknownKey, jwks.ErrSignature, jwks.ErrExpired, jwks.ErrNotYetValid,
	jwks.ErrAudience, jwks.ErrIssuer, jwks.ErrLifetime, jwks.ErrMissingClaim, jwks.ErrUnavailable}

// assertProblemsAgree checks the invariant of Verifier.Problems on one
// token, given what Verify returned for it: no problem exactly when Verify
// accepts, and every token error of Verify's among the problems. The
// verifier tests call it on each token they verify.
func assertProblemsAgree(t testing.TB, v *jwks.Verifier, token string, verifyErr error) {
	t.Helper()
	problems := v.Problems(context.Background(), token)
	if verifyErr == nil {
		assert.Empty(t, problems, "Verify accepts the token, Problems finds none")
		return
	}
	require.NotEmpty(t, problems, "Verify refuses the token (%v), Problems finds nothing", verifyErr)
	for _, s := range tokenErrors {
		if errors.Is(verifyErr, s) {
			assert.True(t, wrapsAny(problems, s), "Verify's error wraps %v, no problem does: %v", s, problems)
		}
	}
	for _, p := range problems {
		var pe *jwks.ProblemError
		if assert.ErrorAs(t, p, &pe, "each problem is a *ProblemError") {
			assert.NotEmpty(t, pe.Part, "each problem names the part at fault: %v", p)
		}
		assert.NotZero(t, countSentinels(p), "each problem wraps a token error: %v", p)
		assert.True(t, strings.HasPrefix(p.Error(), "jwks: "), p.Error())
		if len(token) > 40 {
			assert.NotContains(t, p.Error(), token[len(token)-40:], "a problem does not echo the token")
		}
	}
}

// wrapsAny reports whether one of errs wraps target.
func wrapsAny(errs []error, target error) bool {
	for _, err := range errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// sentinelsOf returns the token errors that the problems wrap, in the
// order of tokenErrors.
func sentinelsOf(problems []error) []error {
	var out []error
	for _, s := range tokenErrors {
		if wrapsAny(problems, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestVerifierProblems: Problems reports every problem, where Verify stops
// at the first.
func TestVerifierProblems(t *testing.T) {
	v, keys := conformanceVerifier(t)
	es := keys[jwks.ES256]
	now := verifyNow.Unix()
	good := forge(t, es, nil, goodClaims(nil))
	parts := strings.Split(good, ".")

	for _, tc := range []struct {
		name  string
		token string
		want  []error // the token errors of all the problems, in the order of tokenErrors
		count int     // how many problems
	}{
		{"accepted", good, nil, 0},
		{
			"expired, too long, for another audience, parameters a list",
			forge(t, es, nil, goodClaims(map[string]any{"iat": now - 2*86400, "exp": now - 3600, "aud": testAudience + "/", "parameters": []int{1}})),
			[]error{jwks.ErrMalformed, jwks.ErrExpired, jwks.ErrAudience, jwks.ErrLifetime}, 4,
		},
		{
			"no sub, no iat, no aud",
			forge(t, es, nil, goodClaims(map[string]any{"sub": nil, "iat": nil, "aud": nil})),
			[]error{jwks.ErrAudience, jwks.ErrMissingClaim}, 3,
		},
		{
			// A claim of the wrong type is reported once, and hides no other.
			"numeric sub and string exp, for another audience",
			forge(t, es, nil, goodClaims(map[string]any{"sub": 42, "exp": "soon", "aud": "https://other.example"})),
			[]error{jwks.ErrMalformed, jwks.ErrAudience}, 3,
		},
		{
			// The key is looked up even though the claims fail.
			"unknown kid and expired",
			forge(t, es, map[string]any{"kid": "powersync-0000000000"}, goodClaims(map[string]any{"iat": now - 4000, "exp": now - 3600})),
			[]error{jwks.ErrUnknownKey, jwks.ErrExpired}, 2,
		},
		{
			"another key's alg and a future nbf",
			forge(t, es, map[string]any{"alg": "ES384"}, goodClaims(map[string]any{"nbf": now + 3600})),
			[]error{jwks.ErrSignature, jwks.ErrNotYetValid}, 2,
		},
		{
			"alg none without kid",
			forge(t, es, map[string]any{"alg": "none", "kid": nil}, goodClaims(nil)),
			[]error{jwks.ErrUnknownKey, jwks.ErrSignature}, 2,
		},
		{
			"bad signature and expired",
			parts[0] + "." + b64(toJSON(t, goodClaims(map[string]any{"iat": now - 4000, "exp": now - 3600}))) + "." + parts[2],
			[]error{jwks.ErrSignature, jwks.ErrExpired}, 2,
		},
		{
			// The claims are read even when the header cannot be.
			"header not JSON, claims expired",
			b64([]byte("alg")) + "." + b64(toJSON(t, goodClaims(map[string]any{"iat": now - 4000, "exp": now - 3600}))) + "." + parts[2],
			[]error{jwks.ErrMalformed, jwks.ErrExpired}, 2,
		},
		{
			"empty signature, no exp",
			parts[0] + "." + b64(toJSON(t, goodClaims(map[string]any{"exp": nil}))) + ".",
			[]error{jwks.ErrMalformed, jwks.ErrMissingClaim}, 2,
		},
		{"two parts", parts[0] + "." + parts[1], []error{jwks.ErrMalformed}, 1},
		{"oversized", forge(t, es, nil, goodClaims(map[string]any{"pad": strings.Repeat("x", jwks.MaxTokenSize)})), []error{jwks.ErrMalformed}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := v.Problems(context.Background(), tc.token)
			assert.Equal(t, tc.want, sentinelsOf(problems), "%v", problems)
			assert.Len(t, problems, tc.count, "%v", problems)
			_, err := v.Verify(context.Background(), tc.token)
			assertProblemsAgree(t, v, tc.token, err)
		})
	}
}

// TestVerifierProblemsOptions: the problems follow the Verifier's options,
// as Verify does.
func TestVerifierProblemsOptions(t *testing.T) {
	now := verifyNow.Unix()
	v, keys := conformanceVerifier(t, jwks.WithIssuer("https://issuer.example"), jwks.WithMaxTokenLifetime(time.Hour))
	tok := forge(t, keys[jwks.EdDSA], nil, goodClaims(map[string]any{"iss": "https://other.example", "iat": now - 10, "exp": now + 7200}))
	problems := v.Problems(context.Background(), tok)
	assert.Equal(t, []error{jwks.ErrIssuer, jwks.ErrLifetime}, sentinelsOf(problems), "%v", problems)
	_, err := v.Verify(context.Background(), tok)
	assertProblemsAgree(t, v, tok, err)
}

// TestVerifierProblemsHS256: an HS256 token needs no kid, and is checked
// with the secret of WithHS256Secret.
func TestVerifierProblemsHS256(t *testing.T) {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	v, _ := conformanceVerifier(t, jwks.WithHS256Secret(secret))
	hs := func(secret []byte, claims map[string]any) string {
		input := b64(toJSON(t, map[string]any{"alg": "HS256", "typ": "JWT"})) + "." + b64(toJSON(t, claims))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}
	for _, tc := range []struct {
		name  string
		token string
		want  []error
	}{
		{"good", hs(secret, goodClaims(nil)), nil},
		{"other secret", hs([]byte("another-secret-of-at-least-32-characters"), goodClaims(nil)), []error{jwks.ErrSignature}},
		{"other secret, no sub", hs([]byte("another-secret-of-at-least-32-characters"), goodClaims(map[string]any{"sub": nil})), []error{jwks.ErrSignature, jwks.ErrMissingClaim}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := v.Problems(context.Background(), tc.token)
			assert.Equal(t, tc.want, sentinelsOf(problems), "%v", problems)
			_, err := v.Verify(context.Background(), tc.token)
			assertProblemsAgree(t, v, tc.token, err)
		})
	}
}

// partsOf returns the Part of each problem.
func partsOf(t testing.TB, problems []error) []string {
	t.Helper()
	var parts []string
	for _, p := range problems {
		var pe *jwks.ProblemError
		require.ErrorAs(t, p, &pe)
		parts = append(parts, pe.Part)
	}
	return parts
}

// TestVerifierProblemsParts: each problem names the part of the token at
// fault.
func TestVerifierProblemsParts(t *testing.T) {
	v, keys := conformanceVerifier(t)
	es := keys[jwks.ES256]
	now := verifyNow.Unix()
	good := forge(t, es, nil, goodClaims(nil))
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name  string
		token string
		want  []string
	}{
		{"form", parts[0] + "." + parts[1], []string{"token"}},
		{"crit header, expired", forge(t, es, map[string]any{"crit": []string{"x"}}, goodClaims(map[string]any{"iat": now - 4000, "exp": now - 3600})), []string{"token", "exp"}},
		{"alg and kid", forge(t, es, map[string]any{"alg": "none", "kid": nil}, goodClaims(nil)), []string{"alg", "kid"}},
		{"unknown kid", forge(t, es, map[string]any{"kid": "nope"}, goodClaims(nil)), []string{"kid"}},
		{"key's alg", forge(t, es, map[string]any{"alg": "ES384"}, goodClaims(nil)), []string{"signature"}},
		{"signature", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA", []string{"signature"}},
		{"claims not JSON", forgeRawClaims(t, es, []byte("x")), []string{"claims"}},
		{
			"every claim",
			forge(t, es, nil, goodClaims(map[string]any{"sub": nil, "iat": now - 2*86400, "exp": now - 3600, "nbf": now + 3600, "aud": "x", "jti": 1, "parameters": "p", "role": "r"})),
			[]string{"jti", "sub", "exp", "exp", "nbf", "aud", "parameters"},
		},
		{"exp before iat", forge(t, es, nil, goodClaims(map[string]any{"iat": now + 30, "exp": now + 20})), []string{"exp"}},
		{"iat ahead", forge(t, es, nil, goodClaims(map[string]any{"iat": now + 3600, "exp": now + 3900})), []string{"iat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := v.Problems(context.Background(), tc.token)
			assert.Equal(t, tc.want, partsOf(t, problems), "%v", problems)
		})
	}
}
