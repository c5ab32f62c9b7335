package supabase_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
	"github.com/powersync-jwks/jwks/supabase"
)

// The modes of an Authenticator under test.
type mode struct {
	name    string
	project []supabasetest.Option
	opts    func(sb *supabasetest.Server) []supabase.Option
	// userCalls says whether each request calls /auth/v1/user.
	userCalls bool
}

var modes = []mode{
	{"ES256 JWKS", nil, nil, false},
	{"RS256 JWKS", []supabasetest.Option{supabasetest.WithSigningKeys(supabasetest.RS256)}, nil, false},
	{"legacy secret", []supabasetest.Option{supabasetest.WithoutSigningKeys()},
		func(sb *supabasetest.Server) []supabase.Option {
			return []supabase.Option{supabase.WithLegacySecret(sb.LegacySecret())}
		}, false},
	{"legacy via /user", []supabasetest.Option{supabasetest.WithoutSigningKeys()},
		func(sb *supabasetest.Server) []supabase.Option {
			return []supabase.Option{supabase.WithAPIKey(sb.PublishableKey())}
		}, true},
	{"strict", nil,
		func(sb *supabasetest.Server) []supabase.Option {
			return []supabase.Option{supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey())}
		}, true},
}

func TestTokenMatrix(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			sb := supabasetest.New(t, mode.project...)
			other := supabasetest.New(t, mode.project...)
			var opts []supabase.Option
			if mode.opts != nil {
				opts = mode.opts(sb)
			}
			a := newAuthenticator(t, sb, opts...)
			tk := newTokens(t)
			alice := sb.NewUser(supabasetest.Email("alice@example.com"))
			anon := sb.NewAnonymousUser()
			stranger := other.NewUser()

			for _, tc := range []struct {
				name   string
				bearer string
				status int
				code   string
				want   error // what the Authenticator's error wraps
				sub    string
			}{
				{"signed-in user", sb.Token(alice), 200, "", nil, alice.ID},
				{"Supabase anonymous user", sb.Token(anon), 200, "", nil, anon.ID},
				{"no Authorization", "", 401, "invalid_request", jwks.ErrNoToken, ""},
				{"expired", sb.Token(alice, supabasetest.Expired()), 401, "invalid_token", jwks.ErrExpired, ""},
				{"other project", other.Token(stranger), 401, "invalid_token", jwks.ErrUnauthenticated, ""},
				{"other issuer", sb.Token(alice, supabasetest.Issuer("https://evil.supabase.co/auth/v1")), 401, "invalid_token", jwks.ErrIssuer, ""},
				{"no issuer", sb.Token(alice, supabasetest.Issuer("")), 401, "invalid_token", jwks.ErrIssuer, ""},
				{"unknown key", sb.Token(alice, supabasetest.SignedByUnknownKey()), 401, "invalid_token", jwks.ErrUnauthenticated, ""},
				{"no sub", sb.Token(alice, supabasetest.WithoutClaims("sub")), 401, "invalid_token", jwks.ErrMissingClaim, ""},
				{"no aud", sb.Token(alice, supabasetest.WithoutClaims("aud")), 401, "invalid_token", jwks.ErrAudience, ""},
				{"no role", sb.Token(alice, supabasetest.WithoutClaims("role")), 401, "invalid_token", jwks.ErrMissingClaim, ""},
				{"role service_role", sb.Token(alice, supabasetest.Role("service_role")), 403, "access_denied", jwks.ErrForbidden, ""},
				{"OAuth client token", sb.Token(alice, supabasetest.OAuthClient("client-1", "openid")), 403, "access_denied", jwks.ErrForbidden, ""},
				{"anon key", sb.AnonKey(), 401, "invalid_token", jwks.ErrUnauthenticated, ""},
				{"service_role key", sb.ServiceRoleKey(), 401, "invalid_token", jwks.ErrUnauthenticated, ""},
				{"publishable key", sb.PublishableKey(), 401, "invalid_token", jwks.ErrMalformed, ""},
				{"secret key", sb.SecretKey(), 401, "invalid_token", jwks.ErrMalformed, ""},
				{"PowerSync-style garbage", "a.b.c", 401, "invalid_token", jwks.ErrMalformed, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id, err := a.Authenticate(requestWith(tc.bearer))
					if tc.want == nil {
						require.NoError(t, err)
						assert.Equal(t, tc.sub, id.Subject, "the PowerSync subject is the Supabase user ID")
					} else {
						require.ErrorIs(t, err, tc.want)
						assert.Nil(t, id)
						assert.True(t, strings.HasPrefix(err.Error(), "supabase: "), err.Error())
						if tc.status == 401 {
							assert.ErrorIs(t, err, jwks.ErrUnauthenticated)
						}
					}

					rec, logs := tk.serve(t, a, tc.bearer)
					if tc.status == 200 {
						claims := tk.requireToken(t, rec)
						assert.Equal(t, tc.sub, claims.Subject)
						assert.Nil(t, claims.Parameters, "no hook, no parameters")
					} else {
						requireJSONError(t, rec, tc.status, tc.code)
					}
					if tc.bearer != "" {
						assert.NotContains(t, rec.Body.String(), tc.bearer)
						assert.NotContains(t, logs, tc.bearer, "tokens are never logged")
					}
					for _, secret := range []string{sb.LegacySecret(), sb.AnonKey(), sb.PublishableKey()} {
						assert.NotContains(t, logs, secret)
						assert.NotContains(t, rec.Body.String(), secret)
					}
				})
			}
			if mode.userCalls {
				assert.Positive(t, sb.UserRequests())
			} else {
				assert.Zero(t, sb.UserRequests(), "local verification never calls /auth/v1/user")
			}
		})
	}
}

