//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package control

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// maxSocketPath is the longest unix socket path bind and connect accept
// (sun_path less its terminating NUL).
var maxSocketPath = func() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}()

// tryLock takes an exclusive flock on f without waiting; held is true when
// another open file (another host, or another Server in this process)
// holds it.
func tryLock(f *os.File) (held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// checkOwner refuses a data directory of another user: its owner could
// replace the socket with one of their own.
func checkOwner(dir string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("the data directory %s belongs to user id %d, not to this host's user (%d): run the host as the directory's owner, or give it a config in a folder of its own user", dir, st.Uid, uid)
	}
	if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("the data directory %s is writable by every user, who could replace the control socket: chmod o-w %s", dir, dir)
	}
	return nil
}

// isSocket reports whether fi is a unix socket.
func isSocket(fi os.FileInfo) bool { return fi.Mode()&os.ModeSocket != 0 }
