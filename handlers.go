package jwks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
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
	headerNoCache     = []string{"no-cache"}
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

// An Identity is who a token is for, as an Authenticator established it.
// Each Authenticate call returns an Identity of its own, maps included, that
// the caller may change.
type Identity struct {
	// Subject is the token's "sub": the user ID that sync rules see.
	Subject string
	// Parameters become the token's "parameters" claim, which sync rules
	// read as token_parameters.<name>. Nil for none.
	Parameters map[string]any
	// Claims are extra top-level claims, read in sync rules with
	// request.jwt(). They cannot replace the claims the Signer sets.
	Claims map[string]any
}

// An Authenticator establishes who is asking for a token. It returns an
// error wrapping ErrUnauthenticated when the caller is not signed in or its
// credentials are refused (the token handler answers 401), ErrForbidden when
// it is signed in but may not have a token (403), ErrUnavailable when an
// upstream it depends on cannot be reached in time (503); any other error is
// answered with a generic 500. Errors are logged by the token handler: they
// must not contain credentials.
//
// An Authenticator may read the request's body, which the token handler
// limits in size. It must be safe for concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (*Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Identity, error) { return f(r) }

// DefaultMaxBodyBytes is the largest request body the token handler lets an
// Authenticator read. The seed's clients send none.
const DefaultMaxBodyBytes = 64 << 10

// TokenHandlerOption configures NewTokenHandler.
type TokenHandlerOption func(*tokenHandler)

// WithPowerSyncURL sets the "powersync_url" of the responses, which clients
// connect to (default: the Signer's audience). Trailing slashes are removed:
// the JavaScript SDK refuses an endpoint that ends with one.
func WithPowerSyncURL(instanceURL string) TokenHandlerOption {
	return func(h *tokenHandler) { h.powersyncURL = instanceURL }
}

// WithLogger sets where the handler logs why requests failed (default
// slog.Default(); nil discards). Tokens, keys and credentials are never
// logged.
func WithLogger(logger *slog.Logger) TokenHandlerOption {
	return func(h *tokenHandler) {
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		h.logger = logger
	}
}

// WithCORS allows browsers on the given origins (scheme://host[:port], or
// "*" for any) to call the handler: it answers their preflight OPTIONS
// requests and adds Access-Control-Allow-Origin to its responses. Off by
// default.
func WithCORS(origins ...string) TokenHandlerOption {
	return func(h *tokenHandler) { h.origins = append(h.origins, origins...) }
}

// A RateLimiter decides whether a request may go on; *ratelimit.Limiter
// (package github.com/powersync-jwks/jwks/ratelimit) is one. It must be safe
// for concurrent use.
type RateLimiter interface {
	Allow(r *http.Request) (ok bool, retryAfter time.Duration)
}

// WithRateLimit limits how often each client may ask for a token; over the
// limit the handler answers 429 with Retry-After before calling the
// Authenticator.
func WithRateLimit(l RateLimiter) TokenHandlerOption {
	return func(h *tokenHandler) { h.limiter = l }
}

// WithMaxBodyBytes sets the largest request body accepted (default
// DefaultMaxBodyBytes); larger requests get 413.
func WithMaxBodyBytes(n int64) TokenHandlerOption {
	return func(h *tokenHandler) { h.maxBody = n }
}

type tokenHandler struct {
	signer       *Signer
	auth         Authenticator
	powersyncURL string
	logger       *slog.Logger
	origins      []string
	limiter      RateLimiter
	maxBody      int64
	allow        []string // the Allow header
}

// tokenResponse is the body of a successful token request. "token" and
// "powersync_url" are the seed's; the seed's clients read nothing else.
type tokenResponse struct {
	Token        string `json:"token"`
	PowerSyncURL string `json:"powersync_url"`
	ExpiresAt    string `json:"expires_at"` // RFC 3339, UTC
	UserID       string `json:"user_id"`
}

