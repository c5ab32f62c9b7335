package jwks_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
)

// The tests in this file carry tokens both ways between this library and
// the seed's Node stack: the Signer's tokens through PowerSync's checks
// (verify-token.mjs), and the seed's tokens (sign-token.mjs) through the
// Verifier.

// seedIssuer is what the seed wrote to "iss": its SUPABASE_URL.
const seedIssuer = "https://abcdefghijklmnopqrst.supabase.co"

// serveDocument serves doc as application/json on a loopback server for the
// test's duration and returns its URL: a JWKS document that is not this
// library's.
func serveDocument(t testing.TB, doc []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json"
}

// seedJWKS returns a JWKS document holding the JWK of a seed secret
// (POWERSYNC_PUBLIC_KEY) exactly as the secret spells it.
func seedJWKS(t testing.TB, secret string) []byte {
	t.Helper()
	jwk, err := base64.StdEncoding.DecodeString(secret)
	require.NoError(t, err, "a seed secret is standard base64")
	require.True(t, json.Valid(jwk), "a seed secret is base64 of JSON")
	return append(append([]byte(`{"keys":[`), jwk...), "]}"...)
}

// withKeyID returns a seed secret holding the same key as secret under
// another kid.
func withKeyID(t testing.TB, secret, kid string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(secret)
	require.NoError(t, err)
	m := jwkMembers(t, raw)
	m["kid"] = kid
	return base64.StdEncoding.EncodeToString(toJSON(t, m))
}

// asJSON returns v as encoding/json decodes its JSON into an any: what
// the Node scripts' results hold, for comparing with them.
func asJSON(t testing.TB, v any) any {
	t.Helper()
	var out any
	require.NoError(t, json.Unmarshal(toJSON(t, v), &out))
	return out
}

func signerFor(t testing.TB, ks *jwks.KeySet, audience string, opts ...jwks.SignerOption) *jwks.Signer {
	t.Helper()
	s, err := jwks.NewSigner(ks, audience, opts...)
	require.NoError(t, err)
	return s
}

func mint(t testing.TB, s *jwks.Signer, subject string, opts ...jwks.SignOption) *jwks.Token {
	t.Helper()
	tok, err := s.Sign(t.Context(), subject, opts...)
	require.NoError(t, err)
	return tok
}

