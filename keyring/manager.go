package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powersync-jwks/jwks"
)

// maxAttempts bounds how often one change is decided anew after the ring
// changed under it (ErrConflict).
const maxAttempts = 16

// A Manager keeps one replica's signing and published keys in step with a
// key ring shared through a Store, and rotates the keys by its Policy.
//
// Its KeySet is what the replica signs with and publishes: the active key
// signs; the active key, then the next keys, then the retired keys are
// published, in the same order on every replica; revoked and removed keys
// are not. The KeySet is replaced whole when the ring changes, so signing
// and serving never wait for the Manager, the store or the network: when
// the store cannot be read, the replica goes on with the keys it has.
//
// A goroutine, started by New and running until New's context is done,
// re-reads the ring when the store notifies a change (Store.Changes), every
// Policy.StorePoll, and when the policy's next step is due; it then applies
// the policy. Every change, by that goroutine or by an operation (Stage,
// Promote, Revoke, Import, Rewrap), is made the same way: load the ring,
// decide (a pure transition), Store.CompareAndSwap; when another replica
// changed the ring first (ErrConflict), load it again and decide anew. So
// replicas never both make one change, nor lose each other's.
//
// After a gap in this replica's view of the ring, it publishes next keys
// anew before anything else: their Published time is set to the end of the
// gap, in one write, so that no replica promotes a key that some replica may
// not have published during the gap before every replica can have published
// it for PublishAhead. After a failure to read or write the store, that is
// every next key (the other replicas may not have seen the ones this replica
// had); after a refresh that came more than twice StorePoll after the last,
// the next keys this replica had not published before.
//
// A Manager is safe for concurrent use. Its operations are serialised
// within the replica, and by the store across replicas.
type Manager struct {
	store  Store
	policy Policy // with its defaults
	codec  codec
	logger *slog.Logger
	events func(Event)
	clock  func() time.Time
	newKey func(jwks.Algorithm) (*jwks.Key, error)

	ks   atomic.Pointer[jwks.KeySet] // what the replica signs with and publishes; nil while the ring is empty
	wake chan struct{}               // pokes the goroutine after an operation: deadlines may have moved
	done chan struct{}               // closed when the goroutine has returned

	// op serialises the replica's reads and changes of the ring (load,
	// transition, compare-and-swap), so that they do not conflict with each
	// other. It is held across store calls; signing and serving never take
	// it. It guards the fields below, up to mu.
	op        sync.Mutex
	outbox    []Event  // events to report once op is released
	published []string // key IDs of the KeySet, signing key first
	running   bool     // New has returned: failures are logged and reported

	mu           sync.Mutex // guards the fields below; held briefly, never across I/O
	view         view       // the ring as this replica last read or wrote it
	lastRefresh  time.Time  // the last successful refresh, by the Manager's clock
	upToDate     time.Time  // when the view was last known to be the stored ring (a load or a write), by the monotonic clock
	refreshErr   error      // the error of the last refresh; nil when it succeeded
	failingSince time.Time  // when refreshes started failing; zero when they do not
	gap          bool       // a failure since the next keys were last published anew: publish them all anew
}

// view is a version of the ring, as loaded from the store.
type view struct {
	version int64
	data    []byte // as stored, so that an unchanged ring is not decoded again
	ring    ring
}

