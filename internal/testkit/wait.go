package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, and fails t
// with the message of format and args when it still does not after d. It
// calls cond on the test's own goroutine, so cond may use t.
func Eventually(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
