package keyring

import (
	"crypto"
	"fmt"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
)

// State is where a key is in its lifecycle:
//
//	next ──promote──► active ──promote its successor──► retired ──Retention──► removed
//	  └───────────────────┴──────────────revoke────────────┴──► revoked
type State string

// The states of a key.
const (
	// StateNext: published in the JWKS, not signing yet.
	StateNext State = "next"
	// StateActive: signing new tokens, and published. A ring has exactly one
	// active key (unless it is empty).
	StateActive State = "active"
	// StateRetired: published until every token it signed has expired
	// (Policy.Retention after it was retired), then removed from the ring.
	// It never signs again: the ring keeps its public half only.
	StateRetired State = "retired"
	// StateRevoked: out of the JWKS at once, and never signs again: a
	// leaked key. The ring keeps its public half, so that the key ID is never
	// used again and the key cannot be imported back.
	StateRevoked State = "revoked"
)

// valid reports whether s is one of the four states.
func (s State) valid() bool {
	switch s {
	case StateNext, StateActive, StateRetired, StateRevoked:
		return true
	}
	return false
}

// An Entry is a key of the ring with its state and the times it reached each
// state. A time is zero when the key has not (yet) reached it. Removal, of a
// retired key past its retention, is not a state: the entry leaves the ring,
// and the time is in the Manager's log and events only.
type Entry struct {
	// Key is the key: with its private half when it is next or active, and
	// its public half only when retired or revoked.
	Key   *jwks.Key
	State State

	Created   time.Time // when the key entered the ring (made, or imported)
	Published time.Time // when it was last published as the next key; see Manager on gaps
	Activated time.Time // when it started signing
	Retired   time.Time // when its successor replaced it
	Revoked   time.Time // when it was revoked

	// sealed is the stored encryption of Key's private half, reused as it
	// is when the ring is written again; nil when the key is not sealed yet
	// (or has no private half in the ring).
	sealed *sealedKey
}

// KeyID returns the key ID of the entry's key.
func (e Entry) KeyID() string { return e.Key.KeyID() }

// ring is the key ring: its entries, in the order they entered it (the order
// every replica publishes them in). A ring is a value: the transitions below
// return a new ring and leave theirs unchanged. They are pure: no I/O, no
// clock (now is a parameter), and new keys come from their caller.
type ring struct {
	entries []Entry
}

// clone returns a copy of r whose entries can be changed.
func (r ring) clone() ring {
	return ring{entries: append([]Entry(nil), r.entries...)}
}

// index returns the index of the entry with key ID kid, or -1.
func (r ring) index(kid string) int {
	for i, e := range r.entries {
		if e.Key.KeyID() == kid {
			return i
		}
	}
	return -1
}

// active returns the index of the active entry, or -1 in an empty ring.
func (r ring) active() int {
	for i, e := range r.entries {
		if e.State == StateActive {
			return i
		}
	}
	return -1
}

// firstNext returns the index of the next key published first, or -1.
func (r ring) firstNext() int {
	n := -1
	for i, e := range r.entries {
		if e.State == StateNext && (n < 0 || e.Published.Before(r.entries[n].Published)) {
			n = i
		}
	}
	return n
}

// check verifies the ring's invariant: exactly one active key (unless the
// ring is empty), unique key IDs, a private half for the keys that may sign,
// and the time of each key's state. Every decoded ring and the result of
// every transition are checked.
func (r ring) check() error {
	seen := make(map[string]bool, len(r.entries))
	active := 0
	for _, e := range r.entries {
		if e.Key == nil {
			return fmt.Errorf("%w: an entry has no key", ErrCorrupt)
		}
		kid := e.Key.KeyID()
		if seen[kid] {
			return fmt.Errorf("%w: key ID %q appears twice", ErrCorrupt, kid)
		}
		seen[kid] = true
		var at time.Time
		switch e.State {
		case StateNext:
			at = e.Published
		case StateActive:
			active++
			at = e.Activated
		case StateRetired:
			at = e.Retired
		case StateRevoked:
			at = e.Revoked
		default:
			return fmt.Errorf("%w: key %s has the unknown state %s", ErrCorrupt, kid, quote.Value(string(e.State)))
		}
		if at.IsZero() || e.Created.IsZero() {
			return fmt.Errorf("%w: key %s is %s without the time it became so", ErrCorrupt, kid, e.State)
		}
		if (e.State == StateNext || e.State == StateActive) && !e.Key.CanSign() {
			return fmt.Errorf("%w: key %s is %s without its private half", ErrCorrupt, kid, e.State)
		}
	}
	if len(r.entries) > 0 && active != 1 {
		return fmt.Errorf("%w: %d active keys (a ring has exactly one)", ErrCorrupt, active)
	}
	return nil
}

