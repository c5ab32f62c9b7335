package jwks_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/nodejs"
)

// The tests in this file carry the Signer's tokens through PowerSync's
// checks (verify-token.mjs).

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
			aud: interopAudience, lifetime: jwks.DefaultLifetime,
		},
		{
			name: "issuer", subject: "user-1", audience: interopAudience,
			opts:   []jwks.SignerOption{jwks.WithIssuer("https://auth.example.com")},
			aud:    interopAudience,
			claims: map[string]any{"iss": "https://auth.example.com"},
			// The default lifetime.
			lifetime: jwks.DefaultLifetime,
		},
		{
			// PowerSync accepts the token on the second element.
			name: "several audiences", subject: "user-1", audience: staging,
			opts:     []jwks.SignerOption{jwks.WithAudience(interopAudience, "https://other.example")},
			aud:      []string{staging, interopAudience, "https://other.example"},
			lifetime: jwks.DefaultLifetime,
		},
		{
			name: "parameters, claims and token ID", subject: "user-1", audience: interopAudience,
			opts: []jwks.SignerOption{jwks.WithTokenID(true), jwks.WithLifetime(time.Hour)},
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
			lifetime: jwks.DefaultLifetime,
		},
		{
			// exp − iat = 86400: PowerSync's limit, which it accepts.
			name: "24 hours", subject: "user-1", audience: interopAudience,
			opts:     []jwks.SignerOption{jwks.WithLifetime(24 * time.Hour)},
			aud:      interopAudience,
			lifetime: 24 * time.Hour,
		},
		{
			// encoding/json escapes <, > and & and the line separator.
			name: "subject to escape", subject: "ユーザー \"1\" <&>\u2028\\", audience: interopAudience,
			aud: interopAudience, lifetime: jwks.DefaultLifetime,
		},
	}

	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := newKey(t, alg)
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
			stranger, err := jwks.NewKeySet(testKey(t, alg))
			require.NoError(t, err)
			impostor, err := jwks.NewKeySet(newKey(t, alg, jwks.WithKeyID(key.KeyID())))
			require.NoError(t, err)
			refused := []struct {
				name   string
				signer *jwks.Signer
				code   string // PowerSync's
				error  string // in jose's or PowerSync's message
				err    error  // the Verifier's
			}{
				{"key not in the JWKS", signerFor(t, stranger, interopAudience), "S2101", testKey(t, alg).KeyID(), jwks.ErrUnknownKey},
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
				})
			}

			// The set is replaced without the old key: PowerSync, fetching
			// the JWKS again, refuses a token the old key signed, and
			// accepts the next token of the same Signer, signed with the
			// new key.
			t.Run("after Replace", func(t *testing.T) {
				next := newKey(t, alg)
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
