package keyring

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// fastPolicy rotates every 250ms: PublishAhead 200ms, Retention 160ms.
// (With a StorePoll much shorter, a busy machine's pauses look like gaps in
// the view, and the next keys are published anew again and again.)
var fastPolicy = Policy{
	RotateEvery:      250 * time.Millisecond,
	StorePoll:        100 * time.Millisecond,
	JWKSMaxAge:       50 * time.Millisecond,
	VerifierRefresh:  50 * time.Millisecond,
	MaxTokenLifetime: 50 * time.Millisecond,
	Leeway:           10 * time.Millisecond,
}

// newManager starts a Manager that stops with the test.
func newManager(t testing.TB, store Store, p Policy, opts ...Option) *Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := New(ctx, store, p, append([]Option{WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		<-m.Done()
	})
	return m
}

// stored decodes what store holds.
func stored(t testing.TB, store Store, keks ...[]byte) (int64, ring) {
	t.Helper()
	version, data, err := store.Load(context.Background())
	require.NoError(t, err)
	r, err := testCodec(t, keks...).decode(data)
	require.NoError(t, err)
	return version, r
}

// entryStates returns the states of entries, by key ID.
func entryStates(entries []Entry) map[string]State {
	return states(ring{entries: entries})
}

func TestNewMakesTheFirstKey(t *testing.T) {
	store := NewMemoryStore()
	var events eventLog
	m := newManager(t, store, Policy{}, WithEvents(events.add))
	entries := m.Entries()
	require.Len(t, entries, 1)
	assert.Equal(t, StateActive, entries[0].State)
	assert.Equal(t, jwks.ES256, entries[0].Key.Algorithm())
	assert.Equal(t, entries[0].KeyID(), m.KeySet().SigningKey().KeyID())
	version, r := stored(t, store)
	assert.Equal(t, int64(1), version)
	assert.Equal(t, map[string]State{entries[0].KeyID(): StateActive}, states(r))
	assert.Equal(t, []string{"staged " + entries[0].KeyID(), "promoted " + entries[0].KeyID()}, eventTypes(events.events))
	last, err := m.Healthy()
	assert.NoError(t, err)
	assert.WithinDuration(t, time.Now(), last, time.Minute)
}

func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("a store that cannot be read", func(t *testing.T) {
		store := &flakyStore{Store: NewMemoryStore()}
		store.down.Store(true)
		_, err := New(ctx, store, Policy{}, WithLogger(nil))
		assert.ErrorIs(t, err, errStoreDown)
	})
	t.Run("a ring sealed with another KEK", func(t *testing.T) {
		store := NewMemoryStore()
		k1, k2 := newKEKBytes(t), newKEKBytes(t)
		newManager(t, store, Policy{}, WithKeyEncryptionKeys(k1))
		_, err := New(ctx, store, Policy{}, WithLogger(nil), WithKeyEncryptionKeys(k2))
		require.ErrorIs(t, err, ErrUnknownKEK)
		assert.Contains(t, err.Error(), KEKID(k1))
	})
	t.Run("a bad policy", func(t *testing.T) {
		_, err := New(ctx, NewMemoryStore(), Policy{PublishAhead: time.Minute}, WithLogger(nil))
		assert.ErrorContains(t, err, "PublishAhead 1m0s is below the safe minimum")
	})
	t.Run("a short KEK", func(t *testing.T) {
		_, err := New(ctx, NewMemoryStore(), Policy{}, WithLogger(nil), WithKeyEncryptionKeys([]byte("short")))
		assert.ErrorContains(t, err, "AES-256 needs 32")
	})
	t.Run("a KEK twice", func(t *testing.T) {
		k := newKEKBytes(t)
		_, err := New(ctx, NewMemoryStore(), Policy{}, WithLogger(nil), WithKeyEncryptionKeys(k, k))
		assert.ErrorContains(t, err, "given twice")
	})
}

