package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/bearer"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/unverified"

	"golang.org/x/time/rate"
)

// Supabase defaults.
const (
	// SupabaseAudience is the "aud" of the access tokens of signed-in
	// Supabase users.
	SupabaseAudience = "authenticated"

	// DefaultSupabaseUserTimeout bounds a call to Supabase's /auth/v1/user.
	DefaultSupabaseUserTimeout = 5 * time.Second

	// supabaseMaxLifetime is the longest access token lifetime a Supabase
	// project can be configured with (a week).
	supabaseMaxLifetime = 7 * 24 * time.Hour

	maxUserResponse = 1 << 20
)

// A SupabaseUser is the signed-in Supabase user a SupabaseAuthenticator
// established, as its verified access token (or Supabase's /auth/v1/user)
// describes it.
type SupabaseUser struct {
	ID          string         // the user's UUID: "sub", and the PowerSync token's subject
	Role        string         // "role", normally "authenticated"
	Email       string         // "email", may be empty
	Phone       string         // "phone", may be empty
	IsAnonymous bool           // "is_anonymous": a Supabase anonymous sign-in
	SessionID   string         // "session_id"
	AAL         string         // "aal": authenticator assurance level, aal1 or aal2
	AppMetadata map[string]any // "app_metadata", set by the server only (unlike user_metadata, which users can edit: never authorise on it)
	Claims      *Claims        // all the claims of the access token

	clientID *string // "client_id", for the OAuth client policy
}

// SupabaseOption configures NewSupabaseAuthenticator.
type SupabaseOption func(*supabaseConfig)

type supabaseConfig struct {
	apiKey         string
	legacySecret   string
	strict         bool
	issuer         *string
	roles          []string
	allowAnonymous bool
	clients        []string
	client         *http.Client
	userTimeout    time.Duration
	identity       func(*SupabaseUser, *Identity) error
	remote         []RemoteOption
	unverifiedRate rate.Limit
	unverifiedMax  int
	now            func() time.Time
}

// WithSupabaseAPIKey sets the project's anon or publishable key
// (SUPABASE_ANON_KEY), sent as the apikey header when Supabase's
// /auth/v1/user is called: in strict mode, and for HS256 tokens when no
// legacy secret is configured.
func WithSupabaseAPIKey(key string) SupabaseOption {
	return func(c *supabaseConfig) { c.apiKey = key }
}

// WithSupabaseLegacySecret sets the project's legacy JWT secret
// (SUPABASE_JWT_SECRET), so that HS256 access tokens are verified locally.
// The secret is used as its raw UTF-8 bytes, as Supabase does: it is not
// base64-decoded.
func WithSupabaseLegacySecret(secret string) SupabaseOption {
	return func(c *supabaseConfig) { c.legacySecret = secret }
}

// WithSupabaseStrict makes every request call Supabase's /auth/v1/user with
// the caller's token, as the seed's getUser() did, after the token has
// passed the local checks: the only way to notice a sign-out, a ban or a
// deleted user before the access token expires, at the cost of a network
// call (tens of milliseconds) per token. It needs WithSupabaseAPIKey.
func WithSupabaseStrict() SupabaseOption {
	return func(c *supabaseConfig) { c.strict = true }
}

// WithSupabaseIssuer sets the "iss" access tokens must carry, when it is not
// the project URL followed by /auth/v1 (a self-hosted Auth server behind
// another public URL). The empty string accepts any issuer, for old
// self-hosted setups whose tokens carry none.
func WithSupabaseIssuer(iss string) SupabaseOption {
	return func(c *supabaseConfig) { c.issuer = &iss }
}

// WithSupabaseRoles sets the "role" values accepted (default
// "authenticated" only). A signed-in user with another role gets 403.
func WithSupabaseRoles(roles ...string) SupabaseOption {
	return func(c *supabaseConfig) { c.roles = roles }
}

// WithSupabaseAnonymousUsers says whether users of Supabase's own anonymous
// sign-ins (is_anonymous true; real users with a real ID) may have a token.
// They may by default, as with the seed; refused, they get 403.
func WithSupabaseAnonymousUsers(allow bool) SupabaseOption {
	return func(c *supabaseConfig) { c.allowAnonymous = allow }
}

// WithSupabaseOAuthClients accepts tokens that Supabase issued to these
// third-party OAuth clients (their "client_id"; "*" for any). Such tokens
// are refused by default with 403: they were issued to another application
// on the user's behalf.
func WithSupabaseOAuthClients(clientIDs ...string) SupabaseOption {
	return func(c *supabaseConfig) { c.clients = clientIDs }
}

