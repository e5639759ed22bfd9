package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// inprocRecorder is a handler for ConsumeInProcess tests: it records every
// record it acknowledges, per shard, and acts on cue.
type inprocRecorder struct {
	mu       sync.Mutex
	seen     map[string][]string // shard -> data, in delivery order
	batches  int
	maxBatch int
	started  int
	// partialOnce: acknowledge only the first half of the first batch.
	partialOnce bool
	partialDone bool
	partialOf   string           // the shard whose batch was half acknowledged
	attempts    map[string][]int // shard -> Attempt of each batch
	stopAt      string           // StopScan after the record with this data
	failAt      string           // Error on the record with this data
	want        int              // cancel when this many records were seen
	cancel      context.CancelFunc
}

func (h *inprocRecorder) ShardStarted(ctx context.Context, s sdk.ShardInfo) error {
	h.mu.Lock()
	h.started++
	h.mu.Unlock()
	return nil
}

func (h *inprocRecorder) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches++
	h.maxBatch = max(h.maxBatch, len(b.Records))
	if h.attempts == nil {
		h.attempts = map[string][]int{}
	}
	h.attempts[b.ShardID] = append(h.attempts[b.ShardID], b.Attempt)
	n := len(b.Records)
	if h.partialOnce && !h.partialDone {
		h.partialDone, h.partialOf = true, b.ShardID
		n = len(b.Records) / 2
	}
	res := sdk.BatchResult{}
	for i := range b.Records[:n] {
		r := &b.Records[i]
		if string(r.Data) == h.failAt {
			res.Error = errors.New("poison")
			return res
		}
		if h.seen == nil {
			h.seen = map[string][]string{}
		}
		h.seen[r.ShardID] = append(h.seen[r.ShardID], string(r.Data))
		res.Acked, res.CheckpointTo = i+1, i+1
		if string(r.Data) == h.stopAt {
			res.StopScan = true
			return res
		}
	}
	total := 0
	for _, v := range h.seen {
		total += len(v)
	}
	if h.want > 0 && total >= h.want && h.cancel != nil {
		h.cancel()
	}
	return res
}

// inprocFake is a fake stream of shards × perShard records "s<shard>-<n>".
func inprocFake(t *testing.T, shards, perShard int) *kinesisfake.Fake {
	t.Helper()
	f := kinesisfake.New()
	if err := f.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	for i, sh := range f.Shards("s") {
		for n := range perShard {
			if _, err := f.PutRecordToShard("s", *sh.ShardId, "k", fmt.Appendf(nil, "s%d-%d", i, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

func TestConsumeInProcess(t *testing.T) {
	f := inprocFake(t, 3, 2500)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, done := context.WithCancel(ctx)
	h := &inprocRecorder{partialOnce: true, want: 3 * 2500, cancel: done}
	var cpMu sync.Mutex
	cps := map[string]shared.Checkpoint{}
	err := ConsumeInProcess(ctx, f, InProcessOptions{Stream: "s", MaxRecords: 1000, BatchMaxRecords: 300, PollInterval: 200 * time.Millisecond,
		Checkpoint: func(shard string, cp shared.Checkpoint) {
			cpMu.Lock()
			defer cpMu.Unlock()
			if old, ok := cps[shard]; ok && sdk.CompareSequence(cp.SequenceNumber, old.SequenceNumber) <= 0 {
				t.Errorf("shard %s: checkpoint %s does not move past %s", shard, cp.SequenceNumber, old.SequenceNumber)
			}
			cps[shard] = cp
		}}, h)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ConsumeInProcess: %v, want context.Canceled (the handler cancelled when done)", err)
	}
	if h.started != 3 {
		t.Errorf("%d ShardStarted calls, want 3", h.started)
	}
	if h.maxBatch > 300 {
		t.Errorf("a batch of %d records, cap 300", h.maxBatch)
	}
	if a := h.attempts[h.partialOf]; len(a) < 3 || a[0] != 1 || a[1] != 2 || a[2] != 1 {
		t.Errorf("attempts %v: the rest of a half-acknowledged batch must come again with Attempt 2, the next with 1", a[:min(3, len(a))])
	}
	for i, sh := range f.Shards("s") {
		got := h.seen[*sh.ShardId]
		if len(got) != 2500 {
			t.Fatalf("shard %d: %d records, want 2500", i, len(got))
		}
		for n, d := range got {
			if want := fmt.Sprintf("s%d-%d", i, n); d != want {
				t.Fatalf("shard %d record %d: %q, want %q (in order, once)", i, n, d, want)
			}
		}
		recs := f.Records("s", *sh.ShardId)
		if cp := cps[*sh.ShardId]; cp.SequenceNumber != *recs[len(recs)-1].SequenceNumber {
			t.Errorf("shard %d: checkpoint %q, want the last record %q", i, cp.SequenceNumber, *recs[len(recs)-1].SequenceNumber)
		}
	}
}

func TestConsumeInProcessStopAndFail(t *testing.T) {
	f := inprocFake(t, 2, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := &inprocRecorder{stopAt: "s0-10"}
	if err := ConsumeInProcess(ctx, f, InProcessOptions{Stream: "s"}, h); err != nil {
		t.Fatalf("StopScan: %v, want nil", err)
	}
	if got := h.seen[*f.Shards("s")[0].ShardId]; len(got) != 11 {
		t.Errorf("shard 0: %d records before the stop, want 11", len(got))
	}
	h = &inprocRecorder{failAt: "s1-5"}
	err := ConsumeInProcess(ctx, f, InProcessOptions{Stream: "s"}, h)
	if !errors.Is(err, sdk.ErrHandler) {
		t.Fatalf("handler error: %v, want sdk.ErrHandler", err)
	}
	if err := ConsumeInProcess(ctx, f, InProcessOptions{}, h); err == nil {
		t.Error("no stream name: no error")
	}
}
