package supabasetest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks/internal/supabasetest"
)

// parts decodes a compact JWT's header and payload without verifying it.
func parts(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	segs := strings.Split(token, ".")
	require.Len(t, segs, 3, "compact JWS")
	decode := func(seg string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		return m
	}
	return decode(segs[0]), decode(segs[1])
}

// fetchJWKS fetches and parses the server's JWKS with jwx.
func fetchJWKS(t testing.TB, sb *supabasetest.Server) jwk.Set {
	t.Helper()
	set, err := jwk.Fetch(context.Background(), sb.JWKSURL(), jwk.WithHTTPClient(sb.Client()))
	require.NoError(t, err)
	return set
}

// response is an answer of the server, its body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

// getUser calls GET /user with apikey (none if "") and token as bearer
// (no Authorization if ""), and extra headers as name, value pairs.
func getUser(t testing.TB, sb *supabasetest.Server, apikey, token string, extra ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, sb.UserURL(), nil)
	require.NoError(t, err)
	if apikey != "" {
		req.Header.Set("apikey", apikey)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := sb.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.body), "body %s", raw)
	}
	return r
}

func TestUserTokensVerifyWithJWX(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithSigningKeys(supabasetest.ES256, supabasetest.RS256))
	alice := sb.NewUser(supabasetest.Email("Alice@Example.com"), supabasetest.UserMetadata(map[string]any{"name": "Alice"}))
	set := fetchJWKS(t, sb)

	for _, alg := range []supabasetest.Algorithm{supabasetest.ES256, supabasetest.RS256, supabasetest.HS256} {
		t.Run(string(alg), func(t *testing.T) {
			sess := sb.SignIn(alice)
			token := sess.AccessToken(supabasetest.SignedWith(alg))

			keyOpt := jwt.WithKeySet(set)
			if alg == supabasetest.HS256 {
				keyOpt = jwt.WithKey(jwa.HS256, []byte(sb.LegacySecret()))
			}
			tok, err := jwt.Parse([]byte(token), keyOpt,
				jwt.WithIssuer(sb.Issuer()), jwt.WithAudience("authenticated"), jwt.WithAcceptableSkew(0))
			require.NoError(t, err)
			assert.Equal(t, alice.ID, tok.Subject())

			header, claims := parts(t, token)
			assert.Equal(t, string(alg), header["alg"])
			assert.Equal(t, "JWT", header["typ"])
			if alg == supabasetest.HS256 {
				assert.NotContains(t, header, "kid", "legacy tokens carry no kid")
			} else {
				assert.Regexp(t, `^[0-9a-f-]{36}$`, header["kid"])
			}

			assert.ElementsMatch(t, []string{
				"iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata",
				"role", "aal", "amr", "session_id", "is_anonymous",
			}, keys(claims))
			assert.Equal(t, "authenticated", claims["aud"], "aud is a string, not an array")
			assert.Equal(t, "authenticated", claims["role"])
			assert.Equal(t, "alice@example.com", claims["email"])
			assert.Equal(t, sess.ID(), claims["session_id"])
			assert.Equal(t, false, claims["is_anonymous"])
			assert.Equal(t, "aal1", claims["aal"])
			assert.Equal(t, map[string]any{"provider": "email", "providers": []any{"email"}}, claims["app_metadata"])
			assert.Equal(t, map[string]any{"name": "Alice"}, claims["user_metadata"])
			assert.EqualValues(t, 3600, claims["exp"].(float64)-claims["iat"].(float64))
		})
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTokenOptions(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sb := supabasetest.New(t, supabasetest.WithClock(func() time.Time { return now }))
	u := sb.NewUser()

	tests := []struct {
		name  string
		opts  []supabasetest.TokenOption
		check func(t *testing.T, header, claims map[string]any)
	}{{
		name: "expired",
		opts: []supabasetest.TokenOption{supabasetest.Expired()},
		check: func(t *testing.T, _, c map[string]any) {
			assert.Less(t, c["exp"].(float64), float64(now.Add(-time.Minute).Unix()))
		},
	}, {
		name: "lifetime and iat",
		opts: []supabasetest.TokenOption{supabasetest.IssuedAt(now.Add(-time.Hour)), supabasetest.Lifetime(10 * time.Minute)},
		check: func(t *testing.T, _, c map[string]any) {
			assert.EqualValues(t, now.Add(-time.Hour).Unix(), c["iat"])
			assert.EqualValues(t, now.Add(-50*time.Minute).Unix(), c["exp"])
		},
	}, {
		name: "another issuer",
		opts: []supabasetest.TokenOption{supabasetest.Issuer("https://other.supabase.co/auth/v1")},
		check: func(t *testing.T, _, c map[string]any) {
			assert.Equal(t, "https://other.supabase.co/auth/v1", c["iss"])
		},
	}, {
		name:  "no issuer",
		opts:  []supabasetest.TokenOption{supabasetest.Issuer("")},
		check: func(t *testing.T, _, c map[string]any) { assert.NotContains(t, c, "iss") },
	}, {
		name:  "role",
		opts:  []supabasetest.TokenOption{supabasetest.Role("service_role")},
		check: func(t *testing.T, _, c map[string]any) { assert.Equal(t, "service_role", c["role"]) },
	}, {
		name: "oauth client",
		opts: []supabasetest.TokenOption{supabasetest.OAuthClient("client-1", "openid email")},
		check: func(t *testing.T, _, c map[string]any) {
			assert.Equal(t, "client-1", c["client_id"])
			assert.Equal(t, "openid email", c["scope"])
		},
	}, {
		name:  "no sub",
		opts:  []supabasetest.TokenOption{supabasetest.WithoutClaims("sub")},
		check: func(t *testing.T, _, c map[string]any) { assert.NotContains(t, c, "sub") },
	}, {
		name: "custom claim",
		opts: []supabasetest.TokenOption{supabasetest.Claim("aud", []string{"a", "authenticated"})},
		check: func(t *testing.T, _, c map[string]any) {
			assert.Equal(t, []any{"a", "authenticated"}, c["aud"])
		},
	}, {
		name:  "kid removed",
		opts:  []supabasetest.TokenOption{supabasetest.KeyID("")},
		check: func(t *testing.T, h, _ map[string]any) { assert.NotContains(t, h, "kid") },
	}, {
		name: "unknown key",
		opts: []supabasetest.TokenOption{supabasetest.SignedByUnknownKey()},
		check: func(t *testing.T, h, _ map[string]any) {
			assert.NotContains(t, sb.PublishedKeyIDs(), h["kid"])
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, claims := parts(t, sb.Token(u, tt.opts...))
			tt.check(t, header, claims)
		})
	}
}

func TestAPIKeys(t *testing.T) {
	for _, asym := range []bool{false, true} {
		t.Run(fmt.Sprintf("asymmetric=%v", asym), func(t *testing.T) {
			var opts []supabasetest.Option
			if asym {
				opts = append(opts, supabasetest.WithAsymmetricAPIKeys())
			}
			sb := supabasetest.New(t, append(opts, supabasetest.WithProjectRef("abcdefghijklmnopqrst"))...)
			var keyOpt jwt.ParseOption = jwt.WithKey(jwa.HS256, []byte(sb.LegacySecret()))
			if asym {
				keyOpt = jwt.WithKeySet(fetchJWKS(t, sb))
			}
			for role, key := range map[string]string{"anon": sb.AnonKey(), "service_role": sb.ServiceRoleKey()} {
				// A signature check alone accepts the key: the point of the test matrix.
				tok, err := jwt.Parse([]byte(key), keyOpt)
				require.NoError(t, err, role)
				assert.Empty(t, tok.Subject())
				assert.Empty(t, tok.Audience())

				header, claims := parts(t, key)
				assert.ElementsMatch(t, []string{"iss", "ref", "role", "iat", "exp"}, keys(claims))
				assert.Equal(t, "supabase", claims["iss"])
				assert.Equal(t, "abcdefghijklmnopqrst", claims["ref"])
				assert.Equal(t, role, claims["role"])
				if asym {
					assert.Equal(t, "ES256", header["alg"])
					assert.Equal(t, sb.CurrentKeyID(), header["kid"])
				} else {
					assert.Equal(t, "HS256", header["alg"])
					assert.NotContains(t, header, "kid")
				}
			}
			assert.Regexp(t, `^sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$`, sb.PublishableKey())
			assert.Regexp(t, `^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$`, sb.SecretKey())
		})
	}

	t.Run("anon key signed by the asymmetric key on request", func(t *testing.T) {
		sb := supabasetest.New(t)
		key := sb.APIKeyJWT(supabasetest.RoleAnon, supabasetest.SignedWith(supabasetest.ES256))
		_, err := jwt.Parse([]byte(key), jwt.WithKeySet(fetchJWKS(t, sb)))
		require.NoError(t, err)
	})
}

func TestURLs(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithTLS())
	assert.True(t, strings.HasPrefix(sb.URL(), "https://127.0.0.1:"))
	assert.Equal(t, sb.URL()+"/auth/v1", sb.Issuer())
	assert.Equal(t, sb.URL()+"/auth/v1/.well-known/jwks.json", sb.JWKSURL())
	assert.Equal(t, sb.URL()+"/auth/v1/user", sb.UserURL())
	assert.Regexp(t, `^[a-z]{20}$`, sb.Ref())
	assert.Equal(t, supabasetest.DefaultLegacySecret, sb.LegacySecret())
	assert.Equal(t, 1, fetchJWKS(t, sb).Len())
}

