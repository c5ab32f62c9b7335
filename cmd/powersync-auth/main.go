// Powersync-auth is a ready-made authentication server for PowerSync: it
// publishes its public key as a JWKS for the PowerSync instance to fetch, and
// gives clients short-lived PowerSync tokens, for signed-in Supabase users
// and, when switched on, for anonymous users. It is the three Supabase Edge
// Functions of PowerSync's powersync-jwks-example project (powersync-jwks,
// powersync-auth and powersync-auth-anonymous; "the Edge Functions" below)
// in one binary, and reads the same environment variables, so that a project
// set up for them moves to it unchanged.
//
// Usage:
//
//	powersync-auth [flags]
//	powersync-auth keys list|stage|promote|revoke|import|rewrap [flags] [arguments]
//
// With no configuration it runs for local development: it keeps a key ring
// with an ES256 signing key in the file powersync-auth.key (mode 0600) in
// the working directory, reuses it on restart, and makes tokens for a
// PowerSync Service on http://localhost:8080. On a fresh machine, this serves the JWKS and
// anonymous tokens on port 8090:
//
//	go run ./cmd/powersync-auth -anonymous
//
// # Routes
//
//	GET      /.well-known/jwks.json     the public keys: PowerSync's "JWKS URI"
//	GET      /powersync-jwks            the same document, under the Edge Function's name
//	GET|POST /powersync-auth            a token for the Supabase user of
//	                                    "Authorization: Bearer <access token>"
//	                                    (when SUPABASE_URL is set)
//	GET|POST /powersync-auth-anonymous  a token with subject "anonymous"
//	                                    (with -anonymous)
//	GET      /healthz                   200 {"status":"ok"} while the server runs (liveness)
//	GET      /readyz                    200 {"status":"ready"} when it can hand out tokens;
//	                                    503 {"error":"not_ready", "error_description",
//	                                    "reason"} while it cannot (readiness)
//
// With -functions-paths, /powersync-jwks, /powersync-auth and
// /powersync-auth-anonymous are served under /functions/v1/ as well, where
// Supabase serves Edge Functions, for a reverse proxy (or self-hosted
// Supabase's Kong) that routes that prefix to this server.
//
// The server is ready when it has a signing key and, with SUPABASE_URL,
// once the project's JWKS has loaded. It stays ready when Supabase goes
// away later (the JWKS and anonymous routes need no Supabase; the metric
// supabase_jwks_usable says whether signed-in requests can be served), and
// when the key ring store cannot be reached (it signs with the keys it
// has).
//
// A token route answers 200 with {"token", "powersync_url", "expires_at",
// "user_id"}, where powersync_url is POWERSYNC_URL without a trailing slash,
// as the Edge Functions' clients expect. Failures are JSON errors {"error",
// "error_description"}: 401 when the caller is not signed in, 429 with
// Retry-After when an anonymous client asks too often, 503 while Supabase
// cannot be reached, 404 for an unknown path.
//
// The server starts whether or not Supabase can be reached (containers start
// in any order): it fetches the project's JWKS in the background, the
// signed-in route answers 503 until it has it, and requests that need no
// Supabase (no credentials, a bearer that is not a JWT) get their 401 at
// once.
//
// # The Edge Functions' environment
//
// These variables are read as the Edge Functions read them. Those that
// hold secrets have no flag: a command line is visible to other users of
// the machine.
//
//	POWERSYNC_PRIVATE_KEY  the signing key: the Edge Functions' secret (base64 of
//	                       a private JWK), JWK JSON or PEM. Without -store the
//	                       server signs with it alone (no key ring); with
//	                       -store it is imported as the first key of an empty
//	                       ring. When unset, the ring's keys.
//	POWERSYNC_PUBLIC_KEY   more keys to publish, comma-separated, without a key
//	                       ring: a retired key during a rotation by hand, say.
//	                       The signing key's own public half, which is what the
//	                       Edge Functions' secret holds, may be given and is
//	                       published once. With a ring it is not used (a
//	                       warning says so): the ring publishes its keys.
//	POWERSYNC_URL          the PowerSync instance URL: the audience of the tokens
//	                       and their powersync_url (flag -powersync-url; default
//	                       http://localhost:8080, a local PowerSync Service)
//	SUPABASE_URL           the Supabase project URL; serves /powersync-auth
//	                       (flag -supabase-url)
//	SUPABASE_ANON_KEY      the project's anon or publishable key: needed for
//	                       -supabase-strict, and for legacy HS256 access tokens
//	                       when SUPABASE_JWT_SECRET is not set
//	SUPABASE_JWT_SECRET    optional: the project's legacy JWT secret, to verify
//	                       HS256 access tokens locally
//
// And one of this server's own, kept off the command line as a secret:
//
//	POWERSYNC_AUTH_KEY_ENCRYPTION_KEY  key-encryption keys that seal the key
//	                       ring's private keys at rest (AES-256-GCM): base64
//	                       of 32 bytes each, comma-separated; the first seals,
//	                       all open. Without it, the store holds private keys
//	                       in clear, and the log says so.
//
// # Flags
//
// Every flag has an environment variable; a flag on the command line wins
// over its variable, which wins over the default. An empty variable counts
// as unset. powersync-auth -h prints the same list, with more on each flag.
//
//	flag               environment                      default               meaning
//	-listen            POWERSYNC_AUTH_LISTEN, PORT      :8090                 address to listen on; PORT=n means :n
//	-powersync-url     POWERSYNC_URL                    http://localhost:8080 PowerSync instance URL (audience)
//	-supabase-url      SUPABASE_URL                     (none: route off)     Supabase project URL
//	-supabase-strict   POWERSYNC_AUTH_SUPABASE_STRICT   false                 check each caller with /auth/v1/user
//	-supabase-issuer   POWERSYNC_AUTH_SUPABASE_ISSUER   SUPABASE_URL/auth/v1  the "iss" of Supabase's tokens; any: any, or none
//	-anonymous         POWERSYNC_AUTH_ANONYMOUS         false                 serve /powersync-auth-anonymous
//	-anonymous-unique  POWERSYNC_AUTH_ANONYMOUS_UNIQUE  false                 subject anon-<UUID> per token
//	-anonymous-burst   POWERSYNC_AUTH_ANONYMOUS_BURST   10                    anonymous tokens per client IP at once; 0: no limit
//	-anonymous-every   POWERSYNC_AUTH_ANONYMOUS_EVERY   1s                    then one per client IP every interval
//	-trusted-proxies   POWERSYNC_AUTH_TRUSTED_PROXIES   (none)                CIDRs whose X-Forwarded-For is believed
//	-cors-origins      POWERSYNC_AUTH_CORS_ORIGINS      (none)                browser origins allowed on token routes
//	-functions-paths   POWERSYNC_AUTH_FUNCTIONS_PATHS   false                 also serve the routes under /functions/v1/
//	-token-lifetime    POWERSYNC_AUTH_TOKEN_LIFETIME    5m                    token lifetime, 1s to 24h
//	-issuer            POWERSYNC_AUTH_ISSUER            (none)                the tokens' "iss" claim
//	-key-file          POWERSYNC_AUTH_KEY_FILE          powersync-auth.key    the key ring's file when -store is not set
//	-store             POWERSYNC_AUTH_STORE             (the -key-file file)  the key ring's store: file:PATH, a PATH, or a postgres:// URL
//	-rotate-every      POWERSYNC_AUTH_ROTATE_EVERY      0 (by hand only)      rotate the signing key every interval
//	-publish-ahead     POWERSYNC_AUTH_PUBLISH_AHEAD     (the safe minimum)    how long a next key is published before it signs
//	-jwks-max-age      POWERSYNC_AUTH_JWKS_MAX_AGE      5m                    the JWKS's Cache-Control max-age
//	-verifier-refresh  POWERSYNC_AUTH_VERIFIER_REFRESH  5m                    how stale a verifier's copy of the JWKS may be (PowerSync's)
//	-store-poll        POWERSYNC_AUTH_STORE_POLL        30s                   how often each replica re-reads the store
//	-create-key        POWERSYNC_AUTH_CREATE_KEY        true                  make the first key of an empty key ring
//	-log-format        POWERSYNC_AUTH_LOG_FORMAT        text                  text or json
//	-log-level         POWERSYNC_AUTH_LOG_LEVEL         info                  debug, info, warn or error
//	-access-log        POWERSYNC_AUTH_ACCESS_LOG        false                 log each request (never a token)
//	-metrics-listen    POWERSYNC_AUTH_METRICS_LISTEN    (none: no metrics)    address of a listener for /metrics
//
// Boolean variables take true or false (also 1, 0, t, f). And one flag
// without a variable: -version prints the version (from the build
// information) and exits; the start-up log line names it too.
//
// Self-hosted Supabase's own compose file sets no GOTRUE_JWT_ISSUER, so its
// access tokens carry no "iss", and self-hosters often reach Supabase on an
// internal URL (http://kong:8000) while the tokens name the public one: give
// -supabase-issuer the issuer the tokens carry, or -supabase-issuer any to
// accept every issuer and none (the server warns at start: it still checks
// the signature, the audience, the subject and the role).
//
// The Edge Functions' tokens carried "iss": SUPABASE_URL. This server's
// carry no issuer by default, because PowerSync does not check it and its
// diagnostics call any token whose issuer contains supabase.co a Supabase
// token. To make tokens exactly as the Edge Functions did, give
// -issuer "$SUPABASE_URL".
//
// # Keys and replicas
//
// The server keeps its keys in a key ring (package keyring): the active key
// signs; next keys are published ahead of signing, retired keys until their
// last token has expired. The ring lives in a store: by default the file
// -key-file (a key file of an earlier version, holding one private key,
// reads as a ring of that key, so the kid stays), or a PostgreSQL database
// (-store postgres://…) that every replica shares, told of each change at
// once (LISTEN/NOTIFY) and re-read every -store-poll. With POWERSYNC_PRIVATE_KEY
// set and no -store, the server signs with that key alone, as the Edge
// Functions did, and keeps no ring.
//
// Without POWERSYNC_PRIVATE_KEY or a shared store, every replica makes a key
// of its own, and each replica's tokens fail against the others' JWKS: run
// several replicas on one PostgreSQL store, or give them all the same
// POWERSYNC_PRIVATE_KEY (powersync-keygen makes one). The server warns when
// it makes a key in a file store; with -create-key=false it refuses to
// start on an empty ring instead (status 2), so that no replica ever signs
// with a key of its own: give the ring its first key once with keys stage
// or keys import.
//
// Durations are whole seconds, at least 1s (but 0 for -rotate-every, by
// hand only, and -publish-ahead, the safe minimum). The server refuses, with status
// 2 and a message naming the flags, a -publish-ahead below -store-poll +
// -jwks-max-age + -verifier-refresh (verifiers would meet tokens of a key
// they have not fetched), and a -rotate-every not above -publish-ahead.
// When the store cannot be reached at start (a PostgreSQL database that
// does not answer within 10 seconds), the server exits with status 2; when
// it goes away later, the server goes on signing and serving the JWKS with
// the keys it has, /healthz stays 200, and the log says when the ring could
// not be refreshed and when it could again.
//
// # The keys subcommands
//
// The subcommands work on the ring of the same store (-store or its
// variable, -key-file, POWERSYNC_AUTH_KEY_ENCRYPTION_KEY) with the same
// policy flags as the servers, make no key of their own and rotate nothing.
// Each takes -h. They exit with status 0 when done, 1 when the operation is
// refused or fails, and 2 for bad usage.
//
//	powersync-auth keys list [-json]        the keys, their states and times
//	powersync-auth keys stage               a new next key, published from now on
//	powersync-auth keys promote [KID]       the next key signs (refused before its
//	                                        publish-ahead is over, unless -force)
//	powersync-auth keys revoke KID          out of the JWKS at once, for good
//	powersync-auth keys import [FILE]       an existing private key (default
//	                                        POWERSYNC_PRIVATE_KEY)
//	powersync-auth keys rewrap              seal every private key with the first
//	                                        key-encryption key
//
// # Logs
//
// Logs go to standard error, as text or JSON (log/slog). The first lines
// name the version, the signing key (its key ID and algorithm, never the
// key), the key ring's store (a PostgreSQL URL without its password), the
// audience and the routes. With -access-log, each request adds an INFO line
// "request" with its method, route (the pattern, "unknown" for any other
// path; never the path), status, duration_ms, bytes and client (through
// -trusted-proxies). Tokens, keys, key-encryption keys, passwords, the anon
// key, the JWT secret and request headers are never logged.
//
// # Metrics
//
// With -metrics-listen ADDR (POWERSYNC_AUTH_METRICS_LISTEN), the server
// serves /metrics in the Prometheus text format on a listener of its own,
// never on -listen: keep ADDR off the public network (127.0.0.1:9090, or an
// address only the scraper reaches). It answers /metrics to GET and HEAD
// (other methods get the JSON 405), every other path the JSON 404; more
// than 4 scrapes at once, or one over 15 s, get the Prometheus handler's
// own plain-text 503. Without it there is no listener, and the handlers
// measure nothing. Label values are fixed, small sets: a route is its
// pattern ("unknown" for any path that is no route), never a path, a token
// or an error's text. Besides the Go runtime's go_* and the process's
// process_* metrics:
//
//	metric                                                 labels                meaning
//	powersync_auth_http_requests_total                     route, method, code   requests answered; method "other" for a non-standard one
//	powersync_auth_http_request_duration_seconds           route                 histogram: start of a request to the end of its answer
//	powersync_auth_tokens_issued_total                     route                 tokens issued, by token route
//	powersync_auth_tokens_refused_total                    route, reason         token requests refused; reason is the library's code:
//	                                                                             no_credentials, expired, rate_limited (the anonymous
//	                                                                             limit's 429s), unavailable (503), method_not_allowed, …
//	powersync_auth_jwks_responses_total                    code                  JWKS answers: 200, 304 (If-None-Match), 405
//	powersync_auth_supabase_jwks_fetches_total             result                fetches of Supabase's JWKS: loaded, not_modified, failed
//	powersync_auth_supabase_jwks_fetch_duration_seconds                          histogram of those fetches
//	powersync_auth_supabase_jwks_keys                                            usable keys in Supabase's JWKS after the last fetch
//	powersync_auth_supabase_jwks_usable                                          1 while Supabase's JWKS can verify tokens (loaded, under
//	                                                                             an hour old), else 0
//	powersync_auth_supabase_user_calls_total               cause, code           calls to /auth/v1/user: cause strict or hs256, code the
//	                                                                             status (200, 400, 401, 403, 404, 429, 500, 502, 503,
//	                                                                             504; any other as its class, 4xx; none without answer)
//	powersync_auth_supabase_user_call_duration_seconds     cause                 histogram of those calls
//	powersync_auth_signing_key_info                        kid, alg              1, naming the key that signs now
//	powersync_auth_signing_key_age_seconds                                       since the key ring's active key started signing
//	powersync_auth_keyring_events_total                    type                  this server's ring changes (staged, imported, promoted,
//	                                                                             retired, revoked, removed) and refresh_failed,
//	                                                                             refresh_recovered
//	powersync_auth_keyring_keys                            state                 the ring's keys: next, active, retired, revoked
//	powersync_auth_keyring_last_refresh_timestamp_seconds                        Unix time of the last successful read of the store
//	powersync_auth_ready                                                         1 when /readyz answers 200, else 0
//	powersync_auth_build_info                              version, goversion    1, naming the version (as -version, without Go's) and Go
//	promhttp_metric_handler_errors_total                   cause                 scrapes that failed to gather or encode a metric
//
// The supabase metrics exist with SUPABASE_URL, the keyring ones with a key
// ring. The gauges of the signing key, the ring and readiness are read at
// each scrape. A key of POWERSYNC_PRIVATE_KEY without a key ring has no
// known creation time: signing_key_age_seconds is not exported for it
// (the server's uptime would pass for a key age, and it is not one). The
// ring's key events are counted by the replica that made the change: a
// change by the keys subcommands is not counted by any server, but shows in
// keyring_keys and signing_key_info once the servers have read it
// (within -store-poll). Rate-limited anonymous requests are
// tokens_refused_total{reason="rate_limited"}.
//
// # Exit status
//
// Powersync-auth exits with status 0 after a clean shutdown on SIGINT or
// SIGTERM (requests in flight get up to 10 seconds to finish), 2 for a bad
// configuration (the message names the flag or variable and the reason,
// never a secret), and 1 for any other failure, such as a port already in
// use.
//
// # Examples
//
// Replace the three Edge Functions, with their secrets:
//
//	export POWERSYNC_PRIVATE_KEY=... POWERSYNC_PUBLIC_KEY=...
//	export POWERSYNC_URL=https://<id>.powersync.journeyapps.com
//	export SUPABASE_URL=https://<ref>.supabase.co SUPABASE_ANON_KEY=...
//	powersync-auth -anonymous -issuer "$SUPABASE_URL"
//
// Three replicas sharing one key ring in PostgreSQL, rotating every 30 days:
//
//	export POWERSYNC_AUTH_STORE=postgres://auth:…@db.internal/app
//	export POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=…  # openssl rand -base64 32, once: the same on every replica
//	powersync-auth -anonymous -rotate-every 720h
//
// Behind a load balancer on 10.0.0.0/8, with JSON logs, for a web app:
//
//	powersync-auth -anonymous -trusted-proxies 10.0.0.0/8 -log-format json \
//		-cors-origins https://app.example.com
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

