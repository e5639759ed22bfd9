package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// BatchSize is the number of shards written per SetBatch call in Bench.
const BatchSize = 64

// Bench measures checkpoint writes per second through the real plugin RPC
// boundary (sdk.TestStore), as the host sees them:
//
//   - "Set": one checkpoint per call, always moving forward;
//   - "SetBatch64": 64 shards per call, each moving forward.
//
// It reports a "writes/s" metric. s must be a fresh, configured store;
// Bench writes under a unique app name and leaves the keys behind (clean
// them up in the caller if the backend is shared).
func Bench(b *testing.B, s sdk.Store) {
	b.Helper()
	c := sdk.TestStore(b, s)
	app := "bench" + RunID()
	ctx := context.Background()
	b.Run("Set", func(b *testing.B) {
		k := sdk.CheckpointKey{App: app, Stream: "bench", ShardID: "single"}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := c.Set(ctx, k, sdk.Checkpoint{SequenceNumber: benchSeq(i)}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
	})
	b.Run(fmt.Sprintf("SetBatch%d", BatchSize), func(b *testing.B) {
		updates := make([]sdk.CheckpointUpdate, BatchSize)
		for j := range updates {
			updates[j].Key = sdk.CheckpointKey{App: app, Stream: "bench", ShardID: fmt.Sprintf("shardId-%012d", j)}
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			for j := range updates {
				updates[j].Checkpoint = sdk.Checkpoint{SequenceNumber: benchSeq(i)}
			}
			for j, err := range c.SetBatch(ctx, updates) {
				if err != nil {
					b.Fatalf("update %d: %v", j, err)
				}
			}
		}
		b.ReportMetric(float64(b.N*BatchSize)/time.Since(start).Seconds(), "writes/s")
	})
}

// benchSeq is a realistic 56-digit sequence number that grows with i.
func benchSeq(i int) string {
	return fmt.Sprintf("4959033827149025660855969253836157109592157598%010d", i+1)
}
