package testkit

import (
	"bytes"
	"log/slog"
	"sync"
)

// A LogBuffer collects the log records of several goroutines as text, for a
// test to read. It is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a logger that writes every record, debug ones included,
// to b in [slog.TextHandler]'s format.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// JSONLogger returns a logger that writes every record, debug ones
// included, to b in [slog.JSONHandler]'s format, one record a line.
func (b *LogBuffer) JSONLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Discard is a logger that writes nothing.
var Discard = slog.New(slog.DiscardHandler)
