package remote

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of [New].
const (
	defaultFetchTimeout    = 10 * time.Second
	defaultMaxDocumentSize = 1 << 20
	defaultRefreshInterval = 5 * time.Minute
	defaultMaxStaleness    = time.Hour
	defaultMinMaxAge       = time.Minute
	defaultMaxMaxAge       = 10 * time.Minute
	defaultRefetchEvery    = time.Minute
	defaultRefetchBurst    = 10
)

// An Option configures [New].
type Option func(*config)

// config is what the options set. Every field has its default before the
// options apply (see New).
type config struct {
	client         *http.Client
	timeout        time.Duration
	maxSize        int64
	interval       time.Duration
	minAge, maxAge time.Duration
	maxStale       time.Duration
	refetchEvery   time.Duration
	refetchBurst   int
	log            *slog.Logger
	observe        func(FetchEvent) // nil: no observer
	sameOrigin     bool             // redirects within the JWKS URL's origin are followed
}

func defaultConfig() config {
	return config{
		client:       http.DefaultClient,
		timeout:      defaultFetchTimeout,
		maxSize:      defaultMaxDocumentSize,
		interval:     defaultRefreshInterval,
		minAge:       defaultMinMaxAge,
		maxAge:       defaultMaxMaxAge,
		maxStale:     defaultMaxStaleness,
		refetchEvery: defaultRefetchEvery,
		refetchBurst: defaultRefetchBurst,
	}
}

// WithHTTPClient sets the client that fetches the key set (default
// [http.DefaultClient]). Its own Timeout, if any, applies on top of
// [WithFetchTimeout]. The key set fetches with a copy of c whose
// CheckRedirect is replaced, so that no redirect is followed (see
// [WithSameOriginRedirects]); c itself is not changed.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *config) { cfg.client = c }
}

// WithSameOriginRedirects lets a fetch follow redirects (at most 10) that
// stay on the scheme, host and port of the JWKS URL, so never from https to
// http. By default no redirect is followed: PowerSync accepts nothing but a
// 2xx from a JWKS URL, and a redirect could hand the key set over to
// another host. A redirect that is not followed is a failed fetch.
func WithSameOriginRedirects() Option {
	return func(cfg *config) { cfg.sameOrigin = true }
}

// WithFetchTimeout bounds each fetch of the key set, from the request to the
// last byte of the body (default 10 seconds).
func WithFetchTimeout(d time.Duration) Option {
	return func(cfg *config) { cfg.timeout = d }
}

// WithMaxDocumentSize sets the largest key set document accepted, in bytes
// (default 1 MiB). A larger response is refused whole, as is one whose
// "keys" array holds more than [MaxDocumentEntries] entries, whatever its
// size.
func WithMaxDocumentSize(n int64) Option {
	return func(cfg *config) { cfg.maxSize = n }
}

// WithRefreshInterval sets how often the key set is fetched in the
// background when the response has no Cache-Control max-age (default 5
// minutes, PowerSync's own period).
func WithRefreshInterval(d time.Duration) Option {
	return func(cfg *config) { cfg.interval = d }
}

// WithMaxAgeBounds sets the bounds within which a response's Cache-Control
// max-age (less its Age) replaces the refresh interval (default 1 to 10
// minutes: Supabase's max-age=600 gives a refresh every 10 minutes, and a
// server sending max-age=0 or no-cache is fetched once a minute).
func WithMaxAgeBounds(lo, hi time.Duration) Option {
	return func(cfg *config) { cfg.minAge, cfg.maxAge = lo, hi }
}

// WithMaxStaleness sets how long after the last good fetch the key set is
// still used while fetches fail (default 1 hour, as PowerSync). Beyond it,
// [KeySet.LookupKey] fails with [jwks.ErrUnavailable] until a fetch
// succeeds.
func WithMaxStaleness(d time.Duration) Option {
	return func(cfg *config) { cfg.maxStale = d }
}

// WithUnknownKeyRefetch rate-limits the fetches that [KeySet.LookupKey]
// starts for a key ID it does not know (or when it has no usable key set):
// at most burst at once, then one every interval (default 10, then one a
// minute, as PowerSync). A burst of 0 turns them off: only the background
// refresh and [KeySet.Refresh] fetch.
func WithUnknownKeyRefetch(every time.Duration, burst int) Option {
	return func(cfg *config) { cfg.refetchEvery, cfg.refetchBurst = every, burst }
}

// WithLogger sets the logger for failed fetches, refused documents and
// skipped keys (nil, the default, is [slog.Default] at the time of [New]: a
// JWKS that cannot be read is worth an operator's attention). Records name
// the URL, key IDs and reasons, never key material. Skipped keys are logged
// when a document other than the last good one is read, the first five one
// by one and the others counted.
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) { cfg.log = l }
}

// check refuses a configuration New cannot work with.
func (c *config) check() error {
	switch {
	case c.client == nil:
		return errors.New("remote: WithHTTPClient(nil)")
	case c.timeout <= 0:
		return errors.New("remote: the fetch timeout must be positive")
	case c.maxSize <= 0:
		return errors.New("remote: the maximum document size must be positive")
	case c.interval <= 0:
		return errors.New("remote: the refresh interval must be positive")
	case c.minAge <= 0 || c.maxAge < c.minAge:
		return errors.New("remote: max-age bounds must be positive, the minimum no larger than the maximum")
	case c.maxStale <= 0:
		return errors.New("remote: the maximum staleness must be positive")
	case c.refetchEvery <= 0 || c.refetchBurst < 0:
		return errors.New("remote: the unknown key refetch rate needs a positive interval and a burst of 0 or more")
	}
	return nil
}