// WithSupabaseHTTPClient sets the client for the calls to /auth/v1/user and
// for the project's JWKS (default http.DefaultClient).
func WithSupabaseHTTPClient(client *http.Client) SupabaseOption {
	return func(c *supabaseConfig) { c.client = client }
}

// WithSupabaseUserTimeout bounds each call to /auth/v1/user (default
// DefaultSupabaseUserTimeout); past it the token handler answers 503.
func WithSupabaseUserTimeout(d time.Duration) SupabaseOption {
	return func(c *supabaseConfig) { c.userTimeout = d }
}

// WithSupabaseIdentity lets the host shape the Identity of each user from
// the verified Supabase user: add PowerSync parameters or claims (say the
// role, or whether the user is anonymous), or refuse the user with an error
// wrapping ErrForbidden. The Identity's Subject is the user's ID.
func WithSupabaseIdentity(f func(u *SupabaseUser, id *Identity) error) SupabaseOption {
	return func(c *supabaseConfig) { c.identity = f }
}

// WithSupabaseUnverifiedRate limits the calls to /auth/v1/user made for
// HS256 tokens that cannot be verified locally (no legacy secret is
// configured): at most burst at once, then one every interval, for the
// whole process (default 20 at once, then 20 a second). Anyone can make up
// such a token, and each costs Supabase a request from this server's
// address; beyond the limit the token handler answers 503. Tokens verified
// locally, strict mode included, are not limited.
func WithSupabaseUnverifiedRate(every time.Duration, burst int) SupabaseOption {
	return func(c *supabaseConfig) { c.unverifiedRate, c.unverifiedMax = rate.Every(every), burst }
}

// WithSupabaseClock sets the clock that access tokens are checked against
// (default time.Now), for tests.
func WithSupabaseClock(now func() time.Time) SupabaseOption {
	return func(c *supabaseConfig) { c.now = now }
}

// WithSupabaseJWKSOptions passes options to the RemoteKeySet that reads the
// project's JWKS (refresh interval, staleness, logger, ...).
func WithSupabaseJWKSOptions(opts ...RemoteOption) SupabaseOption {
	return func(c *supabaseConfig) { c.remote = append(c.remote, opts...) }
}

// A SupabaseAuthenticator is an Authenticator for signed-in Supabase users:
// the seed's powersync-auth function. It reads the caller's Supabase access
// token from "Authorization: Bearer <token>" (as supabase-js and the
// PowerSync demos send it) and, by default, verifies it locally, without a
// network call per request:
//
//   - ES256 and RS256 tokens (projects on asymmetric signing keys) against
//     the project's JWKS, <project URL>/auth/v1/.well-known/jwks.json, cached
//     and refreshed in the background by a RemoteKeySet;
//   - HS256 tokens (legacy projects) with the legacy JWT secret when it is
//     configured, and otherwise by calling Supabase's /auth/v1/user.
//
// In strict mode (WithSupabaseStrict) every token that passes these checks
// is also checked by /auth/v1/user, whose answer must name the token's
// subject.
//
// Whatever the path, it requires "iss" to be the project's issuer, "aud" to
// hold "authenticated", a "sub", a "role" among the accepted ones, no
// "client_id" unless allowed, and applies the policy for anonymous users.
// The anon and service_role API keys (JWTs without "sub" or "aud"),
// sb_publishable_ and sb_secret_ keys, expired tokens and tokens of other
// projects get 401; a Supabase that cannot be reached in time gets 503.
//
// It is safe for concurrent use.
type SupabaseAuthenticator struct {
	projectURL string
	userURL    string
	cfg        supabaseConfig
	jwks       *RemoteKeySet
	verifier   *Verifier // JWKS and, when configured, the legacy secret

	// userCalls limits the /auth/v1/user calls for tokens that were not
	// verified locally. A rate.Limiter is safe for concurrent use.
	userCalls *rate.Limiter
}