const program = "powersync-auth"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: it reads the configuration from args and getenv,
// serves until ctx is done, shuts down gracefully and returns the exit
// status. Logs go to stderr; stdout only gets the usage text of -h and the
// version of -version.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keys" {
		return runKeys(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	}
	c, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", program, err, program)
		return exitConfig
	}
	if c.version {
		fmt.Fprintln(stdout, program, buildVersion())
		return exitOK
	}
	logger := newLogger(c, stderr)
	for _, w := range c.warnings {
		logger.Warn(w)
	}
	if c.powersyncURLDefault {
		logger.Warn(envPowerSyncURL+" is not set: making tokens for a local PowerSync Service", "audience", c.powersyncURL)
	}

	// The Supabase JWKS refresh outlives the signal until the server has
	// shut down: requests still in flight may need it.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	a, err := newApp(bg, c, logger)
	if err != nil {
		return fail(logger, err)
	}
	defer a.close()
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fail(logger, fmt.Errorf("listening on %s: %w", c.listen, err))
	}
	ms, err := listenMetrics(c, a, logger)
	if err != nil {
		ln.Close()
		return fail(logger, err)
	}
	srv := newHTTPServer(a.handler, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ms.serve()
	if ms != nil {
		logger.Info("metrics listening", "addr", ms.addr(), "path", routeMetrics)
	}

	attrs := []any{
		"version", buildVersion(),
		"addr", ln.Addr().String(),
		"routes", a.routes,
		"kid", a.key.KeyID(),
		"alg", a.key.Algorithm(),
		"published_kids", a.published,
		"audience", c.powersyncURL,
		"token_lifetime", c.lifetime.String(),
		"jwks_max_age", c.jwksMaxAge.String(),
	}
	if a.keys.ring != nil {
		attrs = append(attrs, "store", a.keys.store.spec.String(), "rotate_every", c.rotateEvery.String())
	}
	if c.issuer != "" {
		attrs = append(attrs, "issuer", c.issuer)
	}
	if c.supabaseURL != "" {
		attrs = append(attrs, "supabase_url", c.supabaseURL, "supabase_strict", c.supabaseStrict)
	}
	if c.anonymous {
		attrs = append(attrs, "anonymous_rate_limit", a.limiter)
	}
	if len(c.corsOrigins) > 0 {
		attrs = append(attrs, "cors_origins", c.corsOrigins)
	}
	logger.Info(program+" listening", attrs...)

	// A failure of the metrics listener ends the process too, so that its
	// supervisor sees it and restarts it, but gracefully: the token
	// requests in flight are answered.
	var metricsFailure error
	cause := "signal"
	select {
	case err := <-served:
		ms.close()
		return fail(logger, fmt.Errorf("serving: %w", err))
	case err := <-ms.done():
		metricsFailure = fmt.Errorf("serving %s: %w", routeMetrics, err)
		cause = metricsFailure.Error()
	case <-ctx.Done():
		cause = context.Cause(ctx).Error()
	}
	logger.Info("shutting down", "cause", cause, "deadline", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		ms.close()
		return fail(logger, fmt.Errorf("requests still running after %v: %w", shutdownTimeout, err))
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		ms.close()
		return fail(logger, fmt.Errorf("serving: %w", err))
	}
	if metricsFailure != nil {
		ms.close()
		return fail(logger, metricsFailure)
	}
	if err := ms.shutdown(shutdownCtx); err != nil {
		return fail(logger, err)
	}
	logger.Info("stopped")
	return exitOK
}

// fail logs a fatal error and returns its exit status: exitConfig for a
// configuration the server cannot run with, exitFailure otherwise.
func fail(logger *slog.Logger, err error) int {
	logger.Error(program + ": " + err.Error())
	var ce *configError
	if errors.As(err, &ce) {
		return exitConfig
	}
	return exitFailure
}

// newLogger returns the logger c asks for, writing to w.
func newLogger(c *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
