package jwks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
)

// newSupabase returns an authenticator for the project sb, whose life ends
// with the test.
func newSupabase(t testing.TB, sb *supabasetest.Server, opts ...jwks.SupabaseOption) *jwks.SupabaseAuthenticator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts = append([]jwks.SupabaseOption{
		jwks.WithSupabaseHTTPClient(sb.Client()),
		jwks.WithSupabaseJWKSOptions(jwks.WithRemoteLogger(nil)),
	}, opts...)
	a, err := jwks.NewSupabaseAuthenticator(ctx, sb.URL(), opts...)
	require.NoError(t, err)
	return a
}

// authenticate runs a through the token handler with the given bearer, and
// returns the response and what was logged.
func authenticate(t testing.TB, a jwks.Authenticator, bearer string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	var logs syncBuffer
	h := newTokenHandler(t, newTokenFixture(t).signer, a, jwks.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	header := http.Header{}
	if bearer != "" {
		header.Set("Authorization", "Bearer "+bearer)
	}
	rec := serve(h, http.MethodGet, "/powersync-auth", header, "")
	return rec, logs.String()
}

// The Supabase modes under test.
type supabaseMode struct {
	name    string
	project []supabasetest.Option
	opts    func(sb *supabasetest.Server) []jwks.SupabaseOption
	// userCalls says whether each request calls /auth/v1/user.
	userCalls bool
}

var supabaseModes = []supabaseMode{
	{"ES256 JWKS", nil, nil, false},
	{"RS256 JWKS", []supabasetest.Option{supabasetest.WithSigningKeys(supabasetest.RS256)}, nil, false},
	{"legacy secret", []supabasetest.Option{supabasetest.WithoutSigningKeys()},
		func(sb *supabasetest.Server) []jwks.SupabaseOption {
			return []jwks.SupabaseOption{jwks.WithSupabaseLegacySecret(sb.LegacySecret())}
		}, false},
	{"legacy via /user", []supabasetest.Option{supabasetest.WithoutSigningKeys()},
		func(sb *supabasetest.Server) []jwks.SupabaseOption {
			return []jwks.SupabaseOption{jwks.WithSupabaseAPIKey(sb.PublishableKey())}
		}, true},
	{"strict", nil,
		func(sb *supabasetest.Server) []jwks.SupabaseOption {
			return []jwks.SupabaseOption{jwks.WithSupabaseStrict(), jwks.WithSupabaseAPIKey(sb.AnonKey())}
		}, true},
}

func TestSupabaseTokenMatrix(t *testing.T) {
	for _, mode := range supabaseModes {
		t.Run(mode.name, func(t *testing.T) {
			sb := supabasetest.New(t, mode.project...)
			other := supabasetest.New(t, mode.project...)
			var opts []jwks.SupabaseOption
			if mode.opts != nil {
				opts = mode.opts(sb)
			}
			a := newSupabase(t, sb, opts...)
			alice := sb.NewUser(supabasetest.Email("alice@example.com"))
			anon := sb.NewAnonymousUser()
			stranger := other.NewUser()

			for _, tc := range []struct {
				name   string
				bearer string
				status int
				code   string
				sub    string
			}{
				{"signed-in user", sb.Token(alice), 200, "", alice.ID},
				{"Supabase anonymous user", sb.Token(anon), 200, "", anon.ID},
				{"no Authorization", "", 401, "invalid_request", ""},
				{"expired", sb.Token(alice, supabasetest.Expired()), 401, "invalid_token", ""},
				{"other project", other.Token(stranger), 401, "invalid_token", ""},
				{"other issuer", sb.Token(alice, supabasetest.Issuer("https://evil.supabase.co/auth/v1")), 401, "invalid_token", ""},
				{"no issuer", sb.Token(alice, supabasetest.Issuer("")), 401, "invalid_token", ""},
				{"unknown key", sb.Token(alice, supabasetest.SignedByUnknownKey()), 401, "invalid_token", ""},
				{"no sub", sb.Token(alice, supabasetest.WithoutClaims("sub")), 401, "invalid_token", ""},
				{"no aud", sb.Token(alice, supabasetest.WithoutClaims("aud")), 401, "invalid_token", ""},
				{"no role", sb.Token(alice, supabasetest.WithoutClaims("role")), 401, "invalid_token", ""},
				{"role service_role", sb.Token(alice, supabasetest.Role("service_role")), 403, "access_denied", ""},
				{"OAuth client token", sb.Token(alice, supabasetest.OAuthClient("client-1", "openid")), 403, "access_denied", ""},
				{"anon key", sb.AnonKey(), 401, "invalid_token", ""},
				{"service_role key", sb.ServiceRoleKey(), 401, "invalid_token", ""},
				{"publishable key", sb.PublishableKey(), 401, "invalid_token", ""},
				{"secret key", sb.SecretKey(), 401, "invalid_token", ""},
				{"PowerSync-style garbage", "a.b.c", 401, "invalid_token", ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec, logs := authenticate(t, a, tc.bearer)
					if tc.status == 200 {
						body, claims := newTokenFixture(t).requireToken(t, rec)
						assert.Equal(t, tc.sub, body.UserID, "the PowerSync subject is the Supabase user ID")
						assert.Equal(t, tc.sub, claims.Subject)
					} else {
						requireJSONError(t, rec.Result(), tc.status, tc.code)
						if tc.status == 401 {
							assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
						}
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

func TestSupabaseAsymmetricAPIKeys(t *testing.T) {
	// The Supabase CLI signs the anon and service_role keys with the very key
	// its JWKS publishes: a signature check alone would take them for users.
	sb := supabasetest.New(t, supabasetest.WithAsymmetricAPIKeys())
	a := newSupabase(t, sb)
	for _, key := range []string{sb.AnonKey(), sb.ServiceRoleKey()} {
		rec, _ := authenticate(t, a, key)
		requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	}
	rec, _ := authenticate(t, a, sb.Token(sb.NewUser()))
	require.Equal(t, http.StatusOK, rec.Code)
}

func TestSupabaseStrictModeSeesRevocation(t *testing.T) {
	sb := supabasetest.New(t)
	strict := newSupabase(t, sb, jwks.WithSupabaseStrict(), jwks.WithSupabaseAPIKey(sb.PublishableKey()))
	local := newSupabase(t, sb)

	alice, bob, carol := sb.NewUser(), sb.NewUser(), sb.NewUser()
	aliceSession := sb.SignIn(alice)
	aliceToken := aliceSession.AccessToken()
	bobToken, carolToken := sb.Token(bob), sb.Token(carol)
	for _, tok := range []string{aliceToken, bobToken, carolToken} {
		rec, _ := authenticate(t, strict, tok)
		require.Equal(t, http.StatusOK, rec.Code)
	}

	sb.RevokeSession(aliceSession.ID())
	sb.DeleteUser(bob.ID)
	sb.BanUser(carol.ID, time.Hour)
	for name, tok := range map[string]string{"revoked session": aliceToken, "deleted user": bobToken, "banned user": carolToken} {
		t.Run(name, func(t *testing.T) {
			rec, logs := authenticate(t, strict, tok)
			requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
			assert.Contains(t, logs, "/auth/v1/user answered 403")
			rec, _ = authenticate(t, local, tok)
			assert.Equal(t, http.StatusOK, rec.Code, "local verification trusts the token until it expires")
		})
	}
}

func TestSupabaseUpstreamFailures(t *testing.T) {
	t.Run("JWKS down from the start", func(t *testing.T) {
		sb := supabasetest.New(t)
		sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
		a := newSupabase(t, sb)
		tok := sb.Token(sb.NewUser())
		rec, logs := authenticate(t, a, tok)
		requireJSONError(t, rec.Result(), http.StatusServiceUnavailable, "temporarily_unavailable")
		assert.Contains(t, logs, "level=WARN")

		// Requests that need no upstream get their 401 at once.
		rec, _ = authenticate(t, a, "")
		requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_request")
		rec, _ = authenticate(t, a, sb.PublishableKey())
		requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")

		sb.Restore()
		require.NoError(t, a.JWKS().Refresh(context.Background()))
		rec, _ = authenticate(t, a, tok)
		assert.Equal(t, http.StatusOK, rec.Code, "served once Supabase answers")
	})

	t.Run("JWKS down after a good fetch", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newSupabase(t, sb)
		tok := sb.Token(sb.NewUser())
		rec, _ := authenticate(t, a, tok)
		require.Equal(t, http.StatusOK, rec.Code)
		sb.SetFailure(supabasetest.Reset, supabasetest.EndpointJWKS)
		require.Error(t, a.JWKS().Refresh(context.Background()))
		rec, _ = authenticate(t, a, tok)
		assert.Equal(t, http.StatusOK, rec.Code, "the last good key set stays in use")
	})

	for _, failure := range []struct {
		name  string
		apply func(sb *supabasetest.Server)
	}{
		{"/user slow", func(sb *supabasetest.Server) { sb.SetDelay(2*time.Second, supabasetest.EndpointUser) }},
		{"/user hanging", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Hang, supabasetest.EndpointUser) }},
		{"/user 503", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser) }},
		{"/user connection reset", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Reset, supabasetest.EndpointUser) }},
	} {
		t.Run(failure.name, func(t *testing.T) {
			sb := supabasetest.New(t)
			a := newSupabase(t, sb, jwks.WithSupabaseStrict(), jwks.WithSupabaseAPIKey(sb.AnonKey()),
				jwks.WithSupabaseUserTimeout(200*time.Millisecond))
			tok := sb.Token(sb.NewUser())
			failure.apply(sb)
			start := time.Now()
			rec, logs := authenticate(t, a, tok)
			requireJSONError(t, rec.Result(), http.StatusServiceUnavailable, "temporarily_unavailable")
			assert.Less(t, time.Since(start), 1500*time.Millisecond, "the timeout bounds the wait")
			assert.NotContains(t, logs, tok)
			assert.NotContains(t, logs, sb.AnonKey())
		})
	}
}

func TestSupabaseKeyRotation(t *testing.T) {
	sb := supabasetest.New(t)
	a := newSupabase(t, sb)
	alice := sb.NewUser()
	old := sb.Token(alice)
	rec, _ := authenticate(t, a, old)
	require.Equal(t, http.StatusOK, rec.Code)
	fetches := sb.JWKSRequests()

	oldKID := sb.CurrentKeyID()
	sb.RotateKeys()
	fresh := sb.Token(alice)
	rec, _ = authenticate(t, a, fresh)
	assert.Equal(t, http.StatusOK, rec.Code, "an unknown kid makes the key set refresh")
	assert.Equal(t, fetches+1, sb.JWKSRequests())

	sb.RevokeKey(oldKID)
	require.NoError(t, a.JWKS().Refresh(context.Background()))
	rec, _ = authenticate(t, a, old)
	requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
}

func TestSupabasePolicies(t *testing.T) {
	sb := supabasetest.New(t)
	anon := sb.NewAnonymousUser()
	alice := sb.NewUser(supabasetest.AppMetadata(map[string]any{"org": "acme"}))

	t.Run("anonymous users refused", func(t *testing.T) {
		a := newSupabase(t, sb, jwks.WithSupabaseAnonymousUsers(false))
		rec, logs := authenticate(t, a, sb.Token(anon))
		requireJSONError(t, rec.Result(), http.StatusForbidden, "access_denied")
		assert.Contains(t, logs, "anonymous Supabase users may not sync")
		rec, _ = authenticate(t, a, sb.Token(alice))
		assert.Equal(t, http.StatusOK, rec.Code)
	})
	t.Run("other roles", func(t *testing.T) {
		a := newSupabase(t, sb, jwks.WithSupabaseRoles("authenticated", "teacher"))
		rec, _ := authenticate(t, a, sb.Token(alice, supabasetest.Role("teacher")))
		assert.Equal(t, http.StatusOK, rec.Code)
		rec, _ = authenticate(t, a, sb.Token(alice, supabasetest.Role("anon")))
		requireJSONError(t, rec.Result(), http.StatusForbidden, "access_denied")
	})
	t.Run("OAuth clients", func(t *testing.T) {
		a := newSupabase(t, sb, jwks.WithSupabaseOAuthClients("client-1"))
		rec, _ := authenticate(t, a, sb.Token(alice, supabasetest.OAuthClient("client-1", "openid")))
		assert.Equal(t, http.StatusOK, rec.Code)
		rec, _ = authenticate(t, a, sb.Token(alice, supabasetest.OAuthClient("client-2", "openid")))
		requireJSONError(t, rec.Result(), http.StatusForbidden, "access_denied")
	})
	t.Run("wrongly typed claim", func(t *testing.T) {
		a := newSupabase(t, sb)
		rec, _ := authenticate(t, a, sb.Token(alice, supabasetest.Claim("is_anonymous", "no")))
		requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("identity hook", func(t *testing.T) {
		a := newSupabase(t, sb, jwks.WithSupabaseIdentity(func(u *jwks.SupabaseUser, id *jwks.Identity) error {
			if u.Email == "banned@example.com" {
				return fmt.Errorf("%w: on the host's block list", jwks.ErrForbidden)
			}
			id.Parameters = map[string]any{"role": u.Role, "anonymous": u.IsAnonymous, "org": u.AppMetadata["org"]}
			id.Claims = map[string]any{"email": u.Email}
			return nil
		}))
		rec, _ := authenticate(t, a, sb.Token(alice))
		_, claims := newTokenFixture(t).requireToken(t, rec)
		assert.Equal(t, map[string]any{"role": "authenticated", "anonymous": false, "org": "acme"}, claims.Parameters)
		assert.Equal(t, alice.Email, claims.Extra()["email"])

		rec, _ = authenticate(t, a, sb.Token(anon))
		_, claims = newTokenFixture(t).requireToken(t, rec)
		assert.Equal(t, true, claims.Parameters["anonymous"])

		banned := sb.NewUser(supabasetest.Email("banned@example.com"))
		rec, _ = authenticate(t, a, sb.Token(banned))
		requireJSONError(t, rec.Result(), http.StatusForbidden, "access_denied")
	})
}

func TestSupabaseUser(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser(supabasetest.Email("alice@example.com"), supabasetest.Phone("15550100"))
	for _, mode := range []struct {
		name string
		opts []jwks.SupabaseOption
	}{
		{"local", nil},
		{"strict", []jwks.SupabaseOption{jwks.WithSupabaseStrict(), jwks.WithSupabaseAPIKey(sb.AnonKey())}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			a := newSupabase(t, sb, mode.opts...)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+sb.Token(alice))
			u, err := a.User(req)
			require.NoError(t, err)
			assert.Equal(t, alice.ID, u.ID)
			assert.Equal(t, "authenticated", u.Role)
			assert.Equal(t, "alice@example.com", u.Email)
			assert.Equal(t, "15550100", u.Phone)
			assert.False(t, u.IsAnonymous)
			assert.NotEmpty(t, u.SessionID)
			assert.Equal(t, "aal1", u.AAL)
			assert.Equal(t, "email", u.AppMetadata["provider"])
			assert.Equal(t, alice.ID, u.Claims.Subject)
		})
	}
}

func TestNewSupabaseAuthenticatorRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		url  string
		opts []jwks.SupabaseOption
		want string
	}{
		{"empty URL", "", nil, "project URL"},
		{"not http", "ftp://ref.supabase.co", nil, "http or https"},
		{"credentials in URL", "https://user:pw@ref.supabase.co", nil, "credentials"},
		{"query", "https://ref.supabase.co?x=1", nil, "query"},
		{"strict without API key", "https://ref.supabase.co", []jwks.SupabaseOption{jwks.WithSupabaseStrict()}, "API key"},
		{"short legacy secret", "https://ref.supabase.co", []jwks.SupabaseOption{jwks.WithSupabaseLegacySecret("short")}, "32 characters"},
		{"no roles", "https://ref.supabase.co", []jwks.SupabaseOption{jwks.WithSupabaseRoles()}, "no role"},
		{"API key with newline", "https://ref.supabase.co", []jwks.SupabaseOption{jwks.WithSupabaseAPIKey("key\n")}, "whitespace"},
		{"zero timeout", "https://ref.supabase.co", []jwks.SupabaseOption{jwks.WithSupabaseUserTimeout(0)}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := jwks.NewSupabaseAuthenticator(ctx, tc.url, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, a)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			assert.NotContains(t, err.Error(), "pw@", "the URL's credentials are not repeated")
		})
	}
}

