package e2e

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestReshardUnderLoad runs the host against kinesis-local (kinesis-mock)
// while a producer writes 50 records/s over 40 partition keys, each record
// carrying its key's counter, and the stream is resharded under it:
//
//	SplitShard of one shard, MergeShards of two adjacent open shards,
//	UpdateShardCount 4 → 8, a host restart (SIGTERM, start again) while
//	the parents of that update are still being drained, then
//	UpdateShardCount 8 → 4 → 3 (kinesis-mock, like AWS, refuses to go
//	below half the open shards in one call, so →3 takes two calls).
//
// Then production stops, everything must be delivered, and after SIGTERM:
// every record was delivered with the shard and sequence number Kinesis
// gave it; per partition key the first deliveries come in counter order
// (order holds across every reshard and the restart); per shard, order
// holds; each child shard's first delivery comes after the last delivery
// of each of its parents (ListShards parent ids); every closed shard has a
// SHARD_END checkpoint and every open shard's checkpoint is its last
// record.
//
// It runs at each start position: TRIM_HORIZON; LATEST, the shipped
// default (the host starts first, production once every shard has its
// iterator); and AT_TIMESTAMP (production starts first, the host a second
// later, reading from a timestamp before the first record). At each, the
// children of every reshard must be read from their first record: not one
// record may be lost, including across the restart that comes before the
// children's first checkpoint.
func TestReshardUnderLoad(t *testing.T) {
	for _, start := range []string{"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"} {
		t.Run(start, func(t *testing.T) {
			t.Parallel()
			reshardUnderLoad(t, start)
		})
	}
}

