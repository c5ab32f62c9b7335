package jwks

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksServer is a JWKS endpoint on loopback whose behaviour a test changes
// as it goes. It counts the requests it receives.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int32

	mu     sync.Mutex
	handle http.HandlerFunc // guarded by mu
	last   http.Header      // guarded by mu: the headers of the last request
}

func newJWKSServer(t testing.TB, h http.HandlerFunc) *jwksServer {
	t.Helper()
	s := &jwksServer{handle: h}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
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

// docOf returns a JWKS document of the given entries: a *Key stands for its
// public JWK; anything else is encoded as it is.
func docOf(t testing.TB, entries ...any) []byte {
	t.Helper()
	list := make([]any, len(entries))
	for i, e := range entries {
		if k, ok := e.(*Key); ok {
			list[i] = json.RawMessage(publicJWK(t, k))
		} else {
			list[i] = e
		}
	}
	doc, err := json.Marshal(map[string]any{"keys": list})
	require.NoError(t, err)
	return doc
}

func publicJWK(t testing.TB, k *Key) []byte {
	t.Helper()
	jwk, err := k.MarshalPublic(FormatJWK)
	require.NoError(t, err)
	return jwk
}

// jwkMap returns the public JWK of k as a map, to be changed by a test.
func jwkMap(t testing.TB, k *Key) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(publicJWK(t, k), &m))
	return m
}

func testKey(t testing.TB, alg Algorithm, kid string) *Key {
	t.Helper()
	k, err := GenerateKey(alg, WithKeyID(kid))
	require.NoError(t, err)
	return k
}

var discardLogger = slog.New(slog.DiscardHandler)

