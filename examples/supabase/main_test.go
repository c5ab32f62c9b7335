package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
)

const powersyncURL = "https://example.powersync.journeyapps.com"

// TestMux serves the example's routes on loopback, configured as the original
// example was against a stand-in Supabase project, and checks that a signed-in
// user's token verifies against the JWKS they serve, and that a caller who
// is not signed in is refused. The command's own server, cmd/powersync-auth,
// tests the handlers in depth; this checks the example's wiring.
func TestMux(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	key := testkit.NewKey(t, jwks.RS256) // the original example's algorithm
	secret, err := key.MarshalPrivate(jwks.FormatSecret)
	require.NoError(t, err)
	t.Setenv("POWERSYNC_PRIVATE_KEY", string(secret))
	t.Setenv("POWERSYNC_URL", powersyncURL)
	t.Setenv("SUPABASE_URL", sb.URL())
	t.Setenv("SUPABASE_ANON_KEY", sb.AnonKey())

	mux, err := newMux(t.Context())
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(bearer string) *http.Response {
		req, err := http.NewRequest("GET", srv.URL+"/powersync-auth", nil)
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	res := get(sb.Token(alice))
	require.Equal(t, http.StatusOK, res.StatusCode)
	var body struct {
		Token        string `json:"token"`
		PowerSyncURL string `json:"powersync_url"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	assert.Equal(t, powersyncURL, body.PowerSyncURL)

	keys, err := remote.New(t.Context(), srv.URL+"/.well-known/jwks.json")
	require.NoError(t, err)
	v, err := jwks.NewVerifier(keys, powersyncURL)
	require.NoError(t, err)
	claims, err := v.Verify(t.Context(), body.Token)
	require.NoError(t, err)
	assert.Equal(t, alice.ID, claims.Subject)
	assert.Equal(t, key.KeyID(), claims.KeyID)

	assert.Equal(t, http.StatusUnauthorized, get("").StatusCode)
	assert.Equal(t, http.StatusUnauthorized, get(sb.AnonKey()).StatusCode)
	// An HS256 token is checked by Supabase's /auth/v1/user, with the anon key.
	assert.Equal(t, http.StatusOK, get(sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256))).StatusCode)
	assert.Equal(t, 1, sb.UserRequests())
}
