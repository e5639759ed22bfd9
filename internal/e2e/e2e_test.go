package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// TestEndToEnd20k puts 20,000 records over 4 shards, runs the host until
// the recorder has seen every one, stops it with SIGTERM and checks:
// exit 0, every record delivered, in order within each shard, no
// redeliveries, and each shard's stored checkpoint is its last sequence
// number.
func TestEndToEnd20k(t *testing.T) {
	e := newEnv(t, 4)
	recs := e.put(0, 20000)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := e.writeConfig("config", runConfig{out: out})

	h := e.startHost(cfg)
	// Count lines while the clock runs (parsing them here would compete
	// with the host for the CPU); parse and check afterwards.
	lc := &lineCounter{path: out}
	var first time.Time
	waitFor(t, 2*time.Minute, h, "20000 deliveries", func() bool {
		n := lc.count()
		if n > 0 && first.IsZero() {
			first = time.Now()
		}
		return n >= len(recs)
	})
	last := time.Now()
	total := last.Sub(h.started)
	t.Logf("end to end: %d records in %s from host start = %.0f records/s (first record after %s; %.0f records/s from first to last)",
		len(recs), total.Round(time.Millisecond), float64(len(recs))/total.Seconds(),
		first.Sub(h.started).Round(time.Millisecond), float64(len(recs))/last.Sub(first).Seconds())

	drain := h.stop(15 * time.Second)
	t.Logf("SIGTERM to exit: %s", drain.Round(time.Millisecond))
	d := newDeliveries(t, out)
	d.poll()

	checkComplete(t, recs, d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries in a run without faults, want 0", red)
	}
	if len(d.all) != len(recs) {
		t.Errorf("%d deliveries for %d records", len(d.all), len(recs))
	}
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// TestRestartDeliversOnlyNew: after a full run and SIGTERM, records put
// while the host was down are the only ones the next run delivers.
func TestRestartDeliversOnlyNew(t *testing.T) {
	e := newEnv(t, 4)
	first := e.put(0, 2000)
	out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
	h1 := e.startHost(e.writeConfig("run1", runConfig{out: out1}))
	d1 := newDeliveries(t, out1)
	d1.waitAll(time.Minute, h1, first)
	h1.stop(15 * time.Second)
	d1.poll()
	checkComplete(t, first, d1.all)
	checkOrder(t, d1.all)
	e.checkCheckpointsAtEnd(lastSeqs(first))

	second := e.put(2000, 500)
	out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
	h2 := e.startHost(e.writeConfig("run2", runConfig{out: out2}))
	d2 := newDeliveries(t, out2)
	d2.waitAll(time.Minute, h2, second)
	time.Sleep(time.Second) // five poll intervals: anything extra would show up
	h2.stop(15 * time.Second)
	d2.poll()

	isNew := map[string]bool{}
	for _, r := range second {
		isNew[r.data] = true
	}
	old := 0
	for _, dl := range d2.all {
		if !isNew[dl.Data] {
			old++
			if old <= 5 {
				t.Errorf("second run delivered %.8s (shard %s seq %s), which the first run had already done", dl.Data, dl.Shard, dl.Seq)
			}
		}
	}
	if old > 0 {
		t.Errorf("second run delivered %d records of the first batch again", old)
	}
	if len(d2.all) != len(second) {
		t.Errorf("second run made %d deliveries, want exactly %d", len(d2.all), len(second))
	}
	checkComplete(t, second, d2.all)
	checkOrder(t, d2.all)
	e.checkCheckpointsAtEnd(lastSeqs(append(first, second...)))
}

// TestKillPluginMidStream SIGKILLs the handler plugin four times while
// records flow: the host must stay up, restart the plugin, and in the end
// every record is delivered, in order per shard (first deliveries).
//
// The kills are placed by events: each recorder process, after 2000
// deliveries of its own, holds its next batches (gate_after) and names
// itself in <out>.gated-<shard>; the test kills that process while it has
// a batch in flight. After the last kill the gate is opened for good.
func TestKillPluginMidStream(t *testing.T) {
	e := newEnv(t, 4)
	recs := e.put(0, 20000)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := e.svWriteConfig("config", svOneStream("  batch_max_records = 20\n", "",
		map[string]any{"out": out, "gate_after": 2000}))
	h := e.startHost(cfg)
	d := newDeliveries(t, out)

	const kills = 4
	var backs, respawns []time.Duration
	killed := map[int]bool{}
	for k := 1; k <= kills; k++ {
		var pid int
		waitFor(t, 2*time.Minute, h, fmt.Sprintf("a recorder process holding a batch before kill %d", k), func() bool {
			for _, sh := range e.shards {
				b, _ := os.ReadFile(out + ".gated-" + sh)
				if p, err := strconv.Atoi(string(b)); err == nil && !killed[p] {
					pid = p
					return true
				}
			}
			return false
		})
		if p := recorderPID(h.pid()); p != pid {
			t.Fatalf("kill %d: the recorder holding a batch is process %d, but the host's recorder child is %d", k, pid, p)
		}
		d.poll()
		if d.distinct() >= len(recs) {
			t.Fatalf("all records were delivered before kill %d", k)
		}
		before := len(d.all)
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		killed[pid] = true
		if k == kills {
			if err := os.WriteFile(out+".release", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var respawn time.Duration
		waitFor(t, time.Minute, h, fmt.Sprintf("a delivery after kill %d", k), func() bool {
			if respawn == 0 {
				if p := recorderPID(h.pid()); p != 0 && p != pid {
					respawn = time.Since(t0)
				}
			}
			d.poll()
			for _, dl := range d.all[before:] {
				if dl.PID != pid {
					return true
				}
			}
			return false
		})
		var back time.Duration
		for _, dl := range d.all[before:] {
			if dl.PID != pid {
				back = time.Unix(0, dl.At).Sub(t0)
				break
			}
		}
		backs = append(backs, back)
		respawns = append(respawns, respawn)
		if h.exited() {
			t.Fatalf("kinesis-host exited after kill %d", k)
		}
	}
	d.waitAll(5*time.Minute, h, recs)
	if h.exited() {
		t.Fatal("kinesis-host exited")
	}
	h.stop(time.Minute) // shutdown_timeout (30s) bounds the drain
	d.poll()

	checkComplete(t, recs, d.all)
	red := checkOrder(t, d.all)
	pids := map[int]bool{}
	for _, dl := range d.all {
		pids[dl.PID] = true
	}
	if len(pids) != kills+1 {
		t.Errorf("deliveries came from %d recorder processes, want %d (one per start)", len(pids), kills+1)
	}
	t.Logf("plugin killed %d times: kill → new process %v; kill → next delivery %v (mean %s)",
		kills, roundAll(respawns), roundAll(backs), mean(backs).Round(time.Millisecond))
	retried := 0
	for _, dl := range d.all {
		if dl.Attempt > 1 {
			retried++
		}
	}
	t.Logf("%d deliveries for %d records: %d duplicates in the file; %d deliveries were attempt > 1 (batches handed again after a crash); host log: %d \"delivered again\" warnings",
		len(d.all), len(recs), red, retried, strings.Count(h.log(), "it will be delivered again"))
	var backoffs []time.Duration
	for _, m := range backoffRE.FindAllStringSubmatch(h.log(), -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			backoffs = append(backoffs, d)
		}
	}
	if len(backoffs) == len(backs) {
		over := make([]time.Duration, len(backs))
		for i := range backs {
			over[i] = backs[i] - backoffs[i]
		}
		t.Logf("restart backoffs (restart { backoff } default 1s ±20%%): %v; kill → next delivery minus backoff: %v", roundAll(backoffs), roundAll(over))
	}
	if n := strings.Count(h.log(), "plugin is back"); n < kills {
		t.Errorf("host log says \"plugin is back\" %d times, want %d", n, kills)
	}
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// TestSigtermMidStreamNoGap stops the host with SIGTERM while records are
// flowing: it exits 0 within a few seconds, and a second run delivers the
// rest, with nothing missing and nothing delivered twice (draining stores
// the checkpoints of everything acknowledged).
func TestSigtermMidStreamNoGap(t *testing.T) {
	e := newEnv(t, 4)
	recs := e.put(0, 20000)
	out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
	// SIGTERM comes while a batch of every shard is in flight, after 2000
	// deliveries (the recorder holds the next batches until the host is
	// draining), with pages of 200 records: some of a fetched page is
	// neither delivered nor acknowledged.
	h1 := e.startHost(e.svWriteConfig("run1", svOneStream(
		"  batch_max_records = 50\n  max_records = 200\n", "",
		map[string]any{"out": out1, "gate_after": 2000},
	)))
	d1 := newDeliveries(t, out1)
	drain := e.svStopAtGate(h1, out1)
	d1.poll()
	t.Logf("SIGTERM with a batch of every shard in flight: exit 0 after %s; %d records delivered by then",
		drain.Round(time.Millisecond), d1.distinct())
	if d1.distinct() >= len(recs) {
		t.Fatalf("the first run delivered all %d records: SIGTERM did not land mid-stream", len(recs))
	}
	checkOrder(t, d1.all)

	out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
	h2 := e.startHost(e.writeConfig("run2", runConfig{out: out2}))
	d2 := newDeliveries(t, out2)
	waitFor(t, 2*time.Minute, h2, "the rest of the records", func() bool {
		d2.poll()
		for _, r := range recs {
			if d1.byData[r.data] == 0 && d2.byData[r.data] == 0 {
				return false
			}
		}
		return true
	})
	h2.stop(15 * time.Second)
	d2.poll()
	checkComplete(t, recs, d1.all, d2.all)
	checkOrder(t, d2.all)
	again := 0
	for _, dl := range d2.all {
		if d1.byData[dl.Data] > 0 {
			again++
		}
	}
	t.Logf("run 1 delivered %d, run 2 delivered %d; %d delivered by both", len(d1.all), len(d2.all), again)
	if again > 0 {
		t.Errorf("%d records acknowledged before SIGTERM were delivered again after the restart (draining should have stored their checkpoints)", again)
	}
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// TestSigtermDrainsOnlyInFlightBatches: on SIGTERM the host stops
// fetching and lets the batch in flight on each shard finish; it does not
// go on delivering the rest of a GetRecords page it already holds (up to
// max_records = 10,000 records a shard), which with a slow handler turns a
// prompt stop into a long one.
//
// "In flight" and "after the signal" are decided by events, not by the
// test's clock: after 2000 deliveries the recorder holds the next batch of
// every shard (gate_after) until the test releases it, and the test
// releases it only once the host has logged that it is draining. So each
// shard has exactly one batch in flight when the drain starts, and every
// batch that begins after the release is one the host started while
// draining (the recorder marks its lines "after").
func TestSigtermDrainsOnlyInFlightBatches(t *testing.T) {
	e := newEnv(t, 4)
	recs := e.put(0, 20000)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	const batch = 50
	h := e.startHost(e.svWriteConfig("run", svOneStream(
		fmt.Sprintf("  batch_max_records = %d\n", batch), // max_records: the default, 10000
		"", map[string]any{"out": out, "gate_after": 2000},
	)))
	d := newDeliveries(t, out)
	// Every line so far is in the file once every shard is held: each
	// shard's previous batch was answered before its held one began.
	waitFor(t, 2*time.Minute, h, "a batch of every shard held at the recorder's gate", func() bool {
		for _, sh := range e.shards {
			if !svExists(out + ".gated-" + sh) {
				return false
			}
		}
		return true
	})
	d.poll()
	atSignal := len(d.all)
	drain := e.svStopAtGate(h, out)
	d.poll()
	checkOrder(t, d.all)

	held, after := map[string]int{}, map[string]int{}
	maxSeq := map[string]string{}
	for i, dl := range d.all {
		switch {
		case dl.Gate == "held":
			held[dl.Shard]++
		case dl.Gate == "after":
			after[dl.Shard]++
		case i >= atSignal:
			t.Errorf("shard %s seq %s: a delivery of a batch that began before the gate was written after every shard was held", dl.Shard, dl.Seq)
		}
		if sdk.CompareSequence(dl.Seq, maxSeq[dl.Shard]) > 0 {
			maxSeq[dl.Shard] = dl.Seq
		}
	}
	extra := 0
	for _, sh := range e.shards {
		extra += after[sh]
		// The batch in flight when the drain began finishes.
		if held[sh] == 0 || held[sh] > batch {
			t.Errorf("shard %s: %d records of the batch in flight at SIGTERM were delivered, want 1..%d (the whole in-flight batch)", sh, held[sh], batch)
		}
		// No batch begins after the drain began. One is tolerated: the
		// host logs "draining" just before it stops fetching, so a batch
		// may begin in between. Not draining would deliver the rest of
		// the fetched page: thousands of records a shard.
		if after[sh] > batch {
			t.Errorf("shard %s: %d records were delivered in batches that began after the host started draining, want at most one batch (%d): draining delivers the rest of each fetched page, not just the in-flight batch", sh, after[sh], batch)
		}
	}
	t.Logf("SIGTERM with one batch of every shard in flight (%d deliveries before): exit 0 after %s; in-flight batches delivered %v records; batches begun after the drain started delivered %d records (of %d)",
		atSignal, drain.Round(time.Millisecond), held, extra, len(recs))
	if d.distinct() >= len(recs) {
		t.Errorf("all %d records were delivered: the drain did not stop at the in-flight batches", len(recs))
	}
	if strings.Contains(h.log(), "shutdown_timeout reached") {
		t.Errorf("the drain ran into shutdown_timeout; in-flight batches should have finished")
	}
	// The drain stored the checkpoint of everything acknowledged: each
	// shard's checkpoint is its last delivered record.
	e.checkCheckpointsAtEnd(maxSeq)
}

// TestScanStatus checks StopScan, SkipCheckpoint and Error end to end.
func TestScanStatus(t *testing.T) {
	t.Run("StopScan", func(t *testing.T) {
		e := newEnv(t, 4)
		recs := e.put(0, 400)
		shards := byShard(recs)
		target := shards[e.shards[0]]
		stop := target[len(target)/2]

		out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
		cfg := runConfig{out: out1, recorder: map[string]string{"stop_data": stop.data}}
		h1 := e.startHost(e.writeConfig("run1", cfg))
		if code := h1.wait(30 * time.Second); code != 0 {
			t.Fatalf("after StopScan kinesis-host exited with %d, want 0", code)
		}
		d1 := newDeliveries(t, out1)
		d1.poll()
		checkOrder(t, d1.all)
		if d1.byData[stop.data] != 1 {
			t.Errorf("the StopScan record was delivered %d times, want 1", d1.byData[stop.data])
		}
		for _, dl := range d1.all {
			if dl.Shard == stop.shard && sdk.CompareSequence(dl.Seq, stop.seq) > 0 {
				t.Errorf("shard %s: seq %s delivered after the StopScan record %s", dl.Shard, dl.Seq, stop.seq)
			}
		}
		checkComplete(t, target[:len(target)/2+1], d1.all) // no gap before the stop
		cps := e.checkpoints()
		if cp := cps[stop.shard]; cp == nil || cp.SequenceNumber != stop.seq {
			t.Errorf("shard %s: checkpoint %+v, want the StopScan record's sequence %s", stop.shard, cp, stop.seq)
		}

		out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
		cfg.out = out2
		h2 := e.startHost(e.writeConfig("run2", cfg))
		d2 := newDeliveries(t, out2)
		waitFor(t, time.Minute, h2, "the rest of the records", func() bool {
			d2.poll()
			for _, r := range recs {
				if d1.byData[r.data] == 0 && d2.byData[r.data] == 0 {
					return false
				}
			}
			return true
		})
		time.Sleep(500 * time.Millisecond)
		h2.stop(15 * time.Second)
		d2.poll()
		if d2.byData[stop.data] != 0 {
			t.Errorf("the restart delivered the StopScan record again")
		}
		checkComplete(t, recs, d1.all, d2.all)
		checkOrder(t, d2.all)
		e.checkCheckpointsAtEnd(lastSeqs(recs))
	})

	t.Run("SkipCheckpoint", func(t *testing.T) {
		e := newEnv(t, 4)
		recs := e.put(0, 400)
		shards := byShard(recs)
		target := shards[e.shards[1]]
		skip, prev := target[len(target)-1], target[len(target)-2]

		out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
		cfg := runConfig{out: out1, recorder: map[string]string{"skip_data": skip.data}}
		h1 := e.startHost(e.writeConfig("run1", cfg))
		d1 := newDeliveries(t, out1)
		d1.waitAll(time.Minute, h1, recs)
		time.Sleep(500 * time.Millisecond)
		h1.stop(15 * time.Second)
		d1.poll()
		checkComplete(t, recs, d1.all)
		checkOrder(t, d1.all)
		want := lastSeqs(recs)
		want[skip.shard] = prev.seq
		e.checkCheckpointsAtEnd(want)

		out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
		cfg.out = out2
		h2 := e.startHost(e.writeConfig("run2", cfg))
		d2 := newDeliveries(t, out2)
		d2.waitAll(time.Minute, h2, []*rec{skip})
		time.Sleep(time.Second)
		h2.stop(15 * time.Second)
		d2.poll()
		for _, dl := range d2.all {
			if dl.Data != skip.data {
				t.Errorf("the restart delivered %.8s (shard %s seq %s); want only the skipped record %.8s", dl.Data, dl.Shard, dl.Seq, skip.data)
			}
		}
		e.checkCheckpointsAtEnd(want)
	})

	t.Run("Error", func(t *testing.T) {
		e := newEnv(t, 4)
		recs := e.put(0, 400)
		shards := byShard(recs)
		target := shards[e.shards[2]]
		i := len(target) / 2
		poison := target[i]

		out := filepath.Join(e.dir, "deliveries.jsonl")
		h := e.startHost(e.writeConfig("run", runConfig{out: out, recorder: map[string]string{"fail_data": poison.data}}))
		code := h.wait(30 * time.Second)
		if code == 0 || code == -1 {
			t.Errorf("after ScanStatus.Error kinesis-host exited with %d, want a non-zero exit status", code)
		}
		if log := h.log(); !strings.Contains(log, "poison record: "+poison.data) {
			t.Errorf("host output does not contain the handler's error text %q", "poison record: "+poison.data[:8]+"…")
		}
		d := newDeliveries(t, out)
		d.poll()
		checkOrder(t, d.all)
		checkComplete(t, target[:i], d.all) // everything before the poison
		for _, dl := range d.all {
			if dl.Shard == poison.shard && sdk.CompareSequence(dl.Seq, poison.seq) >= 0 {
				t.Errorf("shard %s: seq %s delivered at/after the failing record %s", dl.Shard, dl.Seq, poison.seq)
			}
		}
		cp := e.checkpoints()[poison.shard]
		if cp != nil && (cp.ShardEnd || sdk.CompareSequence(cp.SequenceNumber, poison.seq) >= 0) {
			t.Errorf("shard %s: checkpoint %+v is at or after the failing record %s", poison.shard, *cp, poison.seq)
		}
		if cp == nil || cp.SequenceNumber != target[i-1].seq {
			t.Logf("note: shard %s checkpoint %+v; the record before the failing one is %s", poison.shard, cp, target[i-1].seq)
		}
	})
}

// TestKillHostNoOrphans SIGKILLs the host: its plugin processes must be
// gone within 2 s.
func TestKillHostNoOrphans(t *testing.T) {
	e := newEnv(t, 2)
	recs := e.put(0, 100)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(e.writeConfig("config", runConfig{out: out}))
	d := newDeliveries(t, out)
	d.waitAll(time.Minute, h, recs)
	kids := pluginChildren(h.pid())
	if len(kids) != 2 {
		t.Fatalf("host has %d plugin children %v, want 2 (handler and checkpoint)", len(kids), kids)
	}
	h.signal(syscall.SIGKILL)
	if code := h.wait(5 * time.Second); code != -1 {
		t.Fatalf("exit code %d after SIGKILL, want -1", code)
	}
	t0 := time.Now()
	deadline := t0.Add(2 * time.Second)
	for {
		var left []procInfo
		for _, k := range kids {
			if alive(k.pid) {
				left = append(left, k)
			}
		}
		orphans := orphanPlugins()
		if len(left) == 0 && len(orphans) == 0 {
			t.Logf("plugins gone %s after the host was killed", time.Since(t0).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			for _, p := range append(left, orphans...) {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			t.Fatalf("2 s after the host was SIGKILLed these plugins still run: %+v (orphans: %+v)", left, orphans)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestValidate runs `kinesis-host validate`.
func TestValidate(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), ep: "http://127.0.0.1:1"}
	e.cpPath = filepath.Join(e.dir, "data", "checkpoints.db")
	out := filepath.Join(e.dir, "deliveries.jsonl")

	validate := func(t *testing.T, cfg string) (int, string) {
		t.Helper()
		return runHostCmd(t, "validate", "-config", cfg)
	}
	// lineOf is the 1-based line of the first line of cfg containing s.
	lineOf := func(t *testing.T, cfg, s string) int {
		t.Helper()
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%s has no line containing %q", cfg, s)
		return 0
	}
	// hasPos reports whether output points at cfg's line n (file:line, or
	// HCL's "on FILE line N").
	hasPos := func(output, cfg string, n int) bool {
		re := regexp.MustCompile(regexp.QuoteMeta(filepath.Base(cfg)) + fmt.Sprintf(`(:| line )%d\b`, n))
		return re.MatchString(output)
	}
	bad := func(name string, typo, missing bool) string {
		cfg := e.writeConfig(name, runConfig{out: out})
		b, _ := os.ReadFile(cfg)
		s := string(b)
		if typo {
			s = strings.Replace(s, `start_position = "TRIM_HORIZON"`, `start_position = "TRIM_HORIZN"`, 1)
		}
		if missing {
			s = strings.Replace(s, `plugin = "recorder"`, `plugin = "recordr"`, 1)
		}
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("Good", func(t *testing.T) {
		cfg := e.writeConfig("good", runConfig{out: out})
		if code, output := validate(t, cfg); code != 0 {
			t.Fatalf("validate on a good file: exit %d, want 0\n%s", code, output)
		}
	})
	t.Run("Typo", func(t *testing.T) {
		cfg := bad("typo", true, false)
		code, output := validate(t, cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if n := lineOf(t, cfg, "TRIM_HORIZN"); !strings.Contains(output, "TRIM_HORIZN") || !hasPos(output, cfg, n) {
			t.Errorf("output does not report the start_position typo at %s:%d:\n%s", filepath.Base(cfg), n, output)
		}
	})
	t.Run("MissingPlugin", func(t *testing.T) {
		cfg := bad("missing", false, true)
		code, output := validate(t, cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if n := lineOf(t, cfg, `"recordr"`); !strings.Contains(output, "kinesis-handler-recordr") || !hasPos(output, cfg, n) {
			t.Errorf("output does not report the missing plugin binary at %s:%d:\n%s", filepath.Base(cfg), n, output)
		}
	})
	// Every problem at once: a bad attribute must not hide a missing
	// plugin binary.
	t.Run("TypoAndMissingPlugin", func(t *testing.T) {
		cfg := bad("both", true, true)
		code, output := validate(t, cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if n := lineOf(t, cfg, "TRIM_HORIZN"); !strings.Contains(output, "TRIM_HORIZN") || !hasPos(output, cfg, n) {
			t.Errorf("output does not report the start_position typo at %s:%d", filepath.Base(cfg), n)
		}
		if n := lineOf(t, cfg, `"recordr"`); !strings.Contains(output, "kinesis-handler-recordr") || !hasPos(output, cfg, n) {
			t.Errorf("output does not report the missing plugin binary at %s:%d", filepath.Base(cfg), n)
		}
		if t.Failed() {
			t.Logf("validate output:\n%s", output)
		}
	})
}

var backoffRE = regexp.MustCompile(`restarting plugin after backoff: backoff=(\S+)`)

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}
