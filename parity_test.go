package jwks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// TestParityWithPowerSync: the rules of POWERSYNC.md where the Verifier must
// decide as PowerSync's jose does, one row per rule, named after it. The
// Verifier may be stricter than PowerSync (a row says so), never laxer.
//
// jose reads the clock in whole seconds, floor(now), and compares the claims
// as the numbers they are: a token is expired when exp ≤ floor(now) − 60,
// not yet valid when nbf > floor(now) + 60; a present "nbf" must be a
// number, so null is refused.
func TestParityWithPowerSync(t *testing.T) {
	secs := verifyNow.Unix()       // floor(now) in every row
	late := 900 * time.Millisecond // how far into that second the clock is
	frac := func(s int64, f float64) float64 { return float64(s) + f }
	for _, tc := range []struct {
		rule   string
		clock  time.Duration // past verifyNow
		claims map[string]any
		raw    string // claims JSON, instead of claims
		want   error  // nil: accepted
	}{
		{rule: "nbf null is refused", raw: fmt.Sprintf(`{"sub":"user-1","aud":%q,"iat":%d,"exp":%d,"nbf":null}`, testAudience, secs-10, secs+290), want: jwks.ErrMalformed},
		{rule: "nbf a string is refused", claims: goodClaims(map[string]any{"nbf": fmt.Sprint(secs)}), want: jwks.ErrMalformed},
		{rule: "nbf absent is accepted", claims: goodClaims(nil)},
		{rule: "nbf at floor(now)+leeway is accepted", clock: late, claims: goodClaims(map[string]any{"nbf": secs + 60})},
		{rule: "nbf past floor(now)+leeway is refused, even within the second the clock is in", clock: late, claims: goodClaims(map[string]any{"nbf": frac(secs+60, 0.5)}), want: jwks.ErrNotYetValid},
		{rule: "nbf a second past floor(now)+leeway is refused", clock: late, claims: goodClaims(map[string]any{"nbf": secs + 61}), want: jwks.ErrNotYetValid},
		{rule: "exp at floor(now)-leeway is expired", clock: late, claims: goodClaims(map[string]any{"iat": secs - 360, "exp": secs - 60}), want: jwks.ErrExpired},
		{rule: "exp past floor(now)-leeway is valid, even when now-leeway has passed it", clock: late, claims: goodClaims(map[string]any{"iat": secs - 360, "exp": frac(secs-60, 0.5)})},
		{rule: "exp a second past floor(now)-leeway is valid", clock: late, claims: goodClaims(map[string]any{"iat": secs - 360, "exp": secs - 59})},
		{rule: "exp null is refused", raw: fmt.Sprintf(`{"sub":"user-1","aud":%q,"iat":%d,"exp":null}`, testAudience, secs-10), want: jwks.ErrMissingClaim},
		{rule: "iat null is refused", raw: fmt.Sprintf(`{"sub":"user-1","aud":%q,"iat":null,"exp":%d}`, testAudience, secs+290), want: jwks.ErrMissingClaim},
		// Stricter than PowerSync, which does not compare iat with its clock.
		{rule: "stricter: iat past floor(now)+leeway is refused, even within the second the clock is in", clock: late, claims: goodClaims(map[string]any{"iat": frac(secs+60, 0.5), "exp": secs + 400}), want: jwks.ErrNotYetValid},
		{rule: "iat at floor(now)+leeway is accepted", clock: late, claims: goodClaims(map[string]any{"iat": secs + 60, "exp": secs + 400})},
		{rule: "lifetime of 86400 s is accepted", claims: goodClaims(map[string]any{"iat": secs - 100, "exp": secs - 100 + 86400})},
		{rule: "lifetime over 86400 s is refused", claims: goodClaims(map[string]any{"iat": frac(secs-100, 0), "exp": frac(secs-100+86400, 0.5)}), want: jwks.ErrLifetime},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			v, keys := conformanceVerifier(t, jwks.WithClock(fixedClock(verifyNow.Add(tc.clock))))
			var tok string
			if tc.raw != "" {
				tok = forgeRawClaims(t, keys[jwks.ES256], []byte(tc.raw))
			} else {
				tok = forge(t, keys[jwks.ES256], nil, tc.claims)
			}
			c, err := v.Verify(context.Background(), tok)
			assertProblemsAgree(t, v, tok, err)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "user-1", c.Subject)
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, c)
		})
	}
}
