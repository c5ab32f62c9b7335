package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/keyid"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/redirect"
)

// firstRetryDelay is the wait before the refresh goroutine tries again
// after a failed fetch; it doubles with each failure, up to the refresh
// interval.
const firstRetryDelay = time.Second

// A KeySet is a [jwks.KeySource] that reads a JSON Web Key Set from a URL,
// such as Supabase's https://<ref>.supabase.co/auth/v1/.well-known/jwks.json
// or the JWKS handler ([jwks.NewJWKSHandler]) of another service.
//
// It keeps the last good key set in memory and refreshes it in the
// background (see the package documentation for when, and what it
// refuses). A [KeySet.LookupKey] for a key ID the set does not hold fetches
// the set again, once for all the callers waiting for it, and at a limited
// rate ([WithUnknownKeyRefetch]), so that tokens naming random key IDs
// cannot turn into a flood of requests.
//
// A KeySet is made by [New] (the zero value is not usable) and is safe for
// concurrent use. LookupKey reads an immutable snapshot of the set without
// taking a lock; at most one fetch is in flight at any time, and every
// caller that needs one waits for that one.
type KeySet struct {
	url string
	ctx context.Context // the caller's: its end stops the refresh goroutine and cancels fetches
	cfg config

	limiter *rate.Limiter // the fetches LookupKey begins; safe for concurrent use

	snap atomic.Pointer[snapshot] // the last good set; nil before the first good fetch

	mu     sync.Mutex               // serialises the beginning of fetches, in start
	latest atomic.Pointer[inflight] // the fetch begun last, nil before the first; stored with mu held

	stopped chan struct{} // closed when the refresh goroutine returns
}

var _ jwks.KeySource = (*KeySet)(nil)

// snapshot is one immutable state of a KeySet, as of one good fetch.
type snapshot struct {
	keys    map[string]*jwks.Key // by key ID
	kids    []string             // the keys' IDs, sorted
	etag    string               // of the document the keys came from, for If-None-Match
	sum     [sha256.Size]byte    // of that document, whose skipped keys are logged only once
	fetched time.Time            // of the last good fetch (a 304 counts)
	refresh time.Duration        // when to fetch again, after fetched

	notModified bool // the fetch was a 304 Not Modified, which kept the keys
}

// key returns the key with the given ID; s may be nil.
func (s *snapshot) key(kid string) (*jwks.Key, bool) {
	if s == nil {
		return nil, false
	}
	k, ok := s.keys[kid]
	return k, ok
}

// An inflight is one fetch of the key set, which any number of goroutines
// may wait for. done can only be called by a single goroutine.
type inflight struct {
	seq  uint64        // its place among the set's fetches: 1 for the first
	over chan struct{} // closed by done
	err  error         // the fetch's failure, nil for a good fetch; written before over is closed
}

func newInflight(seq uint64) *inflight {
	return &inflight{seq: seq, over: make(chan struct{})}
}

// wait returns a channel that is closed when the fetch is over.
func (i *inflight) wait() <-chan struct{} { return i.over }

// done records the fetch's result and releases the waiters.
func (i *inflight) done(err error) {
	i.err = err
	close(i.over)
}

// result returns the fetch's failure, nil for a good fetch. Call it only
// once the channel of wait is closed.
func (i *inflight) result() error { return i.err }

// running reports whether the fetch is still under way.
func (i *inflight) running() bool {
	select {
	case <-i.over:
		return false
	default:
		return true
	}
}

// errRateLimited says that LookupKey may not begin a fetch now.
var errRateLimited = errors.New("the unknown key refetch rate allows no fetch now")

// New returns a key set that reads the JWKS at jwksURL, an http or https URL
// without credentials. It checks its configuration and returns an error for
// a bad URL or option, but does not wait for the server: the first fetch
// begins in the background (containers start in any order), and a
// [KeySet.LookupKey] that comes before it is over waits for it.
//
// A document is refused, and the last good set kept, when it is over the
// maximum size ([WithMaxDocumentSize]), is not a JSON object with a "keys"
// array, or holds more than [MaxDocumentEntries] entries in that array (see
// [ParseDocument], and the package documentation for the rest).
//
// The key set starts a goroutine that refreshes it. The goroutine runs until
// ctx is done, which also cancels a fetch in flight; afterwards [KeySet.LookupKey]
// answers from the last good set, within its maximum staleness, and fetches
// nothing. Make one KeySet per URL and share it, and give it a context that
// lives as long as it is used, not a request's.
func New(ctx context.Context, jwksURL string, opts ...Option) (*KeySet, error) {
	if ctx == nil {
		return nil, errors.New("remote: New needs a context")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("remote: New with a context already done: %w", err)
	}
	if err := checkURL(jwksURL); err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.client = redirect.Client(cfg.client, cfg.sameOrigin) // a copy: the caller's client is left as it is

	ks := &KeySet{
		url:     jwksURL,
		ctx:     ctx,
		cfg:     cfg,
		limiter: rate.NewLimiter(rate.Every(cfg.refetchEvery), cfg.refetchBurst),
		stopped: make(chan struct{}),
	}
	first, _ := ks.start(0, false) // nil only if ctx ended since the check above
	go ks.run(first)
	return ks, nil
}

