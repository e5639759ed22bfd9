package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// bins are the executables TestMain built.
var bins testenv.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kinesis-host-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	start := time.Now()
	bins, err = testenv.BuildBinaries(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries failed:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "e2e: binaries built into %s in %s\n", dir, time.Since(start).Round(time.Millisecond))
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	streamName = "e2e"
	appName    = "e2e-app"
	dataSize   = 200 // bytes per record
)

// env is one test's world: a fresh kinesalite with one stream, and a temp
// folder for config files, delivery files, host logs and the checkpoint db.
type env struct {
	t      testing.TB
	dir    string
	ep     string
	kc     *kinesis.Client
	cpPath string
	shards []string
}

func newEnv(t testing.TB, shards int32) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.ep = testenv.StartKinesalite(t)
	e.kc = testenv.KinesisClient(e.ep)
	e.cpPath = filepath.Join(e.dir, "data", "checkpoints.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testenv.CreateStream(ctx, e.kc, streamName, shards); err != nil {
		t.Fatal(err)
	}
	out, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(streamName)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Shards {
		e.shards = append(e.shards, aws.ToString(s.ShardId))
	}
	if len(e.shards) != int(shards) {
		t.Fatalf("stream has %d shards, want %d", len(e.shards), shards)
	}
	return e
}

// runConfig is what varies between the config files tests write.
type runConfig struct {
	out      string            // deliveries file (required)
	recorder map[string]string // extra recorder config: fail_data, stop_data, skip_data, delay, ...
	stream   string            // extra raw HCL lines in the stream block
	handler  string            // extra raw HCL lines in the handler block
	// start is the stream's start_position line: "" for TRIM_HORIZON (what
	// most tests read from), startDefault to leave it out (the shipped
	// default, LATEST), or raw HCL lines.
	start string
}

// startDefault in runConfig.start runs the stream on the shipped default
// start position.
const startDefault = "default"

// writeConfig writes <dir>/<name>.hcl and returns its path.
func (e *env) writeConfig(name string, rc runConfig) string {
	e.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "app        = %q\n", appName)
	fmt.Fprintf(&b, "plugin_dir = %q\n", bins.PluginDir)
	fmt.Fprintf(&b, "log_level  = \"info\"\n\n")
	fmt.Fprintf(&b, "kinesis {\n  region = \"us-east-1\"\n  endpoint = %q\n  access_key_id = \"e2e\"\n  secret_access_key = \"e2e-secret\"\n}\n\n", e.ep)
	start := "  start_position = \"TRIM_HORIZON\"\n"
	switch rc.start {
	case "":
	case startDefault:
		start = ""
	default:
		start = rc.start + "\n"
	}
	fmt.Fprintf(&b, "stream %q {\n  handler = \"rec\"\n  checkpoint = \"local\"\n%s  poll_interval = \"200ms\"\n%s}\n\n", streamName, start, rc.stream)
	fmt.Fprintf(&b, "handler \"rec\" {\n  plugin = \"recorder\"\n%s  config {\n    out = %q\n", rc.handler, rc.out)
	keys := make([]string, 0, len(rc.recorder))
	for k := range rc.recorder {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s = %q\n", k, rc.recorder[k])
	}
	fmt.Fprintf(&b, "  }\n}\n\n")
	fmt.Fprintf(&b, "checkpoint \"local\" {\n  plugin = \"file\"\n  config { path = %q }\n}\n", e.cpPath)
	path := filepath.Join(e.dir, name+".hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// rec is one record put to the stream.
type rec struct {
	n           int
	data, key   string
	shard, seq  string
	deliveredAt time.Time
}

func recordData(n int) string {
	s := fmt.Sprintf("r-%06d-", n)
	return s + strings.Repeat("x", dataSize-len(s))
}

// put puts records n = from..from+count-1 with PutRecords in batches of
// 500, partition keys spread over the shards, and returns them in put
// order with the shard and sequence number Kinesis assigned.
func (e *env) put(from, count int) []*rec {
	e.t.Helper()
	// A bound against a wedged emulator, not a speed requirement: on a
	// busy machine kinesalite takes 50,000 records at a few hundred a
	// second.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	recs := make([]*rec, count)
	for i := range recs {
		n := from + i
		recs[i] = &rec{n: n, data: recordData(n), key: fmt.Sprintf("pk-%d", n)}
	}
	t0 := time.Now()
	// Batches of 500, four PutRecords calls at a time.
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	sem := make(chan struct{}, 4)
	for lo := 0; lo < count; lo += 500 {
		batch := recs[lo:min(lo+500, count)]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := e.putBatch(ctx, batch); err != nil {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		e.t.Fatal(first)
	}
	if count >= 5000 {
		d := time.Since(t0)
		e.t.Logf("put %d records of %d B in %s (%.0f/s)", count, dataSize, d.Round(time.Millisecond), float64(count)/d.Seconds())
	}
	return recs
}

// putBatch puts recs with one PutRecords call, retrying failed entries.
func (e *env) putBatch(ctx context.Context, recs []*rec) error {
	pending := recs
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 10 {
			return fmt.Errorf("PutRecords: %d records still failing after 10 attempts", len(pending))
		}
		in := &kinesis.PutRecordsInput{StreamName: aws.String(streamName)}
		for _, r := range pending {
			in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: []byte(r.data), PartitionKey: aws.String(r.key)})
		}
		out, err := e.kc.PutRecords(ctx, in)
		if err != nil {
			return fmt.Errorf("PutRecords: %w", err)
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
	return nil
}

// byShard groups recs by shard, each in sequence order.
func byShard(recs []*rec) map[string][]*rec {
	m := map[string][]*rec{}
	for _, r := range recs {
		m[r.shard] = append(m[r.shard], r)
	}
	for _, rs := range m {
		sort.Slice(rs, func(i, j int) bool { return sdk.CompareSequence(rs[i].seq, rs[j].seq) < 0 })
	}
	return m
}

// lastSeqs is each shard's highest sequence number among recs.
func lastSeqs(recs []*rec) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		if sdk.CompareSequence(r.seq, m[r.shard]) > 0 {
			m[r.shard] = r.seq
		}
	}
	return m
}

