package host

import (
	"os/exec"
	"runtime"
	"syscall"

	plugin "github.com/hashicorp/go-plugin"
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
