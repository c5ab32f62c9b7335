package jwks_test

import (
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// testClock is a clock a test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// gatedSigner is an external key's signer that counts its signatures and,
// while its gate is closed, holds each of them until the gate opens.
type gatedSigner struct {
	crypto.Signer
	calls atomic.Int64
	mu    sync.Mutex
	gate  chan struct{} // nil: open
}

func (s *gatedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.Signer.Sign(r, digest, opts)
}

func (s *gatedSigner) close() { s.mu.Lock(); s.gate = make(chan struct{}); s.mu.Unlock() }
func (s *gatedSigner) open()  { s.mu.Lock(); close(s.gate); s.gate = nil; s.mu.Unlock() }

// anonymousFixture is an anonymous token handler on a clock of the test's,
// signing with an external key that counts its signatures.
type anonymousFixture struct {
	clock  *testClock
	ext    *gatedSigner
	key    *jwks.Key
	ks     *jwks.KeySet
	signer *jwks.Signer
	v      *jwks.Verifier
}

func newAnonymousFixture(t *testing.T, opts ...jwks.SignerOption) *anonymousFixture {
	t.Helper()
	f := &anonymousFixture{clock: newTestClock(time.Date(2026, 12, 1, 12, 0, 0, 300e6, time.UTC))}
	f.ext = &gatedSigner{Signer: privateOf(t, testkit.Key(t, jwks.ES256)).(crypto.Signer)}
	var err error
	f.key, err = jwks.NewExternalKey(f.ext, jwks.ES256, jwks.WithKeyID("counted"))
	require.NoError(t, err)
	f.ks, err = jwks.NewKeySet(f.key)
	require.NoError(t, err)
	f.signer, err = jwks.NewSigner(f.ks, testAudience, append([]jwks.SignerOption{jwks.WithClock(f.clock.now)}, opts...)...)
	require.NoError(t, err)
	f.v, err = jwks.NewVerifier(f.ks, testAudience, jwks.WithClock(f.clock.now))
	require.NoError(t, err)
	return f
}

// get asks h for a token and returns the response body and the verified
// claims.
func (f *anonymousFixture) get(t *testing.T, h http.Handler) (testkit.TokenBody, *jwks.Claims) {
	t.Helper()
	rec := serve(h, http.MethodGet, "/powersync-auth-anonymous", nil, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var body testkit.TokenBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	c, err := f.v.Verify(context.Background(), body.Token)
	require.NoError(t, err)
	exp, err := time.Parse(time.RFC3339, body.ExpiresAt)
	require.NoError(t, err)
	assert.True(t, exp.Equal(c.ExpiresAt), "expires_at is the token's exp")
	return body, c
}

func TestAnonymousTokenOfTheSecond(t *testing.T) {
	f := newAnonymousFixture(t)
	h := newTokenHandler(t, f.signer, jwks.Anonymous(jwks.WithAnonymousParameters(map[string]any{"anonymous": true})))

	first, c1 := f.get(t, h)
	f.clock.advance(600 * time.Millisecond) // 12:00:00.9, the same second
	again, _ := f.get(t, h)
	assert.Equal(t, first.Token, again.Token, "the same second: the same token")
	assert.Equal(t, int64(1), f.ext.calls.Load(), "one signature for the second")
	assert.Equal(t, map[string]any{"anonymous": true}, c1.Parameters)

	f.clock.advance(100 * time.Millisecond) // 12:00:01.0
	next, c2 := f.get(t, h)
	assert.NotEqual(t, first.Token, next.Token, "the next second: a new token")
	assert.Equal(t, f.clock.now().Truncate(time.Second), c2.IssuedAt, "iat is the second it is handed out in")
	assert.Equal(t, c2.IssuedAt.Add(jwks.DefaultTokenLifetime), c2.ExpiresAt)
	assert.Equal(t, int64(2), f.ext.calls.Load())

	f.clock.advance(10 * time.Second) // seconds without a request
	_, c3 := f.get(t, h)
	assert.Equal(t, f.clock.now().Truncate(time.Second), c3.IssuedAt, "never a token of a past second")
}

func TestAnonymousTokenOneSignerAtTheBoundary(t *testing.T) {
	f := newAnonymousFixture(t)
	h := newTokenHandler(t, f.signer, jwks.Anonymous())
	before, _ := f.get(t, h)
	f.clock.advance(700 * time.Millisecond) // 12:00:01.0, the next second
	f.ext.close()                           // the signature waits until every caller has asked

	const callers = 32
	var asked, wg sync.WaitGroup
	tokens := make([]string, callers)
	for i := range callers {
		asked.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			rec := httptest.NewRecorder()
			asked.Done()
			h.ServeHTTP(rec, req)
			if assert.Equal(t, http.StatusOK, rec.Code) {
				var body testkit.TokenBody
				assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				tokens[i] = body.Token
			}
		}()
	}
	asked.Wait()
	time.Sleep(20 * time.Millisecond) // let the callers reach the wait (not needed for correctness)
	f.ext.open()
	wg.Wait()
	assert.Equal(t, int64(2), f.ext.calls.Load(), "one Sign for all the callers of the new second")
	assert.NotEqual(t, before.Token, tokens[0])
	for _, tok := range tokens {
		assert.Equal(t, tokens[0], tok)
	}
}

func TestAnonymousTokenWaiterLeaves(t *testing.T) {
	f := newAnonymousFixture(t)
	logs := &testkit.LogBuffer{}
	h := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithLogger(logs.Logger()))
	f.ext.close()

	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve(h, http.MethodGet, "/", nil, "") }() // starts the signature
	for f.ext.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	requireJSONError(t, rec.Result(), http.StatusServiceUnavailable, "temporarily_unavailable")
	assert.Contains(t, logs.String(), "deadline exceeded")

	f.ext.open()
	assert.Equal(t, http.StatusOK, (<-first).Code, "the signature goes on for the callers still waiting")
	assert.Equal(t, int64(1), f.ext.calls.Load())
}

