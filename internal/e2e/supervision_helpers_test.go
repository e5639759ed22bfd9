package e2e

// Helpers for supervision_test.go (crash, hang, poison records, partial
// acknowledgement, restart budget, hot swap, SIGHUP, sha256). Every
// identifier here starts with sv.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

// svStream is one stream block.
type svStream struct {
	name    string
	handler string // handler block label
	extra   string // raw HCL lines inside the stream block
}

// svHandler is one handler block running the recorder.
type svHandler struct {
	label    string
	extra    string         // raw HCL lines inside the handler block (call_timeout, restart {}, on_failure, ...)
	recorder map[string]any // recorder config {}: string, bool, []string values
}

// svConfig is a config file with any number of streams and recorder
// handlers, all checkpointed in the env's file store.
type svConfig struct {
	pluginDir string // default bins.PluginDir
	logLevel  string // default info
	streams   []svStream
	handlers  []svHandler
	cpExtra   string // raw HCL lines in the checkpoint block (sha256, ...)
}

// svHCLValue renders a Go value as an HCL expression.
func svHCLValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case int:
		return fmt.Sprintf("%d", x)
	case []int:
		q := make([]string, len(x))
		for i, n := range x {
			q[i] = fmt.Sprintf("%d", n)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	panic(fmt.Sprintf("svHCLValue: unsupported %T", v))
}

// svText renders c as config.hcl text.
func (e *env) svText(c svConfig) string {
	pd, lvl := c.pluginDir, c.logLevel
	if pd == "" {
		pd = bins.PluginDir
	}
	if lvl == "" {
		lvl = "info"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "app        = %q\n", appName)
	fmt.Fprintf(&b, "plugin_dir = %q\n", pd)
	fmt.Fprintf(&b, "log_level  = %q\n\n", lvl)
	fmt.Fprintf(&b, "kinesis {\n  region = \"us-east-1\"\n  endpoint = %q\n  access_key_id = \"e2e\"\n  secret_access_key = \"e2e-secret\"\n}\n\n", e.ep)
	for _, s := range c.streams {
		fmt.Fprintf(&b, "stream %q {\n  handler = %q\n  checkpoint = \"local\"\n  start_position = \"TRIM_HORIZON\"\n  poll_interval = \"200ms\"\n%s}\n\n", s.name, s.handler, s.extra)
	}
	for _, h := range c.handlers {
		fmt.Fprintf(&b, "handler %q {\n  plugin = \"recorder\"\n%s  config {\n", h.label, h.extra)
		keys := make([]string, 0, len(h.recorder))
		for k := range h.recorder {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s = %s\n", k, svHCLValue(h.recorder[k]))
		}
		fmt.Fprintf(&b, "  }\n}\n\n")
	}
	fmt.Fprintf(&b, "checkpoint \"local\" {\n  plugin = \"file\"\n%s  config { path = %q }\n}\n", c.cpExtra, e.cpPath)
	return b.String()
}

