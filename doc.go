// Package jwks makes a Go service its own authentication provider for
// PowerSync: it makes and loads signing keys, publishes their public halves
// as the JWKS document PowerSync fetches, mints the short-lived tokens
// PowerSync accepts, and verifies them. The handlers are plain
// [net/http.Handler] values to mount on the host's own router.
//
// # Minting tokens
//
// Load the key once at start-up, build a [KeySet] and a [Signer], and mount
// the JWKS handler and a token handler. [ParseKey] reads a key as JWK JSON,
// as base64 of JWK JSON (the form of the POWERSYNC_PRIVATE_KEY secret) or as
// PEM; [GenerateKey] makes a new one. An [Authenticator] tells the token
// handler who is asking: here the host's own sign-in, through an
// [AuthenticatorFunc].
//
//	key, err := jwks.ParseKey([]byte(os.Getenv("POWERSYNC_PRIVATE_KEY")))
//	if err != nil {
//		log.Fatal(err) // the error names the problem, never the key
//	}
//	ks, err := jwks.NewKeySet(key)
//	if err != nil {
//		log.Fatal(err)
//	}
//	signer, err := jwks.NewSigner(ks, os.Getenv("POWERSYNC_URL"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	users := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
//		userID, err := sessions.UserID(r) // the host's own sign-in
//		if err != nil {
//			return nil, fmt.Errorf("%w: %v", jwks.ErrUnauthenticated, err)
//		}
//		return &jwks.Identity{Subject: userID}, nil
//	})
//
//	jwksHandler, err := jwks.NewJWKSHandler(ks)
//	if err != nil {
//		log.Fatal(err)
//	}
//	tokenHandler, err := jwks.NewTokenHandler(signer, users, jwks.WithCORS("https://app.example"))
//	if err != nil {
//		log.Fatal(err) // a CORS origin with a path, a powersync_url that is not a URL, …
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET /.well-known/jwks.json", jwksHandler)
//	mux.Handle("/powersync-auth", tokenHandler)
//
// Then configure the PowerSync instance: its "JWKS URI" is the URL of the
// JWKS handler, and its audience is the URL given to [NewSigner], byte for
// byte. The token handler answers GET and POST with
// {"token": …, "powersync_url": …, "expires_at": …, "user_id": …}, and
// refusals with a JSON error {"error", "error_description"}: 401 when the
// Authenticator's error wraps [ErrUnauthenticated], 403 for [ErrForbidden],
// 503 for [ErrUnavailable], 500 otherwise, the reason going to the log and
// never to the client. Tokens live 5 minutes by default
// ([WithTokenLifetime]); clients fetch a new one when theirs nears expiry.
// To mint a token without a handler, call [Signer.Sign].
//
// # Anonymous users
//
// [Anonymous] is an Authenticator that grants everyone a token, with the
// subject [AnonymousSubject] or, with [WithUniqueSubjects], one of their
// own. Put it behind a rate limit: [WithRateLimit] takes any [RateLimiter],
// such as the per-client-IP limiter of package
// [github.com/powersync-jwks/jwks/ratelimit].
//
//	limiter, err := ratelimit.New(time.Second, 10) // a burst of 10, then 1 a second, per IP
//	if err != nil {
//		log.Fatal(err)
//	}
//	anonymous, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithRateLimit(limiter))
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/powersync-auth-anonymous", anonymous)
//
// # Verifying tokens
//
// A [Verifier] checks tokens as PowerSync does, and refuses more where
// PowerSync is lax: an "iat" in the future (which would let a token live
// longer than its lifetime says), an "exp" before its "iat", a "crit"
// header, an empty "sub". It reads its keys from a [KeySource]: a *KeySet
// for the host's own keys, or a remote JWKS. Its claim checks run before
// the key lookup, so an expired token or one for another audience never
// makes a remote key source fetch.
//
// [Verifier.Middleware] protects the host's own endpoints with the same
// tokens, and [Verifier.VerifyRequest] does the same for one request:
//
//	verifier, err := jwks.NewVerifier(ks, os.Getenv("POWERSYNC_URL"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/api/", verifier.Middleware()(api))
//	// in api: claims, ok := jwks.ClaimsFromContext(r.Context())
//
//	// or, in a handler of the host's own framework:
//	claims, err := verifier.VerifyRequest(r)
//	if errors.Is(err, jwks.ErrNoToken) { … } // not signed in
//
// Both read "Authorization: Bearer <jwt>" or PowerSync's "Token <jwt>".
// The middleware's options let requests without credentials through
// ([WithCredentialsOptional]), read the token from elsewhere
// ([WithTokenFrom]) and answer refusals in the host's own way
// ([WithErrorHandler]). Errors wrap the sentinels of this package
// ([ErrExpired], [ErrAudience], …), to test with [errors.Is]. A message
// that names a value of the token quotes it escaped, as %q does, and cut to
// 32 bytes, so that it cannot forge a log line.
//
// # Keys and algorithms
//
// New keys are ES256 by default: Go signs ES256 about 30 times faster than
// RS256, tokens are about 40% shorter, and PowerSync and Supabase both
// accept it. RS256, RS384, RS512, ES384, ES512 and EdDSA (Ed25519) are
// supported too; nothing else is. [NewExternalKey] signs with a key whose
// private half stays in a KMS or an HSM.
//
// A [Key] never shows its private half: printing it, logging it with
// log/slog or encoding it with encoding/json gives its key ID, algorithm
// and public key only. [Key.MarshalPrivate] is the one way out. Errors
// never contain key material, tokens or secrets.
//
// # Rotation
//
// [KeySet.Replace] swaps the signing key and the published keys atomically;
// signing, verifying and serving go on without a lock. Verifiers cache the
// JWKS document (PowerSync refetches it every 5 minutes; others keep it for
// its max-age, [WithMaxAge]), so a key must be published before it signs,
// and stay published after it stops. To rotate from current to next without
// failing a request:
//
//  1. Publish next beside current: ks.Replace(current, next.PublicOnly()).
//  2. Wait longer than PowerSync's 5-minute refresh plus the JWKS max-age
//     ([DefaultJWKSMaxAge] unless set), so that every verifier has seen next.
//  3. Sign with next, keeping current published:
//     ks.Replace(next, current.PublicOnly()).
//  4. Once every token current signed has expired (the token lifetime,
//     [WithTokenLifetime], plus the verifiers' leeway, [DefaultLeeway]),
//     drop it: ks.Replace(next).
//
// # Observing
//
// The package imports no metrics library. [WithObserver] (token handler)
// and [WithJWKSObserver] (JWKS handler) take a func([Event]) that is called
// once per answered request with its kind (token issued, token refused,
// JWKS served), the ServeMux route, the status, a fixed reason code for a
// refusal and the duration: a host counts them into Prometheus counters and
// histograms, OpenTelemetry instruments or expvar (ExampleWithObserver).
// Packages remote and supabase report their fetches of a JWKS and their
// calls to Supabase's /auth/v1/user the same way. What the handlers log
// (a refused request at Info, Warn for an unreachable upstream, Error for a
// server failure) goes to [WithLogger].
//
// # Other packages
//
// Package [github.com/powersync-jwks/jwks/remote] is a [KeySource] that
// reads a JWKS URL, cached and refreshed in the background, for services
// that verify tokens another service mints. Package
// [github.com/powersync-jwks/jwks/supabase] is the [Authenticator] of a
// Supabase project's signed-in users. Package
// [github.com/powersync-jwks/jwks/ratelimit] limits requests per client IP
// address, for [WithRateLimit]. Package
// [github.com/powersync-jwks/jwks/keyring] rotates the signing key by
// itself, on a schedule, keeping a [KeySet] current for the [Signer] and
// the JWKS handler, with one ring shared by every replica through a store:
// a file, or PostgreSQL with the module
// [github.com/powersync-jwks/jwks/pgstore]. The imports go one way: remote
// imports jwks, supabase imports both, keyring imports jwks, and ratelimit
// imports none of them.
package jwks
