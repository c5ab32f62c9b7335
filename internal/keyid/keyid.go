// Package keyid holds the one rule for key IDs, which package jwks applies
// to its own keys and to the kid of every token it verifies, and package
// remote to the kid a lookup asks for before it refetches a key set.
package keyid

import (
	"unicode"
	"unicode/utf8"
)

// MaxLength is the longest key ID, in bytes.
const MaxLength = 256

// Valid reports whether kid could name a key: 1 to MaxLength bytes of
// UTF-8 without control characters, which would be awkward in a header, a
// JWKS or a log line. It allocates nothing.
func Valid(kid string) bool {
	if kid == "" || len(kid) > MaxLength || !utf8.ValidString(kid) {
		return false
	}
	for _, r := range kid {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
