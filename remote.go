package jwks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powersync-jwks/jwks/internal/quote"

	"golang.org/x/time/rate"
)

// A KeySource finds the public key that verifies a token, by the token's key
// ID. LookupKey returns an error wrapping ErrUnknownKey when no key has that
// ID, and one wrapping ErrUnavailable when the keys cannot be read at the
// moment (the token may be fine; try again later).
//
// Implementations are safe for concurrent use, and the keys they return are
// public and immutable. *KeySet (the process's own keys) and *RemoteKeySet
// (a JWKS fetched from a URL) are the two in this package.
type KeySource interface {
	LookupKey(ctx context.Context, kid string) (*Key, error)
}

var (
	_ KeySource = (*KeySet)(nil)
	_ KeySource = (*RemoteKeySet)(nil)
)

// Defaults of NewRemoteKeySet.
const (
	defaultFetchTimeout    = 10 * time.Second
	defaultMaxDocumentSize = 1 << 20
	defaultRefreshInterval = 5 * time.Minute
	defaultMinMaxAge       = time.Minute
	defaultMaxMaxAge       = 10 * time.Minute
	defaultMaxStaleness    = time.Hour
	defaultRefetchEvery    = time.Minute
	defaultRefetchBurst    = 10

	// firstRetryDelay is the wait before the refresh goroutine tries again
	// after a failed fetch; it doubles with each failure, up to the refresh
	// interval.
	firstRetryDelay = time.Second
)

// secretMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 section 6). A JWKS must never carry them: a key
// published with one is compromised, and is never used.
var secretMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// RemoteOption configures NewRemoteKeySet.
type RemoteOption func(*remoteConfig)

type remoteConfig struct {
	client         *http.Client
	timeout        time.Duration
	maxSize        int64
	interval       time.Duration
	minAge, maxAge time.Duration
	maxStale       time.Duration
	refetchEvery   time.Duration
	refetchBurst   int
	log            *slog.Logger
	now            func() time.Time
}

// WithRemoteHTTPClient sets the client that fetches the key set (default
// http.DefaultClient). Its own Timeout, if any, applies on top of
// WithFetchTimeout.
func WithRemoteHTTPClient(c *http.Client) RemoteOption {
	return func(cfg *remoteConfig) { cfg.client = c }
}

// WithFetchTimeout bounds each fetch of the key set, from the request to the
// last byte of the body (default 10 s).
func WithFetchTimeout(d time.Duration) RemoteOption {
	return func(cfg *remoteConfig) { cfg.timeout = d }
}

// WithMaxDocumentSize sets the largest key set document accepted, in bytes
// (default 1 MiB). A larger response is refused whole.
func WithMaxDocumentSize(n int64) RemoteOption {
	return func(cfg *remoteConfig) { cfg.maxSize = n }
}

// WithRefreshInterval sets how often the key set is fetched in the
// background when the response has no Cache-Control max-age (default 5
// minutes, PowerSync's own period).
func WithRefreshInterval(d time.Duration) RemoteOption {
	return func(cfg *remoteConfig) { cfg.interval = d }
}

// WithMaxAgeBounds sets the bounds within which a response's Cache-Control
// max-age (less its Age) replaces the refresh interval (default 1 to 10
// minutes: Supabase's max-age=600 gives a refresh every 10 minutes, and a
// server sending max-age=0 or no-cache is fetched once a minute).
func WithMaxAgeBounds(lo, hi time.Duration) RemoteOption {
	return func(cfg *remoteConfig) { cfg.minAge, cfg.maxAge = lo, hi }
}

// WithMaxStaleness sets how long after the last good fetch the key set is
// still used while fetches fail (default 1 hour, as PowerSync). Beyond it,
// LookupKey fails with ErrUnavailable until a fetch succeeds.
func WithMaxStaleness(d time.Duration) RemoteOption {
	return func(cfg *remoteConfig) { cfg.maxStale = d }
}