func TestJWTIssuer(t *testing.T) {
	for _, tc := range []struct {
		name string
		iss  string
	}{
		{"none, as self-hosted compose", ""},
		{"the public URL", "https://supabase.example.com/auth/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithJWTIssuer(tc.iss))
			assert.Equal(t, tc.iss, sb.Issuer())
			assert.Equal(t, sb.URL()+"/auth/v1/.well-known/jwks.json", sb.JWKSURL(), "the endpoints stay on the project URL")
			alice := sb.NewUser()
			token := sb.Token(alice)
			_, claims := parts(t, token)
			if tc.iss == "" {
				assert.NotContains(t, claims, "iss")
			} else {
				assert.Equal(t, tc.iss, claims["iss"])
			}
			assert.Equal(t, 200, getUser(t, sb, sb.AnonKey(), token).status, "GoTrue does not check iss")
			_, claims = parts(t, sb.Token(alice, supabasetest.Issuer("https://other.example/auth/v1")))
			assert.Equal(t, "https://other.example/auth/v1", claims["iss"], "the token option still wins")
		})
	}
}

func TestJWKS(t *testing.T) {
	get := func(t *testing.T, sb *supabasetest.Server, method string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, sb.JWKSURL(), nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := sb.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}

	t.Run("document and headers", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithSigningKeys(supabasetest.ES256, supabasetest.RS256))
		resp, body := get(t, sb, http.MethodGet)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "public, max-age=600", resp.Header.Get("Cache-Control"))
		assert.Empty(t, resp.Header.Get("ETag"), "GoTrue sends no ETag")

		var doc struct{ Keys []map[string]any }
		require.NoError(t, json.Unmarshal(body, &doc))
		require.Len(t, doc.Keys, 2)
		for i, want := range []struct{ alg, kty string }{{"ES256", "EC"}, {"RS256", "RSA"}} {
			k := doc.Keys[i]
			assert.Equal(t, want.alg, k["alg"])
			assert.Equal(t, want.kty, k["kty"])
			assert.Equal(t, "sig", k["use"])
			assert.Equal(t, []any{"verify"}, k["key_ops"])
			assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, k["kid"])
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				assert.NotContains(t, k, private)
			}
		}
		assert.Equal(t, sb.PublishedKeyIDs(), []string{doc.Keys[0]["kid"].(string), doc.Keys[1]["kid"].(string)})
		assert.Equal(t, sb.CurrentKeyID(), doc.Keys[0]["kid"])
		assert.Equal(t, 1, sb.JWKSRequests())
	})

	t.Run("etag", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithJWKSETag())
		resp, _ := get(t, sb, http.MethodGet)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag)

		resp, body := get(t, sb, http.MethodGet, "If-None-Match", etag)
		assert.Equal(t, http.StatusNotModified, resp.StatusCode)
		assert.Empty(t, body)

		sb.RotateKeys()
		resp, _ = get(t, sb, http.MethodGet, "If-None-Match", etag)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "a rotation changes the ETag")
		assert.NotEqual(t, etag, resp.Header.Get("ETag"))
		assert.Equal(t, 3, sb.JWKSRequests())
	})

	t.Run("legacy project", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
		_, body := get(t, sb, http.MethodGet)
		assert.JSONEq(t, `{"keys":[]}`, string(body))
		assert.Empty(t, sb.CurrentKeyID())
		header, _ := parts(t, sb.Token(sb.NewUser()))
		assert.Equal(t, "HS256", header["alg"])
	})

	t.Run("method", func(t *testing.T) {
		sb := supabasetest.New(t)
		resp, _ := get(t, sb, http.MethodPost)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	})
}

