package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

var (
	execRecOnce sync.Once
	execRec     string
	execRecErr  error
)

// execRecorder builds the recorder test handler once.
func execRecorder(t *testing.T) string {
	t.Helper()
	execRecOnce.Do(func() {
		dir, err := os.MkdirTemp("", "host-exec-test-")
		if err != nil {
			execRecErr = err
			return
		}
		b, err := testenv.BuildBinaries(dir, "kinesis-handler-recorder")
		execRec, execRecErr = filepath.Join(b.PluginDir, "kinesis-handler-recorder"), err
	})
	if execRecErr != nil {
		t.Fatal(execRecErr)
	}
	return execRec
}

func execBlock(t *testing.T, path, sum string) *PluginBlock {
	cfg, _ := json.Marshal(map[string]any{"out": filepath.Join(t.TempDir(), "out.jsonl")})
	return &PluginBlock{Kind: KindHandler, Name: "rec", Plugin: "recorder", Path: path, SHA256: sum,
		CallTimeout: 10 * time.Second, Config: cfg, Restart: cfgDefaults.Restart}
}

// TestExecRunsTheVerifiedBytes: a file renamed over the plugin binary
// after its sha256 was checked and before it is executed never runs: the
// start executes exactly the bytes that were verified, and so do restarts.
func TestExecRunsTheVerifiedBytes(t *testing.T) {
	rec := execRecorder(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "kinesis-handler-rec")
	good, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, good, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, _ := fileSHA256(bin)
	marker := filepath.Join(dir, "evil-ran")
	evil := []byte("#!/bin/sh\ntouch " + marker + "\nexec " + rec + "\n")
	var swaps atomic.Int32 // the process watch may restart the plugin meanwhile
	beforeExec = func(path string) {
		if path != bin {
			return
		}
		swaps.Add(1)
		tmp := bin + ".evil"
		_ = os.WriteFile(tmp, evil, 0o755)
		_ = os.Rename(tmp, bin)
	}
	defer func() { beforeExec = nil }()

	p := newPluginProc(execBlock(t, bin, sum), "test", dir, hclog.NewNullLogger())
	defer p.stop(3 * time.Second)
	inst, err := p.get(context.Background())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if swaps.Load() < 1 {
		t.Fatalf("the hook ran %d times", swaps.Load())
	}
	if inst.sha256 != sum {
		t.Fatalf("started bytes with sha256 %s, want the pinned %s", inst.sha256, sum)
	}
	// A restart (after a crash) runs the verified bytes again, not the file
	// that is now at the path.
	_ = syscall.Kill(inst.proc.pid, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		cur := p.cur
		p.mu.Unlock()
		if cur != nil && cur != inst {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not restarted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the file swapped in after verification was executed")
	}
	if swaps.Load() < 2 {
		t.Fatalf("the restart did not go through exec (%d execs)", swaps.Load())
	}
	// A fresh start (hot swap, reload) verifies the file now at the path,
	// and refuses it.
	if _, _, err := p.launch(context.Background(), p.block(), nil, false); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("fresh start of the swapped file: %v, want ErrChecksumMismatch", err)
	}
}

// TestKillGoesThroughTheProcessHandle: once the plugin process has exited
// and been reaped, killing the instance signals nothing (its pid may
// belong to another process by then).
func TestKillGoesThroughTheProcessHandle(t *testing.T) {
	rec := execRecorder(t)
	p := newPluginProc(execBlock(t, rec, ""), "test", t.TempDir(), hclog.NewNullLogger())
	defer p.stop(3 * time.Second)
	inst, _, err := p.launch(context.Background(), p.block(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(inst.proc.pid, syscall.SIGKILL)
	select {
	case <-inst.exited():
	case <-time.After(30 * time.Second):
		t.Fatal("the process watch did not see the exit")
	}
	if err := inst.proc.cmd.Process.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("the handle still reaches a process after reaping: %v", err)
	}
	hardKill(inst) // must not signal the (possibly reused) pid
}

// TestRestartDelay: no wait before the first restart after a healthy
// period; backoff from the second consecutive failure, capped.
func TestRestartDelay(t *testing.T) {
	pol := cfgDefaults.Restart
	if d := restartDelay(pol, 1); d != 0 {
		t.Errorf("first restart waits %s, want 0", d)
	}
	for n, want := range map[int]time.Duration{2: pol.Backoff, 3: 2 * pol.Backoff, 20: pol.MaxBackoff} {
		if d := restartDelay(pol, n); d < want*8/10 || d > want*12/10 {
			t.Errorf("restart after %d failures waits %s, want %s ±20%%", n, d, want)
		}
	}
}