// New returns a Manager for the ring kept in store, with the policy p (see
// Policy.Validate) and options.
//
// It loads the ring once, and returns an error when the store cannot be read
// or the ring cannot be decoded (a sealed key whose key-encryption key is not
// configured, say): a server should not start. An empty ring gets its first
// active key, a new key of p.Algorithm, unless WithoutKeyCreation is given;
// replicas starting at once agree on one key (one write wins, the others
// read it).
//
// The Manager's goroutine runs until ctx is done; the Manager's KeySet then
// stays as it was, and operations still work. Done says when the goroutine
// has returned.
func New(ctx context.Context, store Store, p Policy, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, errors.New("keyring: no store")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	m := &Manager{
		store:  store,
		policy: p.withDefaults(),
		logger: cfg.logger,
		events: cfg.events,
		clock:  cfg.now,
		newKey: cfg.newKey,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	seen := map[string]bool{}
	for _, b := range cfg.keks {
		k, err := newKEK(b)
		if err != nil {
			return nil, err
		}
		if seen[k.id] {
			return nil, fmt.Errorf("keyring: key-encryption key %s is given twice", k.id)
		}
		seen[k.id] = true
		m.codec.keks = append(m.codec.keks, k)
	}

	m.op.Lock()
	err := m.reload(ctx)
	if err == nil && len(m.current().ring.entries) == 0 && cfg.create {
		var key *jwks.Key
		if key, err = m.newKey(m.policy.Algorithm); err != nil {
			err = fmt.Errorf("keyring: making the first key: %w", err)
		} else {
			_, err = m.apply(ctx, func(r ring, now time.Time) (result, error) {
				if len(r.entries) > 0 { // another replica made the first key meanwhile
					return result{ring: r}, nil
				}
				return r.stage(key, now)
			})
		}
	}
	if err == nil {
		m.mu.Lock()
		m.lastRefresh = m.now()
		m.mu.Unlock()
		m.running = true
	}
	events := m.takeOutbox()
	m.op.Unlock()
	if err != nil {
		return nil, err
	}
	if !m.codec.sealing() {
		m.logger.Warn("keyring: private keys are stored in clear: " +
			"configure a key-encryption key (WithKeyEncryptionKeys) to seal them at rest")
	}
	m.emit(events)
	go m.run(ctx)
	return m, nil
}

// KeySet returns the keys the replica signs with and publishes, for
// jwks.NewSigner and jwks.NewJWKSHandler. It is the same *jwks.KeySet for
// the Manager's life, replaced whole on every change of the ring; nil only
// while the ring is empty (see WithoutKeyCreation).
func (m *Manager) KeySet() *jwks.KeySet { return m.ks.Load() }

// Entries returns the keys of the ring as this replica last read it, in the
// ring's order, in a new slice.
func (m *Manager) Entries() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.view.ring.entries)
	for i := range out {
		out[i].sealed = nil
	}
	return out
}

// Healthy returns the time of the last successful refresh of the ring, and
// the error of the last refresh when it failed (nil when it succeeded), for
// readiness checks and logs. A replica whose refreshes fail goes on signing
// and serving with the keys it has, but rotates nothing.
func (m *Manager) Healthy() (lastRefresh time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastRefresh, m.refreshErr
}

// Done returns a channel that is closed when the Manager's goroutine has
// returned, after New's context is done.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Stage adds a new key of the policy's algorithm as a next key: published
// from now on, signing once it is promoted. In an empty ring it becomes the
// active key at once. A ring may hold several next keys; Promote("") and the
// policy take the one published first.
func (m *Manager) Stage(ctx context.Context) (Entry, error) {
	key, err := m.newKey(m.policy.Algorithm)
	if err != nil {
		return Entry{}, fmt.Errorf("keyring: making a key: %w", err)
	}
	res, err := m.change(ctx, func(r ring, now time.Time) (result, error) { return r.stage(key, now) })
	return res.entry, err
}

// Promote makes the next key kid the active key, or with kid "" the next
// key published first, and retires the active key. A key published for
// less than the policy's PublishAhead is refused with an error wrapping
// ErrTooEarly, which says which verifiers may refuse its tokens and until
// when; with force it is promoted anyway, and that is logged at Warn.
// Promoting the active key changes nothing; a retired or revoked key is
// refused (ErrKeyState).
func (m *Manager) Promote(ctx context.Context, kid string, force bool) (Entry, error) {
	res, err := m.change(ctx, func(r ring, now time.Time) (result, error) {
		return r.promote(kid, now, m.policy, force)
	})
	if err == nil && res.warning != "" {
		m.logger.Warn(res.warning, "kid", res.entry.KeyID())
	}
	return res.entry, err
}