func TestUserEndpoint(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithSigningKeys(supabasetest.ES256, supabasetest.RS256))
	alice := sb.NewUser(supabasetest.Email("alice@example.com"), supabasetest.Phone("15550001111"))
	ghost := sb.NewUser()
	anonymous := sb.NewAnonymousUser()
	banned := sb.NewUser()
	sb.BanUser(banned.ID, time.Hour)

	revoked := sb.SignIn(alice)
	revokedToken := revoked.AccessToken()
	sb.RevokeSession(revoked.ID())
	ghostToken := sb.Token(ghost)
	sb.DeleteUser(ghost.ID)

	apikey := sb.AnonKey()
	tests := []struct {
		name     string
		apikey   string
		token    string
		headers  []string
		status   int
		code     string // GoTrue's error_code, or "" for 200 and gateway errors
		message  string // part of msg (GoTrue) or message (gateway)
		wantUser *supabasetest.User
	}{
		{name: "ES256 token", apikey: apikey, token: sb.Token(alice), status: 200, wantUser: alice},
		{name: "RS256 token", apikey: apikey, token: sb.Token(alice, supabasetest.SignedWith(supabasetest.RS256)), status: 200, wantUser: alice},
		{name: "HS256 token", apikey: apikey, token: sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256)), status: 200, wantUser: alice},
		{name: "publishable apikey", apikey: sb.PublishableKey(), token: sb.Token(alice), status: 200, wantUser: alice},
		{name: "secret apikey", apikey: sb.SecretKey(), token: sb.Token(alice), status: 200, wantUser: alice},
		{name: "service role apikey", apikey: sb.ServiceRoleKey(), token: sb.Token(alice), status: 200, wantUser: alice},
		{name: "anonymous sign-in", apikey: apikey, token: sb.Token(anonymous), status: 200, wantUser: anonymous},
		{name: "oauth client token", apikey: apikey, token: sb.Token(alice, supabasetest.OAuthClient("c", "email")), status: 200, wantUser: alice},
		{name: "another issuer, same keys: GoTrue does not check iss", apikey: apikey,
			token: sb.Token(alice, supabasetest.Issuer("https://other.supabase.co/auth/v1")), status: 200, wantUser: alice},

		{name: "missing apikey", token: sb.Token(alice), status: 401, message: "No API key found in request"},
		{name: "wrong apikey", apikey: "nope", token: sb.Token(alice), status: 401, message: "Invalid API key"},
		{name: "missing bearer", apikey: apikey, status: 401, code: "no_authorization", message: "requires a Bearer token"},
		{name: "anon key as bearer", apikey: apikey, token: sb.AnonKey(), status: 403, code: "bad_jwt", message: "missing sub claim"},
		{name: "service role key as bearer", apikey: apikey, token: sb.ServiceRoleKey(), status: 403, code: "bad_jwt", message: "missing sub claim"},
		{name: "publishable key as bearer", apikey: sb.PublishableKey(), token: sb.PublishableKey(), status: 403, code: "bad_jwt", message: "missing sub claim"},
		{name: "expired", apikey: apikey, token: sb.Token(alice, supabasetest.Expired()), status: 403, code: "bad_jwt", message: "token is expired"},
		{name: "revoked session", apikey: apikey, token: revokedToken, status: 403, code: "session_not_found"},
		{name: "deleted user", apikey: apikey, token: ghostToken, status: 403, code: "user_not_found"},
		{name: "banned user", apikey: apikey, token: sb.Token(banned), status: 403, code: "user_banned"},
		{name: "unknown ES256 key", apikey: apikey, token: sb.Token(alice, supabasetest.SignedByUnknownKey()), status: 403, code: "bad_jwt", message: "invalid kid"},
		{name: "bad ES256 signature", apikey: apikey, token: sb.Token(alice, supabasetest.SignedByUnknownKey(), supabasetest.KeyID(sb.CurrentKeyID())),
			status: 403, code: "bad_jwt", message: "signature is invalid"},
		{name: "another project's HS256 secret", apikey: apikey,
			token:  sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256), supabasetest.SignedByUnknownKey()),
			status: 403, code: "bad_jwt", message: "signature is invalid"},
		{name: "ES256 without kid", apikey: apikey, token: sb.Token(alice, supabasetest.KeyID("")), status: 403, code: "bad_jwt", message: "missing kid"},
		{name: "malformed", apikey: apikey, token: "not-a-jwt", status: 403, code: "bad_jwt", message: "malformed"},
		{name: "sub not a UUID", apikey: apikey, token: sb.Token(alice, supabasetest.Claim("sub", "alice")), status: 400, code: "bad_jwt", message: "UUID"},
		{name: "another audience", apikey: apikey, token: sb.Token(alice, supabasetest.Claim("aud", "other")), status: 400, code: "validation_failed"},
		{name: "no sub", apikey: apikey, token: sb.Token(alice, supabasetest.WithoutClaims("sub")), status: 403, code: "bad_jwt", message: "missing sub claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := getUser(t, sb, tt.apikey, tt.token, tt.headers...)
			require.Equal(t, tt.status, r.status, "body %v", r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			switch {
			case tt.wantUser != nil:
				assert.Equal(t, tt.wantUser.ID, r.body["id"])
				assert.Equal(t, "authenticated", r.body["aud"])
				assert.Equal(t, "authenticated", r.body["role"])
				assert.Equal(t, tt.wantUser.Email, r.body["email"])
				assert.Equal(t, tt.wantUser.IsAnonymous, r.body["is_anonymous"])
				assert.Contains(t, r.body, "created_at")
				assert.Contains(t, r.body, "app_metadata")
				assert.Contains(t, r.body, "user_metadata")
			case tt.code != "":
				assert.EqualValues(t, tt.status, r.body["code"])
				assert.Equal(t, tt.code, r.body["error_code"])
				assert.Contains(t, r.body["msg"], tt.message)
				assert.Equal(t, tt.code, r.header.Get("X-Sb-Error-Code"))
			default: // the gateway's answer
				assert.Contains(t, r.body["message"], tt.message)
				assert.Contains(t, r.body, "hint")
			}
		})
	}

	t.Run("user JSON", func(t *testing.T) {
		r := getUser(t, sb, apikey, sb.Token(alice))
		require.Equal(t, 200, r.status)
		assert.Equal(t, "15550001111", r.body["phone"])
		assert.Equal(t, map[string]any{"provider": "email", "providers": []any{"email"}}, r.body["app_metadata"])
		assert.Len(t, r.body["identities"], 2)
		for _, field := range []string{"email_confirmed_at", "confirmed_at", "last_sign_in_at", "updated_at"} {
			assert.Contains(t, r.body, field)
		}

		r = getUser(t, sb, apikey, sb.Token(anonymous))
		assert.Equal(t, true, r.body["is_anonymous"])
		assert.Equal(t, "", r.body["email"])
		assert.Equal(t, map[string]any{}, r.body["app_metadata"])
		assert.Empty(t, r.body["identities"])
	})

	t.Run("API version 2024-01-01 error shape", func(t *testing.T) {
		r := getUser(t, sb, apikey, sb.Token(alice, supabasetest.Expired()), "X-Supabase-Api-Version", "2024-01-01")
		require.Equal(t, 403, r.status)
		assert.Equal(t, "bad_jwt", r.body["code"])
		assert.Contains(t, r.body["message"], "token is expired")
		assert.Equal(t, "2024-01-01", r.header.Get("X-Supabase-Api-Version"))
	})

	t.Run("ban lifted", func(t *testing.T) {
		token := sb.Token(banned)
		require.Equal(t, 403, getUser(t, sb, apikey, token).status)
		sb.UnbanUser(banned.ID)
		assert.Equal(t, 200, getUser(t, sb, apikey, token).status)
	})

	t.Run("global sign-out", func(t *testing.T) {
		bob := sb.NewUser()
		t1, t2 := sb.Token(bob), sb.Token(bob)
		sb.SignOut(bob.ID)
		assert.Equal(t, 403, getUser(t, sb, apikey, t1).status)
		assert.Equal(t, 403, getUser(t, sb, apikey, t2).status)
	})

	t.Run("method", func(t *testing.T) {
		resp, err := sb.Client().Post(sb.UserURL(), "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
}

func TestExpiryFollowsTheServerClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	sb := supabasetest.New(t, supabasetest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}))
	token := sb.Token(sb.NewUser())
	require.Equal(t, 200, getUser(t, sb, sb.AnonKey(), token).status)

	mu.Lock()
	now = now.Add(supabasetest.DefaultTokenLifetime)
	mu.Unlock()
	r := getUser(t, sb, sb.AnonKey(), token)
	assert.Equal(t, 403, r.status)
	assert.Contains(t, r.body["msg"], "token is expired")
}

