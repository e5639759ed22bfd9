package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
)

var bins testenv.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "host-test-bins-")
	if err != nil {
		panic(err)
	}
	bins, err = testenv.BuildBinaries(dir, "kinesis-handler-recorder", "kinesis-checkpoint-file", "kinesis-checkpoint-redis", "kinesis-checkpoint-postgres")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rig is one host run against the fake Kinesis with real plugin binaries.
type rig struct {
	t      testing.TB
	fake   *kinesisfake.Fake
	dir    string
	out    string // deliveries file
	cpPath string
	h      *host.Host
	cfg    *host.Config // of the last start
	top    string       // extra top-level config lines (testHCL.Top)
	done   chan error
	logBuf *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newRig(t testing.TB, fake *kinesisfake.Fake) *rig {
	dir := t.TempDir()
	return &rig{t: t, fake: fake, dir: dir, out: filepath.Join(dir, "deliveries.jsonl"), cpPath: filepath.Join(dir, "cp.db")}
}

// start runs the host against r.fake with a config whose handler is the
// recorder; handlerExtra goes into the recorder's config {} block,
// streamExtra into the stream block and blockExtra into the handler block.
func (r *rig) start(streamExtra, handlerExtra, blockExtra string) {
	r.t.Helper()
	r.startAPI(r.fake, streamExtra, handlerExtra, blockExtra)
}

// startAPI is start with api as the host's Kinesis client (a spy around
// the fake, or the SDK client of a kinesisfake server).
func (r *rig) startAPI(api host.KinesisAPI, streamExtra, handlerExtra, blockExtra string) {
	r.t.Helper()
	src := testHCL{Top: r.top, Stream: streamExtra, HandlerBlock: blockExtra, HandlerConfig: recorderConfig(r.out, handlerExtra),
		Checkpoint: fmt.Sprintf("plugin = \"file\"\n  config { path = %q }", r.cpPath)}.render(r.dir)
	cfg := parseTestConfig(r.t, r.dir, src)
	r.cfg = cfg
	r.logBuf = &syncBuf{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: r.logBuf})
	h, err := host.New(cfg, host.Options{Logger: log, Kinesis: api, StatsInterval: -1})
	if err != nil {
		r.t.Fatal(err)
	}
	r.h = h
	r.done = make(chan error, 1)
	go func() { r.done <- h.Run(context.Background()) }()
	r.t.Cleanup(func() {
		h.Stop()
		<-h.Closed()
		if r.t.Failed() {
			log := r.logBuf.String()
			if len(log) > 64<<10 {
				log = "…" + log[len(log)-64<<10:]
			}
			r.t.Logf("host log:\n%s", log)
		}
	})
}

// wait returns Run's result, failing the test after d.
func (r *rig) wait(d time.Duration) error {
	r.t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(d):
		r.t.Fatalf("host did not stop within %s", d)
		return nil
	}
}

type delivery struct {
	Shard, Seq, Data, Key string
	Sub                   int64
	Attempt, PID          int
}