// WithUnknownKeyRefetch rate-limits the fetches that LookupKey starts for a
// key ID it does not know (or when it has no usable key set): at most burst
// at once, then one every interval (default 10, then one a minute, as
// PowerSync). A burst of 0 turns them off: only the background refresh
// fetches.
func WithUnknownKeyRefetch(every time.Duration, burst int) RemoteOption {
	return func(cfg *remoteConfig) { cfg.refetchEvery, cfg.refetchBurst = every, burst }
}

// WithRemoteLogger sets the logger for failed fetches, refused documents and
// skipped keys (default slog.Default(): a JWKS that cannot be read is worth
// an operator's attention). Records name the URL, key IDs and reasons, never
// key material. A nil logger discards them.
func WithRemoteLogger(l *slog.Logger) RemoteOption {
	return func(cfg *remoteConfig) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		cfg.log = l
	}
}

// WithRemoteClock sets the clock that measures staleness and the refetch
// rate limit (default time.Now). The background refresh is scheduled on
// real timers.
func WithRemoteClock(now func() time.Time) RemoteOption {
	return func(cfg *remoteConfig) { cfg.now = now }
}

// A RemoteKeySet is a KeySource that reads a JSON Web Key Set from a URL,
// such as Supabase's https://<ref>.supabase.co/auth/v1/.well-known/jwks.json
// or the JWKS handler of another service.
//
// It keeps the last good key set in memory and refreshes it in the
// background, every 5 minutes or as the response's Cache-Control max-age
// says (see WithRefreshInterval and WithMaxAgeBounds), with conditional
// requests (If-None-Match): a 304 keeps the set and counts as a good fetch.
// A LookupKey for a key ID the set does not hold fetches the set again, once
// for all the callers waiting for it, and at a limited rate (see
// WithUnknownKeyRefetch), so that tokens naming random key IDs cannot turn
// into a flood of requests.
//
// When a fetch fails, the last good set stays in use for up to an hour after
// the last good fetch (see WithMaxStaleness); beyond that, and before the
// first good fetch, LookupKey fails with ErrUnavailable. A good fetch
// replaces the set whole: a key removed from the document stops verifying.
// Documents that are not a JSON object with a "keys" array, are larger than
// 1 MiB or come with a status other than 2xx are refused, and the last good
// set kept. Keys within a document that cannot be used are skipped and
// logged, and the others kept: keys carrying private or symmetric material,
// oct keys, keys with "use" other than "sig" or "key_ops" without "verify",
// keys without a "kid", keys that ParseKey refuses, and every key whose kid
// is shared by another entry (which one is meant is ambiguous).
//
// A RemoteKeySet is made by NewRemoteKeySet (the zero value is not usable)
// and is safe for concurrent use. LookupKey reads an immutable snapshot of
// the set without taking a lock; only fetches are serialised, and there is
// at most one in flight at any time.
type RemoteKeySet struct {
	url string
	ctx context.Context // the caller's: its end stops the refresh goroutine and cancels fetches
	cfg remoteConfig

	limiter *rate.Limiter // fetches started by LookupKey; safe for concurrent use

	snap atomic.Pointer[remoteSnapshot] // the last good set; nil before the first good fetch

	mu       sync.Mutex
	inflight *fetchCall // guarded by mu: the fetch under way, or nil

	stopped chan struct{} // closed when the refresh goroutine returns
}

// remoteSnapshot is one immutable state of a RemoteKeySet, as of one good
// fetch.
type remoteSnapshot struct {
	keys    map[string]*Key // by key ID
	kids    []string        // the keys' IDs, sorted
	etag    string          // of the document the keys came from, for If-None-Match
	fetched time.Time       // of the last good fetch (a 304 counts), by the set's clock
	refresh time.Duration   // when to fetch again, after fetched
}

// fetchCall is one fetch that several goroutines may wait for.
type fetchCall struct {
	done chan struct{} // closed when the fetch is over
	err  error         // the fetch's failure, written before done is closed
}

// settledFetch is a fetch that is already over: what a caller gets when the
// set changed since it looked, so that it looks again rather than fetch.
var settledFetch = func() *fetchCall {
	c := &fetchCall{done: make(chan struct{})}
	close(c.done)
	return c
}()

