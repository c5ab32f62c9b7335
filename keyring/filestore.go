package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/powersync-jwks/jwks"
)

// maxFileSize bounds what a FileStore reads: a ring is a few kilobytes.
const maxFileSize = 4 << 20

// A FileStore is a Store in one file, for a server on one machine: the
// embedded default of cmd/powersync-auth. The file holds a JSON document,
// {"version": N, "ring": <the ring>}, and is written whole: to a temporary
// file in the same directory (mode 0600), synced, renamed over the file,
// and the directory synced, so that a reader or a crash never sees half a
// ring. Writers on one machine take an exclusive flock(2) on a sibling lock
// file, path + ".lock", which is never removed. A FileStore cannot notify:
// Changes returns nil, and Managers poll.
//
// It refuses, with an error naming the path, a file that is not a regular
// file (a directory, a FIFO, a device), a symbolic link whose target is
// missing, a file owned by another user than the process's (root's is
// accepted), a file that others (group or world) may read or write, and a
// file it cannot read or decode: a corrupt or truncated file is never
// overwritten; it stays as it was until someone restores or removes it.
//
// A file that holds a single private key, as the key file of the ready
// server before key rings (a private JWK, the base64 JWK of the original example's
// POWERSYNC_PRIVATE_KEY, or PEM), reads as a ring of that one key, active
// since the file was last modified, at version 1; the first change rewrites
// it as a ring document.
//
// A FileStore is safe for concurrent use, by goroutines and by processes on
// one machine. It needs a Unix system.
type FileStore struct {
	path string
	mu   sync.Mutex // serialises this process's writes; the flock serialises processes
}

// fileDocument is the content of a FileStore's file.
type fileDocument struct {
	Version int64           `json:"version"`
	Ring    json.RawMessage `json:"ring,omitempty"` // the ring, when it is a JSON object (always, from a Manager)
	Data    []byte          `json:"data,omitempty"` // otherwise, in base64
}

// NewFileStore returns a store in the file at path, which need not exist
// yet; its directory must. A file that is there already is checked (type,
// owner, mode) but not read.
func NewFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("keyring: no path for the key ring file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: key ring file %s: %w", path, err)
	}
	s := &FileStore{path: abs}
	f, err := s.open()
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	default:
		dir := filepath.Dir(abs)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("keyring: key ring file %s: the directory %s does not exist", abs, dir)
		}
	}
	return s, nil
}

// Path returns the absolute path of the store's file.
func (s *FileStore) Path() string { return s.path }

// Load implements Store. A missing file is an empty store (version 0).
func (s *FileStore) Load(ctx context.Context) (int64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	version, data, err := s.read()
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	return version, data, err
}

// CompareAndSwap implements Store. It never replaces a file it cannot read
// or decode.
func (s *FileStore) CompareAndSwap(ctx context.Context, version int64, data []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target, err := s.target()
	if err != nil {
		return 0, err
	}
	unlock, err := lockFile(ctx, target+".lock")
	if err != nil {
		return 0, fmt.Errorf("keyring: locking key ring file %s: %w", s.path, err)
	}
	defer unlock()

	current, _, err := s.read()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	if current != version {
		return 0, fmt.Errorf("%w: key ring file %s is at version %d, not %d", ErrConflict, s.path, current, version)
	}
	doc := fileDocument{Version: current + 1}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		doc.Ring = t
	} else {
		doc.Data = data
	}
	content, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("keyring: encoding key ring file %s: %w", s.path, err)
	}
	if err := writeFile(target, append(content, '\n')); err != nil {
		return 0, fmt.Errorf("keyring: writing key ring file %s: %w", s.path, err)
	}
	return doc.Version, nil
}

// Changes implements Store: a file cannot notify, so it returns nil.
func (s *FileStore) Changes(context.Context) <-chan struct{} { return nil }

// target returns the file to write: the store's path, or the target of the
// symbolic link it is.
func (s *FileStore) target() (string, error) {
	fi, err := os.Lstat(s.path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return s.path, nil
	}
	t, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return "", s.danglingLink()
	}
	return t, nil
}