// NewTokenHandler returns the handler that gives clients their PowerSync
// token: the seed's powersync-auth and powersync-auth-anonymous functions.
// It asks a for the caller's Identity, signs a token for it with s, and
// answers
//
//	200 {"token": "<jwt>", "powersync_url": "<instance URL>",
//	     "expires_at": "<RFC 3339>", "user_id": "<sub>"}
//
// with Content-Type application/json and Cache-Control: no-store, to GET
// (what the PowerSync demos send) and POST. Failures are JSON errors
// {"error": code, "error_description": text}: 401 with WWW-Authenticate:
// Bearer when the caller is not signed in, 403 when it may not have a token,
// 405 for another method, 413 for a large body, 429 with Retry-After when
// rate-limited, 503 when an upstream cannot be reached, 500 otherwise. The
// reason goes to the log (see WithLogger), never to the client.
//
// It panics if s or a is nil, or an option is invalid (an empty
// powersync_url, a body limit under 1, a CORS origin that is not
// scheme://host[:port] or "*"): configuration errors show at start-up.
func NewTokenHandler(s *Signer, a Authenticator, opts ...TokenHandlerOption) http.Handler {
	if s == nil || a == nil {
		panic("jwks: NewTokenHandler with a nil Signer or Authenticator")
	}
	h := &tokenHandler{signer: s, auth: a, powersyncURL: s.Audience(), maxBody: DefaultMaxBodyBytes, logger: slog.Default()}
	for _, opt := range opts {
		opt(h)
	}
	h.powersyncURL = strings.TrimRight(h.powersyncURL, "/")
	if err := h.check(); err != nil {
		panic(err)
	}
	h.allow = []string{"GET, POST"}
	if len(h.origins) > 0 {
		h.allow = []string{"GET, POST, OPTIONS"}
	}
	return h
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	allowedOrigin := h.cors(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	case http.MethodOptions:
		if len(h.origins) > 0 {
			h.preflight(w, r, allowedOrigin)
			return
		}
		fallthrough
	default:
		w.Header()["Allow"] = h.allow
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST")
		return
	}

	if h.limiter != nil {
		if ok, wait := h.limiter.Allow(r); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many token requests; retry later")
			return
		}
	}
	if r.ContentLength > h.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)

	id, err := h.auth.Authenticate(r)
	if err == nil && (id == nil || id.Subject == "") {
		err = errors.New("jwks: the authenticator returned no subject")
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}

	var opts []SignOption
	if id.Parameters != nil {
		opts = append(opts, WithParameters(id.Parameters))
	}
	for name, v := range id.Claims {
		opts = append(opts, WithClaim(name, v))
	}
	tok, err := h.signer.Sign(r.Context(), id.Subject, opts...)
	if err != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "powersync token: signing failed",
			slog.Int("status", http.StatusInternalServerError), slog.String("error", err.Error()), slog.String("remote", r.RemoteAddr))
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	body, err := json.Marshal(tokenResponse{
		Token:        tok.Raw,
		PowerSyncURL: h.powersyncURL,
		ExpiresAt:    tok.ExpiresAt.UTC().Format(time.RFC3339),
		UserID:       tok.Subject,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	hdr := w.Header()
	hdr[headerContentType] = headerJSON
	hdr["Cache-Control"] = headerNoStore
	hdr["Pragma"] = headerNoCache
	hdr["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away; nothing to do
}

// check refuses options no request could be served with.
func (h *tokenHandler) check() error {
	if h.powersyncURL == "" {
		return errors.New("jwks: NewTokenHandler with an empty powersync_url")
	}
	if h.maxBody < 1 {
		return errors.New("jwks: NewTokenHandler with a body limit under 1 byte")
	}
	for _, o := range h.origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("jwks: CORS origin %q is not scheme://host[:port] or *", o)
		}
	}
	return nil
}

