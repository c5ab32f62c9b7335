package jwks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/supabase"
)

// The load test's shape: loadClients goroutines share a fixed number of
// requests per round and endpoint, for loadRounds rounds.
const (
	loadClients    = 32
	loadRounds     = 5
	loadPerRound   = 1000 // requests per round and endpoint
	loadRacePer    = 150  // the same under the race detector
	loadUsers      = 16   // signed-in Supabase users
	loadHeapGrowth = 8 << 20
	loadTimeLimit  = 60 * time.Second
)

// A loadEndpoint is one server under load: its URL, the Authorization of
// the i-th request (if any), and the check of a 200's body.
type loadEndpoint struct {
	name   string
	url    string
	bearer func(i int) string
	check  func(i int, body []byte) error
	served *atomic.Int64 // requests the server saw
}

// loadStats is one round of one endpoint.
type loadStats struct {
	responses int // 200s that passed the check
	failures  int
	firstErr  error
	latencies []time.Duration
	elapsed   time.Duration
}

// TestLoad puts the JWKS handler, the anonymous token handler and the
// Supabase token handler (supabase.New against the stand-in, signed-in
// users with ES256 access tokens) under 32 concurrent clients on loopback:
// every request answered 200, none lost (as many answers as requests, and as
// many requests seen by each server), every token verifying for its user,
// and the heap after each round, once collected, within 8 MiB of the first
// round's. It reports each endpoint's throughput and p50/p99 latency.
func TestLoad(t *testing.T) {
	perRound := loadPerRound
	if raceEnabled {
		perRound = loadRacePer
	}
	ctx, cancel := context.WithTimeout(t.Context(), loadTimeLimit)
	defer cancel()

	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jwks.NewSigner(ks, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := jwks.NewVerifier(ks, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	sb := supabasetest.New(t)
	var users []*supabasetest.User
	var accessTokens []string
	for range loadUsers {
		u := sb.NewUser()
		users = append(users, u)
		accessTokens = append(accessTokens, sb.SignIn(u).AccessToken())
	}
	userOf := func(i int) *supabasetest.User { return users[i%len(users)] }
	auth, err := supabase.New(t.Context(), sb.URL(), supabase.WithHTTPClient(sb.Client()), supabase.WithLogger(testkit.Discard))
	if err != nil {
		t.Fatal(err)
	}
	doc := ks.JWKS()

	endpoints := []*loadEndpoint{
		{
			name: "jwks",
			check: func(_ int, body []byte) error {
				if string(body) != string(doc) {
					return fmt.Errorf("JWKS document of %d bytes, not the key set's", len(body))
				}
				return nil
			},
		},
		{
			name:  "anonymous",
			check: tokenCheck(verifier, func(int) string { return jwks.AnonymousSubject }),
		},
		{
			name:   "supabase",
			bearer: func(i int) string { return accessTokens[i%len(accessTokens)] },
			check:  tokenCheck(verifier, func(i int) string { return userOf(i).ID }),
		},
	}
	handlers := []http.Handler{
		newJWKSHandler(t, ks),
		newTokenHandler(t, signer, jwks.Anonymous(), jwks.WithLogger(testkit.Discard)),
		newTokenHandler(t, signer, auth, jwks.WithLogger(testkit.Discard)),
	}
	for i, e := range endpoints {
		e.served = new(atomic.Int64)
		h := handlers[i]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.served.Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		e.url = srv.URL
	}

	transport := &http.Transport{MaxIdleConnsPerHost: loadClients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var firstHeap uint64
	totals := make(map[string]*loadStats)
	for round := range loadRounds {
		for _, e := range endpoints {
			before := e.served.Load()
			s := runLoadRound(ctx, client, e, perRound)
			if s.failures > 0 || s.responses != perRound {
				t.Fatalf("round %d, %s: %d good answers of %d requests, %d failures; the first: %v",
					round+1, e.name, s.responses, perRound, s.failures, s.firstErr)
			}
			if seen := e.served.Load() - before; seen != int64(perRound) {
				t.Fatalf("round %d, %s: the server saw %d requests of %d", round+1, e.name, seen, perRound)
			}
			t.Logf("round %d, %-9s %5d requests  %7.0f req/s  p50 %-9v p99 %v", round+1, e.name, perRound,
				float64(perRound)/s.elapsed.Seconds(), percentile(s.latencies, 50), percentile(s.latencies, 99))
			total := totals[e.name]
			if total == nil {
				total = &loadStats{}
				totals[e.name] = total
			}
			total.responses += s.responses
			total.elapsed += s.elapsed
			total.latencies = append(total.latencies, s.latencies...)
		}
		heap := heapAfterGC()
		if round == 0 {
			firstHeap = heap
		}
		t.Logf("round %d: heap %.1f MiB after GC", round+1, float64(heap)/(1<<20))
		if heap > firstHeap+loadHeapGrowth {
			t.Fatalf("round %d: heap %d bytes, more than 8 MiB over the first round's %d", round+1, heap, firstHeap)
		}
	}
	for _, e := range endpoints {
		s := totals[e.name]
		t.Logf("all rounds, %-9s %5d requests  %7.0f req/s  p50 %-9v p99 %v", e.name, s.responses,
			float64(s.responses)/s.elapsed.Seconds(), percentile(s.latencies, 50), percentile(s.latencies, 99))
	}
}

// runLoadRound sends n requests to e from loadClients goroutines and
// returns what came back.
func runLoadRound(ctx context.Context, client *http.Client, e *loadEndpoint, n int) *loadStats {
	var next atomic.Int64
	var mu sync.Mutex
	s := &loadStats{latencies: make([]time.Duration, 0, n)}
	var wg sync.WaitGroup
	start := time.Now()
	for range loadClients {
		wg.Go(func() {
			var lat []time.Duration
			good, failed := 0, 0
			var firstErr error
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				d, err := loadRequest(ctx, client, e, i)
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				good++
				lat = append(lat, d)
			}
			mu.Lock()
			defer mu.Unlock()
			s.responses += good
			s.failures += failed
			s.latencies = append(s.latencies, lat...)
			if s.firstErr == nil {
				s.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	return s
}

// loadRequest sends the i-th request to e, checks the answer, and returns
// how long the exchange took (the check not included).
func loadRequest(ctx context.Context, client *http.Client, e *loadEndpoint, i int) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url, nil)
	if err != nil {
		return 0, err
	}
	if e.bearer != nil {
		req.Header.Set("Authorization", "Bearer "+e.bearer(i))
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return d, e.check(i, body)
}

// tokenCheck returns the check of a token response: its token verifies,
// for the subject sub(i).
func tokenCheck(v *jwks.Verifier, sub func(i int) string) func(int, []byte) error {
	return func(i int, body []byte) error {
		var got struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			return err
		}
		c, err := v.Verify(context.Background(), got.Token)
		if err != nil {
			return err
		}
		if want := sub(i); c.Subject != want {
			return fmt.Errorf("a token for %q, not %q", c.Subject, want)
		}
		return nil
	}
}

// percentile returns the p-th percentile of ds, which it sorts.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)].Round(time.Microsecond)
}

// heapAfterGC returns the bytes of live heap objects after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
