package jwks_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"strings"
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

// TestVerifyECDSAShapes checks ECDSA signatures whose R or S start with a
// zero byte or a high bit (their ASN.1 INTEGERs lose or gain a byte) on
// every curve, and that a signature whose R or S is zero, or is the order
// of the curve, is refused.
func TestVerifyECDSAShapes(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []jwks.Algorithm{jwks.ES256, jwks.ES384, jwks.ES512} {
		t.Run(string(alg), func(t *testing.T) {
			key := testkit.Key(t, alg)
			ks, err := jwks.NewKeySet(key)
			require.NoError(t, err)
			v, err := jwks.NewVerifier(ks, testAudience)
			require.NoError(t, err)
			floor := newFloorSigner(string(alg), key.KeyID(), privateOf(t, key), testAudience)

			want := 4
			if alg == jwks.ES512 {
				want = 3 // P-521's top byte is 0 or 1: never the high bit
			}
			seen := map[string]bool{}
			for i := 0; i < 3000 && len(seen) < want; i++ {
				tok, err := floor.sign("u")
				require.NoError(t, err)
				sig, err := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
				require.NoError(t, err)
				r, s := sig[:len(sig)/2], sig[len(sig)/2:]
				shape := ""
				switch {
				case r[0] == 0:
					shape = "R with a zero byte ahead"
				case s[0] == 0:
					shape = "S with a zero byte ahead"
				case r[0]&0x80 != 0 && s[0]&0x80 != 0:
					shape = "R and S with the high bit"
				case r[0]&0x80 == 0 && s[0]&0x80 == 0:
					shape = "R and S without the high bit"
				}
				if shape == "" || seen[shape] {
					continue
				}
				seen[shape] = true
				_, err = v.Verify(ctx, tok)
				require.NoError(t, err, shape)
			}
			assert.Len(t, seen, want, "every shape came up")

			tok, err := floor.sign("u")
			require.NoError(t, err)
			input := tok[:strings.LastIndexByte(tok, '.')]
			n := key.Public().(*ecdsa.PublicKey).Curve.Params().N
			width := (key.Public().(*ecdsa.PublicKey).Curve.Params().BitSize + 7) / 8
			good, err := base64.RawURLEncoding.DecodeString(tok[len(input)+1:])
			require.NoError(t, err)
			for name, bad := range map[string][]byte{
				"R zero":      append(make([]byte, width), good[width:]...),
				"S zero":      append(append([]byte{}, good[:width]...), make([]byte, width)...),
				"R is N":      append(n.FillBytes(make([]byte, width)), good[width:]...),
				"S is N":      append(append([]byte{}, good[:width]...), n.FillBytes(make([]byte, width))...),
				"all ones":    bytes.Repeat([]byte{0xff}, 2*width),
				"one bit off": func() []byte { b := append([]byte{}, good...); b[len(b)-1] ^= 1; return b }(),
			} {
				_, err := v.Verify(ctx, input+"."+base64.RawURLEncoding.EncodeToString(bad))
				assert.ErrorIs(t, err, jwks.ErrSignature, name)
			}
		})
	}
}