func (r *rig) deliveries() []delivery {
	f, err := os.Open(r.out)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []delivery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d delivery
		if json.Unmarshal(sc.Bytes(), &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// waitDistinct waits until n distinct records were delivered.
func (r *rig) waitDistinct(n int, d time.Duration) []delivery {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ds := r.deliveries()
		seen := map[string]bool{}
		for _, x := range ds {
			seen[fmt.Sprintf("%s/%s/%d", x.Shard, x.Seq, x.Sub)] = true
		}
		if len(seen) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("only %d of %d records delivered after %s", len(seen), n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rig) checkpoint(shard string) sdk.Checkpoint {
	r.t.Helper()
	st := file.New()
	if err := st.Open(r.cpPath, 5*time.Second); err != nil {
		r.t.Fatal(err)
	}
	defer st.Close(context.Background())
	cp, _, err := st.Get(context.Background(), sdk.CheckpointKey{App: "test", Stream: "s", ShardID: shard})
	if err != nil {
		r.t.Fatal(err)
	}
	return cp
}

// put writes n records round-robin over the stream's shards and returns
// the last sequence number per shard.
func put(t *testing.T, f *kinesisfake.Fake, n int, data func(i int) string) map[string]string {
	t.Helper()
	shards := f.Shards("s")
	last := map[string]string{}
	for i := 0; i < n; i++ {
		sh := *shards[i%len(shards)].ShardId
		if shards[i%len(shards)].SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		seq, err := f.PutRecordToShard("s", sh, fmt.Sprintf("k%d", i%7), []byte(data(i)))
		if err != nil {
			t.Fatal(err)
		}
		last[sh] = seq
	}
	return last
}

func rname(i int) string { return fmt.Sprintf("r-%06d", i) }

// checkOrder asserts that within each shard the first deliveries come in
// increasing sequence order.
func checkOrder(t *testing.T, ds []delivery) {
	t.Helper()
	lastSeq := map[string]string{}
	seen := map[string]bool{}
	for _, d := range ds {
		k := d.Shard + "/" + d.Seq
		if seen[k] {
			continue
		}
		seen[k] = true
		if sdk.CompareSequence(d.Seq, lastSeq[d.Shard]) <= 0 {
			t.Fatalf("shard %s: %s delivered after %s", d.Shard, d.Seq, lastSeq[d.Shard])
		}
		lastSeq[d.Shard] = d.Seq
	}
}

func TestDeliveryOrderAndCheckpoints(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 4); err != nil {
		t.Fatal(err)
	}
	last := put(t, f, 2000, rname)
	r := newRig(t, f)
	r.start(`batch_max_records = 100`, "", "")
	ds := r.waitDistinct(2000, 30*time.Second)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkOrder(t, r.deliveries())
	if len(ds) != 2000 {
		t.Errorf("%d deliveries for 2000 records: no crash happened, so none may repeat", len(ds))
	}
	for sh, seq := range last {
		if cp := r.checkpoint(sh); cp.SequenceNumber != seq {
			t.Errorf("shard %s: checkpoint %q, want last sequence %q", sh, cp.SequenceNumber, seq)
		}
	}
	st := r.h.Stats()
	if st.Batches < 20 {
		t.Errorf("%d handler calls for 2000 records with batch_max_records=100: batches are not capped", st.Batches)
	}
	if st.CheckpointRPCs >= st.Batches {
		t.Logf("checkpoint RPCs %d vs batches %d (coalescing did not kick in, acceptable)", st.CheckpointRPCs, st.Batches)
	}

	// Restart: nothing old is delivered again; new records are.
	before := len(r.deliveries())
	put(t, f, 40, func(i int) string { return "new-" + rname(i) })
	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.start("", "", "")
	ds = r2.waitDistinct(2040, 30*time.Second)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, d := range r2.deliveries()[before:] {
		if !strings.HasPrefix(d.Data, "new-") {
			t.Fatalf("restart redelivered %s", d.Data)
		}
	}
}

func TestThrottlingExpiryAndDroppedConnections(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 4); err != nil {
		t.Fatal(err)
	}
	put(t, f, 1200, rname)
	f.FailRatio(kinesisfake.OpGetRecords, 0.2, 1, kinesisfake.Throttle)
	f.FailEvery(kinesisfake.OpGetRecords, 7, kinesisfake.ConnReset)
	f.FailEvery(kinesisfake.OpGetRecords, 11, kinesisfake.Expired)
	f.FailEvery(kinesisfake.OpGetRecords, 13, kinesisfake.Internal)
	f.FailEvery(kinesisfake.OpGetShardIterator, 3, kinesisfake.Throttle)
	r := newRig(t, f)
	r.start(`max_records = 50`, "", "")
	r.waitDistinct(1200, 60*time.Second)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	ds := r.deliveries()
	checkOrder(t, ds)
	if len(ds) != 1200 {
		t.Errorf("%d deliveries for 1200 records: throttles and expiries must not cause replays", len(ds))
	}
	if r.h.Stats().Retries == 0 {
		t.Error("no retries counted")
	}
}

// Seed scenario 5: at LATEST, a record written between the first iterator
// and a throttled first read must still be delivered.
func TestLatestThrottleLosesNothing(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var once sync.Once
	f.InjectFault(func(op string, in any) error {
		var err error
		if op == kinesisfake.OpGetRecords {
			once.Do(func() {
				_, _ = f.PutRecordToShard("s", sh, "k", []byte("between"))
				err = kinesisfake.Throttle()
			})
		}
		return err
	})
	r := newRig(t, f)
	r.start(`start_position = "LATEST"`, "", "")
	ds := r.waitDistinct(1, 20*time.Second)
	if ds[0].Data != "between" {
		t.Fatalf("got %+v", ds[0])
	}
	if n := f.Calls(kinesisfake.OpGetShardIterator); n != 1 {
		t.Errorf("GetShardIterator called %d times: a throttle must reuse the iterator", n)
	}
}

func TestPluginCrashAndHangRedeliver(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	put(t, f, 400, func(i int) string {
		switch i {
		case 101:
			return "crash"
		case 250:
			return "hang"
		}
		return rname(i)
	})
	r := newRig(t, f)
	r.start(`batch_max_records = 20`, `exit_data = "crash"
    hang_data = "hang"`, `call_timeout = "1s"
  restart {
    backoff = "50ms"
    max_backoff = "200ms"
  }`)
	r.waitDistinct(400, 30*time.Second)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := r.h.Stats()
	if st.PluginRestarts < 2 || st.Redeliveries < 2 {
		t.Errorf("stats %+v: want 2 restarts (a crash and a hang)", st)
	}
	checkOrder(t, r.deliveries())
}

func TestHandlerErrorStopsWithoutCheckpoint(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var poisonSeq string
	for i := 0; i < 30; i++ {
		d := rname(i)
		if i == 17 {
			d = "poison"
		}
		seq, _ := f.PutRecordToShard("s", sh, "k", []byte(d))
		if i == 17 {
			poisonSeq = seq
		}
	}
	r := newRig(t, f)
	r.start("", `fail_data = "poison"`, "")
	err := r.wait(20 * time.Second)
	if !errors.Is(err, host.ErrHandlerFailed) || !strings.Contains(err.Error(), "poison record") {
		t.Fatalf("Run = %v, want ErrHandlerFailed with the handler's text", err)
	}
	cp := r.checkpoint(sh)
	if sdk.CompareSequence(cp.SequenceNumber, poisonSeq) >= 0 {
		t.Fatalf("checkpoint %s reached the failing record %s", cp.SequenceNumber, poisonSeq)
	}
	if len(r.deliveries()) != 17 {
		t.Fatalf("%d delivered before the poison record, want 17", len(r.deliveries()))
	}
}

func TestStopScanAndSkipCheckpoint(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	seqs := map[string]string{}
	for _, d := range []string{"a", "b", "skip", "c", "d", "skip2", "stop", "after"} {
		seqs[d], _ = f.PutRecordToShard("s", sh, "k", []byte(d))
	}
	r := newRig(t, f)
	r.start(`batch_max_records = 3`, `stop_data = "stop"
    skip_data = "skip2"`, "")
	if err := r.wait(20 * time.Second); err != nil {
		t.Fatalf("StopScan must end Run cleanly, got %v", err)
	}
	if cp := r.checkpoint(sh); cp.SequenceNumber != seqs["stop"] {
		t.Fatalf("checkpoint %s, want the StopScan record %s", cp.SequenceNumber, seqs["stop"])
	}
	for _, d := range r.deliveries() {
		if d.Data == "after" {
			t.Fatal("a record after StopScan was delivered")
		}
	}

	// SkipCheckpoint on the last record of a run leaves the checkpoint on
	// the record before it.
	f2 := kinesisfake.New()
	_ = f2.CreateStream("s", 1)
	sh2 := *f2.Shards("s")[0].ShardId
	for _, d := range []string{"x", "y", "skip2"} {
		seqs[d], _ = f2.PutRecordToShard("s", sh2, "k", []byte(d))
	}
	r2 := newRig(t, f2)
	r2.start("", `skip_data = "skip2"`, "")
	r2.waitDistinct(3, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if cp := r2.checkpoint(sh2); cp.SequenceNumber != seqs["y"] {
		t.Fatalf("checkpoint %s, want %s (the record before the skipped one)", cp.SequenceNumber, seqs["y"])
	}
}

func TestReshardParentsBeforeChildren(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	for i := 0; i < 50; i++ {
		_, _ = f.PutRecordToShard("s", parent, "k", []byte("p-"+rname(i)))
	}
	// Split the hash range in half.
	if err := f.SplitShard("s", parent, "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, s := range f.Shards("s") {
		if s.ParentShardId != nil && *s.ParentShardId == parent {
			kids = append(kids, *s.ShardId)
		}
	}
	for i := 0; i < 30; i++ {
		_, _ = f.PutRecordToShard("s", kids[i%2], "k", []byte("c-"+rname(i)))
	}
	if err := f.MergeShards("s", kids[0], kids[1]); err != nil {
		t.Fatal(err)
	}
	var merged string
	for _, s := range f.Shards("s") {
		if s.AdjacentParentShardId != nil {
			merged = *s.ShardId
		}
	}
	for i := 0; i < 10; i++ {
		_, _ = f.PutRecordToShard("s", merged, "k", []byte("m-"+rname(i)))
	}
	r := newRig(t, f)
	r.start(`shard_sync_interval = "1s"`, `delay = "5ms"`, "")
	ds := r.waitDistinct(90, 30*time.Second)
	phase := map[byte]int{'p': 0, 'c': 1, 'm': 2}
	cur := 0
	for _, d := range ds {
		p := phase[d.Data[0]]
		if p < cur {
			t.Fatalf("%s delivered after a later generation started", d.Data)
		}
		cur = p
	}
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{parent, kids[0], kids[1]} {
		if !r.checkpoint(id).ShardEnd {
			t.Errorf("closed shard %s has no SHARD_END checkpoint", id)
		}
	}
}

func TestBadPluginFailsFast(t *testing.T) {
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	r := newRig(t, f)
	r.start("", `unknown_knob = 1`, "")
	err := r.wait(20 * time.Second)
	var ce *host.PluginConfigError
	if !errors.As(err, &ce) || ce.Field() != "unknown_knob" || !errors.Is(err, host.ErrPluginConfig) {
		t.Fatalf("Run = %v, want a PluginConfigError naming unknown_knob", err)
	}
}

// BenchmarkPipeline measures records/s through the whole host: fake Kinesis
// (in-process), batching, one net/rpc call per batch to a real plugin
// process that acknowledges everything, coalesced checkpoints to the file
// plugin. 4 shards × 25,000 records of 1 KiB per iteration.
func BenchmarkPipeline(b *testing.B) { benchPipeline(b, "") }

// BenchmarkPipelineTelemetry is BenchmarkPipeline with the telemetry
// endpoint on (metrics recorded per batch and per GetRecords; nothing
// scrapes it): the cost of telemetry is the difference.
func BenchmarkPipelineTelemetry(b *testing.B) {
	benchPipeline(b, `telemetry { listen = "127.0.0.1:0" }`)
}

func benchPipeline(b *testing.B, top string) {
	const shards, perShard, size = 4, 25000, 1024
	payload := make([]byte, size)
	b.SetBytes(shards * perShard * size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := kinesisfake.New()
		_ = f.CreateStream("s", shards)
		for _, sh := range f.Shards("s") {
			for j := 0; j < perShard; j++ {
				_, _ = f.PutRecordToShard("s", *sh.ShardId, "k", payload)
			}
		}
		r := newRig(b, f)
		r.top = top
		b.StartTimer()
		start := time.Now()
		r.start(`max_records = 10000`, `discard = true`, "")
		for r.h.Stats().Records < shards*perShard {
			time.Sleep(2 * time.Millisecond)
		}
		el := time.Since(start)
		b.StopTimer()
		r.h.Stop()
		<-r.h.Closed()
		b.ReportMetric(float64(shards*perShard)/el.Seconds(), "records/s")
		b.StartTimer()
	}
}

// KPL: aggregates are unpacked with sub-sequence numbers; a stop inside an
// aggregate checkpoints (sequence, sub-sequence), and the restart resumes
// at the next user record: nothing skipped, nothing before it redelivered.
// A corrupt aggregate goes through the failure policy (here: dead letter).
func TestKPLAggregatesResumeInside(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var want []string
	putAgg := func(prefix string, n int) string {
		var keys []string
		var data [][]byte
		for i := 0; i < n; i++ {
			keys = append(keys, fmt.Sprintf("pk-%d", i%3))
			data = append(data, []byte(fmt.Sprintf("%s-%d", prefix, i)))
			want = append(want, fmt.Sprintf("%s-%d", prefix, i))
		}
		seq, err := f.PutRecordToShard("s", sh, "agg", host.Aggregate(keys, data))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	putAgg("a", 5)
	_, _ = f.PutRecordToShard("s", sh, "plain", []byte("plain-1"))
	want = append(want, "plain-1")
	bSeq := putAgg("b", 6)
	corrupt := host.Aggregate([]string{"k"}, [][]byte{[]byte("x")})
	corrupt[len(corrupt)-1] ^= 0xff // break the digest
	badSeq, _ := f.PutRecordToShard("s", sh, "bad", corrupt)
	putAgg("c", 3)

	dlq := filepath.Join(t.TempDir(), "dlq.jsonl")
	r := newRig(t, f)
	r.start(`deaggregate = true
  batch_max_records = 4`, `stop_data = "b-2"`, fmt.Sprintf(`on_failure = "dead_letter"
  dead_letter { file = %q }`, dlq))
	if err := r.wait(20 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cp := r.checkpoint(sh); cp.SequenceNumber != bSeq || cp.SubSequenceNumber != 2 {
		t.Fatalf("checkpoint = %+v, want (%s, 2)", cp, bSeq)
	}

	// Restart without the stop: resumes at b-3.
	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.start(`deaggregate = true`, "", fmt.Sprintf(`on_failure = "dead_letter"
  dead_letter { file = %q }`, dlq))
	r2.waitDistinct(len(want), 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range r2.deliveries() {
		got = append(got, d.Data)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("deliveries\n got  %v\n want %v", got, want)
	}
	raw, err := os.ReadFile(dlq)
	if err != nil {
		t.Fatal(err)
	}
	var dl host.DeadLetter
	if err := json.Unmarshal(raw, &dl); err != nil || dl.SequenceNumber != badSeq || dl.ErrorCode != "corrupt_record" || string(dl.Data) != string(corrupt) {
		t.Fatalf("dead letter %s (err %v), want the corrupt aggregate %s whole", raw, err, badSeq)
	}
	if n := strings.Count(string(raw), "\n"); n != 1 {
		t.Fatalf("%d dead letters, want 1 (the restart must not dead-letter it again)", n)
	}
}

// validate reaches the backends: a wrong Redis address and a missing
// Postgres table are reported at the attribute's line, with the fix.
func TestValidateReportsBackendProblems(t *testing.T) {
	dir := t.TempDir()
	src := fmt.Sprintf(`app = "v"
plugin_dir = %q
stream "a" {
  handler    = "rec"
  checkpoint = "r"
}
stream "b" {
  handler    = "rec"
  checkpoint = "p"
}
handler "rec" {
  plugin = "recorder"
  config { out = "/dev/null" }
}
checkpoint "r" {
  plugin = "redis"
  config {
    address      = "127.0.0.1:1"
    dial_timeout = "500ms"
  }
}
checkpoint "p" {
  plugin = "postgres"
  config {
    connection = %q
    table      = "no_such_table_kh"
  }
}
`, bins.PluginDir, testenv.PostgresDSN())
	path := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, files, diags, _ := host.ValidateFile(context.Background(), path, nil)
	var b strings.Builder
	_ = host.WriteDiagnostics(&b, files, diags)
	out := b.String()
	for _, want := range []string{"line 18", "address", "127.0.0.1:1", "line 26", "no_such_table_kh", "create_table"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}
}
