package jwks

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// DefaultMaxBodyBytes is the largest request body the token handler lets an
// [Authenticator] read. PowerSync's clients send none.
const DefaultMaxBodyBytes = 64 << 10

// A RateLimiter decides whether the token handler serves a request (see
// [WithRateLimit]). Allow reports whether r may go on and, when it may not,
// how long its client should wait before trying again. The
// [github.com/powersync-jwks/jwks/ratelimit] package implements it, per
// client IP address. It must be safe for concurrent use.
type RateLimiter interface {
	Allow(r *http.Request) (ok bool, retryAfter time.Duration)
}

// TokenHandlerOption configures [NewTokenHandler].
type TokenHandlerOption func(*tokenHandler)

// WithPowerSyncURL sets the "powersync_url" of the responses, the URL
// clients connect to: an http or https URL (default: the [Signer]'s audience,
// which must then be one). Trailing slashes are removed: the JavaScript SDK
// refuses an endpoint that ends with one.
func WithPowerSyncURL(instanceURL string) TokenHandlerOption {
	return func(h *tokenHandler) { h.powersyncURL, h.urlFromOption = instanceURL, true }
}

// WithLogger sets where the handler logs why requests failed (default, and
// when logger is nil, [slog.Default]). Tokens, keys and credentials are
// never logged.
func WithLogger(logger *slog.Logger) TokenHandlerOption {
	return func(h *tokenHandler) { h.logger = logger }
}

// WithCORS allows browsers on the given origins (scheme://host[:port], or
// "*" for any) to call the handler: it answers their preflight OPTIONS
// requests and adds Access-Control-Allow-Origin to its responses. Off by
// default. An origin is compared with the browser's Origin header byte for
// byte, so one of another form, which no browser sends, is refused by
// [NewTokenHandler]: "https://app.example/" (its trailing slash), a
// wildcard such as "https://*.example.com", a fragment ("#", even empty),
// capitals ("https://App.example"), the scheme's default port
// ("https://app.example:443"), a host name that is not in punycode; the
// error gives the form a browser sends.
//
// Mount a handler with CORS on a path pattern ("/powersync-auth"), not a
// method pattern ("GET /powersync-auth"): under a method pattern the
// ServeMux itself answers the browser's preflight OPTIONS with 405, and
// the browser never sends the request.
func WithCORS(origins ...string) TokenHandlerOption {
	return func(h *tokenHandler) { h.origins = append(h.origins, origins...) }
}

// WithRateLimit limits how often clients may ask for a token: when l does
// not allow a request, the handler answers 429 with Retry-After before
// calling the [Authenticator]. Off by default; a nil l is refused by
// [NewTokenHandler].
func WithRateLimit(l RateLimiter) TokenHandlerOption {
	return func(h *tokenHandler) { h.limiter, h.limiterSet = l, true }
}

// WithMaxBodyBytes sets the largest request body accepted (default
// [DefaultMaxBodyBytes]; at least 1); larger requests get 413.
func WithMaxBodyBytes(n int64) TokenHandlerOption {
	return func(h *tokenHandler) { h.maxBody = n }
}

type tokenHandler struct {
	signer        *Signer
	auth          Authenticator
	powersyncURL  string
	urlFromOption bool // powersyncURL came from WithPowerSyncURL
	logger        *slog.Logger
	origins       []string
	limiter       RateLimiter
	limiterSet    bool // WithRateLimit was given, perhaps with nil
	maxBody       int64
	allow         []string    // the Allow header
	observe       func(Event) // WithObserver; nil: none (observer.go)

	// shared hands out the token of the current second when every caller
	// gets the same identity (tokencache.go); nil otherwise.
	shared *secondCache
}

// tokenResponse is the body of a successful token request. PowerSync's
// clients read "token" and "powersync_url".
type tokenResponse struct {
	Token        string `json:"token"`
	PowerSyncURL string `json:"powersync_url"`
	ExpiresAt    string `json:"expires_at"` // RFC 3339, UTC
	UserID       string `json:"user_id"`
}

