package jwks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// FuzzParseKey: no input makes ParseKey panic, and every key it accepts
// encodes and reads back as itself, its private half too; a JWK's public
// members are read as given, not truncated. The seed corpus
// (testdata/fuzz/FuzzParseKey) holds every algorithm in every format, and
// keys to refuse. Run longer with
// go test -run '^$' -fuzz '^FuzzParseKey$' -fuzztime 5m .
func FuzzParseKey(f *testing.F) {
	// The keys of every algorithm in every format are in the corpus: made
	// here, three RSA keys would slow each fuzzing process's start.
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","alg":"ES256"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 { // ParseKey reads what it is given; callers bound it
			return
		}
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
		checkPublicMembers(t, data, pub)
		if !k.CanSign() {
			return
		}
		priv, err := k.MarshalPrivate(jwks.FormatJWK)
		if err != nil {
			t.Fatalf("an accepted signing key does not encode its private half: %v", err)
		}
		again, err = jwks.ParseKey(priv)
		if err != nil || !again.Equal(k) || !again.CanSign() {
			t.Fatalf("an accepted signing key does not read back: %v", err)
		}
	})
}

// checkPublicMembers fails unless the public members of a JWK input (n and
// e, or x and y, those of its key type) hold the numbers of the accepted
// key's public JWK.
func checkPublicMembers(t *testing.T, input, pub []byte) {
	t.Helper()
	var in, out map[string]any
	if json.Unmarshal(bytes.TrimSpace(input), &in) != nil || json.Unmarshal(pub, &out) != nil {
		return // not JWK JSON: PEM or base64
	}
	for _, name := range []string{"n", "e", "x", "y"} {
		given, ok := in[name].(string)
		if !ok {
			continue
		}
		got, ok := out[name].(string)
		if !ok {
			continue // not a member of this key type ("y" of an OKP key)
		}
		a, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(given, "="))
		b, err2 := base64.RawURLEncoding.DecodeString(got)
		if err1 == nil && err2 == nil && new(big.Int).SetBytes(a).Cmp(new(big.Int).SetBytes(b)) != 0 {
			t.Fatalf("JWK member %q read as another number: %q, exported %q", name, given, got)
		}
	}
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