func TestAsymmetricAPIKeys(t *testing.T) {
	// The Supabase CLI signs the anon and service_role keys with the very
	// key its JWKS publishes: a signature check alone would take them for
	// users.
	sb := supabasetest.New(t, supabasetest.WithAsymmetricAPIKeys())
	a := newAuthenticator(t, sb)
	for _, key := range []string{sb.AnonKey(), sb.ServiceRoleKey()} {
		_, err := a.Authenticate(requestWith(key))
		require.ErrorIs(t, err, jwks.ErrUnauthenticated)
		require.ErrorIs(t, err, jwks.ErrMissingClaim)
	}
	_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
	require.NoError(t, err)
}

func TestPolicies(t *testing.T) {
	sb := supabasetest.New(t)
	anon := sb.NewAnonymousUser()
	alice := sb.NewUser(supabasetest.AppMetadata(map[string]any{"org": "acme"}))
	authenticate := func(a *supabase.Authenticator, token string) error {
		_, err := a.Authenticate(requestWith(token))
		return err
	}

	t.Run("anonymous users refused", func(t *testing.T) {
		a := newAuthenticator(t, sb, supabase.WithAnonymousUsers(false))
		err := authenticate(a, sb.Token(anon))
		require.ErrorIs(t, err, jwks.ErrForbidden)
		assert.ErrorContains(t, err, "anonymous users may not sync")
		require.NoError(t, authenticate(a, sb.Token(alice)))
	})
	t.Run("other roles", func(t *testing.T) {
		a := newAuthenticator(t, sb, supabase.WithRoles("authenticated", "teacher"))
		require.NoError(t, authenticate(a, sb.Token(alice, supabasetest.Role("teacher"))))
		require.ErrorIs(t, authenticate(a, sb.Token(alice, supabasetest.Role("anon"))), jwks.ErrForbidden)
	})
	t.Run("OAuth clients", func(t *testing.T) {
		a := newAuthenticator(t, sb, supabase.WithOAuthClients("client-1"))
		require.NoError(t, authenticate(a, sb.Token(alice, supabasetest.OAuthClient("client-1", "openid"))))
		require.ErrorIs(t, authenticate(a, sb.Token(alice, supabasetest.OAuthClient("client-2", "openid"))), jwks.ErrForbidden)
		any := newAuthenticator(t, sb, supabase.WithOAuthClients("*"))
		require.NoError(t, authenticate(any, sb.Token(alice, supabasetest.OAuthClient("client-2", "openid"))))
	})
	t.Run("wrongly typed claim", func(t *testing.T) {
		a := newAuthenticator(t, sb)
		err := authenticate(a, sb.Token(alice, supabasetest.Claim("is_anonymous", "no")))
		require.ErrorIs(t, err, jwks.ErrUnauthenticated)
		require.ErrorIs(t, err, jwks.ErrMalformed)
	})
	t.Run("claims read by their exact names", func(t *testing.T) {
		a := newAuthenticator(t, sb)
		u, err := a.User(requestWith(sb.Token(alice, supabasetest.Claim("Role", "service_role"), supabasetest.Claim("EMAIL", "x@example.com"))))
		require.NoError(t, err)
		assert.Equal(t, "authenticated", u.Role)
		assert.Equal(t, alice.Email, u.Email)
	})
	t.Run("issuer", func(t *testing.T) {
		a := newAuthenticator(t, sb, supabase.WithIssuer("https://auth.example.com/auth/v1"))
		require.ErrorIs(t, authenticate(a, sb.Token(alice)), jwks.ErrIssuer)
		require.NoError(t, authenticate(a, sb.Token(alice, supabasetest.Issuer("https://auth.example.com/auth/v1"))))
		require.ErrorIs(t, authenticate(a, sb.Token(alice, supabasetest.Issuer(""))), jwks.ErrIssuer)
		anyIssuer := newAuthenticator(t, sb, supabase.WithAnyIssuer())
		require.NoError(t, authenticate(anyIssuer, sb.Token(alice, supabasetest.Issuer(""))))
		require.NoError(t, authenticate(anyIssuer, sb.Token(alice)))
	})
}

