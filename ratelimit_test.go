package jwks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requestFrom(remote string, forwarded ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, f := range forwarded {
		r.Header.Add("X-Forwarded-For", f)
	}
	return r
}

func TestRateLimiterClientKeys(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	l, err := NewRateLimiter(time.Second, 1, WithTrustedProxies(proxies...))
	require.NoError(t, err)
	plain, err := NewRateLimiter(time.Second, 1, WithIPv6Prefix(64))
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		limiter *PerClientLimiter
		req     *http.Request
		want    string
	}{
		{"IPv4 peer", plain, requestFrom("192.0.2.7:4000"), "192.0.2.7"},
		{"IPv4-mapped IPv6 peer", plain, requestFrom("[::ffff:192.0.2.7]:4000"), "192.0.2.7"},
		{"IPv6 peer by /64", plain, requestFrom("[2001:db8:1:2:3:4:5:6]:1"), "2001:db8:1:2::/64"},
		{"IPv6 peer by /56", l, requestFrom("[2001:db8:1:2ff:3:4:5:6]:1"), "2001:db8:1:200::/56"},
		{"X-Forwarded-For from an untrusted peer is ignored", l, requestFrom("192.0.2.7:1", "203.0.113.9"), "192.0.2.7"},
		{"client behind a trusted proxy", l, requestFrom("10.1.2.3:1", "203.0.113.9"), "203.0.113.9"},
		{"rightmost untrusted hop", l, requestFrom("10.1.2.3:1", "198.51.100.1, 203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"hops in several headers", l, requestFrom("10.1.2.3:1", "198.51.100.1", "203.0.113.9"), "203.0.113.9"},
		{"malformed hop stops the walk", l, requestFrom("10.1.2.3:1", "198.51.100.1, garbage, 10.2.2.2"), "10.2.2.2"},
		{"only proxies", l, requestFrom("10.1.2.3:1", "10.2.2.2"), "10.2.2.2"},
		{"no header behind a proxy", l, requestFrom("10.1.2.3:1"), "10.1.2.3"},
		{"IPv6 client behind an IPv6 proxy", l, requestFrom("[fd00::1]:1", "2001:db8::1"), "2001:db8::/56"},
		{"unparsable peer", plain, requestFrom("pipe"), "pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.limiter.key(tc.req))
		})
	}
}

func TestRateLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l, err := NewRateLimiter(time.Minute, 2, WithMaxClients(50), WithRateLimitClock(func() time.Time { return now }))
	require.NoError(t, err)
	for i := range 1000 {
		ok, _ := l.Allow(requestFrom(fmt.Sprintf("198.51.%d.%d:1", i/256, i%256)))
		require.True(t, ok)
		assert.LessOrEqual(t, len(l.clients), 50)
	}

	// Buckets that have filled up again are forgotten.
	now = now.Add(3 * time.Minute)
	ok, _ := l.Allow(requestFrom("192.0.2.1:1"))
	require.True(t, ok)
	assert.Len(t, l.clients, 1)
}

func TestRateLimiterRefill(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l, err := NewRateLimiter(10*time.Second, 2, WithRateLimitClock(func() time.Time { return now }))
	require.NoError(t, err)
	r := requestFrom("192.0.2.1:1")
	for range 2 {
		ok, _ := l.Allow(r)
		require.True(t, ok)
	}
	ok, wait := l.Allow(r)
	require.False(t, ok)
	assert.Equal(t, 10*time.Second, wait)

	now = now.Add(4 * time.Second)
	ok, wait = l.Allow(r)
	require.False(t, ok, "a refused request does not spend a token")
	assert.InDelta(t, 6*time.Second, wait, float64(time.Millisecond))
	now = now.Add(6 * time.Second)
	ok, _ = l.Allow(r)
	assert.True(t, ok)
}

func TestNewRateLimiterOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		burst int
		opts  []RateLimitOption
		want  string
	}{
		{"interval over a day", 25 * time.Hour, 1, nil, "over a day"},
		{"IPv6 prefix 0", time.Second, 1, []RateLimitOption{WithIPv6Prefix(0)}, "IPv6 prefix"},
		{"IPv6 prefix 129", time.Second, 1, []RateLimitOption{WithIPv6Prefix(129)}, "IPv6 prefix"},
		{"no clients", time.Second, 1, []RateLimitOption{WithMaxClients(0)}, "room"},
		{"nil clock", time.Second, 1, []RateLimitOption{WithRateLimitClock(nil)}, "Clock(nil)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRateLimiter(tc.every, tc.burst, tc.opts...)
			require.ErrorContains(t, err, tc.want)
		})
	}
	l, err := NewRateLimiter(time.Second, 1, WithClientKey(func(r *http.Request) string { return r.Header.Get("X-Device") }))
	require.NoError(t, err)
	a, b := requestFrom("192.0.2.1:1"), requestFrom("192.0.2.1:1")
	a.Header.Set("X-Device", "a")
	b.Header.Set("X-Device", "b")
	ok, _ := l.Allow(a)
	assert.True(t, ok)
	ok, _ = l.Allow(b)
	assert.True(t, ok, "keyed by device, not address")
	ok, _ = l.Allow(a)
	assert.False(t, ok)
}