// TestReplicasStartingAtOnceAgree starts several Managers on one empty store
// at once: one key, which all of them sign with.
func TestReplicasStartingAtOnceAgree(t *testing.T) {
	for round := range 10 {
		store := NewMemoryStore()
		managers := make([]*Manager, 4)
		var wg sync.WaitGroup
		for i := range managers {
			wg.Go(func() { managers[i] = newManager(t, store, Policy{}) })
		}
		wg.Wait()
		_, r := stored(t, store)
		require.Len(t, r.entries, 1, "round %d", round)
		for _, m := range managers {
			assert.Equal(t, r.entries[0].KeyID(), m.KeySet().SigningKey().KeyID())
		}
	}
}

func TestImportIntoAnEmptyRing(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	m := newManager(t, store, Policy{}, WithoutKeyCreation())
	assert.Nil(t, m.KeySet(), "no key set while the ring is empty")
	assert.Empty(t, m.Entries())

	seed := newTestKey(t)
	e, err := m.Import(ctx, seed)
	require.NoError(t, err)
	assert.Equal(t, StateActive, e.State)
	assert.Equal(t, seed.KeyID(), m.KeySet().SigningKey().KeyID())

	again, err := m.Import(ctx, seed)
	require.NoError(t, err)
	assert.Equal(t, e.Activated, again.Activated, "importing the same key again changes nothing")
	version, _ := stored(t, store)
	assert.Equal(t, int64(1), version)

	other := newTestKey(t)
	e, err = m.Import(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, StateNext, e.State)
	_, err = m.Import(ctx, other.PublicOnly())
	assert.ErrorIs(t, err, jwks.ErrPublicKey)
	_, err = m.Import(ctx, nil)
	assert.Error(t, err)
}

// TestManualLifecycle stages, promotes, forces and revokes on a clock that
// moves only when told to.
func TestManualLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(t0)
	var logs logBuffer
	var events eventLog
	store := NewMemoryStore()
	m, err := New(ctx, store, Policy{}, withClock(clock.Now), WithLogger(logs.logger()), WithEvents(events.add))
	require.NoError(t, err)
	p := Policy{}.withDefaults()
	ks := m.KeySet()
	a := ks.SigningKey().KeyID()
	assert.Equal(t, 1, logs.Count("private keys are stored in clear"))

	next, err := m.Stage(ctx)
	require.NoError(t, err)
	b := next.KeyID()
	assert.Equal(t, StateNext, next.State)
	assert.Equal(t, a, ks.SigningKey().KeyID(), "a next key does not sign")
	_, published := ks.Key(b)
	assert.True(t, published, "a next key is published at once")

	_, err = m.Promote(ctx, "", false)
	require.ErrorIs(t, err, ErrTooEarly)
	assert.Equal(t, a, ks.SigningKey().KeyID())

	clock.Add(p.PublishAhead)
	promoted, err := m.Promote(ctx, "", false)
	require.NoError(t, err)
	assert.Equal(t, b, promoted.KeyID())
	assert.Equal(t, b, ks.SigningKey().KeyID())
	_, published = ks.Key(a)
	assert.True(t, published, "the retired key stays published")

	next, err = m.Stage(ctx)
	require.NoError(t, err)
	c := next.KeyID()
	clock.Add(time.Minute)
	_, err = m.Promote(ctx, c, true)
	require.NoError(t, err)
	assert.Equal(t, c, ks.SigningKey().KeyID())
	assert.Equal(t, 1, logs.Count("promoted 9m30s before its publish-ahead was over"), logs.String())

	require.NoError(t, m.Revoke(ctx, c))
	d := ks.SigningKey().KeyID()
	assert.NotContains(t, []string{a, b, c}, d, "revoking the active key without a next key makes a fresh one")
	_, published = ks.Key(c)
	assert.False(t, published, "a revoked key leaves the JWKS at once")
	assert.Equal(t, map[string]State{a: StateRetired, b: StateRetired, c: StateRevoked, d: StateActive}, entryStates(m.Entries()))

	assert.ErrorIs(t, m.Revoke(ctx, "nope"), ErrUnknownKey)
	require.NoError(t, m.Revoke(ctx, c), "revoking a revoked key changes nothing")
	_, err = m.Promote(ctx, b, true)
	assert.ErrorIs(t, err, ErrKeyState, "a retired key never signs again")

	clock.Add(p.Retention())
	m.tick(ctx)
	assert.Equal(t, map[string]State{c: StateRevoked, d: StateActive}, entryStates(m.Entries()), "retired keys leave after their retention")
	_, published = ks.Key(a)
	assert.False(t, published)

	assert.Equal(t, 4, events.count(EventStaged), "events: %v", eventTypes(events.events))
	assert.Equal(t, 4, events.count(EventPromoted))
	assert.Equal(t, 2, events.count(EventRetired))
	assert.Equal(t, 1, events.count(EventRevoked))
	assert.Equal(t, 2, events.count(EventRemoved))
}

