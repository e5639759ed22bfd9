package host_test

// Bad days of plugin supervision (issue 8): a plugin that dies while idle,
// hot swaps and reloads that must not take a working plugin down, spent
// restart budgets that can be revived, and checkpoint backends that are
// unavailable. Identifiers here start with sup.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

var (
	supBuildOnce sync.Once
	supBuildErr  error
)

// supTestPlugins builds the test plugins of this file into bins.PluginDir:
// kinesis-checkpoint-flakystore, and kinesis-handler-crashy in a broken
// (crashes on every batch) and a fixed build.
func supTestPlugins(t testing.TB) {
	t.Helper()
	supBuildOnce.Do(func() {
		for _, b := range []struct{ pkg, out, ldflags string }{
			{"./internal/testplugins/flakystore", "kinesis-checkpoint-flakystore", ""},
			{"./internal/testplugins/crashy", "crashy-fixed", ""},
			{"./internal/testplugins/crashy", "crashy-broken", "-X main.broken=yes"},
		} {
			cmd := exec.Command("go", "build", "-ldflags", b.ldflags, "-o", filepath.Join(bins.PluginDir, b.out), b.pkg)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				supBuildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if supBuildErr != nil {
		t.Fatal(supBuildErr)
	}
}

// supHost is one host run with a config given as text.
type supHost struct {
	t    testing.TB
	dir  string
	h    *host.Host
	done chan error
	log  *syncBuf
}

func supStart(t testing.TB, f *kinesisfake.Fake, dir, src string) *supHost {
	t.Helper()
	cfg := parseTestConfig(t, dir, src)
	s := &supHost{t: t, dir: dir, log: &syncBuf{}, done: make(chan error, 1)}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: s.log})
	h, err := host.New(cfg, host.Options{Logger: log, Kinesis: f, StatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	go func() { s.done <- h.Run(context.Background()) }()
	t.Cleanup(func() {
		h.Stop()
		<-h.Closed()
		if t.Failed() {
			l := s.log.String()
			if len(l) > 64<<10 {
				l = "…" + l[len(l)-64<<10:]
			}
			t.Logf("host log:\n%s", l)
		}
	})
	return s
}

// waitLog waits until the host log contains want n times.
func (s *supHost) waitLog(want string, n int, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(s.log.String(), want) < n {
		select {
		case err := <-s.done:
			s.t.Fatalf("host stopped (%v) while waiting for %q in its log", err, want)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the host log did not say %q (%d times) within %s", want, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *supHost) running() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.t.Fatalf("the host stopped: %v", err)
	default:
	}
}

// supDeliveries reads a recorder output file.
func supDeliveries(path string) []delivery {
	r := &rig{out: path}
	return r.deliveries()
}

// supWaitData waits until a record with data is in the recorder file at
// path and returns its delivery.
func supWaitData(t testing.TB, s *supHost, path, data string, d time.Duration) delivery {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, x := range supDeliveries(path) {
			if x.Data == data {
				return x
			}
		}
		if s != nil {
			s.running()
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %q was not delivered within %s", data, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func supPut(t testing.TB, f *kinesisfake.Fake, stream, data string) {
	t.Helper()
	sh := f.Shards(stream)[0]
	if _, err := f.PutRecordToShard(stream, *sh.ShardId, "k", []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func supAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// supRecorderConfig is one stream "s" read by the recorder "rec" into out,
// checkpointed in the file store; blockExtra goes into the handler block.
func supRecorderConfig(dir, out, recExtra, blockExtra string) string {
	return testHCL{HandlerBlock: blockExtra, HandlerConfig: recorderConfig(out, recExtra)}.render(dir)
}

// TestIdlePluginRestartedAtOnce: a handler SIGKILLed while no record is
// flowing is started again at once, before any record arrives (it used to
// stay dead until the next batch). The first restart after a healthy
// period has no backoff. Default restart settings.
func TestIdlePluginRestartedAtOnce(t *testing.T) {
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	s := supStart(t, f, dir, supRecorderConfig(dir, out, "", ""))
	for round := 1; round <= 2; round++ {
		data := fmt.Sprintf("before-kill-%d", round)
		supPut(t, f, "s", data)
		pid := supWaitData(t, s, out, data, 30*time.Second).PID
		s.waitLog("plugin is back", round-1, 10*time.Second)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// No record is put until the plugin is back: only the process
		// watch can restart it.
		s.waitLog("plugin is back", round, 30*time.Second)
		if got := s.h.Stats().PluginRestarts; got != round {
			t.Fatalf("round %d: %d plugin restarts, want %d", round, got, round)
		}
		after := fmt.Sprintf("after-kill-%d", round)
		supPut(t, f, "s", after)
		if d := supWaitData(t, s, out, after, 30*time.Second); d.PID == pid {
			t.Fatalf("round %d: delivered by the killed process %d", round, pid)
		}
	}
	if n := strings.Count(s.log.String(), "restarting plugin after backoff"); n != 0 {
		t.Errorf("%d restarts waited for backoff; the first restart after a healthy period must not", n)
	}
}

// TestHotSwapVerifiesBeforeStop: a replacement binary that fails its
// sha256 pin, or cannot start, is refused while the old process keeps
// serving (same pid, no restart, budget untouched); a good one is swapped
// in. Default restart budget.
func TestHotSwapVerifiesBeforeStop(t *testing.T) {
	recorder, err := os.ReadFile(filepath.Join(bins.PluginDir, "kinesis-handler-recorder"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		pinned bool
		bad    []byte
	}{
		{"ChecksumMismatch", true, append(append([]byte{}, recorder...), "tampered"...)},
		{"CannotStart", false, []byte("#!/bin/sh\necho not a plugin\nexit 1\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := kinesisfake.New()
			_ = f.CreateStream("s", 1)
			dir := t.TempDir()
			bin := filepath.Join(dir, "kinesis-handler-rec")
			if err := os.WriteFile(bin, recorder, 0o755); err != nil {
				t.Fatal(err)
			}
			extra := fmt.Sprintf("path = %q", bin)
			if tc.pinned {
				extra += fmt.Sprintf("\n  sha256 = %q", supSHA(t, bin))
			}
			out := filepath.Join(dir, "out.jsonl")
			s := supStart(t, f, dir, supRecorderConfig(dir, out, "", extra))
			supPut(t, f, "s", "one")
			pid := supWaitData(t, s, out, "one", 30*time.Second).PID

			supReplace(t, bin, tc.bad)
			s.h.SwapChangedBinaries() // what SIGHUP does; polling would too
			s.waitLog("hot swap refused", 1, 30*time.Second)
			supPut(t, f, "s", "two")
			if d := supWaitData(t, s, out, "two", 30*time.Second); d.PID != pid {
				t.Fatalf("after the refused swap, delivered by pid %d, want the old process %d", d.PID, pid)
			}
			if !supAlive(pid) {
				t.Fatal("the old process was stopped")
			}
			if st := s.h.Stats(); st.PluginRestarts != 0 {
				t.Fatalf("%d plugin restarts after a refused swap, want 0", st.PluginRestarts)
			}
			// Polling does not retry the refused binary every few seconds.
			time.Sleep(5 * time.Second)
			if n := strings.Count(s.log.String(), "hot swap refused"); n != 1 {
				t.Errorf("the refused binary was tried %d times, want 1", n)
			}
			if tc.pinned {
				return
			}
			// A good binary is swapped in: a new process serves.
			supReplace(t, bin, append(append([]byte{}, recorder...), "v2"...))
			s.waitLog("hot swap done", 1, 30*time.Second)
			supPut(t, f, "s", "three")
			if d := supWaitData(t, s, out, "three", 30*time.Second); d.PID == pid {
				t.Fatalf("after the swap, still delivered by the old process %d", pid)
			}
		})
	}
}

// supReplace puts content at path the way a deploy does: write beside it,
// rename over it.
func supReplace(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	// A distinct mtime even on coarse clocks.
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(tmp, later, later)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func supSHA(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// TestReloadWithBrokenBlockRefused: a reload adding a handler whose binary
// does not exist, or whose config {} the plugin rejects, is refused with
// diagnostics naming the block, and the running configuration carries on
// (it used to be accepted, and the host stopped). A good reload then works.
func TestReloadWithBrokenBlockRefused(t *testing.T) {
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	_ = f.CreateStream("s2", 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	out2 := filepath.Join(dir, "out2.jsonl")
	base := supRecorderConfig(dir, out, "", "")
	s := supStart(t, f, dir, base)
	supPut(t, f, "s", "one")
	pid := supWaitData(t, s, out, "one", 30*time.Second).PID

	second := func(plugin, cfg string) string {
		return base + fmt.Sprintf(`
stream "s2" {
  handler        = "rec2"
  checkpoint     = "cp"
  start_position = "TRIM_HORIZON"
  poll_interval  = "200ms"
}
handler "rec2" {
  plugin = %q
  config {
    out = %q
    %s
  }
}
`, plugin, out2, cfg)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"MissingBinary", second("nope", ""), "plugin binary not found"},
		{"RejectedConfig", second("recorder", `delay = "soon"`), "delay"},
	} {
		err := s.h.Reload(context.Background(), parseTestConfig(t, dir, tc.src))
		var re *host.ReloadError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "test.hcl:") {
			t.Fatalf("%s: Reload = %v, want a ReloadError naming %q at its line", tc.name, err, tc.want)
		}
		supPut(t, f, "s", "after-"+tc.name)
		if d := supWaitData(t, s, out, "after-"+tc.name, 30*time.Second); d.PID != pid {
			t.Fatalf("%s: the running handler was replaced (pid %d, was %d)", tc.name, d.PID, pid)
		}
	}
	time.Sleep(time.Second)
	s.running()
	if err := s.h.Reload(context.Background(), parseTestConfig(t, dir, second("recorder", ""))); err != nil {
		t.Fatalf("good reload: %v", err)
	}
	supPut(t, f, "s2", "on-s2")
	supWaitData(t, s, out2, "on-s2", 30*time.Second)
}

// TestFileStoreSwapAndReload: the file checkpoint store holds a lock only
// one process can have, so its new process cannot be configured beside the
// old one: a replaced binary and a reloaded block are swapped in place
// (after a ValidateOnly check), and checkpoints keep being written.
func TestFileStoreSwapAndReload(t *testing.T) {
	f, dir, out, store, storeBin, src := fileStoreSwapSetup(t)
	s := supStart(t, f, dir, src(""))
	cpAt := func(data string) {
		t.Helper()
		supPut(t, f, "s", data)
		supWaitData(t, s, out, data, 30*time.Second)
		s.h.Drain()
	}
	supPut(t, f, "s", "one")
	supWaitData(t, s, out, "one", 30*time.Second)

	supReplace(t, storeBin, append(append([]byte{}, store...), "v2"...))
	s.h.SwapChangedBinaries()
	s.waitLog("hot swap done", 1, 60*time.Second)
	if err := s.h.Reload(context.Background(), parseTestConfig(t, dir, src(`call_timeout = "9s"`))); err != nil {
		t.Fatalf("reload of the file store block: %v", err)
	}
	s.waitLog("hot swap done", 2, 10*time.Second)
	cpAt("two")
	if err := <-s.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	for shard, last := range lastSeqs(f) {
		r := &rig{t: t, cpPath: filepath.Join(dir, "cp.db")}
		if cp := r.checkpoint(shard); cp.SequenceNumber != last {
			t.Errorf("final checkpoint %+v, want %s", cp, last)
		}
	}
	if strings.Contains(s.log.String(), "plugin failed;") {
		t.Error("a swap was handled as a plugin failure")
	}
}

// TestFileStoreSwapUnderLoad: the file store (one process at a time may
// hold its lock) is swapped in place and reloaded while records flow and
// checkpoints are written. No restart of the old store may race the new
// one for the lock: both swaps succeed, nothing is handled as a failure,
// and the final checkpoint is the last record.
func TestFileStoreSwapUnderLoad(t *testing.T) {
	f, dir, out, store, storeBin, src := fileStoreSwapSetup(t)
	s := supStart(t, f, dir, src(""))
	stop := make(chan struct{})
	produced := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				produced <- n
				return
			case <-time.After(5 * time.Millisecond):
			}
			supPut(t, f, "s", fmt.Sprintf("r%d", n))
			n++
		}
	}()
	supWaitData(t, s, out, "r10", 30*time.Second)
	supReplace(t, storeBin, append(append([]byte{}, store...), "v2"...))
	s.h.SwapChangedBinaries()
	s.waitLog("hot swap done", 1, 60*time.Second)
	if err := s.h.Reload(context.Background(), parseTestConfig(t, dir, src(`call_timeout = "9s"`))); err != nil {
		t.Fatalf("reload of the file store block: %v", err)
	}
	s.waitLog("hot swap done", 2, 30*time.Second)
	close(stop)
	n := <-produced
	supWaitData(t, s, out, fmt.Sprintf("r%d", n-1), 30*time.Second)
	s.h.Drain()
	if err := <-s.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	for shard, last := range lastSeqs(f) {
		r := &rig{t: t, cpPath: filepath.Join(dir, "cp.db")}
		if cp := r.checkpoint(shard); cp.SequenceNumber != last {
			t.Errorf("final checkpoint %+v, want %s", cp, last)
		}
	}
	if log := s.log.String(); strings.Contains(log, "plugin failed;") || strings.Contains(log, "hot swap failed") {
		t.Error("a swap under load failed or was handled as a plugin failure")
	}
}

// fileStoreSwapSetup is a stream "s" read by the recorder into out and
// checkpointed by a private copy of the file store at storeBin (its bytes
// in store), so a test can replace the binary; src renders the config with
// extra lines in the checkpoint block.
func fileStoreSwapSetup(t *testing.T) (*kinesisfake.Fake, string, string, []byte, string, func(extra string) string) {
	t.Helper()
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	dir := t.TempDir()
	storeBin := filepath.Join(dir, "kinesis-checkpoint-file")
	store, err := os.ReadFile(filepath.Join(bins.PluginDir, "kinesis-checkpoint-file"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storeBin, store, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	src := func(extra string) string {
		return strings.Replace(supRecorderConfig(dir, out, "", ""), `  plugin = "file"`,
			fmt.Sprintf("  plugin = \"file\"\n  path = %q\n  %s", storeBin, extra), 1)
	}
	return f, dir, out, store, storeBin, src
}
