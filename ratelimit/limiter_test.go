package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(10*time.Second, 2)
		require.NoError(t, err)
		r := requestFrom("192.0.2.1:1")
		for range 2 {
			ok, wait := l.Allow(r)
			require.True(t, ok)
			assert.Zero(t, wait)
		}
		ok, wait := l.Allow(r)
		require.False(t, ok)
		assert.Equal(t, 10*time.Second, wait)

		time.Sleep(4 * time.Second)
		ok, wait = l.Allow(r)
		require.False(t, ok, "a refused request does not spend a token")
		assert.Equal(t, 6*time.Second, wait.Round(time.Millisecond), "x/time/rate counts tokens in float64")

		time.Sleep(6 * time.Second)
		ok, _ = l.Allow(r)
		assert.True(t, ok)
		ok, wait = l.Allow(r)
		assert.False(t, ok, "one token came back in 10 s, not two")
		assert.Equal(t, 10*time.Second, wait)

		time.Sleep(20 * time.Second)
		for range 2 {
			ok, _ = l.Allow(r)
			assert.True(t, ok, "the bucket refills up to the burst")
		}
	})
}

func TestClientsHaveTheirOwnBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(time.Hour, 1)
		require.NoError(t, err)
		ok, _ := l.Allow(requestFrom("192.0.2.1:1000"))
		require.True(t, ok)
		ok, _ = l.Allow(requestFrom("192.0.2.1:1001"))
		assert.False(t, ok, "the port does not make another client")
		ok, _ = l.Allow(requestFrom("192.0.2.2:1000"))
		assert.True(t, ok)
		ok, _ = l.Allow(requestFrom("[2001:db8::1]:1"))
		assert.True(t, ok)
		ok, _ = l.Allow(requestFrom("[2001:db8::2]:1"))
		assert.False(t, ok, "one /56 is one client")
		ok, _ = l.Allow(requestFrom("[2001:db8:0:100::1]:1"))
		assert.True(t, ok, "another /56 is another client")
	})
}

func TestMemoryIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(time.Minute, 2, WithMaxClients(50))
		require.NoError(t, err)
		for i := range 1000 {
			ok, _ := l.Allow(requestFrom(fmt.Sprintf("198.51.%d.%d:1", i/256, i%256)))
			require.True(t, ok)
			assert.LessOrEqual(t, len(l.clients), 50)
		}

		// Buckets that have filled up again are forgotten.
		time.Sleep(3 * time.Minute)
		ok, _ := l.Allow(requestFrom("192.0.2.1:1"))
		require.True(t, ok)
		assert.Len(t, l.clients, 1)
	})
}

func TestClientKeyOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(time.Second, 1, WithClientKey(func(r *http.Request) string { return r.Header.Get("X-Device") }))
		require.NoError(t, err)
		a, b := requestFrom("192.0.2.1:1"), requestFrom("192.0.2.1:1")
		a.Header.Set("X-Device", "a")
		b.Header.Set("X-Device", "b")
		ok, _ := l.Allow(a)
		assert.True(t, ok)
		ok, _ = l.Allow(b)
		assert.True(t, ok, "keyed by device, not address")
		ok, wait := l.Allow(a)
		assert.False(t, ok)
		assert.Equal(t, time.Second, wait)
	})
}

func TestNewRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		burst int
		opts  []Option
		want  string
	}{
		{"zero interval", 0, 1, nil, "interval must be positive"},
		{"negative interval", -time.Second, 1, nil, "interval must be positive"},
		{"zero burst", time.Second, 0, nil, "burst must be at least 1"},
		{"interval over a day", 25 * time.Hour, 1, nil, "over a day"},
		{"burst over a million", time.Second, 1_000_001, nil, "over a million"},
		{"IPv6 prefix 0", time.Second, 1, []Option{WithIPv6Prefix(0)}, "IPv6 prefix"},
		{"IPv6 prefix 129", time.Second, 1, []Option{WithIPv6Prefix(129)}, "IPv6 prefix"},
		{"no clients", time.Second, 1, []Option{WithMaxClients(0)}, "room"},
		{"zero proxy prefix", time.Second, 1, []Option{WithTrustedProxies(netip.Prefix{})}, "trusted proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.every, tc.burst, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			assert.Regexp(t, "^ratelimit: ", err.Error())
			assert.Nil(t, l)
		})
	}
}
