package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-jwks/jwks/keyring"
)

var _ keyring.Store = (*Store)(nil)

// errStale rolls back a CompareAndSwap whose version is no longer the
// stored one.
var errStale = errors.New("stale version")

// A Store keeps one key ring in a row of a PostgreSQL table. It is safe for
// concurrent use, and any number of Stores, in one process or in many, may
// keep the same ring: CompareAndSwap lets exactly one of them make each
// change.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool // made by Open: Close closes the pool

	table   string // quoted, ready for SQL
	ring    string
	channel string
	log     *slog.Logger

	load, insert, update string // the statements, with the table in them

	// The listeners started by Changes. Close cancels ctx and waits for them.
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and the Adds to listeners
	closed bool
	wg     sync.WaitGroup // listeners

	// Tests set these before any call.
	keepalive, pingTimeout time.Duration
	minBackoff, maxBackoff time.Duration
	beforeCommit           func(context.Context, pgx.Tx) error
}

// New returns a Store that keeps its ring in pool's database. It makes the
// table, if there is none, before it returns, so that a missing privilege
// is an error here rather than at the first rotation. The pool stays the
// caller's: close it after the Store.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	c := defaultConfig()
	for _, opt := range opts {
		opt(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("pgstore: New needs a pool")
	}
	table := quoteIdentifier(c.table)
	s := &Store{
		pool:    pool,
		table:   table,
		ring:    c.ring,
		channel: c.channel,
		log:     c.logger.With("table", c.table, "ring", c.ring),

		load:   `SELECT version, data FROM ` + table + ` WHERE name = $1`,
		insert: `INSERT INTO ` + table + ` (name, version, data) VALUES ($1, 1, $2) ON CONFLICT (name) DO NOTHING`,
		update: `UPDATE ` + table + ` SET version = version + 1, data = $3, updated_at = now() WHERE name = $1 AND version = $2 RETURNING version`,

		keepalive:   30 * time.Second,
		pingTimeout: 10 * time.Second,
		minBackoff:  100 * time.Millisecond,
		maxBackoff:  5 * time.Second,
	}
	if err := s.ensureTable(ctx, c.table); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value connection string, as pgxpool.ParseConfig reads it) and returns
// a Store on a pool of its own, which Close closes. It reaches the
// database before it returns, within ctx: an unreachable database is an
// error here. Errors never show the password: an error whose message held
// it is given without it, and then unwraps to nothing (errors.Is still
// matches what it wrapped, such as context.DeadlineExceeded; errors.As no
// longer reaches pgx's own error types). Open a pool with pgxpool and call
// New to inspect pgx's errors yourself.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	c := defaultConfig()
	for _, opt := range opts {
		opt(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := checkUserInfo(databaseURL); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, redact(fmt.Errorf("pgstore: reading the database URL: %w", err), passwordOf(databaseURL))
	}
	password := cfg.ConnConfig.Password
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("pgstore: %w", err), password)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		cc := cfg.ConnConfig
		who := fmt.Sprintf("user %q", cc.User)
		if cc.Database != "" {
			who += fmt.Sprintf(", database %q", cc.Database)
		}
		return nil, redact(fmt.Errorf("pgstore: cannot reach the database at %s (%s): %w",
			net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), who, err), password)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, redact(err, password)
	}
	s.ownsPool = true
	return s, nil
}

// Close stops the listeners of Changes, closing their channels, and waits
// for them; a Store made by Open then closes its pool. The Store is not to
// be used after Close. Close may be called more than once.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.ownsPool {
		s.pool.Close()
	}
}

// Load returns the ring's version and data, or version 0 and no data when
// nothing is stored yet.
func (s *Store) Load(ctx context.Context) (version int64, data []byte, err error) {
	err = s.pool.QueryRow(ctx, s.load, s.ring).Scan(&version, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("pgstore: loading ring %q: %w", s.ring, err)
	}
	return version, data, nil
}

// CompareAndSwap stores data as the ring's new version if the stored
// version is still version (0: no ring is stored yet), and returns the new
// version. Otherwise it stores nothing and returns an error wrapping
// keyring.ErrConflict. The change and its notification to every Store
// listening (see Changes) are one transaction: listeners hear of a change
// only once it is committed.
//
// An error of another kind may leave it unknown whether the change was
// committed (the connection was lost during the commit); loading the ring
// tells.
func (s *Store) CompareAndSwap(ctx context.Context, version int64, data []byte) (newVersion int64, err error) {
	if version < 0 {
		return 0, fmt.Errorf("pgstore: storing ring %q: version %d is negative", s.ring, version)
	}
	if data == nil {
		data = []byte{} // nil would be NULL
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if version == 0 {
			tag, err := tx.Exec(ctx, s.insert, s.ring, data)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errStale
			}
			newVersion = 1
		} else {
			err := tx.QueryRow(ctx, s.update, s.ring, version, data).Scan(&newVersion)
			if errors.Is(err, pgx.ErrNoRows) {
				return errStale
			}
			if err != nil {
				return err
			}
		}
		payload := s.ring + ":" + strconv.FormatInt(newVersion, 10)
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, payload); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(ctx, tx)
		}
		return nil
	})
	switch {
	case errors.Is(err, errStale):
		return 0, fmt.Errorf("pgstore: ring %q is no longer at version %d: %w", s.ring, version, keyring.ErrConflict)
	case err != nil:
		return 0, fmt.Errorf("pgstore: storing ring %q: %w", s.ring, err)
	}
	return newVersion, nil
}