// same reports whether r and o are the same ring, encryption included: a
// ring that is the same needs no write.
func (r ring) same(o ring) bool {
	if len(r.entries) != len(o.entries) {
		return false
	}
	for i, a := range r.entries {
		b := o.entries[i]
		if a.Key != b.Key && !(a.Key.Equal(b.Key) && a.Key.CanSign() == b.Key.CanSign()) {
			return false
		}
		if a.State != b.State || a.sealed != b.sealed ||
			!a.Created.Equal(b.Created) || !a.Published.Equal(b.Published) ||
			!a.Activated.Equal(b.Activated) || !a.Retired.Equal(b.Retired) || !a.Revoked.Equal(b.Revoked) {
			return false
		}
	}
	return true
}

// result is what a transition did: the new ring and the events it caused.
type result struct {
	ring    ring
	entry   Entry   // the entry the operation was about, as it is in ring
	events  []Event // in the order they happened
	warning string  // for a forced promotion: what may fail
}

// ev returns an event of type t about kid at now.
func ev(t EventType, kid string, now time.Time) Event {
	return Event{Type: t, KID: kid, Time: now}
}

// done checks the invariant of the transition's result.
func (res result) done() (result, error) {
	if err := res.ring.check(); err != nil {
		return result{}, fmt.Errorf("keyring: a transition broke the ring (a bug): %w", err)
	}
	return res, nil
}

// add returns r with key as a new entry: active in an empty ring, next
// otherwise. how is EventStaged or EventImported.
func (r ring) add(key *jwks.Key, now time.Time, how EventType) (result, error) {
	if !key.CanSign() {
		return result{}, fmt.Errorf("%w: key %s has no private half to sign with", jwks.ErrPublicKey, key.KeyID())
	}
	if i := r.index(key.KeyID()); i >= 0 {
		return result{}, fmt.Errorf("%w: key ID %s is already in the ring (%s)", jwks.ErrDuplicateKeyID, key.KeyID(), r.entries[i].State)
	}
	e := Entry{Key: key, State: StateNext, Created: now, Published: now}
	res := result{events: []Event{ev(how, key.KeyID(), now)}}
	if len(r.entries) == 0 {
		e.State, e.Activated = StateActive, now
		res.events = append(res.events, ev(EventPromoted, key.KeyID(), now))
	}
	res.ring = r.clone()
	res.ring.entries = append(res.ring.entries, e)
	res.entry = e
	return res.done()
}

// stage adds a new key: the next key, published now, or the first active
// key of an empty ring.
func (r ring) stage(key *jwks.Key, now time.Time) (result, error) {
	return r.add(key, now, EventStaged)
}

// importKey adds an existing key, such as the original example's POWERSYNC_PRIVATE_KEY:
// the first active key of an empty ring, or else a next key. Importing a
// key that is already next or active changes nothing, so a server can import
// the same key at every start; a key ID the ring has retired or revoked is
// refused (they never sign again), and so are a different key with a key
// ID of the ring and a key of the ring under another key ID (as a key read
// from PEM is named by its thumbprint).
func (r ring) importKey(key *jwks.Key, now time.Time) (result, error) {
	if !key.CanSign() {
		return result{}, fmt.Errorf("%w: key %s has no private half to sign with", jwks.ErrPublicKey, key.KeyID())
	}
	if i := r.index(key.KeyID()); i >= 0 {
		e := r.entries[i]
		switch {
		case !e.Key.Equal(key):
			return result{}, fmt.Errorf("%w: the ring holds another key with key ID %s", jwks.ErrDuplicateKeyID, key.KeyID())
		case e.State == StateNext || e.State == StateActive:
			return result{ring: r, entry: e}, nil
		default:
			return result{}, fmt.Errorf("%w: key %s is %s: it never signs again", ErrKeyState, key.KeyID(), e.State)
		}
	}
	for _, e := range r.entries {
		if samePublicKey(e.Key, key) {
			return result{}, fmt.Errorf("%w: the ring holds this key already, as key %s (%s), and a key is in a ring once "+
				"(PEM carries no key ID: a key read from PEM is named by its thumbprint, %s)",
				jwks.ErrDuplicateKeyID, e.Key.KeyID(), e.State, key.KeyID())
		}
	}
	return r.add(key, now, EventImported)
}

