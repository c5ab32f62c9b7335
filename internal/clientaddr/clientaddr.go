// Package clientaddr names the client of a request: its peer address, or,
// when the peer is a trusted proxy, the address the proxies report in
// X-Forwarded-For. The rate limiter keys its buckets by it and the ready
// server's access log names it, so that both agree on who the client is.
package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
)

// Of returns the client of r. When the peer (r.RemoteAddr) is in trusted,
// it walks the X-Forwarded-For hops from the right and returns the first
// hop that is not itself trusted (or the leftmost trusted one when all
// are); a malformed hop ends the walk, since nothing to its left can be
// believed. Requests from elsewhere are their peer's, whatever header they
// send, so a client cannot choose its address. Of returns the zero Addr
// when r.RemoteAddr is not an address and port (a test request, a Unix
// socket).
func Of(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := ap.Addr().Unmap()
	if !in(peer, trusted) {
		return peer
	}
	return forwarded(peer, r.Header.Values("X-Forwarded-For"), trusted)
}

// forwarded walks the X-Forwarded-For hops of headers from the right,
// starting from a trusted peer (see Of).
func forwarded(peer netip.Addr, headers []string, trusted []netip.Prefix) netip.Addr {
	client := peer
	hops := strings.Split(strings.Join(headers, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = hop.Unmap()
		if !in(client, trusted) {
			break
		}
	}
	return client
}

// in reports whether a is in one of prefixes.
func in(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
