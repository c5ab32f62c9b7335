package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/powersync-jwks/jwks"
)

// maxKeyFileSize bounds what is read from a key file; a key is a few
// kilobytes at most.
const maxKeyFileSize = 1 << 20

// loadKeyFile returns the signing key kept in the file at path, and makes
// one first when there is no file: a new ES256 key, written as a private
// JWK to a file readable by its owner only. created says which happened.
//
// The file is written atomically: the key goes to a temporary file beside
// path, which is then linked to path, so that a reader never sees half a
// key and two servers starting at once agree on one key (the second reads
// the file the first made).
//
// An existing file that others may read or write, or that holds no usable
// signing key, is refused with a *configError.
func loadKeyFile(path string) (key *jwks.Key, created bool, err error) {
	key, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = jwks.GenerateKey(jwks.ES256)
	if err != nil {
		return nil, false, fmt.Errorf("making a signing key: %w", err)
	}
	data, err := key.MarshalPrivate(jwks.FormatJWK)
	if err != nil {
		return nil, false, fmt.Errorf("encoding the signing key: %w", err)
	}
	err = createFile(path, append(data, '\n'))
	if errors.Is(err, fs.ErrExist) { // another server made it first: use theirs
		key, err = readKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("writing the key file: %w", err)
	}
	return key, true, nil
}

// readKeyFile reads the signing key of a key file. A missing file gives an
// error wrapping fs.ErrNotExist.
func readKeyFile(path string) (*jwks.Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, configErrorf("key file %s is not a regular file", path)
	}
	// Windows has no such permission bits; its ACLs are the user's to set.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, configErrorf("key file %s may be read or written by others (mode %04o): run chmod 600 %s, "+
			"or delete it to make a new key", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, configErrorf("key file %s is larger than %d bytes: it is not a key", path, maxKeyFileSize)
	}
	key, err := jwks.ParseKey(data)
	if err != nil {
		return nil, configErrorf("key file %s: %s", path, reason(err))
	}
	if !key.CanSign() {
		return nil, configErrorf("key file %s holds a public key (kid %q), not a signing key", path, key.KeyID())
	}
	return key, nil
}

// createFile writes data to a new file at path, readable and writable by
// its owner only, atomically. It fails with an error wrapping fs.ErrExist
// when path exists.
func createFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a link, only the temporary name goes
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A hard link, unlike a rename, never replaces a file that another
	// process has made in the meantime. Where there are no hard links, a
	// rename after a last look is the best there is.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		if _, serr := os.Lstat(path); serr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir flushes a directory's entries to disk, so that a new file survives
// a crash; where directories cannot be synced it does nothing.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
