package jwks_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
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
	secret, err := key.MarshalPrivate(jwks.FormatSecret) // base64 of the JWK, for POWERSYNC_PRIVATE_KEY
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

func ExampleKey_MarshalPrivate() {
	key, err := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("powersync-0123456789"))
	if err != nil {
		log.Fatal(err)
	}

	// The forms a signing key is kept in: base64 of the private JWK (what
	// POWERSYNC_PRIVATE_KEY holds), the JWK JSON itself, and PKCS #8 PEM,
	// which has no key ID: give it back when the key is read.
	secret, _ := key.MarshalPrivate(jwks.FormatSecret)
	jwk, _ := key.MarshalPrivate(jwks.FormatJWK)
	pem, _ := key.MarshalPrivate(jwks.FormatPEM)
	var members map[string]any
	_ = json.Unmarshal(jwk, &members)
	fmt.Println(members["kty"], members["crv"], members["alg"], members["kid"], members["d"] != nil)
	fmt.Println(strings.SplitN(string(pem), "\n", 2)[0])
	for _, data := range [][]byte{secret, jwk, pem} {
		again, err := jwks.ParseKey(data, jwks.WithKeyID(key.KeyID()))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(again.Equal(key), again.CanSign())
	}

	// Anything else shows the key ID, the algorithm and the public key
	// only: fmt, log/slog, encoding/json.
	fmt.Println(key)
	// Output:
	// EC P-256 ES256 powersync-0123456789 true
	// -----BEGIN PRIVATE KEY-----
	// true true
	// true true
	// true true
	// jwks.Key(ES256 signing, kid "powersync-0123456789")
}

func ExampleParseKey() {
	// A public key as POWERSYNC_PUBLIC_KEY holds it: base64 of the JWK JSON.
	// ParseKey also reads the JSON itself and PEM.
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

	jwksHandler, err := jwks.NewJWKSHandler(ks)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwksHandler)

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

	// The JWKS that PowerSync fetches and the endpoint that hands out
	// tokens, on the host's own mux. The constructors refuse a
	// configuration no request could be served with.
	jwksHandler, err := jwks.NewJWKSHandler(ks)
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

func ExampleNewTokenHandler_cors() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// An origin is scheme://host[:port], as browsers send it: a trailing
	// slash is a configuration error, reported at start-up.
	_, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithCORS("https://app.example/"))
	fmt.Println(err)

	h, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithCORS("https://app.example"))
	if err != nil {
		log.Fatal(err)
	}
	// The browser's preflight, then its request.
	req := httptest.NewRequest(http.MethodOptions, "/powersync-auth-anonymous", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Allow-Methods"))

	req = httptest.NewRequest(http.MethodGet, "/powersync-auth-anonymous", nil)
	req.Header.Set("Origin", "https://app.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	// Output:
	// jwks: CORS origin "https://app.example/" is not scheme://host[:port] (no path, no trailing slash) or *
	// 204 https://app.example GET, POST
	// 200 https://app.example
}

func ExampleAuthenticatorFunc() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// The host's own sign-in: here a session cookie looked up in a map.
	sessions := map[string]string{"s3cr3t-session": "user-42"}
	users := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		cookie, err := r.Cookie("session")
		if err != nil {
			return nil, fmt.Errorf("%w: no session cookie", jwks.ErrUnauthenticated)
		}
		userID, ok := sessions[cookie.Value]
		if !ok {
			return nil, fmt.Errorf("%w: unknown session", jwks.ErrUnauthenticated)
		}
		return &jwks.Identity{Subject: userID, Parameters: map[string]any{"plan": "pro"}}, nil
	})
	h, err := jwks.NewTokenHandler(signer, users, jwks.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	req := httptest.NewRequest(http.MethodGet, "/powersync-auth", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "s3cr3t-session"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct {
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body.UserID)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/powersync-auth", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 user-42
	// 401 Bearer error="invalid_token", error_description="the credentials were refused"
}

func ExampleAnonymous() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// Anyone may have a token, so limit how often: per client IP, a burst
	// of 10, then one a second.
	limiter, err := ratelimit.New(time.Second, 10)
	if err != nil {
		log.Fatal(err)
	}
	anonymous, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithRateLimit(limiter))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/powersync-auth-anonymous", anonymous)

	for i := range 11 {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/powersync-auth-anonymous", nil))
		var body struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		switch {
		case i == 0:
			fmt.Println(rec.Code, body.UserID)
		case rec.Code != http.StatusOK:
			fmt.Println(rec.Code, "retry after", rec.Header().Get("Retry-After"), "s")
		}
	}
	// Output:
	// 200 anonymous
	// 429 retry after 1 s
}

func ExampleWithUniqueSubjects() {
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// Each token gets a subject of its own, "anon-<uuid>", so that each
	// client syncs its own buckets; token_parameters.anonymous tells them
	// apart from signed-in users in sync rules.
	users := jwks.Anonymous(jwks.WithUniqueSubjects(),
		jwks.WithAnonymousParameters(map[string]any{"anonymous": true}))
	h, err := jwks.NewTokenHandler(signer, users)
	if err != nil {
		log.Fatal(err)
	}

	verifier, _ := jwks.NewVerifier(ks, signer.Audience())
	var subjects []string
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/powersync-auth-anonymous", nil))
		var body struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		claims, err := verifier.Verify(context.Background(), body.Token)
		if err != nil {
			log.Fatal(err)
		}
		subjects = append(subjects, claims.Subject)
		fmt.Println(strings.HasPrefix(claims.Subject, "anon-"), claims.Parameters["anonymous"])
	}
	fmt.Println(subjects[0] != subjects[1])
	// Output:
	// true true
	// true true
	// true
}