func TestRotation(t *testing.T) {
	sb := supabasetest.New(t)
	u := sb.NewUser()
	first := sb.CurrentKeyID()
	oldToken := sb.Token(u)

	standby := sb.AddStandbyKey(supabasetest.RS256)
	assert.Equal(t, []string{first, standby}, sb.PublishedKeyIDs())
	assert.Equal(t, first, sb.CurrentKeyID(), "a standby key signs nothing yet")

	require.Equal(t, standby, sb.RotateKeys())
	assert.Equal(t, standby, sb.CurrentKeyID())
	assert.Equal(t, []string{standby, first}, sb.PublishedKeyIDs(), "the old key stays published")
	newToken := sb.Token(u)
	header, _ := parts(t, newToken)
	assert.Equal(t, standby, header["kid"])
	assert.Equal(t, "RS256", header["alg"])
	assert.Equal(t, 200, getUser(t, sb, sb.AnonKey(), oldToken).status, "tokens of the previous key still verify")

	set := fetchJWKS(t, sb)
	for _, token := range []string{oldToken, newToken} {
		_, err := jwt.Parse([]byte(token), jwt.WithKeySet(set))
		assert.NoError(t, err)
	}

	sb.RevokeKey(first)
	assert.Equal(t, []string{standby}, sb.PublishedKeyIDs())
	_, err := jwt.Parse([]byte(oldToken), jwt.WithKeySet(fetchJWKS(t, sb)))
	assert.Error(t, err, "a revoked key is gone from the JWKS")
	r := getUser(t, sb, sb.AnonKey(), oldToken)
	assert.Equal(t, 403, r.status)
	assert.Contains(t, r.body["msg"], "invalid kid")

	third := sb.RotateKeys()
	assert.NotEqual(t, standby, third)
	header, _ = parts(t, sb.Token(u))
	assert.Equal(t, "RS256", header["alg"], "with no standby key, rotation keeps the algorithm")
}

