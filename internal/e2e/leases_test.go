package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Three hosts on a 16-shard stream with a steady producer, for each shared
// backend: a fourth host joins; one leaves with SIGTERM; one is SIGKILLed;
// one is frozen with SIGSTOP for 2 × duration and resumed. Every record is
// delivered, per key in order; duplicates only on the shards of the
// SIGKILLed and frozen hosts; two hosts never deliver a shard at the same
// time beyond the fencing bound; the frozen host's late checkpoint writes
// are rejected and it delivers nothing more of the shards it lost; the
// hosts balance within ±1 after each event.
func TestLeasesThreeHosts(t *testing.T) {
	for _, b := range lsBackends {
		t.Run(b.plugin, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 16)
			c := newCluster(t, e, b.plugin, b.settings(t), lsFast)
			p := rsStartProducer(e, 40, 100*time.Millisecond)
			defer p.stop(t)
			a, bh, ch := c.add("a", "host-a"), c.add("b", "host-b"), c.add("c", "host-c")
			c.waitBalanced(e.shards, 60*time.Second, "three hosts start")

			d := c.add("d", "") // the default worker id
			join := c.waitBalanced(e.shards, 60*time.Second, "a fourth host joins")

			t0 := time.Now()
			c.stop(d)
			c.waitBalanced(e.shards, 30*time.Second, "the fourth host leaves (SIGTERM)")
			handoff := time.Since(t0)

			killed := c.heldBy(ch)
			t0 = time.Now()
			c.kill(ch)
			failover := c.waitBalanced(e.shards, 60*time.Second, "a host is SIGKILLed")
			_ = t0

			frozen := c.heldBy(bh)
			bh.proc.signal(syscall.SIGSTOP)
			time.Sleep(4 * time.Second) // 2 × duration
			c.hosts[1].stopped = true   // not live for balancing while frozen
			c.waitBalanced(e.shards, 60*time.Second, "a host is frozen (SIGSTOP)")
			resumed := time.Now()
			bh.proc.signal(syscall.SIGCONT)
			c.hosts[1].stopped = false
			c.waitBalanced(e.shards, 60*time.Second, "the frozen host resumes")
			if n := strings.Count(bh.proc.log(), "shard lease lost"); n == 0 {
				t.Errorf("the resumed host logged no lost lease (its late checkpoint writes must be rejected)")
			} else {
				t.Logf("the resumed host lost %d lease(s) at its first writes", n)
			}

			want := p.stop(t)
			c.waitAll(want, 2*time.Minute)
			ds, hosts := c.all()
			checkComplete(t, want, ds)
			rsCheckKeyOrder(t, ds)
			dups, byShard := lsDuplicates(ds)
			for s, n := range byShard {
				if !killed[s] && !frozen[s] {
					t.Errorf("shard %s: %d duplicate deliveries, but neither the killed nor the frozen host held it", s, n)
				}
			}
			// The frozen host delivers nothing of a lost shard after it
			// resumed (its in-flight batch finished while it was frozen:
			// the handler is a separate process). Taking a shard back later
			// by balancing is a graceful hand-off, which replays nothing:
			// so any record of such a shard that it delivers after resuming
			// and another host had delivered before is a zombie delivery.
			late := 0
			byOther := map[string]bool{}
			for i, dl := range ds {
				if hosts[i] != "b" {
					byOther[dl.Data] = true
					continue
				}
				if frozen[dl.Shard] && time.Unix(0, dl.At).After(resumed) && byOther[dl.Data] {
					late++
				}
			}
			if late > 0 {
				t.Errorf("the resumed host delivered %d records of shards it had lost", late)
			}
			ov, where := lsOverlap(ds, hosts)
			if ov > time.Second {
				t.Errorf("two hosts delivered one shard at once for %s (%s)", ov, where)
			}
			for _, h := range c.live() {
				c.stop(h)
			}
			_ = a
			t.Logf("%s: %d records, %d deliveries, %d duplicates (SIGKILL held %d shards, SIGSTOP %d); join balanced in %s, SIGTERM hand-off %s, SIGKILL failover %s; worst overlap %s",
				b.plugin, len(want), len(ds), dups, len(killed), len(frozen), join.Round(time.Millisecond), handoff.Round(time.Millisecond),
				failover.Round(time.Millisecond), ov)
		})
	}
}

