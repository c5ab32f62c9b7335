package remote

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// jwksServer is a JWKS endpoint whose behaviour a test changes as it goes.
// It counts the requests it receives.
type jwksServer struct {
	requests atomic.Int32

	mu     sync.Mutex
	handle http.HandlerFunc // guarded by mu
	last   http.Header      // guarded by mu: the headers of the last request
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	h := s.handle
	s.last = r.Header.Clone()
	s.mu.Unlock()
	h(w, r)
}

func (s *jwksServer) set(h http.HandlerFunc) {
	s.mu.Lock()
	s.handle = h
	s.mu.Unlock()
}

func (s *jwksServer) fetches() int { return int(s.requests.Load()) }

func (s *jwksServer) lastHeader(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Get(name)
}

// jwksHost is the host of the in-memory JWKS server.
const jwksHost = "jwks.test"

// bubbleEnv is a JWKS server on an in-memory network, for tests inside a
// testing/synctest bubble.
type bubbleEnv struct {
	net *testkit.Network
	srv *jwksServer
	url string
}

// newBubbleEnv serves h at http://jwks.test/jwks.json on a new in-memory
// network. Call it inside the bubble.
func newBubbleEnv(t testing.TB, h http.HandlerFunc) *bubbleEnv {
	t.Helper()
	e := &bubbleEnv{net: testkit.NewNetwork(t), srv: &jwksServer{handle: h}}
	e.url = e.net.Serve(jwksHost, e.srv) + "/jwks.json"
	return e
}

// keySet makes a KeySet of the server that logs nothing (unless opts say
// otherwise) and lives as long as the test; the test fails (the bubble
// deadlocks) if its goroutine does not stop when the test's context ends.
func (e *bubbleEnv) keySet(t testing.TB, opts ...Option) *KeySet {
	t.Helper()
	opts = append([]Option{WithHTTPClient(e.net.Client()), WithLogger(testkit.Discard)}, opts...)
	ks, err := New(t.Context(), e.url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { <-ks.stopped })
	return ks
}

// newLoopbackServer serves h on loopback, for the tests of the real network
// path (outside bubbles).
func newLoopbackServer(t testing.TB, h http.HandlerFunc) (*jwksServer, string) {
	t.Helper()
	s := &jwksServer{handle: h}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs.URL + "/jwks.json"
}

// newLoopbackKeySet makes a KeySet that logs nothing and is stopped, its
// goroutine gone, when the test ends.
func newLoopbackKeySet(t testing.TB, url string, opts ...Option) *KeySet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ks, err := New(ctx, url, append([]Option{WithLogger(testkit.Discard)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		select {
		case <-ks.stopped:
		case <-time.After(10 * time.Second):
			t.Error("the refresh goroutine did not stop")
		}
	})
	return ks
}

// serveDoc answers with doc and the given header name/value pairs. When
// they include an ETag, a matching If-None-Match gets 304 Not Modified.
func serveDoc(doc []byte, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if etag := w.Header().Get("ETag"); etag != "" && r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}
}

func serveStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// serveAfter answers as h once release is closed, and not at all if the
// request ends first.
func serveAfter(release <-chan struct{}, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			h(w, r)
		case <-r.Context().Done():
		}
	}
}

// docOf returns a JWKS document of the given entries: a *jwks.Key stands
// for its public JWK; anything else is encoded as it is.
func docOf(t testing.TB, entries ...any) []byte {
	t.Helper()
	list := make([]any, len(entries))
	for i, e := range entries {
		if k, ok := e.(*jwks.Key); ok {
			list[i] = json.RawMessage(publicJWK(t, k))
		} else {
			list[i] = e
		}
	}
	doc, err := json.Marshal(map[string]any{"keys": list})
	require.NoError(t, err)
	return doc
}

func publicJWK(t testing.TB, k *jwks.Key) []byte {
	t.Helper()
	jwk, err := k.MarshalPublic(jwks.FormatJWK)
	require.NoError(t, err)
	return jwk
}

// jwkMap returns the public JWK of k as a map, to be changed by a test.
func jwkMap(t testing.TB, k *jwks.Key) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(publicJWK(t, k), &m))
	return m
}
