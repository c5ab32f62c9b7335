package ratelimit_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/powersync-jwks/jwks/ratelimit"
)

func Example() {
	// Two requests a minute per client IP, one at a time.
	l, err := ratelimit.New(30*time.Second, 1)
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/powersync-auth-anonymous", nil)
		r.RemoteAddr = "192.0.2.7:51234"
		ok, retryAfter := l.Allow(r)
		fmt.Println(ok, retryAfter.Round(time.Second))
	}
	// Output:
	// true 0s
	// false 30s
}

func ExampleWithTrustedProxies() {
	// Behind a load balancer on 10.0.0.0/8, every request comes from it: the
	// client is the address it adds to X-Forwarded-For.
	l, err := ratelimit.New(time.Minute, 1, ratelimit.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8")))
	if err != nil {
		log.Fatal(err)
	}
	request := func(peer, forwardedFor string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", forwardedFor)
		return r
	}

	ok, _ := l.Allow(request("10.0.0.5:4000", "203.0.113.9"))
	fmt.Println("203.0.113.9 through the load balancer:", ok)
	ok, _ = l.Allow(request("10.0.0.6:4000", "203.0.113.9"))
	fmt.Println("203.0.113.9 again, through another:", ok)
	ok, _ = l.Allow(request("10.0.0.5:4000", "198.51.100.4"))
	fmt.Println("198.51.100.4 through the load balancer:", ok)
	// A client that calls directly cannot pick its bucket with the header.
	ok, _ = l.Allow(request("192.0.2.7:4000", "198.51.100.77"))
	fmt.Println("192.0.2.7 claiming to be 198.51.100.77:", ok)
	ok, _ = l.Allow(request("192.0.2.7:4000", "198.51.100.78"))
	fmt.Println("192.0.2.7 claiming to be 198.51.100.78:", ok)
	// Output:
	// 203.0.113.9 through the load balancer: true
	// 203.0.113.9 again, through another: false
	// 198.51.100.4 through the load balancer: true
	// 192.0.2.7 claiming to be 198.51.100.77: true
	// 192.0.2.7 claiming to be 198.51.100.78: false
}
