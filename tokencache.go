package jwks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A sharedAuthenticator is an [Authenticator] that gives every caller the
// same Identity (the same subject, parameters and claims), such as
// [Anonymous] with its default subject. The token handler then mints one
// token per second and signing key for all of them (see secondCache).
type sharedAuthenticator interface {
	Authenticator
	// identityShared reports whether every Identity Authenticate returns
	// is equal to every other.
	identityShared() bool
}

// A secondCache hands every caller of one second the token minted for
// that second, with the Signer's current signing key, for an identity that
// is the same for all of them. Tokens minted within one second for one
// identity with one key are identical but for the signature (same sub, iat,
// exp, aud, iss and kid), so sharing one gives no caller anything another
// would not have had.
//
// The token of the current second is read without a lock. At a second
// boundary, or when the signing key changes, the first caller starts one
// signature (a flight) and the others of that second wait for it, each
// until its own context ends. A token is never handed out after its second
// has passed, nor once another key signs.
type secondCache struct {
	signer *Signer
	// body makes the response of a token, once per token.
	body func(*Token) ([]byte, error)

	cur atomic.Pointer[cachedToken] // the latest token minted

	mu     sync.Mutex   // guards flight
	flight *tokenFlight // the signature in progress, nil when none
}

// cachedToken is a token of one second and signing key, with its response.
type cachedToken struct {
	key  *Key
	sec  int64 // the token's iat, in Unix seconds
	tok  *Token
	body []byte
}

// tokenFlight is one signature shared by the callers of its second. done
// is closed once tok or err is set.
type tokenFlight struct {
	key  *Key
	sec  int64
	done chan struct{}
	tok  *cachedToken
	err  error
}

func newSecondCache(s *Signer, body func(*Token) ([]byte, error)) *secondCache {
	return &secondCache{signer: s, body: body}
}

// get returns the token of the current second for id, minting it if no
// caller has yet. It returns an error wrapping [ErrUnavailable] when ctx
// ends before the token is ready.
func (c *secondCache) get(ctx context.Context, id *Identity) (*cachedToken, error) {
	key := c.signer.ks.load().signing
	if key == nil {
		return nil, fmt.Errorf("%w: the key set has no signing key", ErrPublicKey)
	}
	now := c.signer.now()
	sec := now.Unix()
	if t := c.cur.Load(); t != nil && t.key == key && t.sec == sec {
		return t, nil
	}

	c.mu.Lock()
	if t := c.cur.Load(); t != nil && t.key == key && t.sec == sec {
		c.mu.Unlock()
		return t, nil
	}
	f := c.flight
	if f == nil || f.key != key || f.sec != sec {
		// A flight of an earlier second or of the previous key is left to
		// its own callers.
		f = &tokenFlight{key: key, sec: sec, done: make(chan struct{})}
		c.flight = f
		// The signature runs on its own, so that the caller who started it
		// may leave (its context ending) without failing the others.
		go c.mint(context.WithoutCancel(ctx), f, id, now)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the request ended while its token was being signed: %w", ErrUnavailable, context.Cause(ctx))
	}
}

// mint signs f's token, issued at now, makes its response, publishes it as
// the current token unless a later one already is, and ends f.
func (c *secondCache) mint(ctx context.Context, f *tokenFlight, id *Identity, now time.Time) {
	var t *cachedToken
	err := checkSubject(id.Subject)
	if err == nil {
		err = c.signer.acquire(ctx, f.key)
	}
	if err == nil {
		var tok *Token
		req := signRequest{claims: id.Claims}
		if id.Parameters != nil {
			req.params = id.Parameters
		}
		tok, err = c.signer.signAt(f.key, now, id.Subject, &req)
		c.signer.release(f.key)
		if err == nil {
			var body []byte
			if body, err = c.body(tok); err == nil {
				t = &cachedToken{key: f.key, sec: f.sec, tok: tok, body: body}
			}
		}
	}

	c.mu.Lock()
	if t != nil {
		if cur := c.cur.Load(); cur == nil || cur.sec <= t.sec {
			c.cur.Store(t)
		}
	}
	if c.flight == f {
		c.flight = nil
	}
	c.mu.Unlock()
	f.tok, f.err = t, err
	close(f.done)
}
