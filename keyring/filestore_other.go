//go:build !unix

package keyring

import (
	"context"
	"errors"
	"io/fs"
)

// The file store needs flock(2) and Unix file ownership.

const openFlags = 0

var errNotUnix = errors.New("keyring: the file store needs a Unix system")

func checkOwner(string, fs.FileInfo) error { return errNotUnix }

func lockFile(context.Context, string) (func(), error) { return nil, errNotUnix }

func syncDir(string) error { return nil }
