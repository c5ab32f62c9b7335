package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/pgstore"
)

// storeTimeout bounds each read and write of the key ring's store, and the
// first connection to a PostgreSQL store: a database that does not answer
// within it is down. A variable, for the tests.
var storeTimeout = 10 * time.Second

// The kinds of store.
const (
	storeFile     = "file"
	storePostgres = "postgres"
)

// storeSpec is the store -store names. Its URL may hold a password: print
// it with String, which hides it.
type storeSpec struct {
	kind     string // storeFile or storePostgres
	path     string // of a file store, as given
	url      string // of a PostgreSQL store, password included
	explicit bool   // named by -store or its variable, not the -key-file default
}

// String describes the store for messages and logs, without a password.
func (s storeSpec) String() string {
	if s.kind == storePostgres {
		return redactURL(s.url)
	}
	if abs, err := filepath.Abs(s.path); err == nil {
		return "file:" + abs
	}
	return "file:" + s.path
}

// schemeRE matches a URL scheme, which messages may quote.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// dsnRE matches a key=value connection string ("host=db user=auth ..."),
// which -store does not take: it would be taken for a file's path.
var dsnRE = regexp.MustCompile(`(^|\s)(host|hostaddr|port|dbname|user|password|sslmode)\s*=`)

// parseStore reads -store: file:PATH or a PATH, or a postgres:// or
// postgresql:// URL; empty, the file keyFile. Its errors never quote arg,
// which may hold a password.
func parseStore(arg, keyFile string) (storeSpec, error) {
	if arg == "" {
		return storeSpec{kind: storeFile, path: keyFile}, nil
	}
	spec := storeSpec{explicit: true}
	scheme, _, hasScheme := strings.Cut(arg, "://")
	switch lower := strings.ToLower(scheme); {
	case hasScheme && (lower == "postgres" || lower == "postgresql"):
		if strings.ContainsAny(arg, " \t\r\n") {
			return storeSpec{}, errors.New("is a postgres:// URL with spaces or line breaks in it (a stray line break?)")
		}
		if _, err := url.Parse(arg); err != nil { // its message would quote the URL
			return storeSpec{}, errors.New("is not a valid postgres:// URL")
		}
		spec.kind, spec.url = storePostgres, arg
		return spec, nil
	case strings.HasPrefix(strings.ToLower(arg), "file:"):
		path := arg[len("file:"):]
		if strings.HasPrefix(path, "//") { // file:///var/lib/…, file://localhost/var/lib/…
			u, err := url.Parse(arg)
			if err != nil || (u.Host != "" && u.Host != "localhost") {
				return storeSpec{}, errors.New("is not a file: URL of this machine: give file:PATH or a path")
			}
			path = u.Path
		}
		if path == "" {
			return storeSpec{}, errors.New("file: names no path")
		}
		spec.kind, spec.path = storeFile, path
		return spec, nil
	case hasScheme:
		if schemeRE.MatchString(scheme) {
			return storeSpec{}, fmt.Errorf("names a %q URL: the store is file:PATH, a path, or a postgres:// URL", scheme)
		}
		return storeSpec{}, errors.New("is a URL of no known kind: the store is file:PATH, a path, or a postgres:// URL")
	case dsnRE.MatchString(arg):
		return storeSpec{}, errors.New("looks like a key=value connection string: give PostgreSQL as a postgres:// URL")
	}
	spec.kind, spec.path = storeFile, arg
	return spec, nil
}

// redactURL returns a postgres:// URL without its password (in the user
// part or as a parameter), for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(a URL that does not parse)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); len(q) > 0 {
		changed := false
		for name := range q {
			if strings.Contains(strings.ToLower(name), "password") {
				q.Set(name, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// openedStore is a store opened for the key ring, and how to let it go.
type openedStore struct {
	keyring.Store
	spec  storeSpec
	close func()
}

// openStore opens the store spec names: a file store, or a PostgreSQL store
// whose database answers within storeTimeout. Errors are *configError (the
// server does not start without its ring) and never hold a password.
func openStore(ctx context.Context, spec storeSpec, logger *slog.Logger) (*openedStore, error) {
	switch spec.kind {
	case storeFile:
		s, err := keyring.NewFileStore(spec.path)
		if err != nil {
			return nil, configErrorf("the key ring's store: %s", strings.TrimPrefix(err.Error(), "keyring: "))
		}
		return &openedStore{Store: boundedStore{s}, spec: spec, close: func() {}}, nil
	case storePostgres:
		octx, cancel := context.WithTimeout(ctx, storeTimeout)
		defer cancel()
		s, err := pgstore.Open(octx, spec.url, pgstore.WithLogger(logger))
		if err != nil {
			if octx.Err() != nil && ctx.Err() == nil {
				return nil, configErrorf("the key ring's store %s: the database did not answer within %v: %s",
					spec, storeTimeout, scrub(err.Error(), spec.url))
			}
			return nil, configErrorf("the key ring's store %s: %s", spec, scrub(err.Error(), spec.url))
		}
		return &openedStore{Store: boundedStore{s}, spec: spec, close: s.Close}, nil
	}
	return nil, configErrorf("the key ring's store: no such kind %q", spec.kind)
}

// scrub removes the password of the URL raw from msg, should a driver's
// message ever hold it (pgstore's do not).
func scrub(msg, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return msg
	}
	secrets := []string{raw}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	for name, values := range u.Query() {
		if strings.Contains(strings.ToLower(name), "password") {
			secrets = append(secrets, values...)
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// boundedStore bounds every read and write of a store by storeTimeout, so
// that a database that stops answering fails a refresh instead of holding
// up the key ring (and New, whose context is the server's life).
type boundedStore struct{ keyring.Store }

func (s boundedStore) Load(ctx context.Context) (int64, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return s.Store.Load(ctx)
}

func (s boundedStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return s.Store.CompareAndSwap(ctx, version, data)
}