// newTestRemote makes a RemoteKeySet that logs nothing (unless opts say
// otherwise) and is stopped, its goroutine gone, when the test ends.
func newTestRemote(t testing.TB, url string, opts ...RemoteOption) *RemoteKeySet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := NewRemoteKeySet(ctx, url, append([]RemoteOption{WithRemoteLogger(discardLogger)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		select {
		case <-rs.stopped:
		case <-time.After(10 * time.Second):
			t.Error("the refresh goroutine did not stop")
		}
	})
	return rs
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// countingTransport counts the requests the client sends, as they are sent.
type countingTransport struct {
	n atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestNewRemoteKeySetRefusesBadConfiguration(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	const good = "https://example.test/.well-known/jwks.json"
	tests := []struct {
		name string
		ctx  context.Context
		url  string
		opts []RemoteOption
	}{
		{"nil context", nil, good, nil},
		{"context done", done, good, nil},
		{"ftp URL", ctx, "ftp://example.test/jwks.json", nil},
		{"file URL", ctx, "file:///etc/jwks.json", nil},
		{"relative URL", ctx, "/.well-known/jwks.json", nil},
		{"no host", ctx, "https:///jwks.json", nil},
		{"credentials", ctx, "https://user:secret@example.test/jwks.json", nil},
		{"unparsable", ctx, "https://example.test/%zz", nil},
		{"nil client", ctx, good, []RemoteOption{WithRemoteHTTPClient(nil)}},
		{"zero timeout", ctx, good, []RemoteOption{WithFetchTimeout(0)}},
		{"zero size", ctx, good, []RemoteOption{WithMaxDocumentSize(0)}},
		{"zero interval", ctx, good, []RemoteOption{WithRefreshInterval(0)}},
		{"zero min max-age", ctx, good, []RemoteOption{WithMaxAgeBounds(0, time.Minute)}},
		{"min over max", ctx, good, []RemoteOption{WithMaxAgeBounds(time.Hour, time.Minute)}},
		{"zero staleness", ctx, good, []RemoteOption{WithMaxStaleness(0)}},
		{"zero refetch interval", ctx, good, []RemoteOption{WithUnknownKeyRefetch(0, 1)}},
		{"negative burst", ctx, good, []RemoteOption{WithUnknownKeyRefetch(time.Minute, -1)}},
		{"nil clock", ctx, good, []RemoteOption{WithRemoteClock(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := NewRemoteKeySet(tc.ctx, tc.url, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, rs)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "), err.Error())
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestRemoteKeySetLookup(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, EdDSA, "b")
	srv := newJWKSServer(t, serveDoc(docOf(t, a, b)))
	rs := newTestRemote(t, srv.URL)
	ctx := context.Background()

	k, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)
	assert.True(t, k.Equal(a))
	assert.False(t, k.CanSign())
	assert.Equal(t, "application/json", srv.lastHeader("Accept"))

	k, err = rs.LookupKey(ctx, "b")
	require.NoError(t, err)
	assert.True(t, k.Equal(b))
	assert.Equal(t, 1, srv.fetches(), "known keys are served from memory")
	assert.Equal(t, []string{"a", "b"}, rs.KeyIDs())
	assert.False(t, rs.LastFetch().IsZero())

	_, err = rs.LookupKey(ctx, "c")
	require.ErrorIs(t, err, ErrUnknownKey)
	assert.NotErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, 2, srv.fetches(), "an unknown kid refetches once")

	for _, kid := range []string{"", strings.Repeat("x", 300), "a\x00"} {
		_, err = rs.LookupKey(ctx, kid)
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, 2, srv.fetches(), "a key ID that cannot exist is not fetched for")
}

func TestRemoteKeySetStartsWhileServerDown(t *testing.T) {
	a := testKey(t, ES256, "a")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	rs := newTestRemote(t, "http://"+addr+"/jwks.json")
	_, err = rs.LookupKey(context.Background(), "a")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Empty(t, rs.KeyIDs())
	assert.True(t, rs.LastFetch().IsZero())

	// The server comes up on the same address.
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(serveDoc(docOf(t, a)))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	require.Eventually(t, func() bool {
		k, err := rs.LookupKey(context.Background(), "a")
		return err == nil && k.Equal(a)
	}, 10*time.Second, 10*time.Millisecond)
}

func TestRemoteKeySetSingleFlight(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, ES256, "b")
	srv := newJWKSServer(t, serveDoc(docOf(t, a)))
	// A generous rate limit, so that only single flight keeps the fetches
	// down to one.
	rs := newTestRemote(t, srv.URL, WithUnknownKeyRefetch(time.Millisecond, 1000))
	ctx := context.Background()
	_, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 1, srv.fetches())

	release := make(chan struct{})
	both := serveDoc(docOf(t, a, b))
	srv.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		both(w, r)
	})

	const n = 50
	var started sync.WaitGroup
	started.Add(n)
	errs := make(chan error, n)
	for range n {
		go func() {
			started.Done()
			k, err := rs.LookupKey(ctx, "b")
			if err == nil && !k.Equal(b) {
				err = fmt.Errorf("got key %v", k)
			}
			errs <- err
		}()
	}
	started.Wait()
	require.Eventually(t, func() bool { return srv.fetches() == 2 }, 5*time.Second, time.Millisecond)
	close(release)
	for range n {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, 2, srv.fetches(), "one fetch for all the waiting lookups")
}

func TestRemoteKeySetRateLimitsUnknownKeys(t *testing.T) {
	a := testKey(t, ES256, "a")
	srv := newJWKSServer(t, serveDoc(docOf(t, a)))
	clock := newFakeClock()
	rs := newTestRemote(t, srv.URL, WithRemoteClock(clock.Now), WithUnknownKeyRefetch(time.Minute, 3))
	ctx := context.Background()
	_, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)

	for i := range 100 {
		_, err := rs.LookupKey(ctx, "random-"+strconv.Itoa(i))
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, 1+3, srv.fetches(), "the burst, then nothing")

	clock.Advance(time.Minute)
	for i := range 10 {
		_, err := rs.LookupKey(ctx, "random-"+strconv.Itoa(i))
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, 1+3+1, srv.fetches(), "one more a minute later")

	// A concurrent burst, with the bucket full again.
	clock.Advance(10 * time.Minute)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			_, err := rs.LookupKey(ctx, "burst-"+strconv.Itoa(i))
			assert.ErrorIs(t, err, ErrUnknownKey)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, srv.fetches(), 1+3+1+3)

	_, err = rs.LookupKey(ctx, "a")
	require.NoError(t, err, "known keys still verify")
}

