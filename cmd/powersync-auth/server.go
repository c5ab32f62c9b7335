package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/ratelimit"
	"github.com/powersync-jwks/jwks/supabase"
)

// Limits of the HTTP server. A token request may wait for Supabase: for its
// JWKS (10 s at most, the key source's fetch timeout) or, in strict mode,
// for /auth/v1/user (5 s), so WriteTimeout leaves room for both.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10 // a Supabase access token with rich metadata fits
	shutdownTimeout   = 10 * time.Second
)

// The routes. The JWKS is served at the well-known path and under the name
// of the Edge Function that served it in the original example.
const (
	routeJWKS          = "/.well-known/jwks.json"
	routeJWKSFunction  = "/powersync-jwks"
	routeAuth          = "/powersync-auth"
	routeAuthAnonymous = "/powersync-auth-anonymous"
	routeHealth        = "/healthz"
)

// app is the configured server: its routes, and what the start-up line
// tells about them.
type app struct {
	handler   http.Handler
	routes    []string  // "METHOD path", for the log
	key       *jwks.Key // the signing key
	published []string  // the key IDs of the JWKS
	limiter   string    // the anonymous rate limit, for the log
}

// newApp builds the server's handler from c. It reads or makes the key file
// when c has no signing key. The Supabase authenticator fetches the
// project's JWKS in the background until ctx is done; newApp does not wait
// for it. Configuration errors are *configError.
func newApp(ctx context.Context, c *config, logger *slog.Logger) (*app, error) {
	key := c.signingKey
	if key == nil {
		var created bool
		var err error
		key, created, err = loadKeyFile(c.keyFile)
		if err != nil {
			return nil, err
		}
		msg := "signing with the key of the key file"
		if created {
			msg = "made a new signing key and saved it in the key file"
		}
		logger.Info(msg, "path", c.keyFile, "kid", key.KeyID(), "alg", key.Algorithm(),
			"note", envPrivateKey+" is not set; for several instances, give them all the same key there")
	}
	ks, err := jwks.NewKeySet(key, c.published...)
	if err != nil {
		return nil, configErrorf("%s: %s", envPublicKey, reason(err))
	}
	signerOpts := []jwks.SignerOption{jwks.WithTokenLifetime(c.lifetime)}
	if c.issuer != "" {
		signerOpts = append(signerOpts, jwks.WithIssuer(c.issuer))
	}
	signer, err := jwks.NewSigner(ks, c.powersyncURL, signerOpts...)
	if err != nil {
		return nil, configErrorf("%s: the token signer: %s", c.source("powersync-url"), reason(err))
	}

	a := &app{key: key}
	for _, k := range ks.Keys() {
		a.published = append(a.published, k.KeyID())
	}
	mux := http.NewServeMux()
	handle := func(path, methods string, h http.Handler) {
		mux.Handle(path, h) // no method in the pattern: each handler answers 405 in JSON itself
		a.routes = append(a.routes, methods+" "+path)
	}

	jwksHandler, err := jwks.NewJWKSHandler(ks)
	if err != nil {
		return nil, configErrorf("the JWKS handler: %s", reason(err))
	}
	handle(routeJWKS, "GET", jwksHandler)
	handle(routeJWKSFunction, "GET", jwksHandler)

	tokenOpts := []jwks.TokenHandlerOption{jwks.WithLogger(logger)}
	if len(c.corsOrigins) > 0 {
		tokenOpts = append(tokenOpts, jwks.WithCORS(c.corsOrigins...))
	}
	// The library checks the token routes' settings: the powersync_url
	// (the audience) and the CORS origins. Ask it even when no token route
	// is on, so that a bad value fails at start, not on the day a route is
	// switched on.
	if _, err := jwks.NewTokenHandler(signer, jwks.Anonymous()); err != nil {
		return nil, configErrorf("%s: %s", c.source("powersync-url"), reason(err))
	}
	if _, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), tokenOpts...); err != nil {
		return nil, configErrorf("%s: %s", c.source("cors-origins"), reason(err))
	}
	if c.supabaseURL != "" {
		opts := []supabase.Option{supabase.WithLogger(logger)}
		if c.anonKey != "" {
			opts = append(opts, supabase.WithAPIKey(c.anonKey))
		}
		if c.jwtSecret != "" {
			opts = append(opts, supabase.WithLegacySecret(c.jwtSecret))
		}
		if c.supabaseStrict {
			opts = append(opts, supabase.WithStrict())
		}
		users, err := supabase.New(ctx, c.supabaseURL, opts...)
		if err != nil {
			return nil, configErrorf("%s: %s", c.source("supabase-url"), reason(err))
		}
		h, err := jwks.NewTokenHandler(signer, users, tokenOpts...)
		if err != nil {
			return nil, configErrorf("the signed-in token handler: %s", reason(err))
		}
		handle(routeAuth, "GET|POST", h)
	}
	if c.anonymous {
		var anonOpts []jwks.AnonymousOption
		if c.anonymousUnique {
			anonOpts = append(anonOpts, jwks.WithUniqueSubjects())
		}
		opts := slices.Clone(tokenOpts)
		a.limiter = "off"
		if c.anonymousBurst > 0 {
			l, err := ratelimit.New(c.anonymousEvery, c.anonymousBurst, ratelimit.WithTrustedProxies(c.trustedProxies...))
			if err != nil {
				return nil, configErrorf("the anonymous rate limit: %s", reason(err))
			}
			opts = append(opts, jwks.WithRateLimit(l))
			a.limiter = fmt.Sprintf("burst %d, then 1 every %v per client", c.anonymousBurst, c.anonymousEvery)
		}
		h, err := jwks.NewTokenHandler(signer, jwks.Anonymous(anonOpts...), opts...)
		if err != nil {
			return nil, configErrorf("the anonymous token handler: %s", reason(err))
		}
		handle(routeAuthAnonymous, "GET|POST", h)
	}
	handle(routeHealth, "GET", http.HandlerFunc(serveHealth))
	mux.HandleFunc("/", serveNotFound)
	a.handler = mux
	return a, nil
}

// healthBody is the answer of /healthz: the process is up and serving. It
// says nothing about Supabase, which the JWKS and anonymous routes do not
// need.
var healthBody = []byte(`{"status":"ok"}` + "\n")

// serveHealth answers /healthz: 200 to GET and HEAD, at no cost.
func serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(healthBody) //nolint:errcheck // the client went away
	}
}

// serveNotFound answers every path that is not a route.
func serveNotFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
}

// writeError writes a JSON error in the shape of the library's handlers:
// {"error": code, "error_description": text}.
func writeError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away
}

// newHTTPServer returns the server for h, with the limits above; its own
// errors (a malformed request, a failed TLS handshake) go to logger.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