// Revoke takes the key kid out of the JWKS at once; it never signs again.
// It is for a key that has leaked. Revoking the active key promotes the
// next key at once (the one published first), or else makes a new active
// key. Either way, tokens signed by the revoked key fail as soon as
// verifiers have fetched the JWKS again, which is the point; and verifiers
// that have not fetched the new active key yet refuse its first tokens, then
// refetch (clients retry on 401). Revoking a revoked key changes nothing.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	var key *jwks.Key
	fresh := func() (*jwks.Key, error) {
		var err error
		if key == nil {
			key, err = m.newKey(m.policy.Algorithm)
		}
		return key, err
	}
	_, err := m.change(ctx, func(r ring, now time.Time) (result, error) { return r.revoke(kid, now, fresh) })
	return err
}

// Import adds an existing signing key, such as the original example's
// POWERSYNC_PRIVATE_KEY read with jwks.ParseKey: the first active key of an
// empty ring, or else a next key, published from now on. Importing a key
// that is already next or active changes nothing (a server may import its
// key at every start); a key the ring has retired or revoked is refused
// (ErrKeyState), and so are another key with a key ID of the ring and a
// key of the ring under another key ID, as one read from PEM is
// (jwks.ErrDuplicateKeyID), and a public key (jwks.ErrPublicKey).
func (m *Manager) Import(ctx context.Context, key *jwks.Key) (Entry, error) {
	if key == nil {
		return Entry{}, errors.New("keyring: no key to import")
	}
	res, err := m.change(ctx, func(r ring, now time.Time) (result, error) { return r.importKey(key, now) })
	return res.entry, err
}

// Rewrap seals every private key of the ring anew with the first
// key-encryption key (see WithKeyEncryptionKeys), so that the others can be
// retired. It needs a key-encryption key.
func (m *Manager) Rewrap(ctx context.Context) error {
	if !m.codec.sealing() {
		return errors.New("keyring: Rewrap needs a key-encryption key (WithKeyEncryptionKeys)")
	}
	_, err := m.change(ctx, func(r ring, now time.Time) (result, error) {
		out := r.clone()
		for i := range out.entries {
			out.entries[i].sealed = nil
		}
		return result{ring: out}, nil
	})
	return err
}

// change makes one operation's change: refresh, transition, write.
func (m *Manager) change(ctx context.Context, f func(ring, time.Time) (result, error)) (result, error) {
	m.op.Lock()
	err := m.refresh(ctx)
	var res result
	if err == nil {
		res, err = m.apply(ctx, f)
	}
	events := m.takeOutbox()
	m.op.Unlock()
	m.emit(events)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	res.entry.sealed = nil
	return res, err
}

// run is the Manager's goroutine.
func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	changes := m.store.Changes(ctx)
	timer := time.NewTimer(0) // apply the policy at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
		case <-timer.C:
		case <-m.wake:
		}
		m.tick(ctx)
		timer.Reset(m.wait())
	}
}

// tick refreshes the ring and applies the policy.
func (m *Manager) tick(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, max(2*m.policy.StorePoll, 10*time.Second))
	defer cancel()
	m.op.Lock()
	err := m.refresh(tctx)
	if err == nil {
		_, err = m.apply(tctx, func(r ring, now time.Time) (result, error) {
			return r.rotate(now, m.policy, func() (*jwks.Key, error) { return m.newKey(m.policy.Algorithm) })
		})
		var serr *storeError
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.As(err, &serr), errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnknownKEK):
			m.fail(err) // the store, or what it holds: a refresh failure
		default:
			m.logger.Error("keyring: applying the rotation policy", "error", err)
		}
	}
	events := m.takeOutbox()
	m.op.Unlock()
	m.emit(events)
}

// wait returns how long the goroutine sleeps before its next refresh:
// StorePoll, or less when the policy's next step is due sooner.
func (m *Manager) wait() time.Duration {
	d := m.policy.StorePoll
	m.mu.Lock()
	failing, r := !m.failingSince.IsZero(), m.view.ring
	m.mu.Unlock()
	if failing {
		return d
	}
	if t := r.deadline(m.policy); !t.IsZero() {
		if u := t.Sub(m.now()); u > 0 && u < d {
			d = u + time.Millisecond
		}
	}
	return d
}

