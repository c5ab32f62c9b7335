package testkit

import (
	"encoding/json"
	"net/http"
	"testing"
)

// A TokenBody is the JSON of a successful response of the token handler
// ([jwks.NewTokenHandler]).
type TokenBody struct {
	Token        string `json:"token"`
	PowerSyncURL string `json:"powersync_url"`
	ExpiresAt    string `json:"expires_at"`
	UserID       string `json:"user_id"`
}

// ErrorBody checks that a response is a JSON error in the shape every
// handler of the module writes — Content-Type application/json,
// X-Content-Type-Options nosniff, and a body {"error", "error_description"}
// with both members set — and returns its error code and description. The
// test fails otherwise.
func ErrorBody(t testing.TB, header http.Header, body []byte) (code, description string) {
	t.Helper()
	if got := header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("testkit: a JSON error has Content-Type %q: %s", got, body)
	}
	if got := header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("testkit: a JSON error has X-Content-Type-Options %q, want nosniff", got)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("testkit: a JSON error that does not decode (%v): %s", err, body)
	}
	if e.Error == "" || e.Description == "" {
		t.Fatalf(`testkit: a JSON error without "error" or "error_description": %s`, body)
	}
	return e.Error, e.Description
}
