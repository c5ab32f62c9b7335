package clientaddr

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOf(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string // "" for the zero Addr
	}{
		{"a peer that is no proxy", "203.0.113.7:4000", nil, "203.0.113.7"},
		{"a peer that is no proxy cannot name another client", "203.0.113.7:4000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"a trusted proxy names the client", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the rightmost untrusted hop", "10.1.2.3:4000", []string{"192.0.2.9, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"hops across header lines", "10.1.2.3:4000", []string{"192.0.2.9", "198.51.100.1"}, "198.51.100.1"},
		{"a malformed hop ends the walk", "10.1.2.3:4000", []string{"192.0.2.9, junk, 10.9.9.9"}, "10.9.9.9"},
		{"all hops trusted: the leftmost", "10.1.2.3:4000", []string{"10.5.5.5, 10.9.9.9"}, "10.5.5.5"},
		{"a trusted proxy without the header", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 loopback proxy", "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"an IPv4-mapped peer is unmapped", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"an IPv4-mapped hop is unmapped", "10.1.2.3:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"not an address", "pipe", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := Of(r, proxies)
			if tc.want == "" {
				assert.False(t, got.IsValid(), "got %v", got)
				return
			}
			assert.Equal(t, netip.MustParseAddr(tc.want), got)
		})
	}
}
