// Anonymous is a host application that gives every visitor a PowerSync
// token, as the powersync-auth-anonymous function of PowerSync's
// powersync-jwks-example did: the handlers of package jwks, mounted on a
// plain http.ServeMux beside whatever else the application serves.
//
// It reads the environment variables of that example:
//
//	POWERSYNC_PRIVATE_KEY  the signing key: the example's base64 JWK secret, JWK
//	                       JSON or PEM (unset: a new key that lives as long as
//	                       the process)
//	POWERSYNC_URL          the PowerSync instance URL (default http://localhost:8080)
//	PORT                   the port to listen on (default 8090)
//
// Run it, and ask for a token:
//
//	go run ./examples/anonymous
//	curl localhost:8090/powersync-auth-anonymous
//
// Then give the PowerSync instance http://<this host>:8090/.well-known/jwks.json
// as its JWKS URI, and POWERSYNC_URL as its audience.
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
	"github.com/powersync-jwks/jwks/ratelimit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mux, err := newMux()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":" + getenv("PORT", "8090"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("serving the JWKS and anonymous PowerSync tokens on %s", srv.Addr)

	<-ctx.Done() // SIGINT or SIGTERM: finish the requests in flight, then exit
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
}

// newMux builds the application's routes: the JWKS that PowerSync fetches,
// and the endpoint that hands out anonymous tokens.
func newMux() (*http.ServeMux, error) {
	key, err := signingKey()
	if err != nil {
		return nil, err
	}
	// The key set signs with key and publishes its public half. A rotation
	// would publish the next or the previous key beside it.
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
	// Anyone may have a token, so limit how often: a burst of 10, then one
	// a second, per client IP.
	limiter, err := ratelimit.New(time.Second, 10)
	if err != nil {
		return nil, err
	}

	jwksHandler, err := jwks.NewJWKSHandler(ks)
	if err != nil {
		return nil, err
	}
	// {"token", "powersync_url", ...} for subject "anonymous".
	tokenHandler, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithRateLimit(limiter))
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/.well-known/jwks.json", jwksHandler)
	mux.Handle("/powersync-auth-anonymous", tokenHandler)
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
