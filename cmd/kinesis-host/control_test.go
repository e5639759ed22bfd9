package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/control"
)

// ctlHost is a fake control.Host.
type ctlHost struct {
	mu      sync.Mutex
	calls   []string
	rewinds []control.RewindRequest
	status  control.Status
}

func (h *ctlHost) call(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *ctlHost) Status(context.Context) (control.Status, error) { return h.status, nil }

func (h *ctlHost) Pause(_ context.Context, stream, shard string) error {
	if stream != "orders" {
		return fmt.Errorf("%w: %q; this host runs orders", control.ErrNoSuchStream, stream)
	}
	h.call("pause " + stream + " " + shard)
	return nil
}

func (h *ctlHost) Resume(_ context.Context, stream, shard string) error {
	h.call("resume " + stream + " " + shard)
	return nil
}

func (h *ctlHost) Rewind(_ context.Context, r control.RewindRequest) (control.RewindResult, error) {
	h.mu.Lock()
	h.rewinds = append(h.rewinds, r)
	h.mu.Unlock()
	return control.RewindResult{Stream: r.Stream, DryRun: r.DryRun, Shards: []control.ShardRewind{
		{Shard: "shardId-000000000000", From: control.Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}, To: "AT_TIMESTAMP " + r.To.String(), Moves: true, Applied: !r.DryRun},
		{Shard: "shardId-000000000001", From: control.Checkpoint{ShardEnd: true}, To: "SHARD_END", Note: "ended before that time: unchanged"},
	}}, nil
}