func ExampleVerifier_Middleware() {
	const audience = "https://abc123.powersync.journeyapps.com"
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, audience)
	verifier, err := jwks.NewVerifier(ks, audience)
	if err != nil {
		log.Fatal(err)
	}

	// The host's own API, for the users PowerSync syncs. Anonymous callers
	// see the public part; a bad token is still refused.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if claims, ok := jwks.ClaimsFromContext(r.Context()); ok {
			fmt.Fprintln(w, "todos of", claims.Subject)
			return
		}
		fmt.Fprintln(w, "public todos")
	})
	mux := http.NewServeMux()
	mux.Handle("/api/todos", verifier.Middleware(jwks.WithCredentialsOptional())(api))

	tok, _ := signer.Sign(context.Background(), "user-1")
	for _, authorization := range []string{"Bearer " + tok.Raw, "", "Bearer not-a-token"} {
		req := httptest.NewRequest(http.MethodGet, "/api/todos", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 todos of user-1
	// 200 public todos
	// 401 {"error":"invalid_token","error_description":"the token is malformed"}
}

func ExampleVerifier_Middleware_options() {
	const audience = "https://abc123.powersync.journeyapps.com"
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	verifier, _ := jwks.NewVerifier(ks, audience)

	// The token from a cookie instead of the Authorization header, and
	// refusals in the host's own words.
	protect := verifier.Middleware(
		jwks.WithTokenFrom(func(r *http.Request) (string, error) {
			c, err := r.Cookie("powersync_token")
			if errors.Is(err, http.ErrNoCookie) {
				return "", jwks.ErrNoToken
			}
			if err != nil {
				return "", err
			}
			return c.Value, nil
		}),
		jwks.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case errors.Is(err, jwks.ErrNoToken):
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			case errors.Is(err, jwks.ErrExpired):
				http.Error(w, "session expired", http.StatusUnauthorized)
			default:
				http.Error(w, "forbidden", http.StatusForbidden)
			}
		}),
	)
	h := protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome")
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "powersync_token", Value: "junk"})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 303 /login
	// 403 forbidden
}

func ExampleVerifier_VerifyRequest() {
	const audience = "https://abc123.powersync.journeyapps.com"
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, audience)
	verifier, err := jwks.NewVerifier(ks, audience)
	if err != nil {
		log.Fatal(err)
	}

	// In a handler of the host's own framework: PowerSync's clients send
	// "Authorization: Token <jwt>", other clients "Bearer <jwt>".
	tok, _ := signer.Sign(context.Background(), "user-1")
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("Authorization", "Token "+tok.Raw)
	claims, err := verifier.VerifyRequest(req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject)

	_, err = verifier.VerifyRequest(httptest.NewRequest(http.MethodGet, "/api/me", nil))
	fmt.Println(errors.Is(err, jwks.ErrNoToken))

	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	_, err = verifier.VerifyRequest(req)
	fmt.Println(errors.Is(err, jwks.ErrMalformed))
	// Output:
	// user-1
	// true
	// true
}

func ExampleKeySet_Replace() {
	first, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-1"))
	ks, _ := jwks.NewKeySet(first)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")

	// The steps of a rotation (see Rotation in the package documentation).
	// 1: publish the next key beside the signing one.
	next, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-2"))
	if err := ks.Replace(first, next.PublicOnly()); err != nil {
		log.Fatal(err)
	}
	// 2: wait until every verifier's cached JWKS has it.
	// 3: sign with it, and keep the old key published.
	if err := ks.Replace(next, first.PublicOnly()); err != nil {
		log.Fatal(err)
	}
	tok, _ := signer.Sign(context.Background(), "user-1")
	fmt.Println("signs:", tok.KeyID)
	// 4: once the old key's last token has expired, drop it.
	if err := ks.Replace(next); err != nil {
		log.Fatal(err)
	}
	for _, k := range ks.Keys() {
		fmt.Println("published:", k.KeyID())
	}
	// Output:
	// signs: key-2
	// published: key-2
}

// kmsSigner stands for a key held by a KMS or an HSM: only its Sign method
// reaches the private half.
type kmsSigner struct{ key *ecdsa.PrivateKey }

func (s kmsSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s kmsSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(rand, digest, opts) // a KMS call in real life
}

func ExampleNewExternalKey() {
	const audience = "https://abc123.powersync.journeyapps.com"
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	key, err := jwks.NewExternalKey(kmsSigner{priv}, jwks.ES256, jwks.WithKeyID("kms-key-1"))
	if err != nil {
		log.Fatal(err)
	}
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, audience)
	verifier, _ := jwks.NewVerifier(ks, audience)

	tok, err := signer.Sign(context.Background(), "user-1")
	if err != nil {
		log.Fatal(err)
	}
	claims, err := verifier.Verify(context.Background(), tok.Raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key, claims.Subject)

	// The private half never leaves the KMS.
	_, err = key.MarshalPrivate(jwks.FormatJWK)
	fmt.Println(errors.Is(err, jwks.ErrPublicKey))
	// Output:
	// jwks.Key(ES256 signing, kid "kms-key-1") user-1
	// true
}