func TestRemoteKeySetRotation(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, ES384, "b")
	c := testKey(t, EdDSA, "c")
	srv := newJWKSServer(t, serveDoc(docOf(t, a, b)))
	rs := newTestRemote(t, srv.URL)
	ctx := context.Background()
	for _, kid := range []string{"a", "b"} {
		_, err := rs.LookupKey(ctx, kid)
		require.NoError(t, err)
	}

	// c is published and a withdrawn: the first token naming c refetches.
	srv.set(serveDoc(docOf(t, c, b)))
	k, err := rs.LookupKey(ctx, "c")
	require.NoError(t, err)
	assert.True(t, k.Equal(c))
	_, err = rs.LookupKey(ctx, "a")
	require.ErrorIs(t, err, ErrUnknownKey, "a removed key stops verifying")
	assert.Equal(t, []string{"b", "c"}, rs.KeyIDs())

	// A forced refresh replaces the set too.
	srv.set(serveDoc(docOf(t, b)))
	require.NoError(t, rs.Refresh(ctx))
	assert.Equal(t, []string{"b"}, rs.KeyIDs())
	_, err = rs.LookupKey(ctx, "c")
	require.ErrorIs(t, err, ErrUnknownKey)
}

func TestRemoteKeySetLookupAfterAFetchThatMissedTheKey(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, ES256, "b")
	old, both := serveDoc(docOf(t, a)), serveDoc(docOf(t, a, b))
	srv := newJWKSServer(t, old)
	rs := newTestRemote(t, srv.URL)
	ctx := context.Background()
	_, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)

	// A refresh is under way, its answer (without b) already decided, when
	// b is published and a token naming b arrives.
	release := make(chan struct{})
	srv.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		old(w, r)
	})
	refreshed := make(chan error, 1)
	go func() { refreshed <- rs.Refresh(ctx) }()
	require.Eventually(t, func() bool { return srv.fetches() == 2 }, 5*time.Second, time.Millisecond)
	srv.set(both)

	found := make(chan error, 1)
	go func() {
		k, err := rs.LookupKey(ctx, "b")
		if err == nil && !k.Equal(b) {
			err = fmt.Errorf("got key %v", k)
		}
		found <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the lookup join the refresh; the test holds either way
	close(release)
	require.NoError(t, <-refreshed)
	require.NoError(t, <-found, "the lookup looks again after a fetch that started after it")
	assert.Equal(t, 3, srv.fetches())
}

func TestRemoteKeySetBackgroundRefresh(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, ES256, "b")
	srv := newJWKSServer(t, serveDoc(docOf(t, a)))
	rs := newTestRemote(t, srv.URL, WithRefreshInterval(10*time.Millisecond))
	_, err := rs.LookupKey(context.Background(), "a")
	require.NoError(t, err)

	srv.set(serveDoc(docOf(t, b)))
	require.Eventually(t, func() bool {
		ids := rs.KeyIDs()
		return len(ids) == 1 && ids[0] == "b"
	}, 10*time.Second, 5*time.Millisecond, "the background refresh picks up the rotation")
}

func TestRemoteKeySetServesStaleSetWithinMaxStaleness(t *testing.T) {
	a := testKey(t, ES256, "a")
	good := serveDoc(docOf(t, a))
	srv := newJWKSServer(t, good)
	clock := newFakeClock()
	rs := newTestRemote(t, srv.URL, WithRemoteClock(clock.Now), WithMaxStaleness(time.Hour))
	ctx := context.Background()
	_, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)
	fetched := rs.LastFetch()
	assert.Equal(t, clock.Now(), fetched)

	srv.set(serveStatus(http.StatusServiceUnavailable))
	clock.Advance(30 * time.Minute)
	require.ErrorIs(t, rs.Refresh(ctx), ErrUnavailable)
	k, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err, "within the maximum staleness the last good set verifies")
	assert.True(t, k.Equal(a))
	assert.Equal(t, fetched, rs.LastFetch())
	_, err = rs.LookupKey(ctx, "b")
	require.ErrorIs(t, err, ErrUnknownKey)
	assert.NotErrorIs(t, err, ErrUnavailable)

	clock.Advance(30*time.Minute + time.Second)
	_, err = rs.LookupKey(ctx, "a")
	require.ErrorIs(t, err, ErrUnavailable, "beyond it, nothing verifies")
	assert.NotErrorIs(t, err, ErrUnknownKey)

	srv.set(good)
	k, err = rs.LookupKey(ctx, "a")
	require.NoError(t, err, "a lookup without a usable set fetches")
	assert.True(t, k.Equal(a))
	assert.Equal(t, clock.Now(), rs.LastFetch())
}