// Graceful moves only, for each shared backend: scaling 1 → 3, a rolling
// restart of every host (each restarted with its own worker_id), scaling
// 3 → 1. Every shard moves by hand-off (final checkpoint, then release),
// so nothing is delivered twice and no two hosts ever deliver a shard at
// once; each hand-off leaves its shards idle about a poll or two.
func TestLeasesGraceful(t *testing.T) {
	for _, b := range lsBackends {
		t.Run(b.plugin, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 16)
			c := newCluster(t, e, b.plugin, b.settings(t), lsFast)
			p := rsStartProducer(e, 40, 100*time.Millisecond)
			defer p.stop(t)
			hosts := []*lsHost{c.add("a", "host-a")}
			c.waitBalanced(e.shards, 60*time.Second, "one host")
			hosts = append(hosts, c.add("b", "host-b"), c.add("c", "host-c"))
			scaleUp := c.waitBalanced(e.shards, 60*time.Second, "scaling 1 → 3")

			var moves []time.Duration
			for i, h := range hosts {
				t0 := time.Now()
				c.stop(h)
				moves = append(moves, c.waitBalanced(e.shards, 60*time.Second, "rolling restart: "+h.name+" stopped"))
				_ = t0
				hosts[i] = c.add(h.name+"2", h.workerID)
				c.waitBalanced(e.shards, 60*time.Second, "rolling restart: "+h.name+" back")
			}
			c.stop(hosts[1])
			c.stop(hosts[2])
			scaleDown := c.waitBalanced(e.shards, 60*time.Second, "scaling 3 → 1")

			want := p.stop(t)
			c.waitAll(want, 2*time.Minute)
			ds, host := c.all()
			checkComplete(t, want, ds)
			rsCheckKeyOrder(t, ds)
			if dups, byShard := lsDuplicates(ds); dups > 0 {
				t.Errorf("%d records delivered twice with graceful moves only (per shard: %v)", dups, byShard)
			}
			if ov, where := lsOverlap(ds, host); ov > 0 {
				t.Errorf("two hosts delivered one shard at once for %s (%s)", ov, where)
			}
			// validate shows the stored leases, read-only: every shard held
			// by the one host left, with its checkpoint.
			code, stdout, stderr := svRunCmd(t, "validate", "-config", hosts[0].cfg)
			if code != 0 || !strings.Contains(stdout, "leases of stream") || strings.Count(stdout, hosts[0].workerID+"#") < len(e.shards) {
				t.Errorf("validate (exit %d) does not list the %d shards held by %s:\n%s%s", code, len(e.shards), hosts[0].workerID, stdout, stderr)
			}
			c.stop(hosts[0])
			t.Logf("%s: %d records, %d deliveries; scale 1→3 balanced in %s, hand-offs of a stopped host's shards %v, scale 3→1 in %s; longest idle gap of a moved shard %s",
				b.plugin, len(want), len(ds), scaleUp.Round(time.Millisecond), roundAll(moves), scaleDown.Round(time.Millisecond),
				lsMaxGap(ds, host).Round(time.Millisecond))
		})
	}
}

// A reshard 4 → 8 → 4 → 3 while three hosts consume, on the shipped
// default start position (LATEST) and lease settings scaled down, for each
// shared backend: children are taken only after every parent still in the
// stream has SHARD_END in the store, whichever host read it; every record
// is delivered; per key in order; no duplicates (every move is graceful).
func TestLeasesReshard(t *testing.T) {
	for _, b := range lsBackends {
		t.Run(b.plugin, func(t *testing.T) {
			t.Parallel()
			e := rsNewEnv(t, 4)
			c := newCluster(t, e, b.plugin, b.settings(t), lsFast)
			c.start = startDefault
			c.stream = "  shard_sync_interval = \"1s\"\n  batch_max_records = 10\n"
			c.recorder = map[string]string{"delay": "20ms", "lifecycle_out": ""}
			c.add("a", "host-a")
			c.add("b", "host-b")
			c.add("c", "host-c")
			c.waitBalanced(e.shards, 60*time.Second, "three hosts on 4 shards")
			c.waitStarted(4, time.Minute)
			prod := rsStartProducer(e, 5, 100*time.Millisecond) // 50 records/s
			time.Sleep(2 * time.Second)
			for _, n := range []int32{8, 4, 3} {
				rsReshard(t, e, fmt.Sprintf("UpdateShardCount → %d", n), func(ctx context.Context) error {
					_, err := e.kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(streamName),
						TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling})
					return err
				})
				time.Sleep(3 * time.Second)
			}
			open := c.openShards()
			c.waitBalanced(open, time.Minute, "after the reshards")
			recs := prod.stop(t)
			c.waitAll(recs, 2*time.Minute)
			ds, host := c.all()
			checkComplete(t, recs, ds)
			rsCheckKeyOrder(t, ds)
			shards := rsListShards(t, e)
			pairs := rsCheckLineage(t, shards, ds)
			if pairs < 6 {
				t.Errorf("only %d parent/child pairs had deliveries on both sides: the test did not exercise the lineage", pairs)
			}
			if dups, byShard := lsDuplicates(ds); dups > 0 {
				t.Errorf("%d records delivered twice (per shard: %v)", dups, byShard)
			}
			if ov, where := lsOverlap(ds, host); ov > 0 {
				t.Errorf("two hosts delivered one shard at once for %s (%s)", ov, where)
			}
			rows := c.rows()
			for _, s := range shards {
				id := aws.ToString(s.ShardId)
				if s.SequenceNumberRange.EndingSequenceNumber != nil && !rows[id].ShardEnd {
					t.Errorf("closed shard %s: stored %+v, want SHARD_END", id, rows[id])
				}
			}
			for _, h := range c.live() {
				c.stop(h)
			}
			t.Logf("%s: %d records over %d shards, %d deliveries, %d parent/child pairs checked", b.plugin, len(recs), len(shards), len(ds), pairs)
		})
	}
}

