package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-jwks/jwks/internal/pgtest"
)

// TestMain runs the tests, then stops the PostgreSQL server they started
// (if any) and removes the built command. It fails the run when a test
// left a key ring file in the package's directory (a test that forgot to
// point -key-file or -store elsewhere).
func TestMain(m *testing.M) {
	_, statErr := os.Stat(defaultKeyFile)
	hadKeyFile := statErr == nil
	code := pgtest.Main(m)
	removeBuilt()
	if _, err := os.Stat(defaultKeyFile); err == nil && !hadKeyFile {
		fmt.Fprintf(os.Stderr, "a test left %s (and its lock file) in the package's directory\n", defaultKeyFile)
		os.Remove(defaultKeyFile)
		os.Remove(defaultKeyFile + ".lock")
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// pgExec runs one SQL statement on the database at url, for pgtest.
func pgExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// pgDatabase returns the URL of a new database on the tests' PostgreSQL
// server (POWERSYNC_JWKS_TEST_DATABASE_URL's, or one started for the
// tests), dropped when the test is done; without PostgreSQL the test is
// skipped (failed under CI).
func pgDatabase(t testing.TB) string {
	t.Helper()
	return pgtest.Database(t, pgExec)
}
