package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// TestLoadKeyFileConcurrently starts several servers on one key file at
// once, as replicas sharing a volume might: exactly one makes the key, and
// all sign with it.
func TestLoadKeyFileConcurrently(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.key")
	const n = 8
	keys := make([]*jwks.Key, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = loadKeyFile(path) })
	}
	wg.Wait()

	makers := 0
	for i := range n {
		require.NoError(t, errs[i])
		assert.True(t, keys[i].Equal(keys[0]), "server %d signs with the same key", i)
		if created[i] {
			makers++
		}
	}
	assert.Equal(t, 1, makers, "one server made the key")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

func TestCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, createFile(path, []byte("one")))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	err = createFile(path, []byte("two"))
	assert.True(t, errors.Is(err, fs.ErrExist), "%v", err)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one", string(data), "an existing file is never replaced")
}
