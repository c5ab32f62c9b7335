package supabasetest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks/internal/testkit"
)

// DefaultLegacySecret is the legacy JWT secret of a Server made without
// WithLegacySecret: the placeholder of GoTrue's self-hosted example
// configuration, 60 characters long.
const DefaultLegacySecret = "your-super-secret-jwt-token-with-at-least-32-characters-long"

// DefaultTokenLifetime is the lifetime of the access tokens a Server mints,
// GoTrue's default JWT expiry (3600 seconds).
const DefaultTokenLifetime = time.Hour

// apiKeyLifetime is the lifetime of the anon and service_role keys: hosted
// projects' keys are valid for about ten years.
const apiKeyLifetime = 10 * 365 * 24 * time.Hour

// Roles of Supabase's JWTs.
const (
	RoleAuthenticated = "authenticated" // a signed-in user, anonymous sign-ins included
	RoleAnon          = "anon"          // the anon API key
	RoleServiceRole   = "service_role"  // the service_role API key
)

// Prefixes of Supabase's non-JWT API keys.
const (
	PublishableKeyPrefix = "sb_publishable_"
	SecretKeyPrefix      = "sb_secret_"
)

// A Server is an in-process Supabase Auth. See the package documentation.
//
// Its configuration is fixed by New. The key ring is an immutable snapshot
// swapped whole by the key methods (keyMu serialises them), so serving the
// JWKS never waits; users, sessions and faults are guarded by mu; the
// request counters are atomic. All methods are safe for concurrent use.
type Server struct {
	t       testing.TB
	url     string       // the project URL
	client  *http.Client // reaches url
	cfg     config
	closing chan struct{} // closed when the test ends, before the server stops

	anonKey        string // the apikey values the gateway accepts
	serviceRoleKey string
	publishableKey string
	secretKey      string
	anonJWT        string // what the gateway puts in place of an sb_ bearer
	serviceRoleJWT string

	keyMu sync.Mutex // serialises writers of keys
	keys  atomic.Pointer[keyring]

	requests [endpointCount]atomic.Int64

	mu       sync.Mutex
	users    map[string]*userRecord // guarded by mu; by user ID
	sessions map[string]string      // guarded by mu; session ID → user ID
	faults   [endpointCount]fault   // guarded by mu
}

// config is what the options set.
type config struct {
	algs           []Algorithm // the project's asymmetric keys; the first is current
	legacySecret   string
	ref            string
	anonKey        string
	publishableKey string
	asymAPIKeys    bool
	jwksETag       bool
	tls            bool
	inMemory       bool
	now            func() time.Time
	tokenLifetime  time.Duration
	jwtIssuer      *string // nil: URL()+"/auth/v1"
}

// An Option configures New.
type Option func(*config)

// WithSigningKeys sets the project's asymmetric signing keys, one per
// algorithm (ES256 or RS256): the first is the current key, the others are
// published as standby keys. The default is one ES256 key, as new projects
// have.
func WithSigningKeys(first Algorithm, more ...Algorithm) Option {
	return func(c *config) { c.algs = append([]Algorithm{first}, more...) }
}

// WithoutSigningKeys makes a legacy project: no asymmetric key, an empty
// JWKS ({"keys":[]}), and tokens signed with the legacy HS256 secret with
// no kid. RotateKeys later migrates it to an ES256 key, as Supabase does.
func WithoutSigningKeys() Option {
	return func(c *config) { c.algs = nil }
}

// WithLegacySecret sets the legacy JWT secret (at least 32 characters, as
// GoTrue requires). Its raw UTF-8 bytes are the HMAC key. The default is
// DefaultLegacySecret.
func WithLegacySecret(secret string) Option {
	return func(c *config) { c.legacySecret = secret }
}

// WithProjectRef sets the project ref, the ref claim of the API keys. The
// default is 20 random lowercase letters, as hosted refs are.
func WithProjectRef(ref string) Option {
	return func(c *config) { c.ref = ref }
}

// WithAnonKey sets the anon key that AnonKey returns and the gateway
// accepts as apikey, for tests that need a fixed value. By default the
// server mints one (see AnonKey).
func WithAnonKey(key string) Option {
	return func(c *config) { c.anonKey = key }
}

// WithPublishableKey sets the publishable key, which must start with
// sb_publishable_. By default the server makes a random one.
func WithPublishableKey(key string) Option {
	return func(c *config) { c.publishableKey = key }
}

// WithAsymmetricAPIKeys signs the anon and service_role keys with the
// current asymmetric key (with its kid) instead of the legacy secret, as
// the Supabase CLI does: a check of the signature alone then accepts them.
func WithAsymmetricAPIKeys() Option {
	return func(c *config) { c.asymAPIKeys = true }
}

