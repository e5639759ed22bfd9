//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package control

import "os"

// maxSocketPath is the longest socket path accepted (Windows AF_UNIX).
var maxSocketPath = 107

// tryLock never finds the lock held here: without flock, Serve relies on
// pinging the socket it finds.
func tryLock(f *os.File) (held bool, err error) { return false, nil }

// checkOwner has no portable owner to compare here.
func checkOwner(dir string, fi os.FileInfo) error { return nil }

// isSocket reports whether fi is a unix socket (Windows reports none).
func isSocket(fi os.FileInfo) bool { return fi.Mode()&os.ModeSocket != 0 || fi.Mode().IsRegular() }