// checkpoints reads the stored checkpoint of every shard from the file
// store. The host (which holds the file lock) must have exited.
func (e *env) checkpoints() map[string]*sdk.Checkpoint {
	e.t.Helper()
	st := file.New()
	if err := st.Open(e.cpPath, time.Second); err != nil {
		e.t.Fatalf("open checkpoint db: %v", err)
	}
	defer st.Close(context.Background())
	m := map[string]*sdk.Checkpoint{}
	for _, sh := range e.shards {
		cp, found, err := st.Get(context.Background(), sdk.CheckpointKey{App: appName, Stream: streamName, ShardID: sh})
		if err != nil {
			e.t.Fatalf("checkpoint %s: %v", sh, err)
		}
		if found {
			m[sh] = &cp
		}
	}
	return m
}

// checkCheckpointsAtEnd asserts that each shard's stored checkpoint is the
// last sequence number put to it (want).
func (e *env) checkCheckpointsAtEnd(want map[string]string) {
	e.t.Helper()
	got := e.checkpoints()
	for _, sh := range e.shards {
		w, ok := want[sh]
		if !ok {
			continue // no records in this shard
		}
		cp := got[sh]
		switch {
		case cp == nil:
			e.t.Errorf("shard %s: no checkpoint stored, want %s", sh, w)
		case cp.SequenceNumber != w || cp.ShardEnd:
			e.t.Errorf("shard %s: checkpoint %+v, want sequence %s", sh, *cp, w)
		}
	}
}

// ---- the host process ----

type hostProc struct {
	t        testing.TB
	cmd      *exec.Cmd
	logPath  string
	started  time.Time
	done     chan struct{}
	exitedAt time.Time
	cancel   context.CancelFunc
}

var hostSeq struct {
	mu sync.Mutex
	n  int
}

// startHost runs `kinesis-host run -config cfg` with its stderr and stdout
// in a log file. The process is SIGKILLed at cleanup if still running, and
// the log's tail is printed when the test failed.
func (e *env) startHost(cfg string) *hostProc {
	e.t.Helper()
	hostSeq.mu.Lock()
	hostSeq.n++
	n := hostSeq.n
	hostSeq.mu.Unlock()
	logPath := filepath.Join(e.dir, fmt.Sprintf("host-%d.log", n))
	lf, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bins.Host, "run", "-config", cfg)
	cmd.Dir = e.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	h := &hostProc{t: e.t, cmd: cmd, logPath: logPath, done: make(chan struct{}), cancel: cancel}
	h.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		lf.Close()
		e.t.Fatalf("start kinesis-host: %v", err)
	}
	lf.Close() // the child has its own copy
	go func() {
		_ = cmd.Wait()
		h.exitedAt = time.Now()
		close(h.done)
	}()
	e.t.Cleanup(func() {
		h.cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			e.t.Errorf("kinesis-host pid %d did not go away after SIGKILL", cmd.Process.Pid)
		}
		if e.t.Failed() {
			e.t.Logf("---- %s (tail) ----\n%s", filepath.Base(logPath), tailString(h.log(), 24<<10))
		}
	})
	return h
}

