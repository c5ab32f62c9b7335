package testkit

import (
	"sync"
	"testing"

	"github.com/powersync-jwks/jwks"
)

// keys caches one key per algorithm for [Key].
var keys sync.Map // jwks.Algorithm → *jwks.Key

// Key returns a signing key for alg, made once per test binary and shared
// by every test that asks: generating RSA keys is slow under the race
// detector, and most tests need some key rather than a new one. Tests that
// need a key of their own, or options such as a key ID, use [NewKey].
func Key(t testing.TB, alg jwks.Algorithm) *jwks.Key {
	t.Helper()
	if k, ok := keys.Load(alg); ok {
		return k.(*jwks.Key)
	}
	k := NewKey(t, alg)
	actual, _ := keys.LoadOrStore(alg, k)
	return actual.(*jwks.Key)
}

// NewKey returns a new signing key for alg, made by [jwks.GenerateKey]
// with opts; the test fails if it cannot be made.
func NewKey(t testing.TB, alg jwks.Algorithm, opts ...jwks.KeyOption) *jwks.Key {
	t.Helper()
	k, err := jwks.GenerateKey(alg, opts...)
	if err != nil {
		t.Fatalf("testkit: generating a %s key: %v", alg, err)
	}
	return k
}

// Must returns v, and panics if err is not nil: for values a test builds
// from inputs it controls, inline, such as Must(k.MarshalPublic(f)).
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
