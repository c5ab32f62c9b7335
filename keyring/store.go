package keyring

import (
	"context"
	"errors"
)

// ErrConflict is returned by [Store.CompareAndSwap] when the stored ring is
// no longer at the version the change was made against: another replica
// changed it first. The caller loads the ring again and decides anew.
var ErrConflict = errors.New("keyring: the ring changed meanwhile")

// A Store keeps one encoded key ring and changes it atomically, so that
// every replica of a service reads the same ring and no two replicas can
// both make a change from the same version (two promotions, or one change
// lost under another).
//
// A Store holds bytes it does not interpret: the ring's encoding, and the
// encryption of its private keys, are the [Manager]'s. Implementations are
// safe for concurrent use, by goroutines and by processes. This package has
// a store in memory ([NewMemoryStore]) and one in a file ([NewFileStore]);
// the module github.com/powersync-jwks/jwks/pgstore keeps the ring in
// PostgreSQL.
type Store interface {
	// Load returns the stored ring and its version. A store that holds no
	// ring yet returns version 0 and no data.
	Load(ctx context.Context) (version int64, data []byte, err error)

	// CompareAndSwap stores data if the stored version is still version
	// (0: nothing is stored yet), and returns the new version, which is
	// greater than version. Otherwise it stores nothing and returns an
	// error wrapping ErrConflict.
	CompareAndSwap(ctx context.Context, version int64, data []byte) (newVersion int64, err error)

	// Changes returns a channel that receives a value soon after the stored
	// ring may have changed, by this process or another, until ctx is done,
	// when the channel is closed. Values may be coalesced and may come
	// without a change; a receiver loads the ring to see. A store that
	// cannot notify returns nil, and its readers poll.
	Changes(ctx context.Context) <-chan struct{}
}
