package keyring

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// The rotation-under-load test runs PowerSync's periods scaled down, 5 min
// to 200 ms: verifiers fetch the JWKS again 200 ms after their last fetch
// (loadRefresh), and the JWKS may be cached for 200 ms. Tokens live 1 s
// (loadTokenLifetime, the Signer's shortest), and verifiers allow 200 ms of
// leeway.
//
// The policy's periods are bounds, not timers, and at this scale the time a
// machine takes to do things is no longer negligible as it is against
// minutes: on a busy CI machine under the race detector, a fetch of the
// JWKS, a store write or a goroutine's wake-up can take several hundred
// milliseconds. So the policy is told that a change reaches every replica,
// writes included, within StorePoll = 300 ms (which is also how often the
// replicas re-read the store; a MemoryStore notifies them at once); that a
// verifier's copy of the JWKS is at most VerifierRefresh = 600 ms old, its
// refresh period plus its fetches; and that tokens live at most
// MaxTokenLifetime = 1.5 s, which leaves half a second for a replica that
// is slow to sign with the new key after a promotion. PublishAhead is the
// safe minimum, 1.1 s; Retention is 2 s; and RotateEvery, 1.15 s, is just
// above the shortest the policy allows (more than PublishAhead). 50
// rotations take about a minute.
var loadPolicy = func() Policy {
	p := Policy{
		StorePoll:        300 * time.Millisecond,
		JWKSMaxAge:       loadRefresh,
		VerifierRefresh:  3 * loadRefresh,
		MaxTokenLifetime: loadTokenLifetime + 500*time.Millisecond,
		Leeway:           loadLeeway,
	}
	p.RotateEvery = p.SafePublishAhead() + 50*time.Millisecond
	return p
}()

// How the test's replicas and verifiers work, PowerSync's periods scaled.
const (
	loadTokenLifetime = time.Second            // of the tokens the replicas sign
	loadLeeway        = 200 * time.Millisecond // of the verifiers
	loadRefresh       = 200 * time.Millisecond // how long after its last fetch a verifier fetches the JWKS again
	// loadPause is how long a client waits between tokens: some fifty tokens
	// a second in all, so that the test itself leaves the machine idle enough
	// for its timings.
	loadPause = 50 * time.Millisecond
)

const (
	loadRotations = 50                          // at least
	loadAudience  = "https://powersync.example" // the PowerSync instance
	loadClients   = 3                           // goroutines minting and verifying tokens
	loadVerifiers = 3                           // PowerSync processes, each with its own JWKS cache
	// loadMargin: a token is checked only while it has that long left, so
	// that a check is not made after the token's end by a slow scheduler.
	loadMargin = 50 * time.Millisecond
	// loadConvergence bounds how long a replica may take to publish a new
	// version of the ring: StorePoll (a MemoryStore notifies at once), and
	// room for a busy machine running the race detector; the test logs the
	// slowest it saw.
	loadConvergence = 2 * time.Second
)

// TestRotationUnderLoad rotates keys at least 50 times while tokens are
// minted by random replicas and checked by verifiers that cache the JWKS
// as PowerSync does (see powerSyncCache), fetched from random replicas. It
// requires zero verification failures, exactly one active key at every
// version the store holds, every replica's JWKS converging on each version,
// and no key removed while a token it signed is valid.
func TestRotationUnderLoad(t *testing.T) {
	t.Run("MemoryStore, 3 replicas, one restarted", func(t *testing.T) {
		t.Parallel()
		rotateUnderLoad(t, NewMemoryStore(), 3, true)
	})
	t.Run("FileStore, 1 replica", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("the file store needs a Unix system")
		}
		t.Parallel()
		rotateUnderLoad(t, newFileStore(t, ringFile(t)), 1, false)
	})
}