// now returns the time by the Manager's clock, in UTC and without a
// monotonic reading: the ring's times are compared across replicas.
func (m *Manager) now() time.Time { return m.clock().Round(0).UTC() }

// current returns the view.
func (m *Manager) current() view {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

// seenUpToDate notes that the view is the stored ring, as of now.
func (m *Manager) seenUpToDate() {
	m.mu.Lock()
	m.upToDate = time.Now()
	m.mu.Unlock()
}

// A storeError is a failure of the store, as opposed to a refusal of a
// transition.
type storeError struct {
	what string
	err  error
}

func (e *storeError) Error() string {
	if msg := e.err.Error(); strings.HasPrefix(msg, "keyring: ") {
		return msg // a store of this package, which says what it was doing
	}
	return "keyring: " + e.what + " the key ring: " + e.err.Error()
}
func (e *storeError) Unwrap() error { return e.err }

// reload reads the ring from the store and makes it the view. The caller
// holds op.
func (m *Manager) reload(ctx context.Context) error {
	version, data, err := m.store.Load(ctx)
	if err != nil {
		return &storeError{"reading", err}
	}
	m.seenUpToDate()
	cur := m.current()
	if version == cur.version && bytes.Equal(data, cur.data) {
		return nil
	}
	if len(data) == 0 && len(cur.ring.entries) > 0 {
		return fmt.Errorf("%w: the store holds no ring any more (this replica read version %d of it); "+
			"it goes on with the keys it has", ErrCorrupt, cur.version)
	}
	r, err := m.codec.decode(data)
	if err != nil {
		return err
	}
	if version < cur.version {
		m.logger.Warn("keyring: the stored ring went back to an older version (restored from a backup?)",
			"version", version, "was", cur.version)
	}
	m.adopt(version, data, r)
	return nil
}

// refresh reloads the ring and, after a gap in the view, publishes the next
// keys anew; it keeps track of failures and recoveries. The caller holds op.
func (m *Manager) refresh(ctx context.Context) error {
	m.mu.Lock()
	before := m.upToDate
	published := nextKeys(m.view.ring) // the next keys this replica publishes
	m.mu.Unlock()
	err := m.reload(ctx)
	if err == nil {
		m.mu.Lock()
		failed := m.gap
		late := !before.IsZero() && time.Since(before) > 2*m.policy.StorePoll
		m.mu.Unlock()
		switch {
		case failed:
			err = m.republish(ctx, nil)
		case late: // the view may have been stale for longer than the policy allows for
			err = m.republish(ctx, published)
		}
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) { // shutting down, or the caller gave up: not the store's fault
			m.fail(err)
		}
		return err
	}
	m.recovered()
	return nil
}