// TestSignerTokensVerifyInPowerSync has PowerSync's checks verify the
// Signer's tokens, for each algorithm, against the JWKS that
// NewJWKSHandler serves on a loopback server, and compares the claims jose
// returns with those the Signer set. Tokens PowerSync must refuse (a key the
// JWKS does not hold, another key under the JWKS's kid, an audience with a
// trailing slash, a key removed by Replace) are refused with PowerSync's
// error code, and by the Verifier too.
func TestSignerTokensVerifyInPowerSync(t *testing.T) {
	t.Parallel()
	type params struct {
		Org   string   `json:"org"`
		Teams []string `json:"teams"`
	}
	const staging = "https://staging.powersync.journeyapps.com"
	accepted := []struct {
		name     string
		subject  string
		audience string
		opts     []jwks.SignerOption
		sign     []jwks.SignOption
		aud      any            // the "aud" the token holds
		claims   map[string]any // the claims beyond "sub", "aud", "iat", "exp" and "jti"
		tokenID  bool
		lifetime time.Duration
	}{
		{
			name: "plain", subject: "user-1", audience: interopAudience,
			aud: interopAudience, lifetime: jwks.DefaultTokenLifetime,
		},
		{
			name: "issuer", subject: "user-1", audience: interopAudience,
			opts:     []jwks.SignerOption{jwks.WithIssuer("https://auth.example.com")},
			aud:      interopAudience,
			claims:   map[string]any{"iss": "https://auth.example.com"},
			lifetime: jwks.DefaultTokenLifetime,
		},
		{
			// PowerSync accepts the token on the second element.
			name: "several audiences", subject: "user-1", audience: staging,
			opts:     []jwks.SignerOption{jwks.WithExtraAudiences(interopAudience, "https://other.example")},
			aud:      []string{staging, interopAudience, "https://other.example"},
			lifetime: jwks.DefaultTokenLifetime,
		},
		{
			name: "parameters, claims and token ID", subject: "user-1", audience: interopAudience,
			opts: []jwks.SignerOption{jwks.WithTokenID(true), jwks.WithTokenLifetime(time.Hour)},
			sign: []jwks.SignOption{
				jwks.WithParameters(map[string]any{"org": "acme", "teams": []string{"a", "b"}, "admin": true}),
				jwks.WithClaim("role", "editor"),
				jwks.WithClaim("level", 3),
				jwks.WithClaim("meta", map[string]any{"plan": "pro", "seats": nil}),
			},
			aud: interopAudience,
			claims: map[string]any{
				"parameters": map[string]any{"org": "acme", "teams": []string{"a", "b"}, "admin": true},
				"role":       "editor",
				"level":      3,
				"meta":       map[string]any{"plan": "pro", "seats": nil},
			},
			tokenID:  true,
			lifetime: time.Hour,
		},
		{
			name: "parameters from a struct", subject: "user-1", audience: interopAudience,
			sign:     []jwks.SignOption{jwks.WithParameters(params{Org: "acme", Teams: []string{"x"}})},
			aud:      interopAudience,
			claims:   map[string]any{"parameters": map[string]any{"org": "acme", "teams": []string{"x"}}},
			lifetime: jwks.DefaultTokenLifetime,
		},
		{
			// exp − iat = 86400: PowerSync's limit, which it accepts.
			name: "24 hours", subject: "user-1", audience: interopAudience,
			opts:     []jwks.SignerOption{jwks.WithTokenLifetime(24 * time.Hour)},
			aud:      interopAudience,
			lifetime: 24 * time.Hour,
		},
		{
			// encoding/json escapes <, > and & and the line separator.
			name: "subject to escape", subject: "ユーザー \"1\" <&>\u2028\\", audience: interopAudience,
			aud: interopAudience, lifetime: jwks.DefaultTokenLifetime,
		},
	}

	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := testkit.NewKey(t, alg)
			ks, err := jwks.NewKeySet(key)
			require.NoError(t, err)
			url := serveJWKS(t, ks)
			verifier, err := jwks.NewVerifier(ks, interopAudience)
			require.NoError(t, err)

			signers := make([]*jwks.Signer, len(accepted))
			tokens := make([]*jwks.Token, len(accepted))
			raw := make([]string, 0, len(accepted)+3)
			for i, tc := range accepted {
				signers[i] = signerFor(t, ks, tc.audience, tc.opts...)
				tokens[i] = mint(t, signers[i], tc.subject, tc.sign...)
				raw = append(raw, tokens[i].Raw)
			}

			// testKey's cached key is not the set's, and is of the same
			// algorithm; the impostor is another key under the set's kid.
			stranger, err := jwks.NewKeySet(testkit.Key(t, alg))
			require.NoError(t, err)
			impostor, err := jwks.NewKeySet(testkit.NewKey(t, alg, jwks.WithKeyID(key.KeyID())))
			require.NoError(t, err)
			refused := []struct {
				name   string
				signer *jwks.Signer
				code   string // PowerSync's
				error  string // in jose's or PowerSync's message
				err    error  // the Verifier's
			}{
				{"key not in the JWKS", signerFor(t, stranger, interopAudience), "S2101", testkit.Key(t, alg).KeyID(), jwks.ErrUnknownKey},
				{"other key under the JWKS's kid", signerFor(t, impostor, interopAudience), "S2101", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", jwks.ErrSignature},
				{"audience with a trailing slash", signerFor(t, ks, interopAudience+"/"), "S2105", `"aud"`, jwks.ErrAudience},
			}
			for _, tc := range refused {
				raw = append(raw, mint(t, tc.signer, "user-1").Raw)
			}

			got := nodejs.VerifyTokens(t, url, []string{interopAudience}, raw...)
			for i, tc := range accepted {
				t.Run(tc.name, func(t *testing.T) {
					tok, v := tokens[i], got[i]
					require.True(t, v.OK, "PowerSync's verification: %s %s", v.Code, v.Error)
					assert.Equal(t, map[string]any{"alg": string(alg), "kid": key.KeyID(), "typ": "JWT"}, v.Header)

					assert.Equal(t, tc.lifetime, tok.ExpiresAt.Sub(tok.IssuedAt))
					assert.WithinDuration(t, time.Now(), tok.IssuedAt, time.Minute)
					want := map[string]any{
						"sub": tc.subject,
						"aud": tc.aud,
						"iat": tok.IssuedAt.Unix(),
						"exp": tok.ExpiresAt.Unix(),
					}
					if tc.tokenID {
						assert.Regexp(t, `^[A-Za-z0-9_-]{22}$`, tok.ID, "128 bits, base64url")
						want["jti"] = tok.ID
					} else {
						assert.Empty(t, tok.ID)
					}
					maps.Copy(want, tc.claims)
					assert.Equal(t, asJSON(t, want), v.Payload, "the claims jose returns are those the Signer set")

					_, err := verifier.Verify(t.Context(), tok.Raw)
					assert.NoError(t, err, "the Verifier agrees")
				})
			}
			for i, tc := range refused {
				t.Run(tc.name, func(t *testing.T) {
					v := got[len(accepted)+i]
					assert.False(t, v.OK, "PowerSync accepted it")
					assert.Equal(t, tc.code, v.Code, "PowerSync's error: %s", v.Error)
					assert.Contains(t, v.Error, tc.error)

					_, err := verifier.Verify(t.Context(), raw[len(accepted)+i])
					assert.ErrorIs(t, err, tc.err, "the Verifier agrees")
					assertProblemsAgree(t, verifier, raw[len(accepted)+i], err)
				})
			}

			// The set is replaced without the old key: PowerSync, fetching
			// the JWKS again, refuses a token the old key signed, and
			// accepts the next token of the same Signer, signed with the
			// new key.
			t.Run("after Replace", func(t *testing.T) {
				next := testkit.NewKey(t, alg)
				require.NoError(t, ks.Replace(next))
				old := tokens[0]
				fresh := mint(t, signers[0], "user-1")
				assert.Equal(t, next.KeyID(), fresh.KeyID)

				got := nodejs.VerifyTokens(t, url, []string{interopAudience}, old.Raw, fresh.Raw)
				assert.False(t, got[0].OK, "PowerSync accepted a token of a key the JWKS no longer holds")
				assert.Equal(t, "S2101", got[0].Code, "PowerSync's error: %s", got[0].Error)
				assert.Contains(t, got[0].Error, key.KeyID())
				_, err := verifier.Verify(t.Context(), old.Raw)
				assert.ErrorIs(t, err, jwks.ErrUnknownKey, "the Verifier agrees")

				require.True(t, got[1].OK, "PowerSync's verification of the new key's token: %s %s", got[1].Code, got[1].Error)
				assert.Equal(t, next.KeyID(), got[1].Header["kid"])
				_, err = verifier.Verify(t.Context(), fresh.Raw)
				assert.NoError(t, err, "the Verifier agrees")
			})
		})
	}
}

