package jwks_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// fuzzNow is the clock of FuzzVerifyMutated: the claims of its seed corpus
// are valid at this instant, 2026-01-01T00:00:00Z (iat 1767225600).
var fuzzNow = time.Unix(1767225600, 0)

// fuzzHS256Secret is the legacy secret FuzzVerifyMutated's Verifier accepts.
const fuzzHS256Secret = "fuzz-legacy-hs256-secret-of-at-least-32-bytes"

// A fuzzSigner signs a JWS signing input as one of the fuzz target's keys,
// with the standard library (see floorSignature), whatever the header says.
type fuzzSigner struct {
	alg  string
	kid  string            // empty for the HS256 secret
	priv crypto.PrivateKey // nil for the HS256 secret
}

func (s fuzzSigner) sign(t testing.TB, input string) []byte {
	if s.priv == nil {
		mac := hmac.New(sha256.New, []byte(fuzzHS256Secret))
		mac.Write([]byte(input))
		return mac.Sum(nil)
	}
	sig, err := floorSignature(s.alg, s.priv, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// FuzzVerifyMutated: tokens built from a fuzzed header and claims, signed
// by a real key of the Verifier (ES256, EdDSA, RS256) or its HS256 secret,
// whatever the header says, then changed by one byte operation. Verify never
// panics and refuses with a token error; a token it accepts was signed by
// the key its header names with that key's algorithm, verifies again to the
// same claims, and refuses any change to its bytes. The seed corpus
// (testdata/fuzz/FuzzVerifyMutated) holds tokens valid at fuzzNow and nasty
// headers and claims. Run longer with
// go test -run '^$' -fuzz '^FuzzVerifyMutated$' -fuzztime 5m .
func FuzzVerifyMutated(f *testing.F) {
	keys := []*jwks.Key{
		testkit.NewKey(f, jwks.ES256, jwks.WithKeyID("fuzz-es256")),
		testkit.NewKey(f, jwks.EdDSA, jwks.WithKeyID("fuzz-eddsa")),
		testkit.NewKey(f, jwks.RS256, jwks.WithKeyID("fuzz-rs256")),
	}
	ks, err := jwks.NewKeySet(keys[0], keys[1:]...)
	if err != nil {
		f.Fatal(err)
	}
	v, err := jwks.NewVerifier(ks, testAudience, jwks.WithClock(func() time.Time { return fuzzNow }),
		jwks.WithHS256Secret([]byte(fuzzHS256Secret)))
	if err != nil {
		f.Fatal(err)
	}
	var signers []fuzzSigner
	for _, k := range keys {
		signers = append(signers, fuzzSigner{alg: string(k.Algorithm()), kid: k.KeyID(), priv: privateOf(f, k)})
	}
	signers = append(signers, fuzzSigner{alg: "HS256"})

	claims := `{"sub":"user-1","aud":"` + testAudience + `","iat":1767225600,"exp":1767225900,"parameters":{"a":1}}`
	for i, s := range signers {
		header := `{"alg":"` + s.alg + `","kid":"` + s.kid + `","typ":"JWT"}`
		if s.kid == "" {
			header = `{"alg":"HS256","typ":"JWT"}`
		}
		f.Add([]byte(header), []byte(claims), byte(i), uint16(0), byte(0), byte('x'))
	}

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, header, claims []byte, which byte, pos uint16, op, b byte) {
		if len(header)+len(claims) > 8<<10 { // base64 of it fits in MaxTokenSize
			return
		}
		s := signers[int(which)%len(signers)]
		input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		raw := input + "." + base64.RawURLEncoding.EncodeToString(s.sign(t, input))

		c, err := v.Verify(ctx, raw)
		if err != nil {
			requireTokenError(t, err)
			return
		}
		// The header's members by their exact names, as jose reads them.
		var h map[string]json.RawMessage
		var alg, kid string
		if json.Unmarshal(header, &h) != nil || json.Unmarshal(h["alg"], &alg) != nil {
			t.Fatalf("accepted a header without a string alg: %q", header)
		}
		hasKid := json.Unmarshal(h["kid"], &kid) == nil
		if alg != s.alg || s.kid != "" && (!hasKid || kid != s.kid || c.KeyID != s.kid) {
			t.Fatalf("a token signed %s by %q verified with header %q", s.alg, s.kid, header)
		}
		again, err := v.Verify(ctx, raw)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("an accepted token does not verify again to the same claims: %v", err)
		}
		for _, changed := range append(canonicalVariants(raw), mutate(raw, pos, op, b)) {
			if changed == raw {
				continue
			}
			if _, err := v.Verify(ctx, changed); err == nil {
				t.Fatalf("token %q verified, and so did %q, changed", raw, changed)
			} else {
				requireTokenError(t, err)
			}
		}
	})
}

// requireTokenError fails unless err is a token error of Verify.
func requireTokenError(t testing.TB, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "jwks: ") {
		t.Fatalf("error without the package prefix: %v", err)
	}
	for _, want := range tokenErrors {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("Verify refused with an error that is no token error: %v", err)
}

// mutate changes raw by one operation op: replace, insert, delete or flip a
// bit of the byte at pos, truncate at pos, or append b.
func mutate(raw string, pos uint16, op, b byte) string {
	i := int(pos) % (len(raw) + 1)
	switch op % 6 {
	case 0:
		if i < len(raw) {
			return raw[:i] + string(rune(b)) + raw[i+1:]
		}
	case 1:
		return raw[:i] + string([]byte{b}) + raw[i:]
	case 2:
		if i < len(raw) {
			return raw[:i] + raw[i+1:]
		}
	case 3:
		if i < len(raw) {
			return raw[:i] + string([]byte{raw[i] ^ 1<<(b%8)}) + raw[i+1:]
		}
	case 4:
		return raw[:i]
	}
	return raw + string([]byte{b})
}

// canonicalVariants returns spellings of raw that a lenient base64url
// decoder reads as the same bytes: the last character of each segment with
// its unused low bits set, padding, and CR or LF inside or after a segment.
func canonicalVariants(raw string) []string {
	var out []string
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(raw); i++ {
		if i+1 != len(raw) && raw[i+1] != '.' {
			continue
		}
		// The last character of a segment.
		j := strings.IndexByte(alphabet, raw[i])
		if j < 0 {
			continue
		}
		for _, bits := range []int{1, 3, 15} {
			if k := j ^ bits; k != j {
				out = append(out, raw[:i]+alphabet[k:k+1]+raw[i+1:])
			}
		}
		out = append(out, raw[:i+1]+"="+raw[i+1:], raw[:i+1]+"\n"+raw[i+1:], raw[:i]+"\r\n"+raw[i:])
	}
	return append(out, raw+"\r\n", " "+raw, raw+" ")
}