// republish publishes the next keys anew after a gap in the view, but for
// those in skip: the DESIGN's hazard of a key staged just before the store
// became unreachable, which some replicas may not have published.
func (m *Manager) republish(ctx context.Context, skip map[string]bool) error {
	var kids []string
	_, err := m.apply(ctx, func(r ring, now time.Time) (result, error) {
		var out ring
		out, kids = r.restamp(now, skip)
		return result{ring: out}, nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.gap = false
	m.mu.Unlock()
	if len(kids) > 0 {
		m.logger.Info("keyring: next keys published anew after a gap in this replica's view of the ring: "+
			"their publish-ahead counts from now", "kids", kids)
	}
	return nil
}

// fail notes a failed refresh: logged and reported once until it recovers.
func (m *Manager) fail(err error) {
	now := m.now()
	m.mu.Lock()
	first := m.failingSince.IsZero()
	if first {
		m.failingSince = now
	}
	m.refreshErr = err
	m.gap = true
	version := m.view.version
	m.mu.Unlock()
	if first && m.running {
		m.logger.Error("keyring: cannot refresh the key ring; signing and serving go on with the keys this replica has, "+
			"rotation waits", "version", version, "error", err)
		m.outbox = append(m.outbox, ev(EventRefreshFailed, "", now))
	}
}

// recovered notes a successful refresh.
func (m *Manager) recovered() {
	now := m.now()
	m.mu.Lock()
	since := m.failingSince
	m.failingSince, m.refreshErr, m.lastRefresh = time.Time{}, nil, now
	version := m.view.version
	m.mu.Unlock()
	if !since.IsZero() && m.running {
		m.logger.Info("keyring: the key ring can be refreshed again", "version", version, "failed_for", now.Sub(since).Round(time.Millisecond))
		m.outbox = append(m.outbox, ev(EventRefreshRecovered, "", now))
	}
}

// apply makes the change f decides on the view: it seals new private keys,
// writes the ring if it changed, and on ErrConflict reloads the ring and
// lets f decide anew. The caller holds op.
func (m *Manager) apply(ctx context.Context, f func(ring, time.Time) (result, error)) (result, error) {
	for attempt := 1; ; attempt++ {
		cur := m.current()
		res, err := f(cur.ring, m.now())
		if err != nil {
			return result{}, err
		}
		next, err := m.codec.seal(res.ring, false)
		if err != nil {
			return result{}, err
		}
		if next.same(cur.ring) {
			res.ring = cur.ring
			return res, nil
		}
		data, err := m.codec.encode(next)
		if err != nil {
			return result{}, err
		}
		version, err := m.store.CompareAndSwap(ctx, cur.version, data)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			if err := m.reload(ctx); err != nil {
				return result{}, err
			}
			continue
		}
		if err != nil {
			return result{}, &storeError{"writing", err}
		}
		res.ring = next
		m.seenUpToDate()
		m.adopt(version, data, next)
		for _, e := range res.events {
			m.logger.Info("keyring: key "+string(e.Type), "kid", e.KID, "version", version)
		}
		m.outbox = append(m.outbox, res.events...)
		return res, nil
	}
}

// adopt makes r, stored at version as data, the view, and replaces the
// KeySet when its keys changed. The caller holds op.
func (m *Manager) adopt(version int64, data []byte, r ring) {
	m.mu.Lock()
	m.view = view{version: version, data: data, ring: r}
	m.mu.Unlock()

	signing, published, kids := keysOf(r)
	if signing == nil {
		return // an empty ring: nothing to sign with or publish yet
	}
	if slices.Equal(kids, m.published) {
		return
	}
	var err error
	if ks := m.ks.Load(); ks != nil {
		err = ks.Replace(signing, published...)
	} else {
		var ks *jwks.KeySet
		if ks, err = jwks.NewKeySet(signing, published...); err == nil {
			m.ks.Store(ks)
		}
	}
	if err != nil { // the ring was checked: this is a bug
		m.logger.Error("keyring: the key set cannot hold the ring's keys; keeping the keys it has", "version", version, "error", err)
		return
	}
	m.published = kids
}

// nextKeys returns the key IDs of the next keys of r.
func nextKeys(r ring) map[string]bool {
	kids := map[string]bool{}
	for _, e := range r.entries {
		if e.State == StateNext {
			kids[e.Key.KeyID()] = true
		}
	}
	return kids
}

// keysOf returns what a replica signs with and publishes for the ring r:
// the active key signs; the next keys, then the retired keys, each in the
// ring's order, are published after it; and the key IDs of all of them,
// in that order. An empty ring has none.
func keysOf(r ring) (signing *jwks.Key, published []*jwks.Key, kids []string) {
	a := r.active()
	if a < 0 {
		return nil, nil, nil
	}
	signing = r.entries[a].Key
	kids = []string{signing.KeyID()}
	for _, state := range []State{StateNext, StateRetired} {
		for _, e := range r.entries {
			if e.State == state {
				published = append(published, e.Key.PublicOnly())
				kids = append(kids, e.Key.KeyID())
			}
		}
	}
	return signing, published, kids
}

// takeOutbox returns the events to report and empties the outbox. The
// caller holds op.
func (m *Manager) takeOutbox() []Event {
	events := m.outbox
	m.outbox = nil
	return events
}

// emit reports events to the WithEvents function.
func (m *Manager) emit(events []Event) {
	if m.events == nil {
		return
	}
	for _, e := range events {
		m.events(e)
	}
}
