package remote

import "time"

// A FetchResult says how one fetch of the key set ended.
type FetchResult string

// The results of a fetch.
const (
	// FetchLoaded: a 2xx answer whose document was read; its key set
	// replaced the last one (it may hold no usable key).
	FetchLoaded FetchResult = "loaded"
	// FetchNotModified: 304 Not Modified to a conditional request; the
	// set is kept, and counts as freshly fetched.
	FetchNotModified FetchResult = "not_modified"
	// FetchFailed: no answer, an answer other than 2xx or 304, or a
	// document that was refused; the last good set is kept.
	FetchFailed FetchResult = "failed"
)

// A FetchEvent reports one fetch of the key set to the function given to
// [WithObserver].
type FetchEvent struct {
	URL      string        // the JWKS URL given to New
	Result   FetchResult   // how the fetch ended
	Keys     int           // the usable keys in the set after the fetch (the last good set's after a failure; 0 before the first)
	Usable   bool          // whether LookupKey can answer from a set now: false before the first good fetch, and once the last is older than the maximum staleness
	Duration time.Duration // from the start of the request to the end of the fetch
	Err      error         // why the fetch failed, nil otherwise: for logs and traces, not a metric label (its text varies)
}

// WithObserver has f told of every fetch of the key set, whatever began it
// (New, the background refresh, an unknown key ID, Refresh): a host counts
// fetches and failures, and times them, into the metrics system it uses.
// The package itself imports none. f is called on the goroutine that
// fetched, once the new set (if any) is in use and before the lookups that
// wait for the fetch go on, so it must be quick and must not call the
// KeySet's LookupKey or Refresh, which would wait for it. Fetches never
// overlap, so neither do the calls. Off (nil) by default; then nothing is
// measured.
func WithObserver(f func(FetchEvent)) Option {
	return func(cfg *config) { cfg.observe = f }
}

// observeFetch tells the observer how the fetch that began at begin ended.
func (ks *KeySet) observeFetch(begin time.Time, err error) {
	ev := FetchEvent{URL: ks.url, Result: FetchLoaded, Duration: time.Since(begin), Err: err}
	s := ks.snap.Load()
	switch {
	case err != nil:
		ev.Result = FetchFailed
	case s != nil && s.notModified:
		ev.Result = FetchNotModified
	}
	if s != nil {
		ev.Keys = len(s.kids)
	}
	ev.Usable = ks.usable() != nil
	ks.cfg.observe(ev)
}