// The shipped defaults (no lease {} block: duration 10s, poll 1s; the
// default start position LATEST) on Redis: a SIGKILLed host's shards
// deliver again elsewhere, nothing put after the shards started is lost,
// and a second live process started with a worker_id already in use is
// refused while the first keeps its shards.
func TestLeasesDefaults(t *testing.T) {
	e := newEnv(t, 8)
	c := newCluster(t, e, "redis", lsBackends[0].settings(t), "")
	c.start = startDefault
	c.recorder = map[string]string{"lifecycle_out": ""}
	a, b := c.add("a", ""), c.add("b", "")
	c.waitBalanced(e.shards, time.Minute, "two hosts on the defaults")
	c.waitStarted(8, time.Minute)
	p := rsStartProducer(e, 16, 100*time.Millisecond)
	defer p.stop(t)
	time.Sleep(3 * time.Second)

	killed := c.heldBy(b)
	t0 := time.Now()
	c.kill(b)
	failover := c.waitBalanced(e.shards, time.Minute, "SIGKILL on the defaults")
	// When did every killed shard deliver again (on a)?
	var resumed time.Duration
	waitFor(t, time.Minute, a.proc, "the killed host's shards to deliver again", func() bool {
		a.d.poll()
		seen := map[string]bool{}
		for _, d := range a.d.all {
			if killed[d.Shard] && time.Unix(0, d.At).After(t0) {
				seen[d.Shard] = true
			}
		}
		resumed = time.Since(t0)
		return len(seen) == len(killed)
	})

	// The same explicit worker_id twice: the second process is refused.
	dupA := c.add("dup1", "same-id")
	c.waitBalanced(e.shards, time.Minute, "a host with worker_id same-id joins")
	dupB := c.add("dup2", "same-id")
	code := dupB.proc.wait(30 * time.Second)
	dupB.stopped = true
	if code == 0 || !strings.Contains(dupB.proc.log(), "worker_id") {
		t.Errorf("a second live process with worker_id same-id exited with %d; want a refusal naming worker_id:\n%s", code, tailString(dupB.proc.log(), 2000))
	}
	if dupA.proc.exited() {
		t.Errorf("the first process with worker_id same-id exited")
	}

	want := p.stop(t)
	c.waitAll(want, 2*time.Minute)
	ds, _ := c.all()
	checkComplete(t, want, ds)
	rsCheckKeyOrder(t, ds)
	dups, _ := lsDuplicates(ds)
	for _, h := range c.live() {
		c.stop(h)
	}
	t.Logf("defaults: SIGKILL of a host holding %d shards: leases taken over in %s, every one of them delivering again %s after the kill; %d duplicates",
		len(killed), failover.Round(time.Millisecond), resumed.Round(time.Millisecond), dups)
}

// The file store is single-host: a second host started on the same
// checkpoint file is refused with a message that says so and what to use
// instead, and the first host keeps running.
func TestFileStoreSecondHostRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	first := e.startHost(e.writeConfig("first", runConfig{out: filepath.Join(e.dir, "first.jsonl")}))
	d := newDeliveries(t, filepath.Join(e.dir, "first.jsonl"))
	recs := e.put(0, 20)
	d.waitAll(time.Minute, first, recs)
	second := e.startHost(e.writeConfig("second", runConfig{out: filepath.Join(e.dir, "second.jsonl")}))
	if code := second.wait(time.Minute); code == 0 {
		t.Fatalf("a second host on the same file store exited 0")
	}
	for _, want := range []string{"single-host", "redis, postgres or dynamodb"} {
		if !strings.Contains(second.log(), want) {
			t.Errorf("the refused host's log does not say %q:\n%s", want, tailString(second.log(), 3000))
		}
	}
	if first.exited() {
		t.Fatalf("the first host exited")
	}
	first.stop(30 * time.Second)
}