// danglingLink describes the store's path as a symbolic link to nothing.
func (s *FileStore) danglingLink() error {
	to, _ := os.Readlink(s.path)
	return fmt.Errorf("keyring: key ring file %s is a symbolic link to %s, which does not exist: "+
		"restore the file it points to, or remove the link to start a new ring", s.path, to)
}

// open opens the file for reading and checks what it is. A missing file is
// an error wrapping fs.ErrNotExist.
func (s *FileStore) open() (*os.File, error) {
	// Non-blocking, so that opening a FIFO does not wait for a writer.
	f, err := os.OpenFile(s.path, os.O_RDONLY|openFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, lerr := os.Lstat(s.path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, s.danglingLink()
		}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: opening key ring file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = s.check(fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// check refuses a file that is not a regular file of this user (or root)
// that only its owner may read and write.
func (s *FileStore) check(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("keyring: key ring file %s is not a regular file (%s)", s.path, fi.Mode().Type())
	}
	if err := checkOwner(s.path, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("keyring: key ring file %s may be read or written by others (mode %04o): "+
			"run chmod 600 %s", s.path, perm, s.path)
	}
	return nil
}

// read reads and decodes the file.
func (s *FileStore) read() (int64, []byte, error) {
	f, err := s.open()
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: reading key ring file %s: %w", s.path, err)
	}
	if len(content) > maxFileSize {
		return 0, nil, fmt.Errorf("keyring: key ring file %s is larger than %d bytes: it is not a key ring", s.path, maxFileSize)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: reading key ring file %s: %w", s.path, err)
	}
	return s.decode(content, fi)
}

// decode reads the content of the file: a ring document, or a single
// private key.
func (s *FileStore) decode(content []byte, fi fs.FileInfo) (int64, []byte, error) {
	t := bytes.TrimSpace(content)
	if len(t) == 0 {
		return 0, nil, fmt.Errorf("keyring: key ring file %s is empty (truncated?); it is left as it is: "+
			"restore it, or remove it to start a new ring", s.path)
	}
	if t[0] == '{' {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(t, &members); err != nil {
			return 0, nil, fmt.Errorf("keyring: key ring file %s is corrupt or truncated (%s); it is left as it is: "+
				"restore it, or remove it to start a new ring", s.path, describeJSONError(err))
		}
		if _, ok := members["kty"]; !ok {
			return s.decodeDocument(t)
		}
	}
	key, err := jwks.ParseKey(t)
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: key ring file %s holds neither a key ring nor a key; it is left as it is: %w", s.path, err)
	}
	if !key.CanSign() {
		return 0, nil, fmt.Errorf("keyring: key ring file %s holds a public key (kid %s), not a signing key", s.path, key.KeyID())
	}
	since := fi.ModTime().Round(0).UTC()
	data, err := codec{}.encode(ring{entries: []Entry{{
		Key: key, State: StateActive, Created: since, Published: since, Activated: since,
	}}})
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: key ring file %s: %w", s.path, err)
	}
	return 1, data, nil
}

// decodeDocument reads a ring document.
func (s *FileStore) decodeDocument(t []byte) (int64, []byte, error) {
	var doc fileDocument
	if err := json.Unmarshal(t, &doc); err != nil {
		return 0, nil, fmt.Errorf("keyring: key ring file %s is corrupt (%s); it is left as it is", s.path, describeJSONError(err))
	}
	switch {
	case doc.Version < 1:
		return 0, nil, fmt.Errorf("keyring: key ring file %s has no version; it is not a key ring file, and is left as it is", s.path)
	case doc.Ring != nil && doc.Data == nil:
		return doc.Version, []byte(doc.Ring), nil
	case doc.Ring == nil && doc.Data != nil:
		return doc.Version, doc.Data, nil
	default:
		return 0, nil, fmt.Errorf("keyring: key ring file %s holds no ring; it is left as it is", s.path)
	}
}

// writeFile replaces the file at path with content: a temporary file in the
// same directory, readable by its owner only, synced, renamed over path; then
// the directory is synced, so that the rename survives a crash.
func writeFile(path string, content []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}