// NewRemoteKeySet returns a key source that reads the JWKS at jwksURL, an
// http or https URL without credentials. It checks its configuration and
// returns an error for a bad URL or option, but does not wait for the
// server: the first fetch starts in the background (containers start in any
// order), and a LookupKey that comes before it is over waits for it.
//
// The key set starts a goroutine that refreshes it. The goroutine runs until
// ctx is done, which also cancels a fetch in flight; afterwards LookupKey
// answers from the last good set, within its maximum staleness, and fetches
// nothing. Make one RemoteKeySet per URL and share it, and give it a context
// that lives as long as it is used, not a request's.
func NewRemoteKeySet(ctx context.Context, jwksURL string, opts ...RemoteOption) (*RemoteKeySet, error) {
	if ctx == nil {
		return nil, errors.New("jwks: NewRemoteKeySet needs a context")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("jwks: NewRemoteKeySet with a context already done: %w", err)
	}
	if err := checkRemoteURL("JWKS URL", jwksURL); err != nil {
		return nil, err
	}
	cfg := remoteConfig{
		client:       http.DefaultClient,
		timeout:      defaultFetchTimeout,
		maxSize:      defaultMaxDocumentSize,
		interval:     defaultRefreshInterval,
		minAge:       defaultMinMaxAge,
		maxAge:       defaultMaxMaxAge,
		maxStale:     defaultMaxStaleness,
		refetchEvery: defaultRefetchEvery,
		refetchBurst: defaultRefetchBurst,
		log:          slog.Default(),
		now:          time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}

	r := &RemoteKeySet{
		url:     jwksURL,
		ctx:     ctx,
		cfg:     cfg,
		limiter: rate.NewLimiter(rate.Every(cfg.refetchEvery), cfg.refetchBurst),
		stopped: make(chan struct{}),
	}
	first, _ := r.startFetch(nil, false)
	go r.run(first)
	return r, nil
}

// checkRemoteURL accepts absolute http and https URLs with a host and no
// user information (a password in the URL would end up in logs and errors).
// Its errors name the URL by what, and do not repeat it, for the same
// reason.
func checkRemoteURL(what, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("jwks: the %s does not parse", what)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("jwks: the %s must be http or https", what)
	case u.Host == "":
		return fmt.Errorf("jwks: the %s has no host", what)
	case u.User != nil:
		return fmt.Errorf("jwks: the %s must not carry credentials; give them to the HTTP client", what)
	}
	return nil
}

func (c *remoteConfig) check() error {
	switch {
	case c.client == nil:
		return errors.New("jwks: WithRemoteHTTPClient(nil)")
	case c.timeout <= 0:
		return errors.New("jwks: the fetch timeout must be positive")
	case c.maxSize <= 0:
		return errors.New("jwks: the maximum document size must be positive")
	case c.interval <= 0:
		return errors.New("jwks: the refresh interval must be positive")
	case c.minAge <= 0 || c.maxAge < c.minAge:
		return errors.New("jwks: max-age bounds must be positive, the minimum no larger than the maximum")
	case c.maxStale <= 0:
		return errors.New("jwks: the maximum staleness must be positive")
	case c.refetchEvery <= 0 || c.refetchBurst < 0:
		return errors.New("jwks: the unknown key refetch rate needs a positive interval and a burst of 0 or more")
	case c.now == nil:
		return errors.New("jwks: WithRemoteClock(nil)")
	}
	return nil
}

