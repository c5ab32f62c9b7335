//go:build race

package main

// raceEnabled reports whether the tests run with the race detector. The
// end-to-end test builds the command the same way, so that go build reuses
// the packages already compiled for the test, and the server runs under the
// race detector too.
const raceEnabled = true