// NewTokenHandler returns the handler that gives clients their PowerSync
// token. It asks a for the caller's [Identity], signs a token for it with
// s, and answers
//
//	200 {"token": "<jwt>", "powersync_url": "<instance URL>",
//	     "expires_at": "<RFC 3339>", "user_id": "<sub>"}
//
// with Content-Type application/json and Cache-Control: no-store, to GET
// (what the PowerSync demos send) and POST. Failures are JSON errors
// {"error": code, "error_description": text}: 401 with WWW-Authenticate:
// Bearer when the caller is not signed in, 403 when it may not have a token,
// 405 for another method, 413 for a large body, 429 with Retry-After when
// rate-limited, 503 when an upstream cannot be reached or the request ends
// while it waits for its turn to sign (see [Signer]), 500 otherwise (an
// Authenticator that panics included: the handler recovers). The reason goes
// to the log (see [WithLogger]), never to the client.
//
// With an [Anonymous] authenticator whose subject is shared (the default),
// the handler signs one token per second and signing key and hands it to
// every caller of that second; see [Anonymous] for why that is safe.
//
// The error reports configuration no request could be served with: a nil
// s or a, a powersync_url that is not an http or https URL, a body limit
// under 1, a CORS origin [WithCORS] refuses (one no browser's Origin
// header matches), a nil rate limiter.
func NewTokenHandler(s *Signer, a Authenticator, opts ...TokenHandlerOption) (http.Handler, error) {
	h := &tokenHandler{signer: s, auth: a, maxBody: DefaultMaxBodyBytes}
	if s != nil {
		h.powersyncURL = s.Audience()
	}
	for _, opt := range opts {
		opt(h)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	h.powersyncURL = strings.TrimRight(h.powersyncURL, "/")
	if h.logger == nil {
		h.logger = slog.Default()
	}
	h.allow = []string{"GET, POST"}
	if len(h.origins) > 0 {
		h.allow = []string{"GET, POST, OPTIONS"}
	}
	if sa, ok := a.(sharedAuthenticator); ok && sa.identityShared() && !s.tokenID {
		h.shared = newSecondCache(s, h.responseBody)
	}
	return h, nil
}

// check refuses options no request could be served with.
func (h *tokenHandler) check() error {
	if h.signer == nil {
		return errors.New("jwks: NewTokenHandler with a nil Signer")
	}
	if f, ok := h.auth.(AuthenticatorFunc); h.auth == nil || ok && f == nil {
		return errors.New("jwks: NewTokenHandler with a nil Authenticator")
	}
	if err := checkPowerSyncURL(h.powersyncURL); err != nil {
		if !h.urlFromOption {
			return fmt.Errorf("%w (it defaults to the Signer's audience; set it with WithPowerSyncURL)", err)
		}
		return err
	}
	if h.maxBody < 1 {
		return errors.New("jwks: NewTokenHandler with a body limit under 1 byte")
	}
	for _, o := range h.origins {
		if err := checkOrigin(o); err != nil {
			return err
		}
	}
	if h.limiterSet && h.limiter == nil {
		return errors.New("jwks: WithRateLimit(nil)")
	}
	return nil
}

// checkPowerSyncURL refuses a powersync_url clients could not connect to:
// anything but an absolute http or https URL with a host, and no query,
// fragment or user information. Trailing slashes do not count.
func checkPowerSyncURL(s string) error {
	trimmed := strings.TrimRight(s, "/")
	if trimmed == "" {
		return errors.New("jwks: NewTokenHandler with an empty powersync_url")
	}
	u, err := url.Parse(trimmed)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		// The URL is not quoted: it may carry a password.
		return errors.New("jwks: powersync_url is not an http or https URL (scheme://host[:port][/path], no user, query or fragment)")
	}
	return nil
}

// checkOrigin refuses a CORS origin that is neither "*" nor
// scheme://host[:port] as a browser's Origin header spells it, which the
// handler compares byte for byte: an origin with a wildcard
// (https://*.example.com), a fragment (even an empty one), capitals, a
// non-ASCII host, an empty port, a port with leading zeros or the scheme's
// default port would never match.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	if strings.Contains(o, "*") {
		return fmt.Errorf("jwks: CORS origin %s has a wildcard, which no Origin matches: list each origin, or allow any with *", quote.Value(o))
	}
	for _, r := range o {
		switch {
		case r > 0x7f:
			return fmt.Errorf("jwks: CORS origin %s is not ASCII: browsers send an internationalized host name in punycode (xn--…)", quote.Value(o))
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("jwks: CORS origin %s holds a space or a control character", quote.Value(o))
		}
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.User != nil || strings.HasSuffix(o, "?") || strings.ContainsRune(o, '#') {
		return fmt.Errorf("jwks: CORS origin %s is not scheme://host[:port] (no path, no trailing slash) or *", quote.Value(o))
	}
	// A browser serializes its origin in lower case, in ASCII (an
	// internationalized name in punycode), and without the scheme's
	// default port.
	want := strings.ToLower(o)
	port := u.Port()
	switch {
	case strings.HasSuffix(u.Host, ":"):
		want = strings.TrimSuffix(want, ":")
	case strings.HasPrefix(port, "0"):
		want = strings.TrimSuffix(want, ":"+port)
		if n := strings.TrimLeft(port, "0"); n != "" {
			want += ":" + n
		}
	}
	if n := strings.TrimLeft(port, "0"); u.Scheme == "https" && n == "443" || u.Scheme == "http" && n == "80" {
		want = strings.TrimSuffix(want, ":"+n)
	}
	if want != o {
		return fmt.Errorf("jwks: CORS origin %s is not as browsers send it, which is %s (lower case, no default port)", quote.Value(o), quote.Value(want))
	}
	return nil
}

