package jwks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// TestErrorsQuoteClientText: where an error names a value of the token, it
// is quoted and escaped (no raw control character or invalid UTF-8 reaches
// a log line), bounded to its first 32 bytes, cut on a UTF-8 boundary, with
// "…" after the closing quote when cut.
func TestErrorsQuoteClientText(t *testing.T) {
	v, keys := conformanceVerifier(t, jwks.WithIssuer("https://issuer.example"))
	es := keys[jwks.ES256]
	good := func(changes map[string]any) map[string]any {
		return goodClaims(mergeClaims(map[string]any{"iss": "https://issuer.example"}, changes))
	}
	forgeCRLF := "\r\nlevel=ERROR msg=forged"
	for _, tc := range []struct {
		name  string
		token string
		want  error
		quote string // what the message must hold
	}{
		{"kid cut on a rune boundary", forge(t, es, map[string]any{"kid": strings.Repeat("k", 31) + "é" + forgeCRLF}, good(nil)),
			jwks.ErrUnknownKey, `kid "` + strings.Repeat("k", 31) + `"…`},
		{"kid with CRLF", forge(t, es, map[string]any{"kid": "k" + forgeCRLF}, good(nil)),
			jwks.ErrUnknownKey, `kid "k\r\nlevel=ERROR msg=forged"`},
		{"alg with an ANSI escape", forge(t, es, map[string]any{"alg": "\x1b[2J\x1b[31mES256"}, good(nil)),
			jwks.ErrSignature, `algorithm "\x1b[2J\x1b[31mES256" not allowed`},
		{"aud with NEL and LF", forge(t, es, nil, good(map[string]any{"aud": "https://x\u0085\n"})),
			jwks.ErrAudience, `"https://x\u0085\n"`},
		{"iss with a bidi override", forge(t, es, nil, good(map[string]any{"iss": "https://issuer.example\u202e"})),
			jwks.ErrIssuer, `"https://issuer.example\u202e"`},
		{"long iss", forge(t, es, nil, good(map[string]any{"iss": strings.Repeat("i", 5000)})),
			jwks.ErrIssuer, `"` + strings.Repeat("i", 32) + `"…`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			require.ErrorIs(t, err, tc.want)
			msg := err.Error()
			assert.Contains(t, msg, tc.quote)
			assert.NotContains(t, msg, "\r")
			assert.NotContains(t, msg, "\n")
			assert.NotContains(t, msg, "\x1b")
			assert.NotContains(t, msg, "\u202e")
			assert.NotContains(t, msg, "\u0085")
			assert.LessOrEqual(t, len(msg), 200, msg)
		})
	}
}

// mergeClaims returns a with the members of b added or replaced.
func mergeClaims(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}
