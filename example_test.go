package jwks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/ratelimit"
)

func ExampleGenerateKey() {
	key, err := jwks.GenerateKey(jwks.ES256)
	if err != nil {
		log.Fatal(err)
	}
	secret, err := key.MarshalPrivate(jwks.FormatSecret) // the seed's POWERSYNC_PRIVATE_KEY
	if err != nil {
		log.Fatal(err)
	}
	again, err := jwks.ParseKey(secret)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Algorithm(), strings.HasPrefix(key.KeyID(), "powersync-"), len(key.KeyID()))
	fmt.Println(again.Equal(key), again.CanSign())
	// Output:
	// ES256 true 20
	// true true
}

func ExampleParseKey() {
	// A public key as the seed's POWERSYNC_PUBLIC_KEY holds it: base64 of the
	// JWK JSON. ParseKey also reads the JSON itself and PEM.
	secret := base64.StdEncoding.EncodeToString([]byte(`{"kty":"EC","crv":"P-256",` +
		`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",` +
		`"alg":"ES256","kid":"powersync-0123456789"}`))

	key, err := jwks.ParseKey([]byte(secret))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key)

	_, err = jwks.ParseKey([]byte(`{"kty":"oct","k":"c2VjcmV0"}`))
	fmt.Println(errors.Is(err, jwks.ErrUnsupportedAlgorithm))
	// Output:
	// jwks.Key(ES256 public, kid "powersync-0123456789")
	// true
}

func ExampleNewKeySet() {
	current, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-2"))
	previous, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-1"))

	// The current key signs; the previous one stays published, public half
	// only, until the last token it signed has expired.
	ks, err := jwks.NewKeySet(current, previous.PublicOnly())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signs:", ks.SigningKey().KeyID())
	for _, k := range ks.Keys() {
		fmt.Println("published:", k.KeyID())
	}
	fmt.Println(strings.Contains(string(ks.JWKS()), `"d"`))
	// Output:
	// signs: key-2
	// published: key-2
	// published: key-1
	// false
}

func ExampleNewJWKSHandler() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)

	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwks.NewJWKSHandler(ks))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))

	// A client that has the document already gets 304 Not Modified.
	req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// 200 application/json public, max-age=300
	// 304
}

func ExampleSigner_Sign() {
	key, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("powersync-0123456789"))
	ks, _ := jwks.NewKeySet(key)
	signer, err := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com",
		jwks.WithIssuer("https://ref.supabase.co"),
		jwks.WithClock(func() time.Time { return time.Unix(1790000000, 0) }))
	if err != nil {
		log.Fatal(err)
	}

	tok, err := signer.Sign(context.Background(), "f7ba0a56-0b2d-4a3b-9d4a-5d5e0f0c2a11",
		jwks.WithParameters(map[string]any{"org_id": "acme"}))
	if err != nil {
		log.Fatal(err)
	}
	parts := strings.Split(tok.Raw, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	fmt.Println(string(header))
	fmt.Println(string(claims))
	fmt.Println(tok.ExpiresAt.UTC())
	// Output:
	// {"alg":"ES256","kid":"powersync-0123456789","typ":"JWT"}
	// {"sub":"f7ba0a56-0b2d-4a3b-9d4a-5d5e0f0c2a11","aud":"https://abc123.powersync.journeyapps.com","iss":"https://ref.supabase.co","iat":1790000000,"exp":1790000300,"parameters":{"org_id":"acme"}}
	// 2026-09-21 14:18:20 +0000 UTC
}

func ExampleVerifier_Verify() {
	const audience = "https://abc123.powersync.journeyapps.com"
	key, _ := jwks.GenerateKey(jwks.EdDSA)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, audience)
	verifier, err := jwks.NewVerifier(ks, audience)
	if err != nil {
		log.Fatal(err)
	}

	tok, _ := signer.Sign(context.Background(), "user-1")
	claims, err := verifier.Verify(context.Background(), tok.Raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified", claims.Subject)

	// An hour later the token has expired.
	later, _ := jwks.NewVerifier(ks, audience, jwks.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	_, err = later.Verify(context.Background(), tok.Raw)
	switch {
	case errors.Is(err, jwks.ErrExpired):
		fmt.Println("expired: ask the client to fetch a new token")
	case errors.Is(err, jwks.ErrUnavailable):
		fmt.Println("try again later")
	case err != nil:
		fmt.Println("refused")
	}
	// Output:
	// verified user-1
	// expired: ask the client to fetch a new token
}

func ExampleNewTokenHandler() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// The seed's two public routes, on the host's own mux.
	mux := http.NewServeMux()
	mux.Handle("GET /powersync-jwks", jwks.NewJWKSHandler(ks))
	mux.Handle("/powersync-auth-anonymous", jwks.NewTokenHandler(signer, jwks.Anonymous()))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/powersync-auth-anonymous", nil))
	var body struct {
		Token        string `json:"token"`
		PowerSyncURL string `json:"powersync_url"`
		UserID       string `json:"user_id"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"))
	fmt.Println(body.PowerSyncURL, body.UserID, strings.Count(body.Token, "."))
	// Output:
	// 200 no-store
	// https://abc123.powersync.journeyapps.com anonymous 2
}

func ExampleAnonymous() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// Every anonymous client gets a subject of its own ("anon-<uuid>"), and
	// at most 10 tokens at once, then one a second, per IP address.
	limiter, err := ratelimit.New(time.Second, 10)
	if err != nil {
		log.Fatal(err)
	}
	h := jwks.NewTokenHandler(signer, jwks.Anonymous(jwks.WithUniqueSubjects()), jwks.WithRateLimit(limiter))

	for range 11 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/powersync-auth-anonymous", nil))
		if rec.Code != http.StatusOK {
			fmt.Println(rec.Code, "retry after", rec.Header().Get("Retry-After"), "s")
		}
	}
	// Output:
	// 429 retry after 1 s
}