func TestLegacyProjectMigrates(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
	u := sb.NewUser()
	legacy := sb.Token(u)
	kid := sb.RotateKeys()
	assert.Equal(t, []string{kid}, sb.PublishedKeyIDs())
	header, _ := parts(t, sb.Token(u))
	assert.Equal(t, "ES256", header["alg"])
	assert.Equal(t, 200, getUser(t, sb, sb.AnonKey(), legacy).status, "HS256 tokens keep verifying with the secret")
}

// recorder is a testing.TB that records Fatalf instead of stopping, to test
// that misuse fails the test.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fatal = fmt.Sprintf(format, args...)
}

func (r *recorder) Helper() {}

func TestMisuseFailsTheTest(t *testing.T) {
	tests := []struct {
		name string
		opts []supabasetest.Option
		do   func(sb *supabasetest.Server)
		want string
	}{
		{name: "short secret", opts: []supabasetest.Option{supabasetest.WithLegacySecret("short")}, want: "at least 32"},
		{name: "bad algorithm", opts: []supabasetest.Option{supabasetest.WithSigningKeys("PS256")}, want: "want ES256 or RS256"},
		{name: "bad publishable key", opts: []supabasetest.Option{supabasetest.WithPublishableKey("pk_1")}, want: "sb_publishable_"},
		{name: "revoke current key", do: func(sb *supabasetest.Server) { sb.RevokeKey(sb.CurrentKeyID()) }, want: "current key"},
		{name: "revoke unknown key", do: func(sb *supabasetest.Server) { sb.RevokeKey("nope") }, want: "no such published key"},
		{name: "algorithm with no key", do: func(sb *supabasetest.Server) {
			sb.Token(sb.NewUser(), supabasetest.SignedWith(supabasetest.RS256))
		}, want: "no RS256 key"},
		{name: "duplicate user", do: func(sb *supabasetest.Server) {
			id := sb.NewUser().ID
			sb.NewUser(supabasetest.UserID(id))
		}, want: "already exists"},
		{name: "delete unknown user", do: func(sb *supabasetest.Server) { sb.DeleteUser("nope") }, want: "no such user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			sb := supabasetest.New(rec, tt.opts...)
			if tt.do != nil {
				require.NotNil(t, sb)
				require.Empty(t, rec.fatal)
				tt.do(sb)
			}
			assert.Contains(t, rec.fatal, tt.want)
		})
	}
}