// ctlEnv writes a config file in a fresh folder and, with a host, serves
// its control socket.
func ctlEnv(t *testing.T, h control.Host) (config string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	config = filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(config, []byte("app = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h != nil {
		s, err := control.Serve(context.Background(), control.SocketPath(control.DataDir(dir)), h, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
	}
	return config
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func sampleCtlStatus() control.Status {
	return control.Status{
		Version: "v9", PID: 4242, WorkerID: "w-1", UptimeSeconds: 3725,
		Plugins: []control.PluginStatus{{Name: "example", Kind: "handler", PID: 99, Up: true, Restarts: 2}},
		Streams: []control.StreamStatus{{Name: "orders", Handler: "example", Checkpoint: "local", Shards: []control.ShardStatus{
			{ID: "shardId-000000000000", State: control.StateReading, Checkpoint: control.Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", SubSequenceNumber: 2},
				LagSeconds: 75, LastBatch: time.Now().Add(-3 * time.Second), RecordsDelivered: 10, PluginPID: 99, PluginRestarts: 2, Owner: "w-1"},
			{ID: "shardId-000000000001", State: control.StateFailing, LagSeconds: control.LagUnknown, Error: "handler: boom"},
		}}},
	}
}

func TestStatusCommand(t *testing.T) {
	h := &ctlHost{status: sampleCtlStatus()}
	config := ctlEnv(t, h)
	code, out, errs := runCLI("status", "-config", config)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"kinesis-host v9, pid 4242, worker w-1, up 1h02m",
		"STREAM  SHARD", "orders  shardId-000000000000  reading",
		"…9136588898/2", "1m15s", "3.0s ago", "w-1", "99/2",
		"shardId-000000000001  failing", "never", "-/0",
		"orders shardId-000000000001 (failing): handler: boom",
		"example  handler  99   yes  2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	code, out, errs = runCLI("status", "-config", config, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("-json is not JSON: %v\n%s", err, out)
	}
	if st.Streams[0].Shards[0].Checkpoint != h.status.Streams[0].Shards[0].Checkpoint || st.Streams[0].Shards[1].LagSeconds != control.LagUnknown {
		t.Errorf("-json: %+v", st.Streams[0].Shards)
	}
}

func TestPauseResumeCommands(t *testing.T) {
	h := &ctlHost{}
	config := ctlEnv(t, h)
	code, out, errs := runCLI("pause", "-config", config, "-stream", "orders")
	if code != 0 || !strings.Contains(out, "paused stream orders, every shard") || !strings.Contains(out, "kinesis-host resume -config "+config+" -stream orders") {
		t.Errorf("pause: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI("resume", "-config", config, "-stream", "orders", "-shard", "shardId-000000000001")
	if code != 0 || !strings.Contains(out, "resumed shard shardId-000000000001 of stream orders") {
		t.Errorf("resume: exit %d\n%s%s", code, out, errs)
	}
	if got := strings.Join(h.calls, "|"); got != "pause orders |resume orders shardId-000000000001" {
		t.Errorf("calls %q", got)
	}
	code, _, errs = runCLI("pause", "-config", config, "-stream", "nope")
	if code != 1 || !strings.Contains(errs, `no such stream: "nope"; this host runs orders`) || !strings.Contains(errs, "kinesis-host status") {
		t.Errorf("unknown stream: exit %d: %s", code, errs)
	}
	code, _, errs = runCLI("pause", "-config", config)
	if code != 2 || !strings.Contains(errs, "needs -stream") {
		t.Errorf("no -stream: exit %d: %s", code, errs)
	}
	code, _, _ = runCLI("resume", "-config", config, "-stream", "orders", "extra")
	if code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestRewindCommand(t *testing.T) {
	h := &ctlHost{}
	config := ctlEnv(t, h)
	code, out, errs := runCLI("rewind", "-config", config, "-stream", "orders", "-to", "2026-01-02T03:04:05Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"would move", "ended before that time: unchanged", "Dry run: nothing was changed",
		"kinesis-host rewind -config " + config + " -stream orders -to 2026-01-02T03:04:05Z -apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = runCLI("rewind", "-config", config, "-stream", "orders", "-shard", "shardId-000000000000", "-to", "trim_horizon", "-apply")
	if code != 0 || !strings.Contains(out, "moved") || !strings.Contains(out, "Moved 1 of 2 shard(s)") {
		t.Errorf("apply: exit %d\n%s%s", code, out, errs)
	}
	if len(h.rewinds) != 2 || !h.rewinds[0].DryRun || h.rewinds[1].DryRun || h.rewinds[1].Shard != "shardId-000000000000" || h.rewinds[1].To.Kind != control.TargetTrimHorizon {
		t.Errorf("host got %+v", h.rewinds)
	}
	for _, tc := range []struct{ to, says string }{
		{"", "rewind needs -to"},
		{"yesterday", "not understood"},
		{"2026-01-02", "2026-01-02T00:00:00Z"},
		{time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "in the future"},
	} {
		args := []string{"rewind", "-config", config, "-stream", "orders"}
		if tc.to != "" {
			args = append(args, "-to", tc.to)
		}
		code, _, errs := runCLI(args...)
		if code != 2 || !strings.Contains(errs, tc.says) {
			t.Errorf("-to %q: exit %d: %s", tc.to, code, errs)
		}
	}
	if len(h.rewinds) != 2 {
		t.Error("an invalid rewind reached the host")
	}
}

func TestControlNoHost(t *testing.T) {
	config := ctlEnv(t, nil)
	dataDir := filepath.Join(filepath.Dir(config), "data")
	code, _, errs := runCLI("status", "-config", config)
	if code != 1 || !strings.Contains(errs, "no kinesis-host is running with data directory "+dataDir) || !strings.Contains(errs, "kinesis-host run -config "+config) {
		t.Errorf("status: exit %d: %s", code, errs)
	}
	code, _, errs = runCLI("rewind", "-config", config, "-stream", "orders", "-to", "LATEST")
	// With no host, rewind goes to the store itself: this config is
	// refused (no stream block) with its diagnostics, nothing changed.
	if code != 1 || !strings.Contains(errs, "No host is running") && !strings.Contains(errs, "nothing was changed") {
		t.Errorf("rewind: exit %d: %s", code, errs)
	}
	code, _, errs = runCLI("status", "-config", filepath.Join(filepath.Dir(config), "other.hcl"))
	if code != 1 || !strings.Contains(errs, "pass -config with the file the host was started with") {
		t.Errorf("missing config: exit %d: %s", code, errs)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		sec  float64
		want string
	}{{0.25, "0.2s"}, {12, "12s"}, {245, "4m05s"}, {3725, "1h02m"}, {200000, "2d07h"}} {
		if got := fmtDuration(tc.sec); got != tc.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tc.sec, got, tc.want)
		}
	}
	if got := shortCheckpoint(control.Checkpoint{SequenceNumber: "123"}); got != "123" {
		t.Errorf("short: %q", got)
	}
	if got := shortCheckpoint(control.Checkpoint{}); got != "none" {
		t.Errorf("none: %q", got)
	}
}
