package pgstore

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// redactedError is an error whose message had a password in it, shown
// without. It has no Unwrap, which would hand the original message (and
// the password) to whoever walks the chain, a logger printing causes say;
// errors.Is still sees the errors the original wraps (context.Canceled,
// a sentinel), through Is.
type redactedError struct {
	msg string
	err error
}

// Error returns the message without the password.
func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error is target or wraps it.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// redact returns err with every form of password its message may hold
// replaced by "xxxxx". pgx already leaves passwords out of its messages;
// this makes sure of it.
func redact(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	msg := err.Error()
	for _, form := range []string{password, url.PathEscape(password), url.QueryEscape(password)} {
		msg = strings.ReplaceAll(msg, form, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// keywordPassword finds the password of a key=value connection string.
var keywordPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// passwordOf finds the password in a connection string that pgx could not
// parse, as well as it can.
func passwordOf(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	if m := keywordPassword.FindStringSubmatch(conn); m != nil {
		return strings.Trim(m[1], "'")
	}
	// url.Parse refuses some URLs pgx would take (a bad port, say): take
	// what lies between the user's colon and the last @ of the authority.
	if _, rest, ok := strings.Cut(conn, "://"); ok {
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			rest = rest[:end]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				if q, err := url.PathUnescape(p); err == nil {
					return q
				}
				return p
			}
		}
	}
	return ""
}

// checkUserInfo refuses a postgres:// URL with more than one @ before its
// host, without quoting it: a password with a raw @ in it. pgx splits the
// user information at the first @ and url.Parse at the last, so the rest
// of the password would be taken for the host, and show in errors as one.
func checkUserInfo(databaseURL string) error {
	rest, ok := strings.CutPrefix(databaseURL, "postgres://")
	if !ok {
		if rest, ok = strings.CutPrefix(databaseURL, "postgresql://"); !ok {
			return nil // a key=value connection string
		}
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if strings.Count(rest, "@") > 1 {
		return errors.New("pgstore: the database URL has more than one @ before its host: " +
			"write each @ of the user name or the password as %40")
	}
	return nil
}
