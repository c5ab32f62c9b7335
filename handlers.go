package jwks

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultJWKSMaxAge is how long clients and CDNs may cache the JWKS document.
// PowerSync itself ignores HTTP caching and refetches every 5 minutes.
const DefaultJWKSMaxAge = 5 * time.Minute

// Header values shared by every response. net/http only reads them; they
// are assigned to the header map directly so that serving the JWKS allocates
// nothing. Each has len == cap, so an append by a middleware copies.
var (
	headerJSON        = []string{"application/json"}
	headerNoSniff     = []string{"nosniff"}
	headerAnyOrigin   = []string{"*"}
	headerAllowGET    = []string{"GET, HEAD"}
	headerNoStore     = []string{"no-store"}
	headerContentType = "Content-Type"
)

// JWKSHandlerOption configures NewJWKSHandler.
type JWKSHandlerOption func(*jwksHandler)

// WithMaxAge sets the Cache-Control max-age of the JWKS document (default
// DefaultJWKSMaxAge, whole seconds; zero or less means "no-cache"). Keep it
// below the time a rotation publishes a new key before signing with it,
// minus PowerSync's own 5-minute refresh: a verifier that cached the
// document longer would meet a kid it has never seen.
func WithMaxAge(d time.Duration) JWKSHandlerOption {
	return func(h *jwksHandler) {
		if secs := int64(d / time.Second); secs > 0 {
			h.cacheControl = []string{"public, max-age=" + strconv.FormatInt(secs, 10)}
		} else {
			h.cacheControl = []string{"no-cache"}
		}
	}
}

type jwksHandler struct {
	ks           *KeySet
	cacheControl []string
}

// NewJWKSHandler returns a handler that serves the public JWKS document of
// ks: the URL to configure as PowerSync's "JWKS URI". It answers GET and HEAD
// (405 with Allow: GET, HEAD to anything else) with Content-Type
// application/json, a strong ETag and 304 Not Modified for a matching
// If-None-Match, Cache-Control: public, max-age=300 (see WithMaxAge),
// Access-Control-Allow-Origin: * (the document is public) and
// X-Content-Type-Options: nosniff.
//
// The document and its headers are built when the key set changes, not per
// request: serving it allocates nothing. It panics if ks is nil.
func NewJWKSHandler(ks *KeySet, opts ...JWKSHandlerOption) http.Handler {
	if ks == nil {
		panic("jwks: NewJWKSHandler with a nil KeySet")
	}
	h := &jwksHandler{ks: ks}
	WithMaxAge(DefaultJWKSMaxAge)(h)
	for _, opt := range opts {
		opt(h)
	}
	return h
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = headerAllowGET
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
		return
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
		return
	}
	hdr["Content-Length"] = s.lengthHeader
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(s.doc) //nolint:errcheck // the client went away; nothing to do
	}
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

// errorBody is the JSON of every error response, in the OAuth 2.0 shape
// (RFC 6749 section 5.2) that clients already parse.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// writeError writes a JSON error response. code and description are fixed
// texts of this package: never a token, a key or an upstream message.
func writeError(w http.ResponseWriter, status int, code, description string) {
	hdr := w.Header()
	hdr[headerContentType] = headerJSON
	hdr["Cache-Control"] = headerNoStore
	hdr["X-Content-Type-Options"] = headerNoSniff
	delete(hdr, "Content-Length")
	delete(hdr, "Etag")
	body, _ := json.Marshal(errorBody{Error: code, Description: description})
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away; nothing to do
}
