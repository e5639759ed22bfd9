package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

var (
	baddayOnce sync.Once
	baddayErr  error
)

// buildBadday builds testdata/badday as kinesis-handler-badday into the
// plugin folder of TestMain's binaries.
func buildBadday(t *testing.T) {
	t.Helper()
	baddayOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bins.PluginDir, "kinesis-handler-badday"), "./testdata/badday").CombinedOutput()
		if err != nil {
			baddayErr = fmt.Errorf("go build ./testdata/badday: %v\n%s", err, out)
		}
	})
	if baddayErr != nil {
		t.Fatal(baddayErr)
	}
}

// baddayConfig is a config with stream "s" served by the badday handler;
// handlerBlock goes into the handler block, pluginCfg into its config {}.
func baddayConfig(t *testing.T, dir, handlerBlock, pluginCfg string) *host.Config {
	t.Helper()
	buildBadday(t)
	return parseTestConfig(t, dir, testHCL{Handler: "bad", Plugin: "badday", HandlerBlock: handlerBlock, HandlerConfig: pluginCfg}.render(dir))
}

// jsonLines reads a JSON-lines file into maps (nil when it does not exist).
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func letterLine(t *testing.T, shard, seq, data string) string {
	t.Helper()
	b, err := json.Marshal(host.DeadLetter{App: "test", Stream: "s", ShardID: shard, SequenceNumber: seq, PartitionKey: "k",
		Data: []byte(data), Handler: "bad", ErrorCode: "handler", Error: "poison", Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type replayRun struct {
	rep   host.ReplayReport
	err   error
	log   string
	out   []map[string]any // acknowledged records
	calls []map[string]any // HandleBatch calls
}

// replay runs host.Replay of the dead-letter file content through the
// badday handler.
func replay(t *testing.T, content, handlerBlock, pluginCfg string) (replayRun, string) {
	t.Helper()
	dir := t.TempDir()
	out, calls := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "calls.jsonl")
	cfg := baddayConfig(t, dir, handlerBlock, fmt.Sprintf("out = %q\n    calls_out = %q\n    %s", out, calls, pluginCfg))
	dlq := filepath.Join(dir, "dlq.jsonl")
	if err := os.WriteFile(dlq, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := &syncBuf{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: buf})
	// Bounded so that a replay that never ends fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := host.Replay(ctx, cfg, dlq, log)
	r := replayRun{rep: rep, err: err, log: buf.String(), out: jsonLines(t, out), calls: jsonLines(t, calls)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay log:\n%s", r.log)
		}
	})
	return r, dlq
}

func declined(calls []map[string]any) int {
	n := 0
	for _, c := range calls {
		if c["declined"] == true {
			n++
		}
	}
	return n
}

// TestReplayBacksOffWhenHandlerDeclines (defaults: retry_backoff 1s): a
// handler that acknowledges nothing without an error gets the batch again
// after a logged backoff, not in a tight loop, and the replay completes
// once it accepts. Before the fix the batch was sent again at once and
// nothing was logged.
func TestReplayBacksOffWhenHandlerDeclines(t *testing.T) {
	content := letterLine(t, "shardId-0", "101", "a") + "\n" + letterLine(t, "shardId-0", "102", "b") + "\n" + letterLine(t, "shardId-0", "103", "c") + "\n"
	r, _ := replay(t, content, "", "decline = 2")
	if r.err != nil {
		t.Fatalf("Replay: %v", r.err)
	}
	if r.rep.Total != 3 || r.rep.Handled != 3 || r.rep.Failed != 0 {
		t.Fatalf("report %+v, want 3 read, 3 handled, 0 failed", r.rep)
	}
	if len(r.calls) != 3 || declined(r.calls) != 2 {
		t.Fatalf("handler calls %v: want 3 (2 declined, then accepted)", r.calls)
	}
	if n := strings.Count(r.log, "acknowledged none of the batch and reported no error"); n != 2 {
		t.Fatalf("%d backoff warnings logged, want one per declined answer (2)", n)
	}
	if !strings.Contains(r.log, "retry_in=") {
		t.Fatal("the backoff warning does not say how long it waits (retry_in)")
	}
}