func TestAutomaticRotation(t *testing.T) {
	var events eventLog
	m := newManager(t, NewMemoryStore(), fastPolicy, WithEvents(events.add))
	first := m.KeySet().SigningKey().KeyID()
	eventually(t, 15*time.Second, func() bool { return events.count(EventPromoted) >= 5 },
		"5 promotions (the first key's included): %v", eventTypes(events.events))
	assert.NotEqual(t, first, m.KeySet().SigningKey().KeyID())
	eventually(t, 15*time.Second, func() bool { return events.count(EventRemoved) >= 2 }, "retired keys removed")
	for _, e := range m.Entries() {
		assert.NotEqual(t, first, e.KeyID(), "the first key is gone")
	}
}

// countingStore counts successful writes.
type countingStore struct {
	Store
	writes atomic.Int64
}

func (s *countingStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	v, err := s.Store.CompareAndSwap(ctx, version, data)
	if err == nil {
		s.writes.Add(1)
	}
	return v, err
}

// TestReplicasRaceOneTransition has two replicas make the same change at
// once, by hand and by the policy: one write wins, and the other replica,
// deciding anew on the ring it then reads, makes none.
func TestReplicasRaceOneTransition(t *testing.T) {
	ctx := context.Background()
	p := Policy{RotateEvery: 24 * time.Hour}
	full := p.withDefaults()
	for round := range 20 {
		clock := newFakeClock(t0)
		store := &countingStore{Store: NewMemoryStore()}
		var events eventLog
		a := newManager(t, store, p, withClock(clock.Now), WithEvents(events.add))
		b := newManager(t, store, p, withClock(clock.Now), WithEvents(events.add))

		// The policy stages a key on both at once.
		writes := store.writes.Load()
		clock.Add(full.RotateEvery - full.PublishAhead)
		var wg sync.WaitGroup
		wg.Go(func() { a.tick(ctx) })
		wg.Go(func() { b.tick(ctx) })
		wg.Wait()
		_, r := stored(t, store)
		require.Len(t, r.entries, 2, "round %d: one next key", round)
		assert.Equal(t, writes+1, store.writes.Load())
		// (The Managers' goroutines may have made the change, and report it
		// after it is stored.)
		eventually(t, 10*time.Second, func() bool { return events.count(EventStaged) == 2 }, "one key staged, after the first")
		kid := r.entries[1].KeyID()

		// Both promote it by hand at once (or their goroutines, by the policy).
		writes = store.writes.Load()
		clock.Add(full.PublishAhead)
		var errA, errB error
		wg.Go(func() { _, errA = a.Promote(ctx, kid, false) })
		wg.Go(func() { _, errB = b.Promote(ctx, kid, false) })
		wg.Wait()
		require.NoError(t, errA)
		require.NoError(t, errB)
		_, r = stored(t, store)
		assert.Equal(t, map[string]State{r.entries[0].KeyID(): StateRetired, kid: StateActive}, states(r), "round %d", round)
		assert.Equal(t, writes+1, store.writes.Load(), "one promotion written")
		eventually(t, 10*time.Second, func() bool { return events.count(EventPromoted) == 2 }, "the first key's promotion and this one")
		time.Sleep(time.Millisecond)
		assert.Equal(t, 2, events.count(EventPromoted))
	}
}