// samePublicKey reports whether a and b are the same key pair, whatever
// their key IDs.
func samePublicKey(a, b *jwks.Key) bool {
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b.Public())
}

// promote makes the next key kid ("" for the next key published first) the
// active key, and retires the active key. A key published for less than
// p.PublishAhead is refused with ErrTooEarly unless force is set; then the
// result's warning says what may fail. Promoting the active key changes
// nothing. p has its defaults.
func (r ring) promote(kid string, now time.Time, p Policy, force bool) (result, error) {
	i := r.firstNext()
	if kid != "" {
		i = r.index(kid)
		if i < 0 {
			return result{}, fmt.Errorf("%w: %s", ErrUnknownKey, kid)
		}
	} else if i < 0 {
		return result{}, fmt.Errorf("%w to promote: stage one first", ErrNoNextKey)
	}
	e := r.entries[i]
	switch e.State {
	case StateActive:
		return result{ring: r, entry: e}, nil
	case StateRetired, StateRevoked:
		return result{}, fmt.Errorf("%w: key %s is %s: it never signs again", ErrKeyState, e.KeyID(), e.State)
	}
	var warning string
	if ready := e.Published.Add(p.PublishAhead); now.Before(ready) {
		if !force {
			return result{}, fmt.Errorf("%w: key %s has been published for %v, less than PublishAhead %v; %s. "+
				"Wait, or force the promotion", ErrTooEarly, e.KeyID(), now.Sub(e.Published), p.PublishAhead, mayFail(e, now, p))
		}
		warning = fmt.Sprintf("keyring: key %s promoted %v before its publish-ahead was over; %s, and clients retry on 401",
			e.KeyID(), ready.Sub(now), mayFail(e, now, p))
	}
	res := result{ring: r.clone(), warning: warning}
	if a := r.active(); a >= 0 {
		old := &res.ring.entries[a]
		old.State, old.Retired, old.Key, old.sealed = StateRetired, now, old.Key.PublicOnly(), nil
		res.events = append(res.events, ev(EventRetired, old.Key.KeyID(), now))
	}
	n := &res.ring.entries[i]
	n.State, n.Activated = StateActive, now
	res.entry = *n
	res.events = append(res.events, ev(EventPromoted, n.Key.KeyID(), now))
	return res.done()
}

// mayFail says which verifiers may refuse the tokens of the next key e if it
// signs now, and for how long.
func mayFail(e Entry, now time.Time, p Policy) string {
	everywhere := e.Published.Add(p.StorePoll)
	ready := e.Published.Add(p.PublishAhead)
	return fmt.Sprintf("verifiers whose copy of the JWKS was fetched before %s (when every replica can have "+
		"published the key) may refuse its tokens until they fetch it again: PowerSync processes that last "+
		"refreshed before then refuse a token once and refetch (rate-limited), and CDNs and clients caching "+
		"the JWKS for up to JWKSMaxAge %v refuse them until their copy expires; for up to %v, until %s",
		everywhere.Format(time.RFC3339), p.JWKSMaxAge, ready.Sub(now).Round(time.Millisecond), ready.Format(time.RFC3339))
}

// revoke takes the key kid out of the JWKS at once; it never signs again.
// Revoking the active key promotes the next key published first at once, or
// else makes fresh() the active key: tokens of the revoked key fail as soon
// as verifiers refetch the JWKS, which is the point, and verifiers that have
// not fetched the new active key yet refuse its first tokens and refetch.
// Revoking a revoked key changes nothing.
func (r ring) revoke(kid string, now time.Time, fresh func() (*jwks.Key, error)) (result, error) {
	i := r.index(kid)
	if i < 0 {
		return result{}, fmt.Errorf("%w: %s", ErrUnknownKey, kid)
	}
	if r.entries[i].State == StateRevoked {
		return result{ring: r, entry: r.entries[i]}, nil
	}
	wasActive := r.entries[i].State == StateActive
	res := result{ring: r.clone()}
	e := &res.ring.entries[i]
	e.State, e.Revoked, e.Key, e.sealed = StateRevoked, now, e.Key.PublicOnly(), nil
	res.entry = *e
	res.events = []Event{ev(EventRevoked, kid, now)}
	if !wasActive {
		return res.done()
	}
	if n := res.ring.firstNext(); n >= 0 {
		next := &res.ring.entries[n]
		next.State, next.Activated = StateActive, now
		res.events = append(res.events, ev(EventPromoted, next.Key.KeyID(), now))
		return res.done()
	}
	key, err := fresh()
	if err != nil {
		return result{}, fmt.Errorf("keyring: making the key that replaces revoked key %s: %w", kid, err)
	}
	if res.ring.index(key.KeyID()) >= 0 {
		return result{}, fmt.Errorf("%w: new key ID %s is already in the ring", jwks.ErrDuplicateKeyID, key.KeyID())
	}
	res.ring.entries = append(res.ring.entries, Entry{Key: key, State: StateActive, Created: now, Published: now, Activated: now})
	res.events = append(res.events, ev(EventStaged, key.KeyID(), now), ev(EventPromoted, key.KeyID(), now))
	return res.done()
}

