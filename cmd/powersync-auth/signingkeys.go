package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
)

// signingKeys are the keys the server signs with and publishes: a static
// key set, or one a key ring keeps in step with its store.
type signingKeys struct {
	ks       *jwks.KeySet
	ring     *keyring.Manager // nil for a static key set
	store    *openedStore     // the ring's, or nil
	stopRing context.CancelFunc
}

// close stops following the ring, waits until the ring's goroutine has
// returned, and lets the store go. The key set stays as it was.
func (k *signingKeys) close() {
	if k.ring != nil {
		k.stopRing()
		<-k.ring.Done()
	}
	if k.store != nil {
		k.store.close()
	}
}

// newSigningKeys returns the server's keys. With POWERSYNC_PRIVATE_KEY set
// and no -store, a static key set of that key (and POWERSYNC_PUBLIC_KEY's);
// otherwise a key ring on the store, followed until ctx is done, whose
// events are counted in m. Errors are *configError: the server does not
// start without its keys.
func newSigningKeys(ctx context.Context, c *config, logger *slog.Logger, m *metrics) (*signingKeys, error) {
	if c.static() {
		ks, err := jwks.NewKeySet(c.signingKey, c.published...)
		if err != nil {
			return nil, configErrorf("%s: %s", envPublicKey, reason(err))
		}
		logger.Info("signing with "+envPrivateKey+" alone: no key ring, no rotation",
			"kid", c.signingKey.KeyID(), "alg", c.signingKey.Algorithm(),
			"note", "rotation needs a key ring: set -store (a file, or a postgres:// URL that every replica shares); "+
				envPrivateKey+" then becomes the ring's first key")
		return &signingKeys{ks: ks}, nil
	}

	store, err := openStore(ctx, c.store, logger)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var staged []string // the keys this server made while starting
	m.watchRingEvents()
	opts := []keyring.Option{
		keyring.WithLogger(ringLogger(logger)),
		keyring.WithEvents(func(e keyring.Event) {
			if e.Type == keyring.EventStaged {
				mu.Lock()
				staged = append(staged, e.KID)
				mu.Unlock()
			}
			m.ringEvent(e)
		}),
	}
	if len(c.keks) > 0 {
		opts = append(opts, keyring.WithKeyEncryptionKeys(c.keks...))
	}
	if c.signingKey != nil || !c.createKey {
		// The ring's first key is POWERSYNC_PRIVATE_KEY, or an operator's.
		opts = append(opts, keyring.WithoutKeyCreation())
	}
	ringCtx, stopRing := context.WithCancel(ctx)
	ring, err := keyring.New(ringCtx, store, c.policy(), opts...)
	if err != nil {
		stopRing()
		store.close()
		return nil, configErrorf("the key ring in %s: %s", store.spec, ringReason(err, store.spec))
	}
	k := &signingKeys{ring: ring, store: store, stopRing: stopRing}
	fail := func(err error) (*signingKeys, error) {
		k.close()
		return nil, err
	}

	if c.signingKey != nil {
		kid := c.signingKey.KeyID()
		entries := ring.Entries()
		i := slices.IndexFunc(entries, func(e keyring.Entry) bool { return e.KeyID() == kid })
		switch {
		case len(entries) == 0:
			e, err := ring.Import(ctx, c.signingKey)
			if err != nil {
				return fail(configErrorf("importing %s into the key ring in %s: %s", envPrivateKey, store.spec, ringReason(err, store.spec)))
			}
			logger.Info("the key ring was empty: "+envPrivateKey+" is its first key", "kid", kid, "state", e.State, "store", store.spec.String())
		case i < 0:
			logger.Warn(envPrivateKey+" is not in the key ring: signing with the ring's keys, and "+envPrivateKey+
				" is not published; to add it as a next key: powersync-auth keys import", "kid", kid, "store", store.spec.String())
		case entries[i].State != keyring.StateActive:
			logger.Warn(envPrivateKey+" is a "+string(entries[i].State)+" key of the key ring: signing with the ring's active key",
				"kid", kid, "store", store.spec.String())
		}
	}
	k.ks = ring.KeySet()
	if k.ks == nil {
		if !c.createKey {
			return fail(configErrorf("the key ring in %s has no key, and %s=false: give the ring its first key once "+
				"(%s keys stage, or %s keys import), or set %s", store.spec, c.source("create-key"), program, program, envPrivateKey))
		}
		return fail(configErrorf("the key ring in %s has no key", store.spec))
	}

	active := k.ks.SigningKey()
	mu.Lock()
	made := slices.Contains(staged, active.KeyID())
	mu.Unlock()
	attrs := []any{"store", store.spec.String(), "kid", active.KeyID(), "alg", active.Algorithm()}
	switch {
	case made && store.spec.kind == storeFile:
		logger.Warn("made a new signing key in the key ring file: every replica must share one store "+
			"(-store postgres://…) or the same "+envPrivateKey+"; a replica with a key of its own signs tokens "+
			"the others' JWKS does not hold", append(attrs, "path", store.spec.path)...)
	case made:
		logger.Info("made a new signing key: the key ring was empty", attrs...)
	default:
		logger.Info("signing with the key ring's active key", attrs...)
	}
	p := c.policy()
	logger.Info("key ring", "store", store.spec.String(), "keys", describeEntries(ring.Entries()),
		"rotate_every", p.RotateEvery.String(), "publish_ahead", cmp.Or(p.PublishAhead, p.SafePublishAhead()).String(),
		"retention", p.Retention().String(), "sealed", len(c.keks) > 0)
	return k, nil
}

// describeEntries names the keys of a ring with their states, for logs:
// "powersync-1a2b3c4d5e:active".
func describeEntries(entries []keyring.Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.KeyID()+":"+string(e.State))
	}
	return out
}

// ringReason is the message of a key ring's error, without the package's
// prefix and without the password of a PostgreSQL store's URL.
func ringReason(err error, spec storeSpec) string {
	msg := err.Error()
	for {
		trimmed := strings.TrimPrefix(strings.TrimPrefix(msg, "keyring: "), "loading the key ring: ")
		if trimmed == msg {
			break
		}
		msg = trimmed
	}
	if spec.kind == storePostgres {
		msg = scrub(msg, spec.url)
	}
	if errors.Is(err, keyring.ErrUnknownKEK) {
		msg += fmt.Sprintf(" (set %s to the key-encryption keys the ring was sealed with)", envKEK)
	}
	return msg
}

// ringLogger returns a logger for the key ring that writes to l, with the
// names of the library's API in its messages (the policy's fields, the
// key-encryption key option) replaced by the command's flags and variable.
func ringLogger(l *slog.Logger) *slog.Logger {
	return slog.New(renamingHandler{l.Handler()})
}

// ringNames names the key ring's API as the command's settings.
var ringNames = strings.NewReplacer(
	"WithKeyEncryptionKeys", envKEK,
	"RotateEvery", "-rotate-every", "PublishAhead", "-publish-ahead", "JWKSMaxAge", "-jwks-max-age",
	"VerifierRefresh", "-verifier-refresh", "StorePoll", "-store-poll", "MaxTokenLifetime", "-token-lifetime",
)

// renamingHandler rewrites each record's message with ringNames.
type renamingHandler struct{ slog.Handler }

func (h renamingHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Message = ringNames.Replace(r.Message)
	return h.Handler.Handle(ctx, r)
}

func (h renamingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return renamingHandler{h.Handler.WithAttrs(attrs)}
}

func (h renamingHandler) WithGroup(name string) slog.Handler {
	return renamingHandler{h.Handler.WithGroup(name)}
}
