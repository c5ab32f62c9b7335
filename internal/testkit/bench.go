package testkit

import (
	"os"
	"testing"
)

// RunPair runs the two sub-benchmarks prefix/names[0] and prefix/names[1]
// (names alone when prefix is empty), in that order, or in the other when
// the environment variable JWKS_BENCH_REVERSE is "1". scripts/bench runs
// the benchmarks once per process and reverses every other round, so that
// neither side always runs first and inherits what the run before it left
// (a warm or cold cache, the garbage collector's debt).
func RunPair(b *testing.B, prefix string, names [2]string, fs [2]func(*testing.B)) {
	b.Helper()
	order := [2]int{0, 1}
	if os.Getenv("JWKS_BENCH_REVERSE") == "1" {
		order = [2]int{1, 0}
	}
	for _, i := range order {
		name := names[i]
		if prefix != "" {
			name = prefix + "/" + name
		}
		b.Run(name, fs[i])
	}
}
