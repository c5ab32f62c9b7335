// Package bearer reads the credential of an HTTP Authorization header, for
// the verifying middleware of package jwks and the Supabase authenticator.
package bearer

import (
	"errors"
	"net/http"
	"strings"
)

// Errors of the Authorization header, kept apart from token errors: the
// first means "not signed in", the second "signed in wrongly".
var (
	ErrNoCredentials  = errors.New("no Authorization header")
	ErrBadCredentials = errors.New("malformed Authorization header")
)

// Token returns the credential of r's Authorization header: exactly one
// header, of the form "<scheme> <token68>" with a single space, where scheme
// is Bearer (any case) or, when tokenScheme is set, PowerSync's Token, and
// the credential is at most maxLen bytes. Anything else (two headers, two
// credentials, stray whitespace, characters outside token68) is refused with
// ErrBadCredentials; no header at all with ErrNoCredentials.
func Token(r *http.Request, tokenScheme bool, maxLen int) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", ErrBadCredentials
	}
	scheme, cred, ok := strings.Cut(values[0], " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || tokenScheme && strings.EqualFold(scheme, "Token")) ||
		len(cred) > maxLen || !isToken68(cred) {
		return "", ErrBadCredentials
	}
	return cred, nil
}

// isToken68 reports whether s is a token68 of RFC 9110 section 11.2, which
// covers JWTs and Supabase's sb_… API keys.
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
