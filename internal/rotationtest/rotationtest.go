// Package rotationtest is the rotation-under-load test of package keyring,
// shared by the tests of keyring (a MemoryStore, a FileStore) and of the
// pgstore module (PostgreSQL). It is imported only by tests.
//
// Run starts replicas, each a keyring.Manager on its own Store serving its
// JWKS and minting tokens on its own loopback listener; clients mint tokens
// from random replicas and have them checked by verifiers that cache the
// JWKS the way PowerSync does (refreshed in the background on the first
// lookup a refresh period after the last fetch, refetched, rate-limited, on
// an unknown kid, kept when a fetch fails), fetched from random replicas,
// while the Managers rotate the keys. It requires zero
// verification failures, exactly one active key at every version of the
// ring that anyone reads or writes, every replica's JWKS converging on each
// version, and no key leaving the JWKS while a token it signed is valid.
package rotationtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/powersync-jwks/jwks/keyring"
)

// Audience is the audience of the tokens: the PowerSync instance.
const Audience = "https://powersync.example"

// How the replicas and verifiers work by default: PowerSync's periods
// scaled down, 5 min to 200 ms.
const (
	DefaultTokenLifetime = time.Second            // of the tokens the replicas sign: the Signer's shortest
	DefaultLeeway        = 200 * time.Millisecond // of the verifiers
	DefaultRefresh       = 200 * time.Millisecond // how long after its last fetch a verifier fetches the JWKS again
	// DefaultPause is how long a client waits between tokens: some fifty
	// tokens a second with three clients, so that the test itself leaves
	// the machine idle enough for its timings.
	DefaultPause = 50 * time.Millisecond
)

// DefaultPolicy is the replicas' policy unless Config.Policy is set.
//
// The policy's periods are bounds, not timers, and at this scale the time a
// machine takes to do things is no longer negligible as it is against
// minutes: on a busy CI machine under the race detector, a fetch of the
// JWKS, a store write or a goroutine's wake-up can take several hundred
// milliseconds. So the policy is told that a change reaches every replica,
// writes included, within StorePoll = 300 ms (which is also how often the
// replicas re-read the store; a MemoryStore, and PostgreSQL's NOTIFY, tell
// them at once); that a verifier's copy of the JWKS is at most
// VerifierRefresh = 600 ms old, its refresh period plus its fetches; and
// that tokens live at most MaxTokenLifetime = 1.5 s, which leaves half a
// second for a replica that is slow to sign with the new key after a
// promotion. PublishAhead is the safe minimum, 1.1 s; Retention is 2 s; and
// RotateEvery, 1.15 s, is just above the shortest the policy allows (more
// than PublishAhead). 50 rotations take about a minute.
var DefaultPolicy = func() keyring.Policy {
	p := keyring.Policy{
		StorePoll:        300 * time.Millisecond,
		JWKSMaxAge:       DefaultRefresh,
		VerifierRefresh:  3 * DefaultRefresh,
		MaxTokenLifetime: DefaultTokenLifetime + 500*time.Millisecond,
		Leeway:           DefaultLeeway,
	}
	p.RotateEvery = p.SafePublishAhead() + 50*time.Millisecond
	return p
}()

