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
	routeReady         = "/readyz"

	// functionsPrefix is where Supabase serves Edge Functions: with
	// -functions-paths the JWKS and token routes are served under it too,
	// as /functions/v1/powersync-auth and so on.
	functionsPrefix = "/functions/v1"
)

// anyIssuer is the -supabase-issuer value that accepts Supabase access
// tokens whatever their "iss", and without one.
const anyIssuer = "any"

// app is the configured server: its routes, and what the start-up line
// tells about them.
type app struct {
	handler   http.Handler
	routes    []string  // "METHOD path", for the log
	key       *jwks.Key // the signing key at start
	published []string  // the key IDs of the JWKS at start
	limiter   string    // the anonymous rate limit, for the log
	keys      *signingKeys
	users     *supabase.Authenticator // nil without Supabase
	metrics   *metrics                // nil without -metrics-listen
}

// newApp builds the server's handler from c: its keys (see
// newSigningKeys), followed until ctx is done or close is called, and its
// routes. The Supabase authenticator fetches the project's JWKS in the
// background until ctx is done; newApp does not wait for it. Configuration
// errors are *configError.
//
// The settings that need no key are checked first, so that a bad one fails
// before the key ring is opened (and its first key made).
//
// With -metrics-listen, the handlers, the authenticator and the key ring
// report to the app's metrics; without it, no observer is installed.
func newApp(ctx context.Context, c *config, logger *slog.Logger) (*app, error) {
	if err := checkTokenSettings(c, logger); err != nil {
		return nil, err
	}
	var m *metrics
	if c.metricsListen != "" {
		m = newMetrics()
	}
	users, err := newSupabase(ctx, c, logger, m)
	if err != nil {
		return nil, err
	}
	limiter, err := newLimiter(c)
	if err != nil {
		return nil, err
	}
	keys, err := newSigningKeys(ctx, c, logger, m)
	if err != nil {
		return nil, err
	}
	a, err := newRoutes(c, logger, keys.ks, users, limiter, m)
	if err != nil {
		keys.close()
		return nil, err
	}
	a.keys, a.users, a.metrics = keys, users, m
	var sinks []func(*http.Request, answer)
	if c.accessLog {
		sinks = append(sinks, accessLog(logger, c.trustedProxies))
	}
	if m != nil {
		m.watchState(keys, users)
		sinks = append(sinks, m.requestSink())
	}
	a.handler = instrument(a.handler, sinks...)
	return a, nil
}

// close stops following the key ring and lets its store go; the handler
// goes on signing and serving with the keys it has.
func (a *app) close() { a.keys.close() }

// signerOptions are the Signer's options of c.
func signerOptions(c *config) []jwks.SignerOption {
	opts := []jwks.SignerOption{jwks.WithTokenLifetime(c.lifetime)}
	if c.issuer != "" {
		opts = append(opts, jwks.WithIssuer(c.issuer))
	}
	return opts
}

// tokenOptions are the token handlers' options of c.
func tokenOptions(c *config, logger *slog.Logger) []jwks.TokenHandlerOption {
	opts := []jwks.TokenHandlerOption{jwks.WithLogger(logger)}
	if len(c.corsOrigins) > 0 {
		opts = append(opts, jwks.WithCORS(c.corsOrigins...))
	}
	return opts
}

// checkTokenSettings asks the library to check the token routes' settings,
// the powersync_url (the audience) and the CORS origins, with a key of its
// own: even when no token route is on, so that a bad value fails at start,
// not on the day a route is switched on.
func checkTokenSettings(c *config, logger *slog.Logger) error {
	key, err := jwks.GenerateKey(jwks.ES256)
	if err != nil {
		return err
	}
	ks, err := jwks.NewKeySet(key)
	if err != nil {
		return err
	}
	signer, err := jwks.NewSigner(ks, c.powersyncURL, signerOptions(c)...)
	if err != nil {
		return configErrorf("%s: the token signer: %s", c.source("powersync-url"), reason(err))
	}
	if _, err := jwks.NewTokenHandler(signer, jwks.Anonymous()); err != nil {
		return configErrorf("%s: %s", c.source("powersync-url"), reason(err))
	}
	if _, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), tokenOptions(c, logger)...); err != nil {
		return configErrorf("%s: %s", c.source("cors-origins"), reason(err))
	}
	return nil
}

