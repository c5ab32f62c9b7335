package jwks

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultJWKSMaxAge is how long clients and CDNs may cache the JWKS document.
// PowerSync itself ignores HTTP caching and refetches every 5 minutes.
const DefaultJWKSMaxAge = 5 * time.Minute

// Header values of the JWKS responses (see headerJSON).
var (
	headerAnyOrigin = []string{"*"}
	headerAllowGET  = []string{"GET, HEAD"}
)

// JWKSHandlerOption configures [NewJWKSHandler].
type JWKSHandlerOption func(*jwksHandler)

// WithMaxAge sets the Cache-Control max-age of the JWKS document (default
// [DefaultJWKSMaxAge], in whole seconds; under a second means "no-cache").
// A negative duration is refused by [NewJWKSHandler]. A rotation publishes
// a new key for longer than this plus PowerSync's own 5-minute refresh
// before it signs with it (see [Rotation] in the package documentation), so
// that no verifier meets a kid it has never seen.
//
// [Rotation]: https://pkg.go.dev/github.com/powersync-jwks/jwks#hdr-Rotation
func WithMaxAge(d time.Duration) JWKSHandlerOption {
	return func(h *jwksHandler) { h.maxAge = d }
}

type jwksHandler struct {
	ks           *KeySet
	maxAge       time.Duration
	cacheControl []string    // the Cache-Control header, built from maxAge
	observe      func(Event) // WithJWKSObserver; nil: none
}

// NewJWKSHandler returns a handler that serves the public JWKS document of
// ks: the URL to configure as PowerSync's "JWKS URI". It answers GET and HEAD
// (405 with Allow: GET, HEAD to anything else) with Content-Type
// application/json, a strong ETag and 304 Not Modified for a matching
// If-None-Match, Cache-Control: public, max-age=300 (see [WithMaxAge]),
// Access-Control-Allow-Origin: * (the document is public) and
// X-Content-Type-Options: nosniff.
//
// The document and its headers are built when the key set changes, not per
// request: serving it allocates nothing. The error reports a nil key set or
// a negative max age.
func NewJWKSHandler(ks *KeySet, opts ...JWKSHandlerOption) (http.Handler, error) {
	h := &jwksHandler{ks: ks, maxAge: DefaultJWKSMaxAge}
	for _, opt := range opts {
		opt(h)
	}
	if ks == nil {
		return nil, errors.New("jwks: NewJWKSHandler with a nil KeySet")
	}
	if h.maxAge < 0 {
		return nil, errors.New("jwks: negative JWKS max age")
	}
	if secs := int64(h.maxAge / time.Second); secs > 0 {
		h.cacheControl = []string{"public, max-age=" + strconv.FormatInt(secs, 10)}
	} else {
		h.cacheControl = headerNoCache
	}
	return h, nil
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.observe == nil {
		h.serve(w, r)
		return
	}
	start := time.Now()
	status := h.serve(w, r)
	ev := Event{Kind: EventJWKSServed, Route: r.Pattern, Status: status}
	if status == http.StatusMethodNotAllowed {
		ev.Reason = statusReason(status)
	}
	ev.Duration = time.Since(start)
	h.observe(ev)
}

// serve answers a request, and returns the status it answered.
func (h *jwksHandler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = headerAllowGET
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
		return http.StatusMethodNotAllowed
	}
	s := h.ks.load()
	hdr := w.Header()
	hdr[headerContentType] = headerJSON
	hdr["Cache-Control"] = h.cacheControl
	hdr["Etag"] = s.etagHeader
	hdr["Access-Control-Allow-Origin"] = headerAnyOrigin
	hdr["X-Content-Type-Options"] = headerNoSniff
	if noneMatch(r.Header["If-None-Match"], s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	hdr["Content-Length"] = s.lengthHeader
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(s.doc) //nolint:errcheck // the client went away; nothing to do
	}
	return http.StatusOK
}

// noneMatch reports whether an If-None-Match header matches etag, with the
// weak comparison RFC 9110 section 13.1.2 prescribes: "*", or any listed
// tag whose opaque part equals etag's.
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for v != "" {
			var tag string
			tag, v, _ = strings.Cut(v, ",")
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
