package keyring

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// testPolicy rotates daily with the default periods: PublishAhead 10m30s,
// Retention 6m30s.
var testPolicy = Policy{RotateEvery: 24 * time.Hour}.withDefaults()

func activeEntry(k *jwks.Key, at time.Time) Entry {
	return Entry{Key: k, State: StateActive, Created: at, Published: at, Activated: at}
}

func nextEntry(k *jwks.Key, at time.Time) Entry {
	return Entry{Key: k, State: StateNext, Created: at, Published: at}
}

func retiredEntry(k *jwks.Key, activated, at time.Time) Entry {
	return Entry{Key: k.PublicOnly(), State: StateRetired, Created: activated, Published: activated, Activated: activated, Retired: at}
}

func revokedEntry(k *jwks.Key, at time.Time) Entry {
	return Entry{Key: k.PublicOnly(), State: StateRevoked, Created: at, Published: at, Revoked: at}
}

func ringOf(entries ...Entry) ring { return ring{entries: entries} }

func TestRingCheck(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	for _, tc := range []struct {
		name string
		r    ring
		ok   bool
	}{
		{"empty", ringOf(), true},
		{"one active", ringOf(activeEntry(a, t0)), true},
		{"active and next", ringOf(activeEntry(a, t0), nextEntry(b, t0)), true},
		{"no active", ringOf(nextEntry(a, t0)), false},
		{"only retired", ringOf(retiredEntry(a, t0, t0)), false},
		{"two active", ringOf(activeEntry(a, t0), activeEntry(b, t0)), false},
		{"duplicate kid", ringOf(activeEntry(a, t0), retiredEntry(a, t0, t0)), false},
		{"active without private half", ringOf(activeEntry(a.PublicOnly(), t0)), false},
		{"next without private half", ringOf(activeEntry(a, t0), nextEntry(b.PublicOnly(), t0)), false},
		{"next without published time", ringOf(activeEntry(a, t0), Entry{Key: b, State: StateNext, Created: t0}), false},
		{"unknown state", ringOf(activeEntry(a, t0), Entry{Key: b, State: "old", Created: t0}), false},
		{"no key", ringOf(Entry{State: StateActive}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.check()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrCorrupt)
			}
		})
	}
}

func TestRingStage(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	now := t0.Add(time.Hour)

	res, err := ringOf().stage(a, now)
	require.NoError(t, err)
	assert.Equal(t, map[string]State{a.KeyID(): StateActive}, states(res.ring), "an empty ring's first key is active")
	assert.Equal(t, []string{"staged " + a.KeyID(), "promoted " + a.KeyID()}, eventTypes(res.events))
	assert.Equal(t, now, res.entry.Activated)

	r := ringOf(activeEntry(a, t0))
	res, err = r.stage(b, now)
	require.NoError(t, err)
	assert.Equal(t, map[string]State{a.KeyID(): StateActive, b.KeyID(): StateNext}, states(res.ring))
	assert.Equal(t, []string{"staged " + b.KeyID()}, eventTypes(res.events))
	assert.Equal(t, now, res.entry.Published)
	assert.Len(t, r.entries, 1, "the transition leaves its ring as it was")

	_, err = r.stage(a, now)
	assert.ErrorIs(t, err, jwks.ErrDuplicateKeyID)
	_, err = r.stage(b.PublicOnly(), now)
	assert.ErrorIs(t, err, jwks.ErrPublicKey)
}