// svWriteConfig writes <dir>/<name>.hcl and returns its path.
func (e *env) svWriteConfig(name string, c svConfig) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name+".hcl")
	if err := os.WriteFile(path, []byte(e.svText(c)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// svOneStream is the usual shape: stream e2e read by handler "rec".
func svOneStream(streamExtra, handlerExtra string, recorder map[string]any) svConfig {
	return svConfig{
		streams:  []svStream{{name: streamName, handler: "rec", extra: streamExtra}},
		handlers: []svHandler{{label: "rec", extra: handlerExtra, recorder: recorder}},
	}
}

// svCreateStream creates another stream in the env's kinesalite.
func (e *env) svCreateStream(name string, shards int32) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testenv.CreateStream(ctx, e.kc, name, shards); err != nil {
		e.t.Fatal(err)
	}
}

// svRecordData is recordData with a per-stream prefix, so that records of
// different streams never share data.
func svRecordData(prefix string, n int) string {
	if prefix == "" {
		return recordData(n)
	}
	s := fmt.Sprintf("%s-%06d-", prefix, n)
	return s + strings.Repeat("y", dataSize-len(s))
}

// svPut puts records n = from..from+count-1 into stream, in PutRecords
// calls of at most 500, retrying failed entries; it returns them with the
// shard and sequence number Kinesis assigned. It may run outside the test
// goroutine: it returns an error instead of failing the test.
func (e *env) svPut(ctx context.Context, stream, prefix string, from, count int) ([]*rec, error) {
	recs := make([]*rec, count)
	for i := range recs {
		n := from + i
		recs[i] = &rec{n: n, data: svRecordData(prefix, n), key: fmt.Sprintf("pk-%s-%d", prefix, n)}
	}
	for lo := 0; lo < count; lo += 500 {
		pending := recs[lo:min(lo+500, count)]
		for attempt := 1; len(pending) > 0; attempt++ {
			if attempt > 10 {
				return nil, fmt.Errorf("PutRecords %s: %d records still failing after 10 attempts", stream, len(pending))
			}
			in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
			for _, r := range pending {
				in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: []byte(r.data), PartitionKey: aws.String(r.key)})
			}
			out, err := e.kc.PutRecords(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("PutRecords %s: %w", stream, err)
			}
			var failed []*rec
			for i, res := range out.Records {
				if res.ErrorCode != nil {
					failed = append(failed, pending[i])
					continue
				}
				pending[i].shard, pending[i].seq = aws.ToString(res.ShardId), aws.ToString(res.SequenceNumber)
			}
			pending = failed
		}
	}
	return recs, nil
}

// svMustPut is svPut from the test goroutine.
func (e *env) svMustPut(stream, prefix string, from, count int) []*rec {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs, err := e.svPut(ctx, stream, prefix, from, count)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// svProducer puts records into a stream at a steady rate from a goroutine
// until stopped.
type svProducer struct {
	e      *env
	stream string
	prefix string
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	recs []*rec
	err  error
}

// svStartProducer puts perTick records every tick (20 every 100 ms is
// 200 records/s) into stream.
func (e *env) svStartProducer(stream, prefix string, perTick int, tick time.Duration) *svProducer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &svProducer{e: e, stream: stream, prefix: prefix, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for n := 0; ; n += perTick {
			pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
			recs, err := e.svPut(pctx, stream, prefix, n, perTick)
			pcancel()
			p.mu.Lock()
			p.recs = append(p.recs, recs...)
			if err != nil && p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	e.t.Cleanup(p.halt)
	return p
}

func (p *svProducer) halt() {
	p.cancel()
	<-p.done
}

// stop ends production and returns every record put.
func (p *svProducer) stop() []*rec {
	p.e.t.Helper()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		p.e.t.Fatalf("producer: %v", p.err)
	}
	return append([]*rec(nil), p.recs...)
}

// count is how many records have been put so far.
func (p *svProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs)
}

// svRunCmd runs a short kinesis-host subcommand and returns its exit code,
// stdout and stderr separately; it is killed after a minute.
func svRunCmd(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Host, args...)
	cmd.WaitDelay = 5 * time.Second
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, so.String(), se.String()
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode(), so.String(), se.String()
	}
	t.Fatalf("kinesis-host %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, so.String(), se.String())
	return 0, "", ""
}

// svFileSHA256 is the hex SHA-256 of a file.
func svFileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// svCopyFile copies src to dst with mode perm.
func svCopyFile(t testing.TB, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

// svPrivatePluginDir copies the recorder and the file checkpoint plugin
// into a plugin dir of this test's own, so replacing a binary there
// affects no other test.
func svPrivatePluginDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kinesis-handler-recorder", "kinesis-checkpoint-file"} {
		svCopyFile(t, filepath.Join(bins.PluginDir, name), filepath.Join(dir, name), 0o755)
	}
	return dir
}

