package telemetry

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// go test -run '^$' -bench . -benchmem ./host/telemetry/

// BenchmarkBatch is the hot path: one handler call of a shard already seen.
func BenchmarkBatch(b *testing.B) {
	m := NewMetrics("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.Batch("orders", "shardId-000000000042", "orders-handler", 500, 512000, 3*time.Millisecond, ResultOK)
	}
}

// BenchmarkBatchManyShards spreads the calls over 1000 shards (a bigger
// cache, more cache misses in the CPU).
func BenchmarkBatchManyShards(b *testing.B) {
	m := NewMetrics("bench")
	shards := make([]string, 1000)
	for i := range shards {
		shards[i] = fmt.Sprintf("shardId-%012d", i)
		m.Batch("orders", shards[i], "orders-handler", 1, 1, 0, ResultOK)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Batch("orders", shards[i%len(shards)], "orders-handler", 500, 512000, 3*time.Millisecond, ResultOK)
		i++
	}
}

// BenchmarkBatchParallel runs Batch from every P, each on its own shard,
// as the shard workers do.
func BenchmarkBatchParallel(b *testing.B) {
	m := NewMetrics("bench")
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		shard := fmt.Sprintf("shardId-%012d", next.Add(1))
		for pb.Next() {
			m.Batch("orders", shard, "orders-handler", 500, 512000, 3*time.Millisecond, ResultOK)
		}
	})
}

// BenchmarkBatchUncached is what Batch would cost with WithLabelValues on
// every call (the baseline the cache is measured against).
func BenchmarkBatchUncached(b *testing.B) {
	m := NewMetrics("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.records.WithLabelValues("orders", "shardId-000000000042", "orders-handler").Add(500)
		m.bytes.WithLabelValues("orders", "shardId-000000000042", "orders-handler").Add(512000)
		m.handlerDuration.WithLabelValues("orders", "orders-handler").Observe(0.003)
		m.batches.WithLabelValues("orders", "orders-handler", ResultOK).Inc()
	}
}

// BenchmarkBatchNil is the cost for a host without a telemetry block.
func BenchmarkBatchNil(b *testing.B) {
	var m *Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.Batch("orders", "shardId-000000000042", "orders-handler", 500, 512000, 3*time.Millisecond, ResultOK)
	}
}

// BenchmarkLag is the per-page lag update.
func BenchmarkLag(b *testing.B) {
	m := NewMetrics("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.Lag("orders", "shardId-000000000042", 1500*time.Millisecond)
	}
}

// BenchmarkGetRecords is the per-call GetRecords counter.
func BenchmarkGetRecords(b *testing.B) {
	m := NewMetrics("bench")
	b.ReportAllocs()
	for b.Loop() {
		m.GetRecords("orders", GetRecordsOK)
	}
}
