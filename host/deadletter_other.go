//go:build !unix

package host

import (
	"fmt"
	"os"
)

// openPrivateAppend opens path for appending, refusing a symbolic link in
// its place. (Without O_NOFOLLOW the check and the open are two steps.)
func openPrivateAppend(path string) (f *os.File, created bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return nil, false, fmt.Errorf("dead_letter file %s is a symbolic link; dead letters are never written through a link: remove the link, or name the real file in dead_letter { file = ... }", path)
	case err == nil && !fi.Mode().IsRegular():
		return nil, false, fmt.Errorf("dead_letter file %s is not a regular file: name a plain file in dead_letter { file = ... }", path)
	}
	created = os.IsNotExist(err)
	f, err = os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	return f, created, nil
}

// syncDir is a no-op where folders cannot be fsync'd.
func syncDir(string) error { return nil }