func TestRingImport(t *testing.T) {
	a, b, c := newTestKey(t), newTestKey(t), newTestKey(t)
	twin := newTestKey(t, jwks.WithKeyID(a.KeyID()))
	pem, err := a.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	renamed, err := jwks.ParseKey(pem, jwks.WithKeyID("a-by-another-name")) // the same key pair as a
	require.NoError(t, err)
	now := t0.Add(time.Hour)
	full := ringOf(activeEntry(a, t0), nextEntry(b, t0), retiredEntry(c, t0, t0))
	for _, tc := range []struct {
		name    string
		r       ring
		key     *jwks.Key
		err     error
		want    State
		events  []string
		changed bool
	}{
		{"into an empty ring: active", ringOf(), a, nil, StateActive, []string{"imported " + a.KeyID(), "promoted " + a.KeyID()}, true},
		{"into a ring: next", ringOf(activeEntry(a, t0)), b, nil, StateNext, []string{"imported " + b.KeyID()}, true},
		{"the active key again: nothing", full, a, nil, StateActive, nil, false},
		{"the next key again: nothing", full, b, nil, StateNext, nil, false},
		{"a retired key: refused", full, c, ErrKeyState, "", nil, false},
		{"a revoked key: refused", ringOf(activeEntry(a, t0), revokedEntry(b, t0)), b, ErrKeyState, "", nil, false},
		{"another key with a kid of the ring", full, twin, jwks.ErrDuplicateKeyID, "", nil, false},
		{"a key of the ring under another kid", full, renamed, jwks.ErrDuplicateKeyID, "", nil, false},
		{"a public key", ringOf(), a.PublicOnly(), jwks.ErrPublicKey, "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.r.importKey(tc.key, now)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.entry.State)
			assert.Equal(t, tc.events, eventTypes(res.events))
			assert.Equal(t, tc.changed, !res.ring.same(tc.r))
		})
	}
}

