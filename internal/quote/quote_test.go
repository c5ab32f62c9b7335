package quote

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "user-1", `"user-1"`},
		{"quotes and backslashes", `a"b\c`, `"a\"b\\c"`},
		{"LF", "a\nb", `"a\nb"`},
		{"CRLF forging a log line", "x\r\nlevel=ERROR msg=forged", `"x\r\nlevel=ERROR msg=forged"`},
		{"NUL and other control characters", "a\x00b\x07c\x7f", `"a\x00b\ac\x7f"`},
		{"ANSI escape", "\x1b[31mred\x1b[0m", `"\x1b[31mred\x1b[0m"`},
		{"invalid UTF-8", "a\xffb\xc3", `"a\xffb\xc3"`},
		{"Unicode line separator", "a\u2028b", `"a\u2028b"`},
		{"bidi override", "a\u202eb", `"a\u202eb"`},
		{"printable non-ASCII", "café ☕", `"café ☕"`},
		{"exactly 32 bytes", strings.Repeat("a", 32), `"` + strings.Repeat("a", 32) + `"`},
		{"33 bytes", strings.Repeat("a", 33), `"` + strings.Repeat("a", 32) + `"…`},
		{"long", strings.Repeat("b", 10000), `"` + strings.Repeat("b", 32) + `"…`},
		// "é" is 2 bytes: 31 bytes of a, then é at bytes 31-32, cut before it.
		{"multibyte rune across the bound", strings.Repeat("a", 31) + "é", `"` + strings.Repeat("a", 31) + `"…`},
		{"multibyte rune ending at the bound", strings.Repeat("a", 30) + "éz", `"` + strings.Repeat("a", 30) + `é"…`},
		{"4-byte runes", strings.Repeat("😀", 9), `"` + strings.Repeat("😀", 8) + `"…`},
		{"invalid bytes across the bound", strings.Repeat("\xff", 40), `"` + strings.Repeat(`\xff`, 32) + `"…`},
		{"control characters past the bound", strings.Repeat("a", 32) + "\r\n", `"` + strings.Repeat("a", 32) + `"…`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Value(tc.in)
			if got != tc.want {
				t.Fatalf("Value(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if strings.ContainsAny(got, "\r\n\x1b\x00") || !utf8.ValidString(got) {
				t.Errorf("Value(%q) = %s holds raw control characters or invalid UTF-8", tc.in, got)
			}
			quoted, _ := strings.CutSuffix(got, "…")
			unq, err := strconv.Unquote(quoted)
			if err != nil {
				t.Fatalf("Value(%q) = %s does not unquote: %v", tc.in, got, err)
			}
			if len(unq) > maxLen || !strings.HasPrefix(tc.in, unq) {
				t.Errorf("Value(%q) quotes %q: not a prefix of at most %d bytes", tc.in, unq, maxLen)
			}
		})
	}
}
