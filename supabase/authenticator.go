package supabase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/bearer"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/redirect"
	"github.com/powersync-jwks/jwks/internal/unverified"
	"github.com/powersync-jwks/jwks/remote"
)

const (
	// Audience is the "aud" of the access tokens of signed-in Supabase
	// users, and their "role" unless a custom access token hook changes it.
	Audience = "authenticated"

	// DefaultUserTimeout bounds a call to Supabase's /auth/v1/user (see
	// [WithUserTimeout]).
	DefaultUserTimeout = 5 * time.Second
)

const (
	// maxTokenLifetime is the longest access token lifetime a Supabase
	// project can be configured with: a week.
	maxTokenLifetime = 7 * 24 * time.Hour

	// hs256 is the algorithm of the access tokens of legacy projects.
	hs256 = "HS256"
)

// An Authenticator is a [jwks.Authenticator] for signed-in Supabase users.
// It reads the caller's Supabase access token from "Authorization: Bearer
// <token>" (as supabase-js and the PowerSync demos send it) and, by default,
// verifies it locally, without a network call per request:
//
//   - ES256 and RS256 tokens (projects on asymmetric signing keys) against
//     the project's JWKS, <project URL>/auth/v1/.well-known/jwks.json, cached
//     and refreshed in the background by a [remote.KeySet];
//   - HS256 tokens (legacy projects) with the legacy JWT secret when it is
//     configured ([WithLegacySecret]), and otherwise by calling Supabase's
//     /auth/v1/user ([WithAPIKey]).
//
// In strict mode ([WithStrict]) every token that passes these checks is also
// checked by /auth/v1/user, whose answer must name the token's subject.
//
// Whatever the path, it requires "iss" to be the project's issuer (see
// [WithIssuer] and [WithAnyIssuer]), "aud" to hold "authenticated", a
// "sub", a "role" among the accepted ones, no "client_id" unless allowed,
// and applies the policy for anonymous users.
// Its errors wrap [jwks.ErrUnauthenticated] for the anon and service_role
// API keys (JWTs without "sub" or "aud"), sb_publishable_ and sb_secret_
// keys, expired tokens and tokens of other projects (401);
// [jwks.ErrForbidden] for users the policy refuses (403); and
// [jwks.ErrUnavailable] when Supabase cannot be reached in time (503).
//
// An Authenticator is made by [New] and is safe for concurrent use.
type Authenticator struct {
	userURL  string
	cfg      config
	log      *slog.Logger
	jwks     *remote.KeySet
	verifier *jwks.Verifier // the JWKS and, when configured, the legacy secret

	// userCalls limits the /auth/v1/user calls for tokens that were not
	// verified locally. A rate.Limiter is safe for concurrent use.
	userCalls *rate.Limiter
}

var _ jwks.Authenticator = (*Authenticator)(nil)

// New returns an authenticator for the users of the Supabase project at
// projectURL (SUPABASE_URL, such as https://<ref>.supabase.co, or
// http://127.0.0.1:54321 for the Supabase CLI). It checks its configuration
// and returns an error for a bad URL or option, but does not wait for
// Supabase: the project's JWKS is fetched in the background, by a goroutine
// that runs until ctx is done (see [remote.New]).
func New(ctx context.Context, projectURL string, opts ...Option) (*Authenticator, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	projectURL = strings.TrimRight(projectURL, "/")
	if err := checkProjectURL(projectURL); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cfg.log
	if log == nil {
		log = slog.Default()
	}

	jwksOpts := []remote.Option{remote.WithHTTPClient(cfg.client), remote.WithLogger(log)}
	if cfg.sameOrigin {
		jwksOpts = append(jwksOpts, remote.WithSameOriginRedirects())
	}
	jwksOpts = append(jwksOpts, cfg.jwksOpts...)
	cfg.client = redirect.Client(cfg.client, cfg.sameOrigin) // a copy: the caller's client is left as it is
	keys, err := remote.New(ctx, projectURL+"/auth/v1/.well-known/jwks.json", jwksOpts...)
	if err != nil {
		return nil, fmt.Errorf("supabase: the project's JWKS: %w", err)
	}
	issuer := projectURL + "/auth/v1"
	switch {
	case cfg.anyIssuer:
		issuer = "" // the Verifier checks no issuer
	case cfg.issuer != nil:
		issuer = *cfg.issuer
	}
	verifierOpts := []jwks.VerifierOption{jwks.WithIssuer(issuer), jwks.WithMaxTokenLifetime(maxTokenLifetime)}
	if cfg.legacySecret != "" {
		verifierOpts = append(verifierOpts, jwks.WithHS256Secret([]byte(cfg.legacySecret)))
	}
	verifier, err := jwks.NewVerifier(keys, Audience, verifierOpts...)
	if err != nil {
		return nil, fmt.Errorf("supabase: %w", err)
	}

	return &Authenticator{
		userURL:   projectURL + "/auth/v1/user",
		cfg:       cfg,
		log:       log,
		jwks:      keys,
		verifier:  verifier,
		userCalls: rate.NewLimiter(cfg.unverifiedRate, cfg.unverifiedBurst),
	}, nil
}

// checkProjectURL accepts absolute http and https URLs with a host, and
// without user information, query or fragment. Its errors do not repeat the
// URL, which may hold a password.
func checkProjectURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("supabase: the project URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("supabase: the project URL must be http or https")
	case u.Host == "":
		return errors.New("supabase: the project URL has no host")
	case u.User != nil:
		return errors.New("supabase: the project URL must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("supabase: the project URL must not have a query or fragment")
	}
	return nil
}

