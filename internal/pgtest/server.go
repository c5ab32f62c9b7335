package pgtest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A Server is a throwaway PostgreSQL cluster: a data directory in a
// temporary directory and a postmaster on a free port of 127.0.0.1, with
// fsync off. As root it runs as the postgres user, since PostgreSQL refuses
// to run as root.
type Server struct {
	dir    string // the temporary directory, owned by the server's user
	data   string // the data directory in it
	port   int
	initdb string
	pgCtl  string
	asUser string // "" to run as ourselves
}

// findServer tells why no Server can be started here, or "" when one can.
func findServer() (s *Server, unavailable string) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		// Debian keeps the server's programs off the PATH.
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(found) == 0 {
			return nil, "initdb is neither on the PATH nor in /usr/lib/postgresql/*/bin"
		}
		slices.SortFunc(found, func(a, b string) int { return cmp.Compare(version(a), version(b)) })
		initdb = found[len(found)-1]
	}
	pgCtl := filepath.Join(filepath.Dir(initdb), "pg_ctl")
	if _, err := os.Stat(pgCtl); err != nil {
		if pgCtl, err = exec.LookPath("pg_ctl"); err != nil {
			return nil, "pg_ctl is not on the PATH"
		}
	}
	s = &Server{initdb: initdb, pgCtl: pgCtl}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, "running as root, and there is no postgres user to run PostgreSQL as"
		}
		s.asUser = "postgres"
	}
	return s, ""
}

// start makes the cluster and starts it.
func (s *Server) start() error {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return err
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	if s.asUser != "" {
		u, err := user.Lookup(s.asUser)
		if err != nil {
			return err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	if err := s.run(s.initdb, "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	// A free port can be taken between our look and the server's bind:
	// try another.
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.Start(); err == nil || try == 2 {
			return err
		}
	}
}

// Start starts the stopped server again, on the same port.
func (s *Server) Start() error {
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-c port=" + strconv.Itoa(s.port),
		"-c unix_socket_directories=" + s.dir,
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c max_connections=300",
	}, " ")
	logFile := filepath.Join(s.dir, "log")
	if err := s.run(s.pgCtl, "-D", s.data, "-l", logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s", err, tail(log, 2000))
	}
	return nil
}

// Stop stops the server at once (fast shutdown: sessions are ended).
func (s *Server) Stop() error {
	if err := s.run(s.pgCtl, "-D", s.data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w", err)
	}
	return nil
}

// destroy stops the server if it runs and removes its directory.
func (s *Server) destroy() error {
	var err error
	if _, statErr := os.Stat(filepath.Join(s.data, "postmaster.pid")); statErr == nil {
		err = s.run(s.pgCtl, "-D", s.data, "-m", "immediate", "-w", "stop")
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// URL is the URL of a database of the server's, as the postgres superuser.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// run runs a PostgreSQL program as the server's user.
func (s *Server) run(name string, args ...string) error {
	var cmd *exec.Cmd
	switch {
	case s.asUser == "":
		cmd = exec.Command(name, args...)
	case haveRunuser():
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", name}, args...)...)
	default:
		quoted := []string{shellQuote(name)}
		for _, a := range args {
			quoted = append(quoted, shellQuote(a))
		}
		cmd = exec.Command("su", s.asUser, "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
	}
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(out.Bytes(), 2000))
	}
	return nil
}

func haveRunuser() bool {
	_, err := exec.LookPath("runuser")
	return err == nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// version reads the major version out of /usr/lib/postgresql/VERSION/bin/initdb.
func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}