func rotateUnderLoad(t *testing.T, store Store, replicas int, restart bool) {
	start := time.Now()
	p := loadPolicy
	rec := newRecorder(store)

	reps := make([]*replica, replicas)
	urls := make([]string, replicas)
	for i := range reps {
		reps[i] = newReplica(t, rec, p)
		urls[i] = reps[i].srv.URL
	}
	caches := make([]*powerSyncCache, loadVerifiers)
	for i := range caches {
		caches[i] = newPowerSyncCache(urls, loadRefresh)
		require.NoError(t, caches[i].fetchNow(), "verifier %d: first fetch", i)
	}
	var tally tally

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range loadClients {
		wg.Go(func() { client(c, rec, reps, caches, &tally, stop) })
	}
	wg.Go(func() { checkConvergence(rec, reps, &tally, stop) })
	if restart {
		wg.Go(func() {
			for rec.rotations() < loadRotations/2 {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			t.Logf("restarting replica %d (%s) at %s", replicas-1, reps[replicas-1].srv.URL, time.Now().Format(time.StampMilli))
			if err := reps[replicas-1].restart(rec, p, 300*time.Millisecond); err != nil {
				tally.problem("restarting replica %d: %v", replicas-1, err)
				return
			}
			tally.restarts.Add(1)
		})
	}

	deadline := time.After(3 * time.Minute)
	for rec.rotations() < loadRotations {
		select {
		case <-deadline:
			t.Errorf("only %d rotations in 3 minutes", rec.rotations())
			close(stop)
			wg.Wait()
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(stop)
	wg.Wait()
	for _, c := range caches {
		c.wait()
	}

	// Every replica serves the last version's JWKS over HTTP. (The replicas
	// go on rotating: look again if the ring changed meanwhile.)
	last := rec.latest()
	for attempt := 0; ; attempt++ {
		last = rec.latest()
		bodies := make([]string, len(reps))
		for i, r := range reps {
			eventually(t, loadConvergence, func() bool {
				return r.current() != nil && r.current().m.KeySet().ETag() == last.etag
			}, "replica %d converges on version %d", i, last.version)
			bodies[i] = string(get(t, r.srv.URL+"/jwks"))
		}
		if rec.latest().version != last.version && attempt < 10 {
			continue
		}
		for i, body := range bodies {
			assert.Equal(t, string(last.jwks), body, "replica %d serves the JWKS of version %d", i, last.version)
		}
		break
	}

	// No key left the JWKS while a token it signed was still valid.
	removed, validUntil := rec.removals(), tally.validUntil()
	for kid, at := range removed {
		if until, ok := validUntil[kid]; ok && at.Before(until) {
			tally.problem("key %s left the JWKS at %s, while a token it signed was valid until %s",
				kid, at.Format(time.StampMilli), until.Format(time.StampMilli))
		}
	}

	problems := append(rec.problems(), tally.problems()...)
	t.Logf("%s: %d rotations, %d versions, %d keys removed, at most %d keys in the JWKS, in %v",
		t.Name(), rec.rotations(), last.version, len(removed), rec.maxKeys(), time.Since(start).Round(time.Millisecond))
	t.Logf("tokens: %d minted (%d refused by a replica restarting), %d checks passed, %d failed, %d skipped as too late; "+
		"verifier fetches: %d, %d failed; replica restarts: %d; slowest convergence on a version: %v",
		tally.minted.Load(), tally.unavailable.Load(), tally.verified.Load(), tally.failed.Load(), tally.late.Load(),
		sumFetches(caches, false), sumFetches(caches, true), tally.restarts.Load(), rec.slowestConvergence())
	assert.Zero(t, tally.failed.Load(), "verification failures")
	assert.Greater(t, tally.verified.Load(), int64(1000), "tokens checked")
	assert.Empty(t, problems)
	if restart {
		assert.Equal(t, int64(1), tally.restarts.Load())
	}
}

// A replica is one server: a Manager on the shared store, serving its JWKS
// and minting tokens (jwks.NewSigner) on its own loopback listener.
type replica struct {
	srv  *httptest.Server
	live atomic.Pointer[replicaProcess] // nil while it restarts
}

// replicaProcess is one run of a replica.
type replicaProcess struct {
	m      *Manager
	cancel context.CancelFunc
	mux    http.Handler
}

func newReplica(t *testing.T, store Store, p Policy) *replica {
	r := &replica{}
	proc, err := startProcess(store, p)
	require.NoError(t, err)
	r.live.Store(proc)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		proc := r.live.Load()
		if proc == nil {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		proc.mux.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		if proc := r.live.Load(); proc != nil {
			proc.cancel()
			<-proc.m.Done()
		}
	})
	return r
}

func startProcess(store Store, p Policy) (*replicaProcess, error) {
	ctx, cancel := context.WithCancel(context.Background())
	m, err := New(ctx, store, p, WithLogger(nil))
	if err != nil {
		cancel()
		return nil, err
	}
	signer, err := jwks.NewSigner(m.KeySet(), loadAudience, jwks.WithTokenLifetime(loadTokenLifetime))
	if err != nil {
		cancel()
		return nil, err
	}
	jh, err := jwks.NewJWKSHandler(m.KeySet())
	if err != nil {
		cancel()
		return nil, err
	}
	th, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		cancel()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /jwks", jh)
	mux.Handle("/token", th)
	return &replicaProcess{m: m, cancel: cancel, mux: mux}, nil
}

func (r *replica) current() *replicaProcess { return r.live.Load() }

// restart stops the replica's Manager, answers 503 for down, and starts a
// new one on the store: a replica killed and restarted mid-rotation.
func (r *replica) restart(store Store, p Policy, down time.Duration) error {
	proc := r.live.Swap(nil)
	proc.cancel()
	<-proc.m.Done()
	time.Sleep(down)
	proc, err := startProcess(store, p)
	if err != nil {
		return err
	}
	r.live.Store(proc)
	return nil
}

// A token is one minted token, as the test tracks it.
type token struct {
	raw        string
	kid        string
	validUntil time.Time // exp + the verifiers' leeway
}

// parseToken reads the kid and exp of a compact JWS (the test's own tokens).
func parseToken(raw string) (token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return token{}, errors.New("not a compact JWS")
	}
	var header struct {
		KID string `json:"kid"`
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	for i, v := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return token{}, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return token{}, err
		}
	}
	return token{raw: raw, kid: header.KID, validUntil: time.Unix(claims.Exp, 0).Add(loadLeeway)}, nil
}