// svReplaceBinary atomically replaces path by a fresh copy of itself: the
// copy is written under a temporary name in the same folder and renamed
// over the original (new inode, new mtime, same content).
func svReplaceBinary(t testing.TB, path string) {
	t.Helper()
	tmp := path + ".new"
	svCopyFile(t, path, tmp, 0o755)
	// Make sure the modification time differs even on coarse clocks.
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// svChildPID is the host's live child running the binary at path, or 0.
func svChildPID(hostPID int, path string) int {
	for _, p := range listProcs() {
		if p.ppid == hostPID && p.state != 'Z' && p.argv0 == path {
			return p.pid
		}
	}
	return 0
}

// svDistinctKeys is (shard, seq) → number of deliveries.
func svDistinctKeys(ds []delivery) map[[2]string]int {
	m := map[[2]string]int{}
	for _, d := range ds {
		m[[2]string{d.Shard, d.Seq}]++
	}
	return m
}

// svCheckExactlyOnce asserts that every rec in want was delivered exactly
// once and nothing else was delivered.
func svCheckExactlyOnce(t testing.TB, want []*rec, ds ...[]delivery) {
	t.Helper()
	var all []delivery
	for _, l := range ds {
		all = append(all, l...)
	}
	byKey := svDistinctKeys(all)
	twice := 0
	for k, n := range byKey {
		if n > 1 {
			twice++
			if twice <= 10 {
				t.Errorf("shard %s seq %s delivered %d times, want exactly once", k[0], k[1], n)
			}
		}
	}
	if twice > 0 {
		t.Errorf("%d records were delivered more than once", twice)
	}
	if len(byKey) != len(want) {
		t.Errorf("%d distinct records delivered, want %d", len(byKey), len(want))
	}
	checkComplete(t, want, all)
}

// svCount counts occurrences of s in the host log.
func (h *hostProc) svCount(s string) int { return strings.Count(h.log(), s) }

// svWaitLog waits until the host log contains s.
func (h *hostProc) svWaitLog(timeout time.Duration, s string) {
	h.t.Helper()
	waitFor(h.t, timeout, h, fmt.Sprintf("%q in the host log", s), func() bool { return strings.Contains(h.log(), s) })
}

// svDeadLetter is one line of a dead-letter file, as an operator reads it.
type svDeadLetter struct {
	App               string    `json:"app"`
	Stream            string    `json:"stream"`
	ShardID           string    `json:"shard_id"`
	SequenceNumber    string    `json:"sequence_number"`
	SubSequenceNumber int64     `json:"sub_sequence_number"`
	PartitionKey      string    `json:"partition_key"`
	Data              []byte    `json:"data"`
	ArrivalTimestamp  time.Time `json:"approximate_arrival_timestamp"`
	Handler           string    `json:"handler"`
	ErrorCode         string    `json:"error_code"`
	Error             string    `json:"error"`
	Attempts          int       `json:"attempts"`
	DeadLetteredAt    time.Time `json:"dead_lettered_at"`
}

// svReadDeadLetters parses a dead-letter JSON-lines file.
func svReadDeadLetters(t testing.TB, path string) []svDeadLetter {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	var out []svDeadLetter
	for i, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var d svDeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("%s:%d: not JSON: %v\n%s", path, i+1, err, line)
		}
		out = append(out, d)
	}
	return out
}

// svGetRecord reads the record at (shard, seq) straight from Kinesis.
func (e *env) svGetRecord(stream, shard, seq string) types.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Records) != 1 || aws.ToString(out.Records[0].SequenceNumber) != seq {
		e.t.Fatalf("GetRecords at %s/%s: got %d records", shard, seq, len(out.Records))
	}
	return out.Records[0]
}

