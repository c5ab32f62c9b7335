package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Audiences: a [Signer] writes them to "aud" and a [Verifier] requires one of
// them there. Both compare byte for byte, as PowerSync does:
// "https://x.example" and "https://x.example/" are different audiences.

// checkAudiences refuses empty audiences, duplicates, and audiences with
// surrounding spaces (a stray newline from an environment file would make
// every token fail PowerSync's byte-for-byte comparison). [NewSigner] and
// [NewVerifier] check their audiences with it.
func checkAudiences(auds []string) error {
	for i, a := range auds {
		switch {
		case a == "":
			return errors.New("jwks: empty audience")
		case a != strings.TrimSpace(a) || !utf8.ValidString(a):
			return fmt.Errorf("jwks: audience %q has surrounding spaces or invalid UTF-8", a)
		case slices.Contains(auds[:i], a):
			return fmt.Errorf("jwks: audience %q given twice", a)
		}
	}
	return nil
}

// decodeAudience reads "aud": a string or an array of strings.
func decodeAudience(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: aud", ErrMalformed)
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: aud is neither a string nor an array of strings", ErrMalformed)
	}
	return list, nil
}

// acceptsAudience reports whether any of a token's audiences is one of the
// accepted ones.
func acceptsAudience(accepted, token []string) bool {
	return slices.ContainsFunc(token, func(a string) bool { return slices.Contains(accepted, a) })
}
