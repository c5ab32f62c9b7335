package supabase_test

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/remote"
	"github.com/powersync-jwks/jwks/supabase"
)

// calls collects the events of an observer.
type calls struct {
	mu     sync.Mutex
	events []supabase.UserCallEvent // guarded by mu
}

func (c *calls) observe(ev supabase.UserCallEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

// take returns the events so far, and forgets them.
func (c *calls) take() []supabase.UserCallEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.events
	c.events = nil
	return out
}

func TestObserver(t *testing.T) {
	t.Run("strict", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
			sb.SetDelay(15*time.Millisecond, supabasetest.EndpointUser)
			var got calls
			a := newAuthenticator(t, sb, supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey()),
				supabase.WithObserver(got.observe), supabase.WithUserTimeout(time.Second))
			alice := sb.NewUser()
			sess := sb.SignIn(alice)
			tok := sess.AccessToken()

			_, err := a.Authenticate(requestWith(tok))
			require.NoError(t, err)
			assert.Equal(t, []supabase.UserCallEvent{{Cause: supabase.CallStrict, Status: http.StatusOK, Duration: 15 * time.Millisecond}}, got.take())

			sb.RevokeSession(sess.ID())
			_, err = a.Authenticate(requestWith(tok))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated)
			evs := got.take()
			require.Len(t, evs, 1)
			assert.Equal(t, http.StatusForbidden, evs[0].Status)
			assert.Equal(t, err, evs[0].Err, "the event carries the verdict")

			sb.SetFailure(supabasetest.Hang, supabasetest.EndpointUser)
			_, err = a.Authenticate(requestWith(sb.Token(alice)))
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			evs = got.take()
			require.Len(t, evs, 1)
			assert.Zero(t, evs[0].Status, "no answer came")
			assert.Equal(t, time.Second, evs[0].Duration, "the timeout")
			require.ErrorIs(t, evs[0].Err, jwks.ErrUnavailable)

			// Tokens refused locally cost no call, and no event.
			_, err = a.Authenticate(requestWith(sb.Token(alice, supabasetest.Expired())))
			require.Error(t, err)
			assert.Empty(t, got.take())
		})
	})

	t.Run("HS256 without the legacy secret", func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithoutSigningKeys())
		var got calls
		a := newAuthenticator(t, sb, supabase.WithAPIKey(sb.AnonKey()), supabase.WithObserver(got.observe))
		_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
		require.NoError(t, err)
		evs := got.take()
		require.Len(t, evs, 1)
		assert.Equal(t, supabase.CallHS256, evs[0].Cause)
		assert.Equal(t, http.StatusOK, evs[0].Status)
		assert.NoError(t, evs[0].Err)
	})

	t.Run("the JWKS through WithJWKSOptions", func(t *testing.T) {
		sb := supabasetest.New(t)
		fetched := make(chan remote.FetchEvent, 10)
		a := newAuthenticator(t, sb, supabase.WithJWKSOptions(remote.WithObserver(func(ev remote.FetchEvent) { fetched <- ev })))
		_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
		require.NoError(t, err)
		ev := <-fetched
		assert.Equal(t, remote.FetchLoaded, ev.Result)
		assert.Equal(t, sb.JWKSURL(), ev.URL)
		assert.Equal(t, 1, ev.Keys)
		assert.True(t, ev.Usable)
	})
}