// svReadStream reads every record of a one-shard stream.
func (e *env) svReadStream(stream string) []types.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []types.Record
	for _, sh := range ls.Shards {
		it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			e.t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			res, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// svCheckDeadLetter asserts that dl holds poison whole: data, key, shard,
// sequence, the arrival time Kinesis gave it, where it came from, the
// handler's error text and the attempt count.
func (e *env) svCheckDeadLetter(dl svDeadLetter, poison *rec, attempts int) {
	t := e.t
	t.Helper()
	kr := e.svGetRecord(streamName, poison.shard, poison.seq)
	if string(dl.Data) != poison.data {
		t.Errorf("dead letter data %q, want the record's %q", dl.Data, poison.data)
	}
	if dl.PartitionKey != poison.key {
		t.Errorf("dead letter partition key %q, want %q", dl.PartitionKey, poison.key)
	}
	if dl.ShardID != poison.shard || dl.SequenceNumber != poison.seq {
		t.Errorf("dead letter at shard %s seq %s, want shard %s seq %s", dl.ShardID, dl.SequenceNumber, poison.shard, poison.seq)
	}
	if dl.Stream != streamName || dl.App != appName || dl.Handler != "rec" {
		t.Errorf("dead letter names app %q stream %q handler %q, want %q %q %q", dl.App, dl.Stream, dl.Handler, appName, streamName, "rec")
	}
	if kr.ApproximateArrivalTimestamp == nil || dl.ArrivalTimestamp.IsZero() || !dl.ArrivalTimestamp.Equal(*kr.ApproximateArrivalTimestamp) {
		t.Errorf("dead letter arrival time %s, want the record's ApproximateArrivalTimestamp %v", dl.ArrivalTimestamp, kr.ApproximateArrivalTimestamp)
	}
	if !strings.Contains(dl.Error, "poison record: "+poison.data) {
		t.Errorf("dead letter error %q does not carry the handler's error text", dl.Error)
	}
	if dl.Attempts != attempts {
		t.Errorf("dead letter attempts = %d, want max_attempts = %d", dl.Attempts, attempts)
	}
	if dl.DeadLetteredAt.IsZero() {
		t.Errorf("dead letter has no dead_lettered_at")
	}
}

// svStats summarises durations.
func svStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("n=%d min %s median %s mean %s max %s", len(s), s[0].Round(time.Millisecond),
		s[len(s)/2].Round(time.Millisecond), mean(s).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// svExists reports whether a file exists.
func svExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// svStamp is one "<pid> <unix nanos>" line the recorder wrote (process
// starts, self-kills).
type svStamp struct {
	pid int
	at  time.Time
}

// svReadStamps reads a file of svStamp lines; a missing file is empty.
func svReadStamps(t testing.TB, path string) []svStamp {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []svStamp
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var pid int
		var ns int64
		if _, err := fmt.Sscanf(line, "%d %d", &pid, &ns); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, line, err)
		}
		out = append(out, svStamp{pid: pid, at: time.Unix(0, ns)})
	}
	return out
}

// svStopAtGate stops a host whose recorder runs with gate_after: once a
// batch of every shard is held at the gate (in flight), it sends SIGTERM,
// waits until the host says it is draining, releases the gate and waits
// for exit 0. It returns the time from the signal to the exit.
func (e *env) svStopAtGate(h *hostProc, out string) time.Duration {
	e.t.Helper()
	waitFor(e.t, 2*time.Minute, h, "a batch of every shard held at the recorder's gate", func() bool {
		for _, sh := range e.shards {
			if !svExists(out + ".gated-" + sh) {
				return false
			}
		}
		return true
	})
	t0 := time.Now()
	h.signal(syscall.SIGTERM)
	h.svWaitLog(time.Minute, "draining: no more fetching")
	if err := os.WriteFile(out+".release", nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if code := h.wait(time.Minute); code != 0 {
		e.t.Fatalf("kinesis-host exited with %d after SIGTERM, want 0", code)
	}
	return h.exitedAt.Sub(t0)
}
