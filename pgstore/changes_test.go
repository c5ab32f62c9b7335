package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"net"
	neturl "net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/pgstore/internal/pgtest"
)

// connected waits for the value a listener sends once it listens.
func connected(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	receive(t, ch, 10*time.Second, "the listener's first value")
}

func TestChangesFromAnotherStore(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	listener, writer := openStore(t, url), openStore(t, url)

	ch := listener.Changes(ctx)
	connected(t, ch)
	for v := range int64(3) {
		_, err := writer.CompareAndSwap(ctx, v, []byte("x"))
		require.NoError(t, err)
		receive(t, ch, time.Second, "a commit by another Store")
	}

	// Each call has a channel of its own; its own changes notify too.
	ch2 := listener.Changes(ctx)
	connected(t, ch2)
	_, err := listener.CompareAndSwap(ctx, 3, []byte("x"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "a commit by the Store itself")
	receive(t, ch2, time.Second, "a commit, on the second channel")
}

func TestChangesCoalesce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	listener, writer := openStore(t, url), openStore(t, url)
	ch := listener.Changes(ctx)
	connected(t, ch)
	for v := range int64(20) { // nobody receives meanwhile: the listener must not block
		_, err := writer.CompareAndSwap(ctx, v, []byte("x"))
		require.NoError(t, err)
	}
	receive(t, ch, time.Second, "the coalesced changes")
	_, err := writer.CompareAndSwap(ctx, 20, []byte("x"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "a change after them")
}

func TestChangesClosed(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s := openStore(t, url)

	ctx, cancel := context.WithCancel(testContext(t))
	ch := s.Changes(ctx)
	connected(t, ch)
	cancel()
	closed(t, ch, 2*time.Second)

	ch = s.Changes(testContext(t))
	connected(t, ch)
	s.Close()
	closed(t, ch, 2*time.Second)
	closed(t, s.Changes(testContext(t)), time.Second)
}

// listenRaw listens on channel with a connection of the test's own, to see
// each notification in the order of commit.
func listenRaw(t testing.TB, url, channel string) *pgx.Conn {
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "LISTEN "+channel)
	require.NoError(t, err)
	return conn
}

func nextPayload(t testing.TB, conn *pgx.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	require.NoError(t, err)
	return n.Payload
}

// A change that is rolled back, or refused, notifies nobody. Notifications
// come in the order of commit, so a marker committed after them must be
// the next one heard.
func TestNoNotificationWithoutCommit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	s := openStore(t, url)
	marker := openStore(t, url, WithRing("marker"))
	raw := listenRaw(t, url, s.channel)

	_, err := s.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, "default:1", nextPayload(t, raw))

	failed := errors.New("the commit was never reached")
	s.beforeCommit = func(context.Context, pgx.Tx) error { return failed } // after pg_notify
	_, err = s.CompareAndSwap(ctx, 1, []byte("rolled back"))
	require.ErrorIs(t, err, failed)
	s.beforeCommit = nil
	_, err = s.CompareAndSwap(ctx, 0, []byte("stale"))
	require.ErrorIs(t, err, keyring.ErrConflict)
	_, err = s.CompareAndSwap(ctx, 7, []byte("stale"))
	require.ErrorIs(t, err, keyring.ErrConflict)

	_, err = marker.CompareAndSwap(ctx, 0, []byte("m"))
	require.NoError(t, err)
	assert.Equal(t, "marker:1", nextPayload(t, raw), "nothing was heard of the rolled-back and refused changes")
	version, data, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), version)
	assert.Equal(t, []byte("x"), data)

	// A Store of another ring on the same channel is not woken.
	ch := marker.Changes(ctx)
	connected(t, ch)
	_, err = s.CompareAndSwap(ctx, 1, []byte("y"))
	require.NoError(t, err)
	assert.Equal(t, "default:2", nextPayload(t, raw))
	_, err = marker.CompareAndSwap(ctx, 1, []byte("m"))
	require.NoError(t, err)
	assert.Equal(t, "marker:2", nextPayload(t, raw))
	receive(t, ch, time.Second, "the marker's own change")
	select {
	case <-ch:
		t.Fatal("woken by another ring's change")
	default: // both notifications were delivered before the marker's
	}
}

// terminateListeners ends the backends of url's database that LISTEN, as
// an administrator would, and returns how many.
func terminateListeners(t testing.TB, url string) int {
	var n int
	require.NoError(t, query(t, url, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&n))
	return n
}