// checkURL accepts absolute http and https URLs with a host and no user
// information (a password in the URL would end up in logs and errors). Its
// errors do not repeat the URL, for the same reason.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("remote: the JWKS URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("remote: the JWKS URL must be http or https")
	case u.Host == "":
		return errors.New("remote: the JWKS URL has no host")
	case u.User != nil:
		return errors.New("remote: the JWKS URL must not carry credentials; give them to the HTTP client")
	}
	return nil
}

// LookupKey implements [jwks.KeySource]. It returns the key with the given
// key ID from the current set. When the set does not hold it, or there is no
// usable set (before the first good fetch, or too long after the last), it
// waits for a fetch, begun by it or by another caller, and looks again; ctx
// bounds the wait. The result is an error wrapping [jwks.ErrUnknownKey] if
// the key is still not there after a good fetch (or the unknown key refetch
// rate allows none, and the last fetch was good), and one wrapping
// [jwks.ErrUnavailable] if there is still no usable set, or if the fetch
// failed (or the last one did, and the rate allows no other) or ctx ended
// before it was over: the server could not say whether the key exists.
//
// A key ID that cannot be valid (empty, over 256 bytes, holding control
// characters) is unknown without a fetch.
func (ks *KeySet) LookupKey(ctx context.Context, kid string) (*jwks.Key, error) {
	if !keyid.Valid(kid) {
		return nil, fmt.Errorf("remote: the token names no valid key ID: %w", jwks.ErrUnknownKey)
	}
	ended, begun := ks.marks() // before the set is read, so that no result is missed
	s := ks.usable()
	if k, ok := s.key(kid); ok {
		return k, nil
	}
	// First a fetch whose result this lookup has not seen (the one under
	// way, one that has ended since, or a new one), then, if that one was
	// under way before the lookup, one that began after it: at most twice
	// round.
	for after := ended; ; after = begun {
		f, err := ks.start(after, true)
		if err != nil {
			if s == nil {
				return nil, ks.unavailable(fmt.Errorf("no usable key set: %w", err))
			}
			if last := ks.latest.Load(); errors.Is(err, errRateLimited) && last != nil && !last.running() && last.result() != nil {
				// The set may lack the key only because the server could
				// not be reached: the token may be good, so try again later.
				return nil, ks.unavailableFor(kid, last.result())
			}
			return nil, ks.unknown(kid)
		}
		select {
		case <-f.wait():
		case <-ctx.Done():
			if s != nil {
				return nil, ks.unavailableFor(kid, ctx.Err())
			}
			return nil, ks.unavailable(ctx.Err())
		}

		if s = ks.usable(); s == nil {
			err := f.result()
			if err == nil {
				err = errors.New("no usable key set")
			}
			return nil, ks.unavailable(err)
		}
		if k, ok := s.key(kid); ok {
			return k, nil
		}
		if err := f.result(); err != nil {
			return nil, ks.unavailableFor(kid, err)
		}
		if f.seq > begun {
			return nil, ks.unknown(kid)
		}
		// f was under way before this lookup, and may have read the
		// document before the key was published.
	}
}

func (ks *KeySet) unknown(kid string) error {
	return fmt.Errorf("remote: kid %s is not in the key set at %s: %w", quote.Value(kid), ks.url, jwks.ErrUnknownKey)
}

func (ks *KeySet) unavailable(cause error) error {
	return fmt.Errorf("remote: %s: %w: %w", ks.url, cause, jwks.ErrUnavailable)
}

// unavailableFor is the error of a lookup of kid, which the set does not
// hold, when the fetch that would have found it failed or was cut short.
// It wraps [jwks.ErrUnavailable] and not [jwks.ErrUnknownKey]: the key may
// well exist, so the caller is to try again later (503), not be refused
// (401).
func (ks *KeySet) unavailableFor(kid string, cause error) error {
	return fmt.Errorf("remote: kid %s is not in the last good key set, and fetching %s again failed: %w: %w",
		quote.Value(kid), ks.url, cause, jwks.ErrUnavailable)
}

// usable returns the current set if it may verify tokens, fetched no longer
// than the maximum staleness ago, and nil otherwise.
func (ks *KeySet) usable() *snapshot {
	if s := ks.snap.Load(); s != nil && time.Since(s.fetched) <= ks.cfg.maxStale {
		return s
	}
	return nil
}