func TestRemoteKeySetRefreshDelay(t *testing.T) {
	rs := &RemoteKeySet{cfg: remoteConfig{interval: 5 * time.Minute, minAge: time.Minute, maxAge: 10 * time.Minute}}
	tests := []struct {
		header []string
		want   time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"Cache-Control", "public"}, 5 * time.Minute},
		{[]string{"Cache-Control", "public, max-age=600"}, 10 * time.Minute},
		{[]string{"Cache-Control", "public, max-age=300"}, 5 * time.Minute},
		{[]string{"Cache-Control", "max-age=120, must-revalidate"}, 2 * time.Minute},
		{[]string{"Cache-Control", `max-age="120"`}, 2 * time.Minute},
		{[]string{"Cache-Control", "Max-Age=120"}, 2 * time.Minute},
		{[]string{"Cache-Control", "max-age=86400"}, 10 * time.Minute},
		{[]string{"Cache-Control", "max-age=99999999999999999999"}, time.Minute},
		{[]string{"Cache-Control", "max-age=5"}, time.Minute},
		{[]string{"Cache-Control", "max-age=0"}, time.Minute},
		{[]string{"Cache-Control", "no-cache"}, time.Minute},
		{[]string{"Cache-Control", "no-store, max-age=600"}, time.Minute},
		{[]string{"Cache-Control", "max-age=soon"}, time.Minute},
		{[]string{"Cache-Control", "max-age=300, max-age=600"}, time.Minute},
		{[]string{"Cache-Control", "max-age=600", "Age", "400"}, 200 * time.Second},
		{[]string{"Cache-Control", "max-age=600", "Age", "900"}, time.Minute},
		{[]string{"Cache-Control", "max-age=600", "Age", "bogus"}, 10 * time.Minute},
		{[]string{"Cache-Control", "s-maxage=30"}, 5 * time.Minute},
	}
	for _, tc := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tc.header); i += 2 {
			h.Set(tc.header[i], tc.header[i+1])
		}
		assert.Equal(t, tc.want, rs.refreshDelay(h), "%v", tc.header)
	}
}

func TestRemoteKeySetHonoursMaxAge(t *testing.T) {
	a := testKey(t, ES256, "a")
	doc := docOf(t, a)

	t.Run("Supabase's max-age=600", func(t *testing.T) {
		srv := newJWKSServer(t, serveDoc(doc, "Cache-Control", "public, max-age=600"))
		rs := newTestRemote(t, srv.URL)
		_, err := rs.LookupKey(context.Background(), "a")
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, rs.snap.Load().refresh)
	})
	t.Run("raised to the minimum", func(t *testing.T) {
		srv := newJWKSServer(t, serveDoc(doc, "Cache-Control", "max-age=0"))
		newTestRemote(t, srv.URL, WithRefreshInterval(time.Hour), WithMaxAgeBounds(5*time.Millisecond, 10*time.Millisecond))
		require.Eventually(t, func() bool { return srv.fetches() >= 4 }, 10*time.Second, 5*time.Millisecond)
	})
	t.Run("lowered to the maximum", func(t *testing.T) {
		srv := newJWKSServer(t, serveDoc(doc, "Cache-Control", "max-age=86400"))
		newTestRemote(t, srv.URL, WithRefreshInterval(time.Hour), WithMaxAgeBounds(time.Millisecond, 10*time.Millisecond))
		require.Eventually(t, func() bool { return srv.fetches() >= 4 }, 10*time.Second, 5*time.Millisecond)
	})
}

