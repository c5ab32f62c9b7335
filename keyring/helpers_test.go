package keyring

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// t0 is the time the pure tests start at.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newTestKey returns a new ES256 signing key.
func newTestKey(t testing.TB, opts ...jwks.KeyOption) *jwks.Key {
	t.Helper()
	k, err := jwks.GenerateKey(jwks.ES256, opts...)
	require.NoError(t, err)
	return k
}

// keyMaker returns a function that makes new keys, as a Manager does, for
// the transitions that need one.
func keyMaker(t testing.TB) func() (*jwks.Key, error) {
	return func() (*jwks.Key, error) { return newTestKey(t), nil }
}

// states returns the states of r's keys, by key ID.
func states(r ring) map[string]State {
	out := make(map[string]State, len(r.entries))
	for _, e := range r.entries {
		out[e.KeyID()] = e.State
	}
	return out
}

// eventTypes returns the types and key IDs of events, as "type kid".
func eventTypes(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, string(e.Type)+" "+e.KID)
	}
	return out
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log records as text, for tests that count them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count returns how many records contain s.
func (b *logBuffer) Count(s string) int { return strings.Count(b.String(), s) }

// logger returns a logger that writes to b, at every level.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// errStoreDown is what a flakyStore answers while it is down.
var errStoreDown = errors.New("test store is down")

// A flakyStore is a Store that fails on demand, around another.
type flakyStore struct {
	Store
	down  atomic.Bool
	loads atomic.Int64 // calls to Load while down
}

func (s *flakyStore) Load(ctx context.Context) (int64, []byte, error) {
	if s.down.Load() {
		s.loads.Add(1)
		return 0, nil, errStoreDown
	}
	return s.Store.Load(ctx)
}

func (s *flakyStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	if s.down.Load() {
		return 0, errStoreDown
	}
	return s.Store.CompareAndSwap(ctx, version, data)
}

// eventLog collects a Manager's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// count returns how many events of type t were reported.
func (l *eventLog) count(t EventType) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

// eventually waits up to d for cond (see testkit.Eventually).
var eventually = testkit.Eventually

// ringFile returns the path of a key ring file in a new directory.
func ringFile(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "keyring.json")
}

// newFileStore returns a FileStore on path.
func newFileStore(t testing.TB, path string) *FileStore {
	t.Helper()
	s, err := NewFileStore(path)
	require.NoError(t, err)
	return s
}