func reshardUnderLoad(t *testing.T, startPosition string) {
	t0 := time.Now()
	e := rsNewEnv(t, 4)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	life := filepath.Join(e.dir, "lifecycle.jsonl")
	// 10-record batches at 100 ms each: the host keeps up with 50
	// records/s easily, but a burst takes it a while to drain.
	rc := runConfig{out: out,
		stream:   "  shard_sync_interval = \"1s\"\n  batch_max_records = 10\n",
		recorder: map[string]string{"delay": "100ms", "lifecycle_out": life}}
	var h *hostProc
	var prod *rsProducer
	switch startPosition {
	case "TRIM_HORIZON":
		h = e.startHost(e.writeConfig("config", rc))
		prod = rsStartProducer(e, 5, 100*time.Millisecond) // 50 records/s
	case "LATEST":
		rc.start = startDefault
		h = e.startHost(e.writeConfig("config", rc))
		rsWaitStarted(t, h, life, 4)
		prod = rsStartProducer(e, 5, 100*time.Millisecond)
	case "AT_TIMESTAMP":
		rc.start = fmt.Sprintf("  start_position = \"AT_TIMESTAMP\"\n  start_timestamp = %q", time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano))
		prod = rsStartProducer(e, 5, 100*time.Millisecond)
		rsSleep(t, nil, time.Second)
		h = e.startHost(e.writeConfig("config", rc))
	}
	cfg := filepath.Join(e.dir, "config.hcl")
	d := newDeliveries(t, out)
	waitFor(t, time.Minute, h, "the first delivery", func() bool { return d.poll() > 0 })
	rsSleep(t, h, 2*time.Second)

	// 1. Split the first (lowest) open shard at the middle of its range.
	open := rsOpenShards(t, e)
	lo, hi := rsBig(open[0].HashKeyRange.StartingHashKey), rsBig(open[0].HashKeyRange.EndingHashKey)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	rsReshard(t, e, "SplitShard "+aws.ToString(open[0].ShardId), func(ctx context.Context) error {
		_, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(streamName),
			ShardToSplit: open[0].ShardId, NewStartingHashKey: aws.String(mid.String())})
		return err
	})
	rsSleep(t, h, 3*time.Second)

	// 2. Merge the two highest open shards (adjacent: sorted by hash key).
	open = rsOpenShards(t, e)
	a, b := open[len(open)-2], open[len(open)-1]
	rsReshard(t, e, "MergeShards "+aws.ToString(a.ShardId)+"+"+aws.ToString(b.ShardId), func(ctx context.Context) error {
		_, err := e.kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(streamName),
			ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId})
		return err
	})
	rsSleep(t, h, 3*time.Second)

	// 3. A burst of 400 records (about 1 s of work per shard for the
	// host), UpdateShardCount 4 → 8 right after it, and a restart that
	// lands between the reshard and the children's first checkpoint: the
	// host is stopped as soon as the update is accepted (the parents still
	// hold most of the burst) and started again once the children exist
	// and the producer has written to them. The children must wait for
	// their parents across the restart, then be read from their first
	// record.
	usc := func(n int32, then func()) {
		rsReshardThen(t, e, "UpdateShardCount → "+strconv.Itoa(int(n)), func(ctx context.Context) error {
			_, err := e.kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(streamName),
				TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling})
			return err
		}, then)
	}
	uscParents := rsOpenShards(t, e)
	if len(uscParents) != 4 {
		t.Fatalf("%d open shards before UpdateShardCount, want 4", len(uscParents))
	}
	prod.burst(t, 400)
	usc(8, func() {
		drain := h.stop(30 * time.Second)
		t.Logf("restart: SIGTERM → exit in %s (%d records put so far)", drain.Round(time.Millisecond), prod.count())
	})
	rsSleep(t, nil, time.Second) // the producer writes to the children
	h = e.startHost(cfg)
	rsSleep(t, h, 3*time.Second)
	resumed := 0
	for _, p := range uscParents {
		if rsResumedIn(h.log(), aws.ToString(p.ShardId)) {
			resumed++
		}
	}
	t.Logf("after the restart, %d of the %d parents of UpdateShardCount → 8 were resumed from a checkpoint (not yet read to their end)", resumed, len(uscParents))
	if resumed == 0 {
		t.Errorf("every parent of UpdateShardCount → 8 was finished before the restart: the restart did not land in the middle of the reshard")
	}

	// 4. UpdateShardCount 8 → 4 → 3.
	usc(4, nil)
	rsSleep(t, h, 3*time.Second)
	usc(3, nil)
	rsSleep(t, h, 3*time.Second)

	recs := prod.stop(t)
	t.Logf("produced %d records over %d keys in %s", len(recs), rsKeys, time.Since(t0).Round(time.Millisecond))
	d.waitAll(2*time.Minute, h, recs)
	rsSleep(t, h, time.Second) // anything extra would show up
	h.stop(30 * time.Second)
	d.poll()

	shards := rsListShards(t, e)
	var ids, closed []string
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		ids = append(ids, id)
		if s.SequenceNumberRange.EndingSequenceNumber != nil {
			closed = append(closed, id)
		}
	}
	if len(shards) < 15 {
		t.Errorf("only %d shards after the reshards: the resharding did not happen as planned", len(shards))
	}

	checkComplete(t, recs, d.all)
	redeliveredInShard := checkOrder(t, d.all)
	redelivered := rsCheckKeyOrder(t, d.all)
	pairs := rsCheckLineage(t, shards, d.all)
	if pairs < 10 {
		t.Errorf("only %d parent/child pairs had deliveries on both sides: the test did not exercise the lineage", pairs)
	}

	cps := rsCheckpoints(t, e, ids)
	for _, id := range closed {
		if cp := cps[id]; cp == nil || !cp.ShardEnd {
			t.Errorf("closed shard %s: checkpoint %+v, want SHARD_END", id, cp)
		}
	}
	last := lastSeqs(recs)
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		if w, ok := last[id]; ok {
			if cp := cps[id]; cp == nil || cp.ShardEnd || cp.SequenceNumber != w {
				t.Errorf("open shard %s: checkpoint %+v, want its last record %s", id, cp, w)
			}
		}
	}

	perShard := map[string]int{}
	for _, r := range recs {
		perShard[r.shard]++
	}
	var lines []string
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		state := "open"
		if s.SequenceNumberRange.EndingSequenceNumber != nil {
			state = "closed"
		}
		lines = append(lines, id[len(id)-3:]+"("+state+", parents "+aws.ToString(s.ParentShardId)+" "+aws.ToString(s.AdjacentParentShardId)+", "+strconv.Itoa(perShard[id])+" recs)")
	}
	t.Logf("shards: %s", strings.Join(lines, "; "))
	t.Logf("%d records, %d deliveries (%d redelivered; %d out of per-shard sequence as redeliveries), %d parent→child pairs checked, %d closed shards with SHARD_END, total %s",
		len(recs), len(d.all), redelivered, redeliveredInShard, pairs, len(closed), time.Since(t0).Round(time.Millisecond))
}
