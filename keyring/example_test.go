package keyring_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
)

// A server that keeps its keys in a file and rotates them every 30 days.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the Manager's goroutine

	dir, err := os.MkdirTemp("", "keyring")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := keyring.NewFileStore(filepath.Join(dir, "keyring.json"))
	if err != nil {
		log.Fatal(err)
	}
	kek := make([]byte, keyring.KEKSize) // in production: 32 random bytes from a secret store
	ring, err := keyring.New(ctx, store, keyring.Policy{RotateEvery: 30 * 24 * time.Hour},
		keyring.WithKeyEncryptionKeys(kek))
	if err != nil {
		log.Fatal(err) // the ring cannot be read: do not start
	}

	const audience = "https://example.powersync.journeyapps.com"
	signer, err := jwks.NewSigner(ring.KeySet(), audience)
	if err != nil {
		log.Fatal(err)
	}
	jwksHandler, err := jwks.NewJWKSHandler(ring.KeySet())
	if err != nil {
		log.Fatal(err)
	}
	tokenHandler, err := jwks.NewTokenHandler(signer, jwks.Anonymous())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwksHandler)
	mux.Handle("/powersync-auth-anonymous", tokenHandler)

	tok, err := signer.Sign(ctx, "user-1")
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := jwks.NewVerifier(ring.KeySet(), audience)
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(ctx, tok.Raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.KeyID == ring.Entries()[0].KeyID())
	// Output: user-1 true
}

// Rotating by hand: a next key is published at once, and may sign only once
// its publish-ahead is over, unless the promotion is forced.
func ExampleManager_Promote() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ring, err := keyring.New(ctx, keyring.NewMemoryStore(), keyring.Policy{}, keyring.WithLogger(nil))
	if err != nil {
		log.Fatal(err)
	}

	next, err := ring.Stage(ctx)
	if err != nil {
		log.Fatal(err)
	}
	_, published := ring.KeySet().Key(next.KeyID())
	fmt.Println("next key published:", published)

	_, err = ring.Promote(ctx, next.KeyID(), false)
	fmt.Println("promoted at once:", !errors.Is(err, keyring.ErrTooEarly))

	// Forced: verifiers that have not fetched the JWKS since the key was
	// staged may refuse its tokens until they do (the Manager logs it).
	if _, err := ring.Promote(ctx, next.KeyID(), true); err != nil {
		log.Fatal(err)
	}
	fmt.Println("signing with the next key:", ring.KeySet().SigningKey().KeyID() == next.KeyID())
	for _, e := range ring.Entries() {
		fmt.Println(e.State)
	}
	// Output:
	// next key published: true
	// promoted at once: false
	// signing with the next key: true
	// retired
	// active
}
