package jwks_test

import (
	"expvar"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/powersync-jwks/jwks"
)

// A host counts the token handler's answers into expvar, which serves them
// as JSON on /debug/vars: issued tokens by route, refusals by reason. A
// Prometheus counter vector (labels route and reason) or an OpenTelemetry
// Int64Counter is fed from the same function, and Event.Duration goes to a
// histogram.
func ExampleWithObserver() {
	issued := expvar.NewMap("powersync_tokens_issued")   // by route
	refused := expvar.NewMap("powersync_tokens_refused") // by reason
	count := func(ev jwks.Event) {
		switch ev.Kind {
		case jwks.EventTokenIssued:
			issued.Add(ev.Route, 1)
		case jwks.EventTokenRefused:
			refused.Add(ev.Reason, 1)
		}
	}

	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	signer, _ := jwks.NewSigner(ks, "https://abc123.powersync.journeyapps.com")
	anonymous, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithObserver(count))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/powersync-auth-anonymous", anonymous)

	for _, method := range []string{"GET", "GET", "DELETE"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/powersync-auth-anonymous", nil))
	}
	fmt.Println(issued.String())
	fmt.Println(refused.String())
	// Output:
	// {"/powersync-auth-anonymous": 2}
	// {"method_not_allowed": 1}
}

// The JWKS handler reports each answer too: 200, 304 Not Modified (a
// verifier's conditional refetch) or 405.
func ExampleWithJWKSObserver() {
	served := expvar.NewMap("powersync_jwks_responses") // by status
	var slowest time.Duration
	key, _ := jwks.GenerateKey(jwks.ES256)
	ks, _ := jwks.NewKeySet(key)
	h, err := jwks.NewJWKSHandler(ks, jwks.WithJWKSObserver(func(ev jwks.Event) {
		served.Add(fmt.Sprint(ev.Status), 1)
		slowest = max(slowest, ev.Duration) // a histogram, in a real host
	}))
	if err != nil {
		log.Fatal(err)
	}

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	again := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
	again.Header.Set("If-None-Match", ks.ETag())
	h.ServeHTTP(httptest.NewRecorder(), again)
	fmt.Println(served.String())
	// Output:
	// {"200": 1, "304": 1}
}
