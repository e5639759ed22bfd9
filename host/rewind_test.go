package host_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/control"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
	"github.com/kinesis-host/kinesis-host/shared"
)

// rwCount is how many times each record was delivered.
func rwCount(ds []delivery) map[string]int {
	n := map[string]int{}
	for _, d := range ds {
		n[d.Data]++
	}
	return n
}

// rwWait waits until every record of names was delivered at least want
// times.
func rwWait(t *testing.T, r *rig, names []string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n := rwCount(r.deliveries())
		short := 0
		for _, x := range names {
			if n[x] < want {
				short++
			}
		}
		if short == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records not delivered %d times", short, len(names), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRewindApply: with the shipped start position rules and the file
// store, a live rewind -apply to a time redelivers exactly the records that
// arrived from then on (and nothing before), to TRIM_HORIZON of one shard
// everything of that shard, and a rewind with the host stopped moves the
// store, so the next start redelivers from there. A dry run changes
// nothing; LATEST skips what is unread.
func TestRewindApply(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	var early, late []string
	put(t, f, 40, func(i int) string { early = append(early, rname(i)); return rname(i) })
	time.Sleep(20 * time.Millisecond)
	at := time.Now()
	time.Sleep(20 * time.Millisecond)
	put(t, f, 40, func(i int) string { late = append(late, rname(100+i)); return rname(100 + i) })
	all := append(append([]string{}, early...), late...)

	r := newRig(t, f)
	r.start("", "", "")
	rwWait(t, r, all, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := control.Dial(ctx, control.SocketPath(control.DataDir(r.dir)))
	if err != nil {
		t.Fatal(err)
	}
	// Dry run: the plan, nothing written.
	res, err := c.Rewind(ctx, control.RewindRequest{Stream: "s", To: control.Target{Kind: control.TargetTimestamp, Timestamp: at}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Shards) != 2 || !res.Shards[0].Moves || res.Shards[0].Applied || !strings.HasPrefix(res.Shards[0].To, "AT_SEQUENCE_NUMBER ") {
		t.Fatalf("dry run: %+v", res)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(r.deliveries()); n != len(all) {
		t.Fatalf("a dry run caused %d deliveries", n-len(all))
	}

	// Live, to a time: the late records again, no early one.
	res, err = c.Rewind(ctx, control.RewindRequest{Stream: "s", To: control.Target{Kind: control.TargetTimestamp, Timestamp: at}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range res.Shards {
		if !sh.Applied {
			t.Fatalf("rewind not applied: %+v", res)
		}
	}
	rwWait(t, r, late, 2)
	for _, x := range early {
		if n := rwCount(r.deliveries())[x]; n != 1 {
			t.Fatalf("%s delivered %d times after a rewind to a later time", x, n)
		}
	}

	// One shard to TRIM_HORIZON: every record of that shard again.
	sh0 := *f.Shards("s")[0].ShardId
	if _, err := c.Rewind(ctx, control.RewindRequest{Stream: "s", Shard: sh0, To: control.Target{Kind: control.TargetTrimHorizon}}); err != nil {
		t.Fatal(err)
	}
	var onSh0 []string
	for _, d := range r.deliveries() {
		if d.Shard == sh0 {
			onSh0 = append(onSh0, d.Data)
		}
	}
	var earlyOn0 []string
	for _, x := range early {
		for _, y := range onSh0 {
			if x == y {
				earlyOn0 = append(earlyOn0, x)
				break
			}
		}
	}
	rwWait(t, r, earlyOn0, 2)

	// LATEST skips what is unread: put while paused, then skip it.
	if err := c.Pause(ctx, "s", ""); err != nil {
		t.Fatal(err)
	}
	put(t, f, 10, func(i int) string { return rname(500 + i) })
	res, err = c.Rewind(ctx, control.RewindRequest{Stream: "s", To: control.Target{Kind: control.TargetLatest}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, "s", ""); err != nil {
		t.Fatal(err)
	}
	var fresh []string
	put(t, f, 10, func(i int) string { fresh = append(fresh, rname(600+i)); return rname(600 + i) })
	rwWait(t, r, fresh, 1)
	for i := 0; i < 10; i++ {
		if n := rwCount(r.deliveries())[rname(500+i)]; n != 0 {
			t.Fatalf("%s was delivered after a rewind to LATEST skipped it (%+v)", rname(500+i), res)
		}
	}

	// Stopped: rewind through the store, then start again.
	r.h.Stop()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := rwCount(r.deliveries())
	res, err = host.RewindStopped(ctx, r.cfg, control.RewindRequest{Stream: "s", To: control.Target{Kind: control.TargetTimestamp, Timestamp: at}}, host.Options{Kinesis: f})
	if err != nil {
		t.Fatalf("RewindStopped: %v (%+v)", err, res)
	}
	for _, sh := range res.Shards {
		if !sh.Applied {
			t.Fatalf("stopped rewind not applied: %+v", res)
		}
	}
	if cp := r.checkpoint(sh0); cp.SubSequenceNumber != shared.SubSequenceAt {
		t.Fatalf("stored checkpoint after the stopped rewind: %+v", cp)
	}
	r.start("", "", "")
	rwWait(t, r, fresh, 2)
	after := rwCount(r.deliveries())
	for _, x := range late {
		if after[x] != before[x]+1 {
			t.Fatalf("%s delivered %d times, %d before the stopped rewind", x, after[x], before[x])
		}
	}
	for _, x := range early {
		if after[x] != before[x] {
			t.Fatalf("%s delivered again after a stopped rewind to a later time", x)
		}
	}
	t.Log(fmt.Sprintf("rewind: %d late records redelivered live and again after a stopped rewind", len(late)))
}