// expire removes the retired keys that have been retired for retention.
func (r ring) expire(now time.Time, retention time.Duration) result {
	res := result{ring: ring{entries: make([]Entry, 0, len(r.entries))}}
	for _, e := range r.entries {
		if e.State == StateRetired && !now.Before(e.Retired.Add(retention)) {
			res.events = append(res.events, ev(EventRemoved, e.Key.KeyID(), now))
			continue
		}
		res.ring.entries = append(res.ring.entries, e)
	}
	if len(res.events) == 0 {
		res.ring = r
	}
	return res
}

// restamp publishes every next key but those in skip anew at now: its
// publish-ahead counts from now. It is for the end of a gap in a replica's
// view of the ring (see Manager), after which no replica may promote a key
// before every replica can have published it for PublishAhead. It returns
// the new ring and the key IDs it published anew.
func (r ring) restamp(now time.Time, skip map[string]bool) (ring, []string) {
	var kids []string
	out := r
	for i, e := range r.entries {
		if e.State == StateNext && e.Published.Before(now) && !skip[e.Key.KeyID()] {
			if kids == nil {
				out = r.clone()
			}
			out.entries[i].Published = now
			kids = append(kids, e.Key.KeyID())
		}
	}
	return out, kids
}

// rotate applies the policy p (with its defaults) at now: it removes the
// retired keys past Retention and, when rotation is on, stages a new key
// (from fresh) once the active key is RotateEvery − PublishAhead old and
// there is no next key, and promotes the next key published first once it
// has been published for PublishAhead and the active key is RotateEvery old.
func (r ring) rotate(now time.Time, p Policy, fresh func() (*jwks.Key, error)) (result, error) {
	res := r.expire(now, p.Retention())
	a := res.ring.active()
	if p.RotateEvery <= 0 || a < 0 {
		return res.done()
	}
	active := res.ring.entries[a]
	var step result
	var err error
	switch n := res.ring.firstNext(); {
	case n < 0 && !now.Before(active.Activated.Add(p.RotateEvery-p.PublishAhead)):
		key, kerr := fresh()
		if kerr != nil {
			return result{}, fmt.Errorf("keyring: making the next key: %w", kerr)
		}
		step, err = res.ring.stage(key, now)
	case n >= 0 && !now.Before(res.ring.entries[n].Published.Add(p.PublishAhead)) &&
		!now.Before(active.Activated.Add(p.RotateEvery)):
		step, err = res.ring.promote(res.ring.entries[n].Key.KeyID(), now, p, false)
	default:
		return res.done()
	}
	if err != nil {
		return result{}, err
	}
	step.events = append(res.events, step.events...)
	return step.done()
}

// deadline returns the earliest time after which rotate, with the policy p
// (with its defaults), would change r; the zero time if it never would.
func (r ring) deadline(p Policy) time.Time {
	var t time.Time
	at := func(u time.Time) {
		if t.IsZero() || u.Before(t) {
			t = u
		}
	}
	for _, e := range r.entries {
		if e.State == StateRetired {
			at(e.Retired.Add(p.Retention()))
		}
	}
	if a := r.active(); a >= 0 && p.RotateEvery > 0 {
		active := r.entries[a]
		if n := r.firstNext(); n < 0 {
			at(active.Activated.Add(p.RotateEvery - p.PublishAhead))
		} else {
			ready := r.entries[n].Published.Add(p.PublishAhead)
			if due := active.Activated.Add(p.RotateEvery); due.After(ready) {
				ready = due
			}
			at(ready)
		}
	}
	return t
}
