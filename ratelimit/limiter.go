package ratelimit

import (
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxClients is how many clients a [Limiter] tracks at most, unless
// [WithMaxClients] says otherwise.
const DefaultMaxClients = 100_000

// defaultIPv6Prefix is how many leading bits of an IPv6 address name a
// client: a /56 is what an ISP usually hands one customer.
const defaultIPv6Prefix = 56

// A Limiter limits how often each client may make a request: one request
// every interval on average, with bursts of up to burst requests. See the
// package documentation for how clients are told apart.
//
// A Limiter is safe for concurrent use; its configuration does not change
// after [New].
type Limiter struct {
	every      time.Duration
	burst      int
	key        func(*http.Request) string
	proxies    []netip.Prefix
	ipv6Bits   int
	maxClients int

	mu        sync.Mutex // guards clients and lastSweep
	clients   map[string]*bucket
	lastSweep time.Time
}

// bucket is the token bucket of one client.
type bucket struct {
	limiter *rate.Limiter
	seen    time.Time // the client's last request
}

// An Option configures [New].
type Option func(*Limiter)

// WithTrustedProxies makes the limiter read the client's address from
// X-Forwarded-For when the request comes from one of proxies (a load
// balancer, a CDN): the rightmost address of the header that is not itself
// a trusted proxy is the client. Requests from elsewhere are keyed by their
// own address, whatever header they send, so clients cannot pick their key.
// It has no effect with [WithClientKey].
func WithTrustedProxies(proxies ...netip.Prefix) Option {
	return func(l *Limiter) { l.proxies = append(l.proxies, proxies...) }
}

// WithIPv6Prefix sets how many leading bits of an IPv6 address name a
// client: 1 to 128, default 56; 64 for one host's network, 128 for one
// address.
func WithIPv6Prefix(bits int) Option {
	return func(l *Limiter) { l.ipv6Bits = bits }
}

// WithMaxClients sets how many clients the limiter tracks at most (default
// [DefaultMaxClients]).
func WithMaxClients(n int) Option {
	return func(l *Limiter) { l.maxClients = n }
}

// WithClientKey keys clients by the given function instead of their
// address, such as by an API key or a user ID: requests with the same key
// share a bucket. The function must be safe for concurrent use. Nil keys
// clients by their address (the default).
func WithClientKey(key func(r *http.Request) string) Option {
	return func(l *Limiter) { l.key = key }
}

// New returns a limiter that lets each client make one request every
// interval on average, and bursts of up to burst requests. It returns an
// error for an interval that is not positive or is over a day, a burst
// under 1 or over a million, and options out of range.
func New(every time.Duration, burst int, opts ...Option) (*Limiter, error) {
	l := &Limiter{
		every:      every,
		burst:      burst,
		ipv6Bits:   defaultIPv6Prefix,
		maxClients: DefaultMaxClients,
		clients:    make(map[string]*bucket),
	}
	for _, opt := range opts {
		opt(l)
	}
	switch {
	case every <= 0:
		return nil, errors.New("ratelimit: interval must be positive")
	case burst < 1:
		return nil, errors.New("ratelimit: burst must be at least 1")
	case every > 24*time.Hour || burst > 1_000_000:
		return nil, errors.New("ratelimit: interval over a day or burst over a million")
	case l.ipv6Bits < 1 || l.ipv6Bits > 128:
		return nil, errors.New("ratelimit: IPv6 prefix must be 1 to 128 bits")
	case l.maxClients < 1:
		return nil, errors.New("ratelimit: the limiter needs room for at least one client")
	}
	for _, p := range l.proxies {
		if !p.IsValid() {
			return nil, errors.New("ratelimit: invalid trusted proxy prefix")
		}
	}
	if l.key == nil {
		l.key = l.addressKey
	}
	return l, nil
}

// Allow reports whether the client of r may go on now and, when it may
// not, how long it should wait before it tries again. A refused request
// does not count against the client.
func (l *Limiter) Allow(r *http.Request) (ok bool, retryAfter time.Duration) {
	now := time.Now()
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
		b = &bucket{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
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

// idle is how long a bucket takes to fill up: a client unseen for that
// long is forgotten without changing anything.
func (l *Limiter) idle() time.Duration {
	return l.every * time.Duration(l.burst)
}

// sweep forgets the clients whose buckets are full again. l.mu must be held.
func (l *Limiter) sweep(now time.Time) {
	for key, b := range l.clients {
		if now.Sub(b.seen) > l.idle() {
			delete(l.clients, key)
		}
	}
	l.lastSweep = now
}
