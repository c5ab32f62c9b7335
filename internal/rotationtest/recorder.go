package rotationtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/powersync-jwks/jwks/keyring"
)

// A recorder checks every version of the ring that a replica reads or
// writes (through a recordingStore) or that Config.Watch reads: each must
// be one ring, with exactly one active key, whoever reads it. From the
// versions it learns when each key left the JWKS.
//
// Writes are not serialised: replicas with Stores of their own write
// concurrently, as separate servers do. Versions are put in order by their
// number. A version is noted before the replica that wrote or read it goes
// on, so a replica changes a version only once it is noted.
type recorder struct {
	mu       sync.Mutex // guards the fields below
	versions map[int64]*observed
	last     *observed // the highest version
	issues   []string
	slowest  time.Duration
	done     int64 // the last version every replica was seen to publish
}

// observed is one version of the ring.
type observed struct {
	version int64
	// at is the earliest time the version may have been read: when the
	// write that made it began (or when it was first read, until the write
	// is noted). A key removed by the version left the JWKS then, at the
	// earliest.
	at time.Time
	// committed is when the version was first known to be stored: when
	// the write that made it returned, or a read returned it. Replicas are
	// to publish it within Config.Convergence from then.
	committed time.Time
	data      []byte
	how       string   // how it was first seen: "written", "loaded", "watched"
	active    string   // the active key; "" unless there is exactly one
	published []string // the key IDs of its JWKS, in order
	keys      int      // the number of keys in the ring
}

func newRecorder() *recorder {
	return &recorder{versions: map[int64]*observed{}}
}

// A recordingStore is a replica's Store, noting what it reads and writes.
type recordingStore struct {
	keyring.Store
	rec *recorder
}

func (s recordingStore) Load(ctx context.Context) (int64, []byte, error) {
	at := time.Now()
	version, data, err := s.Store.Load(ctx)
	if err == nil && version != 0 {
		s.rec.observe(version, data, at, "loaded")
	}
	return version, data, err
}

func (s recordingStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	at := time.Now()
	newVersion, err := s.Store.CompareAndSwap(ctx, version, data)
	if err == nil {
		s.rec.observe(newVersion, data, at, "written")
	}
	return newVersion, err
}

func (r *recorder) issue(format string, args ...any) {
	if len(r.issues) < 20 {
		r.issues = append(r.issues, fmt.Sprintf(format, args...))
	}
}

// observe notes version, seen with data; at is when the read or write
// began.
func (r *recorder) observe(version int64, data []byte, at time.Time, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.versions[version]; ok {
		if !bytes.Equal(o.data, data) {
			r.issue("version %d was %s with other data than it was %s", version, how, o.how)
		}
		if at.Before(o.at) {
			o.at = at
		}
		return
	}
	o := &observed{version: version, at: at, committed: time.Now(), data: bytes.Clone(data), how: how}
	r.versions[version] = o
	if r.last == nil || version > r.last.version {
		r.last = o
	}
	ring, err := ReadRing(data)
	if err != nil {
		r.issue("version %d (%s): %v", version, how, err)
		return
	}
	if err := ring.Check(); err != nil {
		r.issue("version %d (%s): %v", version, how, err)
	}
	if active := ring.WithState(keyring.StateActive); len(active) == 1 {
		o.active = active[0]
	}
	o.published = ring.Published()
	o.keys = len(ring.Keys)
}

// sorted returns the versions in order; r.mu is held.
func (r *recorder) sorted() []*observed {
	out := make([]*observed, 0, len(r.versions))
	for _, v := range sortedKeys(r.versions) {
		out = append(out, r.versions[v])
	}
	return out
}

// latest returns a copy of the highest version seen.
func (r *recorder) latest() observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.last
}

// converged notes that every replica publishes version.
func (r *recorder) converged(version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if version <= r.done {
		return
	}
	r.done = version
	if o, ok := r.versions[version]; ok {
		r.slowest = max(r.slowest, time.Since(o.committed))
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
	vs := r.sorted()
	n := 0
	for i := 1; i < len(vs); i++ {
		if vs[i].active != vs[i-1].active {
			n++
		}
	}
	return n
}

// removals returns, by key ID, when each key left the JWKS: the time the
// first version without it may have been read.
func (r *recorder) removals() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]time.Time{}
	vs := r.sorted()
	for i := 1; i < len(vs); i++ {
		for _, kid := range vs[i-1].published {
			if _, ok := out[kid]; !ok && !slices.Contains(vs[i].published, kid) {
				out[kid] = vs[i].at
			}
		}
	}
	return out
}

// kinds counts the versions by what changed from the version before:
// a key added, the active key changed, a key removed from the JWKS, or
// none of these (times only: next keys published anew after a gap, say).
func (r *recorder) kinds() (added, promoted, removed, other int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs := r.sorted()
	for i := 1; i < len(vs); i++ {
		prev, cur := vs[i-1], vs[i]
		change := false
		if cur.keys > prev.keys {
			added, change = added+1, true
		}
		if cur.active != prev.active {
			promoted, change = promoted+1, true
		}
		for _, kid := range prev.published {
			if !slices.Contains(cur.published, kid) {
				removed, change = removed+1, true
				break
			}
		}
		if !change {
			other++
		}
	}
	return added, promoted, removed, other
}

// history says when the key kid was staged and promoted (when the first
// version with it, and with it active, was stored), for a failure's
// message.
func (r *recorder) history(kid string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var staged, promoted time.Time
	for _, o := range r.sorted() {
		if staged.IsZero() && slices.Contains(o.published, kid) {
			staged = o.committed
		}
		if o.active == kid {
			promoted = o.committed
			break
		}
	}
	return fmt.Sprintf("staged %s, promoted %s", staged.Format(time.StampMilli), promoted.Format(time.StampMilli))
}

func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.issues)
}

func (r *recorder) maxKeys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.versions {
		n = max(n, len(o.published))
	}
	return n
}
