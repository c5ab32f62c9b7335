package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestNewRefusesBadConfiguration(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	const good = "https://example.test/.well-known/jwks.json"
	tests := []struct {
		name string
		ctx  context.Context
		url  string
		opts []Option
	}{
		{"nil context", nil, good, nil},
		{"context done", done, good, nil},
		{"ftp URL", ctx, "ftp://example.test/jwks.json", nil},
		{"file URL", ctx, "file:///etc/jwks.json", nil},
		{"relative URL", ctx, "/.well-known/jwks.json", nil},
		{"no host", ctx, "https:///jwks.json", nil},
		{"credentials", ctx, "https://user:secret@example.test/jwks.json", nil},
		{"unparsable", ctx, "https://example.test/%zz", nil},
		{"nil client", ctx, good, []Option{WithHTTPClient(nil)}},
		{"zero timeout", ctx, good, []Option{WithFetchTimeout(0)}},
		{"zero size", ctx, good, []Option{WithMaxDocumentSize(0)}},
		{"zero interval", ctx, good, []Option{WithRefreshInterval(0)}},
		{"zero min max-age", ctx, good, []Option{WithMaxAgeBounds(0, time.Minute)}},
		{"min over max", ctx, good, []Option{WithMaxAgeBounds(time.Hour, time.Minute)}},
		{"zero staleness", ctx, good, []Option{WithMaxStaleness(0)}},
		{"zero refetch interval", ctx, good, []Option{WithUnknownKeyRefetch(0, 1)}},
		{"negative burst", ctx, good, []Option{WithUnknownKeyRefetch(time.Minute, -1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := New(tc.ctx, tc.url, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, ks)
			assert.True(t, strings.HasPrefix(err.Error(), "remote: "), err.Error())
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("b"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a, b)))
		ks := e.keySet(t)
		ctx := t.Context()

		k, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)
		assert.True(t, k.Equal(a))
		assert.False(t, k.CanSign())
		assert.Equal(t, "application/json", e.srv.lastHeader("Accept"))

		k, err = ks.LookupKey(ctx, "b")
		require.NoError(t, err)
		assert.True(t, k.Equal(b))
		assert.Equal(t, 1, e.srv.fetches(), "known keys are served from memory")
		assert.Equal(t, []string{"a", "b"}, ks.KeyIDs())
		assert.True(t, ks.LastFetch().Equal(time.Now()))

		_, err = ks.LookupKey(ctx, "c")
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
		assert.NotErrorIs(t, err, jwks.ErrUnavailable)
		assert.True(t, strings.HasPrefix(err.Error(), "remote: "), err.Error())
		assert.Equal(t, 2, e.srv.fetches(), "an unknown kid refetches once")

		for _, kid := range []string{"", strings.Repeat("x", 300), "a\x00", "\xff"} {
			_, err = ks.LookupKey(ctx, kid)
			require.ErrorIs(t, err, jwks.ErrUnknownKey)
		}
		assert.Equal(t, 2, e.srv.fetches(), "a key ID that cannot exist is not fetched for")
	})
}

func TestStartsWhileServerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		e.net.Stop(jwksHost)
		ks := e.keySet(t)

		_, err := ks.LookupKey(t.Context(), "a")
		require.ErrorIs(t, err, jwks.ErrUnavailable, "the lookup waits for the first fetch, which fails")
		assert.ErrorContains(t, err, "connection refused")
		assert.Empty(t, ks.KeyIDs())
		assert.True(t, ks.LastFetch().IsZero())

		// The server comes up; the refresh goroutine tries again a second
		// after the failure, without a lookup asking it to.
		e.net.Serve(jwksHost, e.srv)
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		assert.Empty(t, ks.KeyIDs())
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, []string{"a"}, ks.KeyIDs())

		k, err := ks.LookupKey(t.Context(), "a")
		require.NoError(t, err)
		assert.True(t, k.Equal(a))
		assert.Equal(t, 1, e.srv.fetches())
	})
}

func TestRetriesBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration // guarded by mu: when the fetches came
		e := newBubbleEnv(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		e.keySet(t)
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		// At once, then 1 s, 2 s, 4 s, … after each failure, up to the
		// refresh interval.
		want := []time.Duration{0}
		for d, next := time.Duration(0), time.Second; d+next <= 20*time.Minute; next = min(2*next, 5*time.Minute) {
			d += next
			want = append(want, d)
		}
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, want, at)
	})
}

func TestSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		// A generous rate limit, so that only single flight keeps the
		// fetches down to one.
		ks := e.keySet(t, WithUnknownKeyRefetch(time.Millisecond, 1000))
		ctx := t.Context()
		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 1, e.srv.fetches())

		release := make(chan struct{})
		e.srv.set(serveAfter(release, serveDoc(docOf(t, a, b))))
		const n = 50
		errs := make(chan error, n)
		for range n {
			go func() {
				k, err := ks.LookupKey(ctx, "b")
				if err == nil && !k.Equal(b) {
					err = fmt.Errorf("got key %v", k)
				}
				errs <- err
			}()
		}
		synctest.Wait() // every lookup waits for the one fetch
		assert.Equal(t, 2, e.srv.fetches())
		close(release)
		for range n {
			require.NoError(t, <-errs)
		}
		assert.Equal(t, 2, e.srv.fetches(), "one fetch for all the waiting lookups")
	})
}

func TestRateLimitsUnknownKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		ks := e.keySet(t, WithUnknownKeyRefetch(time.Minute, 3), WithRefreshInterval(time.Hour))
		ctx := t.Context()
		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)

		for i := range 100 {
			_, err := ks.LookupKey(ctx, "random-"+strconv.Itoa(i))
			require.ErrorIs(t, err, jwks.ErrUnknownKey)
		}
		assert.Equal(t, 1+3, e.srv.fetches(), "the burst, then nothing")

		time.Sleep(time.Minute)
		for i := range 10 {
			_, err := ks.LookupKey(ctx, "random-"+strconv.Itoa(i))
			require.ErrorIs(t, err, jwks.ErrUnknownKey)
		}
		assert.Equal(t, 1+3+1, e.srv.fetches(), "one more a minute later")

		// A concurrent burst, with the bucket full again.
		time.Sleep(10 * time.Minute)
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				_, err := ks.LookupKey(ctx, "burst-"+strconv.Itoa(i))
				assert.ErrorIs(t, err, jwks.ErrUnknownKey)
			})
		}
		wg.Wait()
		assert.Greater(t, e.srv.fetches(), 1+3+1)
		assert.LessOrEqual(t, e.srv.fetches(), 1+3+1+3)

		_, err = ks.LookupKey(ctx, "a")
		require.NoError(t, err, "known keys still verify")
	})
}

// An unknown kid whose refetch fails is not known to be bad: the server
// may have published the key and be out of reach, so the lookup says "try
// again" (ErrUnavailable, 503), not "refused" (ErrUnknownKey, 401). Once a
// fetch is good again, an unknown kid is unknown.
func TestUnknownKeyWhileServerDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(e *bubbleEnv)
		want string
	}{
		{"HTTP 503", func(e *bubbleEnv) { e.srv.set(serveStatus(http.StatusServiceUnavailable)) }, "HTTP status 503"},
		{"connection refused", func(e *bubbleEnv) { e.net.Stop(jwksHost) }, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
				b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
				good := serveDoc(docOf(t, a, b))
				e := newBubbleEnv(t, serveDoc(docOf(t, a)))
				ks := e.keySet(t, WithUnknownKeyRefetch(time.Minute, 2), WithRefreshInterval(time.Hour))
				ctx := t.Context()
				_, err := ks.LookupKey(ctx, "a")
				require.NoError(t, err)

				tc.down(e)
				_, err = ks.LookupKey(ctx, "b")
				require.ErrorIs(t, err, jwks.ErrUnavailable)
				assert.NotErrorIs(t, err, jwks.ErrUnknownKey)
				assert.ErrorContains(t, err, tc.want)
				assert.ErrorContains(t, err, `kid "b"`)
				_, err = ks.LookupKey(ctx, "a")
				require.NoError(t, err, "the known key still verifies")

				// Beyond the refetch rate, the last fetch's failure still
				// answers.
				for range 3 {
					_, err = ks.LookupKey(ctx, "b")
					require.ErrorIs(t, err, jwks.ErrUnavailable)
				}
				if tc.name == "HTTP 503" {
					assert.Equal(t, 1+2, e.srv.fetches(), "the first fetch and the burst of 2; then the rate allows none")
				}

				// The server is back: the key is found, and a key it does
				// not publish is unknown.
				if tc.name == "connection refused" {
					e.net.Serve(jwksHost, e.srv)
				}
				e.srv.set(good)
				time.Sleep(time.Minute)
				k, err := ks.LookupKey(ctx, "b")
				require.NoError(t, err)
				assert.True(t, k.Equal(b))
				_, err = ks.LookupKey(ctx, "c")
				require.ErrorIs(t, err, jwks.ErrUnknownKey)
				assert.NotErrorIs(t, err, jwks.ErrUnavailable)
			})
		})
	}
}

func TestNoRefetchWithBurstZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		ks := e.keySet(t, WithUnknownKeyRefetch(time.Minute, 0))
		_, err := ks.LookupKey(t.Context(), "a")
		require.NoError(t, err, "the first fetch is the key set's own")
		_, err = ks.LookupKey(t.Context(), "b")
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
		assert.Equal(t, 1, e.srv.fetches())
	})
}

func TestRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES384, jwks.WithKeyID("b"))
		c := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("c"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a, b)))
		ks := e.keySet(t)
		ctx := t.Context()
		for _, kid := range []string{"a", "b"} {
			_, err := ks.LookupKey(ctx, kid)
			require.NoError(t, err)
		}

		// c is published and a withdrawn: the first token naming c refetches.
		e.srv.set(serveDoc(docOf(t, c, b)))
		k, err := ks.LookupKey(ctx, "c")
		require.NoError(t, err)
		assert.True(t, k.Equal(c))
		_, err = ks.LookupKey(ctx, "a")
		require.ErrorIs(t, err, jwks.ErrUnknownKey, "a removed key stops verifying")
		assert.Equal(t, []string{"b", "c"}, ks.KeyIDs())

		// A forced refresh replaces the set too.
		e.srv.set(serveDoc(docOf(t, b)))
		require.NoError(t, ks.Refresh(ctx))
		assert.Equal(t, []string{"b"}, ks.KeyIDs())
		_, err = ks.LookupKey(ctx, "c")
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
	})
}

func TestLookupAfterAFetchThatMissedTheKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		old, both := serveDoc(docOf(t, a)), serveDoc(docOf(t, a, b))
		e := newBubbleEnv(t, old)
		ks := e.keySet(t)
		ctx := t.Context()
		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)

		// A refresh is under way, its answer (without b) already decided,
		// when b is published and a token naming b arrives.
		release := make(chan struct{})
		e.srv.set(serveAfter(release, old))
		refreshed := make(chan error, 1)
		go func() { refreshed <- ks.Refresh(ctx) }()
		synctest.Wait()
		require.Equal(t, 2, e.srv.fetches())
		e.srv.set(both)

		found := make(chan error, 1)
		go func() {
			k, err := ks.LookupKey(ctx, "b")
			if err == nil && !k.Equal(b) {
				err = fmt.Errorf("got key %v", k)
			}
			found <- err
		}()
		synctest.Wait()
		assert.Equal(t, 2, e.srv.fetches(), "the lookup waits for the fetch under way")
		close(release)
		require.NoError(t, <-refreshed)
		require.NoError(t, <-found, "the lookup looks again after a fetch that began after it")
		assert.Equal(t, 3, e.srv.fetches())
	})
}

func TestRefreshFetchesAfterTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		ks := e.keySet(t)
		_, err := ks.LookupKey(t.Context(), "a")
		require.NoError(t, err)

		// A lookup's fetch is under way with the old document when the
		// set changes and Refresh is called: Refresh waits for it, then
		// fetches again, and sees the change.
		release := make(chan struct{})
		e.srv.set(serveAfter(release, serveDoc(docOf(t, a))))
		go ks.LookupKey(t.Context(), "x")
		synctest.Wait()
		e.srv.set(serveDoc(docOf(t, a, b)))
		refreshed := make(chan error, 1)
		go func() { refreshed <- ks.Refresh(t.Context()) }()
		synctest.Wait()
		close(release)
		require.NoError(t, <-refreshed)
		assert.Equal(t, []string{"a", "b"}, ks.KeyIDs())
		assert.Equal(t, 3, e.srv.fetches())
	})
}

func TestBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		ks := e.keySet(t)
		_, err := ks.LookupKey(t.Context(), "a")
		require.NoError(t, err)

		e.srv.set(serveDoc(docOf(t, b)))
		time.Sleep(5*time.Minute - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, []string{"a"}, ks.KeyIDs())
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, []string{"b"}, ks.KeyIDs(), "the refresh every 5 minutes picks up the rotation")
		assert.Equal(t, 2, e.srv.fetches())
	})
}