// newSupabase returns the authenticator of the Supabase project, or nil
// when there is none. It fetches the project's JWKS until ctx is done, and
// reports its fetches and its calls to /auth/v1/user to m.
func newSupabase(ctx context.Context, c *config, logger *slog.Logger, m *metrics) (*supabase.Authenticator, error) {
	if c.supabaseURL == "" {
		return nil, nil
	}
	opts := append([]supabase.Option{supabase.WithLogger(logger)}, m.supabaseOptions()...)
	if c.anonKey != "" {
		opts = append(opts, supabase.WithAPIKey(c.anonKey))
	}
	if c.jwtSecret != "" {
		opts = append(opts, supabase.WithLegacySecret(c.jwtSecret))
	}
	if c.supabaseStrict {
		opts = append(opts, supabase.WithStrict())
	}
	switch c.supabaseIssuer {
	case "":
	case anyIssuer:
		opts = append(opts, supabase.WithAnyIssuer())
	default:
		opts = append(opts, supabase.WithIssuer(c.supabaseIssuer))
	}
	users, err := supabase.New(ctx, c.supabaseURL, opts...)
	if err != nil {
		return nil, configErrorf("%s: %s", c.source("supabase-url"), reason(err))
	}
	if c.supabaseIssuer == anyIssuer {
		logger.Warn("accepting Supabase access tokens of any issuer, and without one ("+c.source("supabase-issuer")+
			"): signature, audience, subject and role are still checked, but not that a token was issued for this project",
			"supabase_url", c.supabaseURL)
	}
	return users, nil
}

// newLimiter returns the anonymous route's rate limiter, or nil when it is
// off (or the route is).
func newLimiter(c *config) (*ratelimit.Limiter, error) {
	if !c.anonymous || c.anonymousBurst == 0 {
		return nil, nil
	}
	l, err := ratelimit.New(c.anonymousEvery, c.anonymousBurst, ratelimit.WithTrustedProxies(c.trustedProxies...))
	if err != nil {
		return nil, configErrorf("the anonymous rate limit: %s", reason(err))
	}
	return l, nil
}

// newRoutes builds the routes of the server, signing with ks; its handlers
// report to m.
func newRoutes(c *config, logger *slog.Logger, ks *jwks.KeySet, users *supabase.Authenticator, limiter *ratelimit.Limiter, m *metrics) (*app, error) {
	signer, err := jwks.NewSigner(ks, c.powersyncURL, signerOptions(c)...)
	if err != nil {
		return nil, configErrorf("%s: the token signer: %s", c.source("powersync-url"), reason(err))
	}

	a := &app{key: ks.SigningKey()}
	for _, k := range ks.Keys() {
		a.published = append(a.published, k.KeyID())
	}
	mux := http.NewServeMux()
	handle := func(path, methods string, h http.Handler) {
		mux.Handle(path, h) // no method in the pattern: each handler answers 405 in JSON itself
		a.routes = append(a.routes, methods+" "+path)
	}
	// function is a route of one of the Edge Functions: with
	// -functions-paths, also under their prefix.
	function := func(path, methods string, h http.Handler) {
		handle(path, methods, h)
		if c.functionsPaths {
			handle(functionsPrefix+path, methods, h)
		}
	}

	jwksHandler, err := jwks.NewJWKSHandler(ks, append([]jwks.JWKSHandlerOption{jwks.WithMaxAge(c.jwksMaxAge)}, m.jwksObserver()...)...)
	if err != nil {
		return nil, configErrorf("the JWKS handler: %s", reason(err))
	}
	handle(routeJWKS, "GET", jwksHandler)
	function(routeJWKSFunction, "GET", jwksHandler)

	tokenOpts := tokenOptions(c, logger)
	if users != nil {
		h, err := jwks.NewTokenHandler(signer, users, append(slices.Clone(tokenOpts), m.tokenObserver(routeAuth, c.functionsPaths)...)...)
		if err != nil {
			return nil, configErrorf("the signed-in token handler: %s", reason(err))
		}
		function(routeAuth, "GET|POST", h)
	}
	if c.anonymous {
		var anonOpts []jwks.AnonymousOption
		if c.anonymousUnique {
			anonOpts = append(anonOpts, jwks.WithUniqueSubjects())
		}
		opts := append(slices.Clone(tokenOpts), m.tokenObserver(routeAuthAnonymous, c.functionsPaths)...)
		a.limiter = "off"
		if limiter != nil {
			opts = append(opts, jwks.WithRateLimit(limiter))
			a.limiter = fmt.Sprintf("burst %d, then 1 every %v per client", c.anonymousBurst, c.anonymousEvery)
		}
		h, err := jwks.NewTokenHandler(signer, jwks.Anonymous(anonOpts...), opts...)
		if err != nil {
			return nil, configErrorf("the anonymous token handler: %s", reason(err))
		}
		function(routeAuthAnonymous, "GET|POST", h)
	}
	handle(routeHealth, "GET", http.HandlerFunc(serveHealth))
	handle(routeReady, "GET", readiness{ks: ks, users: users})
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
	if !allowGetHead(w, r) {
		return
	}
	writeJSON(w, r, http.StatusOK, healthBody)
}

// allowGetHead answers a request of another method than GET and HEAD with
// a JSON 405 and reports false; it reports true for GET and HEAD.
func allowGetHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
	return false
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
	writeJSON(w, nil, status, append(body, '\n'))
}

// writeJSON answers with status and the JSON body, not to be cached or
// sniffed; without the body to a HEAD request r (r may be nil: a body
// then).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // the client went away
	}
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
