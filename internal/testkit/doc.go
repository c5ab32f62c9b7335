// Package testkit holds the test helpers that several packages of this
// module share: an in-memory network that lets HTTP tests run inside a
// testing/synctest bubble, and a buffer that captures log/slog output.
//
// It is imported only by tests, and by internal/supabasetest.
package testkit