// Config describes a run. Zero fields take the defaults given.
type Config struct {
	// Stores holds each replica's Store, one replica per element. Replicas
	// in one process may share one Store (a MemoryStore); replicas on a
	// database have a Store each, as separate servers would.
	Stores []keyring.Store

	// Policy is every replica's policy: DefaultPolicy. It must rotate, and
	// its bounds must hold the test's own periods, with room to spare:
	// Policy.MaxTokenLifetime ≥ TokenLifetime, Policy.VerifierRefresh ≥
	// Refresh, Policy.Leeway ≥ Leeway.
	Policy keyring.Policy

	// Options are given to every replica's keyring.New, after
	// keyring.WithLogger(nil).
	Options []keyring.Option

	// Rotations is how many times the active key must change: 50.
	Rotations int

	// Restart, when set, stops the last replica's Manager once half the
	// rotations are done, answers 503 for RestartDown (300ms), and starts a
	// new Manager on its Store: a replica killed and restarted mid-rotation.
	Restart     bool
	RestartDown time.Duration

	// TokenLifetime is the lifetime of the tokens the replicas sign, whole
	// seconds: DefaultTokenLifetime.
	TokenLifetime time.Duration
	// Leeway is the verifiers' exp leeway: DefaultLeeway.
	Leeway time.Duration
	// Refresh is how long after its last fetch a verifier fetches the JWKS
	// again, PowerSync's 5 minutes scaled: DefaultRefresh.
	Refresh time.Duration
	// RefetchEvery is PowerSync's one unknown-kid refetch a minute, scaled:
	// 1s.
	RefetchEvery time.Duration

	// Clients is the number of goroutines minting and checking tokens: 3.
	Clients int
	// Pause is how long a client waits between tokens: DefaultPause.
	Pause time.Duration
	// Verifiers is the number of PowerSync processes, each with its own
	// JWKS cache: 3.
	Verifiers int

	// Convergence bounds how long after a version is stored every running
	// replica must publish it: StorePoll, and room for a busy machine
	// running the race detector (2s). The test logs the slowest it saw.
	Convergence time.Duration
	// Margin: a token is checked only while it has that long left, so that
	// a slow scheduler does not make the check after the token's end
	// (50ms).
	Margin time.Duration
	// MinChecks is the fewest token checks that must pass: 1000.
	MinChecks int64
	// Timeout bounds the time the rotations may take: 5 minutes.
	Timeout time.Duration

	// Watch, when set, runs beside the replicas until ctx is done, reading
	// the ring in a way of its own (a listener on the database's
	// notifications, say). It passes every version it reads to observe,
	// which checks it as it checks the versions the replicas read and
	// write. An error it returns, unless ctx is done, is a problem.
	Watch func(ctx context.Context, observe func(version int64, data []byte)) error
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	if c.Policy == (keyring.Policy{}) {
		c.Policy = DefaultPolicy
	}
	defInt(&c.Rotations, 50)
	defInt(&c.Clients, 3)
	defInt(&c.Verifiers, 3)
	def(&c.RestartDown, 300*time.Millisecond)
	def(&c.TokenLifetime, DefaultTokenLifetime)
	def(&c.Leeway, DefaultLeeway)
	def(&c.Refresh, DefaultRefresh)
	def(&c.RefetchEvery, time.Second)
	def(&c.Pause, DefaultPause)
	def(&c.Convergence, 2*time.Second)
	def(&c.Margin, 50*time.Millisecond)
	def(&c.Timeout, 5*time.Minute)
	if c.MinChecks == 0 {
		c.MinChecks = 1000
	}
	return c
}

// Result is what a run saw.
type Result struct {
	Rotations   int   // times the active key changed
	LastVersion int64 // the ring's last version
	// The versions by what changed: a key staged, the active key, a key
	// removed from the JWKS, or times only (next keys published anew after
	// a gap in a replica's view, say).
	Staged, Promoted, Removals, TimesOnly int
	Removed                               int // keys that left the JWKS
	MaxKeys                               int // the most keys a version published

	Minted      int64 // tokens minted
	Unavailable int64 // mint requests refused by a restarting replica
	Verified    int64 // checks passed
	Failed      int64 // checks failed: must be zero
	Late        int64 // checks made after the token's end, which say nothing
	// Idle counts the tokens of a key published meanwhile that a verifier
	// refused after it had seen no request for longer than the policy's
	// VerifierRefresh (the test stalled), until its refetch: the one case
	// no signer can prevent. They are logged, and are not failures.
	Idle int64

	Fetches, FetchFailures int64 // the verifiers' JWKS fetches
	Restarts               int64

	SlowestConvergence time.Duration // from a version's commit until every replica was seen to publish it
	LongestStall       time.Duration // the longest the convergence check was kept from running
	Elapsed            time.Duration

	Problems []string // must be empty
}