// Self-hosted Supabase as people run it: its docker-compose file sets no
// GOTRUE_JWT_ISSUER (tokens carry no iss), and the server reaches it on an
// internal URL while tokens name the public one. The default refuses both
// (401); WithIssuer accepts the named issuer, WithAnyIssuer any or none.
func TestSelfHostedIssuers(t *testing.T) {
	const public = "https://supabase.example.com/auth/v1"
	for _, tc := range []struct {
		name     string
		iss      string // the project's GOTRUE_JWT_ISSUER
		opts     []supabase.Option
		accepted bool
	}{
		{"no iss, default", "", nil, false},
		{"no iss, WithAnyIssuer", "", []supabase.Option{supabase.WithAnyIssuer()}, true},
		{"no iss, WithIssuer of the public URL", "", []supabase.Option{supabase.WithIssuer(public)}, false},
		{"public iss, default", public, nil, false},
		{"public iss, WithIssuer", public, []supabase.Option{supabase.WithIssuer(public)}, true},
		{"public iss, WithAnyIssuer", public, []supabase.Option{supabase.WithAnyIssuer()}, true},
		{"public iss, WithIssuer then WithAnyIssuer", public, []supabase.Option{supabase.WithIssuer("https://x.example"), supabase.WithAnyIssuer()}, true},
		{"public iss, WithAnyIssuer then WithIssuer", public, []supabase.Option{supabase.WithAnyIssuer(), supabase.WithIssuer("https://x.example")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithJWTIssuer(tc.iss))
			alice := sb.NewUser()
			tk := newTokens(t)
			for _, mode := range []struct {
				name string
				opts []supabase.Option
			}{
				{"local", nil},
				{"strict", []supabase.Option{supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey())}},
			} {
				t.Run(mode.name, func(t *testing.T) {
					a := newAuthenticator(t, sb, append(slices.Clone(tc.opts), mode.opts...)...)
					rec, _ := tk.serve(t, a, sb.Token(alice))
					if !tc.accepted {
						requireJSONError(t, rec, http.StatusUnauthorized, "invalid_token")
						_, err := a.Authenticate(requestWith(sb.Token(alice)))
						require.ErrorIs(t, err, jwks.ErrIssuer)
						return
					}
					claims := tk.requireToken(t, rec)
					assert.Equal(t, alice.ID, claims.Subject)

					// The other checks stay: expired tokens, the anon key,
					// another role.
					for _, bad := range []string{sb.Token(alice, supabasetest.Expired()), sb.AnonKey()} {
						rec, _ := tk.serve(t, a, bad)
						requireJSONError(t, rec, http.StatusUnauthorized, "invalid_token")
					}
					rec, _ = tk.serve(t, a, sb.Token(alice, supabasetest.Role("service_role")))
					requireJSONError(t, rec, http.StatusForbidden, "access_denied")
				})
			}
		})
	}
}

