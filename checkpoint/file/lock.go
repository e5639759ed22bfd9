package file

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// LockPath is the lock file of the checkpoint file at path: the store
// holds an exclusive flock on it for as long as it has the file open.
func LockPath(path string) string { return path + ".lock" }

// fileLock is a held lock file.
type fileLock struct {
	path string
	f    *os.File
}

// holder is who holds a lock file, as it wrote there (0: unknown).
type holder struct{ pid, hostPID int }

// lockRetry is how often acquire tries again while the lock is held.
const lockRetry = 50 * time.Millisecond

// acquire takes the lock of the checkpoint file at path, trying again for
// up to timeout while another process holds it (a plugin of the same host
// that was just stopped may not be gone yet), and records this process and
// its host in the lock file.
func acquire(path string, timeout time.Duration) (*fileLock, error) {
	lp := LockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, sdk.ConfigError("path", "cannot create the lock file %s next to the checkpoint file: %v; make the folder writable or choose another path", lp, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		held, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, sdk.ConfigError("path", "cannot lock %s: %v; put the checkpoint file on a local file system that supports flock", lp, err)
		}
		if !held {
			break
		}
		if !time.Now().Before(deadline) {
			_ = f.Close()
			return nil, heldError(path, readHolder(lp))
		}
		time.Sleep(lockRetry)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "pid=%d host_pid=%d\n", os.Getpid(), os.Getppid())
	}
	return &fileLock{path: lp, f: f}, nil
}

// release gives the lock up (a process that exits releases it too).
func (l *fileLock) release() {
	if l == nil {
		return
	}
	_ = unlock(l.f)
	_ = l.f.Close()
}

// probe reports whether another process holds the lock of the checkpoint
// file at path, without creating the lock file or keeping the lock.
func probe(path string) (held bool, h holder) {
	lp := LockPath(path)
	f, err := os.Open(lp)
	if err != nil {
		return false, holder{}
	}
	defer f.Close()
	held, err = tryLock(f)
	if err != nil {
		return false, holder{}
	}
	if !held {
		_ = unlock(f)
		return false, holder{}
	}
	return true, readHolder(lp)
}

func readHolder(lp string) holder {
	var h holder
	b, err := os.ReadFile(lp)
	if err != nil {
		return h
	}
	for _, field := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(field, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch k {
		case "pid":
			h.pid = n
		case "host_pid":
			h.hostPID = n
		}
	}
	return h
}

// heldError is Configure's answer when another process holds the lock.
func heldError(path string, h holder) error {
	who := "another kinesis-host process"
	if h.hostPID > 1 {
		who = fmt.Sprintf("another kinesis-host process (pid %d)", h.hostPID)
	}
	return sdk.ConfigError("path", "%s uses this checkpoint file (%s); the file store is single-host — use redis, postgres or dynamodb (which coordinate leases) to run several hosts, or give each host its own path", who, path)
}
