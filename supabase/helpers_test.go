package supabase_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/supabase"
)

// powersyncURL is the audience of the PowerSync tokens the tests mint.
const powersyncURL = "https://test.powersync.example"

// newAuthenticator returns an authenticator for the project sb that logs
// nothing (unless opts say otherwise) and lives as long as the test.
func newAuthenticator(t testing.TB, sb *supabasetest.Server, opts ...supabase.Option) *supabase.Authenticator {
	t.Helper()
	opts = append([]supabase.Option{supabase.WithHTTPClient(sb.Client()), supabase.WithLogger(testkit.Discard)}, opts...)
	a, err := supabase.New(t.Context(), sb.URL(), opts...)
	require.NoError(t, err)
	return a
}

// requestWith returns a request carrying bearer as its Authorization, or
// no Authorization when bearer is empty.
func requestWith(bearer string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/powersync-auth", nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return r
}

// tokens is the PowerSync side of the tests: a key set, and a signer and a
// verifier of its tokens.
type tokens struct {
	signer   *jwks.Signer
	verifier *jwks.Verifier
}

func newTokens(t testing.TB) *tokens {
	t.Helper()
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, powersyncURL)
	require.NoError(t, err)
	v, err := jwks.NewVerifier(ks, powersyncURL)
	require.NoError(t, err)
	return &tokens{signer: s, verifier: v}
}

// serve asks the token handler, with a as its authenticator, for a token
// with the given bearer, and returns the response and what was logged.
func (tk *tokens) serve(t testing.TB, a jwks.Authenticator, bearer string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	logs := &testkit.LogBuffer{}
	h, err := jwks.NewTokenHandler(tk.signer, a, jwks.WithLogger(logs.Logger()))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, requestWith(bearer))
	return rec, logs.String()
}

// requireToken checks a successful token response and returns the verified
// claims of its token.
func (tk *tokens) requireToken(t testing.TB, rec *httptest.ResponseRecorder) *jwks.Claims {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var body testkit.TokenBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	claims, err := tk.verifier.Verify(context.Background(), body.Token)
	require.NoError(t, err)
	assert.Equal(t, claims.Subject, body.UserID)
	return claims
}

// requireJSONError checks that a response is a JSON error with the given
// status and error code.
func requireJSONError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	got, _ := testkit.ErrorBody(t, rec.Header(), rec.Body.Bytes())
	assert.Equal(t, code, got)
	if status == http.StatusUnauthorized {
		assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
	}
}

// forgeHS256 makes an HS256 token with the claims of a good access token of
// sb, changed by changes, and signed with a secret that is not the
// project's.
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
	b64 := base64.RawURLEncoding.EncodeToString
	header, err := json.Marshal(map[string]any{"alg": "HS256", "typ": "JWT"})
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	input := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, []byte("not-the-project-secret-not-the-project-secret"))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}