// TestSeedTokensVerifyInGo has the Verifier check tokens minted the seed's
// way (sign-token.mjs: jose's SignJWT with a POWERSYNC_PRIVATE_KEY secret),
// with the seed's public key loaded by ParseKey and fetched by a
// remote.KeySet from a JWKS of the seed's public JWK. PowerSync's checks see
// the same tokens, and the two must agree.
func TestSeedTokensVerifyInGo(t *testing.T) {
	t.Parallel()
	seed := nodejs.SeedKeygen(t)
	other := nodejs.SeedKeygen(t)
	require.NotEqual(t, seed.KeyID, other.KeyID)

	// The seed's edge function's token, then tokens it would not make or
	// that must fail, each with PowerSync's verdict: its error code, empty
	// when it accepts the token. The one-second token is still within
	// PowerSync's 60 s tolerance.
	seedToken := nodejs.SignRequest{Secret: seed.PrivateSecret, Subject: "user-1", Audience: interopAudience, Issuer: seedIssuer}
	withClaims := seedToken
	withClaims.Subject = "user-2"
	withClaims.Claims = map[string]any{"parameters": map[string]any{"org": "acme"}, "role": "editor"}
	wrongAudience := seedToken
	wrongAudience.Audience = "https://other.powersync.journeyapps.com"
	impostor := seedToken
	impostor.Secret = withKeyID(t, other.PrivateSecret, seed.KeyID)
	oneSecond := seedToken
	oneSecond.Expires = "1s"
	minted := []struct {
		name string
		req  nodejs.SignRequest
		code string
	}{
		{"seed token", seedToken, ""},
		{"parameters and claims", withClaims, ""},
		{"wrong audience", wrongAudience, "S2105"},
		{"other seed key under the kid", impostor, "S2101"},
		{"one-second token", oneSecond, ""},
	}
	reqs := make([]nodejs.SignRequest, len(minted))
	for i, m := range minted {
		reqs[i] = m.req
	}
	before := time.Now()
	raw := nodejs.SignTokens(t, reqs...)
	after := time.Now()
	seedRaw, claimsRaw, wrongAudienceRaw, impostorRaw, oneSecondRaw := raw[0], raw[1], raw[2], raw[3], raw[4]

	url := serveDocument(t, seedJWKS(t, seed.PublicSecret))
	t.Run("PowerSync", func(t *testing.T) {
		got := nodejs.VerifyTokens(t, url, []string{interopAudience}, raw...)
		for i, m := range minted {
			t.Run(m.name, func(t *testing.T) {
				if m.code == "" {
					assert.True(t, got[i].OK, "PowerSync's verification: %s %s", got[i].Code, got[i].Error)
				} else {
					assert.False(t, got[i].OK, "PowerSync accepted it")
					assert.Equal(t, m.code, got[i].Code, "PowerSync's error: %s", got[i].Error)
				}
			})
		}
	})

	pub, err := jwks.ParseKey([]byte(seed.PublicSecret))
	require.NoError(t, err)
	local, err := jwks.NewKeySet(nil, pub)
	require.NoError(t, err)
	fetched, err := remote.New(t.Context(), url, remote.WithLogger(testkit.Discard))
	require.NoError(t, err)
	require.NoError(t, fetched.Refresh(t.Context()))
	require.Equal(t, []string{seed.KeyID}, fetched.KeyIDs(), "the remote.KeySet read the seed's key")

	// checkSeedClaims checks the claims that the seed's tokens share.
	checkSeedClaims := func(t *testing.T, c *jwks.Claims, subject string, lifetime time.Duration) {
		assert.Equal(t, subject, c.Subject)
		assert.Equal(t, []string{interopAudience}, c.Audience)
		assert.Equal(t, seedIssuer, c.Issuer)
		assert.Equal(t, seed.KeyID, c.KeyID)
		assert.False(t, c.IssuedAt.Before(before.Truncate(time.Second)), "iat %v is before the token was signed (%v)", c.IssuedAt, before)
		assert.False(t, c.IssuedAt.After(after), "iat %v is after the token was signed (%v)", c.IssuedAt, after)
		assert.Equal(t, lifetime, c.ExpiresAt.Sub(c.IssuedAt))
		assert.True(t, c.NotBefore.IsZero(), "nbf")
		assert.Empty(t, c.ID, "jti")
	}
	cases := []struct {
		name  string
		token string
		clock time.Duration // the Verifier's clock, ahead of now
		err   error
		check func(t *testing.T, c *jwks.Claims)
	}{
		{name: "seed token", token: seedRaw, check: func(t *testing.T, c *jwks.Claims) {
			checkSeedClaims(t, c, "user-1", 5*time.Minute)
			assert.Nil(t, c.Parameters)
			assert.Empty(t, c.Extra())
		}},
		{name: "parameters and claims", token: claimsRaw, check: func(t *testing.T, c *jwks.Claims) {
			checkSeedClaims(t, c, "user-2", 5*time.Minute)
			assert.Equal(t, map[string]any{"org": "acme"}, c.Parameters)
			assert.Equal(t, map[string]any{"role": "editor"}, c.Extra())
		}},
		{name: "wrong audience", token: wrongAudienceRaw, err: jwks.ErrAudience},
		{name: "other seed key under the kid", token: impostorRaw, err: jwks.ErrSignature},
		{name: "one-second token within the leeway", token: oneSecondRaw, clock: 30 * time.Second, check: func(t *testing.T, c *jwks.Claims) {
			checkSeedClaims(t, c, "user-1", time.Second)
		}},
		{name: "one-second token expired", token: oneSecondRaw, clock: 70 * time.Second, err: jwks.ErrExpired},
		{name: "seed token expired", token: seedRaw, clock: 5*time.Minute + 70*time.Second, err: jwks.ErrExpired},
	}
	sources := []struct {
		name string
		keys jwks.KeySource
	}{
		{"ParseKey", local},
		{"remote.KeySet", fetched},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					v, err := jwks.NewVerifier(src.keys, interopAudience,
						jwks.WithClock(func() time.Time { return time.Now().Add(tc.clock) }))
					require.NoError(t, err)
					c, err := v.Verify(t.Context(), tc.token)
					assertProblemsAgree(t, v, tc.token, err)
					if tc.err != nil {
						assert.ErrorIs(t, err, tc.err)
						assert.Nil(t, c)
						return
					}
					require.NoError(t, err)
					tc.check(t, c)
				})
			}
		})
	}
}