// check refuses a configuration New cannot work with.
func (c *config) check() error {
	switch {
	case c.strict && c.apiKey == "":
		return errors.New("supabase: strict mode needs the project's API key (WithAPIKey)")
	case c.issuer != nil && *c.issuer == "":
		return errors.New("supabase: WithIssuer(\"\"): give the issuer the tokens carry, or accept any with WithAnyIssuer")
	case c.issuer != nil && *c.issuer != strings.TrimSpace(*c.issuer):
		return errors.New("supabase: the issuer has surrounding spaces")
	case strings.ContainsAny(c.apiKey, " \t\r\n"):
		return errors.New("supabase: the API key holds whitespace")
	case c.legacySecret != "" && len(c.legacySecret) < 32:
		return errors.New("supabase: the legacy JWT secret is shorter than 32 characters")
	case len(c.roles) == 0:
		return errors.New("supabase: WithRoles with no role")
	case c.client == nil:
		return errors.New("supabase: WithHTTPClient(nil)")
	case c.userTimeout <= 0:
		return errors.New("supabase: the /auth/v1/user timeout must be positive")
	case c.unverifiedRate <= 0 || c.unverifiedBurst < 1:
		return errors.New("supabase: the rate of unverified tokens needs a positive interval and burst")
	}
	return nil
}

// JWKS returns the key set that reads the project's JWKS.
func (a *Authenticator) JWKS() *remote.KeySet { return a.jwks }

// Authenticate implements [jwks.Authenticator]: it establishes the user as
// [Authenticator.User] does, and returns an Identity whose Subject is the
// user's ID, shaped by the hook of [WithIdentity] if there is one. Its
// Parameters and Claims are nil unless the hook filled them.
func (a *Authenticator) Authenticate(r *http.Request) (*jwks.Identity, error) {
	u, err := a.User(r)
	if err != nil {
		return nil, err
	}
	id := &jwks.Identity{Subject: u.ID}
	if a.cfg.identity == nil {
		return id, nil
	}
	id.Parameters, id.Claims = map[string]any{}, map[string]any{}
	if err := a.cfg.identity(u, id); err != nil {
		return nil, err
	}
	if id.Subject == "" {
		return nil, errors.New("supabase: the identity hook left no subject")
	}
	if len(id.Parameters) == 0 {
		id.Parameters = nil
	}
	if len(id.Claims) == 0 {
		id.Claims = nil
	}
	return id, nil
}

// User establishes the signed-in Supabase user of r, with the checks and
// errors of [Authenticator.Authenticate], for hosts that want the user
// rather than a token.
func (a *Authenticator) User(r *http.Request) (*User, error) {
	ctx := r.Context()
	raw, err := bearer.Token(r, false, jwks.MaxTokenSize)
	switch {
	case errors.Is(err, bearer.ErrNoCredentials):
		return nil, fmt.Errorf("supabase: %w: %w: %w", err, jwks.ErrNoToken, jwks.ErrUnauthenticated)
	case err != nil:
		return nil, fmt.Errorf("supabase: %w: %w", err, jwks.ErrUnauthenticated)
	case strings.Count(raw, ".") != 2:
		// sb_publishable_…, sb_secret_…: what supabase-js sends when nobody
		// is signed in.
		return nil, fmt.Errorf("supabase: the bearer is not a user's access token (an API key?): %w: %w",
			jwks.ErrMalformed, jwks.ErrUnauthenticated)
	}

	// Verify locally whatever can be: only an HS256 token without the
	// legacy secret needs Supabase to vouch for its signature, and its
	// claims are checked before asking Supabase, so that junk never costs
	// an upstream call.
	unsigned := ""
	if a.cfg.legacySecret == "" {
		unsigned = hs256
	}
	alg, claims, err := unverified.Verify(ctx, a.verifier, raw, unsigned)
	vouched := alg == hs256 && a.cfg.legacySecret == ""
	switch {
	case vouched && a.cfg.apiKey == "":
		return nil, fmt.Errorf("supabase: an HS256 access token, and neither the legacy JWT secret nor the API key is configured to check it: %w: %w",
			jwks.ErrSignature, jwks.ErrUnauthenticated)
	case errors.Is(err, jwks.ErrUnavailable):
		return nil, fmt.Errorf("supabase: %w", err)
	case err != nil:
		return nil, fmt.Errorf("supabase: access token: %w: %w", err, jwks.ErrUnauthenticated)
	}
	u, err := userOf(claims.(*jwks.Claims))
	if err != nil {
		return nil, err
	}
	if vouched || a.cfg.strict {
		if vouched && !a.userCalls.Allow() {
			return nil, fmt.Errorf("supabase: too many /auth/v1/user calls for unverified tokens: %w", jwks.ErrUnavailable)
		}
		if err := a.confirm(ctx, raw, u); err != nil {
			return nil, err
		}
	}
	if err := a.policy(u); err != nil {
		return nil, err
	}
	return u, nil
}

// policy applies the role, OAuth client and anonymous-user rules.
func (a *Authenticator) policy(u *User) error {
	if u.Role == "" {
		return fmt.Errorf("supabase: access token: %w: role: %w", jwks.ErrMissingClaim, jwks.ErrUnauthenticated)
	}
	if !slices.Contains(a.cfg.roles, u.Role) {
		return fmt.Errorf("supabase: role %s is not accepted: %w", quote.Value(u.Role), jwks.ErrForbidden)
	}
	if id := u.clientID; id != nil && !slices.Contains(a.cfg.clients, "*") && !slices.Contains(a.cfg.clients, *id) {
		return fmt.Errorf("supabase: the token was issued to OAuth client %s: %w", quote.Value(*id), jwks.ErrForbidden)
	}
	if u.IsAnonymous && !a.cfg.allowAnonymous {
		return fmt.Errorf("supabase: anonymous users may not sync: %w", jwks.ErrForbidden)
	}
	return nil
}
