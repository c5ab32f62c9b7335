package keyring_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/powersync-jwks/jwks/internal/rotationtest"
	"github.com/powersync-jwks/jwks/keyring"
)

// TestRotationUnderLoad rotates keys at least 50 times while tokens are
// minted by random replicas and checked by verifiers that cache the JWKS
// as PowerSync does, fetched from random replicas (internal/rotationtest,
// with its default policy: PowerSync's periods scaled down, 5 min to
// 200 ms). It requires zero verification failures, exactly one active key
// at every version the store holds, every replica's JWKS converging on each
// version, and no key removed while a token it signed is valid. pgstore
// runs the same on PostgreSQL.
func TestRotationUnderLoad(t *testing.T) {
	t.Run("MemoryStore, 3 replicas, one restarted", func(t *testing.T) {
		t.Parallel()
		store := keyring.NewMemoryStore()
		rotationtest.Run(t, rotationtest.Config{Stores: []keyring.Store{store, store, store}, Restart: true})
	})
	t.Run("FileStore, 1 replica", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("the file store needs a Unix system")
		}
		t.Parallel()
		store, err := keyring.NewFileStore(filepath.Join(t.TempDir(), "keyring.json"))
		if err != nil {
			t.Fatal(err)
		}
		rotationtest.Run(t, rotationtest.Config{Stores: []keyring.Store{store}})
	})
}