// NewSupabaseAuthenticator returns an authenticator for the users of the
// Supabase project at projectURL (SUPABASE_URL, such as
// https://<ref>.supabase.co, or http://127.0.0.1:54321 for the Supabase
// CLI). It does not wait for Supabase: the project's JWKS is fetched in the
// background, by a goroutine that runs until ctx is done (see
// NewRemoteKeySet). Configuration errors are returned here.
func NewSupabaseAuthenticator(ctx context.Context, projectURL string, opts ...SupabaseOption) (*SupabaseAuthenticator, error) {
	cfg := supabaseConfig{
		roles:          []string{SupabaseAudience},
		allowAnonymous: true,
		client:         http.DefaultClient,
		userTimeout:    DefaultSupabaseUserTimeout,
		unverifiedRate: rate.Every(time.Second / 20),
		unverifiedMax:  20,
		now:            time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	projectURL = strings.TrimRight(projectURL, "/")
	if err := checkRemoteURL("Supabase project URL", projectURL); err != nil {
		return nil, err
	}
	if u, _ := url.Parse(projectURL); u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("jwks: the Supabase project URL must not have a query or fragment")
	}
	switch {
	case cfg.strict && cfg.apiKey == "":
		return nil, errors.New("jwks: strict Supabase mode needs the project's API key (WithSupabaseAPIKey)")
	case cfg.legacySecret != "" && len(cfg.legacySecret) < 32:
		return nil, errors.New("jwks: the Supabase legacy JWT secret is shorter than 32 characters")
	case len(cfg.roles) == 0:
		return nil, errors.New("jwks: WithSupabaseRoles with no role")
	case cfg.client == nil:
		return nil, errors.New("jwks: WithSupabaseHTTPClient(nil)")
	case cfg.userTimeout <= 0:
		return nil, errors.New("jwks: the Supabase /user timeout must be positive")
	case cfg.unverifiedRate <= 0 || cfg.unverifiedMax < 1:
		return nil, errors.New("jwks: the rate of unverified Supabase tokens needs a positive interval and burst")
	case cfg.now == nil:
		return nil, errors.New("jwks: WithSupabaseClock(nil)")
	}
	if strings.ContainsAny(cfg.apiKey, " \t\r\n") {
		return nil, errors.New("jwks: the Supabase API key holds whitespace")
	}

	issuer := projectURL + "/auth/v1"
	if cfg.issuer != nil {
		issuer = *cfg.issuer
	}
	remoteOpts := append([]RemoteOption{WithRemoteHTTPClient(cfg.client), WithRemoteClock(cfg.now)}, cfg.remote...)
	keys, err := NewRemoteKeySet(ctx, projectURL+"/auth/v1/.well-known/jwks.json", remoteOpts...)
	if err != nil {
		return nil, err
	}
	verifierOpts := []VerifierOption{WithIssuer(issuer), WithClock(cfg.now), WithMaxTokenLifetime(supabaseMaxLifetime)}
	if cfg.legacySecret != "" {
		verifierOpts = append(verifierOpts, WithHS256Secret([]byte(cfg.legacySecret)))
	}
	verifier, err := NewVerifier(keys, SupabaseAudience, verifierOpts...)
	if err != nil {
		return nil, err
	}

	return &SupabaseAuthenticator{
		projectURL: projectURL,
		userURL:    projectURL + "/auth/v1/user",
		cfg:        cfg,
		jwks:       keys,
		verifier:   verifier,
		userCalls:  rate.NewLimiter(cfg.unverifiedRate, cfg.unverifiedMax),
	}, nil
}

// JWKS returns the key source that reads the project's JWKS.
func (s *SupabaseAuthenticator) JWKS() *RemoteKeySet { return s.jwks }

// Authenticate implements Authenticator.
func (s *SupabaseAuthenticator) Authenticate(r *http.Request) (*Identity, error) {
	u, err := s.User(r)
	if err != nil {
		return nil, err
	}
	id := &Identity{Subject: u.ID}
	if s.cfg.identity != nil {
		if err := s.cfg.identity(u, id); err != nil {
			return nil, err
		}
		if id.Subject == "" {
			return nil, errors.New("jwks: the Supabase identity hook left no subject")
		}
	}
	return id, nil
}

// User establishes the signed-in Supabase user of r, with the checks and
// errors of Authenticate, for hosts that want the user rather than a token.
func (s *SupabaseAuthenticator) User(r *http.Request) (*SupabaseUser, error) {
	ctx := r.Context()
	raw, err := bearer.Token(r, false, MaxTokenSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if strings.Count(raw, ".") != 2 {
		// sb_publishable_…, sb_secret_…: what supabase-js sends when nobody
		// is signed in.
		return nil, fmt.Errorf("%w: %w: the bearer is not a user's access token (an API key?)", ErrUnauthenticated, ErrMalformed)
	}
	// Verify locally whatever can be: only an HS256 token without the
	// legacy secret needs Supabase to vouch for its signature, and its
	// claims are checked before asking Supabase, so that junk never costs
	// an upstream call.
	unsigned := ""
	if s.cfg.legacySecret == "" {
		unsigned = hs256
	}
	alg, claims, err := unverified.Verify(ctx, s.verifier, raw, unsigned)
	vouched := alg == hs256 && s.cfg.legacySecret == ""
	if vouched && s.cfg.apiKey == "" {
		return nil, fmt.Errorf("%w: %w: an HS256 Supabase token, and neither the legacy JWT secret nor the API key is configured to check it",
			ErrUnauthenticated, ErrSignature)
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: Supabase access token: %w", ErrUnauthenticated, err)
	}
	c := claims.(*Claims)
	u, err := supabaseUserOf(c)
	if err != nil {
		return nil, err
	}
	if vouched || s.cfg.strict {
		if vouched && !s.userCalls.Allow() {
			return nil, fmt.Errorf("%w: too many Supabase /auth/v1/user calls for unverified tokens", ErrUnavailable)
		}
		if err := s.confirm(ctx, raw, u); err != nil {
			return nil, err
		}
	}
	if err := s.policy(u); err != nil {
		return nil, err
	}
	return u, nil
}

// supabaseUserOf reads the user from the claims of an access token, by the
// claims' exact names.
func supabaseUserOf(c *Claims) (*SupabaseUser, error) {
	u := &SupabaseUser{ID: c.Subject, Claims: c}
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"role", &u.Role}, {"is_anonymous", &u.IsAnonymous}, {"session_id", &u.SessionID},
		{"email", &u.Email}, {"phone", &u.Phone}, {"aal", &u.AAL}, {"app_metadata", &u.AppMetadata},
		{"client_id", &u.clientID},
	} {
		if _, err := c.Get(m.name, m.dst); err != nil {
			return nil, fmt.Errorf("%w: %w: Supabase access token: %v", ErrUnauthenticated, ErrMalformed, err)
		}
	}
	return u, nil
}