func TestIdentityHook(t *testing.T) {
	sb := supabasetest.New(t)
	anon := sb.NewAnonymousUser()
	alice := sb.NewUser(supabasetest.AppMetadata(map[string]any{"org": "acme"}))
	tk := newTokens(t)

	a := newAuthenticator(t, sb, supabase.WithIdentity(func(u *supabase.User, id *jwks.Identity) error {
		if u.Email == "banned@example.com" {
			return fmt.Errorf("on the host's block list: %w", jwks.ErrForbidden)
		}
		if u.Email == "plain@example.com" {
			return nil // leaves the maps empty
		}
		// The maps are there to be filled.
		id.Parameters["role"] = u.Role
		id.Parameters["anonymous"] = u.IsAnonymous
		id.Parameters["org"] = u.AppMetadata["org"]
		id.Claims["email"] = u.Email
		return nil
	}))
	rec, _ := tk.serve(t, a, sb.Token(alice))
	claims := tk.requireToken(t, rec)
	assert.Equal(t, map[string]any{"role": "authenticated", "anonymous": false, "org": "acme"}, claims.Parameters)
	assert.Equal(t, alice.Email, claims.Extra()["email"])

	rec, _ = tk.serve(t, a, sb.Token(anon))
	claims = tk.requireToken(t, rec)
	assert.Equal(t, true, claims.Parameters["anonymous"])

	plain := sb.NewUser(supabasetest.Email("plain@example.com"))
	id, err := a.Authenticate(requestWith(sb.Token(plain)))
	require.NoError(t, err)
	assert.Nil(t, id.Parameters, "empty maps put nothing in the token")
	assert.Nil(t, id.Claims)
	rec, _ = tk.serve(t, a, sb.Token(plain))
	claims = tk.requireToken(t, rec)
	assert.Nil(t, claims.Parameters)

	banned := sb.NewUser(supabasetest.Email("banned@example.com"))
	rec, _ = tk.serve(t, a, sb.Token(banned))
	requireJSONError(t, rec, http.StatusForbidden, "access_denied")

	t.Run("no subject left", func(t *testing.T) {
		a := newAuthenticator(t, sb, supabase.WithIdentity(func(u *supabase.User, id *jwks.Identity) error {
			id.Subject = ""
			return nil
		}))
		_, err := a.Authenticate(requestWith(sb.Token(alice)))
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "supabase: "), err.Error())
	})
}

func TestNewRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		opts []supabase.Option
		want string
	}{
		{"empty URL", "", nil, "project URL"},
		{"not http", "ftp://ref.supabase.co", nil, "http or https"},
		{"no host", "https://", nil, "no host"},
		{"credentials in URL", "https://user:pw@ref.supabase.co", nil, "credentials"},
		{"query", "https://ref.supabase.co?x=1", nil, "query"},
		{"fragment", "https://ref.supabase.co#x", nil, "fragment"},
		{"strict without API key", "https://ref.supabase.co", []supabase.Option{supabase.WithStrict()}, "API key"},
		{"short legacy secret", "https://ref.supabase.co", []supabase.Option{supabase.WithLegacySecret("short")}, "32 characters"},
		{"no roles", "https://ref.supabase.co", []supabase.Option{supabase.WithRoles()}, "no role"},
		{"API key with newline", "https://ref.supabase.co", []supabase.Option{supabase.WithAPIKey("key\n")}, "whitespace"},
		{"zero timeout", "https://ref.supabase.co", []supabase.Option{supabase.WithUserTimeout(0)}, "timeout"},
		{"nil client", "https://ref.supabase.co", []supabase.Option{supabase.WithHTTPClient(nil)}, "WithHTTPClient(nil)"},
		{"zero unverified burst", "https://ref.supabase.co", []supabase.Option{supabase.WithUnverifiedRate(time.Second, 0)}, "unverified"},
		{"bad JWKS option", "https://ref.supabase.co", []supabase.Option{supabase.WithJWKSOptions(remote.WithMaxStaleness(0))}, "staleness"},
		{"empty issuer", "https://ref.supabase.co", []supabase.Option{supabase.WithIssuer("")}, "WithAnyIssuer"},
		{"issuer with spaces", "https://ref.supabase.co", []supabase.Option{supabase.WithIssuer(" https://ref.supabase.co/auth/v1")}, "spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := supabase.New(t.Context(), tc.url, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, a)
			assert.True(t, strings.HasPrefix(err.Error(), "supabase: "), err.Error())
			assert.NotContains(t, err.Error(), "pw@", "the URL's credentials are not repeated")
		})
	}
}

func TestHS256WithoutSecretOrKey(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
	a := newAuthenticator(t, sb)
	_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
	require.ErrorIs(t, err, jwks.ErrUnauthenticated)
	require.ErrorIs(t, err, jwks.ErrSignature)
	assert.ErrorContains(t, err, "neither the legacy JWT secret nor the API key is configured")
	assert.Zero(t, sb.UserRequests())
}