func TestRemoteKeySetNotModified(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, ES256, "b")
	srv := newJWKSServer(t, serveDoc(docOf(t, a), "ETag", `"v1"`, "Cache-Control", "max-age=120"))
	clock := newFakeClock()
	rs := newTestRemote(t, srv.URL, WithRemoteClock(clock.Now))
	ctx := context.Background()
	_, err := rs.LookupKey(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, srv.lastHeader("If-None-Match"))

	clock.Advance(50 * time.Minute)
	require.NoError(t, rs.Refresh(ctx), "a 304 is a good fetch")
	assert.Equal(t, `"v1"`, srv.lastHeader("If-None-Match"))
	assert.Equal(t, clock.Now(), rs.LastFetch())
	assert.Equal(t, []string{"a"}, rs.KeyIDs())
	assert.Equal(t, 2*time.Minute, rs.snap.Load().refresh)

	// 100 minutes after the last 200, 50 after the 304: still fresh enough.
	clock.Advance(50 * time.Minute)
	_, err = rs.LookupKey(ctx, "a")
	require.NoError(t, err)

	srv.set(serveDoc(docOf(t, b), "ETag", `"v2"`))
	require.NoError(t, rs.Refresh(ctx))
	assert.Equal(t, `"v1"`, srv.lastHeader("If-None-Match"))
	assert.Equal(t, []string{"b"}, rs.KeyIDs())
	require.NoError(t, rs.Refresh(ctx))
	assert.Equal(t, `"v2"`, srv.lastHeader("If-None-Match"))

	t.Run("without a condition", func(t *testing.T) {
		srv := newJWKSServer(t, serveStatus(http.StatusNotModified))
		rs := newTestRemote(t, srv.URL)
		_, err := rs.LookupKey(ctx, "a")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.True(t, rs.LastFetch().IsZero())
	})
}

