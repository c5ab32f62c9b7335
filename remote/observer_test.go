package remote

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// fetchEvents collects the events of an observer.
type fetchEvents struct {
	mu     sync.Mutex
	events []FetchEvent // guarded by mu
}

func (f *fetchEvents) observe(ev FetchEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
}

// take returns the events so far, and forgets them.
func (f *fetchEvents) take() []FetchEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.events
	f.events = nil
	return out
}

func TestObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		slow := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(20 * time.Millisecond)
				h(w, r)
			}
		}
		e := newBubbleEnv(t, slow(serveDoc(docOf(t, a, b), "ETag", `"v1"`)))
		var got fetchEvents
		ks := e.keySet(t, WithObserver(got.observe), WithMaxStaleness(time.Hour))
		ctx := t.Context()

		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)
		evs := got.take()
		require.Len(t, evs, 1, "the observer is told before the lookup goes on")
		assert.Equal(t, FetchEvent{URL: e.url, Result: FetchLoaded, Keys: 2, Usable: true, Duration: 20 * time.Millisecond}, evs[0])

		require.NoError(t, ks.Refresh(ctx))
		evs = got.take()
		require.Len(t, evs, 1)
		assert.Equal(t, FetchNotModified, evs[0].Result)
		assert.Equal(t, 2, evs[0].Keys)
		assert.True(t, evs[0].Usable)

		e.srv.set(serveStatus(http.StatusBadGateway))
		require.Error(t, ks.Refresh(ctx))
		evs = got.take()
		require.Len(t, evs, 1)
		assert.Equal(t, FetchFailed, evs[0].Result)
		assert.Equal(t, 2, evs[0].Keys, "the last good set is kept")
		assert.True(t, evs[0].Usable)
		require.Error(t, evs[0].Err)
		assert.ErrorContains(t, evs[0].Err, "HTTP status 502")

		// Over an hour on (retries back off to one in 5 minutes), every
		// background retry has failed; the set is no longer usable.
		time.Sleep(time.Hour + 6*time.Minute)
		synctest.Wait()
		evs = got.take()
		require.NotEmpty(t, evs)
		last := evs[len(evs)-1]
		assert.Equal(t, FetchFailed, last.Result)
		assert.False(t, last.Usable)

		e.srv.set(serveDoc(docOf(t, b)))
		require.NoError(t, ks.Refresh(ctx))
		evs = got.take()
		require.Len(t, evs, 1)
		assert.Equal(t, FetchEvent{URL: e.url, Result: FetchLoaded, Keys: 1, Usable: true}, evs[0])
	})
}