// LookupKey implements KeySource. It returns the key with the given key ID
// from the current set. When the set does not hold it, or there is no usable
// set (before the first good fetch, or too long after the last), it waits
// for a fetch, started by it or by another caller, and looks again; ctx
// bounds the wait. The result is an error wrapping ErrUnknownKey if the key
// is still not there, and one wrapping ErrUnavailable if there is still
// no usable set.
//
// A key ID that cannot be valid (empty, over 256 bytes, holding control
// characters) is unknown without a fetch.
func (r *RemoteKeySet) LookupKey(ctx context.Context, kid string) (*Key, error) {
	if checkKeyID(kid) != nil {
		return nil, fmt.Errorf("%w: the token names no valid key ID", ErrUnknownKey)
	}
	s := r.snap.Load()
	if r.usable(s) {
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
	}

	for retried := false; ; retried = true {
		c, started := r.startFetch(s, true)
		if c == nil {
			if r.usable(s) {
				return nil, r.unknown(kid)
			}
			return nil, r.unavailable(errors.New("no usable key set, and no fetch allowed now"))
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			if r.usable(s) {
				return nil, fmt.Errorf("%w: kid %q is not in the key set, and the context ended during a refresh: %w",
					ErrUnknownKey, quote.Value(kid), ctx.Err())
			}
			return nil, r.unavailable(ctx.Err())
		}

		s = r.snap.Load()
		if !r.usable(s) {
			err := c.err
			if err == nil {
				err = errors.New("no usable key set")
			}
			return nil, r.unavailable(err)
		}
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
		// A fetch that this lookup did not start may have left before the
		// key was published: look once more, after a fetch that starts now.
		if started || c.err != nil || retried {
			return nil, r.unknown(kid)
		}
	}
}

func (r *RemoteKeySet) unknown(kid string) error {
	return fmt.Errorf("%w: kid %q is not in the key set at %s", ErrUnknownKey, quote.Value(kid), r.url)
}

func (r *RemoteKeySet) unavailable(cause error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, r.url, cause)
}

// usable reports whether s is a key set that may verify tokens: one that
// was fetched no longer than the maximum staleness ago.
func (r *RemoteKeySet) usable(s *remoteSnapshot) bool {
	return s != nil && r.cfg.now().Sub(s.fetched) <= r.cfg.maxStale
}

// Refresh fetches the key set now and returns an error wrapping
// ErrUnavailable if the fetch failed (the last good set is kept). A
// fetch that was already in flight when Refresh was called may have missed
// a change, so Refresh waits for it and then fetches again, or shares a
// fetch that started after the call. It is not rate-limited: it is for
// callers that know the set has changed, and for tests. ctx bounds the wait,
// not the fetch.
func (r *RemoteKeySet) Refresh(ctx context.Context) error {
	c, started := r.startFetch(nil, false)
	if c != nil && !started {
		if err := r.wait(ctx, c); err != nil {
			return err
		}
		c, _ = r.startFetch(nil, false)
	}
	if c == nil {
		return r.unavailable(fmt.Errorf("the key set is stopped: %w", r.ctx.Err()))
	}
	if err := r.wait(ctx, c); err != nil {
		return err
	}
	if c.err != nil {
		return r.unavailable(c.err)
	}
	return nil
}

// wait waits for c to be over, or for ctx to end.
func (r *RemoteKeySet) wait(ctx context.Context, c *fetchCall) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return r.unavailable(ctx.Err())
	}
}

// KeyIDs returns the key IDs of the current key set, sorted, in a new slice;
// none before the first good fetch. It does not fetch, and does not check
// staleness.
func (r *RemoteKeySet) KeyIDs() []string {
	if s := r.snap.Load(); s != nil {
		return slices.Clone(s.kids)
	}
	return nil
}

