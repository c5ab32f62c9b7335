// Package redirect sets the redirect policy of the HTTP clients the library
// makes its outgoing requests with (a remote JWKS, Supabase's
// /auth/v1/user): by default no redirect is followed, and optionally only
// those that stay on the origin of the first request.
package redirect

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// maxHops is the most redirects followed for one request, as net/http's
// default policy allows.
const maxHops = 10

// Client returns a copy of c whose CheckRedirect follows no redirect or,
// with sameOrigin, only redirects to the scheme, host and port of the first
// request (so never https to http). c itself is not changed, and the copy
// shares its Transport, Jar and Timeout.
//
// A redirect that is not followed is not an error of Do: the 3xx response
// itself is returned (http.ErrUseLastResponse), for the caller to refuse
// and to name its Location in a log.
func Client(c *http.Client, sameOrigin bool) *http.Client {
	wrapped := *c
	wrapped.CheckRedirect = Policy(sameOrigin)
	return &wrapped
}

// Policy returns the CheckRedirect function of [Client].
func Policy(sameOrigin bool) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin || len(via) >= maxHops {
			return http.ErrUseLastResponse
		}
		for _, prev := range via {
			if !SameOrigin(prev.URL, req.URL) {
				return http.ErrUseLastResponse
			}
		}
		return nil
	}
}

// SameOrigin reports whether a and b have the same scheme, host (without
// regard to case) and port, a missing port being the scheme's default.
func SameOrigin(a, b *url.URL) bool {
	if a == nil || b == nil {
		return false
	}
	sa, sb := strings.ToLower(a.Scheme), strings.ToLower(b.Scheme)
	return sa == sb && (sa == "http" || sa == "https") &&
		strings.EqualFold(a.Hostname(), b.Hostname()) && port(sa, a) == port(sb, b)
}

// port returns the port of u, or the default port of its scheme.
func port(scheme string, u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// ErrNotFollowed says that a response was a redirect, which was not
// followed.
var ErrNotFollowed = errors.New("redirect not followed")

// Refused returns an error wrapping [ErrNotFollowed] when resp is a redirect
// (301, 302, 303, 307 or 308) that the client did not follow, naming its
// status and the host of its Location, quoted; the path and query of the
// Location, which may carry anything, are left out. It returns nil for any
// other response.
func Refused(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	host := "no valid Location"
	if u, err := resp.Location(); err == nil && u.Host != "" {
		host = fmt.Sprintf("host %s", quote.Value(u.Host))
	}
	return fmt.Errorf("HTTP status %d, a redirect to %s: %w", resp.StatusCode, host, ErrNotFollowed)
}
