package keyring

import (
	"context"
	"fmt"
	"sync"
)

// A MemoryStore is a Store in memory: for tests, and for Managers within
// one process. It notifies every Changes channel of each change.
//
// It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex // guards the fields below
	version int64
	data    []byte
	subs    map[chan struct{}]struct{}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{subs: make(map[chan struct{}]struct{})}
}

// Load implements Store. The data is a copy.
func (s *MemoryStore) Load(ctx context.Context) (int64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, append([]byte(nil), s.data...), nil
}

// CompareAndSwap implements Store. It keeps a copy of data.
func (s *MemoryStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version != s.version {
		return 0, fmt.Errorf("%w: version %d is not the stored version %d", ErrConflict, version, s.version)
	}
	s.version++
	s.data = append([]byte(nil), data...)
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default: // a notification is pending already
		}
	}
	return s.version, nil
}

// Changes implements Store: the channel receives a value after each
// change, coalesced, until ctx is done.
func (s *MemoryStore) Changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.mu.Unlock()
	})
	return ch
}