func TestChangesReconnect(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	logs := &logRecorder{}
	listener := openStore(t, url, WithLogger(slog.New(logs)))
	writer := openStore(t, url)

	ch := listener.Changes(ctx)
	connected(t, ch)
	for round := range 3 {
		require.Equal(t, 1, terminateListeners(t, url))
		receive(t, ch, 5*time.Second, "the value after a reconnect")
		_, err := writer.CompareAndSwap(ctx, int64(round), []byte("x"))
		require.NoError(t, err)
		receive(t, ch, time.Second, "a commit after the reconnect")
	}
	assert.Equal(t, 3, logs.count(slog.LevelWarn), "one warning an outage: %q", logs.messages())
	assert.Equal(t, 3+1, logs.count(slog.LevelInfo), "one line an outage's end, and the table made: %q", logs.messages())
}

// The keepalive ping between notifications leaves the connection as it was.
func TestChangesKeepalive(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	logs := &logRecorder{}
	listener := openStore(t, url, WithLogger(slog.New(logs)))
	listener.keepalive = 20 * time.Millisecond
	writer := openStore(t, url)

	ch := listener.Changes(ctx)
	connected(t, ch)
	for v := range int64(3) {
		time.Sleep(100 * time.Millisecond) // several keepalives
		_, err := writer.CompareAndSwap(ctx, v, []byte("x"))
		require.NoError(t, err)
		receive(t, ch, time.Second, "a commit between keepalives")
	}
	assert.Zero(t, logs.count(slog.LevelWarn), "%q", logs.messages())
}

// The server stops for a while and starts again: the listener logs the
// outage once, comes back, and hears the next commit.
func TestChangesServerRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	server := pgtest.NewServer(t)
	url := server.NewDatabase(t)
	logs := &logRecorder{}
	listener := openStore(t, url, WithLogger(slog.New(logs)))
	listener.maxBackoff = 400 * time.Millisecond

	ch := listener.Changes(ctx)
	connected(t, ch)
	require.NoError(t, server.Stop())
	time.Sleep(1500 * time.Millisecond) // the outage: several attempts fail
	select {
	case <-ch:
		t.Fatal("a value while the server is down")
	default:
	}
	require.NoError(t, server.Start())
	receive(t, ch, 5*time.Second, "the value after the restart")

	// The listener's Store has a pool whose connections died: it recovers too.
	_, err := listener.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "a commit after the restart")
	writer := openStore(t, url)
	_, err = writer.CompareAndSwap(ctx, 1, []byte("y"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "another Store's commit after the restart")

	assert.Equal(t, 1, logs.count(slog.LevelWarn), "one warning for the outage: %q", logs.messages())
	assert.Equal(t, 1+1, logs.count(slog.LevelInfo), "one line at its end, and the table made: %q", logs.messages())
	assert.Greater(t, logs.count(slog.LevelDebug), 1, "the attempts between: %q", logs.messages())
}

// A connection that dies without a word (a network cut) is found out by
// the keepalive ping, and replaced.
func TestChangesSilentConnection(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	proxy := newFreezer(t, url)
	logs := &logRecorder{}
	listener := openStore(t, proxy.url, WithLogger(slog.New(logs)))
	listener.keepalive, listener.pingTimeout = 100*time.Millisecond, 100*time.Millisecond
	writer := openStore(t, url)

	ch := listener.Changes(ctx)
	connected(t, ch)
	proxy.freeze() // what the listener holds now goes silent; new connections pass
	receive(t, ch, 5*time.Second, "the value after the reconnect")
	_, err := writer.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "a commit after the reconnect")
	require.Equal(t, 1, logs.count(slog.LevelWarn), "%q", logs.messages())
	assert.Contains(t, logs.messages()[1], "lost the connection")
}

// A freezer forwards connections to a PostgreSQL server until told to
// freeze them: then it passes nothing more on them, and closes none.
type freezer struct {
	url    string // the database's URL, through the freezer
	mu     sync.Mutex
	frozen chan struct{} // closed by freeze; guarded by mu
	conns  []net.Conn    // guarded by mu
}

func newFreezer(t testing.TB, dbURL string) *freezer {
	u, err := neturl.Parse(dbURL)
	require.NoError(t, err)
	target := u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u.Host = l.Addr().String()
	f := &freezer{url: u.String(), frozen: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			frozen := f.frozen
			f.mu.Unlock()
			go f.pipe(c, s, frozen, done)
			go f.pipe(s, c, frozen, done)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		close(done)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) pipe(src, dst net.Conn, frozen, done <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
		select {
		case <-frozen:
			<-done
			return
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// freeze silences the connections made so far.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.frozen)
	f.frozen = make(chan struct{})
}
