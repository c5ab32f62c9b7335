package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Changes returns a channel that receives a value soon after a Store, in
// this process or another, commits a change to the ring. Each call starts a
// listener of its own, which holds one database connection (outside the
// pool, made with the pool's configuration and connect hooks) and LISTENs
// on the Store's channel, until ctx is done or the Store is closed; then the
// channel is closed.
//
// Values are coalesced: the channel holds at most one, and a listener never
// waits for its receiver. When the listener loses its connection it
// connects again, backing off from 100 ms to 5 s between attempts, and
// sends a value after every connect, the first included, since a change
// may have come while it was not listening. A notification can still be
// lost (one committed at the very moment the connection broke is sent to
// no one), which is why the keyring Manager polls the store besides.
func (s *Store) Changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer close(ch)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		s.listen(ctx, ch)
	}()
	return ch
}

// listen connects, listens, and connects again, until ctx is done. It logs
// an outage once when it starts (Warn) and once when it ends (Info); the
// attempts between go to Debug.
func (s *Store) listen(ctx context.Context, ch chan<- struct{}) {
	log := s.log.With("channel", s.channel)
	backoff := s.minBackoff
	var (
		down     bool // in an outage
		since    time.Time
		attempts int
	)
	for {
		conn, err := s.connectListener(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			attempts++
			if !down {
				down, since = true, time.Now()
				log.Warn("pgstore: cannot listen for changes to the ring; retrying", "error", err.Error())
			} else {
				log.Debug("pgstore: still cannot listen for changes to the ring", "error", err.Error(), "attempts", attempts)
			}
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, s.maxBackoff)
			continue
		}
		if down {
			log.Info("pgstore: listening for changes to the ring again",
				"outage", time.Since(since).Round(time.Millisecond).String(), "attempts", attempts)
			down, attempts = false, 0
		}
		connected := time.Now()
		notify(ch) // a change may have come while no one listened

		err = s.wait(ctx, conn, ch)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		down, since, attempts = true, time.Now(), 0
		log.Warn("pgstore: lost the connection listening for changes to the ring; reconnecting", "error", err.Error())
		if time.Since(connected) > s.maxBackoff {
			backoff = s.minBackoff // a connection that lasted: not a flapping server
		} else if !sleep(ctx, jitter(backoff)) {
			return
		} else {
			backoff = min(2*backoff, s.maxBackoff)
		}
	}
}

// connectListener makes the listener's connection and LISTENs. The
// connection gives up a wait by a deadline on the socket, not by a cancel
// request (the pool's default), so that wait's keepalive costs the server
// nothing.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	pc := s.pool.Config() // a copy
	cc := pc.ConnConfig
	cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	if pc.BeforeConnect != nil {
		if err := pc.BeforeConnect(ctx, cc); err != nil {
			return nil, fmt.Errorf("pgstore: before connecting: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if pc.AfterConnect != nil {
		if err := pc.AfterConnect(ctx, conn); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("pgstore: after connecting: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdentifier(s.channel)); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pgstore: LISTEN: %w", err)
	}
	return conn, nil
}

// wait passes on the notifications for this ring until ctx is done or the
// connection fails. When none comes for a keepalive period (30 s) it pings
// the server, so that a connection that died without a word (a host gone,
// a network cut) is found out within 40 s and replaced.
func (s *Store) wait(ctx context.Context, conn *pgx.Conn, ch chan<- struct{}) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.keepalive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if s.forThisRing(n.Payload) {
				notify(ch)
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !pgconn.Timeout(err):
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, s.pingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("pgstore: no answer to a ping: %w", err)
		}
	}
}

// forThisRing tells whether a payload ("ring:version") may be about this
// Store's ring: one naming another ring that shares the channel is not.
func (s *Store) forThisRing(payload string) bool {
	i := strings.LastIndexByte(payload, ':')
	return i < 0 || payload[:i] == s.ring
}

// notify sends a value unless one is already waiting.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// jitter spreads d over [d/2, d), so that replicas that lost the database
// together do not come back in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d, or reports false when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