// refuse answers a request whose caller gets no token, and logs why.
func (h *tokenHandler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	var p authProblem
	level := slog.LevelInfo
	switch {
	case errors.As(err, &tooLarge):
		p = authProblem{http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large"}
	case errors.Is(err, ErrForbidden):
		p = authProblem{http.StatusForbidden, "access_denied", "this account may not sync"}
	case errors.Is(err, ErrUnauthenticated):
		p = problemFor(err)
		if p == problemInternal { // not a token or header error: refused credentials
			p = authProblem{http.StatusUnauthorized, "invalid_token", "the credentials were refused"}
		}
	default:
		p = problemFor(err)
	}
	switch p.status {
	case http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case http.StatusInternalServerError:
		level = slog.LevelError
	}
	h.logger.LogAttrs(r.Context(), level, "powersync token: request refused",
		slog.Int("status", p.status), slog.String("error", err.Error()), slog.String("remote", r.RemoteAddr))
	writeProblem(w, p)
}

// cors adds the CORS response headers for an allowed Origin and returns the
// value of Access-Control-Allow-Origin, or "" when the origin is not allowed
// or CORS is off.
func (h *tokenHandler) cors(w http.ResponseWriter, r *http.Request) string {
	if len(h.origins) == 0 {
		return ""
	}
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	allowed := ""
	for _, o := range h.origins {
		if o == "*" {
			allowed = "*"
			break
		}
		if origin != "" && o == origin {
			allowed = origin
			break
		}
	}
	if allowed != "" {
		w.Header().Set("Access-Control-Allow-Origin", allowed)
	}
	return allowed
}

// preflight answers a CORS preflight request.
func (h *tokenHandler) preflight(w http.ResponseWriter, r *http.Request, allowedOrigin string) {
	if allowedOrigin == "" {
		writeError(w, http.StatusForbidden, "access_denied", "this origin may not call the token endpoint")
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", "GET, POST")
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, apikey, x-client-info")
	hdr.Set("Access-Control-Max-Age", "600")
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// AnonymousSubject is the subject of anonymous tokens by default, as the
// seed's powersync-auth-anonymous function made them. Sync rules can tell
// anonymous users apart with token_parameters.user_id != 'anonymous'.
const AnonymousSubject = "anonymous"

// AnonymousOption configures Anonymous.
type AnonymousOption func(*anonymous)

// WithUniqueSubjects gives every anonymous token a subject of its own,
// "anon-" followed by a random UUID, instead of AnonymousSubject: each
// client then syncs its own buckets, and sync rules can still tell anonymous
// users apart by the prefix.
func WithUniqueSubjects() AnonymousOption {
	return func(a *anonymous) { a.subject = uniqueSubject }
}

// WithSubjectFunc makes subjects with f, which may read the request (a
// device ID header, say). An error from f is handled as an Authenticator's
// error.
func WithSubjectFunc(f func(r *http.Request) (string, error)) AnonymousOption {
	return func(a *anonymous) { a.subject = f }
}

// WithAnonymousParameters adds PowerSync parameters to every anonymous token,
// such as {"anonymous": true}, which sync rules read as
// token_parameters.anonymous.
func WithAnonymousParameters(params map[string]any) AnonymousOption {
	params = maps.Clone(params)
	return func(a *anonymous) { a.params = params }
}

type anonymous struct {
	subject func(*http.Request) (string, error)
	params  map[string]any
}

// Anonymous returns an Authenticator that lets anyone have a token, with the
// subject AnonymousSubject ("anonymous") by default: the seed's
// powersync-auth-anonymous function. Mount it behind a rate limit (see
// WithRateLimit): every request is granted a token.
func Anonymous(opts ...AnonymousOption) Authenticator {
	a := &anonymous{subject: func(*http.Request) (string, error) { return AnonymousSubject, nil }}
	for _, opt := range opts {
		opt(a)
	}
	return a
}

func (a *anonymous) Authenticate(r *http.Request) (*Identity, error) {
	sub, err := a.subject(r)
	if err != nil {
		return nil, err
	}
	return &Identity{Subject: sub, Parameters: maps.Clone(a.params)}, nil
}

// uniqueSubject returns "anon-" and a random (version 4) UUID.
func uniqueSubject(*http.Request) (string, error) {
	var u [16]byte
	rand.Read(u[:])         // never fails (crypto/rand panics rather)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(u[:])
	return "anon-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