func TestServesStaleSetWithinMaxStaleness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		good := serveDoc(docOf(t, a))
		e := newBubbleEnv(t, good)
		ks := e.keySet(t, WithMaxStaleness(time.Hour))
		ctx := t.Context()
		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)
		assert.True(t, ks.Usable())
		fetched := ks.LastFetch()
		assert.True(t, fetched.Equal(time.Now()))

		e.srv.set(serveStatus(http.StatusServiceUnavailable))
		time.Sleep(30 * time.Minute) // the background refreshes fail
		require.ErrorIs(t, ks.Refresh(ctx), jwks.ErrUnavailable)
		k, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err, "within the maximum staleness the last good set verifies")
		assert.True(t, k.Equal(a))
		assert.True(t, fetched.Equal(ks.LastFetch()))
		assert.True(t, ks.Usable(), "stale but within the maximum staleness")
		_, err = ks.LookupKey(ctx, "b")
		require.ErrorIs(t, err, jwks.ErrUnavailable, "the refetch for b failed: b may exist")
		assert.NotErrorIs(t, err, jwks.ErrUnknownKey)

		time.Sleep(30*time.Minute + time.Second)
		assert.False(t, ks.Usable(), "beyond the maximum staleness")
		_, err = ks.LookupKey(ctx, "a")
		require.ErrorIs(t, err, jwks.ErrUnavailable, "beyond it, nothing verifies")
		assert.NotErrorIs(t, err, jwks.ErrUnknownKey)
		assert.ErrorContains(t, err, "HTTP status 503")

		e.srv.set(good)
		k, err = ks.LookupKey(ctx, "a")
		require.NoError(t, err, "a lookup without a usable set fetches")
		assert.True(t, k.Equal(a))
		assert.True(t, ks.LastFetch().Equal(time.Now()))
		assert.True(t, ks.Usable())
	})
}

func TestTimeout(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

	t.Run("fetch timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newBubbleEnv(t, hang)
			ks := e.keySet(t, WithFetchTimeout(3*time.Second))
			start := time.Now()
			_, err := ks.LookupKey(t.Context(), "a")
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 3*time.Second, time.Since(start))
		})
	})
	t.Run("caller's context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newBubbleEnv(t, hang)
			ks := e.keySet(t)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := ks.LookupKey(ctx, "a")
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 50*time.Millisecond, time.Since(start), "the caller's wait ends, not the fetch")

			ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, ks.Refresh(ctx), context.DeadlineExceeded)
		})
	})
	t.Run("caller's context, with a usable set", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
			e := newBubbleEnv(t, serveDoc(docOf(t, a)))
			ks := e.keySet(t)
			_, err := ks.LookupKey(t.Context(), "a")
			require.NoError(t, err)
			e.srv.set(hang)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			_, err = ks.LookupKey(ctx, "b")
			require.ErrorIs(t, err, jwks.ErrUnavailable, "the refetch for b was not over: b may exist")
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, jwks.ErrUnknownKey)
		})
	})
}

func TestStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a)))
		ctx, cancel := context.WithCancel(t.Context())
		ks, err := New(ctx, e.url, WithHTTPClient(e.net.Client()), WithLogger(testkit.Discard))
		require.NoError(t, err)
		time.Sleep(15 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 4, e.srv.fetches(), "at 0, 5, 10 and 15 minutes")

		cancel()
		synctest.Wait()
		select {
		case <-ks.stopped:
		default:
			t.Fatal("the refresh goroutine did not stop")
		}
		_, err = ks.LookupKey(t.Context(), "a")
		require.NoError(t, err, "the last good set still answers")
		_, err = ks.LookupKey(t.Context(), "b")
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
		err = ks.Refresh(t.Context())
		require.ErrorIs(t, err, jwks.ErrUnavailable)
		require.ErrorIs(t, err, context.Canceled)
		time.Sleep(time.Hour)
		assert.Equal(t, 4, e.srv.fetches(), "nothing is fetched once stopped")
	})
}

func TestNilLoggerIsTheDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &testkit.LogBuffer{}
		defer slog.SetDefault(slog.Default())
		slog.SetDefault(logs.Logger())

		e := newBubbleEnv(t, serveStatus(http.StatusInternalServerError))
		ks := e.keySet(t, WithLogger(nil))
		_, err := ks.LookupKey(t.Context(), "a")
		require.ErrorIs(t, err, jwks.ErrUnavailable)
		assert.Contains(t, logs.String(), "remote: fetching the key set failed")
		assert.Contains(t, logs.String(), "level=ERROR")
	})
}