// TestStoreDownMidRun takes the store away from two rotating replicas: they
// sign and serve on, say so once, and rotate again once it is back.
func TestStoreDownMidRun(t *testing.T) {
	store := &flakyStore{Store: NewMemoryStore()}
	var logs [2]logBuffer
	var events [2]eventLog
	var managers [2]*Manager
	for i := range managers {
		managers[i] = newManager(t, store, fastPolicy, WithLogger(logs[i].logger()), WithEvents(events[i].add))
	}
	promotions := func() int { return events[0].count(EventPromoted) + events[1].count(EventPromoted) }
	eventually(t, 15*time.Second, func() bool { return promotions() >= 3 }, "rotating")

	store.down.Store(true)
	downAt := time.Now()
	for i := range managers {
		eventually(t, 10*time.Second, func() bool { return logs[i].Count("cannot refresh the key ring") == 1 }, "replica %d says so", i)
	}
	time.Sleep(10 * fastPolicy.StorePoll) // many failed refreshes
	before := promotions()
	for i, m := range managers {
		assert.Equal(t, 1, logs[i].Count("cannot refresh the key ring"), "replica %d: once", i)
		assert.Equal(t, 1, events[i].count(EventRefreshFailed))
		last, err := m.Healthy()
		assert.ErrorIs(t, err, errStoreDown)
		assert.True(t, last.Before(downAt.Add(fastPolicy.StorePoll)))

		signer, err := jwks.NewSigner(m.KeySet(), "https://powersync.example")
		require.NoError(t, err)
		_, err = signer.Sign(context.Background(), "user")
		assert.NoError(t, err, "replica %d signs on", i)
		rec := httptest.NewRecorder()
		jh, err := jwks.NewJWKSHandler(m.KeySet())
		require.NoError(t, err)
		jh.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
		assert.Equal(t, http.StatusOK, rec.Code, "replica %d serves on", i)
		assert.True(t, strings.Contains(rec.Body.String(), m.KeySet().SigningKey().KeyID()))
	}
	assert.Greater(t, store.loads.Load(), int64(10))

	store.down.Store(false)
	for i, m := range managers {
		eventually(t, 10*time.Second, func() bool { return logs[i].Count("can be refreshed again") == 1 }, "replica %d recovers", i)
		_, err := m.Healthy()
		assert.NoError(t, err)
	}
	eventually(t, 15*time.Second, func() bool { return promotions() >= before+3 }, "rotating again")
	for i := range managers {
		assert.Equal(t, 1, logs[i].Count("cannot refresh the key ring"), "replica %d", i)
		assert.Equal(t, 1, logs[i].Count("can be refreshed again"), "replica %d", i)
		assert.Equal(t, 1, events[i].count(EventRefreshRecovered))
	}
	eventually(t, 10*time.Second, func() bool { return managers[0].KeySet().ETag() == managers[1].KeySet().ETag() }, "the replicas agree")
}

// TestGapPublishesNextKeysAnew is the hazard of DESIGN.md: a key staged
// while a replica cannot read the store is not in that replica's JWKS; once
// the replica reads the ring again, the key's publish-ahead counts from then.
func TestGapPublishesNextKeysAnew(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(t0)
	shared := NewMemoryStore()
	storeB := &flakyStore{Store: shared}
	var logsB logBuffer
	a := newManager(t, shared, Policy{}, withClock(clock.Now))
	b := newManager(t, storeB, Policy{}, withClock(clock.Now), WithLogger(logsB.logger()))
	p := Policy{}.withDefaults()

	storeB.down.Store(true)
	staged, err := a.Stage(ctx)
	require.NoError(t, err)
	b.tick(ctx) // fails: B does not publish the key
	_, published := b.KeySet().Key(staged.KeyID())
	require.False(t, published)

	clock.Add(p.PublishAhead + time.Minute) // A alone has published it long enough
	storeB.down.Store(false)
	b.tick(ctx)
	_, published = b.KeySet().Key(staged.KeyID())
	require.True(t, published)
	assert.Equal(t, 1, logsB.Count("next keys published anew"))

	_, err = a.Promote(ctx, staged.KeyID(), false)
	require.ErrorIs(t, err, ErrTooEarly, "the key counts its publish-ahead again from the end of B's gap")
	for _, e := range a.Entries() {
		if e.KeyID() == staged.KeyID() {
			assert.Equal(t, clock.Now(), e.Published)
		}
	}
	clock.Add(p.PublishAhead)
	_, err = a.Promote(ctx, staged.KeyID(), false)
	assert.NoError(t, err)
}