// Refresh fetches the key set now and returns an error wrapping
// [jwks.ErrUnavailable] if the fetch failed (the last good set is kept). A
// fetch that was already in flight when Refresh was called may have missed
// a change, so Refresh waits for it and then fetches again, or shares a
// fetch that began after the call. It is not rate-limited: it is for callers
// that know the set has changed, and for tests. ctx bounds the wait, not the
// fetch.
func (ks *KeySet) Refresh(ctx context.Context) error {
	mark := ks.mark()
	for {
		f, err := ks.start(mark, false)
		if err != nil {
			return ks.unavailable(err)
		}
		select {
		case <-f.wait():
		case <-ctx.Done():
			return ks.unavailable(ctx.Err())
		}
		if f.seq > mark {
			if err := f.result(); err != nil {
				return ks.unavailable(err)
			}
			return nil
		}
		// f was under way when Refresh was called: fetch again.
	}
}

// KeyIDs returns the key IDs of the current key set, sorted, in a new slice;
// none before the first good fetch. It does not fetch, and does not check
// staleness.
func (ks *KeySet) KeyIDs() []string {
	if s := ks.snap.Load(); s != nil {
		return slices.Clone(s.kids)
	}
	return nil
}

// Usable reports whether [KeySet.LookupKey] can answer from a fetched set
// now: false before the first good fetch, and once the last good fetch is
// older than the maximum staleness ([WithMaxStaleness]), when lookups fail
// with [jwks.ErrUnavailable] until a fetch succeeds. It does not fetch: it
// is for readiness checks.
func (ks *KeySet) Usable() bool { return ks.usable() != nil }

// LastFetch returns the time of the last good fetch (a 304 Not Modified
// counts); the zero time before the first.
func (ks *KeySet) LastFetch() time.Time {
	if s := ks.snap.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// marks returns how many fetches had ended, and how many had begun, when it
// was called. Fetches never overlap, so begun is ended or ended+1.
func (ks *KeySet) marks() (ended, begun uint64) {
	f := ks.latest.Load()
	switch {
	case f == nil:
		return 0, 0
	case f.running():
		return f.seq - 1, f.seq
	default:
		return f.seq, f.seq
	}
}

// mark returns the number of the fetch begun last, 0 before the first.
func (ks *KeySet) mark() uint64 {
	if f := ks.latest.Load(); f != nil {
		return f.seq
	}
	return 0
}

// start is how every fetch begins. It returns the fetch the caller is to
// wait for: the one in flight if there is one; or else the last one, if its
// number is above after (the caller gives the number of the last fetch that
// is of no use to it); or else a new one. It returns an error, and no
// fetch, only when it may not begin one: the key set is stopped, or
// (limited) the unknown key refetch rate says no.
func (ks *KeySet) start(after uint64, limited bool) (*inflight, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if last := ks.latest.Load(); last != nil && (last.running() || last.seq > after) {
		return last, nil
	}
	if err := ks.ctx.Err(); err != nil {
		return nil, fmt.Errorf("the key set is stopped: %w", err)
	}
	if limited && !ks.limiter.Allow() {
		ks.cfg.log.Debug("remote: refetch of the key set rate-limited", "url", ks.url)
		return nil, errRateLimited
	}
	f := newInflight(ks.mark() + 1)
	ks.latest.Store(f)
	go func() {
		var begin time.Time
		if ks.cfg.observe != nil {
			begin = time.Now()
		}
		err := ks.fetch()
		if err != nil {
			ks.logFailure(err)
		}
		if ks.cfg.observe != nil {
			ks.observeFetch(begin, err)
		}
		f.done(err)
	}()
	return f, nil
}

func (ks *KeySet) logFailure(err error) {
	if s := ks.usable(); s != nil {
		ks.cfg.log.Warn("remote: fetching the key set failed; keeping the last good set",
			"url", ks.url, "err", err, "last_good_fetch", s.fetched)
		return
	}
	attrs := []any{"url", ks.url, "err", err}
	if s := ks.snap.Load(); s != nil {
		attrs = append(attrs, "last_good_fetch", s.fetched)
	}
	ks.cfg.log.Error("remote: fetching the key set failed; no usable key set", attrs...)
}

// run is the refresh goroutine: it waits for the fetch f, then fetches
// again when the last good set is due for a refresh, or sooner after a
// failure, until ks.ctx is done.
func (ks *KeySet) run(f *inflight) {
	defer close(ks.stopped)
	failures := 0
	for f != nil {
		select {
		case <-f.wait():
		case <-ks.ctx.Done():
			return
		}
		delay := ks.cfg.interval
		if f.result() != nil {
			failures++
			delay = min(ks.cfg.interval, firstRetryDelay<<min(failures-1, 16))
		} else if s := ks.snap.Load(); s != nil {
			failures = 0
			delay = s.refresh
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ks.ctx.Done():
			timer.Stop()
			return
		}
		f, _ = ks.start(ks.mark(), false) // nil once ctx is done
	}
}
