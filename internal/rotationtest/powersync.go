package rotationtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powersync-jwks/jwks"
)

// A powerSyncCache is a jwks.KeySource that caches a JWKS the way a
// PowerSync process does (as read from its code): a lookup that comes
// refresh or more after the last good fetch starts a fetch in the
// background and is answered from the old keys; an unknown kid is refused
// and starts a fetch, rate-limited (10 at once, then one every
// refetchEvery); a failed fetch keeps the old keys. Each fetch goes to a
// random one of urls (+ "/jwks"). HTTP cache headers are ignored, as
// PowerSync ignores them.
//
// A cache that has had no lookup for longer than idleAfter (the policy's
// VerifierRefresh: how stale a verifier's JWKS may be while it sees
// traffic) is idle: the PowerSync process that no signer can keep from
// refusing the first token of a key published meanwhile. Until the fetch
// that its next lookup starts has ended, it notes the refusals it makes
// (see idleNote).
type powerSyncCache struct {
	urls         []string
	refresh      time.Duration
	refetchEvery time.Duration
	idleAfter    time.Duration
	client       *http.Client
	wg           sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	keys     map[string]*jwks.Key
	fetched  time.Time // when the last good fetch ended
	from     string    // the replica it came from, and when it started
	fetching bool
	inflight string  // the fetch in flight: where to, since when
	budget   float64 // unknown-kid refetches allowed now
	budgetAt time.Time
	looked   time.Time // the last lookup
	idle     time.Time // since when the cache is back from idleness; zero when it is not

	fetches, failures atomic.Int64
}

// newPowerSyncCache returns a cache of the JWKS served at the base URLs
// urls, refreshed as PowerSync refreshes its own every 5 minutes (here
// every refresh), and refetched on an unknown kid as PowerSync does about
// once a minute (here every refetchEvery). It holds no keys until a fetch.
func newPowerSyncCache(urls []string, refresh, refetchEvery, idleAfter time.Duration) *powerSyncCache {
	return &powerSyncCache{urls: urls, refresh: refresh, refetchEvery: refetchEvery, idleAfter: idleAfter,
		client: &http.Client{Timeout: 10 * time.Second}, budget: 10, budgetAt: time.Now()}
}

// idleNote is the context value through which LookupKey tells its caller
// that it refused a key while idle.
type idleNote struct{}

// withIdleNote returns a context whose lookups set *refusedIdle when an
// idle cache refuses the key.
func withIdleNote(ctx context.Context, refusedIdle *bool) context.Context {
	return context.WithValue(ctx, idleNote{}, refusedIdle)
}

// LookupKey implements jwks.KeySource.
func (c *powerSyncCache) LookupKey(ctx context.Context, kid string) (*jwks.Key, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.looked.IsZero() && now.Sub(c.looked) > c.idleAfter {
		c.idle = now
	}
	c.looked = now
	if time.Since(c.fetched) >= c.refresh {
		c.startFetch()
	}
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	if note, ok := ctx.Value(idleNote{}).(*bool); ok && !c.idle.IsZero() {
		*note = true
	}
	c.budget = min(10, c.budget+float64(now.Sub(c.budgetAt))/float64(c.refetchEvery))
	c.budgetAt = now
	if c.budget >= 1 {
		c.budget--
		c.startFetch()
	}
	return nil, fmt.Errorf("%w: %s is not in the cached JWKS", jwks.ErrUnknownKey, kid)
}

// startFetch fetches in the background, unless a fetch is in flight; c.mu
// is held.
func (c *powerSyncCache) startFetch() {
	if c.fetching {
		return
	}
	c.fetching = true
	url := c.urls[rand.IntN(len(c.urls))]
	c.inflight = fmt.Sprintf("in flight to %s since %s", url, time.Now().Format(time.StampMilli))
	c.wg.Go(func() {
		started := time.Now()
		keys, err := c.fetchJWKS(url)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fetching, c.inflight = false, ""
		if err != nil {
			c.failures.Add(1)
			return // the old keys stay
		}
		c.keys, c.fetched = keys, time.Now()
		c.from = fmt.Sprintf("from %s, started %s", url, started.Format(time.StampMilli))
		if !c.idle.IsZero() && !started.Before(c.idle) {
			c.idle = time.Time{} // back in step
		}
		c.fetches.Add(1)
	})
}

// fetchNow fetches at once.
func (c *powerSyncCache) fetchNow() error {
	keys, err := c.fetchJWKS(c.urls[rand.IntN(len(c.urls))])
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys, c.fetched = keys, time.Now()
	return nil
}

func (c *powerSyncCache) fetchJWKS(url string) (map[string]*jwks.Key, error) {
	resp, err := c.client.Get(url + "/jwks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	keys := make(map[string]*jwks.Key, len(doc.Keys))
	for _, raw := range doc.Keys {
		k, err := jwks.ParseKey(raw)
		if err != nil {
			return nil, err
		}
		if k.CanSign() {
			return nil, errors.New("a private key in the JWKS")
		}
		keys[k.KeyID()] = k
	}
	return keys, nil
}

// wait waits for the fetches in flight.
func (c *powerSyncCache) wait() { c.wg.Wait() }

// keyIDs returns the key IDs of the cached keys, sorted.
func (c *powerSyncCache) keyIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// lastFetch describes the last good fetch, and the one in flight, for a
// failure's message.
func (c *powerSyncCache) lastFetch() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("fetched %s %s; %s", c.fetched.Format(time.StampMilli), c.from, c.inflight)
}

// counts returns the number of good fetches and of failed ones.
func (c *powerSyncCache) counts() (good, failed int64) { return c.fetches.Load(), c.failures.Load() }

func sumFetches(caches []*powerSyncCache, failed bool) int64 {
	var n int64
	for _, c := range caches {
		good, bad := c.counts()
		if failed {
			n += bad
		} else {
			n += good
		}
	}
	return n
}
