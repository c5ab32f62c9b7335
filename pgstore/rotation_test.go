package pgstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/rotationtest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/pgstore/internal/pgtest"
)

// newKEK returns a random key-encryption key.
func newKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, keyring.KEKSize)
	_, err := rand.Read(kek)
	require.NoError(t, err)
	return kek
}

// TestRotationUnderLoad runs the rotation under load of package keyring
// (internal/rotationtest) on PostgreSQL: three replicas, each a Manager
// with a Store of its own (its own pool, its own LISTEN connection), sharing
// one ring sealed with a key-encryption key; one replica is killed and
// restarted halfway. Beside the replicas' own reads and writes, a listener
// on the ring's channel reads the table after every notification: every
// version it reads must have exactly one active key, and every version must
// be announced.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	stores := make([]keyring.Store, 3)
	for i := range stores {
		stores[i] = openStore(t, url)
	}

	// The watcher listens before the first replica makes the first key.
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "LISTEN "+DefaultTable)
	require.NoError(t, err)
	var (
		mu       sync.Mutex // guards notified
		notified = map[int64]bool{}
	)
	watch := func(ctx context.Context, observe func(int64, []byte)) error {
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			ring, v, ok := strings.Cut(n.Payload, ":")
			version, err := strconv.ParseInt(v, 10, 64)
			if !ok || ring != DefaultRing || err != nil {
				return errors.New("a notification with the payload " + strconv.Quote(n.Payload))
			}
			mu.Lock()
			notified[version] = true
			mu.Unlock()
			var data []byte
			var stored int64
			if err := conn.QueryRow(ctx, `SELECT version, data FROM `+DefaultTable+` WHERE name = $1`, DefaultRing).
				Scan(&stored, &data); err != nil {
				return err
			}
			if stored < version {
				return errors.New("the table holds version " + strconv.FormatInt(stored, 10) + " after the notification of " + v)
			}
			observe(stored, data)
		}
	}

	res := rotationtest.Run(t, rotationtest.Config{
		Stores:  stores, // and rotationtest.DefaultPolicy
		Options: []keyring.Option{keyring.WithKeyEncryptionKeys(newKEK(t))},
		Restart: true,
		Timeout: 2 * time.Minute,
		Watch:   watch,
	})

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, notified, "versions announced")
	last := slices.Max(slices.Collect(maps.Keys(notified)))
	for v := int64(1); v <= last; v++ {
		assert.True(t, notified[v], "version %d was announced", v)
	}
	assert.GreaterOrEqual(t, last, int64(res.Rotations), "versions announced")
	t.Logf("the watcher heard %d versions announced, up to %d of %d", len(notified), last, res.LastVersion)
}

// A raceStore makes the first CompareAndSwap of each of two Managers, once
// armed, wait for the other's: both promotions reach PostgreSQL together,
// decided on the same version.
type raceStore struct {
	keyring.Store
	gate      atomic.Pointer[barrier]
	writes    atomic.Int64
	conflicts atomic.Int64
	problems  chan string
}

func (s *raceStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	if g := s.gate.Swap(nil); g != nil && !g.wait(10*time.Second) {
		s.problems <- "the other Manager's write did not come"
	}
	v, err := s.Store.CompareAndSwap(ctx, version, data)
	switch {
	case errors.Is(err, keyring.ErrConflict):
		s.conflicts.Add(1)
	case err == nil:
		s.writes.Add(1)
		ring, rerr := rotationtest.ReadRing(data)
		if rerr == nil {
			rerr = ring.Check()
		}
		if rerr != nil {
			s.problems <- "version " + strconv.FormatInt(v, 10) + ": " + rerr.Error()
		}
	}
	return v, err
}

// A barrier lets n goroutines on once all have come.
type barrier struct {
	mu   sync.Mutex // guards n
	n    int
	done chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, done: make(chan struct{})} }

