package jwks

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxClients is how many clients a PerClientLimiter tracks at most.
const DefaultMaxClients = 100_000

// A PerClientLimiter limits how often each client may call a handler: one request
// every interval on average, with bursts of up to burst requests. Clients
// are told apart by their IP address (IPv6 addresses by their /56 network,
// what an ISP usually hands one customer), or by a key of the caller's.
//
// A PerClientLimiter is safe for concurrent use. It forgets a client once its
// bucket has filled up again, and tracks at most DefaultMaxClients clients
// (see WithMaxClients): beyond that, a new client replaces one picked at
// random, so memory stays bounded when many addresses call at once.
//
// It implements [RateLimiter]. (Moving to package ratelimit as
// ratelimit.Limiter; named PerClientLimiter here meanwhile, so that the name
// RateLimiter is free for the interface the token handler takes.)
type PerClientLimiter struct {
	every      time.Duration
	burst      int
	key        func(*http.Request) string
	proxies    []netip.Prefix
	ipv6Bits   int
	maxClients int
	now        func() time.Time

	mu        sync.Mutex // guards clients and lastSweep
	clients   map[string]*clientBucket
	lastSweep time.Time
}

type clientBucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// A RateLimitOption configures NewRateLimiter.
type RateLimitOption func(*PerClientLimiter)

// WithTrustedProxies makes the limiter read the client's address from
// X-Forwarded-For when the request comes from one of proxies (a load
// balancer, a CDN): the rightmost address of the header that is not itself a
// trusted proxy is the client. Requests from elsewhere are keyed by their
// own address, whatever header they send, so clients cannot pick their key.
func WithTrustedProxies(proxies ...netip.Prefix) RateLimitOption {
	return func(l *PerClientLimiter) { l.proxies = append(l.proxies, proxies...) }
}

// WithIPv6Prefix sets how many leading bits of an IPv6 address name a
// client (default 56; 64 for one host's network, 128 for one address).
func WithIPv6Prefix(bits int) RateLimitOption {
	return func(l *PerClientLimiter) { l.ipv6Bits = bits }
}

// WithMaxClients sets how many clients the limiter tracks at most (default
// DefaultMaxClients).
func WithMaxClients(n int) RateLimitOption {
	return func(l *PerClientLimiter) { l.maxClients = n }
}

// WithRateLimitClock sets the clock of the limiter (default time.Now), for
// tests.
func WithRateLimitClock(now func() time.Time) RateLimitOption {
	return func(l *PerClientLimiter) { l.now = now }
}

// WithClientKey keys clients by the given function instead of their address,
// such as by an API key or a user ID. Requests with the same key share a
// bucket.
func WithClientKey(key func(*http.Request) string) RateLimitOption {
	return func(l *PerClientLimiter) { l.key = key }
}

// NewRateLimiter returns a limiter that lets each client make one request
// every interval, and bursts of up to burst requests.
func NewRateLimiter(every time.Duration, burst int, opts ...RateLimitOption) (*PerClientLimiter, error) {
	l := &PerClientLimiter{
		every: every, burst: burst, ipv6Bits: 56, maxClients: DefaultMaxClients, now: time.Now,
		clients: make(map[string]*clientBucket),
	}
	for _, opt := range opts {
		opt(l)
	}
	switch {
	case every <= 0:
		return nil, errors.New("jwks: rate limit interval must be positive")
	case burst < 1:
		return nil, errors.New("jwks: rate limit burst must be at least 1")
	case every > 24*time.Hour || burst > 1_000_000:
		return nil, errors.New("jwks: rate limit interval over a day or burst over a million")
	case l.ipv6Bits < 1 || l.ipv6Bits > 128:
		return nil, errors.New("jwks: IPv6 prefix must be 1 to 128 bits")
	case l.maxClients < 1:
		return nil, errors.New("jwks: rate limiter needs room for a client")
	case l.now == nil:
		return nil, errors.New("jwks: WithRateLimitClock(nil)")
	case l.key == nil && l.proxies == nil:
		l.key = l.remoteKey
	case l.key == nil:
		l.key = l.forwardedKey
	}
	return l, nil
}

// Allow reports whether the client of r may go on now and, when it may not,
// how long it should wait.
func (l *PerClientLimiter) Allow(r *http.Request) (ok bool, retryAfter time.Duration) {
	now := l.now()
	key := l.key(r)

	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle() {
		l.sweep(now)
	}
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= l.maxClients {
			for victim := range l.clients { // map order is random
				delete(l.clients, victim)
				break
			}
		}
		b = &clientBucket{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.clients[key] = b
	}
	b.seen = now
	res := b.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// idle is how long a bucket takes to fill up: a client unseen for that long
// is forgotten without changing anything.
func (l *PerClientLimiter) idle() time.Duration {
	return l.every * time.Duration(l.burst)
}

func (l *PerClientLimiter) sweep(now time.Time) {
	for key, b := range l.clients {
		if now.Sub(b.seen) > l.idle() {
			delete(l.clients, key)
		}
	}
	l.lastSweep = now
}

// remoteKey keys a request by the address of its peer.
func (l *PerClientLimiter) remoteKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return l.addrKey(ap.Addr())
}

// addrKey is the bucket key of an address: itself for IPv4, its network of
// the configured prefix for IPv6.
func (l *PerClientLimiter) addrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(l.ipv6Bits)
		return p.String()
	}
	return a.String()
}

// forwardedKey keys a request by the client address that the trusted proxies
// report.
func (l *PerClientLimiter) forwardedKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !l.trusted(ap.Addr()) {
		return l.remoteKey(r)
	}
	client := ap.Addr()
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing to its left
		}
		client = hop
		if !l.trusted(hop) {
			break
		}
	}
	return l.addrKey(client)
}

func (l *PerClientLimiter) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