// tally counts what the clients saw.
type tally struct {
	minted, unavailable, verified, failed, late, restarts atomic.Int64

	mu     sync.Mutex // guards the fields below
	until  map[string]time.Time
	issues []string
}

func (t *tally) add(tok token) {
	t.minted.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.until == nil {
		t.until = map[string]time.Time{}
	}
	if tok.validUntil.After(t.until[tok.kid]) {
		t.until[tok.kid] = tok.validUntil
	}
}

// validUntil returns, by kid, the end of the last valid token it signed.
func (t *tally) validUntil() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Time, len(t.until))
	for k, v := range t.until {
		out[k] = v
	}
	return out
}

func (t *tally) problem(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.issues) < 20 {
		t.issues = append(t.issues, fmt.Sprintf(format, args...))
	}
}

func (t *tally) problems() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.issues)
}

// client mints tokens from random replicas and has random verifiers check
// each at once, and an older token that is still valid.
func client(id int, rec *recorder, reps []*replica, caches []*powerSyncCache, tally *tally, stop <-chan struct{}) {
	// A Verifier per cache, with the clock pinned to the start of each
	// check: a check that a slow scheduler makes late does not fail on exp.
	var now atomic.Int64
	verifiers := make([]*jwks.Verifier, len(caches))
	for i, c := range caches {
		v, err := jwks.NewVerifier(c, loadAudience, jwks.WithLeeway(loadLeeway),
			jwks.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
		if err != nil {
			tally.problem("client %d: %v", id, err)
			return
		}
		verifiers[i] = v
	}
	check := func(tok token) {
		at := time.Now()
		if !at.Before(tok.validUntil.Add(-loadMargin)) {
			return
		}
		now.Store(at.UnixNano())
		i := rand.IntN(len(verifiers))
		_, err := verifiers[i].Verify(context.Background(), tok.raw)
		switch {
		case err == nil:
			tally.verified.Add(1)
		case !time.Now().Before(tok.validUntil):
			tally.late.Add(1) // checked after its end: it says nothing of the keys
		default:
			tally.failed.Add(1)
			tally.problem("client %d, verifier %d: token of %s (%s) refused at %s (verifier's keys %v, %s): %v",
				id, i, tok.kid, rec.history(tok.kid), at.Format(time.StampMilli), caches[i].kids(), caches[i].lastFetch(), err)
		}
	}
	var pool []token
	httpClient := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := reps[rand.IntN(len(reps))]
		tok, err := mint(httpClient, r.srv.URL)
		if errors.Is(err, errUnavailable) {
			tally.unavailable.Add(1)
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			tally.problem("client %d: minting: %v", id, err)
			continue
		}
		tally.add(tok)
		check(tok)
		if len(pool) > 0 {
			check(pool[rand.IntN(len(pool))])
		}
		// Keep the tokens that are still valid, the newest 200.
		pool = slices.DeleteFunc(pool, func(old token) bool { return time.Now().After(old.validUntil) })
		if pool = append(pool, tok); len(pool) > 200 {
			pool = pool[1:]
		}
		time.Sleep(loadPause)
	}
}

var errUnavailable = errors.New("replica unavailable")

