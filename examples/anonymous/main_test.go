package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
)

const powersyncURL = "https://example.powersync.journeyapps.com"

// TestMux serves the example's routes on loopback, configured as the original
// example was, and checks that a token from them verifies against the JWKS they
// serve. The command's own server, cmd/powersync-auth, tests the handlers in
// depth; this checks the example's wiring.
func TestMux(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		name := "POWERSYNC_PRIVATE_KEY set"
		if !keyed {
			name = "POWERSYNC_PRIVATE_KEY unset"
		}
		t.Run(name, func(t *testing.T) {
			key := testkit.NewKey(t, jwks.RS256) // the original example's algorithm
			secret := ""
			if keyed {
				b, err := key.MarshalPrivate(jwks.FormatSecret)
				require.NoError(t, err)
				secret = string(b)
			}
			t.Setenv("POWERSYNC_PRIVATE_KEY", secret)
			t.Setenv("POWERSYNC_URL", powersyncURL)

			mux, err := newMux()
			require.NoError(t, err)
			srv := httptest.NewServer(mux)
			defer srv.Close()

			res, err := http.Get(srv.URL + "/powersync-auth-anonymous")
			require.NoError(t, err)
			defer res.Body.Close()
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
			assert.Equal(t, "anonymous", claims.Subject)
			if keyed {
				assert.Equal(t, key.KeyID(), claims.KeyID, "signed with POWERSYNC_PRIVATE_KEY")
			}

			// Rate-limited: the burst of 10 is spent by the 11th request.
			status := 0
			for range 10 {
				r, err := http.Get(srv.URL + "/powersync-auth-anonymous")
				require.NoError(t, err)
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				status = r.StatusCode
			}
			assert.Equal(t, http.StatusTooManyRequests, status)
		})
	}
}
