package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/pgstore/internal/pgtest"
)

// query runs one statement on url as the test's own connection.
func query(t testing.TB, url, sql string, args ...any) pgx.Row {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(ctx, sql, args...)
}

func tableExists(t testing.TB, url, table string) bool {
	var exists bool
	require.NoError(t, query(t, url, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists))
	return exists
}

func TestLoadEmpty(t *testing.T) {
	t.Parallel()
	s := openStore(t, pgtest.Database(t))
	version, data, err := s.Load(testContext(t))
	require.NoError(t, err)
	assert.Zero(t, version)
	assert.Nil(t, data)
}

func TestCompareAndSwap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := openStore(t, pgtest.Database(t))

	v, err := s.CompareAndSwap(ctx, 0, []byte("first"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	version, data, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), version)
	assert.Equal(t, []byte("first"), data)

	v, err = s.CompareAndSwap(ctx, 1, []byte("second"))
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)

	for _, stale := range []int64{0, 1, 3, 99} {
		_, err := s.CompareAndSwap(ctx, stale, []byte("stale SECRET"))
		require.ErrorIs(t, err, keyring.ErrConflict, "from version %d", stale)
		assert.Contains(t, err.Error(), fmt.Sprintf(`pgstore: ring "default" is no longer at version %d`, stale))
		assert.NotContains(t, err.Error(), "SECRET")
	}
	version, data, err = s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), version, "nothing changed")
	assert.Equal(t, []byte("second"), data)

	_, err = s.CompareAndSwap(ctx, -1, []byte("x"))
	assert.ErrorContains(t, err, "negative")
	assert.NotErrorIs(t, err, keyring.ErrConflict)

	v, err = s.CompareAndSwap(ctx, 2, nil)
	require.NoError(t, err, "no data is data too")
	version, data, err = s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, version)
	assert.Empty(t, data)
}

func TestCompareAndSwapFromNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := openStore(t, pgtest.Database(t))
	_, err := s.CompareAndSwap(ctx, 1, []byte("x"))
	require.ErrorIs(t, err, keyring.ErrConflict, "no ring is at version 1")
	version, _, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Zero(t, version)
}

func TestRings(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	a := openStore(t, url)
	b := openStore(t, url, WithRing("billing"))
	_, err := a.CompareAndSwap(ctx, 0, []byte("a"))
	require.NoError(t, err)
	_, err = b.CompareAndSwap(ctx, 0, []byte("b"))
	require.NoError(t, err, "each ring has versions of its own")
	_, data, err := a.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("a"), data)
	_, data, err = b.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("b"), data)
}

// Two replicas, each with its own pool, and many goroutines in each, race
// on the same transitions: one wins each, and no change is lost.
func TestCompareAndSwapRace(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	replicas := []*Store{openStore(t, url), openStore(t, url)}
	const workers = 8

	// Every worker tries the same transition, from version 0 first.
	const rounds = 10
	for round := range rounds {
		from, _, err := replicas[0].Load(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(round), from)
		var (
			wins   atomic.Int32
			winner atomic.Value
			wg     sync.WaitGroup
			start  = make(chan struct{})
		)
		for w := range workers {
			wg.Go(func() {
				data := []byte(fmt.Sprintf("round %d worker %d", round, w))
				<-start
				v, err := replicas[w%2].CompareAndSwap(ctx, from, data)
				if err != nil {
					assert.ErrorIs(t, err, keyring.ErrConflict)
					return
				}
				wins.Add(1)
				winner.Store(data)
				assert.Equal(t, from+1, v)
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d: exactly one wins", round)
		version, data, err := replicas[1].Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, from+1, version)
		assert.Equal(t, winner.Load(), data, "the winner's data is stored")
	}

	// Every worker increments a counter: load, add one, swap, again on a
	// conflict. Each version is won once, and the count is all of them.
	const increments = 10
	var (
		mu  sync.Mutex // guards won
		won = map[int64]int{}
		wg  sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			s := replicas[w%2]
			for range increments {
				for {
					version, data, err := s.Load(ctx)
					if !assert.NoError(t, err) {
						return
					}
					n := 0
					if version > rounds {
						n, _ = strconv.Atoi(string(data))
					}
					v, err := s.CompareAndSwap(ctx, version, []byte(strconv.Itoa(n+1)))
					if errors.Is(err, keyring.ErrConflict) {
						continue
					}
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					won[v]++
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	version, data, err := replicas[0].Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(rounds+workers*increments), version)
	assert.Equal(t, strconv.Itoa(workers*increments), string(data), "no increment lost")
	assert.Len(t, won, workers*increments)
	for v := int64(rounds + 1); v <= version; v++ {
		assert.Equal(t, 1, won[v], "version %d won once", v)
	}
}

func TestTableMadeOnFirstUse(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	require.False(t, tableExists(t, url, "powersync_jwks_ring"))

	a := openStore(t, url)
	assert.True(t, tableExists(t, url, "powersync_jwks_ring"))
	_, err := a.CompareAndSwap(ctx, 0, []byte("kept"))
	require.NoError(t, err)

	b := openStore(t, url) // on the table a made
	version, data, err := b.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), version)
	assert.Equal(t, []byte("kept"), data)

	var columns string
	require.NoError(t, query(t, url, `SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_name = 'powersync_jwks_ring'`).Scan(&columns))
	assert.Equal(t, "name text NO, version bigint NO, data bytea NO, updated_at timestamp with time zone NO", columns)
}

// Replicas starting together all make the table, or find it made.
func TestTableMadeByManyAtOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := Open(testContext(t), url, WithTable("raced"), WithLogger(slog.New(slog.DiscardHandler)))
			if assert.NoError(t, err) {
				s.Close()
			}
		})
	}
	wg.Wait()
	assert.True(t, tableExists(t, url, "raced"))
}

