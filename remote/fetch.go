package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/redirect"
)

// fetch gets the document and, if it is good, swaps in its key set. Fetches
// never overlap (start begins one only when none is in flight), so the
// snapshot read at the beginning is still current at the end.
func (ks *KeySet) fetch() error {
	ctx, cancel := context.WithTimeout(ks.ctx, ks.cfg.timeout)
	defer cancel()
	old := ks.snap.Load()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := ks.cfg.client.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		// Read a little of what is left, so that the connection can be reused.
		io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()

	if resp.StatusCode == http.StatusNotModified {
		if old == nil || old.etag == "" {
			return errors.New("304 Not Modified to a request that was not conditional")
		}
		next := *old
		next.fetched, next.notModified = time.Now(), true
		next.refresh = ks.cfg.refreshDelay(resp.Header)
		ks.snap.Store(&next)
		ks.cfg.log.Debug("remote: key set not modified", "url", ks.url)
		return nil
	}
	if err := redirect.Refused(resp); err != nil {
		return err // logged by start: the status and the Location's host, nothing else of it
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := ks.readDocument(resp)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	keys, err := ks.parseDocument(body, old == nil || old.sum != sum)
	if err != nil {
		return err
	}

	next := &snapshot{
		keys:    keys,
		kids:    make([]string, 0, len(keys)),
		etag:    resp.Header.Get("ETag"),
		sum:     sum,
		fetched: time.Now(),
		refresh: ks.cfg.refreshDelay(resp.Header),
	}
	for kid := range keys {
		next.kids = append(next.kids, kid)
	}
	slices.Sort(next.kids)
	ks.snap.Store(next)

	switch {
	case len(next.kids) == 0 && (old == nil || len(old.kids) > 0):
		// Once, not at every refresh: a legacy Supabase project publishes
		// no key at all.
		ks.cfg.log.Warn("remote: the key set holds no usable key", "url", ks.url)
	case len(next.kids) == 0:
		ks.cfg.log.Debug("remote: the key set still holds no usable key", "url", ks.url)
	case old == nil || !slices.Equal(old.kids, next.kids):
		args := []any{"url", ks.url, "kids", next.kids[:min(len(next.kids), maxLoggedKeyIDs)]}
		if n := len(next.kids) - maxLoggedKeyIDs; n > 0 {
			args = append(args, "more_kids", n)
		}
		ks.cfg.log.Info("remote: key set loaded", args...)
	default:
		ks.cfg.log.Debug("remote: key set refreshed", "url", ks.url)
	}
	return nil
}

// readDocument reads the body of resp, refusing it whole when it is over the
// maximum document size.
func (ks *KeySet) readDocument(resp *http.Response) ([]byte, error) {
	limit := ks.cfg.maxSize
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("document of %d bytes is over the limit of %d", resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("document is over the limit of %d bytes", limit)
	}
	return body, nil
}

// maxLoggedSkips is the most skipped entries of a document logged one by
// one; the others are counted in one line.
const maxLoggedSkips = 5

// maxLoggedKeyIDs is the most key IDs the line of a loaded key set lists;
// the others are counted.
const maxLoggedKeyIDs = 10

// parseDocument reads a JWKS document with ParseDocument and, when logSkips
// is set (the document is not the last good one again), logs the first
// keys it skips and counts the others. Errors and logs never quote the
// document.
func (ks *KeySet) parseDocument(body []byte, logSkips bool) (map[string]*jwks.Key, error) {
	list, skipped, err := ParseDocument(body)
	if err != nil {
		return nil, err
	}
	if logSkips {
		for _, s := range skipped[:min(len(skipped), maxLoggedSkips)] {
			ks.cfg.log.Warn("remote: skipping a key of the key set",
				"url", ks.url, "index", s.Index, "kid", quote.Value(s.KeyID), "reason", s.Err.Error())
		}
		if n := len(skipped) - maxLoggedSkips; n > 0 {
			ks.cfg.log.Warn("remote: skipping more keys of the key set", "url", ks.url, "count", n)
		}
	}
	keys := make(map[string]*jwks.Key, len(list))
	for _, k := range list {
		keys[k.KeyID()] = k
	}
	return keys, nil
}

// maxAgeLimit caps a max-age before it becomes a Duration, so that a huge
// value cannot overflow.
const maxAgeLimit = 1 << 32

// refreshDelay returns when to fetch again after a response with headers h:
// its Cache-Control max-age, less its Age, within the configured bounds; or
// the refresh interval when it has none. no-cache and no-store count as
// max-age=0, and so does an invalid max-age (RFC 9111 section 4.2.1).
func (c *config) refreshDelay(h http.Header) time.Duration {
	secs, ok := cacheMaxAge(h)
	if !ok {
		return c.interval
	}
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		secs -= min(age, maxAgeLimit)
	}
	return min(max(time.Duration(secs)*time.Second, c.minAge), c.maxAge)
}

// cacheMaxAge returns the freshness lifetime, in seconds, that the
// Cache-Control header fields of h give, and whether they give one.
func cacheMaxAge(h http.Header) (int64, bool) {
	var secs int64
	found := false
	for _, field := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(field, ",") {
			name, value, _ := strings.Cut(directive, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 || found {
					return 0, true
				}
				secs, found = min(n, maxAgeLimit), true
			}
		}
	}
	return secs, found
}
