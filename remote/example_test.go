package remote_test

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
)

// A service verifies the tokens that another service signs, reading that
// service's public keys from its JWKS URL.
func Example() {
	// The other service: its key set, signer, and JWKS endpoint.
	key, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-1"))
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(ks.JWKS())
	}))
	defer srv.Close()

	// This service: a KeySet of the other's JWKS, refreshed in the
	// background until ctx is done, behind a Verifier.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := remote.New(ctx, srv.URL, remote.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := jwks.NewVerifier(keys, "https://abc123.powersync.journeyapps.com")
	if err != nil {
		log.Fatal(err)
	}

	token, _ := signer.Sign(ctx, "user-1")
	claims, err := verifier.Verify(ctx, token.Raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.KeyID, keys.KeyIDs())
	// Output:
	// user-1 key-1 [key-1]
}

// A host counts the fetches of a key set, by result, into expvar (which
// serves them as JSON on /debug/vars); a Prometheus or OpenTelemetry counter
// is fed the same way.
func ExampleWithObserver() {
	key, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-1"))
	ks, _ := jwks.NewKeySet(key)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", ks.ETag())
		if r.Header.Get("If-None-Match") == ks.ETag() {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(ks.JWKS())
	}))
	defer srv.Close()

	fetches := expvar.NewMap("jwks_fetches") // by result: loaded, not_modified, failed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := remote.New(ctx, srv.URL,
		remote.WithLogger(slog.New(slog.DiscardHandler)),
		remote.WithObserver(func(ev remote.FetchEvent) {
			fetches.Add(string(ev.Result), 1)
		}))
	if err != nil {
		log.Fatal(err)
	}
	_, _ = keys.LookupKey(ctx, "key-1") // waits for the first fetch
	_ = keys.Refresh(ctx)               // 304 Not Modified
	fmt.Println(fetches.String(), !keys.LastFetch().IsZero())
	// Output:
	// {"loaded": 1, "not_modified": 1} true
}
