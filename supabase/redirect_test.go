package supabase_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/supabase"
)

// recorder is a server that must never be asked: it records every request
// it gets, and answers as a happy /auth/v1/user would.
type recorder struct {
	srv *httptest.Server

	mu   sync.Mutex
	seen []http.Header // guarded by mu
}

func newRecorder(t testing.TB, userID string) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Header.Clone())
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + userID + `","aud":"authenticated","role":"authenticated"}`))
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]http.Header(nil), rec.seen...)
}

// front serves the project sb at another URL, and redirects the paths of
// moves to their targets (a target starting with / is on front itself,
// and is then proxied to sb's path of the same name without "/moved").
func front(t testing.TB, sb *supabasetest.Server, tls bool, moves map[string]string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(sb.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to, ok := moves[r.URL.Path]; ok {
			w.Header().Set("Location", to)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/moved")
		proxy.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestUserCallFollowsNoRedirect: a redirect of /auth/v1/user is never
// followed, so neither the API key nor the caller's token reaches the
// target; the caller gets a 503 (ErrUnavailable), and the caller's HTTP
// client is left as it is.
func TestUserCallFollowsNoRedirect(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	const apiKey = "sb_publishable_redirect-test-key"
	hs256 := sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256))
	es256 := sb.Token(alice)

	for _, tc := range []struct {
		name  string
		tls   bool
		same  bool // WithSameOriginRedirects
		token string
		opts  []supabase.Option
	}{
		{"strict mode", false, false, es256, []supabase.Option{supabase.WithStrict()}},
		{"HS256 without the legacy secret", false, false, hs256, nil},
		{"strict mode, same-origin redirects allowed", false, true, es256, []supabase.Option{supabase.WithStrict()}},
		{"HS256, same-origin redirects allowed", false, true, hs256, nil},
		{"https to http", true, true, es256, []supabase.Option{supabase.WithStrict()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, alice.ID)
			fr := front(t, sb, tc.tls, map[string]string{"/auth/v1/user": rec.srv.URL + "/auth/v1/user"})
			client := &http.Client{}
			if tc.tls {
				client = fr.Client()
			}
			opts := append([]supabase.Option{supabase.WithHTTPClient(client), supabase.WithLogger(testkit.Discard),
				supabase.WithIssuer(sb.Issuer()), supabase.WithAPIKey(apiKey)}, tc.opts...)
			if tc.same {
				opts = append(opts, supabase.WithSameOriginRedirects())
			}
			a, err := supabase.New(t.Context(), fr.URL, opts...)
			require.NoError(t, err)

			_, err = a.User(requestWith(tc.token))
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			assert.ErrorContains(t, err, "307")
			assert.ErrorContains(t, err, strings.TrimPrefix(rec.srv.URL, "http://"), "the error names the Location's host")
			assert.NotContains(t, err.Error(), tc.token)
			for _, h := range rec.requests() {
				assert.NotEqual(t, apiKey, h.Get("apikey"), "the API key went to the redirect target")
				assert.NotContains(t, h.Get("Authorization"), tc.token, "the caller's token went to the redirect target")
			}
			assert.Empty(t, rec.requests(), "the redirect target is never asked")
			assert.Nil(t, client.CheckRedirect, "the caller's client is not changed")
		})
	}
}

// TestSameOriginRedirects: with WithSameOriginRedirects, redirects that stay
// on the project's origin are followed, for /auth/v1/user and the JWKS.
func TestSameOriginRedirects(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	moves := map[string]string{
		"/auth/v1/user":                  "/moved/auth/v1/user",
		"/auth/v1/.well-known/jwks.json": "/moved/auth/v1/.well-known/jwks.json",
	}
	fr := front(t, sb, false, moves)
	newAuth := func(opts ...supabase.Option) *supabase.Authenticator {
		opts = append([]supabase.Option{supabase.WithLogger(testkit.Discard), supabase.WithIssuer(sb.Issuer()),
			supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey())}, opts...)
		a, err := supabase.New(t.Context(), fr.URL, opts...)
		require.NoError(t, err)
		return a
	}

	u, err := newAuth(supabase.WithSameOriginRedirects()).User(requestWith(sb.Token(alice)))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, u.ID)

	_, err = newAuth().User(requestWith(sb.Token(alice)))
	require.ErrorIs(t, err, jwks.ErrUnavailable, "by default the JWKS redirect is not followed either")
}
