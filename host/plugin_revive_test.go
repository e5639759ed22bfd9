package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// supCrashyConfig: stream "s" read by handler "h" (the binary at bin, with
// on_exhausted = "continue" and otherwise the default restart budget), and
// checkpoint store "cp" (the flaky store with down_file).
func supCrashyConfig(dir, bin, out, handlerCfg string) string {
	return testHCL{Handler: "h", Plugin: "crashy", HandlerBlock: fmt.Sprintf("path   = %q\n  restart { on_exhausted = \"continue\" }", bin),
		HandlerConfig: recorderConfig(out, handlerCfg)}.render(dir)
}

// TestSpentBudgetRevived: a handler whose restart budget (the default one,
// with on_exhausted = "continue") is spent serves again, without a host
// restart, after a fixed binary is dropped in (hot swap) or after a SIGHUP
// with a fixed config (Reload). Its stream starts again and nothing is
// lost.
func TestSpentBudgetRevived(t *testing.T) {
	supTestPlugins(t)
	for _, via := range []string{"FixedBinary", "Reload"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			f := kinesisfake.New()
			_ = f.CreateStream("s", 1)
			dir := t.TempDir()
			bin := filepath.Join(dir, "kinesis-handler-crashy")
			out := filepath.Join(dir, "out.jsonl")
			broken, handlerCfg := "crashy-broken", ""
			if via == "Reload" {
				// The recorder crashing on every batch by config.
				broken, handlerCfg = "kinesis-handler-recorder", "exit_always = true"
			}
			b, err := os.ReadFile(filepath.Join(bins.PluginDir, broken))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin, b, 0o755); err != nil {
				t.Fatal(err)
			}
			s := supStart(t, f, dir, supCrashyConfig(dir, bin, out, handlerCfg))
			for i := 0; i < 5; i++ {
				supPut(t, f, "s", fmt.Sprintf("r%d", i))
			}
			s.waitLog("exhausted its restart budget", 1, 2*time.Minute)
			s.waitLog("no stream is running", 1, 10*time.Second)
			time.Sleep(time.Second)
			s.running()
			if via == "FixedBinary" {
				fixed, err := os.ReadFile(filepath.Join(bins.PluginDir, "crashy-fixed"))
				if err != nil {
					t.Fatal(err)
				}
				supReplace(t, bin, fixed) // found by the binary poll
			} else {
				if err := s.h.Reload(context.Background(), parseTestConfig(t, dir, supCrashyConfig(dir, bin, out, ""))); err != nil {
					t.Fatalf("Reload: %v", err)
				}
			}
			for i := 0; i < 5; i++ {
				supWaitData(t, s, out, fmt.Sprintf("r%d", i), time.Minute)
			}
			supPut(t, f, "s", "after")
			supWaitData(t, s, out, "after", 30*time.Second)
			s.h.Drain()
			select {
			case err := <-s.done:
				if err != nil {
					t.Fatalf("Run = %v after the stream was revived, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the host did not stop")
			}
			if !strings.Contains(s.log.String(), "serving again") && via == "FixedBinary" {
				t.Error("the log does not say the plugin serves again")
			}
		})
	}
}

// supFlakyConfig: stream "s" read by the recorder, checkpointed in the
// flaky store whose backend is down while down exists. Default restart
// budget and call timeouts.
func supFlakyConfig(dir, out, down string) string {
	return testHCL{HandlerConfig: fmt.Sprintf("out = %q", out),
		Checkpoint: fmt.Sprintf("plugin = \"flakystore\"\n  config {\n    path      = %q\n    down_file = %q\n  }", filepath.Join(dir, "cp.db"), down)}.render(dir)
}

// TestCheckpointBackendDownAtStart: a checkpoint backend that is
// unreachable when the host starts is waited for (logged once, not once
// per retry), not a start failure (it used to end Run at once).
func TestCheckpointBackendDownAtStart(t *testing.T) {
	supTestPlugins(t)
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	dir := t.TempDir()
	out, down := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "down")
	if err := os.WriteFile(down, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	supPut(t, f, "s", "one")
	s := supStart(t, f, dir, supFlakyConfig(dir, out, down))
	s.waitLog("backend unavailable", 1, 30*time.Second)
	time.Sleep(6 * time.Second) // several retries
	s.running()
	_ = os.Remove(down)
	s.waitLog("backend available again", 1, 30*time.Second)
	supWaitData(t, s, out, "one", 30*time.Second)
	s.h.Drain()
	if err := <-s.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	log := s.log.String()
	if n := strings.Count(log, "backend unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if strings.Contains(log, "restart budget is exhausted") || s.h.Stats().PluginRestarts != 0 {
		t.Errorf("the outage counted as plugin failures")
	}
}

// TestCheckpointBackendOutageWhileRunning: the backend goes away while the
// host runs and the store plugin dies during the outage: Set and Get
// answers "unavailable" are no plugin failures, the restarted plugin's
// Configure is retried with backoff without spending the (default)
// restart budget, the outage is logged once, and checkpoints are written
// again once the backend is back. Nothing is lost.
func TestCheckpointBackendOutageWhileRunning(t *testing.T) {
	supTestPlugins(t)
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	dir := t.TempDir()
	out, down := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "down")
	s := supStart(t, f, dir, supFlakyConfig(dir, out, down))
	supPut(t, f, "s", "one")
	supWaitData(t, s, out, "one", 30*time.Second)
	if err := os.WriteFile(down, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	supPut(t, f, "s", "two")
	supWaitData(t, s, out, "two", 30*time.Second)
	s.waitLog("checkpoint write failed", 1, 30*time.Second)
	// The store process dies during the outage.
	pid := supPluginPID(t, "kinesis-checkpoint-flakystore", dir)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	s.waitLog("backend unavailable", 1, 30*time.Second)
	time.Sleep(12 * time.Second) // > 5 Configure retries: more than the default budget allows
	s.running()
	_ = os.Remove(down)
	s.waitLog("backend available again", 1, 30*time.Second)
	supPut(t, f, "s", "three")
	supWaitData(t, s, out, "three", 30*time.Second)
	s.h.Drain()
	if err := <-s.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	log := s.log.String()
	if n := strings.Count(log, "backend unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if st := s.h.Stats(); st.PluginRestarts != 1 {
		t.Errorf("%d plugin restarts, want 1 (the kill)", st.PluginRestarts)
	}
	if strings.Contains(log, "restart budget is exhausted") {
		t.Error("the outage spent the restart budget")
	}
	for shard, last := range lastSeqs(f) {
		r := &rig{t: t, cpPath: filepath.Join(dir, "cp.db")}
		if cp := r.checkpoint(shard); cp.SequenceNumber != last {
			t.Errorf("shard %s: final checkpoint %+v, want the last record %s", shard, cp, last)
		}
	}
}

// supPluginPID finds the plugin process named name that this test process
// started with working directory dir.
func supPluginPID(t testing.TB, name, dir string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if strings.Contains(string(cmdline), name) && cwd == dir {
			return pid
		}
	}
	t.Fatalf("no %s process in %s", name, dir)
	return 0
}
