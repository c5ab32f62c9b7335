package supabasetest

import (
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// expiredBy is how far in the past Expired puts exp: beyond any sane leeway.
const expiredBy = 5 * time.Minute

// A TokenOption changes a token that the server mints, to make the variants
// a verifier must accept or refuse.
type TokenOption func(*tokenConfig)

// tokenConfig is what the token options set.
type tokenConfig struct {
	alg        Algorithm     // "" for the default
	unknownKey bool          // sign with a key the project does not have
	kid        *string       // nil: the key's own; "": none
	iat        time.Time     // zero: now
	lifetime   time.Duration // zero: the default
	expired    bool
	set        map[string]any // claims to set, after the defaults
	unset      []string       // claims to remove, last
}

// SignedWith signs the token with alg: HS256 with the legacy secret and no
// kid; ES256 or RS256 with the current key if it has that algorithm, else
// with a standby or previously used key of it (the test fails if there is
// none: see WithSigningKeys). The default is the current key, or HS256 for
// a legacy project.
func SignedWith(alg Algorithm) TokenOption { return func(c *tokenConfig) { c.alg = alg } }

// SignedByUnknownKey signs the token with a fresh key that the project does
// not have: for ES256 and RS256 a key with a new kid that the JWKS never
// publishes, for HS256 another secret. Verification must fail, as for a
// token of another project or a forged one.
func SignedByUnknownKey() TokenOption { return func(c *tokenConfig) { c.unknownKey = true } }

// KeyID sets the kid header to kid, or removes it when kid is "". The
// signature is unchanged: a wrong kid makes a token verification should
// refuse.
func KeyID(kid string) TokenOption { return func(c *tokenConfig) { c.kid = &kid } }

// IssuedAt sets iat; exp follows at iat plus the lifetime.
func IssuedAt(t time.Time) TokenOption { return func(c *tokenConfig) { c.iat = t } }

// Lifetime sets exp - iat (DefaultTokenLifetime, or WithTokenLifetime, by
// default). Zero or negative makes a token that is expired when made.
func Lifetime(d time.Duration) TokenOption {
	return func(c *tokenConfig) {
		if d == 0 {
			d = -time.Second // zero means "default" inside tokenConfig
		}
		c.lifetime = d
	}
}

// Expired makes a token whose exp is five minutes in the past, with iat a
// lifetime before that. It overrides IssuedAt.
func Expired() TokenOption { return func(c *tokenConfig) { c.expired = true } }

// Issuer sets iss, for a token of another project or another deployment,
// or removes it when iss is "" (old self-hosted setups).
func Issuer(iss string) TokenOption {
	if iss == "" {
		return WithoutClaims("iss")
	}
	return Claim("iss", iss)
}

// Role sets the role claim, as a custom access-token hook can.
func Role(role string) TokenOption { return Claim("role", role) }

// OAuthClient makes a token issued to a third-party OAuth app: it adds
// client_id and scope.
func OAuthClient(clientID, scope string) TokenOption {
	return func(c *tokenConfig) {
		Claim("client_id", clientID)(c)
		Claim("scope", scope)(c)
	}
}

// Claim sets a claim to value (any JSON value), replacing the default:
// Claim("aud", []string{"a", "b"}), Claim("sub", "not-a-uuid"),
// Claim("plan", "pro").
func Claim(name string, value any) TokenOption {
	return func(c *tokenConfig) {
		if c.set == nil {
			c.set = make(map[string]any)
		}
		c.set[name] = value
	}
}

// WithoutClaims removes claims, after every other option: WithoutClaims("sub")
// makes a token with no subject, WithoutClaims("exp") one that never
// expires.
func WithoutClaims(names ...string) TokenOption {
	return func(c *tokenConfig) { c.unset = append(c.unset, names...) }
}

// accessToken mints an access token of sess: the claims of GoTrue's
// AccessTokenClaims.
func (s *Server) accessToken(sess *Session, opts []TokenOption) string {
	s.t.Helper()
	s.mu.Lock()
	u := sess.user
	if rec, ok := s.users[sess.userID]; ok {
		u = rec.user
	}
	u = u.clone()
	s.mu.Unlock()

	method := "password"
	if u.IsAnonymous {
		method = "anonymous"
	}
	appMeta, userMeta := u.AppMetadata, u.UserMetadata
	if appMeta == nil {
		appMeta = map[string]any{}
	}
	if userMeta == nil {
		userMeta = map[string]any{}
	}
	claims := map[string]any{
		"sub":           u.ID,
		"aud":           RoleAuthenticated,
		"email":         u.Email,
		"phone":         u.Phone,
		"app_metadata":  appMeta,
		"user_metadata": userMeta,
		"role":          RoleAuthenticated,
		"aal":           "aal1",
		"amr":           []any{map[string]any{"method": method, "timestamp": sess.signedInAt.Unix()}},
		"session_id":    sess.id,
		"is_anonymous":  u.IsAnonymous,
	}
	if iss := s.Issuer(); iss != "" {
		claims["iss"] = iss
	}
	alg := HS256
	if k := s.keys.Load().current; k != nil {
		alg = k.alg
	}
	return s.mint(claims, alg, s.cfg.tokenLifetime, opts)
}

// mint signs claims (to which it adds iat and exp, then applies opts) with
// the key of the chosen algorithm, defaultAlg unless SignedWith says.
func (s *Server) mint(claims map[string]any, defaultAlg Algorithm, lifetime time.Duration, opts []TokenOption) string {
	s.t.Helper()
	var c tokenConfig
	for _, opt := range opts {
		opt(&c)
	}
	if c.alg == "" {
		c.alg = defaultAlg
	}
	if c.lifetime != 0 {
		lifetime = c.lifetime
	}
	iat := s.now()
	if !c.iat.IsZero() {
		iat = c.iat
	}
	if c.expired {
		iat = s.now().Add(-expiredBy - lifetime)
	}
	claims["iat"] = iat.Unix()
	claims["exp"] = iat.Add(lifetime).Unix()
	for name, v := range c.set {
		claims[name] = v
	}
	for _, name := range c.unset {
		delete(claims, name)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		s.t.Fatalf("supabasetest: encode claims: %v", err)
		return ""
	}

	var key any
	var kid string
	switch {
	case c.alg == HS256 && c.unknownKey:
		key = []byte(rand.Text() + rand.Text()) // 52 characters, not the project's
	case c.alg == HS256:
		key = []byte(s.cfg.legacySecret)
	case c.unknownKey:
		k, err := newSigningKey(c.alg)
		if err != nil {
			s.t.Fatalf("%v", err)
			return ""
		}
		key, kid = k.signer, k.kid
	default:
		k := s.keys.Load().keyOf(c.alg)
		if k == nil {
			s.t.Fatalf("supabasetest: SignedWith(%s): the project has no %s key; add one with WithSigningKeys or AddStandbyKey", c.alg, c.alg)
			return ""
		}
		key, kid = k.signer, k.kid
	}
	if c.kid != nil {
		kid = *c.kid
	}

	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		s.t.Fatalf("supabasetest: set typ: %v", err)
		return ""
	}
	if kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			s.t.Fatalf("supabasetest: set kid: %v", err)
			return ""
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(c.alg), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		s.t.Fatalf("supabasetest: sign %s token: %v", c.alg, err)
		return ""
	}
	return string(token)
}
