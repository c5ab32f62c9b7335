package main

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
)

// TestJSONText: a value is shortened to 60 bytes of JSON, cut before a rune
// that would cross the bound, never inside it.
func TestJSONText(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"short", "abc", `"abc"`},
		{"exactly 60 bytes", strings.Repeat("a", 58), `"` + strings.Repeat("a", 58) + `"`},
		{"ASCII over", strings.Repeat("a", 100), `"` + strings.Repeat("a", 59) + "…"},
		// `"` then 2-byte runes: bytes 59-60 are one "é", cut before it.
		{"2-byte rune across the bound", strings.Repeat("é", 40), `"` + strings.Repeat("é", 29) + "…"},
		{"4-byte rune across the bound", "ab" + strings.Repeat("😀", 20), `"ab` + strings.Repeat("😀", 14) + "…"},
		{"4-byte rune ending at the bound", "a" + strings.Repeat("😀", 20), `"a` + strings.Repeat("😀", 14) + "…"},
		{"invalid UTF-8, as JSON writes it", strings.Repeat("\xff", 30), `"` + strings.Repeat(`\ufffd`, 9) + `\ufff` + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := jsonText(tc.v)
			assert.Equal(t, tc.want, got)
			assert.True(t, utf8.ValidString(got), "%q", got)
			assert.LessOrEqual(t, len(strings.TrimSuffix(got, "…")), maxJSONText)
		})
	}
}

// TestReportBoundsKeyIDs: the kid of a JWKS entry, as long as the document
// likes, is printed bounded and escaped (quote.Value) in the skipped
// entries, the problems and the notes.
func TestReportBoundsKeyIDs(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	long := strings.Repeat("é", 100) // 200 bytes: a kid ParseKey takes
	dropped := publicJWK(t, testKey(t, jwks.EdDSA, "key-ed"))
	dropped["kid"], dropped["use"] = "k\n"+long, "enc"
	broken := publicJWK(t, testKey(t, jwks.EdDSA, "key-ed"))
	broken["kid"] = long + "2"
	delete(broken, "x")
	noAlg := publicJWK(t, testKey(t, jwks.ES384, "key-es384"))
	noAlg["kid"] = long + "3"
	delete(noAlg, "alg")
	path := jwksFile(t, document(t, es, dropped, broken, noAlg))
	r := runCheck(t, time.Time{}, "", "check", "-jwks", path, "-audience", testAudience, sign(t, es, testAudience))
	require.Equal(t, exitRefused, r.code, "%s%s", r.stdout, r.stderr) // the entry PowerSync cannot import
	assert.True(t, utf8.ValidString(r.stdout))
	q := quote.Value(long)
	for _, want := range []string{"key 1 (kid " + quote.Value("k\n"+long) + ")", "key 2 (kid " + q + ")", "key 3 (kid " + q + ") has no \"alg\"", "key 2 of the JWKS (kid " + q + ")"} {
		assert.Contains(t, r.stdout, want)
	}
	// The list of usable kids gives them whole (ParseKey bounds a kid to
	// 256 bytes of UTF-8, without control characters), to be compared with
	// the token's.
	assert.Contains(t, r.stdout, `"key-es", "`+long+`3"`)
	assert.NotContains(t, r.stdout, long+"2", "no kid of a skipped entry unbounded")
	assert.NotContains(t, r.stdout, `"k\n`+strings.Repeat("é", 17), "no kid of a skipped entry unbounded")
	assert.NotContains(t, r.stdout, "k\n", "no kid unescaped")
}
