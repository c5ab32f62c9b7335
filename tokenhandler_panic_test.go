package jwks_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestTokenHandlerRecoversFromAPanic: an Authenticator that panics does not
// drop the connection: the client, over a real connection, gets the usual
// 500 JSON; the log names the panic and the route, and never the
// Authorization header, even when the panic quotes it.
func TestTokenHandlerRecoversFromAPanic(t *testing.T) {
	f := newTokenFixture(t)
	const credential = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2VjcmV0LXNpZ25hdHVyZQ"
	panicky := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		var m map[string]string
		m[r.Header.Get("Authorization")] = "boom" // a nil map: panics, its message aside
		panic("unreachable: authenticator got " + r.Header.Get("Authorization"))
	})
	quoting := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		panic("authenticator got " + r.Header.Get("Authorization"))
	})

	for name, auth := range map[string]jwks.Authenticator{"runtime error": panicky, "panic quoting the header": quoting} {
		t.Run(name, func(t *testing.T) {
			logs := &testkit.LogBuffer{}
			serverLog := &testkit.LogBuffer{}
			h := newTokenHandler(t, f.signer, auth, jwks.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
			mux := http.NewServeMux()
			mux.Handle("GET /powersync-auth", h)
			srv := httptest.NewUnstartedServer(mux)
			srv.Config.ErrorLog = log.New(serverLog, "", 0)
			srv.Start()
			t.Cleanup(srv.Close)

			req, err := http.NewRequest(http.MethodGet, srv.URL+"/powersync-auth", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+credential)
			res, err := srv.Client().Do(req)
			require.NoError(t, err, "the connection is not dropped")
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)

			assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			var got struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			require.NoError(t, json.Unmarshal(body, &got), string(body))
			assert.Equal(t, "server_error", got.Error)
			assert.Equal(t, "internal error", got.Description)
			assert.NotContains(t, string(body), "panic")

			out := logs.String()
			assert.Contains(t, out, "panic")
			assert.Contains(t, out, "GET /powersync-auth", "the log names the route")
			assert.Contains(t, out, "level=ERROR")
			assert.NotContains(t, out, credential, "the Authorization header is never logged")
			assert.NotContains(t, out, credential[:20])
			assert.Empty(t, serverLog.String(), "net/http saw no panic")
		})
	}
}

// TestTokenHandlerLetsErrAbortHandlerThrough: http.ErrAbortHandler is how a
// handler asks net/http to abort the response; the token handler does not
// turn it into a 500.
func TestTokenHandlerLetsErrAbortHandlerThrough(t *testing.T) {
	f := newTokenFixture(t)
	abort := jwks.AuthenticatorFunc(func(*http.Request) (*jwks.Identity, error) { panic(http.ErrAbortHandler) })
	logs := &testkit.LogBuffer{}
	h := newTokenHandler(t, f.signer, abort, jwks.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})

	serverLog := &bytes.Buffer{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(serverLog, "", 0)
	srv.Start()
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err == nil {
		res.Body.Close()
	}
	require.Error(t, err, "the response is aborted")
	assert.Empty(t, logs.String())
}
