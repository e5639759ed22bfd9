package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	plugin "github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
)

// setParentDeathSignal makes the kernel SIGKILL the plugin when the host
// dies, even by SIGKILL, so plugins never linger as orphans.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: false}
}

// The parent-death signal fires when the *thread* that forked the child
// exits (golang/go#27505), so every plugin is forked from one goroutine
// locked to an OS thread that lives as long as the host.
var spawnReq = make(chan spawnJob)

type spawnJob struct {
	cfg  *plugin.ClientConfig
	done chan spawnResult
}

type spawnResult struct {
	c   *plugin.Client
	err error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for j := range spawnReq {
			c := plugin.NewClient(j.cfg)
			_, err := c.Start()
			j.done <- spawnResult{c, err}
		}
	}()
}

// spawn starts the plugin process and completes the handshake.
func spawn(cfg *plugin.ClientConfig) (*plugin.Client, error) {
	j := spawnJob{cfg: cfg, done: make(chan spawnResult, 1)}
	spawnReq <- j
	r := <-j.done
	return r.c, r.err
}

// loadImage reads the plugin binary at path once, hashing exactly the bytes
// it copies into a sealed memfd (no write, grow or shrink is possible any
// more, not even by the host). Every start of the plugin executes that
// memfd, so the sha256 pin holds at exec time: a file renamed into
// plugin_dir after the check never runs.
func loadImage(path string) (*binImage, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("kinesis-plugin", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	rw := os.NewFile(uintptr(fd), "memfd:kinesis-plugin")
	defer rw.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(rw, h), src); err != nil {
		return nil, fmt.Errorf("copying %s: %w", path, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return nil, fmt.Errorf("sealing the copy of %s: %w", path, err)
	}
	// Keep only a read-only descriptor: the child gets it as fd 3.
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return nil, fmt.Errorf("reopening the copy of %s (is /proc mounted?): %w", path, err)
	}
	return &binImage{src: path, sum: hex.EncodeToString(h.Sum(nil)), id: statID(fi), f: ro}, nil
}

// command is an unstarted command that executes the image.
func (im *binImage) command() *exec.Cmd {
	cmd := exec.Command("/proc/self/fd/3")
	cmd.Args[0] = im.src
	cmd.ExtraFiles = []*os.File{im.f}
	return cmd
}

// close releases the image (running processes keep their own reference).
func (im *binImage) close() {
	if im != nil && im.f != nil {
		_ = im.f.Close()
	}
}