// serve answers a request; ServeHTTP (observer.go) calls it.
func (h *tokenHandler) serve(w http.ResponseWriter, r *http.Request) {
	allowedOrigin := h.cors(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	case http.MethodOptions:
		if len(h.origins) > 0 {
			h.preflight(w, allowedOrigin)
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
			writeProblem(w, problemRateLimited)
			return
		}
	}
	if r.ContentLength > h.maxBody {
		writeProblem(w, problemTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)

	id, err := h.authenticate(r)
	if err == nil && (id == nil || id.Subject == "") {
		err = errors.New("jwks: the authenticator returned no subject")
	}
	if err != nil {
		h.refuse(w, r, problemFor(err), err)
		return
	}

	var body []byte
	var kid string // of the key that signed the token, for the observer
	if h.shared != nil {
		var t *cachedToken
		if t, err = h.shared.get(r.Context(), id); err == nil {
			body, kid = t.body, t.tok.KeyID
		}
	} else {
		body, kid, err = h.mint(r, id)
	}
	if err != nil {
		p := problemInternal
		if errors.Is(err, ErrUnavailable) || r.Context().Err() != nil {
			p = problemBusy // the request ended waiting for its turn to sign
		}
		h.refuse(w, r, p, fmt.Errorf("signing: %w", err))
		return
	}
	observeToken(w, kid)
	hdr := w.Header()
	hdr[headerContentType] = headerJSON
	hdr["Cache-Control"] = headerNoStore
	hdr["Pragma"] = headerNoCache
	hdr["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

// mint signs a token for id and returns the response body and the kid of
// the key that signed it.
func (h *tokenHandler) mint(r *http.Request, id *Identity) ([]byte, string, error) {
	var opts []SignOption
	if id.Parameters != nil {
		opts = append(opts, WithParameters(id.Parameters))
	}
	for name, v := range id.Claims {
		opts = append(opts, WithClaim(name, v))
	}
	tok, err := h.signer.Sign(r.Context(), id.Subject, opts...)
	if err != nil {
		return nil, "", err
	}
	body, err := h.responseBody(tok)
	return body, tok.KeyID, err
}

// responseBody returns the JSON answer, newline included, that hands out
// tok.
func (h *tokenHandler) responseBody(tok *Token) ([]byte, error) {
	body, err := json.Marshal(tokenResponse{
		Token:        tok.Raw,
		PowerSyncURL: h.powersyncURL,
		ExpiresAt:    tok.ExpiresAt.UTC().Format(time.RFC3339),
		UserID:       tok.Subject,
	})
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// errPanicked is the error of an Authenticator that panicked: a server
// failure, answered 500.
var errPanicked = errors.New("jwks: the authenticator panicked")

// authenticate asks the Authenticator for the caller's identity. A panic of
// the Authenticator would otherwise drop the connection, which a client
// cannot tell from a network failure: it is recovered, logged at Error with
// the route and the stack, and returned as an error, which the caller
// answers with a generic 500. The Authorization header is taken out of the
// panic's text. http.ErrAbortHandler, a handler's way to abort a response,
// is panicked again for net/http.
func (h *tokenHandler) authenticate(r *http.Request) (id *Identity, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		route := r.Pattern // set by a ServeMux; the path otherwise
		if route == "" {
			route = r.Method + " " + quote.Value(r.URL.Path)
		}
		h.logger.LogAttrs(r.Context(), slog.LevelError, "powersync token: the authenticator panicked",
			slog.String("route", route), slog.String("panic", redactCredentials(r, fmt.Sprint(p))),
			slog.String("stack", string(debug.Stack())), slog.String("remote", r.RemoteAddr))
		id, err = nil, errPanicked
	}()
	return h.auth.Authenticate(r)
}

// redactCredentials removes from text the values of r's Authorization
// headers, and their credentials without the scheme.
func redactCredentials(r *http.Request, text string) string {
	for _, v := range r.Header.Values("Authorization") {
		_, cred, _ := strings.Cut(v, " ")
		for _, secret := range []string{v, strings.TrimSpace(cred)} {
			if len(secret) >= 4 {
				text = strings.ReplaceAll(text, secret, "[Authorization]")
			}
		}
	}
	return text
}

// refuse answers with p a request whose caller gets no token, and logs err,
// the reason: at Info for the caller's own failures, Warn when an upstream
// is unavailable, Error for the server's failures.
func (h *tokenHandler) refuse(w http.ResponseWriter, r *http.Request, p problem, err error) {
	level := slog.LevelInfo
	switch p.status {
	case http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case http.StatusInternalServerError:
		level = slog.LevelError
	}
	h.logger.LogAttrs(r.Context(), level, "powersync token: request refused",
		slog.Int("status", p.status), slog.String("error", err.Error()), slog.String("remote", r.RemoteAddr))
	observeRefusal(w, p, err)
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
func (h *tokenHandler) preflight(w http.ResponseWriter, allowedOrigin string) {
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
