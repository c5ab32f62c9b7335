package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// addressKey keys a request by its client's address: the peer's, or the
// one the trusted proxies report when the peer is one of them.
func (l *Limiter) addressKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	peer := ap.Addr()
	if !l.trusted(peer) {
		return l.addrKey(peer)
	}
	return l.addrKey(l.forwardedClient(peer, r.Header.Values("X-Forwarded-For")))
}

// forwardedClient walks the X-Forwarded-For hops from the right, starting
// from a trusted peer, and returns the first hop that is not a trusted
// proxy (or the leftmost trusted one when all are). A malformed hop ends the
// walk: nothing to its left can be trusted.
func (l *Limiter) forwardedClient(peer netip.Addr, headers []string) netip.Addr {
	client := peer
	hops := strings.Split(strings.Join(headers, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = hop
		if !l.trusted(hop) {
			break
		}
	}
	return client
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

// trusted reports whether a is the address of a trusted proxy.
func (l *Limiter) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
