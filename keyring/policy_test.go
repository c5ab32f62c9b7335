package keyring

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

func TestPolicyDefaults(t *testing.T) {
	p := Policy{}.withDefaults()
	assert.Equal(t, Policy{
		RotateEvery:      0,
		PublishAhead:     10*time.Minute + 30*time.Second,
		JWKSMaxAge:       5 * time.Minute,
		VerifierRefresh:  5 * time.Minute,
		StorePoll:        30 * time.Second,
		MaxTokenLifetime: 5 * time.Minute,
		Leeway:           60 * time.Second,
		Algorithm:        jwks.ES256,
	}, p)
	assert.Equal(t, 10*time.Minute+30*time.Second, Policy{}.SafePublishAhead())
	assert.Equal(t, 6*time.Minute+30*time.Second, Policy{}.Retention())
	assert.NoError(t, Policy{}.Validate())

	fast := Policy{StorePoll: 50 * time.Millisecond, JWKSMaxAge: 100 * time.Millisecond, VerifierRefresh: 100 * time.Millisecond,
		MaxTokenLifetime: time.Second, Leeway: 200 * time.Millisecond}
	assert.Equal(t, 250*time.Millisecond, fast.SafePublishAhead())
	assert.Equal(t, 1250*time.Millisecond, fast.Retention())
	fast.RotateEvery = 251 * time.Millisecond
	assert.NoError(t, fast.Validate(), "sub-second periods are allowed")
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		want []string // in the error
	}{
		{"publish-ahead below the safe minimum", Policy{PublishAhead: 10 * time.Minute},
			[]string{"PublishAhead 10m0s", "safe minimum 10m30s", "StorePoll 30s", "JWKSMaxAge 5m0s", "VerifierRefresh 5m0s"}},
		{"publish-ahead below a longer refresh", Policy{PublishAhead: 11 * time.Minute, VerifierRefresh: 10 * time.Minute},
			[]string{"PublishAhead 11m0s", "safe minimum 15m30s", "VerifierRefresh 10m0s"}},
		{"rotation as fast as publish-ahead", Policy{RotateEvery: 10*time.Minute + 30*time.Second},
			[]string{"RotateEvery 10m30s", "PublishAhead 10m30s"}},
		{"rotation faster than publish-ahead", Policy{RotateEvery: time.Minute}, []string{"RotateEvery 1m0s", "exceed PublishAhead"}},
		{"negative", Policy{StorePoll: -time.Second}, []string{"StorePoll -1s", "negative"}},
		{"token lifetime over a day", Policy{MaxTokenLifetime: 25 * time.Hour}, []string{"MaxTokenLifetime 25h0m0s"}},
		{"leeway over 5m", Policy{Leeway: 6 * time.Minute}, []string{"Leeway 6m0s"}},
		{"algorithm", Policy{Algorithm: "HS256"}, []string{`Algorithm "HS256"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			require.Error(t, err)
			for _, s := range tc.want {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
	// Rotation slower than publish-ahead plus retention is not required.
	assert.NoError(t, Policy{RotateEvery: 11 * time.Minute}.Validate())
}