// TestSeedSecretSignsForPowerSync loads a POWERSYNC_PRIVATE_KEY made by the
// seed's recipe, signs with the Signer, and has PowerSync's checks verify
// the tokens against a JWKS of the seed's POWERSYNC_PUBLIC_KEY: as the
// secret spells it, and as NewJWKSHandler serves it.
func TestSeedSecretSignsForPowerSync(t *testing.T) {
	t.Parallel()
	seed := nodejs.SeedKeygen(t)
	key, err := jwks.ParseKey([]byte(seed.PrivateSecret))
	require.NoError(t, err)
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	signer := signerFor(t, ks, interopAudience, jwks.WithIssuer(seedIssuer))
	tokens := []*jwks.Token{
		mint(t, signer, "user-1"),
		mint(t, signer, "user-2", jwks.WithParameters(map[string]any{"org": "acme"})),
	}
	want := []map[string]any{
		{"sub": "user-1", "aud": interopAudience, "iss": seedIssuer, "iat": tokens[0].IssuedAt.Unix(), "exp": tokens[0].ExpiresAt.Unix()},
		{"sub": "user-2", "aud": interopAudience, "iss": seedIssuer, "iat": tokens[1].IssuedAt.Unix(), "exp": tokens[1].ExpiresAt.Unix(), "parameters": map[string]any{"org": "acme"}},
	}
	raw := []string{tokens[0].Raw, tokens[1].Raw}

	pub, err := jwks.ParseKey([]byte(seed.PublicSecret))
	require.NoError(t, err)
	served, err := jwks.NewKeySet(nil, pub)
	require.NoError(t, err)
	documents := []struct {
		name string
		url  string
	}{
		{"public secret as is", serveDocument(t, seedJWKS(t, seed.PublicSecret))},
		{"NewJWKSHandler", serveJWKS(t, served)},
	}
	for _, doc := range documents {
		t.Run(doc.name, func(t *testing.T) {
			t.Parallel()
			got := nodejs.VerifyTokens(t, doc.url, []string{interopAudience}, raw...)
			for i, v := range got {
				require.True(t, v.OK, "token %d: PowerSync's verification: %s %s", i, v.Code, v.Error)
				assert.Equal(t, map[string]any{"alg": "RS256", "kid": seed.KeyID, "typ": "JWT"}, v.Header)
				assert.Equal(t, asJSON(t, want[i]), v.Payload, "token %d: the claims jose returns are those the Signer set", i)
			}
		})
	}
}
