package bearer

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzToken: no Authorization header makes Token panic; it answers with one
// of its two errors or with a credential that is token68, at most maxLen
// bytes, and the header's own text after "<scheme> ". The seed corpus is in
// testdata/fuzz/FuzzToken. Run longer with
// go test -run '^$' -fuzz '^FuzzToken$' -fuzztime 5m ./internal/bearer.
func FuzzToken(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "", false, uint16(16<<10))
	f.Add("Token eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "", true, uint16(16<<10))
	f.Add("bearer sb_publishable_abc==", "", false, uint16(64))
	f.Add("Bearer  two", "", false, uint16(64))
	f.Add("Bearer a", "Bearer b", false, uint16(64))
	f.Fuzz(func(t *testing.T, header, second string, tokenScheme bool, maxLen uint16) {
		// Empty strings stand for no header, so that the target sees zero,
		// one or two Authorization headers.
		var values []string
		for _, v := range []string{header, second} {
			if v != "" {
				values = append(values, v)
			}
		}
		r := &http.Request{Header: http.Header{}}
		if values != nil {
			r.Header["Authorization"] = values
		}
		cred, err := Token(r, tokenScheme, int(maxLen))
		if err != nil {
			if cred != "" {
				t.Fatalf("a credential with an error: %q, %v", cred, err)
			}
			if !errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("an error of neither kind: %v", err)
			}
			if errors.Is(err, ErrNoCredentials) != (len(values) == 0) {
				t.Fatalf("ErrNoCredentials is for no header at all, got %v with %q", err, values)
			}
			return
		}
		if len(values) != 1 {
			t.Fatalf("a credential from %d Authorization headers: %q", len(values), cred)
		}
		header = values[0]
		if len(cred) > int(maxLen) || !isToken68(cred) || !strings.HasSuffix(header, " "+cred) {
			t.Fatalf("credential %q of header %q", cred, header)
		}
		scheme := strings.TrimSuffix(header, " "+cred)
		if !strings.EqualFold(scheme, "Bearer") && !(tokenScheme && strings.EqualFold(scheme, "Token")) {
			t.Fatalf("scheme %q accepted (tokenScheme %v)", scheme, tokenScheme)
		}
		for i := 0; i < len(cred); i++ {
			if c := cred[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' {
				t.Fatalf("credential %q holds %q", cred, c)
			}
		}
	})
}