// TestReplayGivesUpOnAHandlerThatAlwaysDeclines: a handler that never
// acknowledges and never fails is asked a bounded number of times, with
// backoff; its records are reported as not replayed (exit 1 from the
// command), the next shard's records are still replayed. Before the fix
// Replay spun forever.
func TestReplayGivesUpOnAHandlerThatAlwaysDeclines(t *testing.T) {
	content := letterLine(t, "shardId-0", "101", "a") + "\n" + letterLine(t, "shardId-0", "102", "b") + "\n"
	r, _ := replay(t, content, `retry_backoff = "10ms"`, "decline = -1")
	if r.err != nil {
		t.Fatalf("Replay: %v", r.err)
	}
	if r.rep.Total != 2 || r.rep.Handled != 0 || r.rep.Failed != 2 {
		t.Fatalf("report %+v, want 2 read, 0 handled, 2 failed", r.rep)
	}
	if len(r.calls) != 5 {
		t.Fatalf("handler asked %d times, want 5 (bounded, not a tight loop)", len(r.calls))
	}
	for _, f := range r.rep.Failures {
		if !strings.Contains(f, "acknowledged none") || !strings.Contains(f, "stay in the file") {
			t.Errorf("failure %q does not say the handler declined and that the record is kept", f)
		}
	}
	if n := strings.Count(r.log, "acknowledged none of the batch and reported no error"); n != 4 {
		t.Fatalf("%d backoff warnings logged, want 4 (one per wait)", n)
	}
}

// TestReplayCutShortLastLine: a dead-letter file whose last line was cut
// short by a crash is replayed up to that line, with a warning naming the
// file and line. Before the fix the whole replay failed on that line.
func TestReplayCutShortLastLine(t *testing.T) {
	full := letterLine(t, "shardId-0", "103", "c")
	content := letterLine(t, "shardId-0", "101", "a") + "\n" + letterLine(t, "shardId-0", "102", "b") + "\n" + full[:len(full)/2]
	r, dlq := replay(t, content, "", "")
	if r.err != nil {
		t.Fatalf("Replay: %v", r.err)
	}
	if r.rep.Total != 2 || r.rep.Handled != 2 || r.rep.Failed != 0 || r.rep.CutShortLine != 3 {
		t.Fatalf("report %+v, want 2 read and handled, 0 failed, line 3 cut short", r.rep)
	}
	if len(r.out) != 2 || r.out[0]["seq"] != "101" || r.out[1]["seq"] != "102" {
		t.Fatalf("replayed %v, want 101 and 102", r.out)
	}
	if !strings.Contains(r.log, "cut short") || !strings.Contains(r.log, "file="+dlq) || !strings.Contains(r.log, "line=3") {
		t.Fatalf("no warning naming the file and line 3 of the cut line:\n%s", r.log)
	}
}

// TestReplayMalformedLinesAreReported: a malformed line in the middle (not
// JSON, a dead letter without its record's identity, or a fragment a crash
// left before the next write) is reported as a failure naming file:line,
// and every good line is still replayed in order. Before the fix the first
// bad line failed the whole replay; nothing is ever dropped silently.
func TestReplayMalformedLinesAreReported(t *testing.T) {
	frag := letterLine(t, "shardId-0", "199", "x")
	content := strings.Join([]string{
		letterLine(t, "shardId-0", "101", "a"),
		"this is not json",
		letterLine(t, "shardId-0", "102", "b"),
		frag[:40],
		`{"app":"test","data":"eA=="}`,
		"",
		letterLine(t, "shardId-1", "201", "c"),
	}, "\n") + "\n"
	r, dlq := replay(t, content, "", "")
	if r.err != nil {
		t.Fatalf("Replay: %v", r.err)
	}
	if r.rep.Total != 6 || r.rep.Handled != 3 || r.rep.Failed != 3 || r.rep.CutShortLine != 0 {
		t.Fatalf("report %+v, want 6 read, 3 handled, 3 failed", r.rep)
	}
	var seqs []string
	for _, o := range r.out {
		seqs = append(seqs, o["seq"].(string))
	}
	if strings.Join(seqs, ",") != "101,102,201" {
		t.Fatalf("replayed %v, want 101,102,201 in order", seqs)
	}
	wants := []string{dlq + ":2 is not a dead-letter record", dlq + ":4 is a dead letter cut short", dlq + ":5 is not a dead-letter record (no stream, shard_id, sequence_number)"}
	for i, w := range wants {
		if i >= len(r.rep.Failures) || !strings.Contains(r.rep.Failures[i], w) {
			t.Errorf("failure %d = %q, want it to contain %q (all: %q)", i, r.rep.Failures[min(i, len(r.rep.Failures)-1)], w, r.rep.Failures)
		}
	}
}

