package rotationtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powersync-jwks/jwks"
)

// A token is one minted token, as the test tracks it.
type token struct {
	raw        string
	kid        string
	validUntil time.Time // exp + the verifiers' leeway
}

// parseToken reads the kid and exp of a compact JWS (the test's own tokens).
func parseToken(raw string, leeway time.Duration) (token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return token{}, errors.New("not a compact JWS")
	}
	var header struct {
		KID string `json:"kid"`
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	for i, v := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return token{}, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return token{}, err
		}
	}
	return token{raw: raw, kid: header.KID, validUntil: time.Unix(claims.Exp, 0).Add(leeway)}, nil
}

// tally counts what the clients saw.
type tally struct {
	minted, unavailable, verified, failed, late, idle, restarts atomic.Int64

	mu     sync.Mutex // guards the fields below
	until  map[string]time.Time
	issues []string
	notes  []string
	stall  time.Duration
}

// stalled notes that the convergence check did not run for d.
func (t *tally) stalled(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stall = max(t.stall, d)
}

func (t *tally) longestStall() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stall.Round(time.Millisecond)
}

func (t *tally) add(tok token) {
	t.minted.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.until == nil {
		t.until = map[string]time.Time{}
	}
	if tok.validUntil.After(t.until[tok.kid]) {
		t.until[tok.kid] = tok.validUntil
	}
}

// validUntil returns, by kid, the end of the last valid token it signed.
func (t *tally) validUntil() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.until)
}

func (t *tally) problem(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.issues) < 20 {
		t.issues = append(t.issues, fmt.Sprintf(format, args...))
	}
}

// note keeps a line for the log that is not a problem.
func (t *tally) note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.notes) < 10 {
		t.notes = append(t.notes, fmt.Sprintf(format, args...))
	}
}

func (t *tally) noted() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.notes)
}

func (t *tally) problems() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.issues)
}

// client mints tokens from random replicas and has random verifiers check
// each at once, and an older token that is still valid.
func client(id int, cfg Config, rec *recorder, reps []*replica, caches []*powerSyncCache, tally *tally, stop <-chan struct{}) {
	// A Verifier per cache, with the clock pinned to the start of each
	// check: a check that a slow scheduler makes late does not fail on exp.
	var now atomic.Int64
	verifiers := make([]*jwks.Verifier, len(caches))
	for i, c := range caches {
		v, err := jwks.NewVerifier(c, Audience, jwks.WithLeeway(cfg.Leeway),
			jwks.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
		if err != nil {
			tally.problem("client %d: %v", id, err)
			return
		}
		verifiers[i] = v
	}
	check := func(tok token) {
		at := time.Now()
		if !at.Before(tok.validUntil.Add(-cfg.Margin)) {
			return
		}
		now.Store(at.UnixNano())
		i := rand.IntN(len(verifiers))
		var refusedIdle bool
		_, err := verifiers[i].Verify(withIdleNote(context.Background(), &refusedIdle), tok.raw)
		switch {
		case err == nil:
			tally.verified.Add(1)
		case !time.Now().Before(tok.validUntil):
			tally.late.Add(1) // checked after its end: it says nothing of the keys
		case refusedIdle && errors.Is(err, jwks.ErrUnknownKey):
			// The verifier saw no request for longer than the policy
			// allows (the whole test stalled): PowerSync's idle process,
			// which refuses a new key until its refetch.
			tally.idle.Add(1)
			tally.note("client %d, verifier %d, idle: token of %s (%s) refused at %s (verifier's keys %v, %s): %v",
				id, i, tok.kid, rec.history(tok.kid), at.Format(time.StampMilli), caches[i].keyIDs(), caches[i].lastFetch(), err)
		default:
			tally.failed.Add(1)
			tally.problem("client %d, verifier %d: token of %s (%s) refused at %s (verifier's keys %v, %s): %v",
				id, i, tok.kid, rec.history(tok.kid), at.Format(time.StampMilli), caches[i].keyIDs(), caches[i].lastFetch(), err)
		}
	}
	var pool []token
	httpClient := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := reps[rand.IntN(len(reps))]
		tok, err := mint(httpClient, r.srv.URL, cfg.Leeway)
		if errors.Is(err, errUnavailable) {
			tally.unavailable.Add(1)
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			tally.problem("client %d: minting: %v", id, err)
			continue
		}
		tally.add(tok)
		check(tok)
		if len(pool) > 0 {
			check(pool[rand.IntN(len(pool))])
		}
		// Keep the tokens that are still valid, the newest 200.
		pool = slices.DeleteFunc(pool, func(old token) bool { return time.Now().After(old.validUntil) })
		if pool = append(pool, tok); len(pool) > 200 {
			pool = pool[1:]
		}
		time.Sleep(cfg.Pause)
	}
}

// mint asks the replica at base for a token.
func mint(c *http.Client, base string, leeway time.Duration) (token, error) {
	resp, err := c.Get(base + "/token")
	if err != nil {
		return token{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return token{}, errUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return token{}, err
	}
	return parseToken(body.Token, leeway)
}
