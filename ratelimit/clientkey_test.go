package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestFrom returns a request from the peer remote, with one
// X-Forwarded-For header per forwarded value.
func requestFrom(remote string, forwarded ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, f := range forwarded {
		r.Header.Add("X-Forwarded-For", f)
	}
	return r
}

func TestClientKeys(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	behind, err := New(time.Second, 1, WithTrustedProxies(proxies...))
	require.NoError(t, err)
	plain, err := New(time.Second, 1, WithIPv6Prefix(64))
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		limiter *Limiter
		req     *http.Request
		want    string
	}{
		{"IPv4 peer", plain, requestFrom("192.0.2.7:4000"), "192.0.2.7"},
		{"IPv4-mapped IPv6 peer", plain, requestFrom("[::ffff:192.0.2.7]:4000"), "192.0.2.7"},
		{"IPv6 peer by /64", plain, requestFrom("[2001:db8:1:2:3:4:5:6]:1"), "2001:db8:1:2::/64"},
		{"IPv6 peer by /56", behind, requestFrom("[2001:db8:1:2ff:3:4:5:6]:1"), "2001:db8:1:200::/56"},
		{"X-Forwarded-For without trusted proxies is ignored", plain, requestFrom("192.0.2.7:1", "203.0.113.9"), "192.0.2.7"},
		{"X-Forwarded-For from an untrusted peer is ignored", behind, requestFrom("192.0.2.7:1", "203.0.113.9"), "192.0.2.7"},
		{"client behind a trusted proxy", behind, requestFrom("10.1.2.3:1", "203.0.113.9"), "203.0.113.9"},
		{"rightmost untrusted hop", behind, requestFrom("10.1.2.3:1", "198.51.100.1, 203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"hops in several headers", behind, requestFrom("10.1.2.3:1", "198.51.100.1", "203.0.113.9"), "203.0.113.9"},
		{"malformed hop stops the walk", behind, requestFrom("10.1.2.3:1", "198.51.100.1, garbage, 10.2.2.2"), "10.2.2.2"},
		{"only proxies", behind, requestFrom("10.1.2.3:1", "10.2.2.2"), "10.2.2.2"},
		{"no header behind a proxy", behind, requestFrom("10.1.2.3:1"), "10.1.2.3"},
		{"IPv6 client behind an IPv6 proxy", behind, requestFrom("[fd00::1]:1", "2001:db8::1"), "2001:db8::/56"},
		{"IPv4-mapped trusted peer", behind, requestFrom("[::ffff:10.1.2.3]:1", "203.0.113.9"), "203.0.113.9"},
		{"unparsable peer", plain, requestFrom("pipe"), "pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.limiter.key(tc.req))
		})
	}
}
