package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/control"
)

// TestControlStatusPauseResume drives a running host through its control
// socket with the real CLI: `status -json` shows every shard with the
// checkpoint of its last record; `pause` of one shard stops its deliveries
// while the other shards go on; `resume` delivers everything it held back.
func TestControlStatusPauseResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := e.writeConfig("config", runConfig{out: out})
	h := e.startHost(cfg)
	d := newDeliveries(t, out)
	first := e.put(0, 200)
	d.waitAll(time.Minute, h, first)

	status := func() control.Status {
		t.Helper()
		code, stdout, stderr := svRunCmd(t, "status", "-json", "-config", cfg)
		if code != 0 {
			t.Fatalf("status exited %d: %s%s", code, stdout, stderr)
		}
		var st control.Status
		if err := json.Unmarshal([]byte(stdout), &st); err != nil {
			t.Fatalf("status -json: %v\n%s", err, stdout)
		}
		return st
	}
	want := lastSeqs(first)
	waitFor(t, 30*time.Second, h, "status to show every shard's last record as its checkpoint", func() bool {
		st := status()
		if len(st.Streams) != 1 || len(st.Streams[0].Shards) != len(e.shards) {
			return false
		}
		for _, sh := range st.Streams[0].Shards {
			if w, ok := want[sh.ID]; ok && sh.Checkpoint.SequenceNumber != w {
				return false
			}
			if sh.State != control.StateCaughtUp && sh.State != control.StateReading {
				return false
			}
		}
		return true
	})

	paused := e.shards[0]
	if code, so, se := svRunCmd(t, "pause", "-stream", streamName, "-shard", paused, "-config", cfg); code != 0 {
		t.Fatalf("pause exited %d: %s%s", code, so, se)
	}
	pausedAt := time.Now()
	second := e.put(200, 200)
	var others, held []*rec
	for _, r := range second {
		if r.shard == paused {
			held = append(held, r)
		} else {
			others = append(others, r)
		}
	}
	d.waitAll(time.Minute, h, others)
	time.Sleep(time.Second) // anything of the paused shard would show up
	d.poll()
	for _, dl := range d.all {
		if dl.Shard == paused && time.Unix(0, dl.At).After(pausedAt.Add(500*time.Millisecond)) {
			t.Fatalf("the paused shard delivered %.12s", dl.Data)
		}
	}
	var state control.ShardState
	for _, sh := range status().Streams[0].Shards {
		if sh.ID == paused {
			state = sh.State
		}
	}
	if state != control.StatePaused {
		t.Errorf("status shows the paused shard as %q", state)
	}
	if code, so, se := svRunCmd(t, "resume", "-stream", streamName, "-config", cfg); code != 0 {
		t.Fatalf("resume exited %d: %s%s", code, so, se)
	}
	d.waitAll(time.Minute, h, second)

	// A rewind dry run says what it would do and changes nothing.
	before := len(d.all)
	code, so, se := svRunCmd(t, "rewind", "-stream", streamName, "-to", "TRIM_HORIZON", "-config", cfg)
	if code != 0 || !strings.Contains(so, "TRIM_HORIZON") || !strings.Contains(so, e.shards[1]) {
		t.Errorf("rewind dry run exited %d:\n%s%s", code, so, se)
	}
	time.Sleep(time.Second)
	if d.poll(); len(d.all) != before {
		t.Errorf("a rewind dry run caused %d deliveries", len(d.all)-before)
	}
	h.stop(30 * time.Second)
	d.poll()
	checkComplete(t, append(first, second...), d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries", red)
	}
	if strings.Count(h.log(), "shard paused by an operator") < 1 {
		t.Errorf("the host log does not say the shard was paused")
	}
	t.Logf("control: status matched the checkpoints; %d records held back while paused, delivered after resume", len(held))
}

// TestControlRewindApply: the real CLI against kinesalite, shipped
// defaults. `rewind -apply -to <time>` on a running host redelivers every
// record that arrived from that time on and none before it; with the host
// stopped the same command writes the store itself, and the next start
// redelivers from there.
func TestControlRewindApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	life := filepath.Join(e.dir, "lifecycle.jsonl")
	cfg := e.writeConfig("config", runConfig{out: out, start: startDefault, recorder: map[string]string{"lifecycle_out": life}})
	h := e.startHost(cfg)
	d := newDeliveries(t, out)
	rsWaitStarted(t, h, life, len(e.shards)) // the shipped LATEST: put once every shard reads
	first := e.put(0, 60)
	d.waitAll(time.Minute, h, first)
	time.Sleep(1500 * time.Millisecond) // arrival timestamps are in milliseconds
	at := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	second := e.put(100, 60)
	d.waitAll(time.Minute, h, second)

	times := func(want int, recs []*rec) func() bool {
		return func() bool {
			d.poll()
			for _, r := range recs {
				if d.byData[r.data] < want {
					return false
				}
			}
			return true
		}
	}
	onceOnly := func(recs []*rec) {
		t.Helper()
		d.poll()
		for _, r := range recs {
			if n := d.byData[r.data]; n != 1 {
				t.Fatalf("%s (before the rewind's time) was delivered %d times", r.data[:8], n)
			}
		}
	}
	to := at.Format(time.RFC3339Nano)
	code, so, se := svRunCmd(t, "rewind", "-stream", streamName, "-to", to, "-apply", "-config", cfg)
	if code != 0 || !strings.Contains(so, "moved") {
		t.Fatalf("rewind -apply exited %d:\n%s%s", code, so, se)
	}
	waitFor(t, time.Minute, h, "the records after the rewind's time, again", times(2, second))
	onceOnly(first)

	h.stop(30 * time.Second)
	code, so, se = svRunCmd(t, "rewind", "-stream", streamName, "-to", to, "-apply", "-config", cfg)
	if code != 0 || !strings.Contains(so, "moved") || !strings.Contains(se, "No host is running") {
		t.Fatalf("rewind -apply with the host stopped exited %d:\n%s%s", code, so, se)
	}
	h = e.startHost(cfg)
	waitFor(t, time.Minute, h, "the records after the rewind's time, a third time", times(3, second))
	onceOnly(first)
	h.stop(30 * time.Second)
	t.Logf("rewind -apply to %s: %d records redelivered live, then again after a rewind of the stopped host", to, len(second))
}
