package jwks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// fuzzOrigins are the CORS origins of FuzzTokenHandler's anonymous handler.
var fuzzOrigins = []string{"https://app.example", "http://localhost:3000"}

// tokenStatuses are the statuses the token handler may answer with.
var tokenStatuses = []int{200, 204, 400, 401, 403, 405, 413, 429, 500, 503}

// denyHeader is a RateLimiter that refuses the requests carrying
// X-Fuzz-Deny, asking them to wait as many seconds as its value has bytes.
type denyHeader struct{}

func (denyHeader) Allow(r *http.Request) (bool, time.Duration) {
	v, ok := r.Header["X-Fuzz-Deny"]
	if !ok {
		return true, 0
	}
	return false, time.Duration(len(strings.Join(v, ""))) * time.Second
}

// bodyIdentity is an Authenticator that reads who the caller is from the
// request body, {"sub": …, "parameters": {…}, "claims": {…}, "fail": …},
// and fails as "fail" says: "forbidden", "unavailable", "unauthenticated"
// or any other text for an error the handler answers with 500.
func bodyIdentity(r *http.Request) (*jwks.Identity, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	var in struct {
		Sub        string         `json:"sub"`
		Parameters map[string]any `json:"parameters"`
		Claims     map[string]any `json:"claims"`
		Fail       *string        `json:"fail"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: the body is not the JSON of an identity", jwks.ErrUnauthenticated)
	}
	if in.Fail != nil {
		switch *in.Fail {
		case "forbidden":
			return nil, jwks.ErrForbidden
		case "unavailable":
			return nil, jwks.ErrUnavailable
		case "unauthenticated":
			return nil, jwks.ErrUnauthenticated
		}
		return nil, errors.New("the authenticator failed")
	}
	return &jwks.Identity{Subject: in.Sub, Parameters: in.Parameters, Claims: in.Claims}, nil
}

// FuzzTokenHandler: requests of any method, headers, body and Origin, read
// as a server reads them (http.ReadRequest), to two token handlers, one
// with Anonymous, CORS for two origins and a rate limiter, and one with an
// Authenticator that reads the body, CORS for any origin. No request makes a
// handler panic; every status is one the handler documents; every answer
// but 200 and 204 is the JSON error {"error", "error_description"} with
// Content-Type application/json; a 200 holds a token that verifies for the
// user it names; the anonymous handler never answers 500. The seed corpus is
// in testdata/fuzz/FuzzTokenHandler. Run longer with
// go test -run '^$' -fuzz '^FuzzTokenHandler$' -fuzztime 5m .
func FuzzTokenHandler(f *testing.F) {
	ks, err := jwks.NewKeySet(testkit.Key(f, jwks.ES256))
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jwks.NewSigner(ks, testAudience)
	if err != nil {
		f.Fatal(err)
	}
	verifier, err := jwks.NewVerifier(ks, testAudience)
	if err != nil {
		f.Fatal(err)
	}
	common := []jwks.TokenHandlerOption{jwks.WithLogger(testkit.Discard), jwks.WithMaxBodyBytes(1 << 10), jwks.WithRateLimit(denyHeader{})}
	handlers := []http.Handler{
		newTokenHandler(f, signer, jwks.Anonymous(jwks.WithAnonymousParameters(map[string]any{"anonymous": true})),
			slices.Concat(common, []jwks.TokenHandlerOption{jwks.WithCORS(fuzzOrigins...)})...),
		newTokenHandler(f, signer, jwks.AuthenticatorFunc(bodyIdentity), slices.Concat(common, []jwks.TokenHandlerOption{jwks.WithCORS("*")})...),
	}

	f.Add("GET", "/powersync-auth-anonymous", "", "", "", []byte{}, byte(0))
	f.Add("OPTIONS", "/powersync-auth", "Access-Control-Request-Method: GET", "https://app.example", "", []byte{}, byte(0))
	f.Add("POST", "/powersync-auth", "Content-Type: application/json", "https://elsewhere.example", "Bearer x.y.z",
		[]byte(`{"sub":"user-1","parameters":{"org":"a"},"claims":{"role":"x"}}`), byte(1))

	f.Fuzz(func(t *testing.T, method, target, headers, origin, authorization string, body []byte, which byte) {
		if len(method)+len(target)+len(headers)+len(origin)+len(authorization)+len(body) > 16<<10 {
			return
		}
		anonymous := which%2 == 0
		req, err := readRequest(method, target, headers, origin, authorization, body)
		if err != nil {
			return // no server would hand this request to a handler
		}
		rec := httptest.NewRecorder()
		handlers[which%2].ServeHTTP(rec, req)

		resp := rec.Result()
		status := resp.StatusCode
		if !slices.Contains(tokenStatuses, status) {
			t.Fatalf("status %d", status)
		}
		if anonymous && status == http.StatusInternalServerError {
			t.Fatalf("the anonymous handler answered 500 to %s %q", method, target)
		}
		checkCORS(t, resp, req.Header.Values("Origin"), anonymous)
		switch status {
		case http.StatusOK:
			checkTokenResponse(t, verifier, resp, rec.Body.Bytes(), anonymous)
		case http.StatusNoContent:
			if req.Method != http.MethodOptions || rec.Body.Len() != 0 {
				t.Fatalf("204 to %s, with %d bytes", req.Method, rec.Body.Len())
			}
		default:
			checkErrorResponse(t, resp, rec.Body.Bytes())
		}
	})
}

// readRequest writes an HTTP/1.1 request of the fuzzed parts and reads it
// back as net/http's server would. headers are lines of "Name: value";
// Content-Length is added unless they set it or Transfer-Encoding.
func readRequest(method, target, headers, origin, authorization string, body []byte) (*http.Request, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: auth.example\r\n", method, target)
	if origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", origin)
	}
	if authorization != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", authorization)
	}
	framed := false
	for line := range strings.Lines(headers) {
		line = strings.TrimRight(line, "\r\n")
		name, _, _ := strings.Cut(strings.ToLower(line), ":")
		framed = framed || name == "content-length" || name == "transfer-encoding"
		b.WriteString(line + "\r\n")
	}
	if !framed {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = "192.0.2.1:1234"
	return req, nil
}

// checkCORS fails unless Access-Control-Allow-Origin, when set, is the
// request's one Origin and an allowed one (any, for the handler with "*").
func checkCORS(t *testing.T, resp *http.Response, origins []string, anonymous bool) {
	t.Helper()
	allowed := resp.Header.Values("Access-Control-Allow-Origin")
	switch {
	case len(allowed) == 0:
	case len(allowed) > 1:
		t.Fatalf("Access-Control-Allow-Origin %q", allowed)
	case !anonymous:
		if allowed[0] != "*" {
			t.Fatalf("Access-Control-Allow-Origin %q for CORS *", allowed[0])
		}
	case len(origins) == 0 || allowed[0] != origins[0] || !slices.Contains(fuzzOrigins, allowed[0]):
		t.Fatalf("Access-Control-Allow-Origin %q to Origin %q", allowed[0], origins)
	}
}

// checkTokenResponse fails unless a 200's body holds a token that
// verifies for the user it names, with the anonymous handler's subject.
func checkTokenResponse(t *testing.T, v *jwks.Verifier, resp *http.Response, body []byte, anonymous bool) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("200 with Content-Type %q", ct)
	}
	var got struct {
		Token        string `json:"token"`
		PowerSyncURL string `json:"powersync_url"`
		UserID       string `json:"user_id"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("200 with body %q: %v", body, err)
	}
	c, err := v.Verify(context.Background(), got.Token)
	if err != nil {
		t.Fatalf("the token of a 200 does not verify: %v", err)
	}
	if c.Subject != got.UserID || got.PowerSyncURL != testAudience || anonymous && c.Subject != jwks.AnonymousSubject {
		t.Fatalf("200 with user_id %q, powersync_url %q, for a token of %q", got.UserID, got.PowerSyncURL, c.Subject)
	}
}

// checkErrorResponse fails unless an error answer is the JSON
// {"error", "error_description"}, both non-empty strings.
func checkErrorResponse(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%d with Content-Type %q", resp.StatusCode, ct)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%d with body %q: %v", resp.StatusCode, body, err)
	}
	code, _ := got["error"].(string)
	desc, _ := got["error_description"].(string)
	if len(got) != 2 || code == "" || desc == "" {
		t.Fatalf("%d with body %q", resp.StatusCode, body)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without a Bearer challenge")
		}
	case http.StatusMethodNotAllowed:
		if resp.Header.Get("Allow") == "" {
			t.Fatalf("405 without Allow")
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d without Retry-After", resp.StatusCode)
		}
	}
}
