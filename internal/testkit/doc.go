// Package testkit holds the test helpers that several packages of this
// module share: an in-memory network that lets HTTP tests run inside a
// testing/synctest bubble ([Network]), a buffer that captures log/slog
// output ([LogBuffer]), signing keys made once per test binary ([Key]), and
// checks of the JSON the handlers write ([ErrorBody], [TokenBody]).
//
// It is imported only by tests, and by internal/supabasetest. It imports
// package jwks, so the root package's tests that use it are in package
// jwks_test, as all of them are.
package testkit
