package keyring

import (
	"log/slog"
	"time"

	"github.com/powersync-jwks/jwks"
)

// An Option configures New.
type Option func(*config)

// config is what the options set, with its defaults.
type config struct {
	keks   [][]byte
	logger *slog.Logger
	create bool
	events func(Event)
	now    func() time.Time
	newKey func(jwks.Algorithm) (*jwks.Key, error)
}

func defaultConfig() config {
	return config{
		logger: slog.Default(),
		create: true,
		now:    time.Now,
		newKey: func(alg jwks.Algorithm) (*jwks.Key, error) { return jwks.GenerateKey(alg) },
	}
}

// WithKeyEncryptionKeys seals the private keys of the ring with AES-256-GCM
// under the first of keks (32 bytes each), and opens those sealed with any
// of them. To change the key-encryption key: add the new one after the old
// one on every replica, then put it first, run Manager.Rewrap once, and drop
// the old one. A ring that holds a private key in clear is sealed at the
// Manager's next write; without this option, private keys are stored in
// clear, and New logs a warning once.
func WithKeyEncryptionKeys(keks ...[]byte) Option {
	return func(c *config) {
		c.keks = c.keks[:0]
		for _, k := range keks {
			c.keks = append(c.keks, append([]byte(nil), k...))
		}
	}
}

// WithLogger sets where the Manager logs (default slog.Default(); nil
// discards): the changes it makes (Info), a promotion forced before its
// publish-ahead (Warn), private keys stored in clear (Warn, once), and a
// ring that cannot be refreshed (Error, once until it can again, which is
// logged at Info). Records carry key IDs, versions and errors, never key
// material.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	}
}

// WithoutKeyCreation makes New leave an empty ring empty instead of making
// its first active key, for tools that import a key (Manager.Import) or
// only read the ring. Until the ring has a key, Manager.KeySet returns nil.
func WithoutKeyCreation() Option {
	return func(c *config) { c.create = false }
}

// WithEvents calls f for every change this Manager makes to the ring and
// for every change in its ability to refresh the ring (see Event), for
// metrics. f is called after the change has been stored, from the goroutine
// that made it (the Manager's own, or the caller of an operation), never
// while the Manager holds a lock. Calls may come from several goroutines at
// once: f must be safe for concurrent use and return quickly. It may read
// the Manager (Entries, Healthy); a change it makes would be reported to it
// in turn.
func WithEvents(f func(Event)) Option {
	return func(c *config) { c.events = f }
}

// withClock sets the Manager's clock, for tests.
func withClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// withKeyMaker sets how the Manager makes keys, for tests.
func withKeyMaker(f func(jwks.Algorithm) (*jwks.Key, error)) Option {
	return func(c *config) { c.newKey = f }
}
