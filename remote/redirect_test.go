package remote

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// redirectTo answers with a redirect to target.
func redirectTo(status int, target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target)
		w.WriteHeader(status)
	}
}

// TestRedirectsAreNotFollowed: a JWKS URL that redirects, to another host or
// anywhere, is a failed fetch: the last good set is kept, the target is
// never asked, and the log names the status and the target's host only.
func TestRedirectsAreNotFollowed(t *testing.T) {
	a, b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a")), testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
	target, targetURL := newLoopbackServer(t, serveDoc(docOf(t, b)))
	targetHost := strings.TrimPrefix(strings.TrimSuffix(targetURL, "/jwks.json"), "http://")

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			src, srcURL := newLoopbackServer(t, serveDoc(docOf(t, a)))
			logs := &testkit.LogBuffer{}
			client := &http.Client{}
			ks := newLoopbackKeySet(t, srcURL, WithHTTPClient(client), WithLogger(logs.Logger()))
			require.NoError(t, ks.Refresh(t.Context()))
			require.Equal(t, []string{"a"}, ks.KeyIDs())
			before := target.fetches()

			src.set(redirectTo(status, targetURL+"?secret=sesame"))
			err := ks.Refresh(t.Context())
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			assert.Equal(t, before, target.fetches(), "the redirect target is never asked")
			assert.Equal(t, []string{"a"}, ks.KeyIDs(), "the last good set is kept")
			_, err = ks.LookupKey(t.Context(), "a")
			assert.NoError(t, err)

			out := logs.String()
			assert.Contains(t, out, strconv.Itoa(status))
			assert.Contains(t, out, targetHost, "the log names the Location's host")
			assert.NotContains(t, out, "sesame", "but not the rest of the Location")
			assert.NotContains(t, out, "/jwks.json?", "nor its path")
			assert.Nil(t, client.CheckRedirect, "the caller's client is not changed")
		})
	}

	t.Run("first fetch", func(t *testing.T) {
		_, srcURL := newLoopbackServer(t, redirectTo(http.StatusFound, targetURL))
		before := target.fetches()
		ks := newLoopbackKeySet(t, srcURL)
		_, err := ks.LookupKey(t.Context(), "b")
		require.ErrorIs(t, err, jwks.ErrUnavailable)
		assert.Equal(t, before, target.fetches())
		assert.Empty(t, ks.KeyIDs())
	})

	t.Run("same host, other path", func(t *testing.T) {
		var moved atomic.Int32
		_, srcURL := newLoopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved.json" {
				moved.Add(1)
				serveDoc(docOf(t, a))(w, r)
				return
			}
			redirectTo(http.StatusFound, "/moved.json")(w, r)
		})
		ks := newLoopbackKeySet(t, srcURL)
		require.ErrorIs(t, ks.Refresh(t.Context()), jwks.ErrUnavailable)
		assert.Zero(t, moved.Load(), "not even a same-origin redirect is followed by default")
	})
}

// TestSameOriginRedirects: WithSameOriginRedirects follows redirects on the
// same scheme, host and port, and no others.
func TestSameOriginRedirects(t *testing.T) {
	a, b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a")), testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
	target, targetURL := newLoopbackServer(t, serveDoc(docOf(t, b)))

	src, srcURL := newLoopbackServer(t, nil)
	src.set(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved.json":
			serveDoc(docOf(t, a))(w, r)
		case "/away.json":
			redirectTo(http.StatusFound, targetURL)(w, r)
		default:
			redirectTo(http.StatusTemporaryRedirect, "/moved.json")(w, r)
		}
	})
	ks := newLoopbackKeySet(t, srcURL, WithSameOriginRedirects())
	require.NoError(t, ks.Refresh(t.Context()))
	assert.Equal(t, []string{"a"}, ks.KeyIDs())

	away := newLoopbackKeySet(t, strings.TrimSuffix(srcURL, "/jwks.json")+"/away.json", WithSameOriginRedirects())
	require.ErrorIs(t, away.Refresh(t.Context()), jwks.ErrUnavailable)
	assert.Zero(t, target.fetches(), "another port is another origin")
	assert.Empty(t, away.KeyIDs())
}

// TestRedirectPolicy checks the CheckRedirect of a KeySet's client, for the
// origins no loopback test can serve (https to http on one host and port).
func TestRedirectPolicy(t *testing.T) {
	via := func(raw ...string) []*http.Request {
		var reqs []*http.Request
		for _, u := range raw {
			reqs = append(reqs, httptest.NewRequest(http.MethodGet, u, nil))
		}
		return reqs
	}
	next := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		return &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	}
	keySet := func(opts ...Option) *KeySet {
		ctx, cancel := context.WithCancel(t.Context())
		ks, err := New(ctx, "https://jwks.example/keys", append([]Option{WithLogger(testkit.Discard)}, opts...)...)
		require.NoError(t, err)
		cancel()
		<-ks.stopped
		return ks
	}

	strict, same := keySet(), keySet(WithSameOriginRedirects())
	for _, tc := range []struct {
		from, to string
		same     bool // followed with WithSameOriginRedirects
	}{
		{"https://jwks.example/keys", "https://jwks.example/other", true},
		{"https://jwks.example/keys", "https://JWKS.example:443/other", true},
		{"http://jwks.example:80/keys", "http://jwks.example/other", true},
		{"https://jwks.example/keys", "http://jwks.example/keys", false},
		{"https://jwks.example:8443/keys", "http://jwks.example:8443/keys", false},
		{"https://jwks.example/keys", "https://jwks.example:8443/keys", false},
		{"https://jwks.example/keys", "https://evil.example/keys", false},
		{"https://jwks.example/keys", "https://sub.jwks.example/keys", false},
	} {
		assert.Error(t, strict.cfg.client.CheckRedirect(next(tc.to), via(tc.from)), "%s → %s by default", tc.from, tc.to)
		err := same.cfg.client.CheckRedirect(next(tc.to), via(tc.from))
		if tc.same {
			assert.NoError(t, err, "%s → %s", tc.from, tc.to)
		} else {
			assert.Error(t, err, "%s → %s", tc.from, tc.to)
		}
	}
	// An earlier hop counts too: the first request's origin is the one.
	assert.Error(t, same.cfg.client.CheckRedirect(next("https://jwks.example/b"), via("https://jwks.example/keys", "https://evil.example/a")))
	// Ten hops at most.
	hops := make([]string, 10)
	for i := range hops {
		hops[i] = "https://jwks.example/keys"
	}
	assert.Error(t, same.cfg.client.CheckRedirect(next("https://jwks.example/keys"), via(hops...)))
}
