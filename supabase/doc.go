// Package supabase gives the signed-in users of a Supabase project their
// PowerSync tokens: its [Authenticator] checks the caller's Supabase access
// token and stands behind the token handler of package jwks.
//
// Build the Authenticator once at start-up, with a context that lives as
// long as the server, and mount a token handler with it:
//
//	users, err := supabase.New(ctx, os.Getenv("SUPABASE_URL"),
//		supabase.WithAPIKey(os.Getenv("SUPABASE_ANON_KEY")))
//	if err != nil {
//		log.Fatal(err) // a bad URL or option: Supabase is not asked yet
//	}
//	tokens, err := jwks.NewTokenHandler(signer, users)
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/powersync-auth", tokens)
//
// A client then calls /powersync-auth with "Authorization: Bearer <the
// user's Supabase access token>", as supabase-js and the PowerSync demos do,
// and gets {"token": …, "powersync_url": …} for the user's ID.
//
// [New] does not wait for Supabase (containers start in any order): the
// project's JWKS is fetched in the background, and the route answers 503
// until Supabase answers, while requests that need no upstream (no
// credentials, a bearer that is not a JWT) get their 401 at once.
//
// # How tokens are checked
//
// By default every token is verified locally, without a call to Supabase:
// ES256 and RS256 tokens against the project's JWKS (a [remote.KeySet],
// refreshed in the background and at once for an unknown key ID), HS256
// tokens of legacy projects with the legacy JWT secret ([WithLegacySecret]).
// An HS256 token without the secret is checked by Supabase's /auth/v1/user
// with the API key, at a limited rate ([WithUnverifiedRate]). Strict mode
// ([WithStrict]) asks /auth/v1/user about every token, which notices a
// sign-out, a ban or a deleted user before the token expires, at the cost of
// a call per token.
//
// Neither the calls to /auth/v1/user nor the fetches of the JWKS follow a
// redirect (the apikey header and the caller's token would go wherever it
// points): a redirect is an error wrapping [jwks.ErrUnavailable], 503,
// unless [WithSameOriginRedirects] allows those that stay on the project's
// scheme, host and port.
//
// Whatever the path, the token must name the project as its issuer
// ([WithIssuer] for a self-hosted project whose tokens name another URL,
// [WithAnyIssuer] for one whose tokens carry none), hold the audience
// "authenticated", a subject, and a role among the accepted ones
// ([WithRoles]); tokens issued to OAuth clients are refused unless allowed
// ([WithOAuthClients]), and Supabase's anonymous users are accepted unless
// refused ([WithAnonymousUsers]). The anon and service_role API keys are not
// users, and are refused.
//
// A token naming a key ID the cached JWKS lacks makes it fetch the JWKS
// again; when that fetch fails (Supabase cannot be reached), the caller
// gets 503 and tries again, rather than a 401 for a key Supabase may have
// just published.
//
// # Observing
//
// [WithObserver] reports every call to /auth/v1/user (a [UserCallEvent]:
// why, the status, how long it took), and
// WithJWKSOptions(remote.WithObserver(…)) every fetch of the project's
// JWKS, for the host to count into its metrics; the package imports no
// metrics library. [Authenticator.JWKS] gives the key set, whose
// [remote.KeySet.LastFetch] is zero until the JWKS has loaded once: a
// readiness check.
//
// # Shaping the token
//
// [WithIdentity] turns the verified [User] into the token's subject,
// parameters and claims, or refuses the user. For a host that needs the
// user rather than a token, [Authenticator.User] does the same checks and
// returns the user.
package supabase
