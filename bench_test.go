package jwks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// The benchmarks run the library and the floor (floor_test.go: the same
// token with the standard library alone) side by side, so that their ratio
// is measured in one run on one machine. scripts/bench reports the medians
// and the ratios.

var benchAlgorithms = []jwks.Algorithm{jwks.RS256, jwks.ES256, jwks.EdDSA}

func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgorithms {
		key := testkit.NewKey(b, alg)
		s := newSigner(b, key)
		floor := newFloorSigner(string(alg), key.KeyID(), privateOf(b, key), testAudience)

		testkit.RunPair(b, string(alg), [2]string{"library", "floor"}, [2]func(*testing.B){func(b *testing.B) {
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if _, err := s.Sign(ctx, "user-1"); err != nil {
					b.Fatal(err)
				}
			}
		}, func(b *testing.B) {
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if _, err := floor.sign("user-1"); err != nil {
					b.Fatal(err)
				}
			}
		}})
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgorithms {
		key := testkit.NewKey(b, alg)
		ks, err := jwks.NewKeySet(key)
		require.NoError(b, err)
		s, err := jwks.NewSigner(ks, testAudience)
		require.NoError(b, err)
		v, err := jwks.NewVerifier(ks, testAudience)
		require.NoError(b, err)
		tok, err := s.Sign(ctx, "user-1")
		require.NoError(b, err)
		floor := floorVerifierFor(testAudience, key)

		testkit.RunPair(b, string(alg), [2]string{"library", "floor"}, [2]func(*testing.B){func(b *testing.B) {
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok.Raw); err != nil {
					b.Fatal(err)
				}
			}
		}, func(b *testing.B) {
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if _, err := floor.verify(tok.Raw); err != nil {
					b.Fatal(err)
				}
			}
		}})
	}
}

// BenchmarkAnonymousEndpoint compares a whole request to the anonymous token
// endpoint, in process, with Signer.Sign alone: what the handler adds to
// the signature (routing excluded). With the shared subject ("shared") the
// handler signs once a second and hands that token out; with unique
// subjects ("unique") it signs per request.
func BenchmarkAnonymousEndpoint(b *testing.B) {
	ctx := context.Background()
	s := newSigner(b, testkit.NewKey(b, jwks.ES256))
	req := httptest.NewRequest(http.MethodGet, "/powersync-auth-anonymous", nil)
	for _, mode := range []struct {
		name string
		opts []jwks.AnonymousOption
	}{{"shared", nil}, {"unique", []jwks.AnonymousOption{jwks.WithUniqueSubjects()}}} {
		h := newTokenHandler(b, s, jwks.Anonymous(mode.opts...))
		testkit.RunPair(b, mode.name, [2]string{"handler", "sign"}, [2]func(*testing.B){func(b *testing.B) {
			w := &discardWriter{header: make(http.Header)}
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				clear(w.header)
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}, func(b *testing.B) {
			b.ReportAllocs()
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if _, err := s.Sign(ctx, jwks.AnonymousSubject); err != nil {
					b.Fatal(err)
				}
			}
		}})
	}
}