func TestTableInSchema(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	_, err := pgxExec(t, url, `CREATE SCHEMA auth`)
	require.NoError(t, err)

	s := openStore(t, url, WithTable("auth.keys"))
	assert.Equal(t, "auth_keys", s.channel)
	assert.True(t, tableExists(t, url, "auth.keys"))
	assert.False(t, tableExists(t, url, "public.keys"))
	_, err = s.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
}

// A role without CREATE on the schema cannot make the table, and is told
// what to do; once the table is made for it and granted, it needs no more.
func TestPrivileges(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := pgtest.Database(t)
	role := fmt.Sprintf("pgstore_role_%d", randomID())
	_, err := pgxExec(t, url, `CREATE ROLE `+role+` LOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := pgxExec(t, url, `DROP OWNED BY `+role+`; DROP ROLE `+role)
		assert.NoError(t, err)
	})
	roleURL := withUser(t, url, role)

	_, err = Open(ctx, roleURL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pgstore: making table powersync_jwks_ring (grant the privileges")

	_, err = pgxExec(t, url, fmt.Sprintf(createTable, `powersync_jwks_ring`)+`; GRANT SELECT, INSERT, UPDATE ON powersync_jwks_ring TO `+role)
	require.NoError(t, err)
	s := openStore(t, roleURL)
	v, err := s.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
	_, err = s.CompareAndSwap(ctx, v, []byte("y"))
	require.NoError(t, err)
}

func TestClosedStoreErrorsHoldNoData(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ctx, cancel := context.WithCancel(ctx)
	s := openStore(t, pgtest.Database(t))
	cancel()
	_, err := s.CompareAndSwap(ctx, 0, []byte("SECRET private key"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, keyring.ErrConflict)
	assert.Contains(t, err.Error(), `pgstore: storing ring "default": `)
	assert.NotContains(t, err.Error(), "SECRET")
	_, _, err = s.Load(ctx)
	assert.ErrorContains(t, err, `pgstore: loading ring "default": `)
}

// New works on the caller's pool, and Close leaves it open.
func TestNewOnCallersPool(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	pool, err := pgxpool.New(ctx, pgtest.Database(t))
	require.NoError(t, err)
	defer pool.Close()

	s, err := New(ctx, pool, WithTable("mine"), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	ch := s.Changes(ctx)
	connected(t, ch)
	_, err = s.CompareAndSwap(ctx, 0, []byte("x"))
	require.NoError(t, err)
	receive(t, ch, time.Second, "a commit")
	s.Close()
	closed(t, ch, 2*time.Second)
	require.NoError(t, pool.Ping(ctx), "the pool is the caller's")

	again, err := New(ctx, pool, WithTable("mine"))
	require.NoError(t, err)
	version, data, err := again.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), version)
	assert.Equal(t, []byte("x"), data)
}
