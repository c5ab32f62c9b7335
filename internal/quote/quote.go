// Package quote is the one rule for text a client controls (a token's
// claims and header, a request's path, an upstream's answer) that goes into
// an error message or a log line: it is quoted and escaped as
// [strconv.Quote] does, so that control characters, line breaks, terminal
// escapes and invalid UTF-8 cannot forge a log line or garble a terminal,
// and bounded to its first 32 bytes, cut on a UTF-8 boundary, so that it
// cannot flood a log either.
package quote

import (
	"strconv"
	"unicode/utf8"
)

// maxLen is the most bytes of a value that are quoted.
const maxLen = 32

// Value returns s as a Go string literal ("…", escaped as [strconv.Quote]
// does) of at most its first 32 bytes, cut before a rune that would cross
// the bound. A value that was cut is followed by "…" outside the quotes.
// Callers print the result as it is (%s), never with %q.
func Value(s string) string {
	if len(s) <= maxLen {
		return strconv.Quote(s)
	}
	n := 0
	for n < len(s) {
		_, size := utf8.DecodeRuneInString(s[n:]) // 1 for an invalid byte
		if n+size > maxLen {
			break
		}
		n += size
	}
	return strconv.Quote(s[:n]) + "…"
}
