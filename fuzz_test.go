package jwks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// FuzzParseKey: no input makes ParseKey panic, and every key it accepts
// encodes and reads back as itself. Run longer with
// go test -fuzz FuzzParseKey -fuzztime 1m.
func FuzzParseKey(f *testing.F) {
	for _, alg := range jwks.Algorithms() {
		k := testkit.Key(f, alg)
		for _, format := range []jwks.KeyFormat{jwks.FormatJWK, jwks.FormatSecret, jwks.FormatPEM} {
			priv, _ := k.MarshalPrivate(format)
			pub, _ := k.MarshalPublic(format)
			f.Add(priv)
			f.Add(pub)
		}
	}
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","alg":"ES256"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := jwks.ParseKey(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "jwks: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		pub, err := k.MarshalPublic(jwks.FormatJWK)
		if err != nil {
			t.Fatalf("an accepted key does not encode: %v", err)
		}
		again, err := jwks.ParseKey(pub)
		if err != nil || !again.Equal(k) {
			t.Fatalf("an accepted key does not read back: %v", err)
		}
	})
}

// FuzzVerify: no input makes Verify panic, and nothing but the tokens the
// key signed verifies.
func FuzzVerify(f *testing.F) {
	key := testkit.Key(f, jwks.ES256)
	ks, err := jwks.NewKeySet(key)
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := jwks.NewSigner(ks, testAudience)
	verifier, _ := jwks.NewVerifier(ks, testAudience, jwks.WithClock(func() time.Time { return time.Now() }))
	good, err := signer.Sign(context.Background(), "user-1", jwks.WithParameters(map[string]any{"a": 1}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Raw)
	parts := strings.Split(good.Raw, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := verifier.Verify(context.Background(), raw)
		if err != nil {
			return
		}
		// ECDSA signatures cannot be forged by a fuzzer: a token that
		// verifies carries the signed header and claims.
		got := strings.Split(raw, ".")
		if got[0] != parts[0] || got[1] != parts[1] || c.Subject != "user-1" {
			t.Fatalf("a token the key did not sign verified: %q", raw)
		}
	})
}
