// Supabase is a host application that gives the signed-in users of a
// Supabase project their PowerSync tokens, as the powersync-auth function of
// PowerSync's powersync-jwks-example did: the handlers of package jwks,
// mounted on a plain http.ServeMux beside whatever else the application
// serves.
//
// It reads the environment variables of that example:
//
//	POWERSYNC_PRIVATE_KEY  the signing key: the example's base64 JWK secret, JWK
//	                       JSON or PEM (unset: a new key that lives as long as
//	                       the process)
//	POWERSYNC_URL          the PowerSync instance URL (default http://localhost:8080)
//	SUPABASE_URL           the Supabase project URL (default http://127.0.0.1:54321,
//	                       the Supabase CLI's local project)
//	SUPABASE_ANON_KEY      the project's anon or publishable key (optional: for
//	                       legacy HS256 access tokens)
//	PORT                   the port to listen on (default 8090)
//
// Run it, and ask for a token with a user's Supabase access token:
//
//	go run ./examples/supabase
//	curl -H "Authorization: Bearer $SUPABASE_ACCESS_TOKEN" localhost:8090/powersync-auth
//
// It starts even when Supabase cannot be reached: /powersync-auth answers
// 503 until it can.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/supabase"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mux, err := newMux(ctx)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":" + getenv("PORT", "8090"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("serving the JWKS and PowerSync tokens for Supabase users on %s", srv.Addr)

	<-ctx.Done() // SIGINT or SIGTERM: finish the requests in flight, then exit
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
}

// newMux builds the application's routes: the JWKS that PowerSync fetches,
// and the endpoint that hands signed-in Supabase users their tokens. The
// project's keys are fetched and refreshed in the background until ctx is
// done.
func newMux(ctx context.Context) (*http.ServeMux, error) {
	key, err := signingKey()
	if err != nil {
		return nil, err
	}
	ks, err := jwks.NewKeySet(key)
	if err != nil {
		return nil, err
	}
	// Tokens are for this PowerSync instance (their "aud"), and live 5
	// minutes, as the example's did.
	signer, err := jwks.NewSigner(ks, getenv("POWERSYNC_URL", "http://localhost:8080"))
	if err != nil {
		return nil, err
	}
	// The authenticator checks the caller's Supabase access token locally,
	// against the project's JWKS: no call to Supabase per request. The API
	// key lets it ask Supabase about legacy HS256 tokens.
	var opts []supabase.Option
	if apiKey := os.Getenv("SUPABASE_ANON_KEY"); apiKey != "" {
		opts = append(opts, supabase.WithAPIKey(apiKey))
	}
	users, err := supabase.New(ctx, getenv("SUPABASE_URL", "http://127.0.0.1:54321"), opts...)
	if err != nil {
		return nil, err
	}

	jwksHandler, err := jwks.NewJWKSHandler(ks)
	if err != nil {
		return nil, err
	}
	// {"token", "powersync_url", ...} for the user's ID; 401 when not
	// signed in.
	tokenHandler, err := jwks.NewTokenHandler(signer, users)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/.well-known/jwks.json", jwksHandler)
	mux.Handle("/powersync-auth", tokenHandler)
	return mux, nil
}

// signingKey reads POWERSYNC_PRIVATE_KEY, or makes a key for this run only:
// tokens signed with it stop verifying when the process ends.
func signingKey() (*jwks.Key, error) {
	if secret := os.Getenv("POWERSYNC_PRIVATE_KEY"); secret != "" {
		return jwks.ParseKey([]byte(secret)) // errors never hold the key
	}
	log.Print("POWERSYNC_PRIVATE_KEY is not set: signing with a new key that lives as long as this process")
	return jwks.GenerateKey(jwks.ES256)
}

// getenv returns the environment variable name, or def when it is unset.
func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