// policy applies the role, OAuth client and anonymous-user rules.
func (s *SupabaseAuthenticator) policy(u *SupabaseUser) error {
	if u.Role == "" {
		return fmt.Errorf("%w: %w: role", ErrUnauthenticated, ErrMissingClaim)
	}
	if !slices.Contains(s.cfg.roles, u.Role) {
		return fmt.Errorf("%w: Supabase role %q is not accepted", ErrForbidden, quote.Value(u.Role))
	}
	if id := u.clientID; id != nil && !slices.Contains(s.cfg.clients, "*") && !slices.Contains(s.cfg.clients, *id) {
		return fmt.Errorf("%w: the token was issued to OAuth client %q", ErrForbidden, quote.Value(*id))
	}
	if u.IsAnonymous && !s.cfg.allowAnonymous {
		return fmt.Errorf("%w: anonymous Supabase users may not sync", ErrForbidden)
	}
	return nil
}

// supabaseUserResponse is what /auth/v1/user answers, as far as it is read.
type supabaseUserResponse struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Phone       string         `json:"phone"`
	IsAnonymous bool           `json:"is_anonymous"`
	AppMetadata map[string]any `json:"app_metadata"`
}

// confirm asks Supabase's /auth/v1/user whether the token is good, and
// updates u from the answer, which must be about the token's subject.
func (s *SupabaseAuthenticator) confirm(ctx context.Context, raw string, u *SupabaseUser) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.userTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.userURL, nil)
	if err != nil {
		return fmt.Errorf("jwks: building the Supabase /user request: %w", err)
	}
	req.Header.Set("apikey", s.cfg.apiKey)
	req.Header.Set("Authorization", "Bearer "+raw)
	req.Header.Set("Accept", "application/json")
	res, err := s.cfg.client.Do(req)
	if err != nil {
		// The error text of net/http names the URL, never the headers.
		return fmt.Errorf("%w: Supabase /auth/v1/user: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxUserResponse))
	if err != nil {
		return fmt.Errorf("%w: reading Supabase /auth/v1/user: %w", ErrUnavailable, err)
	}
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return fmt.Errorf("%w: Supabase /auth/v1/user answered %d", ErrUnavailable, res.StatusCode)
	default:
		// 401 and 403: a revoked session, a deleted or banned user, a
		// refused token. Supabase's error code says which, for the log.
		var gotrue struct {
			ErrorCode string `json:"error_code"`
			Code      any    `json:"code"`
		}
		_ = json.Unmarshal(body, &gotrue)
		return fmt.Errorf("%w: Supabase /auth/v1/user answered %d %s", ErrUnauthenticated, res.StatusCode, quote.Value(gotrue.ErrorCode))
	}
	var user supabaseUserResponse
	if err := json.Unmarshal(body, &user); err != nil {
		return fmt.Errorf("%w: Supabase /auth/v1/user answered something other than a user", ErrUnavailable)
	}
	if user.ID == "" || user.ID != u.ID {
		return fmt.Errorf("%w: Supabase /auth/v1/user answered for another user than the token's subject", ErrUnauthenticated)
	}
	// The token's role stays: a custom access token hook may have set it,
	// and it is what the project's row level security sees.
	u.Email, u.Phone, u.IsAnonymous = user.Email, user.Phone, user.IsAnonymous
	if user.AppMetadata != nil {
		u.AppMetadata = user.AppMetadata
	}
	return nil
}