// mint asks the replica at base for a token.
func mint(c *http.Client, base string) (token, error) {
	resp, err := c.Get(base + "/token")
	if err != nil {
		return token{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return token{}, errUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return token{}, err
	}
	return parseToken(body.Token)
}

func get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// checkConvergence watches every running replica's KeySet: each must serve
// the store's latest version within loadConvergence of its write.
func checkConvergence(rec *recorder, reps []*replica, tally *tally, stop <-chan struct{}) {
	reported := map[[2]int64]bool{}
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		last := rec.latest()
		all := true
		for i, r := range reps {
			proc := r.current()
			if proc == nil {
				continue
			}
			if proc.m.KeySet().ETag() == last.etag {
				continue
			}
			all = false
			if late := time.Since(last.at); late > loadConvergence && !reported[[2]int64{int64(i), last.version}] {
				reported[[2]int64{int64(i), last.version}] = true
				tally.problem("replica %d has not published version %d %v after it was written", i, last.version, late.Round(time.Millisecond))
			}
		}
		if all {
			rec.converged(last.version)
		}
	}
}

// A recorder is a Store that checks every version it holds: it decodes
// each, checks there is exactly one active key, and notes when each key
// left the JWKS and what each version's JWKS is.
type recorder struct {
	Store

	mu       sync.Mutex // guards the fields below; held across the store's write, so versions are noted in order
	versions []observed
	data     map[int64][]byte
	removed  map[string]time.Time
	staged   map[string]time.Time // when each key first appeared in the JWKS
	promoted map[string]time.Time // when each key became active
	issues   []string
	slowest  time.Duration
	done     int64 // the last version every replica was seen to serve
	mostKeys int
}

// observed is one version of the ring.
type observed struct {
	version   int64
	at        time.Time
	active    string
	published []string
	etag      string
	jwks      []byte
}

func newRecorder(s Store) *recorder {
	return &recorder{Store: s, data: map[int64][]byte{}, removed: map[string]time.Time{},
		staged: map[string]time.Time{}, promoted: map[string]time.Time{}}
}

func (r *recorder) Load(ctx context.Context) (int64, []byte, error) {
	version, data, err := r.Store.Load(ctx)
	if err != nil || version == 0 {
		return version, data, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if seen, ok := r.data[version]; !ok || string(seen) != string(data) {
		r.issue("Load returned version %d with data that was not written as it", version)
	}
	return version, data, err
}

func (r *recorder) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	newVersion, err := r.Store.CompareAndSwap(ctx, version, data)
	if err == nil {
		r.observe(newVersion, data)
	}
	return newVersion, err
}

func (r *recorder) issue(format string, args ...any) {
	if len(r.issues) < 20 {
		r.issues = append(r.issues, fmt.Sprintf(format, args...))
	}
}

// observe notes the version written; r.mu is held.
func (r *recorder) observe(version int64, data []byte) {
	now := time.Now()
	r.data[version] = data
	ring, err := codec{}.decode(data)
	if err != nil {
		r.issue("version %d: %v", version, err)
		return
	}
	active := 0
	for _, e := range ring.entries {
		if e.State == StateActive {
			active++
		}
	}
	if active != 1 {
		r.issue("version %d has %d active keys", version, active)
	}
	signing, published, kids := keysOf(ring)
	ks, err := jwks.NewKeySet(signing, published...)
	if err != nil {
		r.issue("version %d: %v", version, err)
		return
	}
	o := observed{version: version, at: now, active: signing.KeyID(), published: kids, etag: ks.ETag(), jwks: ks.JWKS()}
	if n := len(r.versions); n > 0 {
		for _, kid := range r.versions[n-1].published {
			if !slices.Contains(kids, kid) {
				r.removed[kid] = now
			}
		}
	}
	for _, kid := range kids {
		if _, ok := r.staged[kid]; !ok {
			r.staged[kid] = now
		}
	}
	if _, ok := r.promoted[o.active]; !ok {
		r.promoted[o.active] = now
	}
	r.mostKeys = max(r.mostKeys, len(kids))
	r.versions = append(r.versions, o)
}

func (r *recorder) latest() observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.versions[len(r.versions)-1]
}

// converged notes that every replica serves version.
func (r *recorder) converged(version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if version <= r.done {
		return
	}
	r.done = version
	for _, o := range r.versions {
		if o.version == version {
			r.slowest = max(r.slowest, time.Since(o.at))
		}
	}
}

func (r *recorder) slowestConvergence() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.slowest.Round(time.Millisecond)
}

