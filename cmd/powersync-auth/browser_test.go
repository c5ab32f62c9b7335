package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// The browser tests load a page in headless Chromium (Debian's chromium
// package) from one loopback origin, and let its JavaScript call the token
// routes and the JWKS on another, as a web app using the PowerSync web SDK
// does. The signed-in route is called with an Authorization header, which
// the browser sends only after a CORS preflight (OPTIONS) has allowed it.
//
// Between the browser and each server under test sits a recorder that
// passes every request and answer through unchanged and notes what the
// browser asked and what the server answered (status and
// Access-Control-Allow-Origin): that is how the tests tell "the browser
// refused" apart from "the server failed".

// browserTimeout bounds one Chromium run; the run is killed after it.
const browserTimeout = 60 * time.Second

// chromiumPath returns the path of Chromium, or skips the test when it is
// not installed (and fails it under CI, where .ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "Chromium is not installed (neither chromium nor chromium-browser is on PATH): " +
		"the browser tests need it; on Debian: apt-get install chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: .ci/run installs it)")
	}
	t.Skip(msg)
	return ""
}

// browserPage is the test page. Its query parameter cfg is the JSON of
// pageConfig; it writes the JSON of pageResult into the body when done.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>powersync-auth browser test</title></head>
<body>running<script>
"use strict";
function b64urlJSON(s) {
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  return JSON.parse(atob(s));
}
async function get(url, headers) {
  const out = {url: url};
  try {
    const res = await fetch(url, {headers: headers || {}, cache: "no-store"});
    out.status = res.status;
    const text = await res.text();
    try { out.body = JSON.parse(text); } catch (e) { out.text = text; }
  } catch (e) {
    out.error = e.name;
    out.message = String(e.message);
  }
  return out;
}
async function token(url, headers) {
  const out = await get(url, headers);
  if (out.body && typeof out.body.token === "string") {
    const parts = out.body.token.split(".");
    out.header = b64urlJSON(parts[0]);
    out.payload = b64urlJSON(parts[1]);
  }
  return out;
}
(async function () {
  const result = {origin: location.origin};
  try {
    const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
    if (cfg.anonymous) result.anonymous = await token(cfg.anonymous);
    if (cfg.auth) result.auth = await token(cfg.auth, {"Authorization": "Bearer " + cfg.bearer});
    if (cfg.jwks) result.jwks = await get(cfg.jwks);
    result.done = true;
  } catch (e) {
    result.pageError = String(e);
  }
  document.body.textContent = JSON.stringify(result);
})();
</script></body></html>
`

// pageConfig tells the page what to fetch; an empty URL is skipped.
type pageConfig struct {
	Anonymous string `json:"anonymous,omitempty"` // GET, no credentials: a simple request
	Auth      string `json:"auth,omitempty"`      // GET with Authorization: Bearer <Bearer>: preflighted
	Bearer    string `json:"bearer,omitempty"`
	JWKS      string `json:"jwks,omitempty"`
}

// fetchResult is what the page saw of one fetch: a status and body, or the
// error the fetch rejected with; for a token, its decoded header and payload.
type fetchResult struct {
	URL     string          `json:"url"`
	Status  int             `json:"status"`
	Body    json.RawMessage `json:"body"`
	Text    string          `json:"text"`
	Error   string          `json:"error"` // the rejection's name: TypeError when CORS refuses
	Message string          `json:"message"`
	Header  map[string]any  `json:"header"`
	Payload map[string]any  `json:"payload"`
}

// pageResult is what the page writes into its body.
type pageResult struct {
	Origin    string       `json:"origin"`
	Done      bool         `json:"done"`
	PageError string       `json:"pageError"`
	Anonymous *fetchResult `json:"anonymous"`
	Auth      *fetchResult `json:"auth"`
	JWKS      *fetchResult `json:"jwks"`
}

// newPageServer serves the test page on a loopback origin of its own.
func newPageServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(browserPage)) //nolint:errcheck // the browser went away
	}))
	t.Cleanup(srv.Close)
	return srv
}

// pageURL is the URL of the page of srv that fetches what cfg says.
func pageURL(t *testing.T, srv *httptest.Server, cfg pageConfig) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	require.NoError(t, err)
	return srv.URL + "/?cfg=" + url.QueryEscape(string(data))
}

// exchange is one request the browser sent and the answer it got.
type exchange struct {
	Method         string
	Path           string
	Origin         string
	RequestHeaders string // Access-Control-Request-Headers, on a preflight
	Status         int
	AllowOrigin    string // Access-Control-Allow-Origin of the answer
}

// recorder passes requests to next unchanged and notes each exchange.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	seen []exchange
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rec.next.ServeHTTP(sw, r)
	sw.capture(http.StatusOK)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.seen = append(rec.seen, exchange{
		Method:         r.Method,
		Path:           r.URL.Path,
		Origin:         r.Header.Get("Origin"),
		RequestHeaders: r.Header.Get("Access-Control-Request-Headers"),
		Status:         sw.status,
		AllowOrigin:    sw.allowOrigin,
	})
}

// from returns the exchanges of requests from origin, in order.
func (rec *recorder) from(origin string) []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []exchange
	for _, e := range rec.seen {
		if e.Origin == origin {
			out = append(out, e)
		}
	}
	return out
}

// statusWriter notes the status and Access-Control-Allow-Origin of the
// answer as it is sent.
type statusWriter struct {
	http.ResponseWriter
	status      int
	allowOrigin string
}

func (w *statusWriter) capture(status int) {
	if w.status == 0 {
		w.status = status
		w.allowOrigin = w.Header().Get("Access-Control-Allow-Origin")
	}
}

func (w *statusWriter) WriteHeader(status int) {
	w.capture(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.capture(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// find returns the exchanges of list with method and path.
func find(list []exchange, method, path string) []exchange {
	var out []exchange
	for _, e := range list {
		if e.Method == method && e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

// runBrowser loads page in headless Chromium with a fresh profile, and
// returns what the page wrote into its body. The run is killed after
// browserTimeout.
func runBrowser(t *testing.T, chromium, page string) pageResult {
	t.Helper()
	dir := t.TempDir()
	profile, home := dir+"/profile", dir+"/home"
	require.NoError(t, os.Mkdir(profile, 0o700))
	require.NoError(t, os.Mkdir(home, 0o700))

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless",
		"--no-sandbox", // the tests may run as root, as CI does
		"--disable-gpu",
		"--user-data-dir="+profile,
		"--disable-dev-shm-usage", // a container's /dev/shm may be small
		// Nothing but the page: no first-run, sync, component, metrics or
		// extension work. These alone still leave Chromium looking up
		// accounts.google.com, update.googleapis.com and clients2.google.com:
		// the resolver rule makes every name fail (the tests use 127.0.0.1),
		// so that nothing leaves the machine.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-extensions",
		"--disable-background-networking",
		"--disable-sync",
		"--disable-component-update",
		"--metrics-recording-only",
		// Virtual time stands still while a fetch is pending, so the page
		// finishes however slow the servers are; the DOM is dumped once it
		// is idle.
		"--virtual-time-budget=10000",
		"--dump-dom", page)
	// A home of its own, so that nothing is left in the real one.
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Chromium runs as several processes: kill them all, at the timeout and
	// after a normal exit alike.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // usually gone already
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within %v; stderr:\n%s", browserTimeout, stderr.String())
	}
	require.NoError(t, err, "chromium; stderr:\n%s", stderr.String())
	t.Logf("chromium ran %v", time.Since(start).Round(time.Millisecond))

	dom := stdout.String()
	open, end := strings.Index(dom, "<body>"), strings.LastIndex(dom, "</body>")
	require.True(t, open >= 0 && end > open, "no body in the dumped DOM:\n%s\nstderr:\n%s", dom, stderr.String())
	text := html.UnescapeString(dom[open+len("<body>") : end])
	var res pageResult
	require.NoError(t, json.Unmarshal([]byte(text), &res), "the page did not write its result:\n%s\nstderr:\n%s", dom, stderr.String())
	require.Empty(t, res.PageError, "the page's script failed")
	require.True(t, res.Done, "the page did not finish: %s", text)
	return res
}

// jwksKeyIDs returns the key IDs of the JWKS the page read.
func jwksKeyIDs(t *testing.T, f *fetchResult) []string {
	t.Helper()
	require.NotNil(t, f, "the page fetched no JWKS")
	require.Empty(t, f.Error, "the JWKS fetch was refused: %s", f.Message)
	require.Equal(t, http.StatusOK, f.Status, "JWKS: %s%s", f.Body, f.Text)
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(f.Body, &doc), "%s", f.Body)
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	require.NotEmpty(t, kids, "%s", f.Body)
	return kids
}

// requireToken checks a token the page read: subject sub, audience the
// PowerSync URL, and a key ID that the JWKS publishes.
func requireToken(t *testing.T, what string, f *fetchResult, sub string, kids []string) {
	t.Helper()
	require.NotNil(t, f, "%s: not fetched", what)
	require.Empty(t, f.Error, "%s: the fetch was refused: %s", what, f.Message)
	require.Equal(t, http.StatusOK, f.Status, "%s: %s%s", what, f.Body, f.Text)
	var body testkit.TokenBody
	require.NoError(t, json.Unmarshal(f.Body, &body), "%s: %s", what, f.Body)
	assert.Equal(t, testPowerSyncURL, body.PowerSyncURL, what)
	require.NotNil(t, f.Payload, "%s: the page decoded no payload", what)
	assert.Equal(t, sub, f.Payload["sub"], "%s: sub", what)
	assert.Equal(t, testPowerSyncURL, f.Payload["aud"], "%s: aud", what)
	assert.Contains(t, kids, f.Header["kid"], "%s: the JWKS holds the token's kid", what)
}

// requireRefused checks that the browser refused a fetch: it rejected with
// a TypeError, and the page saw no status.
func requireRefused(t *testing.T, what string, f *fetchResult) {
	t.Helper()
	require.NotNil(t, f, "%s: not fetched", what)
	assert.Equal(t, "TypeError", f.Error, "%s: the fetch should reject (status %d, body %s%s)", what, f.Status, f.Body, f.Text)
	assert.Zero(t, f.Status, what)
	assert.Nil(t, f.Payload, what)
}

// TestBrowserReadyServer runs the built command with anonymous tokens, a
// Supabase project and one CORS origin, and loads the test page in Chromium
// from that origin (allowed) and from another (refused).
func TestBrowserReadyServer(t *testing.T) {
	chromium := chromiumPath(t)
	bin := buildCommand(t)
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	allowed, other := newPageServer(t), newPageServer(t)
	require.NotEqual(t, allowed.URL, other.URL)

	c := startChild(t, bin, []string{
		"POWERSYNC_URL=" + testPowerSyncURL,
		"SUPABASE_URL=" + sb.URL(),
		"SUPABASE_ANON_KEY=" + sb.AnonKey(),
	}, "-anonymous", "-cors-origins", allowed.URL)
	base := c.url

	// Ready when the signed-in route has the Supabase project's keys.
	client := &http.Client{Timeout: 5 * time.Second}
	aliceToken := sb.Token(alice)
	waitFor(t, 30*time.Second, "the signed-in route", func() bool {
		req, err := http.NewRequest(http.MethodGet, base+routeAuth, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		res, err := client.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})

	target, err := url.Parse(base)
	require.NoError(t, err)
	rec := &recorder{next: httputil.NewSingleHostReverseProxy(target)}
	api := httptest.NewServer(rec)
	t.Cleanup(api.Close)
	cfg := pageConfig{
		Anonymous: api.URL + routeAuthAnonymous,
		Auth:      api.URL + routeAuth,
		Bearer:    aliceToken,
		JWKS:      api.URL + routeJWKS,
	}

	t.Run("allowed origin", func(t *testing.T) {
		res := runBrowser(t, chromium, pageURL(t, allowed, cfg))
		assert.Equal(t, allowed.URL, res.Origin)
		kids := jwksKeyIDs(t, res.JWKS)
		requireToken(t, "anonymous", res.Anonymous, jwks.AnonymousSubject, kids)
		requireToken(t, "signed in", res.Auth, alice.ID, kids)

		seen := rec.from(allowed.URL)
		pre := find(seen, http.MethodOptions, routeAuth)
		require.Len(t, pre, 1, "one preflight for the Authorization header: %+v", seen)
		assert.Contains(t, strings.ToLower(pre[0].RequestHeaders), "authorization")
		assert.Equal(t, http.StatusNoContent, pre[0].Status)
		assert.Equal(t, allowed.URL, pre[0].AllowOrigin)
		get := find(seen, http.MethodGet, routeAuth)
		require.Len(t, get, 1, "%+v", seen)
		assert.Equal(t, allowed.URL, get[0].AllowOrigin)
		assert.Empty(t, find(seen, http.MethodOptions, routeAuthAnonymous), "a plain GET needs no preflight")
		anon := find(seen, http.MethodGet, routeAuthAnonymous)
		require.Len(t, anon, 1, "%+v", seen)
		assert.Equal(t, allowed.URL, anon[0].AllowOrigin)
		keys := find(seen, http.MethodGet, routeJWKS)
		require.Len(t, keys, 1, "%+v", seen)
		assert.Equal(t, "*", keys[0].AllowOrigin)
	})

	t.Run("other origin", func(t *testing.T) {
		res := runBrowser(t, chromium, pageURL(t, other, cfg))
		assert.Equal(t, other.URL, res.Origin)
		requireRefused(t, "anonymous", res.Anonymous)
		requireRefused(t, "signed in", res.Auth)
		jwksKeyIDs(t, res.JWKS) // the JWKS is public: any origin reads it

		seen := rec.from(other.URL)
		for _, e := range seen {
			if e.Path != routeJWKS {
				assert.Empty(t, e.AllowOrigin, "the server allowed the other origin: %+v", e)
			}
		}
		pre := find(seen, http.MethodOptions, routeAuth)
		require.Len(t, pre, 1, "%+v", seen)
		assert.Equal(t, http.StatusForbidden, pre[0].Status)
		assert.Empty(t, find(seen, http.MethodGet, routeAuth), "the browser sends nothing after a refused preflight")
		// A plain GET is sent: the browser withholds the answer from the page.
		require.Len(t, find(seen, http.MethodGet, routeAuthAnonymous), 1, "%+v", seen)
	})
}

// TestBrowserMethodPatternMux mounts the library's token handler on a Go
// 1.22 ServeMux. Under "GET /powersync-auth" the mux answers the browser's
// preflight (OPTIONS) with 405 itself, so the browser refuses the call even
// though the handler allows the origin; under "/powersync-auth" the handler
// answers the preflight and the call works. The JWKS is fine under a
// method pattern: a browser reads it with a plain GET.
func TestBrowserMethodPatternMux(t *testing.T) {
	chromium := chromiumPath(t)
	page := newPageServer(t)

	key := testkit.Key(t, jwks.ES256)
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	signer, err := jwks.NewSigner(ks, testPowerSyncURL)
	require.NoError(t, err)
	const bearer, user = "an-access-token", "browser-user"
	users := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		if r.Header.Get("Authorization") != "Bearer "+bearer {
			return nil, jwks.ErrUnauthenticated
		}
		return &jwks.Identity{Subject: user}, nil
	})
	tokens, err := jwks.NewTokenHandler(signer, users, jwks.WithCORS(page.URL))
	require.NoError(t, err)

	for _, tc := range []struct {
		name, pattern string
		works         bool
	}{
		{"method pattern", "GET " + routeAuth, false},
		{"path pattern", routeAuth, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle(tc.pattern, tokens)
			jwksHandler, err := jwks.NewJWKSHandler(ks)
			require.NoError(t, err)
			mux.Handle("GET "+routeJWKS, jwksHandler)
			rec := &recorder{next: mux}
			api := httptest.NewServer(rec)
			t.Cleanup(api.Close)

			res := runBrowser(t, chromium, pageURL(t, page, pageConfig{
				Auth:   api.URL + routeAuth,
				Bearer: bearer,
				JWKS:   api.URL + routeJWKS,
			}))
			kids := jwksKeyIDs(t, res.JWKS)
			assert.Equal(t, []string{key.KeyID()}, kids)
			seen := rec.from(page.URL)
			pre := find(seen, http.MethodOptions, routeAuth)
			require.Len(t, pre, 1, "%+v", seen)
			if tc.works {
				requireToken(t, "signed in", res.Auth, user, kids)
				assert.Equal(t, http.StatusNoContent, pre[0].Status)
				assert.Equal(t, page.URL, pre[0].AllowOrigin)
				require.Len(t, find(seen, http.MethodGet, routeAuth), 1, "%+v", seen)
				return
			}
			requireRefused(t, "signed in", res.Auth)
			assert.Equal(t, http.StatusMethodNotAllowed, pre[0].Status, "the mux answers the preflight")
			assert.Empty(t, pre[0].AllowOrigin)
			assert.Empty(t, find(seen, http.MethodGet, routeAuth), "the browser sends nothing after a refused preflight")
		})
	}
}
