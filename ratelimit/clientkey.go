package ratelimit

import (
	"net/http"
	"net/netip"

	"github.com/powersync-jwks/jwks/internal/clientaddr"
)

// addressKey keys a request by its client's address: the peer's, or the
// one the trusted proxies report when the peer is one of them (see
// clientaddr.Of). A peer that is not an address keys by its own text.
func (l *Limiter) addressKey(r *http.Request) string {
	a := clientaddr.Of(r, l.proxies)
	if !a.IsValid() {
		return r.RemoteAddr
	}
	return l.addrKey(a)
}

// addrKey is the bucket key of an address: itself for IPv4 (and an
// IPv4-mapped IPv6 address), its network of the configured prefix for IPv6.
func (l *Limiter) addrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(l.ipv6Bits)
		return p.String()
	}
	return a.String()
}