func TestRemoteKeySetBadDocuments(t *testing.T) {
	a := testKey(t, ES256, "a")
	b := testKey(t, EdDSA, "b")
	c := testKey(t, ES256, "c")
	other := testKey(t, ES256, "c") // a different key with c's ID
	const limit = 4096

	private, err := c.MarshalPrivate(FormatJWK)
	require.NoError(t, err)
	var privateMembers map[string]any
	require.NoError(t, json.Unmarshal(private, &privateMembers))
	secretD := privateMembers["d"].(string)

	// with returns c's public JWK changed by f.
	with := func(f func(m map[string]any)) map[string]any {
		m := jwkMap(t, c)
		f(m)
		return m
	}
	set := func(name string, v any) map[string]any {
		return with(func(m map[string]any) { m[name] = v })
	}
	without := func(name string) map[string]any {
		return with(func(m map[string]any) { delete(m, name) })
	}
	offCurve := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	weakModulus := append([]byte{0xc1}, bytes.Repeat([]byte{0x55}, 127)...)
	weakModulus[127] |= 1
	padded := func(doc []byte, size int) []byte {
		return append(doc[:len(doc)-1:len(doc)-1], append(bytes.Repeat([]byte(" "), size-len(doc)), '}')...)
	}
	big := padded(docOf(t, b), limit+1)

	refused := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status 500", serveStatus(http.StatusInternalServerError)},
		{"status 404", serveStatus(http.StatusNotFound)},
		{"status 429", serveStatus(http.StatusTooManyRequests)},
		{"status 204", serveStatus(http.StatusNoContent)},
		{"empty body", serveDoc(nil)},
		{"HTML", serveDoc([]byte("<html><body>Bad gateway</body></html>"))},
		{"truncated JSON", serveDoc(docOf(t, b)[:20])},
		{"no keys member", serveDoc([]byte(`{"issuer":"x"}`))},
		{"keys null", serveDoc([]byte(`{"keys":null}`))},
		{"keys an object", serveDoc([]byte(`{"keys":{"kty":"EC"}}`))},
		{"keys a string", serveDoc([]byte(`{"keys":"none"}`))},
		{"a JSON array", serveDoc([]byte(`[` + string(publicJWK(t, b)) + `]`))},
		{"a JSON string", serveDoc([]byte(`"keys"`))},
		{"JSON null", serveDoc([]byte(`null`))},
		{"oversized, with length", serveDoc(big)},
		{"oversized, chunked", func(w http.ResponseWriter, r *http.Request) {
			for chunk := range slices.Chunk(big, 1000) {
				w.Write(chunk)
				w.(http.Flusher).Flush()
			}
		}},
	}
	skipped := []struct {
		name  string
		entry any
		want  []string
	}{
		{"all good", c, []string{"b", "c"}},
		{"key_ops verify", set("key_ops", []string{"verify"}), []string{"b", "c"}},
		{"no alg", without("alg"), []string{"b", "c"}},
		{"not an object", 42, []string{"b"}},
		{"null entry", nil, []string{"b"}},
		{"point off the curve", set("x", offCurve), []string{"b"}},
		{"weak RSA key", map[string]any{"kty": "RSA", "kid": "c", "n": base64.RawURLEncoding.EncodeToString(weakModulus), "e": "AQAB"}, []string{"b"}},
		{"curve does not match alg", set("alg", "ES384"), []string{"b"}},
		{"unsupported alg", set("alg", "PS256"), []string{"b"}},
		{"unknown kty", set("kty", "XYZ"), []string{"b"}},
		{"no kty", without("kty"), []string{"b"}},
		{"missing y", without("y"), []string{"b"}},
		{"real private key", json.RawMessage(private), []string{"b"}},
		{"member d", set("d", "AQAB"), []string{"b"}},
		{"member p", set("p", "AQAB"), []string{"b"}},
		{"member q", set("q", "AQAB"), []string{"b"}},
		{"member dp", set("dp", "AQAB"), []string{"b"}},
		{"member dq", set("dq", "AQAB"), []string{"b"}},
		{"member qi", set("qi", "AQAB"), []string{"b"}},
		{"oct key", map[string]any{"kty": "oct", "kid": "c", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}, []string{"b"}},
		{"use enc", set("use", "enc"), []string{"b"}},
		{"use not a string", set("use", 1), []string{"b"}},
		{"key_ops sign", set("key_ops", []string{"sign"}), []string{"b"}},
		{"key_ops encrypt", set("key_ops", []string{"encrypt", "decrypt"}), []string{"b"}},
		{"key_ops empty", set("key_ops", []string{}), []string{"b"}},
		{"key_ops a string", set("key_ops", "verify"), []string{"b"}},
		{"no kid", without("kid"), []string{"b"}},
		{"empty kid", set("kid", ""), []string{"b"}},
		{"kid a number", set("kid", 7), []string{"b"}},
		{"kid with a control character", set("kid", "c\n"), []string{"b"}},
	}

	// check sets up a key set holding a, lets the server answer with h, and
	// refreshes.
	check := func(t *testing.T, h http.HandlerFunc) (*RemoteKeySet, *logBuffer, error) {
		srv := newJWKSServer(t, serveDoc(docOf(t, a)))
		logs := &logBuffer{}
		rs := newTestRemote(t, srv.URL, WithRemoteLogger(logs.logger()), WithMaxDocumentSize(limit))
		_, err := rs.LookupKey(context.Background(), "a")
		require.NoError(t, err)
		srv.set(h)
		return rs, logs, rs.Refresh(context.Background())
	}

	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			rs, logs, err := check(t, tc.handler)
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Equal(t, []string{"a"}, rs.KeyIDs(), "the last good set is kept")
			_, err = rs.LookupKey(context.Background(), "a")
			require.NoError(t, err)
			assert.Contains(t, logs.String(), "keeping the last good set")
		})
	}
	for _, tc := range skipped {
		t.Run("skipped/"+tc.name, func(t *testing.T) {
			rs, logs, err := check(t, serveDoc(docOf(t, b, tc.entry)))
			require.NoError(t, err)
			assert.Equal(t, tc.want, rs.KeyIDs())
			_, err = rs.LookupKey(context.Background(), "a")
			require.ErrorIs(t, err, ErrUnknownKey, "the set is replaced, not merged")
			for _, kid := range tc.want {
				k, err := rs.LookupKey(context.Background(), kid)
				require.NoError(t, err)
				assert.False(t, k.CanSign())
			}
			if len(tc.want) == 1 {
				_, err = rs.LookupKey(context.Background(), "c")
				require.ErrorIs(t, err, ErrUnknownKey)
				assert.Contains(t, logs.String(), "skipping a key")
			}
			assert.NotContains(t, logs.String(), secretD)
			assert.NotContains(t, logs.String(), offCurve)
			assert.NotContains(t, logs.String(), "c2VjcmV0")
		})
	}

	t.Run("skipped/duplicate kid", func(t *testing.T) {
		rs, logs, err := check(t, serveDoc(docOf(t, b, c, other)))
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, rs.KeyIDs(), "both keys named c are ambiguous")
		assert.Contains(t, logs.String(), "shared by 2 keys")
	})
	t.Run("skipped/duplicate kid, one unusable", func(t *testing.T) {
		rs, _, err := check(t, serveDoc(docOf(t, b, c, set("use", "enc"))))
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, rs.KeyIDs())
	})
	t.Run("skipped/the same key twice", func(t *testing.T) {
		rs, _, err := check(t, serveDoc(docOf(t, b, c, c)))
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, rs.KeyIDs())
	})
	t.Run("empty keys array", func(t *testing.T) {
		rs, logs, err := check(t, serveDoc([]byte(`{"keys":[]}`)))
		require.NoError(t, err)
		assert.Empty(t, rs.KeyIDs(), "an empty set replaces the old one")
		_, err = rs.LookupKey(context.Background(), "a")
		require.ErrorIs(t, err, ErrUnknownKey)
		assert.Contains(t, logs.String(), "no usable key")
	})
	t.Run("exactly the size limit", func(t *testing.T) {
		rs, _, err := check(t, serveDoc(padded(docOf(t, b), limit)))
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, rs.KeyIDs())
	})
}

func TestRemoteKeySetTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })

	t.Run("fetch timeout", func(t *testing.T) {
		rs := newTestRemote(t, srv.URL, WithFetchTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := rs.LookupKey(context.Background(), "a")
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("caller's context", func(t *testing.T) {
		rs := newTestRemote(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := rs.LookupKey(ctx, "a")
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)

		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, rs.Refresh(ctx), context.DeadlineExceeded)
	})
}

func TestRemoteKeySetStopsWithItsContext(t *testing.T) {
	a := testKey(t, ES256, "a")
	srv := newJWKSServer(t, serveDoc(docOf(t, a)))
	transport := &countingTransport{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rs, err := NewRemoteKeySet(ctx, srv.URL,
		WithRemoteLogger(discardLogger),
		WithRemoteHTTPClient(&http.Client{Transport: transport}),
		WithRefreshInterval(5*time.Millisecond))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return transport.n.Load() >= 3 }, 10*time.Second, 5*time.Millisecond)

	cancel()
	select {
	case <-rs.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh goroutine did not stop")
	}
	require.Eventually(t, func() bool {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.inflight == nil
	}, 10*time.Second, time.Millisecond)
	sent := transport.n.Load()

	_, err = rs.LookupKey(context.Background(), "a")
	require.NoError(t, err, "the last good set still answers")
	_, err = rs.LookupKey(context.Background(), "b")
	require.ErrorIs(t, err, ErrUnknownKey)
	require.ErrorIs(t, rs.Refresh(context.Background()), ErrUnavailable)
	assert.Equal(t, sent, transport.n.Load(), "nothing is fetched once stopped")
}

func TestRemoteKeySetConcurrentLookupsDuringRotation(t *testing.T) {
	keys := []*Key{testKey(t, ES256, "k0"), testKey(t, ES256, "k1"), testKey(t, ES256, "k2")}
	docs := [][]byte{docOf(t, keys[0], keys[1]), docOf(t, keys[1], keys[2])}
	var served atomic.Int32
	srv := newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(docs[served.Add(1)%2])
	})
	rs := newTestRemote(t, srv.URL)
	ctx := context.Background()

	var wg sync.WaitGroup
	wg.Go(func() {
		for range 50 {
			assert.NoError(t, rs.Refresh(ctx))
		}
	})
	for range 8 {
		wg.Go(func() {
			for range 200 {
				k, err := rs.LookupKey(ctx, "k1")
				if !assert.NoError(t, err) || !assert.True(t, k.Equal(keys[1])) {
					return
				}
				rs.KeyIDs()
			}
		})
	}
	wg.Wait()
}
