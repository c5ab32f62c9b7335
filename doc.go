// Package jwks makes a Go service its own authentication provider for
// PowerSync: it makes and loads signing keys, publishes their public halves
// as a JWKS document that PowerSync fetches, mints the short-lived tokens
// PowerSync accepts, and verifies tokens.
//
// It is the Go counterpart of PowerSync's custom-auth example (a key
// generation script and three Supabase Edge Functions): the same secrets,
// the same routes and the same responses, as handlers a host mounts on its
// own router.
//
// # Serving keys and tokens
//
// Load the key once at start-up, build a KeySet and a Signer, and mount the
// handlers on your own router. The key below is the seed's
// POWERSYNC_PRIVATE_KEY secret (base64 of a JWK); ParseKey also reads JWK
// JSON and PEM, and GenerateKey makes a new key.
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
//	users, err := supabase.New(ctx, os.Getenv("SUPABASE_URL"),
//		supabase.WithAPIKey(os.Getenv("SUPABASE_ANON_KEY")))
//	if err != nil {
//		log.Fatal(err)
//	}
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /.well-known/jwks.json", jwks.NewJWKSHandler(ks))
//	mux.Handle("/powersync-auth", jwks.NewTokenHandler(signer, users))
//	limiter, _ := ratelimit.New(time.Second, 10) // per client IP
//	mux.Handle("/powersync-auth-anonymous",
//		jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithRateLimit(limiter)))
//
// Then configure the PowerSync instance: its "JWKS URI" is the URL of the
// JWKS handler, and its audience is the URL given to NewSigner, byte for
// byte. The token handlers answer what the seed's functions answered,
// {"token": …, "powersync_url": …} (plus "expires_at" and "user_id"), to
// GET and POST. Tokens live 5 minutes by default; clients fetch a new one
// when it nears expiry.
//
// Any sign-in can stand behind the token handler: an Authenticator (or an
// AuthenticatorFunc) returns the Identity of the caller, whose Subject
// becomes the token's "sub". To mint tokens without a handler, call
// Signer.Sign.
//
// # Algorithms
//
// New keys are ES256 by default: Go signs ES256 about 30 times faster than
// RS256, tokens are about 40% shorter, and PowerSync and Supabase both
// accept it. RS256 (the seed's choice), RS384, RS512, ES384, ES512 and EdDSA
// (Ed25519) are supported too; nothing else is.
//
// # Verifying tokens
//
// A Verifier checks tokens as PowerSync does, and refuses more where
// PowerSync is lax: an "iat" in the future (which would let a token live far
// longer than its lifetime says), an "exp" before its "iat", a "crit"
// header, an empty "sub". It takes a KeySource: a *KeySet for local
// keys, or a remote JWKS. Its Middleware protects a host's own endpoints with
// the same tokens:
//
//	verifier, err := jwks.NewVerifier(ks, os.Getenv("POWERSYNC_URL"))
//	...
//	mux.Handle("/api/", verifier.Middleware(api))
//	// in api: claims, _ := jwks.ClaimsFromContext(r.Context())
//
// Errors wrap sentinel values (ErrExpired, ErrAudience, ...) for errors.Is.
// Package github.com/powersync-jwks/jwks/remote reads the keys of a JWKS URL
// instead, cached and refreshed in the background, for services that verify
// tokens another service mints.
//
// # Keys and secrets
//
// A Key never shows its private half: printing it, logging it with
// log/slog or encoding it with encoding/json gives its key ID, algorithm
// and public key only. MarshalPrivate is the one way out. Errors never
// contain key material, tokens or secrets.
//
// # Rotation
//
// KeySet.Replace swaps the signing key and the published keys atomically;
// signing and serving go on without a lock. To rotate without failing a
// request, publish the next key (as a published key) for longer than
// PowerSync's 5-minute refresh plus the JWKS max-age, then make it the
// signing key and keep the old key published until its last token has
// expired.
package jwks
