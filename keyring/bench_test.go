package keyring_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/keyring"
)

// benchPolicy rotates every 300ms (PublishAhead 200ms, Retention 220ms),
// re-reading the store every 100ms: the ring changes several times during
// each run of a benchmark.
var benchPolicy = keyring.Policy{
	RotateEvery:      300 * time.Millisecond,
	StorePoll:        100 * time.Millisecond,
	JWKSMaxAge:       50 * time.Millisecond,
	VerifierRefresh:  50 * time.Millisecond,
	MaxTokenLifetime: 100 * time.Millisecond,
	Leeway:           20 * time.Millisecond,
}

// BenchmarkSign compares jwks.Signer.Sign on a static KeySet ("static")
// with Sign on the KeySet of a running Manager on a MemoryStore ("ring"):
// its policy rotating every 300ms, and another Manager on the store staging
// a key and promoting it at once every 250ms, so that the signing key
// changes about 7 times a second. Signing never waits for the Manager: the
// ratio ring/static is 1.0, within the noise. The "changes" metric counts
// the promotions during the run; "cpu-ns/op" (the process's CPU time per
// signature, steadier than ns/op on a shared machine) and the allocations
// include the Managers' own work.
//
//	go test -run '^$' -bench 'BenchmarkSign' -benchmem -count 6 ./keyring
func BenchmarkSign(b *testing.B) {
	b.Run("static", func(b *testing.B) {
		key, err := jwks.GenerateKey(keyring.DefaultAlgorithm)
		if err != nil {
			b.Fatal(err)
		}
		ks, err := jwks.NewKeySet(key)
		if err != nil {
			b.Fatal(err)
		}
		benchSign(b, ks)
	})
	b.Run("ring", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var promoted atomic.Int64
		count := keyring.WithEvents(func(e keyring.Event) {
			if e.Type == keyring.EventPromoted {
				promoted.Add(1)
			}
		})
		store := keyring.NewMemoryStore()
		ring, err := keyring.New(ctx, store, benchPolicy, keyring.WithLogger(nil), count)
		if err != nil {
			b.Fatal(err)
		}
		other, err := keyring.New(ctx, store, benchPolicy, keyring.WithLogger(nil), count)
		if err != nil {
			b.Fatal(err)
		}
		changer := make(chan struct{})
		go func() {
			defer close(changer)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if e, err := other.Stage(ctx); err == nil {
					_, _ = other.Promote(ctx, e.KeyID(), true)
				}
			}
		}()

		benchSign(b, ring.KeySet())
		b.ReportMetric(float64(promoted.Load()), "changes")
		cancel()
		<-changer
		<-ring.Done()
		<-other.Done()
	})
}

func benchSign(b *testing.B, ks *jwks.KeySet) {
	ctx := context.Background()
	s, err := jwks.NewSigner(ks, "https://powersync.example")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer testkit.CPUPerOp(b)()
	for b.Loop() {
		if _, err := s.Sign(ctx, "user-1"); err != nil {
			b.Fatal(err)
		}
	}
}