func TestSupabaseHS256WithoutSecretOrKey(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
	a := newSupabase(t, sb)
	rec, logs := authenticate(t, a, sb.Token(sb.NewUser()))
	requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	assert.Contains(t, logs, "neither the legacy JWT secret nor the API key is configured")
	assert.Zero(t, sb.UserRequests())
}

// forgeHS256 makes an HS256 token with the claims of a good access token of
// sb, signed with a secret that is not the project's.
func forgeHS256(t testing.TB, sb *supabasetest.Server, changes map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	claims := map[string]any{
		"iss": sb.Issuer(), "sub": "9a1c1d3e-8b9f-4f5e-a1b2-c3d4e5f60718", "aud": "authenticated",
		"role": "authenticated", "iat": now, "exp": now + 3600, "session_id": "s",
	}
	for k, v := range changes {
		claims[k] = v
	}
	input := b64(toJSON(t, map[string]any{"alg": "HS256", "typ": "JWT"})) + "." + b64(toJSON(t, claims))
	mac := hmac.New(sha256.New, []byte("not-the-project-secret-not-the-project-secret"))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

func TestSupabaseForgedTokens(t *testing.T) {
	t.Run("forged HS256 is refused by /user, as 401 whatever its claims", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newSupabase(t, sb, jwks.WithSupabaseAPIKey(sb.AnonKey()))
		for _, changes := range []map[string]any{nil, {"role": "service_role"}, {"is_anonymous": true}, {"client_id": "c"}} {
			rec, _ := authenticate(t, a, forgeHS256(t, sb, changes))
			requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
		}
		assert.Equal(t, 4, sb.UserRequests())
	})
	t.Run("forged HS256 calls to /user are rate-limited", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newSupabase(t, sb, jwks.WithSupabaseAPIKey(sb.AnonKey()), jwks.WithSupabaseUnverifiedRate(time.Hour, 3))
		statuses := map[int]int{}
		for range 10 {
			rec, _ := authenticate(t, a, forgeHS256(t, sb, nil))
			statuses[rec.Code]++
		}
		assert.Equal(t, map[int]int{401: 3, 503: 7}, statuses)
		assert.Equal(t, 3, sb.UserRequests(), "no more upstream calls than the limit")

		rec, _ := authenticate(t, a, sb.Token(sb.NewUser()))
		assert.Equal(t, http.StatusOK, rec.Code, "locally verified tokens are not limited")
	})
	t.Run("strict mode verifies locally before calling /user", func(t *testing.T) {
		sb := supabasetest.New(t)
		a := newSupabase(t, sb, jwks.WithSupabaseStrict(), jwks.WithSupabaseAPIKey(sb.AnonKey()))
		alice := sb.NewUser()
		for _, tok := range []string{sb.Token(alice, supabasetest.SignedByUnknownKey()), sb.Token(alice, supabasetest.Expired()), sb.AnonKey()} {
			rec, _ := authenticate(t, a, tok)
			requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
		}
		assert.Zero(t, sb.UserRequests(), "tokens refused locally never reach Supabase")
		rec, _ := authenticate(t, a, sb.Token(alice))
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, 1, sb.UserRequests())
	})
}

func TestSupabaseClock(t *testing.T) {
	sb := supabasetest.New(t)
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	a := newSupabase(t, sb, jwks.WithSupabaseClock(later))
	rec, _ := authenticate(t, a, sb.Token(sb.NewUser()))
	requireJSONError(t, rec.Result(), http.StatusUnauthorized, "invalid_token")
	assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "expired")
}
