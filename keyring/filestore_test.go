//go:build unix

package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// writeRaw writes content to path with mode perm.
func writeRaw(t testing.TB, path string, content []byte, perm os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, content, perm))
	require.NoError(t, os.Chmod(path, perm)) // whatever the umask
}

func TestFileStoreReadsAndWrites(t *testing.T) {
	ctx := context.Background()
	path := ringFile(t)
	s := newFileStore(t, path)
	assert.Nil(t, s.Changes(ctx), "a file cannot notify")

	version, data, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Zero(t, version)
	assert.Nil(t, data)

	doc := []byte(`{"v":1,"keys":[]}`)
	version, err = s.CompareAndSwap(ctx, 0, doc)
	require.NoError(t, err)
	assert.Equal(t, int64(1), version)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"version":1,"ring":{"v":1,"keys":[]}}`+"\n", string(content), "the version is kept in the file")

	_, err = s.CompareAndSwap(ctx, 0, doc)
	assert.ErrorIs(t, err, ErrConflict)
	version, err = s.CompareAndSwap(ctx, 1, []byte("not JSON"))
	require.NoError(t, err)
	assert.Equal(t, int64(2), version)
	version, data, err = newFileStore(t, path).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), version)
	assert.Equal(t, "not JSON", string(data), "any bytes, in base64")

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"keyring.json", "keyring.json.lock"}, names, "no temporary file left behind")
	fi, err = os.Stat(path + ".lock")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestFileStoreWritersAgree has writers in one process, through two stores
// (two open lock files, as two processes have), change the file at once:
// no change is lost.
func TestFileStoreWritersAgree(t *testing.T) {
	ctx := context.Background()
	path := ringFile(t)
	stores := []*FileStore{newFileStore(t, path), newFileStore(t, path)}
	const writers, each = 6, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for done := 0; done < each; {
				version, _, err := s.Load(ctx)
				if !assert.NoError(t, err) {
					return
				}
				_, err = s.CompareAndSwap(ctx, version, fmt.Appendf(nil, `{"writer":%d}`, w))
				if errors.Is(err, ErrConflict) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	version, _, err := stores[0].Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(writers*each), version)
}

// TestFileStoreRefuses checks each kind of file the store refuses: at
// NewFileStore, and at Load and CompareAndSwap when the file turns bad
// later; the file is never written.
func TestFileStoreRefuses(t *testing.T) {
	ctx := context.Background()
	good := []byte(`{"version":3,"ring":{"v":1,"keys":[]}}` + "\n")
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		want  []string
		owner bool // needs root
	}{
		{"a directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) },
			[]string{"not a regular file"}, false},
		{"a FIFO", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) },
			[]string{"not a regular file"}, false},
		{"a symbolic link to nothing", func(t *testing.T, path string) {
			require.NoError(t, os.Symlink(filepath.Join(filepath.Dir(path), "gone.json"), path))
		}, []string{"is a symbolic link to", "gone.json, which does not exist"}, false},
		{"readable by others", func(t *testing.T, path string) { writeRaw(t, path, good, 0o644) },
			[]string{"may be read or written by others (mode 0644)", "chmod 600"}, false},
		{"writable by the group", func(t *testing.T, path string) { writeRaw(t, path, good, 0o620) },
			[]string{"(mode 0620)"}, false},
		{"another user's", func(t *testing.T, path string) {
			writeRaw(t, path, good, 0o600)
			require.NoError(t, os.Chown(path, 65534, 65534))
		}, []string{"belongs to user 65534"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			path := ringFile(t)
			s := newFileStore(t, path) // made while there is no file
			tc.make(t, path)
			before := snapshot(t, path)

			done := make(chan error, 1)
			go func() {
				_, err := NewFileStore(path)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("NewFileStore blocked")
			}
			require.Error(t, err)
			for _, want := range append(tc.want, path) {
				assert.Contains(t, err.Error(), want)
			}

			_, _, err = s.Load(ctx)
			assert.ErrorContains(t, err, tc.want[0])
			for _, version := range []int64{0, 1, 3} {
				_, err = s.CompareAndSwap(ctx, version, []byte(`{"v":1,"keys":[]}`))
				assert.ErrorContains(t, err, tc.want[0])
			}
			assert.Equal(t, before, snapshot(t, path), "the file is left as it was")
		})
	}
}

// TestFileStoreNeverOverwritesWhatItCannotRead: a corrupt or truncated file
// is a clear error, and stays as it was, byte for byte.
func TestFileStoreNeverOverwritesWhatItCannotRead(t *testing.T) {
	ctx := context.Background()
	key := newTestKey(t)
	jwk, err := key.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	m := newManager(t, NewMemoryStore(), Policy{})
	_, ringData, _ := m.store.Load(ctx)
	document := fmt.Appendf(nil, `{"version":4,"ring":%s}`+"\n", ringData)
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", nil, "is empty (truncated?)"},
		{"blank", []byte("\n \n"), "is empty (truncated?)"},
		{"a truncated ring", document[:len(document)/2], "corrupt or truncated"},
		{"a truncated key", jwk[:len(jwk)-10], "corrupt or truncated"},
		{"garbage", []byte("hello, world"), "holds neither a key ring nor a key"},
		{"no version", []byte(`{"ring":{"v":1,"keys":[]}}`), "has no version"},
		{"no ring", []byte(`{"version":2}`), "holds no ring"},
		{"a public key", mustPublic(t, key), "holds a public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ringFile(t)
			writeRaw(t, path, tc.content, 0o600)
			s := newFileStore(t, path)
			_, _, err := s.Load(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), path)
			assert.NotContains(t, err.Error(), privateScalar(t, key), "no key material in the error")
			for _, version := range []int64{0, 1, 4} {
				_, err = s.CompareAndSwap(ctx, version, ringData)
				assert.ErrorContains(t, err, tc.want)
			}
			_, err = New(ctx, s, Policy{}, WithLogger(nil))
			assert.ErrorContains(t, err, tc.want, "a server does not start on it")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tc.content, after), "the file is left as it was, byte for byte")
		})
	}
}

// snapshot returns what is at path: its type and mode, and the content of
// a regular file (reading a FIFO would block).
func snapshot(t testing.TB, path string) string {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	out := fi.Mode().String()
	if fi.Mode().IsRegular() {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		out += " " + string(b)
	}
	return out
}

func mustPublic(t testing.TB, k *jwks.Key) []byte {
	t.Helper()
	b, err := k.MarshalPublic(jwks.FormatJWK)
	require.NoError(t, err)
	return b
}

// privateScalar returns the "d" member of k's private JWK.
func privateScalar(t testing.TB, k *jwks.Key) string {
	t.Helper()
	b, err := k.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m["d"].(string)
}

// TestFileStoreReadsTodaysKeyFile: the key file of the ready server before
// key rings (a private JWK and a newline), and the seed's base64 secret,
// read as a ring of that key, active, at version 1; the first change
// rewrites the file as a ring.
func TestFileStoreReadsTodaysKeyFile(t *testing.T) {
	ctx := context.Background()
	for _, format := range []jwks.KeyFormat{jwks.FormatJWK, jwks.FormatSecret, jwks.FormatPEM} {
		t.Run(format.String(), func(t *testing.T) {
			content, err := newTestKey(t).MarshalPrivate(format)
			require.NoError(t, err)
			key, err := jwks.ParseKey(content) // PEM has no kid: the thumbprint is the kid
			require.NoError(t, err)
			path := ringFile(t)
			writeRaw(t, path, append(content, '\n'), 0o600)
			modified := time.Now().Add(-time.Hour).Truncate(time.Second)
			require.NoError(t, os.Chtimes(path, modified, modified))

			s := newFileStore(t, path)
			version, data, err := s.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), version)
			r, err := codec{}.decode(data)
			require.NoError(t, err)
			require.Len(t, r.entries, 1)
			assert.Equal(t, StateActive, r.entries[0].State)
			assert.True(t, key.Equal(r.entries[0].Key))
			assert.True(t, modified.Equal(r.entries[0].Activated), "active since the file was written")
			_, again, _ := s.Load(ctx)
			assert.Equal(t, data, again, "read the same every time")

			m := newManager(t, s, Policy{})
			assert.Equal(t, key.KeyID(), m.KeySet().SigningKey().KeyID())
			unchanged, _ := os.ReadFile(path)
			assert.Equal(t, append(content, '\n'), unchanged, "reading changes nothing")

			_, err = m.Stage(ctx)
			require.NoError(t, err)
			var doc fileDocument
			rewritten, _ := os.ReadFile(path)
			require.NoError(t, json.Unmarshal(rewritten, &doc))
			assert.Equal(t, int64(2), doc.Version)
			r, err = codec{}.decode(doc.Ring)
			require.NoError(t, err)
			assert.Equal(t, map[string]State{key.KeyID(): StateActive, r.entries[1].KeyID(): StateNext}, states(r))
		})
	}
}

// TestFileStoreSealed: with a key-encryption key, the file holds no private
// key in clear, even when it started as today's key file.
func TestFileStoreSealed(t *testing.T) {
	ctx := context.Background()
	key := newTestKey(t)
	jwk, err := key.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	path := ringFile(t)
	writeRaw(t, path, append(jwk, '\n'), 0o600)
	kek := newKEKBytes(t)

	m := newManager(t, newFileStore(t, path), Policy{}, WithKeyEncryptionKeys(kek))
	eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(`"sealed"`))
	}, "the key is sealed at the first write")
	_, err = m.Stage(ctx)
	require.NoError(t, err)
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(content), `"d":`)
	assert.NotContains(t, string(content), "PRIVATE KEY")
	assert.NotContains(t, string(content), privateScalar(t, key))
	for _, e := range m.Entries() {
		if e.Key.CanSign() {
			assert.NotContains(t, string(content), privateScalar(t, e.Key))
		}
	}
	assert.Equal(t, 2, strings.Count(string(content), KEKID(kek)))
}

// TestFileStoreThroughASymlink writes the file a link points to, and keeps
// the link.
func TestFileStoreThroughASymlink(t *testing.T) {
	ctx := context.Background()
	target := ringFile(t)
	writeRaw(t, target, []byte(`{"version":1,"ring":{"v":1,"keys":[]}}`), 0o600)
	link := filepath.Join(t.TempDir(), "link.json")
	require.NoError(t, os.Symlink(target, link))
	s := newFileStore(t, link)
	version, err := s.CompareAndSwap(ctx, 1, []byte(`{"v":1,"keys":[]}`))
	require.NoError(t, err)
	assert.Equal(t, int64(2), version)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "still a link")
	content, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Contains(t, string(content), `"version":2`)
}
