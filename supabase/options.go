package supabase

import (
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
)

// An Option configures [New].
type Option func(*config)

// config is what the options set. Every field has its default before the
// options apply (see New).
type config struct {
	apiKey          string
	legacySecret    string
	strict          bool
	issuer          *string // nil: the project URL + /auth/v1, unless anyIssuer
	anyIssuer       bool    // WithAnyIssuer: no check of "iss"
	roles           []string
	allowAnonymous  bool
	clients         []string
	client          *http.Client
	sameOrigin      bool // redirects within the project's origin are followed
	userTimeout     time.Duration
	identity        func(*User, *jwks.Identity) error
	jwksOpts        []remote.Option
	unverifiedRate  rate.Limit
	unverifiedBurst int
	log             *slog.Logger // nil: slog.Default()
	observe         func(UserCallEvent)
}

func defaultConfig() config {
	return config{
		roles:           []string{"authenticated"},
		allowAnonymous:  true,
		client:          http.DefaultClient,
		userTimeout:     DefaultUserTimeout,
		unverifiedRate:  rate.Every(time.Second / 20),
		unverifiedBurst: 20,
	}
}

// WithAPIKey sets the project's anon or publishable key (SUPABASE_ANON_KEY),
// sent as the apikey header when Supabase's /auth/v1/user is called: in
// strict mode ([WithStrict]), and for HS256 tokens when no legacy secret is
// configured ([WithLegacySecret]).
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = key }
}

// WithLegacySecret sets the project's legacy JWT secret
// (SUPABASE_JWT_SECRET), so that HS256 access tokens are verified locally.
// The secret is used as its raw UTF-8 bytes, as Supabase does: it is not
// base64-decoded. It must be at least 32 characters long.
func WithLegacySecret(secret string) Option {
	return func(c *config) { c.legacySecret = secret }
}

// WithStrict makes every request call Supabase's /auth/v1/user with the
// caller's token, as supabase-js's getUser() does, after the token has
// passed the local checks: the only way to notice a sign-out, a ban or a
// deleted user before the access token expires, at the cost of a network
// call (tens of milliseconds) per token. It needs [WithAPIKey].
func WithStrict() Option {
	return func(c *config) { c.strict = true }
}

// WithIssuer sets the "iss" access tokens must carry, when it is not the
// project URL followed by /auth/v1: a self-hosted Supabase reached on an
// internal URL (http://kong:8000) whose tokens name the public one
// (GOTRUE_JWT_ISSUER, such as https://supabase.example.com/auth/v1). The
// empty string is refused by [New]: to accept any issuer, say so with
// [WithAnyIssuer].
func WithIssuer(iss string) Option {
	return func(c *config) { c.issuer, c.anyIssuer = &iss, false }
}

// WithAnyIssuer accepts access tokens whatever their "iss", and without
// one. Self-hosted Supabase's own docker-compose file sets no
// GOTRUE_JWT_ISSUER, so its tokens carry no "iss" at all; a self-hosted
// project reached on an internal URL may also name another issuer than
// the project URL. The signature (the project's JWKS, or its legacy
// secret), the audience, the subject and the role are still checked; what
// is lost is the check that a token was meant for this project rather than
// another one signed with the same keys. It is an explicit choice, for the
// host to log at start; [WithIssuer] with the issuer the tokens carry is
// better when they carry one.
func WithAnyIssuer() Option {
	return func(c *config) { c.issuer, c.anyIssuer = nil, true }
}

// WithRoles sets the "role" values accepted (default "authenticated" only).
// A signed-in user with another role is refused with an error wrapping
// [jwks.ErrForbidden] (403).
func WithRoles(roles ...string) Option {
	return func(c *config) { c.roles = roles }
}

// WithAnonymousUsers says whether the users of Supabase's own anonymous
// sign-ins (is_anonymous true; real users with a real ID) may have a token.
// They may by default, as with supabase-js's getUser(); refused, they get an
// error wrapping [jwks.ErrForbidden] (403).
func WithAnonymousUsers(allow bool) Option {
	return func(c *config) { c.allowAnonymous = allow }
}

// WithOAuthClients accepts the tokens that Supabase issued to these
// third-party OAuth clients (their "client_id"; "*" for any). Such tokens are
// refused by default with an error wrapping [jwks.ErrForbidden] (403): they
// were issued to another application on the user's behalf.
func WithOAuthClients(clientIDs ...string) Option {
	return func(c *config) { c.clients = clientIDs }
}

// WithHTTPClient sets the client for the calls to /auth/v1/user and for the
// project's JWKS (default [http.DefaultClient]). The Authenticator calls
// with a copy of client whose CheckRedirect is replaced, so that no redirect
// is followed (see [WithSameOriginRedirects]); client itself is not
// changed.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) { c.client = client }
}

// WithSameOriginRedirects lets the calls to /auth/v1/user and the fetches of
// the project's JWKS follow redirects (at most 10) that stay on the scheme,
// host and port of the project URL, so never from https to http. By default
// no redirect is followed: net/http would send the apikey header (and, to
// the same host name, the caller's token) wherever a redirect points. A
// redirect that is not followed is an error wrapping [jwks.ErrUnavailable]
// (503).
func WithSameOriginRedirects() Option {
	return func(c *config) { c.sameOrigin = true }
}

// WithUserTimeout bounds each call to /auth/v1/user (default
// [DefaultUserTimeout]); past it the caller gets an error wrapping
// [jwks.ErrUnavailable] (503).
func WithUserTimeout(d time.Duration) Option {
	return func(c *config) { c.userTimeout = d }
}

// WithIdentity lets the host shape the [jwks.Identity] of each user from the
// verified [User]: add PowerSync parameters or claims (say the role, or
// whether the user is anonymous), or refuse the user with an error wrapping
// [jwks.ErrForbidden]. The hook gets an Identity whose Subject is the user's
// ID and whose Parameters and Claims are empty maps, ready to be filled;
// maps it leaves empty put nothing in the token.
func WithIdentity(f func(u *User, id *jwks.Identity) error) Option {
	return func(c *config) { c.identity = f }
}

// WithUnverifiedRate limits the calls to /auth/v1/user made for HS256
// tokens that cannot be verified locally (no legacy secret is configured):
// at most burst at once, then one every interval, for the whole
// [Authenticator] (default 20 at once, then 20 a second). Anyone can make up
// such a token, and each costs Supabase a request from this server's
// address; beyond the limit the caller gets an error wrapping
// [jwks.ErrUnavailable] (503). Tokens verified locally, in strict mode
// too, are not limited.
func WithUnverifiedRate(every time.Duration, burst int) Option {
	return func(c *config) { c.unverifiedRate, c.unverifiedBurst = rate.Every(every), burst }
}

// WithJWKSOptions passes options to the [remote.KeySet] that reads the
// project's JWKS (refresh interval, staleness, ...). They apply after the
// HTTP client and logger of this package's options, so they may replace
// them.
func WithJWKSOptions(opts ...remote.Option) Option {
	return func(c *config) { c.jwksOpts = append(c.jwksOpts, opts...) }
}

// WithLogger sets the logger of the [Authenticator] and of its JWKS (nil,
// the default, is [slog.Default] at the time of [New]). The Authenticator logs its
// calls to /auth/v1/user at debug level, the JWKS its failed fetches and
// skipped keys; never a token, a secret or key material.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}
