package jwks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flipUnusedBit changes the lowest bit of the last character of seg, an
// unpadded base64url segment whose length is not a multiple of 4: a bit
// that no decoded byte holds, so a lax decoder reads the same bytes.
func flipUnusedBit(t testing.TB, seg string) string {
	t.Helper()
	require.NotZero(t, len(seg)%4, "the segment has no unused bits")
	last := strings.IndexByte(b64Alphabet, seg[len(seg)-1])
	require.GreaterOrEqual(t, last, 0)
	return seg[:len(seg)-1] + string(b64Alphabet[last^1])
}

// padding returns the "=" that standard base64 would add to seg.
func padding(seg string) string {
	return strings.Repeat("=", (4-len(seg)%4)%4)
}

// TestCanonicalTokens: a token has one spelling. Each segment is decoded as
// strict, unpadded base64url, so that changing unused trailing bits, adding
// padding or inserting line breaks (which Go's decoder would skip) does not
// make another string that verifies as the same token.
func TestCanonicalTokens(t *testing.T) {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	v, keys := conformanceVerifier(t, jwks.WithHS256Secret(secret))
	hs256 := func() string {
		input := b64(toJSON(t, map[string]any{"alg": "HS256", "typ": "JWT"})) + "." + b64(toJSON(t, goodClaims(nil)))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}

	for name, good := range map[string]string{
		"ES256": forge(t, keys[jwks.ES256], nil, goodClaims(nil)),
		"RS256": forge(t, keys[jwks.RS256], nil, goodClaims(nil)),
		"EdDSA": forge(t, keys[jwks.EdDSA], nil, goodClaims(nil)),
		"HS256": hs256(),
	} {
		_, err := v.Verify(context.Background(), good)
		require.NoError(t, err, name)
		p := strings.Split(good, ".")
		join := func(h, c, s string) string { return h + "." + c + "." + s }
		mid := len(p[2]) / 2
		variants := map[string]string{
			"signature with changed unused bits": join(p[0], p[1], flipUnusedBit(t, p[2])),
			"signature with padding":             join(p[0], p[1], p[2]+padding(p[2])),
			"signature with LF appended":         join(p[0], p[1], p[2]+"\n"),
			"signature with CRLF appended":       join(p[0], p[1], p[2]+"\r\n"),
			"signature with CR appended":         join(p[0], p[1], p[2]+"\r"),
			"signature with LF inserted":         join(p[0], p[1], p[2][:mid]+"\n"+p[2][mid:]),
			"signature with CRLF inserted":       join(p[0], p[1], p[2][:mid]+"\r\n"+p[2][mid:]),
			"signature with LF first":            join(p[0], p[1], "\n"+p[2]),
			"header with CRLF inserted":          join(p[0][:4]+"\r\n"+p[0][4:], p[1], p[2]),
			"header with padding":                join(p[0]+padding(p[0])+"=", p[1], p[2]),
			"claims with LF inserted":            join(p[0], p[1][:4]+"\n"+p[1][4:], p[2]),
			"claims with CR appended":            join(p[0], p[1]+"\r", p[2]),
			"claims with padding":                join(p[0], p[1]+padding(p[1])+"=", p[2]),
		}
		if len(p[0])%4 != 0 {
			variants["header with changed unused bits"] = join(flipUnusedBit(t, p[0]), p[1], p[2])
		}
		if len(p[1])%4 != 0 {
			variants["claims with changed unused bits"] = join(p[0], flipUnusedBit(t, p[1]), p[2])
		}
		for variant, tok := range variants {
			t.Run(name+"/"+variant, func(t *testing.T) {
				require.NotEqual(t, good, tok)
				c, err := v.Verify(context.Background(), tok)
				assertProblemsAgree(t, v, tok, err)
				require.ErrorIs(t, err, jwks.ErrMalformed)
				assert.Nil(t, c)
				assert.Equal(t, 1, countSentinels(err), "%v", err)
			})
		}
	}

	t.Run("Authorization header", func(t *testing.T) {
		good := forge(t, keys[jwks.ES256], nil, goodClaims(nil))
		p := strings.Split(good, ".")
		for _, tok := range []string{
			p[0] + "." + p[1] + "." + p[2] + padding(p[2]),
			p[0] + "." + p[1] + "." + flipUnusedBit(t, p[2]),
		} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			_, err := v.VerifyRequest(r)
			require.ErrorIs(t, err, jwks.ErrMalformed)
		}
	})
}
