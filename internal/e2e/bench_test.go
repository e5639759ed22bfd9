package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkEndToEnd measures records/s through the real binaries against
// kinesalite: 20,000 records of 200 B over 4 shards, put before the host
// starts; the clock runs from starting kinesis-host until the recorder has
// written the last record. Run it with
//
//	go test -run '^$' -bench EndToEnd -benchtime 3x ./internal/e2e/
func BenchmarkEndToEnd(b *testing.B) {
	const n = 20000
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, 4)
		recs := e.put(0, n)
		out := filepath.Join(e.dir, "deliveries.jsonl")
		cfg := e.writeConfig("config", runConfig{out: out})
		b.StartTimer()
		h := e.startHost(cfg)
		lc := &lineCounter{path: out}
		waitFor(b, 2*time.Minute, h, "the records", func() bool { return lc.count() >= n })
		b.StopTimer()
		total += time.Since(h.started)
		h.stop(15 * time.Second)
		d := newDeliveries(b, out)
		d.poll()
		checkComplete(b, recs, d.all)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