func TestRingPromote(t *testing.T) {
	a, b, c, d := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	p := testPolicy
	ready := t0.Add(p.PublishAhead)
	base := ringOf(activeEntry(a, t0.Add(-time.Hour)), nextEntry(b, t0), nextEntry(c, t0.Add(time.Minute)),
		retiredEntry(d, t0.Add(-2*time.Hour), t0.Add(-time.Hour)))

	t.Run("published long enough", func(t *testing.T) {
		res, err := base.promote(b.KeyID(), ready, p, false)
		require.NoError(t, err)
		assert.Equal(t, map[string]State{a.KeyID(): StateRetired, b.KeyID(): StateActive, c.KeyID(): StateNext, d.KeyID(): StateRetired}, states(res.ring))
		assert.Equal(t, []string{"retired " + a.KeyID(), "promoted " + b.KeyID()}, eventTypes(res.events))
		assert.Empty(t, res.warning)
		old := res.ring.entries[res.ring.index(a.KeyID())]
		assert.Equal(t, ready, old.Retired)
		assert.False(t, old.Key.CanSign(), "a retired key keeps its public half only")
		assert.Equal(t, ready, res.entry.Activated)
	})
	t.Run("empty kid: the next key published first", func(t *testing.T) {
		res, err := base.promote("", ready.Add(time.Minute), p, false)
		require.NoError(t, err)
		assert.Equal(t, b.KeyID(), res.entry.KeyID())
	})
	t.Run("too early", func(t *testing.T) {
		_, err := base.promote(b.KeyID(), ready.Add(-time.Second), p, false)
		require.ErrorIs(t, err, ErrTooEarly)
		for _, s := range []string{b.KeyID(), "PublishAhead 10m30s", "may refuse its tokens", "JWKSMaxAge 5m0s", "for up to 1s", "force"} {
			assert.Contains(t, err.Error(), s)
		}
	})
	t.Run("too early, forced", func(t *testing.T) {
		res, err := base.promote(b.KeyID(), t0.Add(time.Minute), p, true)
		require.NoError(t, err)
		assert.Equal(t, StateActive, res.entry.State)
		for _, s := range []string{b.KeyID(), "9m30s before", "may refuse its tokens", "PowerSync processes", "until"} {
			assert.Contains(t, res.warning, s)
		}
	})
	t.Run("the active key: nothing", func(t *testing.T) {
		res, err := base.promote(a.KeyID(), ready, p, false)
		require.NoError(t, err)
		assert.True(t, res.ring.same(base))
		assert.Empty(t, res.events)
	})
	for _, tc := range []struct {
		name string
		r    ring
		kid  string
		err  error
	}{
		{"a retired key", base, d.KeyID(), ErrKeyState},
		{"a revoked key", ringOf(activeEntry(a, t0), revokedEntry(b, t0)), b.KeyID(), ErrKeyState},
		{"an unknown key", base, "powersync-0000000000", ErrUnknownKey},
		{"no next key", ringOf(activeEntry(a, t0)), "", ErrNoNextKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.promote(tc.kid, ready, p, true)
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

func TestRingRevoke(t *testing.T) {
	a, b, c, fresh := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	now := t0.Add(time.Hour)
	makeFresh := func() (*jwks.Key, error) { return fresh, nil }
	for _, tc := range []struct {
		name   string
		r      ring
		kid    string
		want   map[string]State
		events []string
	}{
		{"the next key", ringOf(activeEntry(a, t0), nextEntry(b, t0)), b.KeyID(),
			map[string]State{a.KeyID(): StateActive, b.KeyID(): StateRevoked}, []string{"revoked " + b.KeyID()}},
		{"a retired key", ringOf(activeEntry(a, t0), retiredEntry(b, t0, t0)), b.KeyID(),
			map[string]State{a.KeyID(): StateActive, b.KeyID(): StateRevoked}, []string{"revoked " + b.KeyID()}},
		{"the active key: the next key signs at once", ringOf(activeEntry(a, t0), nextEntry(b, now.Add(-time.Second)), nextEntry(c, t0)), a.KeyID(),
			map[string]State{a.KeyID(): StateRevoked, b.KeyID(): StateNext, c.KeyID(): StateActive}, []string{"revoked " + a.KeyID(), "promoted " + c.KeyID()}},
		{"the active key without a next key: a fresh key signs", ringOf(activeEntry(a, t0), retiredEntry(b, t0, t0)), a.KeyID(),
			map[string]State{a.KeyID(): StateRevoked, b.KeyID(): StateRetired, fresh.KeyID(): StateActive},
			[]string{"revoked " + a.KeyID(), "staged " + fresh.KeyID(), "promoted " + fresh.KeyID()}},
		{"a revoked key: nothing", ringOf(activeEntry(a, t0), revokedEntry(b, t0)), b.KeyID(),
			map[string]State{a.KeyID(): StateActive, b.KeyID(): StateRevoked}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.r.revoke(tc.kid, now, makeFresh)
			require.NoError(t, err)
			assert.Equal(t, tc.want, states(res.ring))
			assert.Equal(t, tc.events, eventTypes(res.events))
			revoked := res.ring.entries[res.ring.index(tc.kid)]
			assert.False(t, revoked.Key.CanSign(), "a revoked key keeps its public half only")
		})
	}
	t.Run("an unknown key", func(t *testing.T) {
		_, err := ringOf(activeEntry(a, t0)).revoke("nope", now, makeFresh)
		assert.ErrorIs(t, err, ErrUnknownKey)
	})
	t.Run("no fresh key", func(t *testing.T) {
		boom := errors.New("no randomness")
		_, err := ringOf(activeEntry(a, t0)).revoke(a.KeyID(), now, func() (*jwks.Key, error) { return nil, boom })
		assert.ErrorIs(t, err, boom)
	})
}

func TestRingExpire(t *testing.T) {
	a, b, c, d := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	p := testPolicy
	retired := t0.Add(time.Hour)
	r := ringOf(activeEntry(a, retired), retiredEntry(b, t0, retired), retiredEntry(c, t0, retired.Add(time.Second)), revokedEntry(d, t0))

	res := r.expire(retired.Add(p.Retention()-1), p.Retention())
	assert.True(t, res.ring.same(r), "a retired key stays for its whole retention")
	res = r.expire(retired.Add(p.Retention()), p.Retention())
	assert.Equal(t, map[string]State{a.KeyID(): StateActive, c.KeyID(): StateRetired, d.KeyID(): StateRevoked}, states(res.ring))
	assert.Equal(t, []string{"removed " + b.KeyID()}, eventTypes(res.events))
}

func TestRingRestamp(t *testing.T) {
	a, b, c, d := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	r := ringOf(activeEntry(a, t0), nextEntry(b, t0), retiredEntry(c, t0, t0), nextEntry(d, t0))
	now := t0.Add(time.Hour)
	out, kids := r.restamp(now, nil)
	assert.Equal(t, []string{b.KeyID(), d.KeyID()}, kids)
	assert.Equal(t, now, out.entries[1].Published)
	assert.Equal(t, t0, out.entries[0].Published)
	assert.Equal(t, t0, r.entries[1].Published, "the transition leaves its ring as it was")
	_, kids = out.restamp(now, nil)
	assert.Empty(t, kids)

	out, kids = r.restamp(now, map[string]bool{b.KeyID(): true})
	assert.Equal(t, []string{d.KeyID()}, kids, "but for the keys to skip")
	assert.Equal(t, t0, out.entries[1].Published)
}

// TestRingRotate follows the automatic policy through a rotation; the
// deadline says exactly when each step is due.
func TestRingRotate(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	p := testPolicy
	makeB := func() (*jwks.Key, error) { return b, nil }
	stageAt := t0.Add(p.RotateEvery - p.PublishAhead)
	for _, tc := range []struct {
		name   string
		r      ring
		p      Policy
		now    time.Time
		events []string
	}{
		{"rotation off", ringOf(activeEntry(a, t0)), Policy{}.withDefaults(), t0.Add(1000 * time.Hour), nil},
		{"active key young: nothing", ringOf(activeEntry(a, t0)), p, stageAt.Add(-1), nil},
		{"active key RotateEvery − PublishAhead old: stage", ringOf(activeEntry(a, t0)), p, stageAt, []string{"staged " + b.KeyID()}},
		{"active key much older, no next key: stage at once", ringOf(activeEntry(a, t0)), p, t0.Add(100 * p.RotateEvery), []string{"staged " + b.KeyID()}},
		{"next key published, active not RotateEvery old: nothing",
			ringOf(activeEntry(a, t0), nextEntry(b, t0)), p, t0.Add(p.RotateEvery - 1), nil},
		{"active RotateEvery old, next not published long enough: nothing",
			ringOf(activeEntry(a, t0), nextEntry(b, t0.Add(p.RotateEvery-p.PublishAhead/2))), p, t0.Add(p.RotateEvery), nil},
		{"both: promote", ringOf(activeEntry(a, t0), nextEntry(b, stageAt)), p, t0.Add(p.RotateEvery),
			[]string{"retired " + a.KeyID(), "promoted " + b.KeyID()}},
		{"retired past retention: removed, with rotation off", ringOf(activeEntry(b, t0), retiredEntry(a, t0, t0)), Policy{}.withDefaults(),
			t0.Add(p.Retention()), []string{"removed " + a.KeyID()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.r.rotate(tc.now, tc.p, makeB)
			require.NoError(t, err)
			assert.Equal(t, tc.events, eventTypes(res.events))
			assert.Equal(t, len(tc.events) > 0, !res.ring.same(tc.r))
		})
	}
}

// TestRingDeadline checks that the deadline is when rotate acts: not a
// nanosecond before.
func TestRingDeadline(t *testing.T) {
	a, b, c := newTestKey(t), newTestKey(t), newTestKey(t)
	p := testPolicy
	makeC := func() (*jwks.Key, error) { return c, nil }
	for _, tc := range []struct {
		name string
		r    ring
		p    Policy
		want time.Time
	}{
		{"manual, nothing retired", ringOf(activeEntry(a, t0)), Policy{}.withDefaults(), time.Time{}},
		{"stage", ringOf(activeEntry(a, t0)), p, t0.Add(p.RotateEvery - p.PublishAhead)},
		{"promote when the active key is old enough", ringOf(activeEntry(a, t0), nextEntry(b, t0)), p, t0.Add(p.RotateEvery)},
		{"promote when the next key is published long enough", ringOf(activeEntry(a, t0), nextEntry(b, t0.Add(p.RotateEvery))), p,
			t0.Add(p.RotateEvery + p.PublishAhead)},
		{"remove a retired key", ringOf(activeEntry(a, t0), retiredEntry(b, t0, t0)), p, t0.Add(p.Retention())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.deadline(tc.p)
			require.Equal(t, tc.want, got)
			if got.IsZero() {
				return
			}
			before, err := tc.r.rotate(got.Add(-1), tc.p, makeC)
			require.NoError(t, err)
			assert.True(t, before.ring.same(tc.r), "nothing before the deadline")
			at, err := tc.r.rotate(got, tc.p, makeC)
			require.NoError(t, err)
			assert.False(t, at.ring.same(tc.r), "a change at the deadline")
		})
	}
}