// rotations returns how many times the active key changed.
func (r *recorder) rotations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := 1; i < len(r.versions); i++ {
		if r.versions[i].active != r.versions[i-1].active {
			n++
		}
	}
	return n
}

// history says when the key kid was staged and promoted, for a failure's
// message.
func (r *recorder) history(kid string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("staged %s, promoted %s", r.staged[kid].Format(time.StampMilli), r.promoted[kid].Format(time.StampMilli))
}

func (r *recorder) removals() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.removed))
	for k, v := range r.removed {
		out[k] = v
	}
	return out
}

func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.issues)
}

func (r *recorder) maxKeys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mostKeys
}

// A powerSyncCache is a jwks.KeySource that caches a JWKS the way a
// PowerSync process does (see POWERSYNC.md): a lookup that comes refresh or
// more after the last good fetch starts a fetch in the background and is
// answered from the old keys; an unknown kid is refused and starts a fetch,
// rate-limited (10 at once, then one every refetchEvery); a failed fetch
// keeps the old keys. Each fetch goes to a random replica; HTTP cache
// headers are ignored, as PowerSync does.
type powerSyncCache struct {
	urls    []string
	refresh time.Duration
	client  *http.Client
	wg      sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	keys     map[string]*jwks.Key
	fetched  time.Time // when the last good fetch ended
	from     string    // the replica it came from, and when it started
	fetching bool
	inflight string  // the fetch in flight: where to, since when
	budget   float64 // unknown-kid refetches allowed now
	budgetAt time.Time

	fetches, failures atomic.Int64
}

// refetchEvery is PowerSync's one unknown-kid refetch a minute, scaled.
const refetchEvery = time.Second

func newPowerSyncCache(urls []string, refresh time.Duration) *powerSyncCache {
	return &powerSyncCache{urls: urls, refresh: refresh, client: &http.Client{Timeout: 10 * time.Second},
		budget: 10, budgetAt: time.Now()}
}

func (c *powerSyncCache) LookupKey(_ context.Context, kid string) (*jwks.Key, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.fetched) >= c.refresh {
		c.startFetch()
	}
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	now := time.Now()
	c.budget = min(10, c.budget+float64(now.Sub(c.budgetAt))/float64(refetchEvery))
	c.budgetAt = now
	if c.budget >= 1 {
		c.budget--
		c.startFetch()
	}
	return nil, fmt.Errorf("%w: %s is not in the cached JWKS", jwks.ErrUnknownKey, kid)
}

// startFetch fetches in the background, unless a fetch is in flight; c.mu
// is held.
func (c *powerSyncCache) startFetch() {
	if c.fetching {
		return
	}
	c.fetching = true
	url := c.urls[rand.IntN(len(c.urls))]
	c.inflight = fmt.Sprintf("in flight to %s since %s", url, time.Now().Format(time.StampMilli))
	c.wg.Go(func() {
		started := time.Now()
		keys, err := c.fetchJWKS(url)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fetching, c.inflight = false, ""
		if err != nil {
			c.failures.Add(1)
			return // the old keys stay
		}
		c.keys, c.fetched = keys, time.Now()
		c.from = fmt.Sprintf("from %s, started %s", url, started.Format(time.StampMilli))
		c.fetches.Add(1)
	})
}

// fetchNow fetches at once.
func (c *powerSyncCache) fetchNow() error {
	keys, err := c.fetchJWKS(c.urls[rand.IntN(len(c.urls))])
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys, c.fetched = keys, time.Now()
	return nil
}

func (c *powerSyncCache) fetchJWKS(url string) (map[string]*jwks.Key, error) {
	resp, err := c.client.Get(url + "/jwks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	keys := make(map[string]*jwks.Key, len(doc.Keys))
	for _, raw := range doc.Keys {
		k, err := jwks.ParseKey(raw)
		if err != nil {
			return nil, err
		}
		if k.CanSign() {
			return nil, errors.New("a private key in the JWKS")
		}
		keys[k.KeyID()] = k
	}
	return keys, nil
}

// wait waits for the fetches in flight.
func (c *powerSyncCache) wait() { c.wg.Wait() }

func (c *powerSyncCache) kids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// lastFetch describes the last good fetch, for a failure's message.
func (c *powerSyncCache) lastFetch() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("fetched %s %s; %s", c.fetched.Format(time.StampMilli), c.from, c.inflight)
}

func sumFetches(caches []*powerSyncCache, failed bool) int64 {
	var n int64
	for _, c := range caches {
		if failed {
			n += c.failures.Load()
		} else {
			n += c.fetches.Load()
		}
	}
	return n
}