// TestReplayNotADeadLetterFile: a file with no dead letter in it is an
// error that says what was expected.
func TestReplayNotADeadLetterFile(t *testing.T) {
	r, _ := replay(t, "app = \"x\"\nstream \"s\" {}\n", "", "")
	if r.err == nil || !strings.Contains(r.err.Error(), "has no dead-letter record") || !strings.Contains(r.err.Error(), ":1 is not a dead-letter record") {
		t.Fatalf("Replay: %v, want an error saying the file holds no dead letters", r.err)
	}
}

// TestPanicDeadLettersOnlyThatRecord: a handler built on EachRecord that
// panics on one record of a batch, with on_failure = "dead_letter", gets
// exactly that record dead-lettered (code handler, the panic value in the
// error); the records before and after it are delivered and checkpointed,
// none dead-lettered. Replay with a fixed handler then delivers it. Before
// the fix the panic failed the whole batch at its first record, so good
// records were dead-lettered one by one until the bad one came first.
func TestPanicDeadLettersOnlyThatRecord(t *testing.T) {
	t.Run("EachRecord", func(t *testing.T) { panicDeadLetters(t, "panic_data", "cannot handle poison") })
	// A batch Handler that panics cannot name the record: the host splits
	// the batch until the poison record is alone.
	t.Run("batch Handler", func(t *testing.T) { panicDeadLetters(t, "batch_panic_data", "batch holds poison") })
}

func panicDeadLetters(t *testing.T, cfgKey, panicText string) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	shard := *f.Shards("s")[0].ShardId
	var seqs []string
	for i := 0; i < 10; i++ {
		data := fmt.Sprintf("good-%d", i)
		if i == 6 {
			data = "poison"
		}
		seq, err := f.PutRecordToShard("s", shard, "k", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	dir := t.TempDir()
	out, dlq := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead", "dlq.jsonl")
	cfg := baddayConfig(t, dir, fmt.Sprintf("on_failure = \"dead_letter\"\n  max_attempts = 2\n  retry_backoff = \"10ms\"\n  dead_letter { file = %q }", dlq),
		fmt.Sprintf("out = %q\n    %s = \"poison\"", out, cfgKey))
	buf := &syncBuf{}
	h, err := host.New(cfg, host.Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: buf}), Kinesis: f, StatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	t.Cleanup(func() {
		h.Stop()
		<-h.Closed()
		if t.Failed() {
			t.Logf("host log:\n%s", buf.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := h.Stats()
		if st.DeadLettered >= 1 && len(jsonLines(t, out)) >= 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: stats %+v, %d deliveries; want 9 delivered and 1 dead-lettered", st, len(jsonLines(t, out)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.Drain()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("host did not stop after Drain")
	}
	letters := jsonLines(t, dlq)
	if len(letters) != 1 || letters[0]["sequence_number"] != seqs[6] {
		t.Fatalf("dead letters %v: want exactly the panicking record %s", letters, seqs[6])
	}
	if letters[0]["error_code"] != "handler" || !strings.Contains(letters[0]["error"].(string), panicText) || !strings.Contains(letters[0]["error"].(string), "main.go:") {
		t.Fatalf("dead letter error %v %q: want code handler with the panic value and where it happened", letters[0]["error_code"], letters[0]["error"])
	}
	got := map[string]bool{}
	for _, d := range jsonLines(t, out) {
		got[d["seq"].(string)] = true
	}
	for i, s := range seqs {
		if i != 6 && !got[s] {
			t.Errorf("good record %d (%s) was not delivered", i, s)
		}
	}
	if st := h.Stats(); st.DeadLettered != 1 {
		t.Fatalf("dead-lettered %d, want 1", st.DeadLettered)
	}
	if fi, err := os.Stat(dlq); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dead-letter file: %v, mode %v; want 0600", err, fi.Mode())
	}

	// Replay through the fixed handler (no panic_data) delivers it.
	fixedOut := filepath.Join(dir, "fixed.jsonl")
	rep, err := host.Replay(context.Background(), baddayConfig(t, dir, "", fmt.Sprintf("out = %q", fixedOut)), dlq, nil)
	if err != nil || rep.Total != 1 || rep.Handled != 1 || rep.Failed != 0 {
		t.Fatalf("replay: %+v, %v; want the one dead letter handled", rep, err)
	}
	if r := jsonLines(t, fixedOut); len(r) != 1 || r[0]["seq"] != seqs[6] || r[0]["data"] != "poison" {
		t.Fatalf("replayed %v, want the poison record", r)
	}
}
