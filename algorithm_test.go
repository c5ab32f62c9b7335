package jwks_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestAlgorithms(t *testing.T) {
	algs := jwks.Algorithms()
	assert.Equal(t, []jwks.Algorithm{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}, algs)
	algs[0] = "PS256"
	assert.Equal(t, jwks.RS256, jwks.Algorithms()[0], "Algorithms returns a new slice")
	for _, a := range jwks.Algorithms() {
		assert.True(t, a.Supported())
		assert.Equal(t, string(a), a.String())
	}
	for _, a := range []jwks.Algorithm{"PS256", "ES256K", "HS256", "none", "", "es256"} {
		assert.False(t, a.Supported(), a)
	}
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(mustPublicJWK(t, testkit.Key(t, jwks.EdDSA)), &m))
	assert.Equal(t, `"EdDSA"`, string(m["alg"]))
}