func (h *hostProc) pid() int { return h.cmd.Process.Pid }

func (h *hostProc) log() string {
	b, _ := os.ReadFile(h.logPath)
	return string(b)
}

func (h *hostProc) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *hostProc) signal(sig syscall.Signal) {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatalf("signal %v to kinesis-host: %v", sig, err)
	}
}

// wait waits up to d for the host to exit and returns its exit code (-1
// when killed by a signal). It fails the test on timeout.
func (h *hostProc) wait(d time.Duration) int {
	h.t.Helper()
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		h.t.Fatalf("kinesis-host did not exit within %s", d)
		return 0
	}
}

// stop sends SIGTERM and asserts exit code 0 within d.
func (h *hostProc) stop(d time.Duration) time.Duration {
	h.t.Helper()
	t0 := time.Now()
	h.signal(syscall.SIGTERM)
	if code := h.wait(d); code != 0 {
		h.t.Fatalf("kinesis-host exited with %d after SIGTERM, want 0", code)
	}
	return h.exitedAt.Sub(t0)
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}

// ---- the deliveries file ----

// delivery is one line the recorder wrote, plus when the test saw it.
type delivery struct {
	Shard   string `json:"shard"`
	Seq     string `json:"seq"`
	Data    string `json:"data"`
	Key     string `json:"key"`
	Attempt int    `json:"attempt"`
	PID     int    `json:"pid"`
	At      int64  `json:"at"`   // Unix nanoseconds when the recorder wrote it
	Gate    string `json:"gate"` // recorder gate_after: "held" or "after"
	seen    time.Time
}

// deliveries tails a recorder output file.
type deliveries struct {
	t       testing.TB
	path    string
	off     int64
	partial []byte
	all     []delivery
	byData  map[string]int // distinct data → deliveries so far
}

func newDeliveries(t testing.TB, path string) *deliveries {
	return &deliveries{t: t, path: path, byData: map[string]int{}}
}

// poll reads the lines appended since the last call and returns how many
// new deliveries it found.
func (d *deliveries) poll() int {
	d.t.Helper()
	f, err := os.Open(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(d.off, io.SeekStart); err != nil {
		d.t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		d.t.Fatal(err)
	}
	d.off += int64(len(b))
	b = append(d.partial, b...)
	now := time.Now()
	n := 0
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := b[:i]
		b = b[i+1:]
		var dl delivery
		if err := json.Unmarshal(line, &dl); err != nil {
			d.t.Fatalf("%s: bad line %q: %v", d.path, line, err)
		}
		dl.seen = now
		d.all = append(d.all, dl)
		d.byData[dl.Data]++
		n++
	}
	d.partial = append([]byte(nil), b...)
	return n
}

func (d *deliveries) distinct() int { return len(d.byData) }

// lineCounter counts the lines of a growing file without parsing them,
// cheaply enough not to slow down what is being measured.
type lineCounter struct {
	path string
	off  int64
	n    int
	buf  []byte
}

func (c *lineCounter) count() int {
	f, err := os.Open(c.path)
	if err != nil {
		return c.n
	}
	defer f.Close()
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	for {
		k, err := f.ReadAt(c.buf, c.off)
		c.n += bytes.Count(c.buf[:k], []byte{'\n'})
		c.off += int64(k)
		if err != nil || k == 0 {
			return c.n
		}
	}
}

