package remote

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestErrorsAndLogsQuoteKeyIDs: a key ID from a token or from the document
// reaches errors and logs quoted, escaped and bounded to 32 bytes, cut on a
// UTF-8 boundary.
func TestErrorsAndLogsQuoteKeyIDs(t *testing.T) {
	a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
	secret := jwkMap(t, a)
	secret["kid"], secret["d"] = "evil\x1b[2J\r\nlevel=ERROR", "AAAA"
	_, url := newLoopbackServer(t, serveDoc(docOf(t, a, secret)))
	logs := &testkit.LogBuffer{}
	ks := newLoopbackKeySet(t, url, WithLogger(logs.Logger()))
	require.NoError(t, ks.Refresh(t.Context()))

	out := logs.String()
	assert.Contains(t, out, `evil\\x1b[2J\\r\\nlevel=ERROR`, "the skipped key's kid is escaped")
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\nlevel=ERROR", "no forged record")

	kid := strings.Repeat("k", 31) + "é"
	_, err := ks.LookupKey(t.Context(), kid)
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
	assert.Contains(t, err.Error(), `kid "`+strings.Repeat("k", 31)+`"…`)
	assert.NotContains(t, err.Error(), `\xc3`, "not cut inside a rune")
}