func (b *barrier) wait(d time.Duration) bool {
	b.mu.Lock()
	if b.n--; b.n == 0 {
		close(b.done)
	}
	b.mu.Unlock()
	select {
	case <-b.done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestPromotionRace has two Managers, each with its own Store, promote the
// same next key at the same moment, the two writes meeting in PostgreSQL:
// one wins, the other's write is refused as a conflict, and it reads the
// ring again: promoting the key by its ID, it finds it active and succeeds;
// promoting "the next key" (""), it finds none left (ErrNoNextKey). No key
// is made twice, no version has two active keys, one promotion is
// reported, and both Managers sign with the key.
func TestPromotionRace(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	problems := make(chan string, 100)
	stores := [2]*raceStore{{Store: openStore(t, url), problems: problems}, {Store: openStore(t, url), problems: problems}}
	var events eventLog
	var managers [2]*keyring.Manager
	for i := range managers {
		// The default policy: the next key is promoted by hand, forced
		// (its publish-ahead is 10m30s), and nothing else writes.
		managers[i] = newManager(t, stores[i], keyring.Policy{}, keyring.WithEvents(events.add))
	}

	const rounds = 10
	for round := range rounds {
		next, err := managers[round%2].Stage(ctx)
		require.NoError(t, err)
		kid := next.KeyID()
		writes, conflicts := stores[0].writes.Load()+stores[1].writes.Load(), stores[0].conflicts.Load()+stores[1].conflicts.Load()

		g := newBarrier(2)
		for _, s := range stores {
			s.gate.Store(g)
		}
		promote := kid
		if round%2 == 1 {
			promote = "" // the next key
		}
		var wg sync.WaitGroup
		var got [2]keyring.Entry
		var errs [2]error
		for i, m := range managers {
			wg.Go(func() { got[i], errs[i] = m.Promote(ctx, promote, true) })
		}
		wg.Wait()
		for i := range managers {
			if promote == "" && errors.Is(errs[i], keyring.ErrNoNextKey) {
				continue // the loser found no next key: the other had promoted it
			}
			require.NoError(t, errs[i], "round %d, Manager %d", round, i)
			assert.Equal(t, kid, got[i].KeyID(), "round %d, Manager %d: the key promoted", round, i)
			assert.Equal(t, keyring.StateActive, got[i].State)
		}
		assert.False(t, errs[0] != nil && errs[1] != nil, "round %d: one wins", round)
		for i, m := range managers {
			assert.Equal(t, kid, m.KeySet().SigningKey().KeyID(), "round %d: Manager %d signs with it", round, i)
		}
		assert.Equal(t, writes+1, stores[0].writes.Load()+stores[1].writes.Load(), "round %d: one promotion written", round)
		assert.Equal(t, conflicts+1, stores[0].conflicts.Load()+stores[1].conflicts.Load(), "round %d: the other refused", round)
		assert.Equal(t, 1, events.countKID(keyring.EventPromoted, kid), "round %d: one promotion reported", round)
		eventually(t, 5*time.Second, func() bool {
			return managers[0].KeySet().ETag() == managers[1].KeySet().ETag()
		}, "round %d: the Managers publish the same keys", round)
	}

	_, data, err := stores[0].Load(ctx)
	require.NoError(t, err)
	ring, err := rotationtest.ReadRing(data)
	require.NoError(t, err)
	require.NoError(t, ring.Check())
	assert.Len(t, ring.Keys, rounds+1, "one key staged per round, none twice")
	assert.Len(t, ring.WithState(keyring.StateRetired), rounds)
	close(problems)
	for p := range problems {
		t.Error(p)
	}
	t.Logf("%d rounds: %d promotions written, %d writes refused as conflicts", rounds,
		stores[0].writes.Load()+stores[1].writes.Load()-rounds-1, stores[0].conflicts.Load()+stores[1].conflicts.Load())
}

// outagePolicy rotates every 200ms: PublishAhead 150ms, Retention 1.15s.
var outagePolicy = keyring.Policy{
	RotateEvery:      200 * time.Millisecond,
	StorePoll:        50 * time.Millisecond,
	JWKSMaxAge:       50 * time.Millisecond,
	VerifierRefresh:  50 * time.Millisecond,
	MaxTokenLifetime: time.Second,
	Leeway:           100 * time.Millisecond,
}

// TestDatabaseDownMidRun stops the PostgreSQL server under two rotating
// replicas: they go on signing and serving with the keys they have, say
// once that the ring cannot be refreshed, and rotate again once the server
// is back.
func TestDatabaseDownMidRun(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	server := pgtest.NewServer(t)
	url := server.NewDatabase(t)

	var logs [2]logRecorder
	var events [2]eventLog
	var managers [2]*keyring.Manager
	var signers [2]*jwks.Signer
	var verifiers [2]*jwks.Verifier
	var handlers [2]http.Handler
	for i := range managers {
		m := newManager(t, openStore(t, url), outagePolicy, keyring.WithLogger(slog.New(&logs[i])), keyring.WithEvents(events[i].add))
		managers[i] = m
		var err error
		signers[i], err = jwks.NewSigner(m.KeySet(), rotationtest.Audience, jwks.WithTokenLifetime(time.Second))
		require.NoError(t, err)
		verifiers[i], err = jwks.NewVerifier(m.KeySet(), rotationtest.Audience)
		require.NoError(t, err)
		handlers[i], err = jwks.NewJWKSHandler(m.KeySet())
		require.NoError(t, err)
	}
	promotions := func() int { return events[0].count(keyring.EventPromoted) + events[1].count(keyring.EventPromoted) }
	eventually(t, 20*time.Second, func() bool { return promotions() >= 3 }, "rotating")

	require.NoError(t, server.Stop())
	downAt := time.Now()
	for i, m := range managers {
		eventually(t, 5*time.Second, func() bool { return events[i].count(keyring.EventRefreshFailed) >= 1 }, "replica %d reports the outage", i)
		_, err := m.Healthy()
		assert.Error(t, err, "replica %d: Healthy", i)
	}
	before := promotions()
	var active [2]string
	for i, m := range managers {
		active[i] = m.KeySet().SigningKey().KeyID()
	}

	// The outage: both replicas sign, verify and serve on.
	var slowest time.Duration
	signed := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		for i := range managers {
			at := time.Now()
			tok, err := signers[i].Sign(ctx, "user")
			slowest = max(slowest, time.Since(at))
			require.NoError(t, err, "replica %d signs", i)
			_, err = verifiers[i].Verify(ctx, tok.Raw)
			require.NoError(t, err, "replica %d verifies its token", i)
			rec := httptest.NewRecorder()
			handlers[i].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
			require.Equal(t, http.StatusOK, rec.Code, "replica %d serves its JWKS", i)
			require.Contains(t, rec.Body.String(), tok.KeyID)
			signed++
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Less(t, slowest, time.Second, "signing does not wait for the database")
	assert.Equal(t, before, promotions(), "no rotation without the database")
	for i, m := range managers {
		assert.Equal(t, active[i], m.KeySet().SigningKey().KeyID(), "replica %d signs with the key it had", i)
		last, err := m.Healthy()
		assert.Error(t, err)
		assert.True(t, last.Before(downAt.Add(outagePolicy.StorePoll+time.Second)), "replica %d: the last refresh was before the outage", i)
	}

	require.NoError(t, server.Start())
	upAt := time.Now()
	for i, m := range managers {
		eventually(t, 15*time.Second, func() bool {
			_, err := m.Healthy()
			return err == nil && events[i].count(keyring.EventRefreshRecovered) >= 1
		}, "replica %d recovers, and says so", i)
	}
	recovered := time.Since(upAt)
	eventually(t, 20*time.Second, func() bool { return promotions() >= before+3 }, "rotating again")
	eventually(t, 5*time.Second, func() bool { return managers[0].KeySet().ETag() == managers[1].KeySet().ETag() }, "the replicas agree")
	for i := range managers {
		failed, back := events[i].count(keyring.EventRefreshFailed), events[i].count(keyring.EventRefreshRecovered)
		assert.Equal(t, failed, back, "replica %d: each failure reported is followed by its recovery", i)
		assert.Equal(t, failed, logs[i].countContaining(slog.LevelError, "cannot refresh the key ring"), "replica %d: logged as reported: %q", i, logs[i].messages())
		t.Logf("replica %d: %d failure(s) reported, recovered %v after the restart", i, failed, recovered.Round(time.Millisecond))
	}
	t.Logf("during the outage: %d tokens signed, verified and served, the slowest signature %v", signed, slowest)
}

// TestEncryptionAtRest dumps the database of a ring with a key in every
// state: with a key-encryption key, neither pg_dump's output nor the
// table's data holds a private key member or a PEM private key; without,
// they do.
func TestEncryptionAtRest(t *testing.T) {
	t.Parallel()
	pgDump := findPGDump(t)
	for _, sealed := range []bool{true, false} {
		name := map[bool]string{true: "with a KEK", false: "without a KEK"}[sealed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			url := pgtest.Database(t)
			var opts []keyring.Option
			if sealed {
				opts = append(opts, keyring.WithKeyEncryptionKeys(newKEK(t)))
			}
			m := newManager(t, openStore(t, url), keyring.Policy{}, opts...)

			// retired, revoked, active and next keys
			next, err := m.Stage(ctx)
			require.NoError(t, err)
			_, err = m.Promote(ctx, next.KeyID(), true)
			require.NoError(t, err)
			doomed, err := m.Stage(ctx)
			require.NoError(t, err)
			require.NoError(t, m.Revoke(ctx, doomed.KeyID()))
			pending, err := m.Stage(ctx)
			require.NoError(t, err)
			states := map[keyring.State]int{}
			for _, e := range m.Entries() {
				states[e.State]++
			}
			require.Equal(t, map[keyring.State]int{keyring.StateRetired: 1, keyring.StateRevoked: 1, keyring.StateActive: 1, keyring.StateNext: 1}, states)
			secrets := []string{privateD(t, m.KeySet().SigningKey()), privateD(t, pending.Key)}

			cmd := exec.CommandContext(ctx, pgDump, "--no-owner", "--dbname", url)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			dump, err := cmd.Output()
			require.NoError(t, err, "pg_dump: %s", stderr.String())
			var data []byte
			require.NoError(t, query(t, url, `SELECT data FROM `+DefaultTable+` WHERE name = $1`, DefaultRing).Scan(&data))

			texts := map[string][]byte{"the dump": dump, "the dump's bytea, decoded": decodeByteaHex(dump), "the table's data": data}
			require.Contains(t, string(texts["the dump's bytea, decoded"]), next.KeyID(), "the dump holds the ring")
			for what, text := range texts {
				s := string(text)
				assert.NotContains(t, s, "PRIVATE KEY", "%s: no PEM private key", what)
				if what == "the dump" {
					// pg_dump writes bytea in hex, which hides nothing:
					// the decoded bytea is checked.
					continue
				}
				if sealed {
					assert.NotContains(t, s, `"d":`, "%s: no private key member", what)
					for _, d := range secrets {
						assert.NotContains(t, s, d, "%s: no private key", what)
					}
					assert.Contains(t, s, `"sealed":`, "%s: the private keys are sealed", what)
				} else {
					assert.Contains(t, s, `"d":`, "%s: the private keys in clear", what)
					for _, d := range secrets {
						assert.Contains(t, s, d, "%s: the private key", what)
					}
				}
			}
		})
	}
}

// privateD returns the private scalar ("d") of an EC or OKP key's JWK.
func privateD(t testing.TB, k *jwks.Key) string {
	t.Helper()
	b, err := k.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	var jwk struct {
		D string `json:"d"`
	}
	require.NoError(t, json.Unmarshal(b, &jwk))
	require.NotEmpty(t, jwk.D)
	return jwk.D
}

// byteaHex matches a bytea value as pg_dump writes it in COPY data
// (\\x…) or in an INSERT ('\x…').
var byteaHex = regexp.MustCompile(`\\\\?x((?:[0-9a-f]{2})+)`)

// decodeByteaHex returns the bytea values of a dump, decoded, one a line.
func decodeByteaHex(dump []byte) []byte {
	var out []byte
	for _, m := range byteaHex.FindAllSubmatch(dump, -1) {
		b, err := hex.DecodeString(string(m[1]))
		if err == nil {
			out = append(append(out, b...), '\n')
		}
	}
	return out
}

// findPGDump finds pg_dump as pgtest finds initdb: beside initdb (on the
// PATH, links followed, or in Debian's /usr/lib/postgresql/*/bin, the
// newest), or on the PATH. Without it the test is skipped, except under CI.
func findPGDump(t testing.TB) string {
	t.Helper()
	var dirs []string
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(initdb))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(found, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, dir := range append(dirs, found...) {
		if p := filepath.Join(dir, "pg_dump"); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p
	}
	msg := "pg_dump is neither beside initdb, nor in /usr/lib/postgresql/*/bin, nor on the PATH"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (under CI this is a failure, not a skip)")
	}
	t.Skip(msg)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// pgVersion reads the major version out of /usr/lib/postgresql/VERSION/bin.
func pgVersion(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// newManager starts a Manager that stops with the test.
func newManager(t testing.TB, store keyring.Store, p keyring.Policy, opts ...keyring.Option) *keyring.Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := keyring.New(ctx, store, p, append([]keyring.Option{keyring.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		<-m.Done()
	})
	return m
}

// eventLog collects a Manager's events.
type eventLog struct {
	mu     sync.Mutex // guards events
	events []keyring.Event
}

func (l *eventLog) add(e keyring.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) count(typ keyring.EventType) int { return l.countKID(typ, "") }

// countKID counts the events of type typ, of the key kid unless it is "".
func (l *eventLog) countKID(typ keyring.EventType, kid string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == typ && (kid == "" || e.KID == kid) {
			n++
		}
	}
	return n
}

// countContaining counts the records at level whose message contains s.
func (r *logRecorder) countContaining(level slog.Level, s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level == level && strings.Contains(rec.Message, s) {
			n++
		}
	}
	return n
}

// eventually waits up to d for cond (see testkit.Eventually).
var eventually = testkit.Eventually