func TestForgedTokens(t *testing.T) {
	t.Run("forged HS256 is refused by /user, whatever its claims", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newAuthenticator(t, sb, supabase.WithAPIKey(sb.AnonKey()))
		for _, changes := range []map[string]any{nil, {"role": "service_role"}, {"is_anonymous": true}, {"client_id": "c"}} {
			_, err := a.Authenticate(requestWith(forgeHS256(t, sb, changes)))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated)
			assert.ErrorContains(t, err, "/auth/v1/user answered 403")
		}
		assert.Equal(t, 4, sb.UserRequests())
	})
	t.Run("forged HS256 with bad claims never reaches /user", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newAuthenticator(t, sb, supabase.WithAPIKey(sb.AnonKey()))
		for _, changes := range []map[string]any{{"aud": "other"}, {"iss": "https://evil.example"}, {"exp": 1}, {"sub": ""}} {
			_, err := a.Authenticate(requestWith(forgeHS256(t, sb, changes)))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated)
		}
		assert.Zero(t, sb.UserRequests())
	})
	t.Run("forged HS256 calls to /user are rate-limited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
			a := newAuthenticator(t, sb, supabase.WithAPIKey(sb.AnonKey()), supabase.WithUnverifiedRate(time.Hour, 3))
			refused := map[error]int{}
			for range 10 {
				_, err := a.Authenticate(requestWith(forgeHS256(t, sb, nil)))
				switch {
				case errors.Is(err, jwks.ErrUnavailable):
					refused[jwks.ErrUnavailable]++
				case errors.Is(err, jwks.ErrUnauthenticated):
					refused[jwks.ErrUnauthenticated]++
				}
			}
			assert.Equal(t, map[error]int{jwks.ErrUnauthenticated: 3, jwks.ErrUnavailable: 7}, refused)
			assert.Equal(t, 3, sb.UserRequests(), "no more upstream calls than the limit")

			_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
			require.NoError(t, err, "locally verified tokens are not limited")

			time.Sleep(time.Hour)
			_, err = a.Authenticate(requestWith(forgeHS256(t, sb, nil)))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated, "one more an hour later")
			assert.Equal(t, 4, sb.UserRequests())
		})
	})
	t.Run("strict mode verifies locally before calling /user", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newAuthenticator(t, sb, supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey()))
		alice := sb.NewUser()
		for _, tok := range []string{sb.Token(alice, supabasetest.SignedByUnknownKey()), sb.Token(alice, supabasetest.Expired()), sb.AnonKey()} {
			_, err := a.Authenticate(requestWith(tok))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated)
		}
		assert.Zero(t, sb.UserRequests(), "tokens refused locally never reach Supabase")
		_, err := a.Authenticate(requestWith(sb.Token(alice)))
		require.NoError(t, err)
		assert.Equal(t, 1, sb.UserRequests())
	})
}

func TestTokensExpireByTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
		a := newAuthenticator(t, sb)
		tk := newTokens(t)
		token := sb.Token(sb.NewUser()) // lives an hour

		time.Sleep(supabasetest.DefaultTokenLifetime + jwks.DefaultLeeway - time.Second)
		_, err := a.Authenticate(requestWith(token))
		require.NoError(t, err, "within the leeway")

		time.Sleep(time.Second)
		_, err = a.Authenticate(requestWith(token))
		require.ErrorIs(t, err, jwks.ErrExpired)
		rec, _ := tk.serve(t, a, token)
		requireJSONError(t, rec, http.StatusUnauthorized, "invalid_token")
		assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "expired")
	})
}

func TestWeekLongTokens(t *testing.T) {
	week := supabasetest.New(t, supabasetest.WithTokenLifetime(7*24*time.Hour))
	_, err := newAuthenticator(t, week).Authenticate(requestWith(week.Token(week.NewUser())))
	require.NoError(t, err, "a Supabase project may issue tokens that live a week")

	longer := supabasetest.New(t, supabasetest.WithTokenLifetime(8*24*time.Hour))
	_, err = newAuthenticator(t, longer).Authenticate(requestWith(longer.Token(longer.NewUser())))
	require.ErrorIs(t, err, jwks.ErrLifetime)
}

func TestLogs(t *testing.T) {
	sb := supabasetest.New(t)
	logs := &testkit.LogBuffer{}
	a := newAuthenticator(t, sb, supabase.WithLogger(logs.Logger()), supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey()))
	token := sb.Token(sb.NewUser())
	_, err := a.Authenticate(requestWith(token))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "supabase: /auth/v1/user answered")
	assert.Contains(t, logs.String(), "remote: key set loaded", "the JWKS logs to the same logger")
	assert.NotContains(t, logs.String(), token)
	assert.NotContains(t, logs.String(), sb.AnonKey())
}
