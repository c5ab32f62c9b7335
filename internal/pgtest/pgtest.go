// Package pgtest gives tests real PostgreSQL databases: those of pgstore
// and of cmd/powersync-auth, modules of their own that share this helper
// (an internal package of the root module is importable from them: the
// internal rule goes by import path). It is imported by tests only.
//
// It imports the standard library only, so that the root module's go.mod
// names no database driver: the few SQL statements it needs (CREATE and
// DROP DATABASE) are run by an [Exec] its caller passes, made with the
// caller's own driver (pgx, in those modules).
//
// The database server is the one POWERSYNC_JWKS_TEST_DATABASE_URL names
// (a postgres:// URL of a role that may create databases; .ci/run sets it
// to the server scripts/postgres starts), or else a throwaway cluster this
// package starts on first use when initdb is on the PATH (or in Debian's
// /usr/lib/postgresql/*/bin), and stops when the package's tests are done
// (see Main). With neither, a test that needs
// a database is skipped, except under CI (CI set), where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// EnvURL names the variable that points the tests at a server of one's own.
const EnvURL = "POWERSYNC_JWKS_TEST_DATABASE_URL"

// An Exec runs one SQL statement on the database at url (a postgres:// URL),
// with the caller's database driver.
type Exec func(ctx context.Context, url, sql string) error

var shared struct {
	once   sync.Once
	server *Server // started by us, or nil
	url    string  // of the server's maintenance database
	skip   string  // why there is no server
	err    error   // why the server could not be started
}

// Main runs a package's tests, then stops the server Database started, if
// it started one. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if shared.server != nil {
		if err := shared.server.destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping the test server:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Database returns the URL of a new, empty database, dropped (its sessions
// ended) when the test is done, so that tests may run in parallel. exec
// makes and drops it.
func Database(t testing.TB, exec Exec) string {
	t.Helper()
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared.url = u
			return
		}
		s, why := findServer()
		if s == nil {
			shared.skip = why
			return
		}
		if shared.err = s.start(); shared.err != nil {
			_ = s.destroy()
			return
		}
		shared.server, shared.url = s, s.URL("postgres")
	})
	switch {
	case shared.skip != "":
		unavailable(t, shared.skip)
	case shared.err != nil:
		t.Fatalf("pgtest: starting a PostgreSQL server for the tests: %v", shared.err)
	}
	return newDatabase(t, shared.url, exec)
}

// NewServer starts a server of the test's own, which the test may stop and
// start again; it is removed when the test is done. It needs initdb on the
// PATH whatever EnvURL says, and is skipped without it (failed under CI).
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, why := findServer()
	if s == nil {
		unavailable(t, why)
	}
	if err := s.start(); err != nil {
		_ = s.destroy()
		t.Fatalf("pgtest: starting a PostgreSQL server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.destroy(); err != nil {
			t.Errorf("pgtest: removing the test server: %v", err)
		}
	})
	return s
}

// NewDatabase makes a database on s, as Database does on the shared server.
func (s *Server) NewDatabase(t testing.TB, exec Exec) string {
	t.Helper()
	return newDatabase(t, s.URL("postgres"), exec)
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("no PostgreSQL for this test: %s; set %s to a postgres:// URL of a role that may create databases, or put PostgreSQL's initdb and pg_ctl on the PATH", why, EnvURL)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (under CI this is a failure, not a skip)")
	}
	t.Skip(msg)
}

func newDatabase(t testing.TB, base string, exec Exec) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvURL)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pgtest_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: making a database for the test: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping the test's database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
