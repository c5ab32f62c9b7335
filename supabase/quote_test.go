package supabase_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/supabase"
)

// TestErrorsQuoteUpstreamAndTokenText: what the caller's token or Supabase's
// answer says reaches an error quoted, escaped and bounded, never raw.
func TestErrorsQuoteUpstreamAndTokenText(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	target, err := url.Parse(sb.URL())
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	mux.HandleFunc("/auth/v1/user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error_code":"bad_jwt\r\nlevel=ERROR msg=forged \u001b[31m"}`))
	})
	fr := httptest.NewServer(mux)
	t.Cleanup(fr.Close)

	a, err := supabase.New(t.Context(), fr.URL, supabase.WithIssuer(sb.Issuer()), supabase.WithStrict(),
		supabase.WithAPIKey(sb.AnonKey()), supabase.WithLogger(testkit.Discard))
	require.NoError(t, err)
	_, err = a.User(requestWith(sb.Token(alice)))
	require.ErrorIs(t, err, jwks.ErrUnauthenticated)
	assert.Contains(t, err.Error(), `answered 401 "bad_jwt\r\nlevel=ERROR msg=forged "…`)
	assert.NotContains(t, err.Error(), "\r\n")

	local := newAuthenticator(t, sb)
	_, err = local.User(requestWith(sb.Token(alice, supabasetest.Role("admin\r\n\x1b[0m"))))
	require.ErrorIs(t, err, jwks.ErrForbidden)
	assert.Contains(t, err.Error(), `role "admin\r\n\x1b[0m" is not accepted`)
	assert.NotContains(t, err.Error(), "\x1b")
}
