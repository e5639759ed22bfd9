package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// TestChaos puts 20,000 records over 4 shards and runs the host while the
// handler plugin is SIGKILLed 20 times at random points and hangs twice
// (two records hang the recorder; call_timeout kills it). Every record
// must be delivered at least once, first deliveries in order per shard, the
// final checkpoints at the last sequence numbers, and every duplicate a
// redelivery (attempt > 1) of a record delivered before with a lower
// attempt.
//
// The kills are scheduled by events, not by the clock: the recorder
// SIGKILLs itself when the deliveries file reaches each of 20 random line
// counts (kill_at), right after recording a record, with the other shards'
// batches wherever they happen to be. So every kill happens however fast
// or slow the machine is, and never while a hang is in progress.
func TestChaos(t *testing.T) {
	const (
		n     = 20000
		kills = 20
	)
	e := newEnv(t, 4)
	recs := e.put(0, n)
	shards := byShard(recs)
	// Both hang records are in one shard, so the second hang cannot start
	// before the first has been dealt with (other shards run ahead while
	// it hangs, so records of two shards could hang the same process).
	s0 := shards[e.shards[0]]
	hangs := []*rec{s0[len(s0)/4], s0[len(s0)*5/8]}

	// Kill points: random line counts of the deliveries file between 3 %
	// and 90 % of the records, sorted. Each one is reached: when the file
	// first holds that many lines, records are still undelivered.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	points := make([]int, kills)
	for i := range points {
		points[i] = int(float64(n) * (0.03 + 0.87*rng.Float64()))
	}
	slices.Sort(points)
	t.Logf("records per shard: %d %d %d %d; kill points (lines in the deliveries file): %v; hang records: shard %s seqs %s, %s",
		len(s0), len(shards[e.shards[1]]), len(shards[e.shards[2]]), len(shards[e.shards[3]]), points, hangs[0].shard, hangs[0].seq, hangs[1].seq)

	out := filepath.Join(e.dir, "deliveries.jsonl")
	// Batches of 50 records with 10 ms per batch: 100 batches a shard.
	// call_timeout is far above any real batch, so only the hangs hit it.
	cfg := e.svWriteConfig("chaos", svOneStream(
		"  batch_max_records = 50\n  max_records = 1000\n",
		"  call_timeout = \"5s\"\n  restart {\n    max_restarts = 100\n    window = \"10m\"\n    backoff = \"100ms\"\n    max_backoff = \"500ms\"\n  }\n",
		map[string]any{"out": out, "delay": "10ms", "hang_data_list": []string{hangs[0].data, hangs[1].data}, "kill_at": points},
	))
	h := e.startHost(cfg)
	d := newDeliveries(t, out)
	hangMarker := func(r *rec) string { return out + ".hung-" + r.seq }

	d.waitAll(10*time.Minute, h, recs)
	h.stop(time.Minute) // shutdown_timeout (30s) bounds the drain
	d.poll()
	log := h.log()

	checkComplete(t, recs, d.all)
	dups := checkOrder(t, d.all)

	// Duplicates only as redeliveries: a later delivery of a record must
	// carry a higher attempt than its first one.
	firstAttempt := map[[2]string]int{}
	redelivered, badDup := 0, 0
	for _, dl := range d.all {
		if dl.Attempt > 1 {
			redelivered++
		}
		k := [2]string{dl.Shard, dl.Seq}
		a, seen := firstAttempt[k]
		if !seen {
			firstAttempt[k] = dl.Attempt
			continue
		}
		if dl.Attempt <= a {
			badDup++
			if badDup <= 10 {
				t.Errorf("shard %s seq %s delivered again with attempt %d after a delivery with attempt %d: a duplicate that is not a redelivery",
					dl.Shard, dl.Seq, dl.Attempt, a)
			}
		}
	}
	if badDup > 0 {
		t.Errorf("%d duplicates were not redeliveries of an unacknowledged batch", badDup)
	}

	var hangBacks []time.Duration
	for i, r := range hangs {
		fi, err := os.Stat(hangMarker(r))
		if err != nil {
			t.Errorf("hang record %d (shard %s seq %s) never hung the recorder", i+1, r.shard, r.seq)
			continue
		}
		for _, dl := range d.all {
			if dl.Data == r.data {
				hangBacks = append(hangBacks, time.Unix(0, dl.At).Sub(fi.ModTime()))
				break
			}
		}
	}
	timeouts := strings.Count(log, "plugin failed; it will be restarted: reason=\"call_timeout (5s) exceeded")
	if timeouts != len(hangs) {
		t.Errorf("host log has %d call_timeout kills, want %d (one per hang)", timeouts, len(hangs))
	}
	failed := strings.Count(log, "plugin failed; it will be restarted")
	if failed != kills+len(hangs) {
		t.Errorf("host log reports %d plugin failures, want %d (%d kills + %d hangs)", failed, kills+len(hangs), kills, len(hangs))
	}

	// Every kill point was reached, each by a different process, and the
	// host started one process for the first start and one per kill and
	// hang; every delivery came from one of them.
	starts := svReadStamps(t, out+".starts")
	started := map[int]time.Time{}
	for _, s := range starts {
		started[s.pid] = s.at
	}
	if len(starts) != 1+kills+len(hangs) || len(started) != len(starts) {
		t.Errorf("the recorder was started %d times (%d distinct processes), want %d (first start + one per kill and hang)", len(starts), len(started), 1+kills+len(hangs))
	}
	var killBacks, respawns []time.Duration
	killed := map[int]bool{}
	for k := range points {
		ks := svReadStamps(t, fmt.Sprintf("%s.killed-%d", out, k))
		if len(ks) != 1 {
			t.Errorf("kill %d (at %d lines) did not happen: the marker holds %d entries", k+1, points[k], len(ks))
			continue
		}
		kill := ks[0]
		if killed[kill.pid] {
			t.Errorf("kill %d: process %d was killed twice", k+1, kill.pid)
		}
		killed[kill.pid] = true
		// Kill → the next process started, and → the first delivery by
		// another process after it (the recorder's own timestamps).
		var next time.Time
		for _, s := range starts {
			if s.at.After(kill.at) && (next.IsZero() || s.at.Before(next)) {
				next = s.at
			}
		}
		if !next.IsZero() {
			respawns = append(respawns, next.Sub(kill.at))
		}
		for _, dl := range d.all {
			if dl.PID != kill.pid && dl.At > kill.at.UnixNano() {
				killBacks = append(killBacks, time.Unix(0, dl.At).Sub(kill.at))
				break
			}
		}
	}
	for _, dl := range d.all {
		if _, ok := started[dl.PID]; !ok {
			t.Errorf("a delivery came from process %d, which the recorder's starts file does not list", dl.PID)
			break
		}
	}
	if strings.Contains(log, "restart budget exhausted") {
		t.Errorf("the restart budget was exhausted in the chaos run")
	}

	t.Logf("chaos: %d records, %d deliveries; %d duplicates in the deliveries file (all redeliveries); %d deliveries with attempt > 1; host log: %d \"delivered again\" warnings, %d plugin failures (%d SIGKILL, %d call_timeout)",
		n, len(d.all), dups, redelivered, strings.Count(log, "it will be delivered again"), failed, kills, timeouts)
	t.Logf("SIGKILL → new plugin process: %s", svStats(respawns))
	t.Logf("SIGKILL → next delivered batch: %s (restart backoff 100ms ±20%%)", svStats(killBacks))
	t.Logf("hang → call_timeout kill → hung record delivered: %s (call_timeout 5s)", svStats(hangBacks))
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// svPoisonSetup puts 200 records over 2 shards and picks the failing one:
// in the middle of the first shard.
func svPoisonSetup(t *testing.T) (*env, []*rec, *rec) {
	e := newEnv(t, 2)
	recs := e.put(0, 200)
	target := byShard(recs)[e.shards[0]]
	return e, recs, target[len(target)/2]
}

// svWithout returns recs minus r.
func svWithout(recs []*rec, r *rec) []*rec {
	var out []*rec
	for _, x := range recs {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}

// TestPoisonRecord: one record that always fails, under each on_failure
// policy.
func TestPoisonRecord(t *testing.T) {
	const retryMsg = "record failed; delivering it again"

	// stop: retried max_attempts times, then the host exits 1 with the
	// handler's error text; the checkpoint stays before the record.
	t.Run("Stop", func(t *testing.T) {
		e, _, poison := svPoisonSetup(t)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		h := e.startHost(e.svWriteConfig("stop", svOneStream("",
			"  on_failure = \"stop\"\n  max_attempts = 2\n  retry_backoff = \"100ms\"\n",
			map[string]any{"out": out, "fail_data": poison.data})))
		if code := h.wait(30 * time.Second); code != 1 {
			t.Fatalf("kinesis-host exited with %d after the poison record, want 1", code)
		}
		log := h.log()
		if !strings.Contains(log, "poison record: "+poison.data) {
			t.Errorf("host output does not contain the handler's error text %q", "poison record: "+poison.data[:8]+"…")
		}
		if n := strings.Count(log, retryMsg); n != 1 {
			t.Errorf("host log says %q %d times, want 1 (max_attempts = 2)", retryMsg, n)
		}
		d := newDeliveries(t, out)
		d.poll()
		if d.byData[poison.data] != 0 {
			t.Errorf("the poison record was recorded as delivered")
		}
		checkOrder(t, d.all)
		cp := e.checkpoints()[poison.shard]
		if cp != nil && (cp.ShardEnd || sdk.CompareSequence(cp.SequenceNumber, poison.seq) >= 0) {
			t.Errorf("shard %s: checkpoint %+v is at or after the failing record %s", poison.shard, *cp, poison.seq)
		}
	})

	// skip: three attempts, then it is skipped, logged, and everything
	// else is delivered; the checkpoint moves past it.
	t.Run("Skip", func(t *testing.T) {
		e, recs, poison := svPoisonSetup(t)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		h := e.startHost(e.svWriteConfig("skip", svOneStream("",
			"  on_failure = \"skip\"\n  max_attempts = 3\n  retry_backoff = \"100ms\"\n",
			map[string]any{"out": out, "fail_data": poison.data})))
		d := newDeliveries(t, out)
		d.waitAll(time.Minute, h, svWithout(recs, poison))
		h.svWaitLog(10*time.Second, "SKIPPING")
		time.Sleep(500 * time.Millisecond)
		h.stop(15 * time.Second)
		d.poll()
		log := h.log()
		if n := strings.Count(log, retryMsg); n != 2 {
			t.Errorf("host log says %q %d times, want 2 (max_attempts = 3)", retryMsg, n)
		}
		if !regexp.MustCompile(`SKIPPING.*sequence=` + poison.seq + `.*attempts=3`).MatchString(log) {
			t.Errorf("the host log does not name the skipped record's sequence %s and attempts=3", poison.seq)
		}
		if !strings.Contains(log, "skipped=1") {
			t.Errorf("the host's final stats do not count one skipped record")
		}
		if d.byData[poison.data] != 0 {
			t.Errorf("the poison record was recorded as delivered")
		}
		svCheckExactlyOnce(t, svWithout(recs, poison), d.all)
		checkOrder(t, d.all)
		e.checkCheckpointsAtEnd(lastSeqs(recs))
	})

	// dead_letter: the whole record goes to the JSON-lines file, the rest
	// flows, and `kinesis-host replay` delivers it once the handler is
	// fixed.
	t.Run("DeadLetter", func(t *testing.T) {
		e, recs, poison := svPoisonSetup(t)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		dlq := filepath.Join(e.dir, "dead", "dlq.jsonl")
		deadLetter := "  on_failure = \"dead_letter\"\n  max_attempts = 2\n  retry_backoff = \"100ms\"\n  dead_letter {\n    file = \"dead/dlq.jsonl\"\n  }\n"
		failing := e.svWriteConfig("dead-letter", svOneStream("", deadLetter, map[string]any{"out": out, "fail_data": poison.data}))
		h := e.startHost(failing)
		d := newDeliveries(t, out)
		d.waitAll(time.Minute, h, svWithout(recs, poison))
		h.svWaitLog(10*time.Second, "written to the dead-letter target")
		time.Sleep(500 * time.Millisecond)
		h.stop(15 * time.Second)
		d.poll()
		svCheckExactlyOnce(t, svWithout(recs, poison), d.all)
		e.checkCheckpointsAtEnd(lastSeqs(recs))
		if !strings.Contains(h.log(), "dead_lettered=1") {
			t.Errorf("the host's final stats do not count one dead-lettered record")
		}

		dls := svReadDeadLetters(t, dlq)
		if len(dls) != 1 {
			t.Fatalf("dead-letter file has %d lines, want 1", len(dls))
		}
		e.svCheckDeadLetter(dls[0], poison, 2)

		// Replay with a handler that no longer fails.
		replayOut := filepath.Join(e.dir, "replayed.jsonl")
		fixed := e.svWriteConfig("fixed", svOneStream("", "", map[string]any{"out": replayOut}))
		code, stdout, stderr := svRunCmd(t, "replay", "-config", fixed, "-from", dlq)
		if code != 0 {
			t.Fatalf("replay exited with %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "1 handled, 0 failed") {
			t.Errorf("replay output does not say %q:\n%s", "1 handled, 0 failed", stdout)
		}
		rd := newDeliveries(t, replayOut)
		rd.poll()
		if len(rd.all) != 1 {
			t.Fatalf("replay delivered %d records, want 1: %+v", len(rd.all), rd.all)
		}
		if r := rd.all[0]; r.Data != poison.data || r.Key != poison.key || r.Shard != poison.shard || r.Seq != poison.seq {
			t.Errorf("replay delivered shard %s seq %s key %s data %.8s, want the dead letter (shard %s seq %s key %s data %.8s)",
				r.Shard, r.Seq, r.Key, r.Data, poison.shard, poison.seq, poison.key, poison.data)
		}

		// Replay with the handler still failing: reported, exit 1.
		code, stdout, _ = svRunCmd(t, "replay", "-config", failing, "-from", dlq)
		if code != 1 || !strings.Contains(stdout, "FAILED") || !strings.Contains(stdout, poison.seq) {
			t.Errorf("replay through the still-failing handler: exit %d, want 1 with a FAILED line naming %s:\n%s", code, poison.seq, stdout)
		}
	})

	// dead_letter { stream }: the same envelope as a Kinesis record of
	// another stream, keeping the record's partition key.
	t.Run("DeadLetterStream", func(t *testing.T) {
		const dlqStream = "e2e-dlq"
		e, recs, poison := svPoisonSetup(t)
		e.svCreateStream(dlqStream, 1)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		h := e.startHost(e.svWriteConfig("dead-letter-stream", svOneStream("",
			"  on_failure = \"dead_letter\"\n  max_attempts = 2\n  retry_backoff = \"100ms\"\n  dead_letter {\n    stream = \""+dlqStream+"\"\n  }\n",
			map[string]any{"out": out, "fail_data": poison.data})))
		d := newDeliveries(t, out)
		d.waitAll(time.Minute, h, svWithout(recs, poison))
		h.svWaitLog(10*time.Second, "written to the dead-letter target")
		time.Sleep(500 * time.Millisecond)
		h.stop(15 * time.Second)
		d.poll()
		svCheckExactlyOnce(t, svWithout(recs, poison), d.all)
		e.checkCheckpointsAtEnd(lastSeqs(recs))

		kr := e.svReadStream(dlqStream)
		if len(kr) != 1 {
			t.Fatalf("dead-letter stream holds %d records, want 1", len(kr))
		}
		if k := aws.ToString(kr[0].PartitionKey); k != poison.key {
			t.Errorf("dead-letter stream record has partition key %q, want the record's %q", k, poison.key)
		}
		var dl svDeadLetter
		if err := json.Unmarshal(kr[0].Data, &dl); err != nil {
			t.Fatalf("dead-letter stream record is not a JSON dead letter: %v\n%s", err, kr[0].Data)
		}
		e.svCheckDeadLetter(dl, poison, 2)
	})
}

// TestPartialBatchAck: the recorder acknowledges only the first half of
// each shard's first batch; the host delivers the rest again (attempt 2)
// right away, nothing is lost or duplicated, and the checkpoints end at
// the last records.
func TestPartialBatchAck(t *testing.T) {
	e := newEnv(t, 4)
	recs := e.put(0, 2000)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(e.svWriteConfig("partial", svOneStream("  batch_max_records = 100\n", "",
		map[string]any{"out": out, "ack_half_once": true})))
	d := newDeliveries(t, out)
	d.waitAll(time.Minute, h, recs)
	time.Sleep(500 * time.Millisecond)
	h.stop(15 * time.Second)
	d.poll()

	svCheckExactlyOnce(t, recs, d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries of acknowledged records", red)
	}
	// Per shard the attempts read 1×k, 2×m (the unacknowledged half,
	// m = k or k+1), then 1 to the end.
	perShard := map[string][]int{}
	for _, dl := range d.all {
		perShard[dl.Shard] = append(perShard[dl.Shard], dl.Attempt)
	}
	var summary []string
	for _, sh := range e.shards {
		as := perShard[sh]
		k := 0
		for k < len(as) && as[k] == 1 {
			k++
		}
		m := 0
		for k+m < len(as) && as[k+m] == 2 {
			m++
		}
		rest := as[k+m:]
		ok := k >= 1 && (m == k || m == k+1) && !slices.ContainsFunc(rest, func(a int) bool { return a != 1 })
		if !ok {
			t.Errorf("shard %s: attempts start %v…; want k deliveries of attempt 1, then k or k+1 of attempt 2 (the unacknowledged half), then only attempt 1", sh, as[:min(len(as), k+m+3)])
		}
		summary = append(summary, fmt.Sprintf("%s: %d acked, %d redelivered", sh, k, m))
	}
	t.Logf("first batch of each shard: %s", strings.Join(summary, "; "))
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// svBudget is the restart block of the budget tests.
const svBudget = "    max_restarts = 2\n    window = \"1m\"\n    backoff = \"50ms\"\n    max_backoff = \"100ms\"\n"

// TestRestartBudgetExhausted: a handler that dies on every batch.
func TestRestartBudgetExhausted(t *testing.T) {
	// on_exhausted = "exit" (default): exit 1, promptly, after 2 restarts.
	t.Run("Exit", func(t *testing.T) {
		e := newEnv(t, 2)
		e.put(0, 50)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		h := e.startHost(e.svWriteConfig("budget", svOneStream("", "  restart {\n"+svBudget+"  }\n",
			map[string]any{"out": out, "exit_always": true})))
		code := h.wait(30 * time.Second)
		took := h.exitedAt.Sub(h.started)
		log := h.log()
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(log, "restart budget exhausted") {
			t.Errorf("host output does not say %q", "restart budget exhausted")
		}
		restarts := strings.Count(log, "restarting plugin after backoff")
		failures := strings.Count(log, "plugin failed; it will be restarted") + strings.Count(log, "plugin failed and its restart budget is exhausted")
		if strings.Count(log, "plugin failed and its restart budget is exhausted") != 1 {
			t.Errorf("the last failure must say the budget is exhausted and no restart follows")
		}
		if restarts > 3 {
			t.Errorf("the plugin was restarted %d times, want at most 3 (max_restarts = 2)", restarts)
		}
		if failures != 3 {
			t.Errorf("%d plugin failures logged, want 3 (the third exhausts max_restarts = 2)", failures)
		}
		if took > 10*time.Second {
			t.Errorf("the host took %s to exit, want a prompt exit", took)
		}
		t.Logf("budget exhausted: exit %d after %s, %d restarts, %d failures", code, took.Round(time.Millisecond), restarts, failures)
	})

	// on_exhausted = "continue": the crashing handler's stream stops, the
	// other stream keeps being delivered, the host stays up until SIGTERM.
	t.Run("Continue", func(t *testing.T) {
		const crashStream = "e2e-crash"
		e := newEnv(t, 2)
		e.svCreateStream(crashStream, 1)
		good := e.put(0, 100)
		e.svMustPut(crashStream, "c", 0, 20)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		crashOut := filepath.Join(e.dir, "crash.jsonl")
		cfg := e.svWriteConfig("continue", svConfig{
			streams: []svStream{{name: streamName, handler: "rec"}, {name: crashStream, handler: "crash"}},
			handlers: []svHandler{
				{label: "rec", recorder: map[string]any{"out": out}},
				{label: "crash", extra: "  restart {\n" + svBudget + "    on_exhausted = \"continue\"\n  }\n",
					recorder: map[string]any{"out": crashOut, "exit_always": true}},
			},
		})
		h := e.startHost(cfg)
		h.svWaitLog(30*time.Second, "exhausted its restart budget")
		exhausted := time.Since(h.started)
		d := newDeliveries(t, out)
		d.waitAll(time.Minute, h, good)
		more := e.put(100, 100) // after the other stream has stopped
		d.waitAll(time.Minute, h, more)
		time.Sleep(2 * time.Second)
		if h.exited() {
			t.Fatalf("kinesis-host exited (code %d) although on_exhausted = \"continue\"", h.cmd.ProcessState.ExitCode())
		}
		// The degraded run shows in the exit status: SIGTERM drains and
		// exits 1, naming the stopped stream.
		h.signal(syscall.SIGTERM)
		if code := h.wait(15 * time.Second); code != 1 {
			t.Fatalf("exit code %d after SIGTERM of a degraded host, want 1", code)
		}
		d.poll()
		log := h.log()
		if !strings.Contains(log, "restart budget exhausted") {
			t.Errorf("the exit error does not name the exhausted budget")
		}
		if n := strings.Count(log, "handler.crash: plugin failed; it will be restarted") + strings.Count(log, "handler.crash: plugin failed and its restart budget is exhausted"); n != 3 {
			t.Errorf("the crashing handler failed %d times, want 3 and no more after the budget was spent", n)
		}
		if n := strings.Count(log, "handler.rec: plugin failed;"); n != 0 {
			t.Errorf("the healthy handler failed %d times", n)
		}
		if svExists(crashOut) {
			if b, _ := os.ReadFile(crashOut); len(b) > 0 {
				t.Errorf("the crashing handler recorded deliveries")
			}
		}
		all := append(good, more...)
		svCheckExactlyOnce(t, all, d.all)
		e.checkCheckpointsAtEnd(lastSeqs(all))
		t.Logf("crashing stream stopped %s after start; the other stream delivered %d records, host up until SIGTERM", exhausted.Round(time.Millisecond), len(d.all))
	})
}

// TestHotSwapDuringSteadyStream replaces the recorder binary in the
// plugin dir while 200 records/s flow: within a few seconds deliveries
// come from a new process, the old one is gone, and every record is
// delivered exactly once (a swap is not a crash).
func TestHotSwapDuringSteadyStream(t *testing.T) {
	e := newEnv(t, 2)
	pd := svPrivatePluginDir(t)
	recBin := filepath.Join(pd, "kinesis-handler-recorder")
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := svOneStream("", "", map[string]any{"out": out})
	cfg.pluginDir = pd
	prod := e.svStartProducer(streamName, "", 20, 100*time.Millisecond)
	h := e.startHost(e.svWriteConfig("swap", cfg))
	d := newDeliveries(t, out)
	waitFor(t, time.Minute, h, "300 deliveries", func() bool { d.poll(); return len(d.all) >= 300 })
	oldPID := d.all[len(d.all)-1].PID
	if p := svChildPID(h.pid(), recBin); p != oldPID {
		t.Fatalf("the host's recorder child is pid %d, deliveries come from %d", p, oldPID)
	}

	svReplaceBinary(t, recBin)
	t0 := time.Now()
	before := len(d.all)
	var swapped time.Duration
	waitFor(t, 20*time.Second, h, "a delivery from the new binary", func() bool {
		d.poll()
		for _, dl := range d.all[before:] {
			if dl.PID != oldPID {
				swapped = dl.seen.Sub(t0)
				return true
			}
		}
		return false
	})
	if swapped > 6*time.Second {
		t.Errorf("the first delivery from the new binary came %s after the replacement, want within ~5 s (2 s polls, one to see it stable)", swapped.Round(time.Millisecond))
	}
	waitFor(t, 5*time.Second, h, "the old plugin process to exit", func() bool { return !alive(oldPID) })
	atSwap := d.distinct()
	waitFor(t, time.Minute, h, "more deliveries after the swap", func() bool { d.poll(); return d.distinct() >= atSwap+200 })
	recs := prod.stop()
	d.waitAll(time.Minute, h, recs)
	time.Sleep(500 * time.Millisecond)
	h.stop(15 * time.Second)
	d.poll()

	svCheckExactlyOnce(t, recs, d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries: the swap caused duplicates", red)
	}
	pids := map[int]int{}
	for _, dl := range d.all {
		pids[dl.PID]++
		if dl.Attempt != 1 {
			t.Errorf("shard %s seq %s delivered with attempt %d: the swap was handled as a failure", dl.Shard, dl.Seq, dl.Attempt)
			break
		}
	}
	if len(pids) != 2 {
		t.Errorf("deliveries came from %d processes %v, want 2 (old and new binary)", len(pids), pids)
	}
	log := h.log()
	if !strings.Contains(log, "hot swap done") {
		t.Errorf("host log does not say %q", "hot swap done")
	}
	if strings.Contains(log, "plugin failed;") {
		t.Errorf("host log reports a plugin failure during the swap")
	}
	t.Logf("binary replaced → first delivery from the new process: %s; %d records at ~200/s, deliveries per pid %v",
		swapped.Round(time.Millisecond), len(recs), pids)
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// TestSighupReload: a good config change (the recorder's out file, and a
// second stream) takes effect on SIGHUP with nothing lost or duplicated; a
// config with a syntax error is refused with diagnostics and the running
// config carries on; SIGTERM still exits 0.
func TestSighupReload(t *testing.T) {
	const second = "e2e-2"
	e := newEnv(t, 2)
	e.svCreateStream(second, 1)
	out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
	out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
	out3 := filepath.Join(e.dir, "second.jsonl")
	v1 := svOneStream("", "", map[string]any{"out": out1})
	cfg := e.svWriteConfig("config", v1)

	prod := e.svStartProducer(streamName, "", 20, 100*time.Millisecond)
	h := e.startHost(cfg)
	d1 := newDeliveries(t, out1)
	waitFor(t, time.Minute, h, "200 deliveries", func() bool { d1.poll(); return len(d1.all) >= 200 })
	secondRecs := e.svMustPut(second, "s", 0, 100)

	// Good: new out file for "rec", and a second stream with its handler.
	v2 := svConfig{
		streams: []svStream{{name: streamName, handler: "rec"}, {name: second, handler: "rec2"}},
		handlers: []svHandler{
			{label: "rec", recorder: map[string]any{"out": out2}},
			{label: "rec2", recorder: map[string]any{"out": out3}},
		},
	}
	e.svWriteConfig("config", v2)
	t0 := time.Now()
	h.signal(syscall.SIGHUP)
	d2 := newDeliveries(t, out2)
	d3 := newDeliveries(t, out3)
	var firstNew time.Duration
	waitFor(t, 30*time.Second, h, "deliveries to the new out file", func() bool {
		if d2.poll() > 0 && firstNew == 0 {
			firstNew = time.Since(t0)
		}
		return len(d2.all) > 0
	})
	d3.waitAll(30*time.Second, h, secondRecs)
	secondAll := time.Since(t0)
	h.svWaitLog(10*time.Second, "reload applied")

	// Good: a stream setting changes, so that stream is drained and
	// started again (from its checkpoint) without loss or duplicates.
	v2.streams[0].extra = "  batch_max_records = 10\n"
	e.svWriteConfig("config", v2)
	d2.poll()
	atRestart := len(d2.all)
	h.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, h, "the second reload to be applied", func() bool { return h.svCount("reload applied") == 2 })
	waitFor(t, 30*time.Second, h, "deliveries after the stream restart", func() bool { d2.poll(); return len(d2.all) >= atRestart+100 })

	// Bad: a syntax error. Refused with diagnostics; deliveries go on.
	bad := e.svText(v2) + "\nhandler \"broken\" {\n  plugin = \n}\n"
	if err := os.WriteFile(cfg, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	badLine := strings.Count(bad[:strings.Index(bad, "plugin = \n")], "\n") + 1
	h.signal(syscall.SIGHUP)
	h.svWaitLog(10*time.Second, "reload refused")
	log := h.log()
	if !regexp.MustCompile(regexp.QuoteMeta(filepath.Base(cfg)) + fmt.Sprintf(`(:| line )%d\b`, badLine)).MatchString(log) {
		t.Errorf("the refused reload's diagnostics do not point at %s line %d", filepath.Base(cfg), badLine)
	}
	d2.poll()
	atBad := len(d2.all)
	waitFor(t, 30*time.Second, h, "deliveries after the refused reload", func() bool { d2.poll(); return len(d2.all) >= atBad+200 })

	recs := prod.stop()
	waitFor(t, time.Minute, h, "every record in one of the out files", func() bool {
		d1.poll()
		d2.poll()
		for _, r := range recs {
			if d1.byData[r.data] == 0 && d2.byData[r.data] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond)
	h.stop(15 * time.Second)
	d1.poll()
	d2.poll()
	d3.poll()

	svCheckExactlyOnce(t, recs, d1.all, d2.all)
	checkOrder(t, append(append([]delivery(nil), d1.all...), d2.all...))
	svCheckExactlyOnce(t, secondRecs, d3.all)
	log = h.log()
	if n := strings.Count(log, "plugin failed;"); n != 0 {
		t.Errorf("host log reports %d plugin failures", n)
	}
	if !strings.Contains(log, "reload: draining stream: stream="+streamName) {
		t.Errorf("changing stream %s's settings did not drain and restart it", streamName)
	}
	t.Logf("SIGHUP → first delivery to the new out file %s, every record of the new stream %s; %d records before the reload, %d after",
		firstNew.Round(time.Millisecond), secondAll.Round(time.Millisecond), len(d1.all), len(d2.all))
	e.checkCheckpointsAtEnd(lastSeqs(recs))
}

// TestSHA256Mismatch: a handler (or checkpoint) block whose sha256 is not
// the binary's is refused by validate and run, before the plugin runs,
// with both hashes in the message; `plugins` lists the real hash.
func TestSHA256Mismatch(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), ep: "http://127.0.0.1:1"}
	e.cpPath = filepath.Join(e.dir, "data", "checkpoints.db")
	out := filepath.Join(e.dir, "deliveries.jsonl")
	recBin := filepath.Join(bins.PluginDir, "kinesis-handler-recorder")
	cpBin := filepath.Join(bins.PluginDir, "kinesis-checkpoint-file")
	actual, cpActual := svFileSHA256(t, recBin), svFileSHA256(t, cpBin)
	wrong := strings.Repeat("0123456789abcdef", 4)

	badCfg := e.svWriteConfig("bad", svOneStream("", fmt.Sprintf("  sha256 = %q\n", wrong), map[string]any{"out": out}))
	both := func(t *testing.T, what, output, want string) {
		t.Helper()
		if !strings.Contains(output, wrong) || !strings.Contains(output, want) {
			t.Errorf("%s: stderr does not give both the expected (%s…) and the actual (%s…) sha256:\n%s", what, wrong[:12], want[:12], output)
		}
	}

	t.Run("Validate", func(t *testing.T) {
		code, _, stderr := svRunCmd(t, "validate", "-config", badCfg)
		if code != 1 {
			t.Errorf("validate: exit %d, want 1", code)
		}
		both(t, "validate", stderr, actual)
	})
	t.Run("Run", func(t *testing.T) {
		code, _, stderr := svRunCmd(t, "run", "-config", badCfg)
		if code != 1 {
			t.Errorf("run: exit %d, want 1", code)
		}
		both(t, "run", stderr, actual)
		if svExists(out) {
			t.Errorf("the recorder ran (it created %s) although its sha256 did not match", out)
		}
	})
	t.Run("Checkpoint", func(t *testing.T) {
		cfg := svOneStream("", "", map[string]any{"out": out})
		cfg.cpExtra = fmt.Sprintf("  sha256 = %q\n", wrong)
		code, _, stderr := svRunCmd(t, "validate", "-config", e.svWriteConfig("bad-cp", cfg))
		if code != 1 {
			t.Errorf("validate: exit %d, want 1", code)
		}
		both(t, "validate (checkpoint block)", stderr, cpActual)
	})
	t.Run("Plugins", func(t *testing.T) {
		good := e.svWriteConfig("good", svOneStream("", fmt.Sprintf("  sha256 = %q\n", strings.ToUpper(actual)), map[string]any{"out": out}))
		code, stdout, stderr := svRunCmd(t, "plugins", "-config", good)
		if code != 0 {
			t.Fatalf("plugins: exit %d, want 0\n%s%s", code, stdout, stderr)
		}
		row := func(output, kind, name, sum, path, status string) bool {
			for _, l := range strings.Split(output, "\n") {
				f := strings.Fields(l)
				if len(f) >= 6 && f[0] == kind && f[1] == name && slices.Contains(f, sum) && slices.Contains(f, path) && f[len(f)-1] == status {
					return true
				}
			}
			return false
		}
		if !row(stdout, "handler", "rec", actual, recBin, "ok") {
			t.Errorf("plugins does not list handler rec with sha256 %s, path %s, ok:\n%s", actual, recBin, stdout)
		}
		if !row(stdout, "checkpoint", "local", cpActual, cpBin, "ok") {
			t.Errorf("plugins does not list checkpoint local with sha256 %s, path %s, ok:\n%s", cpActual, cpBin, stdout)
		}
		// On the mismatching file it lists the real hash and an error.
		code, stdout, _ = svRunCmd(t, "plugins", "-config", badCfg)
		if code != 1 {
			t.Errorf("plugins on the mismatching config: exit %d, want 1", code)
		}
		if !row(stdout, "handler", "rec", actual, recBin, "error") {
			t.Errorf("plugins on the mismatching config does not list handler rec with the actual sha256 and status error:\n%s", stdout)
		}
		t.Logf("plugins:\n%s", stdout)
	})
}