func TestKeyEncryptionKeys(t *testing.T) {
	ctx := context.Background()
	k1, k2 := newKEKBytes(t), newKEKBytes(t)

	t.Run("a ring in clear is sealed once a KEK is configured", func(t *testing.T) {
		store := NewMemoryStore()
		var logs logBuffer
		plain := newManager(t, store, Policy{}, WithLogger(logs.logger()))
		_, err := plain.Stage(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, logs.Count("private keys are stored in clear"))
		_, data, _ := store.Load(ctx)
		require.Contains(t, string(data), `"d":`)

		sealed := newManager(t, store, Policy{}, WithKeyEncryptionKeys(k1))
		eventually(t, 10*time.Second, func() bool {
			_, data, _ := store.Load(ctx)
			return !strings.Contains(string(data), `"d":`)
		}, "sealed at the Manager's first write")
		_, r := stored(t, store, k1)
		assertNoPrivateKey(t, func() []byte { _, d, _ := store.Load(ctx); return d }(), r)
		assert.Len(t, sealed.Entries(), 2)
	})

	t.Run("rewrap", func(t *testing.T) {
		store := NewMemoryStore()
		m1 := newManager(t, store, Policy{}, WithKeyEncryptionKeys(k1))
		_, err := m1.Stage(ctx)
		require.NoError(t, err)
		_, data, _ := store.Load(ctx)
		require.Contains(t, string(data), KEKID(k1))

		m2 := newManager(t, store, Policy{}, WithKeyEncryptionKeys(k2, k1))
		require.NoError(t, m2.Rewrap(ctx))
		_, data, _ = store.Load(ctx)
		assert.NotContains(t, string(data), KEKID(k1))
		assert.Contains(t, string(data), KEKID(k2))
		_, r := stored(t, store, k2)
		assert.Len(t, r.entries, 2)

		assert.NoError(t, newManager(t, store, Policy{}, WithKeyEncryptionKeys(k2)).Rewrap(ctx), "the old KEK is no longer needed")
		assert.ErrorContains(t, newManager(t, NewMemoryStore(), Policy{}).Rewrap(ctx), "needs a key-encryption key")
	})
}

// laggingStore is a Store whose Load answers what it held when it was
// frozen, until thawed: a replica whose view falls behind without failing.
type laggingStore struct {
	Store
	mu      sync.Mutex
	frozen  bool
	version int64
	data    []byte
}

func (s *laggingStore) freeze(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.data, _ = s.Store.Load(ctx)
	s.frozen = true
}

func (s *laggingStore) thaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = false
}

func (s *laggingStore) Load(ctx context.Context) (int64, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return s.version, s.data, nil
	}
	return s.Store.Load(ctx)
}

// TestLateRefreshPublishesUnseenKeysAnew: a replica whose refreshes came too
// far apart publishes anew the next keys it had not published, and only
// those.
func TestLateRefreshPublishesUnseenKeysAnew(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(t0)
	shared := NewMemoryStore()
	storeB := &laggingStore{Store: shared}
	a := newManager(t, shared, Policy{}, withClock(clock.Now))
	b := newManager(t, storeB, Policy{}, withClock(clock.Now))

	seen, err := a.Stage(ctx)
	require.NoError(t, err)
	b.tick(ctx)
	storeB.freeze(ctx)
	clock.Add(time.Minute)
	unseen, err := a.Stage(ctx)
	require.NoError(t, err)
	b.tick(ctx)
	_, published := b.KeySet().Key(unseen.KeyID())
	require.False(t, published, "B's view is behind")

	clock.Add(time.Minute)
	b.op.Lock() // keep B's goroutine out meanwhile
	b.mu.Lock()
	b.upToDate = time.Now().Add(-time.Hour) // B last knew the ring long ago
	b.mu.Unlock()
	storeB.thaw()
	b.op.Unlock()
	b.tick(ctx) // (or B's goroutine, which may come first)
	_, r := stored(t, shared)
	for _, e := range r.entries {
		switch e.KeyID() {
		case seen.KeyID():
			assert.Equal(t, seen.Published, e.Published, "B had published it all along")
		case unseen.KeyID():
			assert.Equal(t, clock.Now(), e.Published, "B publishes it only now")
		}
	}
}
