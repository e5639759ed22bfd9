//go:build unix

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openPrivateAppend opens path for appending (and reading its last byte):
// O_CREAT|O_EXCL with mode 0600 when it does not exist, else an existing
// file, in both cases with O_NOFOLLOW so a symbolic link in its place is
// refused rather than followed. An existing file must be a regular file
// owned by this user with no group or other permissions.
func openPrivateAppend(path string) (f *os.File, created bool, err error) {
	flags := os.O_RDWR | os.O_APPEND | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	f, err = os.OpenFile(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		created = true
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, flags, 0)
	}
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, false, fmt.Errorf("dead_letter file %s is a symbolic link; dead letters are never written through a link (it could point anywhere): remove the link, or name the real file in dead_letter { file = ... }", path)
		}
		return nil, false, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	if err := checkPrivate(path, f); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, created, nil
}

// checkPrivate refuses a dead-letter file that is not a regular file, is
// owned by another user, or that others may read or write (dead letters
// hold record data, and replay feeds them back into handlers).
func checkPrivate(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("dead_letter file %s is not a regular file (%s): name a plain file in dead_letter { file = ... }", path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("dead_letter file %s belongs to user id %d, not to this process's user (%d): dead letters must go to a file of this user; remove it or choose another path", path, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("dead_letter file %s has mode %04o: it holds record data and is fed back into handlers by replay, so only its owner may read or write it: chmod 600 %s", path, perm, path)
	}
	return nil
}

// syncDir fsyncs a folder, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