// LastFetch returns the time of the last good fetch (a 304 Not Modified
// counts), by the key set's clock; the zero time before the first.
func (r *RemoteKeySet) LastFetch() time.Time {
	if s := r.snap.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// startFetch starts a fetch, or returns the one in flight; started says
// which. For LookupKey (lookup true), it starts none when the set has
// changed since the caller loaded seen (it returns settledFetch, and the
// caller looks again), and none when the rate limit says no (it returns
// nil). It returns nil when the key set is stopped.
func (r *RemoteKeySet) startFetch(seen *remoteSnapshot, lookup bool) (c *fetchCall, started bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight != nil {
		return r.inflight, false
	}
	if lookup && r.snap.Load() != seen {
		return settledFetch, false
	}
	if r.ctx.Err() != nil {
		return nil, false
	}
	if lookup && !r.limiter.AllowN(r.cfg.now(), 1) {
		r.cfg.log.Debug("jwks: refetch of the remote key set rate-limited", "url", r.url)
		return nil, false
	}
	c = &fetchCall{done: make(chan struct{})}
	r.inflight = c
	go func() {
		err := r.fetch()
		if err != nil {
			r.logFailure(err)
		}
		r.mu.Lock()
		r.inflight = nil
		r.mu.Unlock()
		c.err = err
		close(c.done)
	}()
	return c, true
}

func (r *RemoteKeySet) logFailure(err error) {
	s := r.snap.Load()
	if r.usable(s) {
		r.cfg.log.Warn("jwks: fetching the remote key set failed; keeping the last good set",
			"url", r.url, "err", err, "last_good_fetch", s.fetched)
		return
	}
	attrs := []any{"url", r.url, "err", err}
	if s != nil {
		attrs = append(attrs, "last_good_fetch", s.fetched)
	}
	r.cfg.log.Error("jwks: fetching the remote key set failed; no usable key set", attrs...)
}

// run is the refresh goroutine: it waits for the first fetch, then fetches
// again when the last good set is due for a refresh, or sooner after a
// failure, until r.ctx is done.
func (r *RemoteKeySet) run(c *fetchCall) {
	defer close(r.stopped)
	failures := 0
	for c != nil {
		select {
		case <-c.done:
		case <-r.ctx.Done():
			return
		}
		delay := r.cfg.interval
		if c.err != nil {
			failures++
			delay = min(r.cfg.interval, firstRetryDelay<<min(failures-1, 16))
		} else if s := r.snap.Load(); s != nil {
			failures = 0
			delay = s.refresh
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.ctx.Done():
			timer.Stop()
			return
		}
		c, _ = r.startFetch(nil, false)
	}
}

// fetch gets the document and, if it is good, swaps in its key set. Fetches
// never overlap (startFetch starts one only when none is in flight), so the
// snapshot read at the start is still current at the end.
func (r *RemoteKeySet) fetch() error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.timeout)
	defer cancel()
	old := r.snap.Load()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := r.cfg.client.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		// Read a little of what is left, so that the connection can be reused.
		io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()

	if resp.StatusCode == http.StatusNotModified {
		if old == nil || old.etag == "" {
			return errors.New("304 Not Modified to a request that was not conditional")
		}
		next := *old
		next.fetched = r.cfg.now()
		next.refresh = r.refreshDelay(resp.Header)
		r.snap.Store(&next)
		r.cfg.log.Debug("jwks: remote key set not modified", "url", r.url)
		return nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	if resp.ContentLength > r.cfg.maxSize {
		return fmt.Errorf("document of %d bytes is over the limit of %d", resp.ContentLength, r.cfg.maxSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.maxSize+1))
	if err != nil {
		return fmt.Errorf("reading the document: %w", err)
	}
	if int64(len(body)) > r.cfg.maxSize {
		return fmt.Errorf("document is over the limit of %d bytes", r.cfg.maxSize)
	}
	keys, err := r.parseDocument(body)
	if err != nil {
		return err
	}

	next := &remoteSnapshot{
		keys:    keys,
		kids:    make([]string, 0, len(keys)),
		etag:    resp.Header.Get("ETag"),
		fetched: r.cfg.now(),
		refresh: r.refreshDelay(resp.Header),
	}
	for kid := range keys {
		next.kids = append(next.kids, kid)
	}
	slices.Sort(next.kids)
	r.snap.Store(next)

	switch {
	case len(next.kids) == 0 && (old == nil || len(old.kids) > 0):
		// Once, not at every refresh: a legacy Supabase project publishes
		// no key at all.
		r.cfg.log.Warn("jwks: the remote key set holds no usable key", "url", r.url)
	case len(next.kids) == 0:
		r.cfg.log.Debug("jwks: the remote key set still holds no usable key", "url", r.url)
	case old == nil || !slices.Equal(old.kids, next.kids):
		r.cfg.log.Info("jwks: remote key set loaded", "url", r.url, "kids", next.kids)
	default:
		r.cfg.log.Debug("jwks: remote key set refreshed", "url", r.url)
	}
	return nil
}

