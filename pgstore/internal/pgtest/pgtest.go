// Package pgtest gives the tests of pgstore real PostgreSQL databases: it is
// the root module's internal/pgtest (the one helper of every module's
// PostgreSQL tests, which imports no driver), with pgx to make and drop
// the databases.
//
// The database server is the one POWERSYNC_JWKS_TEST_DATABASE_URL names,
// or else a throwaway cluster started on first use when initdb is on the
// PATH (or in Debian's /usr/lib/postgresql/*/bin), and stopped when the
// package's tests are done (see Main). With neither, a test that needs a
// database is skipped, except under CI (CI set), where it fails.
package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-jwks/jwks/internal/pgtest"
)

// EnvURL names the variable that points the tests at a server of one's own.
const EnvURL = pgtest.EnvURL

// A Server is a throwaway PostgreSQL cluster of a test's own, which the
// test may stop and start again (see pgtest.Server).
type Server struct{ *pgtest.Server }

// Main runs a package's tests, then stops the server Database started, if
// it started one. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int { return pgtest.Main(m) }

// Database returns the URL of a new, empty database, dropped (its sessions
// ended) when the test is done, so that tests may run in parallel.
func Database(t testing.TB) string {
	t.Helper()
	return pgtest.Database(t, Exec)
}

// NewServer starts a server of the test's own, which the test may stop and
// start again; it is removed when the test is done. It needs initdb on the
// PATH whatever EnvURL says, and is skipped without it (failed under CI).
func NewServer(t testing.TB) *Server {
	t.Helper()
	return &Server{pgtest.NewServer(t)}
}

// NewDatabase makes a database on s, as Database does on the shared server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.Server.NewDatabase(t, Exec)
}

// Exec runs one SQL statement on the database at url, with pgx.
func Exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
