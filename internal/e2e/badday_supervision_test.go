package e2e

// Bad days of plugin supervision with the real binary (issue 8): a SIGHUP
// whose config adds a broken handler block, and a replacement binary that
// fails its sha256 pin, must both leave the running handler serving.
// Identifiers here start with bd.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBadDayReloadAndSwapKeepServing: while records flow, (1) a SIGHUP
// with a config that adds a stream whose handler binary does not exist is
// refused with the block's position, and (2) a recorder binary renamed into
// the plugin dir that does not match the pinned sha256 is refused by the
// hot swap. The old recorder process keeps delivering throughout (no
// restart, no failure), nothing is lost or duplicated, and SIGTERM exits 0.
// Default restart budget.
func TestBadDayReloadAndSwapKeepServing(t *testing.T) {
	e := newEnv(t, 2)
	pd := svPrivatePluginDir(t)
	recBin := filepath.Join(pd, "kinesis-handler-recorder")
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := svOneStream("", "  sha256 = \""+svFileSHA256(t, recBin)+"\"\n", map[string]any{"out": out})
	cfg.pluginDir = pd
	path := e.svWriteConfig("badday", cfg)
	prod := e.svStartProducer(streamName, "", 10, 100*time.Millisecond)
	h := e.startHost(path)
	d := newDeliveries(t, out)
	waitFor(t, time.Minute, h, "100 deliveries", func() bool { d.poll(); return len(d.all) >= 100 })
	pid := d.all[len(d.all)-1].PID

	// (1) SIGHUP with a broken block added.
	broken := cfg
	broken.streams = append(append([]svStream{}, cfg.streams...), svStream{name: streamName + "-2", handler: "ghost"})
	broken.handlers = append(append([]svHandler{}, cfg.handlers...), svHandler{label: "ghost", extra: "  path = \"" + filepath.Join(pd, "kinesis-handler-ghost") + "\"\n",
		recorder: map[string]any{"out": out + ".ghost"}})
	if err := os.WriteFile(path, []byte(e.svText(broken)), 0o644); err != nil {
		t.Fatal(err)
	}
	h.signal(syscall.SIGHUP)
	waitFor(t, time.Minute, h, "the reload to be refused", func() bool {
		return strings.Contains(h.log(), "reload refused") && strings.Contains(h.log(), "plugin binary not found")
	})
	if !strings.Contains(h.log(), "badday.hcl:") {
		t.Errorf("the refusal does not point at the block in badday.hcl")
	}
	at := d.distinct()
	waitFor(t, time.Minute, h, "deliveries after the refused reload", func() bool { d.poll(); return d.distinct() >= at+100 })

	// (2) A binary that fails the pin is renamed over the recorder.
	tampered, err := os.ReadFile(recBin)
	if err != nil {
		t.Fatal(err)
	}
	tmp := recBin + ".new"
	if err := os.WriteFile(tmp, append(tampered, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, recBin); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, h, "the hot swap to be refused", func() bool { return strings.Contains(h.log(), "hot swap refused") })
	at = d.distinct()
	waitFor(t, time.Minute, h, "deliveries after the refused swap", func() bool { d.poll(); return d.distinct() >= at+100 })

	recs := prod.stop()
	d.waitAll(time.Minute, h, recs)
	if code := h.wait0(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	d.poll()
	svCheckExactlyOnce(t, recs, d.all)
	for _, x := range d.all {
		if x.PID != pid {
			t.Fatalf("a delivery came from pid %d: the running recorder (pid %d) was replaced or restarted", x.PID, pid)
		}
	}
	log := h.log()
	// The host's own failure lines ("plugin failed; …", "plugin failed and
	// its restart budget…"), not go-plugin's shutdown warning "plugin
	// failed to exit gracefully", which a plugin that exits before
	// answering Quit prints at SIGTERM.
	if strings.Contains(log, "plugin failed;") || strings.Contains(log, "plugin failed and") || strings.Contains(log, "restarting plugin") {
		t.Errorf("the refused reload or swap was handled as a plugin failure")
	}
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// wait0 is SIGTERM and the exit code.
func (h *hostProc) wait0(t testing.TB) int {
	t.Helper()
	h.signal(syscall.SIGTERM)
	return h.wait(30 * time.Second)
}
