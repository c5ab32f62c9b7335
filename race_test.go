//go:build race

package jwks_test

// raceEnabled reports whether the tests run with the race detector, which
// makes every request several times slower: the load test sends fewer.
const raceEnabled = true