func TestUsersAreCopies(t *testing.T) {
	sb := supabasetest.New(t)
	u := sb.NewUser(supabasetest.UserMetadata(map[string]any{"plan": "free"}))
	u.UserMetadata["plan"] = "pro"
	u.Email = "mallory@example.com"
	stored, ok := sb.User(u.ID)
	require.True(t, ok)
	assert.Equal(t, "free", stored.UserMetadata["plan"])
	assert.NotEqual(t, "mallory@example.com", stored.Email)

	_, ok = sb.User("00000000-0000-0000-0000-000000000001")
	assert.False(t, ok)
}

func TestFaults(t *testing.T) {
	sb := supabasetest.New(t)
	token := sb.Token(sb.NewUser())
	client := &http.Client{Timeout: 200 * time.Millisecond}

	jwks := func() (int, error) {
		resp, err := client.Get(sb.JWKSURL())
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	user := func() (int, error) {
		req, _ := http.NewRequest(http.MethodGet, sb.UserURL(), nil)
		req.Header.Set("apikey", sb.AnonKey())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	tests := []struct {
		name      string
		inject    func()
		endpoint  func() (int, error)
		status    int  // when no error
		wantError bool // a transport error or a timeout
	}{
		{name: "unavailable", inject: func() { sb.SetFailure(supabasetest.Unavailable) }, endpoint: jwks, status: 503},
		{name: "unavailable user", inject: func() { sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser) }, endpoint: user, status: 503},
		{name: "only the named endpoint fails", inject: func() { sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser) }, endpoint: jwks, status: 200},
		{name: "hang", inject: func() { sb.SetFailure(supabasetest.Hang, supabasetest.EndpointJWKS) }, endpoint: jwks, wantError: true},
		{name: "reset", inject: func() { sb.SetFailure(supabasetest.Reset) }, endpoint: user, wantError: true},
		{name: "slow", inject: func() { sb.SetDelay(time.Second, supabasetest.EndpointJWKS) }, endpoint: jwks, wantError: true},
		{name: "slow but in time", inject: func() { sb.SetDelay(20 * time.Millisecond) }, endpoint: user, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(func() { sb.Restore() })
			tt.inject()
			status, err := tt.endpoint()
			if tt.wantError {
				require.Error(t, err)
				if tt.name != "reset" {
					var timeout interface{ Timeout() bool }
					require.True(t, errors.As(err, &timeout) && timeout.Timeout(), "%v", err)
				}
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.status, status)
			}

			sb.Restore()
			status, err = tt.endpoint()
			require.NoError(t, err, "back up")
			assert.Equal(t, 200, status)
		})
	}

	t.Run("hang ends with the request context", func(t *testing.T) {
		sb.SetFailure(supabasetest.Hang)
		defer sb.Restore()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sb.JWKSURL(), nil)
		_, err := http.DefaultClient.Do(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("counters", func(t *testing.T) {
		jw, us := sb.JWKSRequests(), sb.UserRequests()
		_, _ = jwks()
		_, _ = user()
		_, _ = user()
		assert.Equal(t, jw+1, sb.JWKSRequests())
		assert.Equal(t, us+2, sb.UserRequests())
	})
}

// A test that leaves a request hanging must still end: New's cleanup
// releases it before closing the server.
func TestCleanupReleasesHangingRequests(t *testing.T) {
	done := make(chan error, 1)
	t.Run("inner", func(t *testing.T) {
		sb := supabasetest.New(t)
		sb.SetFailure(supabasetest.Hang)
		url := sb.JWKSURL()
		started := make(chan struct{})
		go func() {
			close(started)
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		<-started
		for sb.JWKSRequests() == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging request was not released when the test ended")
	}
}

func TestConcurrentUse(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithJWKSETag())
	users := make([]*supabasetest.User, 4)
	tokens := make([]string, len(users))
	for i := range users {
		users[i] = sb.NewUser()
		tokens[i] = sb.Token(users[i], supabasetest.SignedWith(supabasetest.HS256))
	}

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				r, err := http.Get(sb.JWKSURL())
				if assert.NoError(t, err) {
					r.Body.Close()
				}
				req, _ := http.NewRequest(http.MethodGet, sb.UserURL(), nil)
				req.Header.Set("apikey", sb.PublishableKey())
				req.Header.Set("Authorization", "Bearer "+tokens[(i+j)%len(tokens)])
				if r, err := http.DefaultClient.Do(req); assert.NoError(t, err) {
					assert.Equal(t, 200, r.StatusCode)
					r.Body.Close()
				}
				_ = sb.PublishedKeyIDs()
				sb.SetDelay(0)
			}
		}()
	}
	for range 5 {
		sb.RotateKeys()
		sess := sb.SignIn(users[0])
		sb.RevokeSession(sess.ID())
		sb.BanUser(users[1].ID, -time.Second) // a ban already over
	}
	wg.Wait()
	assert.Equal(t, 160, sb.JWKSRequests())
	assert.Equal(t, 160, sb.UserRequests())
}

func TestInMemoryNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
		assert.Equal(t, "http://"+sb.Ref()+".supabase.test", sb.URL())
		// Not jwk.Fetch: it starts goroutines of its own, which outlive the
		// bubble.
		resp, err := sb.Client().Get(sb.JWKSURL())
		require.NoError(t, err)
		doc, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		set, err := jwk.Parse(doc)
		require.NoError(t, err)
		assert.Equal(t, 1, set.Len())
		alice := sb.NewUser()
		token := sb.Token(alice)
		assert.Equal(t, http.StatusOK, getUser(t, sb, sb.AnonKey(), token).status)

		// The bubble's clock drives delays and expiry.
		sb.SetDelay(2*time.Second, supabasetest.EndpointUser)
		start := time.Now()
		assert.Equal(t, http.StatusOK, getUser(t, sb, sb.AnonKey(), token).status)
		assert.Equal(t, 2*time.Second, time.Since(start))
		sb.Restore()
		time.Sleep(supabasetest.DefaultTokenLifetime)
		assert.Equal(t, http.StatusForbidden, getUser(t, sb, sb.AnonKey(), token).status, "expired")

		sb.SetFailure(supabasetest.Reset, supabasetest.EndpointJWKS)
		_, err = sb.Client().Get(sb.JWKSURL())
		require.Error(t, err)

		// A request left hanging is released when the test ends.
		sb.SetFailure(supabasetest.Hang)
		go func() {
			if resp, err := sb.Client().Get(sb.JWKSURL()); err == nil {
				resp.Body.Close()
			}
		}()
		synctest.Wait()
	})
}
