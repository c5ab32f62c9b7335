package supabase_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/remote"
	"github.com/powersync-jwks/jwks/supabase"
)

func TestUser(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser(supabasetest.Email("alice@example.com"), supabasetest.Phone("15550100"))
	for _, mode := range []struct {
		name string
		opts []supabase.Option
	}{
		{"local", nil},
		{"strict", []supabase.Option{supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey())}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			a := newAuthenticator(t, sb, mode.opts...)
			u, err := a.User(requestWith(sb.Token(alice)))
			require.NoError(t, err)
			assert.Equal(t, alice.ID, u.ID)
			assert.Equal(t, "authenticated", u.Role)
			assert.Equal(t, "alice@example.com", u.Email)
			assert.Equal(t, "15550100", u.Phone)
			assert.False(t, u.IsAnonymous)
			assert.NotEmpty(t, u.SessionID)
			assert.Equal(t, "aal1", u.AAL)
			assert.Equal(t, "email", u.AppMetadata["provider"])
			assert.Equal(t, alice.ID, u.Claims.Subject)
		})
	}
}

func TestStrictModeSeesRevocation(t *testing.T) {
	sb := supabasetest.New(t)
	strict := newAuthenticator(t, sb, supabase.WithStrict(), supabase.WithAPIKey(sb.PublishableKey()))
	local := newAuthenticator(t, sb)

	alice, bob, carol := sb.NewUser(), sb.NewUser(), sb.NewUser()
	aliceSession := sb.SignIn(alice)
	aliceToken := aliceSession.AccessToken()
	bobToken, carolToken := sb.Token(bob), sb.Token(carol)
	for _, tok := range []string{aliceToken, bobToken, carolToken} {
		_, err := strict.Authenticate(requestWith(tok))
		require.NoError(t, err)
	}

	sb.RevokeSession(aliceSession.ID())
	sb.DeleteUser(bob.ID)
	sb.BanUser(carol.ID, time.Hour)
	for name, tok := range map[string]string{"revoked session": aliceToken, "deleted user": bobToken, "banned user": carolToken} {
		t.Run(name, func(t *testing.T) {
			_, err := strict.Authenticate(requestWith(tok))
			require.ErrorIs(t, err, jwks.ErrUnauthenticated)
			assert.ErrorContains(t, err, "/auth/v1/user answered 403")
			assert.NotContains(t, err.Error(), tok)
			_, err = local.Authenticate(requestWith(tok))
			require.NoError(t, err, "local verification trusts the token until it expires")
		})
	}
}

func TestUserEndpointFailures(t *testing.T) {
	for _, failure := range []struct {
		name  string
		apply func(sb *supabasetest.Server)
	}{
		{"slow", func(sb *supabasetest.Server) { sb.SetDelay(2*time.Second, supabasetest.EndpointUser) }},
		{"hanging", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Hang, supabasetest.EndpointUser) }},
		{"503", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser) }},
		{"connection reset", func(sb *supabasetest.Server) { sb.SetFailure(supabasetest.Reset, supabasetest.EndpointUser) }},
	} {
		t.Run(failure.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
				a := newAuthenticator(t, sb, supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey()),
					supabase.WithUserTimeout(200*time.Millisecond))
				tk := newTokens(t)
				tok := sb.Token(sb.NewUser())
				_, err := a.Authenticate(requestWith(tok)) // the JWKS is fetched
				require.NoError(t, err)
				failure.apply(sb)

				start := time.Now()
				_, err = a.Authenticate(requestWith(tok))
				require.ErrorIs(t, err, jwks.ErrUnavailable)
				assert.LessOrEqual(t, time.Since(start), 200*time.Millisecond, "the timeout bounds the wait")
				assert.NotContains(t, err.Error(), tok)
				assert.NotContains(t, err.Error(), sb.AnonKey())

				rec, logs := tk.serve(t, a, tok)
				requireJSONError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable")
				assert.NotContains(t, logs, tok)
				assert.NotContains(t, logs, sb.AnonKey())
			})
		})
	}
}