func TestAnonymousTokenFirstCallerLeaves(t *testing.T) {
	f := newAnonymousFixture(t)
	h := newTokenHandler(t, f.signer, jwks.Anonymous(), jwks.WithLogger(testkit.Discard))
	f.ext.close()

	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		left <- rec.Code
	}()
	for f.ext.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan *httptest.ResponseRecorder)
	go func() { second <- serve(h, http.MethodGet, "/", nil, "") }()
	cancel()
	assert.Equal(t, http.StatusServiceUnavailable, <-left)
	f.ext.open()
	assert.Equal(t, http.StatusOK, (<-second).Code, "the caller who started the signature may leave without failing the others")
	assert.Equal(t, int64(1), f.ext.calls.Load())
}

func TestAnonymousTokenAfterRotation(t *testing.T) {
	f := newAnonymousFixture(t)
	h := newTokenHandler(t, f.signer, jwks.Anonymous())
	before, _ := f.get(t, h)

	next := testkit.Key(t, jwks.EdDSA)
	require.NoError(t, f.ks.Replace(next, f.key.PublicOnly()))
	after, c := f.get(t, h) // the same second
	assert.NotEqual(t, before.Token, after.Token)
	assert.Equal(t, next.KeyID(), c.KeyID, "once the new key signs, no token of the old one")
	again, _ := f.get(t, h)
	assert.Equal(t, after.Token, again.Token, "the new key's token is shared in turn")
}

func TestAnonymousTokenPerRequest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		signerOpts []jwks.SignerOption
		anonOpts   []jwks.AnonymousOption
	}{
		{"unique subjects", nil, []jwks.AnonymousOption{jwks.WithUniqueSubjects()}},
		{"subject function", nil, []jwks.AnonymousOption{jwks.WithSubjectFunc(func(*http.Request) (string, error) { return "device", nil })}},
		{"token ID", []jwks.SignerOption{jwks.WithTokenID(true)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAnonymousFixture(t, tc.signerOpts...)
			h := newTokenHandler(t, f.signer, jwks.Anonymous(tc.anonOpts...))
			a, _ := f.get(t, h)
			b, _ := f.get(t, h) // the same second
			assert.NotEqual(t, a.Token, b.Token)
			assert.Equal(t, int64(2), f.ext.calls.Load(), "a signature per request")
		})
	}

	t.Run("another authenticator", func(t *testing.T) {
		f := newAnonymousFixture(t)
		h := newTokenHandler(t, f.signer, jwks.AuthenticatorFunc(func(*http.Request) (*jwks.Identity, error) {
			return &jwks.Identity{Subject: jwks.AnonymousSubject}, nil
		}))
		f.get(t, h)
		f.get(t, h)
		assert.Equal(t, int64(2), f.ext.calls.Load(), "only Anonymous declares a shared identity")
	})
}