// parseDocument reads a JWKS document. A document that is not a JSON object
// with a "keys" array is refused; within it, a key that cannot be used is
// skipped, and the others kept. Errors and logs never quote the document.
func (r *RemoteKeySet) parseDocument(body []byte) (map[string]*Key, error) {
	var doc struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("document is not valid JSON (at byte %d)", syntax.Offset)
		}
		return nil, errors.New("document is not a JSON object")
	}
	var entries []json.RawMessage
	if len(doc.Keys) == 0 || bytes.Equal(doc.Keys, []byte("null")) || json.Unmarshal(doc.Keys, &entries) != nil {
		return nil, errors.New(`document has no "keys" array`)
	}

	type candidate struct {
		index int
		kid   string
		key   *Key
	}
	var good []candidate
	seen := make(map[string]int, len(entries)) // entries naming each key ID, usable or not
	for i, raw := range entries {
		kid, key, reason := importRemoteKey(raw)
		if kid != "" {
			seen[kid]++
		}
		if reason != "" {
			r.skip(i, kid, reason)
			continue
		}
		good = append(good, candidate{i, kid, key})
	}
	keys := make(map[string]*Key, len(good))
	for _, c := range good {
		if n := seen[c.kid]; n > 1 {
			r.skip(c.index, c.kid, fmt.Sprintf("kid is shared by %d keys of the set", n))
			continue
		}
		keys[c.kid] = c.key
	}
	return keys, nil
}

func (r *RemoteKeySet) skip(index int, kid, reason string) {
	r.cfg.log.Warn("jwks: skipping a key of the remote key set",
		"url", r.url, "index", index, "kid", quote.Value(kid), "reason", reason)
}

// importRemoteKey reads one entry of a JWKS: it returns the entry's key ID
// (if it has one), and the key, or why the entry cannot be used.
func importRemoteKey(raw json.RawMessage) (kid string, key *Key, reason string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return "", nil, "not a JSON object"
	}
	if v, ok := members["kid"]; ok {
		_ = json.Unmarshal(v, &kid) // a kid that is not a string counts as none
	}
	var kty string
	_ = json.Unmarshal(members["kty"], &kty)
	if kty == "oct" {
		return kid, nil, "symmetric (oct) key: a JWKS must not publish a secret"
	}
	for _, name := range secretMembers {
		if _, ok := members[name]; ok {
			return kid, nil, fmt.Sprintf("carries the private member %q: a JWKS must not publish it, and the key must be taken as compromised", name)
		}
	}
	if kid == "" {
		return "", nil, "no kid: tokens could not name it"
	}
	// ParseKey refuses a "use" other than "sig"; a verifier also needs
	// "verify" among the key_ops, where ParseKey accepts "sign" alone.
	if v, ok := members["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(v, &ops) != nil || !slices.Contains(ops, "verify") {
			return kid, nil, `"key_ops" does not allow "verify"`
		}
	}
	k, err := ParseKey(raw)
	if err != nil {
		return kid, nil, err.Error()
	}
	if k.CanSign() || k.KeyID() != kid {
		return kid, nil, "does not read back as the public key it names"
	}
	return kid, k, ""
}

// maxAgeLimit caps a max-age before it becomes a Duration, so that a huge
// value cannot overflow.
const maxAgeLimit = 1 << 32

// refreshDelay returns when to fetch again after a response with headers h:
// its Cache-Control max-age, less its Age, within the configured bounds; or
// the refresh interval when it has none. no-cache and no-store count as
// max-age=0, and so does an invalid max-age (RFC 9111 section 4.2.1).
func (r *RemoteKeySet) refreshDelay(h http.Header) time.Duration {
	secs, ok := cacheMaxAge(h)
	if !ok {
		return r.cfg.interval
	}
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		secs -= min(age, maxAgeLimit)
	}
	return min(max(time.Duration(secs)*time.Second, r.cfg.minAge), r.cfg.maxAge)
}

// cacheMaxAge returns the freshness lifetime, in seconds, that the Cache-Control
// header fields of h give, and whether they give one.
func cacheMaxAge(h http.Header) (int64, bool) {
	var secs int64
	found := false
	for _, field := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(field, ",") {
			name, value, _ := strings.Cut(directive, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 || found {
					return 0, true
				}
				secs, found = min(n, maxAgeLimit), true
			}
		}
	}
	return secs, found
}
