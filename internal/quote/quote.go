// Package quote bounds the text a client controls before it goes into an
// error message or a log line.
package quote

// maxLen is the most bytes of a value that are quoted.
const maxLen = 32

// Value shortens s to at most 32 bytes, marking a cut with "…".
func Value(s string) string {
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "…"
}