func TestJWKSFailures(t *testing.T) {
	t.Run("down from the start", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
			sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
			a := newAuthenticator(t, sb)
			tk := newTokens(t)
			tok := sb.Token(sb.NewUser())
			rec, logs := tk.serve(t, a, tok)
			requireJSONError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable")
			assert.Contains(t, logs, "level=WARN")

			// Requests that need no upstream get their 401 at once.
			rec, _ = tk.serve(t, a, "")
			requireJSONError(t, rec, http.StatusUnauthorized, "invalid_request")
			rec, _ = tk.serve(t, a, sb.PublishableKey())
			requireJSONError(t, rec, http.StatusUnauthorized, "invalid_token")

			// Supabase comes up; the JWKS is fetched again in the
			// background, a second after the last failure at the latest.
			sb.Restore()
			time.Sleep(time.Second)
			synctest.Wait()
			assert.NotEmpty(t, a.JWKS().KeyIDs())
			jwksRequests := sb.JWKSRequests()
			rec, _ = tk.serve(t, a, tok)
			tk.requireToken(t, rec)
			assert.Equal(t, jwksRequests, sb.JWKSRequests(), "served from the fetched set")
		})
	})

	t.Run("down after a good fetch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
			a := newAuthenticator(t, sb)
			tok := sb.Token(sb.NewUser(), supabasetest.Lifetime(7*24*time.Hour))
			_, err := a.Authenticate(requestWith(tok))
			require.NoError(t, err)

			sb.SetFailure(supabasetest.Reset, supabasetest.EndpointJWKS)
			require.ErrorIs(t, a.JWKS().Refresh(context.Background()), jwks.ErrUnavailable)
			_, err = a.Authenticate(requestWith(tok))
			require.NoError(t, err, "the last good key set stays in use")

			time.Sleep(time.Hour + time.Second)
			_, err = a.Authenticate(requestWith(tok))
			require.ErrorIs(t, err, jwks.ErrUnavailable, "until it is an hour old")
		})
	})

	// Supabase rotates its key and becomes unreachable before the cached
	// JWKS has the new one: a token of the new key may be good, so the
	// caller is told to try again (503), not refused (401).
	for name, failure := range map[string]supabasetest.Failure{
		"503": supabasetest.Unavailable, "connection reset": supabasetest.Reset, "no answer": supabasetest.Hang,
	} {
		t.Run("unknown kid while down: "+name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
				a := newAuthenticator(t, sb, supabase.WithJWKSOptions(remote.WithFetchTimeout(2*time.Second)))
				tk := newTokens(t)
				alice := sb.NewUser()
				old := sb.Token(alice)
				_, err := a.Authenticate(requestWith(old))
				require.NoError(t, err)

				sb.RotateKeys()
				fresh := sb.Token(alice)
				sb.SetFailure(failure, supabasetest.EndpointJWKS)
				_, err = a.Authenticate(requestWith(fresh))
				require.ErrorIs(t, err, jwks.ErrUnavailable)
				assert.NotErrorIs(t, err, jwks.ErrUnauthenticated)
				rec, logs := tk.serve(t, a, fresh)
				requireJSONError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable")
				assert.NotEmpty(t, rec.Header().Get("Retry-After"))
				assert.Contains(t, logs, "level=WARN")

				_, err = a.Authenticate(requestWith(old))
				require.NoError(t, err, "the cached key still verifies")
				rec, _ = tk.serve(t, a, sb.Token(alice, supabasetest.SignedByUnknownKey()))
				requireJSONError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable")

				sb.Restore()
				time.Sleep(time.Minute) // the refetch rate and the background retries
				rec, _ = tk.serve(t, a, fresh)
				tk.requireToken(t, rec)
				rec, _ = tk.serve(t, a, sb.Token(alice, supabasetest.SignedByUnknownKey()))
				requireJSONError(t, rec, http.StatusUnauthorized, "invalid_token")
			})
		})
	}
}

func TestKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
		a := newAuthenticator(t, sb)
		alice := sb.NewUser()
		old := sb.Token(alice)
		_, err := a.Authenticate(requestWith(old))
		require.NoError(t, err)
		fetches := sb.JWKSRequests()

		oldKID := sb.CurrentKeyID()
		sb.RotateKeys()
		fresh := sb.Token(alice)
		_, err = a.Authenticate(requestWith(fresh))
		require.NoError(t, err, "an unknown kid makes the key set refresh")
		assert.Equal(t, fetches+1, sb.JWKSRequests())

		// GoTrue's max-age=600: the old key stops verifying at the first
		// refresh after it leaves the JWKS.
		sb.RevokeKey(oldKID)
		time.Sleep(10*time.Minute - time.Nanosecond)
		_, err = a.Authenticate(requestWith(old))
		require.NoError(t, err)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		_, err = a.Authenticate(requestWith(old))
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
	})
}

func TestJWKSOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := supabasetest.New(t, supabasetest.WithInMemoryNetwork())
		logs := &testkit.LogBuffer{}
		a := newAuthenticator(t, sb, supabase.WithJWKSOptions(
			remote.WithMaxAgeBounds(time.Second, time.Minute), remote.WithLogger(logs.Logger())))
		_, err := a.Authenticate(requestWith(sb.Token(sb.NewUser())))
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 2, sb.JWKSRequests(), "max-age=600 lowered to the bound of a minute")
		assert.Contains(t, logs.String(), "remote: key set loaded", "the JWKS options' logger replaces the package's")
	})
}
