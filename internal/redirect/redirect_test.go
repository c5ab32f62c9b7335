package redirect

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"https://a.example/x", "https://a.example/y?z", true},
		{"https://a.example/x", "https://A.EXAMPLE:443/y", true},
		{"http://a.example:80/", "http://a.example/", true},
		{"HTTPS://a.example/", "https://a.example/", true},
		{"https://a.example/", "http://a.example/", false},
		{"https://a.example:8443/", "http://a.example:8443/", false},
		{"http://a.example/", "https://a.example/", false},
		{"https://a.example/", "https://a.example:8443/", false},
		{"https://a.example/", "https://b.example/", false},
		{"https://a.example/", "https://x.a.example/", false},
		{"https://[::1]:8443/", "https://[::1]:8443/k", true},
		{"ftp://a.example/", "ftp://a.example/", false},
	} {
		if got := SameOrigin(mustURL(t, tc.a), mustURL(t, tc.b)); got != tc.want {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPolicy(t *testing.T) {
	req := func(raw string) *http.Request { return &http.Request{URL: mustURL(t, raw)} }
	first := []*http.Request{req("https://a.example/jwks")}
	for _, tc := range []struct {
		name       string
		sameOrigin bool
		to         string
		via        []*http.Request
		follow     bool
	}{
		{"none by default", false, "https://a.example/other", first, false},
		{"same origin", true, "https://a.example/other", first, true},
		{"https to http, same host and port", true, "http://a.example:443/jwks", first, false},
		{"https to http", true, "http://a.example/jwks", first, false},
		{"other host", true, "https://b.example/jwks", first, false},
		{"other port", true, "https://a.example:8443/jwks", first, false},
		{"back from another origin", true, "https://a.example/x", append(first, req("https://b.example/y")), false},
		{"the eleventh hop", true, "https://a.example/x", make10(req("https://a.example/jwks")), false},
	} {
		err := Policy(tc.sameOrigin)(req(tc.to), tc.via)
		switch {
		case tc.follow && err != nil:
			t.Errorf("%s: %v, want the redirect followed", tc.name, err)
		case !tc.follow && !errors.Is(err, http.ErrUseLastResponse):
			t.Errorf("%s: %v, want http.ErrUseLastResponse", tc.name, err)
		}
	}
}

func make10(r *http.Request) []*http.Request {
	via := make([]*http.Request, 10)
	for i := range via {
		via[i] = r
	}
	return via
}

func TestClientIsACopy(t *testing.T) {
	orig := &http.Client{Timeout: 3}
	c := Client(orig, false)
	if orig.CheckRedirect != nil || c == orig || c.Timeout != 3 || c.CheckRedirect == nil {
		t.Fatalf("Client changed the caller's client or lost its settings")
	}
}

func TestRefused(t *testing.T) {
	resp := func(status int, location string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{},
			Request: &http.Request{URL: mustURL(t, "https://a.example/jwks")}}
		if location != "" {
			r.Header.Set("Location", location)
		}
		return r
	}
	if err := Refused(resp(http.StatusOK, "")); err != nil {
		t.Errorf("200: %v", err)
	}
	if err := Refused(resp(http.StatusNotModified, "")); err != nil {
		t.Errorf("304: %v", err)
	}
	err := Refused(resp(http.StatusFound, "https://evil.example:8443/steal?token=secret"))
	if !errors.Is(err, ErrNotFollowed) {
		t.Fatalf("302: %v", err)
	}
	if got := err.Error(); got != `HTTP status 302, a redirect to host "evil.example:8443": redirect not followed` {
		t.Errorf("302: %s", got)
	}
	if got := Refused(resp(http.StatusMovedPermanently, "")).Error(); got != "HTTP status 301, a redirect to no valid Location: redirect not followed" {
		t.Errorf("301 without Location: %s", got)
	}
	if got := Refused(resp(http.StatusSeeOther, "/other")).Error(); got != `HTTP status 303, a redirect to host "a.example": redirect not followed` {
		t.Errorf("303 to a path: %s", got)
	}
}
