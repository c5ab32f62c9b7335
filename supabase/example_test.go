package supabase_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/supabase"
)

// A backend gives the signed-in users of a Supabase project their PowerSync
// tokens. Here a stand-in for Supabase Auth plays the project.
func Example() {
	project := &exampleT{}
	defer project.close()
	sb := supabasetest.New(project) // the project's Auth, on loopback

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the background refresh of the project's JWKS

	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// The project's users are verified against its JWKS, fetched in the
	// background: no call to Supabase per request.
	users, err := supabase.New(ctx, sb.URL(),
		supabase.WithAPIKey(sb.PublishableKey()),
		supabase.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	h, err := jwks.NewTokenHandler(signer, users, jwks.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	ask := func(bearer string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/powersync-auth", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	// A signed-in user's access token gets a PowerSync token for the
	// user's ID.
	alice := sb.NewUser()
	rec := ask(sb.Token(alice))
	var body struct {
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body.UserID == alice.ID)

	// supabase-js sends the publishable key as the bearer when nobody is
	// signed in: that is "not signed in", never a server error.
	rec = ask(sb.PublishableKey())
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate") != "")
	// Output:
	// 200 true
	// 401 true
}

// exampleT stands in for the *testing.T that supabasetest.New wants: an
// Example has none.
type exampleT struct {
	testing.TB // nil: only the methods below are called
	cleanups   []func()
}

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

// close runs the cleanups, last first, as a test's end does.
func (t *exampleT) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