// Run runs the rotation under load described by cfg, logs what it saw, and
// fails t on any verification failure or problem. It returns the Result
// for further checks.
func Run(t testing.TB, cfg Config) Result {
	t.Helper()
	start := time.Now()
	cfg = cfg.withDefaults()
	if len(cfg.Stores) == 0 {
		t.Fatal("rotationtest: no replicas")
	}
	p := cfg.Policy
	if p.RotateEvery == 0 {
		t.Fatal("rotationtest: the policy does not rotate")
	}
	if p.MaxTokenLifetime < cfg.TokenLifetime || p.VerifierRefresh < cfg.Refresh || p.Leeway < cfg.Leeway {
		t.Fatal("rotationtest: the policy's bounds do not hold the test's periods")
	}
	rec := newRecorder()

	reps := make([]*replica, len(cfg.Stores))
	urls := make([]string, len(reps))
	for i, s := range cfg.Stores {
		reps[i] = newReplica(t, recordingStore{Store: s, rec: rec}, cfg)
		urls[i] = reps[i].srv.URL
	}
	caches := make([]*powerSyncCache, cfg.Verifiers)
	for i := range caches {
		caches[i] = newPowerSyncCache(urls, cfg.Refresh, cfg.RefetchEvery, p.VerifierRefresh)
		if err := caches[i].fetchNow(); err != nil {
			t.Fatalf("verifier %d: first fetch: %v", i, err)
		}
	}
	tally := &tally{}

	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if cfg.Watch != nil {
		wg.Go(func() {
			err := cfg.Watch(ctx, func(version int64, data []byte) { rec.observe(version, data, time.Now(), "watched") })
			if err != nil && ctx.Err() == nil {
				tally.problem("watching the ring: %v", err)
			}
		})
	}
	for c := range cfg.Clients {
		wg.Go(func() { client(c, cfg, rec, reps, caches, tally, stop) })
	}
	wg.Go(func() { checkConvergence(rec, reps, cfg.Convergence, tally, stop) })
	if cfg.Restart {
		wg.Go(func() {
			for rec.rotations() < cfg.Rotations/2 {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			last := len(reps) - 1
			t.Logf("restarting replica %d (%s) at %s", last, reps[last].srv.URL, time.Now().Format(time.StampMilli))
			if err := reps[last].restart(cfg); err != nil {
				tally.problem("restarting replica %d: %v", last, err)
				return
			}
			tally.restarts.Add(1)
		})
	}
	finish := func() {
		close(stop)
		cancel()
		wg.Wait()
		for _, c := range caches {
			c.wait()
		}
	}

	deadline := time.After(cfg.Timeout)
	for rec.rotations() < cfg.Rotations {
		select {
		case <-deadline:
			t.Errorf("only %d rotations in %v", rec.rotations(), cfg.Timeout)
			finish()
			return Result{Rotations: rec.rotations(), Problems: append(rec.problems(), tally.problems()...)}
		case <-time.After(20 * time.Millisecond):
		}
	}
	finish()

	// Every replica serves the last version's JWKS over HTTP, the same
	// document. (The replicas go on rotating: look again if the ring
	// changed meanwhile.)
	last := serveLast(rec, reps, cfg.Convergence, tally)

	// No key left the JWKS while a token it signed was still valid.
	removed, validUntil := rec.removals(), tally.validUntil()
	for kid, at := range removed {
		if until, ok := validUntil[kid]; ok && at.Before(until) {
			tally.problem("key %s left the JWKS at %s, while a token it signed was valid until %s",
				kid, at.Format(time.StampMilli), until.Format(time.StampMilli))
		}
	}

	staged, promoted, removals, timesOnly := rec.kinds()
	res := Result{
		Staged: staged, Promoted: promoted, Removals: removals, TimesOnly: timesOnly,
		Rotations: rec.rotations(), LastVersion: last.version, Removed: len(removed), MaxKeys: rec.maxKeys(),
		Minted: tally.minted.Load(), Unavailable: tally.unavailable.Load(), Verified: tally.verified.Load(),
		Failed: tally.failed.Load(), Late: tally.late.Load(), Idle: tally.idle.Load(),
		Fetches: sumFetches(caches, false), FetchFailures: sumFetches(caches, true), Restarts: tally.restarts.Load(),
		SlowestConvergence: rec.slowestConvergence(), LongestStall: tally.longestStall(), Elapsed: time.Since(start).Round(time.Millisecond),
		Problems: append(rec.problems(), tally.problems()...),
	}
	t.Logf("%s: %d replicas, %d rotations, %d versions, %d keys removed, at most %d keys in the JWKS, in %v",
		t.Name(), len(reps), res.Rotations, res.LastVersion, res.Removed, res.MaxKeys, res.Elapsed)
	t.Logf("versions after the first: %d staged a key, %d changed the active key, %d removed keys, %d changed times only",
		res.Staged, res.Promoted, res.Removals, res.TimesOnly)
	for _, n := range tally.noted() {
		t.Log(n)
	}
	t.Logf("tokens: %d minted (%d refused by a replica restarting), %d checks passed, %d failed, %d skipped as too late, "+
		"%d refused by a verifier back from idleness; "+
		"verifier fetches: %d, %d failed; replica restarts: %d; slowest convergence on a version: %v (the longest stall of the test: %v)",
		res.Minted, res.Unavailable, res.Verified, res.Failed, res.Late, res.Idle,
		res.Fetches, res.FetchFailures, res.Restarts, res.SlowestConvergence, res.LongestStall)
	assert.Zero(t, res.Failed, "verification failures")
	assert.Greater(t, res.Verified, cfg.MinChecks, "tokens checked")
	assert.Empty(t, res.Problems)
	if cfg.Restart {
		assert.Equal(t, int64(1), res.Restarts, "replica restarts")
	}
	return res
}

// serveLast checks that every replica serves the ring's last version over
// HTTP, all the same document, and returns that version. It looks again,
// up to 10 times, when a version comes meanwhile.
func serveLast(rec *recorder, reps []*replica, bound time.Duration, tally *tally) observed {
	for attempt := 0; ; attempt++ {
		last := rec.latest()
		var issues []string
		bodies := make([][]byte, len(reps))
		for i, r := range reps {
			ok := eventually(bound, func() bool {
				proc := r.current()
				if proc == nil {
					return false
				}
				kids, err := jwksKeyIDs(proc.m.KeySet().JWKS())
				return err == nil && slices.Equal(kids, last.published)
			})
			if !ok {
				issues = append(issues, fmt.Sprintf("replica %d does not converge on version %d", i, last.version))
				continue
			}
			body, err := get(r.srv.URL + "/jwks")
			if err != nil {
				issues = append(issues, fmt.Sprintf("replica %d: GET /jwks: %v", i, err))
				continue
			}
			bodies[i] = body
			kids, err := jwksKeyIDs(body)
			if err != nil || !slices.Equal(kids, last.published) {
				issues = append(issues, fmt.Sprintf("replica %d serves the keys %v (%v), not those of version %d, %v",
					i, kids, err, last.version, last.published))
			}
			if i > 0 && bodies[0] != nil && !bytes.Equal(body, bodies[0]) {
				issues = append(issues, fmt.Sprintf("replica %d serves another JWKS document than replica 0", i))
			}
		}
		if rec.latest().version != last.version && attempt < 10 {
			continue
		}
		for _, issue := range issues {
			tally.problem("%s", issue)
		}
		return last
	}
}

// checkConvergence watches every running replica's KeySet: each must
// publish the ring's latest version within bound of its commit. It looks
// every 5ms; when it has not run for longer than stall (the whole test
// process descheduled, or the machine busy), it gives the replicas bound
// from its waking before it blames them, since they did not run either.
func checkConvergence(rec *recorder, reps []*replica, bound time.Duration, tally *tally, stop <-chan struct{}) {
	const stall = 50 * time.Millisecond
	reported := map[[2]int64]bool{}
	parsed := map[string][]string{} // JWKS document → its key IDs
	lastTick, woke := time.Now(), time.Time{}
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		now := time.Now()
		if d := now.Sub(lastTick); d > stall {
			woke = now
			tally.stalled(d)
		}
		lastTick = now
		last := rec.latest()
		since := last.committed
		if woke.After(since) {
			since = woke
		}
		all := true
		for i, r := range reps {
			proc := r.current()
			if proc == nil {
				continue
			}
			doc := string(proc.m.KeySet().JWKS())
			kids, ok := parsed[doc]
			if !ok {
				var err error
				if kids, err = jwksKeyIDs([]byte(doc)); err != nil {
					tally.problem("replica %d: its JWKS: %v", i, err)
				}
				parsed[doc] = kids
			}
			if slices.Equal(kids, last.published) {
				continue
			}
			all = false
			key := [2]int64{int64(i), last.version}
			if late := now.Sub(since); late > bound && !reported[key] {
				reported[key] = true
				tally.problem("replica %d has not published version %d %v after it was stored (it publishes %v, the version %v)",
					i, last.version, now.Sub(last.committed).Round(time.Millisecond), kids, last.published)
			}
		}
		if all {
			rec.converged(last.version)
		}
	}
}

// eventually reports whether cond holds within d, polling it.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// get returns the body of a 200 answer to a GET of url.
func get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

var errUnavailable = errors.New("replica unavailable")

// sortedKeys returns the keys of m, sorted.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