// WithJWKSETag makes the JWKS endpoint send a strong ETag and answer a
// matching If-None-Match with 304 Not Modified. GoTrue itself sends no
// ETag; a CDN in front of it may.
func WithJWKSETag() Option {
	return func(c *config) { c.jwksETag = true }
}

// WithTLS serves HTTPS with httptest's self-signed certificate; use Client
// to reach it.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithInMemoryNetwork serves on an in-memory network ([testkit.Network])
// instead of loopback, so that the server works inside a testing/synctest
// bubble, whose clock then drives token expiry, delays and timeouts. Call
// New inside the bubble, and reach the server with Client only. The project
// URL is http://<ref>.supabase.test.
func WithInMemoryNetwork() Option {
	return func(c *config) { c.inMemory = true }
}

// WithClock sets the server's clock: the iat of minted tokens and the
// time /user checks exp against. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithJWTIssuer sets the iss of the user tokens, as GOTRUE_JWT_ISSUER
// does: another URL than the project's (a self-hosted project reached on an
// internal URL whose tokens name the public one), or, when iss is "", no
// iss at all, as self-hosted Supabase's own docker-compose file makes them
// (it sets no GOTRUE_JWT_ISSUER). The default is URL()+"/auth/v1", as on
// hosted projects. The token option Issuer changes one token.
func WithJWTIssuer(iss string) Option {
	return func(c *config) { c.jwtIssuer = &iss }
}

// WithTokenLifetime sets the lifetime of minted access tokens (the
// project's JWT expiry). The default is DefaultTokenLifetime.
func WithTokenLifetime(d time.Duration) Option {
	return func(c *config) { c.tokenLifetime = d }
}

// New starts a Server for the test and closes it when the test ends. A bad
// option fails the test.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		algs:          []Algorithm{ES256},
		legacySecret:  DefaultLegacySecret,
		ref:           randomRef(),
		now:           time.Now,
		tokenLifetime: DefaultTokenLifetime,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.check(); err != nil {
		t.Fatalf("%v", err)
		return nil
	}

	s := &Server{
		t:        t,
		cfg:      cfg,
		closing:  make(chan struct{}),
		users:    make(map[string]*userRecord),
		sessions: make(map[string]string),
	}
	var current *signingKey
	var standby []*signingKey
	for i, alg := range cfg.algs {
		k, err := newSigningKey(alg)
		if err != nil {
			t.Fatalf("%v", err)
			return nil
		}
		if i == 0 {
			current = k
		} else {
			standby = append(standby, k)
		}
	}
	s.keys.Store(newKeyring(current, standby, nil))

	s.anonJWT = s.APIKeyJWT(RoleAnon)
	s.serviceRoleJWT = s.APIKeyJWT(RoleServiceRole)
	s.anonKey, s.serviceRoleKey = s.anonJWT, s.serviceRoleJWT
	if cfg.anonKey != "" {
		s.anonKey = cfg.anonKey
	}
	s.publishableKey = cfg.publishableKey
	if s.publishableKey == "" {
		s.publishableKey = opaqueKey(PublishableKeyPrefix)
	}
	s.secretKey = opaqueKey(SecretKeyPrefix)

	var stop func()
	switch {
	case cfg.inMemory:
		n := testkit.NewNetwork(t) // closed after the cleanup below
		s.url, s.client = n.Serve(cfg.ref+".supabase.test", s.handler()), n.Client()
		stop = func() {}
	case cfg.tls:
		srv := httptest.NewTLSServer(s.handler())
		s.url, s.client, stop = srv.URL, srv.Client(), srv.Close
	default:
		srv := httptest.NewServer(s.handler())
		s.url, s.client, stop = srv.URL, srv.Client(), srv.Close
	}
	t.Cleanup(func() {
		close(s.closing) // releases hanging and delayed requests
		stop()
	})
	return s
}

// check validates a configuration as New does.
func (c *config) check() error {
	for _, alg := range c.algs {
		if alg != ES256 && alg != RS256 {
			return fmt.Errorf("supabasetest: signing key algorithm %q: want ES256 or RS256", alg)
		}
	}
	switch {
	case len(c.legacySecret) < 32:
		return fmt.Errorf("supabasetest: legacy secret of %d characters: GoTrue wants at least 32", len(c.legacySecret))
	case c.ref == "" || strings.ContainsAny(c.ref, "./:"):
		return fmt.Errorf("supabasetest: project ref %q: want a non-empty host label", c.ref)
	case c.publishableKey != "" && !strings.HasPrefix(c.publishableKey, PublishableKeyPrefix):
		return fmt.Errorf("supabasetest: publishable key must start with %s", PublishableKeyPrefix)
	case c.inMemory && c.tls:
		return fmt.Errorf("supabasetest: WithInMemoryNetwork serves plain HTTP, not WithTLS")
	case c.asymAPIKeys && len(c.algs) == 0:
		return fmt.Errorf("supabasetest: WithAsymmetricAPIKeys needs a signing key")
	case c.now == nil:
		return fmt.Errorf("supabasetest: nil clock")
	case c.tokenLifetime <= 0:
		return fmt.Errorf("supabasetest: token lifetime %v: want > 0", c.tokenLifetime)
	}
	return nil
}

