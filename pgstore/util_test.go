package pgstore

import (
	"context"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// pgxExec runs SQL (statements may be several) on a connection of its own.
func pgxExec(t testing.TB, url, sql string) (pgconn.CommandTag, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // usable in a cleanup
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Close(context.Background())
	return conn.Exec(ctx, sql)
}

func randomID() uint32 { return rand.Uint32() }

// withUser returns dbURL with another user and no password.
func withUser(t testing.TB, dbURL, user string) string {
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.User(user)
	return u.String()
}