// waitFor polls until cond holds, failing the test after timeout. While
// waiting it also fails fast if host (when non-nil) exits.
func waitFor(t testing.TB, timeout time.Duration, h *hostProc, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if h != nil && h.exited() {
			t.Fatalf("waiting for %s: kinesis-host exited early with code %d", what, h.cmd.ProcessState.ExitCode())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAll polls d until every rec in want has been delivered.
func (d *deliveries) waitAll(timeout time.Duration, h *hostProc, want []*rec) {
	d.t.Helper()
	missing := func() int {
		n := 0
		for _, r := range want {
			if d.byData[r.data] == 0 {
				n++
			}
		}
		return n
	}
	waitFor(d.t, timeout, h, fmt.Sprintf("%d records to be delivered", len(want)), func() bool {
		d.poll()
		return missing() == 0
	})
}

// checkOrder checks one run's deliveries: within each shard, every
// delivery either has a sequence number above every earlier one (a first
// delivery, in order) or repeats one already delivered (a redelivery after
// a crash). It returns the number of redeliveries.
func checkOrder(t testing.TB, ds []delivery) (redeliveries int) {
	t.Helper()
	type shardState struct {
		max  string
		seen map[string]bool
	}
	st := map[string]*shardState{}
	bad := 0
	for i, d := range ds {
		s := st[d.Shard]
		if s == nil {
			s = &shardState{seen: map[string]bool{}}
			st[d.Shard] = s
		}
		switch {
		case sdk.CompareSequence(d.Seq, s.max) > 0:
			s.max = d.Seq
			s.seen[d.Seq] = true
		case s.seen[d.Seq]:
			redeliveries++
		default:
			bad++
			if bad <= 10 {
				t.Errorf("delivery #%d: shard %s seq %s (%.8s) arrives after seq %s without having been delivered before: out of order",
					i, d.Shard, d.Seq, d.Data, s.max)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d out-of-order deliveries in all", bad)
	}
	return redeliveries
}

// checkComplete asserts that every rec in want was delivered (by data),
// with the shard and sequence number Kinesis gave it.
func checkComplete(t testing.TB, want []*rec, ds ...[]delivery) {
	t.Helper()
	got := map[string]delivery{}
	for _, l := range ds {
		for _, d := range l {
			if _, ok := got[d.Data]; !ok {
				got[d.Data] = d
			}
		}
	}
	missing := 0
	for _, r := range want {
		d, ok := got[r.data]
		if !ok {
			missing++
			if missing <= 10 {
				t.Errorf("record %d (shard %s seq %s) was never delivered", r.n, r.shard, r.seq)
			}
			continue
		}
		if d.Shard != r.shard || d.Seq != r.seq || d.Key != r.key {
			t.Errorf("record %d delivered as shard %s seq %s key %s, put as shard %s seq %s key %s",
				r.n, d.Shard, d.Seq, d.Key, r.shard, r.seq, r.key)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records were never delivered", missing, len(want))
	}
}

// ---- processes ----

type procInfo struct {
	pid, ppid int
	state     byte
	argv0     string
}

// listProcs reads every process from /proc (ignoring ones that vanish).
func listProcs() []procInfo {
	ents, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

var statRE = regexp.MustCompile(`\) (\S) (\d+) `)

func readProc(pid int) (procInfo, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, false
	}
	m := statRE.FindStringSubmatch(s[i:])
	if m == nil {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(m[2])
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return procInfo{pid: pid, ppid: ppid, state: m[1][0], argv0: argv0}, true
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}

// pluginChildren lists the live processes whose parent is ppid and whose
// executable is in the plugin dir.
func pluginChildren(ppid int) []procInfo {
	var out []procInfo
	for _, p := range listProcs() {
		if p.ppid == ppid && p.state != 'Z' && strings.HasPrefix(p.argv0, bins.PluginDir+string(filepath.Separator)) {
			out = append(out, p)
		}
	}
	return out
}

// recorderPID is the host's live kinesis-handler-recorder child, or 0.
func recorderPID(hostPID int) int {
	for _, p := range pluginChildren(hostPID) {
		if filepath.Base(p.argv0) == "kinesis-handler-recorder" {
			return p.pid
		}
	}
	return 0
}

// orphanPlugins lists live processes running a binary from the plugin dir
// whose parent is not a kinesis-host from our build.
func orphanPlugins() []procInfo {
	procs := listProcs()
	byPID := map[int]procInfo{}
	for _, p := range procs {
		byPID[p.pid] = p
	}
	var out []procInfo
	for _, p := range procs {
		if p.state == 'Z' || !strings.HasPrefix(p.argv0, bins.PluginDir+string(filepath.Separator)) {
			continue
		}
		if parent, ok := byPID[p.ppid]; ok && parent.argv0 == bins.Host && parent.state != 'Z' {
			continue
		}
		out = append(out, p)
	}
	return out
}

// runHostCmd runs a short kinesis-host subcommand (validate, version) and
// returns its exit code and combined output; it is killed after a minute.
func runHostCmd(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Host, args...)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(b)
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode(), string(b)
	}
	t.Fatalf("kinesis-host %s: %v\n%s", strings.Join(args, " "), err, b)
	return 0, ""
}