// handler routes the server's endpoints. Anything else answers 404 as
// Supabase's API gateway does.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/v1/.well-known/jwks.json", s.endpoint(EndpointJWKS, s.serveJWKS))
	mux.Handle("/auth/v1/user", s.endpoint(EndpointUser, s.serveUser))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, gatewayError{Message: "no Route matched with those values"})
	})
	return mux
}

// URL returns the project URL, the stand-in for https://<ref>.supabase.co
// (SUPABASE_URL): http://127.0.0.1:<port>, https with WithTLS, or
// http://<ref>.supabase.test with WithInMemoryNetwork.
func (s *Server) URL() string { return s.url }

// Issuer returns the iss of the project's user tokens: URL()+"/auth/v1"
// unless WithJWTIssuer says otherwise, "" when they carry none.
func (s *Server) Issuer() string {
	if s.cfg.jwtIssuer != nil {
		return *s.cfg.jwtIssuer
	}
	return s.authURL()
}

// authURL is the base URL of the Auth server, URL()+"/auth/v1".
func (s *Server) authURL() string { return s.url + "/auth/v1" }

// JWKSURL returns the URL of the project's JWKS,
// URL()+"/auth/v1/.well-known/jwks.json".
func (s *Server) JWKSURL() string { return s.authURL() + "/.well-known/jwks.json" }

// UserURL returns the URL of GoTrue's user endpoint, URL()+"/auth/v1/user".
func (s *Server) UserURL() string { return s.authURL() + "/user" }

// Ref returns the project ref.
func (s *Server) Ref() string { return s.cfg.ref }

// Client returns an HTTP client that reaches the server: over the in-memory
// network with WithInMemoryNetwork, trusting the server's certificate with
// WithTLS. Its idle connections are closed with the server.
func (s *Server) Client() *http.Client { return s.client }

// LegacySecret returns the project's legacy JWT secret, whose raw bytes key
// HS256 tokens.
func (s *Server) LegacySecret() string { return s.cfg.legacySecret }

// AnonKey returns the project's anon API key: a JWT with role anon, iss
// "supabase", ref, iat and exp, and no sub and no aud, signed with the
// legacy secret (or with the current asymmetric key under
// WithAsymmetricAPIKeys). The gateway accepts it as apikey; /user refuses it
// as a bearer token.
func (s *Server) AnonKey() string { return s.anonKey }

// ServiceRoleKey returns the project's service_role API key, shaped and
// signed as AnonKey but with role service_role.
func (s *Server) ServiceRoleKey() string { return s.serviceRoleKey }

// PublishableKey returns the project's publishable key, sb_publishable_…:
// not a JWT. The gateway accepts it as apikey in place of the anon key.
func (s *Server) PublishableKey() string { return s.publishableKey }

// SecretKey returns the project's secret key, sb_secret_…: not a JWT. The
// gateway accepts it as apikey in place of the service_role key.
func (s *Server) SecretKey() string { return s.secretKey }

// APIKeyJWT mints a JWT shaped as the anon or service_role key for role
// (any role may be given): iss "supabase", ref, role, iat, exp ten years on,
// no sub, no aud. Without options it is signed as AnonKey is; SignedWith
// chooses another key, and the other TokenOptions apply as to user tokens.
// The gateway accepts only AnonKey and ServiceRoleKey themselves as apikey.
func (s *Server) APIKeyJWT(role string, opts ...TokenOption) string {
	s.t.Helper()
	alg := HS256
	if s.cfg.asymAPIKeys {
		alg = s.keys.Load().current.alg
	}
	claims := map[string]any{"iss": "supabase", "ref": s.cfg.ref, "role": role}
	return s.mint(claims, alg, apiKeyLifetime, opts)
}

// now returns the server's time.
func (s *Server) now() time.Time { return s.cfg.now() }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomRef returns a project ref like hosted ones: 20 lowercase letters.
func randomRef() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b[:])
}

// opaqueKey returns a key like Supabase's sb_publishable_/sb_secret_ keys:
// the prefix, 22 random base64url characters, "_" and 8 more.
func opaqueKey(prefix string) string {
	var b [16 + 6]byte
	_, _ = rand.Read(b[:])
	enc := base64.RawURLEncoding.EncodeToString
	return prefix + enc(b[:16]) + "_" + enc(b[16:])
}
