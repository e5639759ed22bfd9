package host_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
	"github.com/kinesis-host/kinesis-host/host/membudget"
)

// Tests of the memory budget (max_buffered_bytes) and of the pooled page
// buffers. Identifiers here start with "budget".

// budgetStart is rig.startAPI with top-level lines (max_buffered_bytes)
// added to the config.
func budgetStart(r *rig, api host.KinesisAPI, top, streamExtra, handlerExtra, blockExtra string) {
	r.t.Helper()
	r.top = top
	r.startAPI(api, streamExtra, handlerExtra, blockExtra)
}

// budgetData is the data of record i of shard sh: n bytes, recognisable.
func budgetData(sh string, i, n int) string {
	head := fmt.Sprintf("%s-%05d-", sh[len(sh)-4:], i)
	return head + strings.Repeat(string(rune('a'+i%26)), n-len(head))
}

// budgetPut writes perShard records of size bytes to every shard and
// returns their data by (shard, sequence number) and as a set.
func budgetPut(t *testing.T, f *kinesisfake.Fake, perShard, size int) (bySeq map[string]string, set map[string]bool) {
	t.Helper()
	bySeq, set = map[string]string{}, map[string]bool{}
	for _, sh := range f.Shards("s") {
		id := *sh.ShardId
		for i := 0; i < perShard; i++ {
			d := budgetData(id, i, size)
			seq, err := f.PutRecordToShard("s", id, fmt.Sprintf("k%d", i%5), []byte(d))
			if err != nil {
				t.Fatal(err)
			}
			bySeq[id+"/"+seq] = d
			set[d] = true
		}
	}
	return bySeq, set
}

// Many shards with big records share a small budget: every record is
// delivered exactly once and in order, readers waited for room, the most
// ever held stays within the budget plus one page, and everything is given
// back when the host stops.
func TestBudgetManyShardsSmallBudget(t *testing.T) {
	const shards, perShard, size = 12, 30, 40 << 10 // 14 MiB in all; a line of the deliveries file stays below 64 KiB
	f := kinesisfake.New()
	if err := f.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	_, want := budgetPut(t, f, perShard, size)
	r := newRig(t, f)
	const budget = 10 << 20
	budgetStart(r, f, fmt.Sprintf("max_buffered_bytes = %d", budget), `batch_max_records = 7`, "", "")
	r.waitDistinct(shards*perShard, 2*time.Minute)
	st := host.BudgetStats(r.h)
	r.h.Drain()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-r.h.Closed()
	scaleExactlyOnce(t, r.deliveries(), want)
	onePage := membudget.PageBytes(kinesisfake.MaxGetRecordsLimit, membudget.MaxPageBytes)
	if st.Peak > budget+onePage {
		t.Errorf("peak held %d bytes: more than the budget %d plus one page %d", st.Peak, budget, onePage)
	}
	if st.Waits == 0 {
		t.Errorf("no reader waited for room: the budget of %d bytes was never binding (%+v)", budget, st)
	}
	if end := host.BudgetStats(r.h); end.Held != 0 || end.Waiting != 0 {
		t.Errorf("after the host stopped: %+v, want nothing held or waiting", end)
	}
	t.Logf("budget %d: peak held %d, %d waits", budget, st.Peak, st.Waits)
}

// Pooled page buffers are never reused while a record of their page is
// still in use: with the SDK client (the fast decoder decodes Data into
// pooled buffers) and poisoning on (a recycled buffer is overwritten at
// once), every delivery — first ones, redeliveries after partial
// acknowledgements and a plugin crash — and every dead letter carries the
// data that was put.
func TestBudgetPooledBuffersNeverReusedWhileReferenced(t *testing.T) {
	defer host.SetArenaPoison(true)()
	const shards, perShard, size = 4, 600, 1000
	f := kinesisfake.New()
	if err := f.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	bySeq, _ := budgetPut(t, f, perShard, size)
	srv := kinesisfake.NewServer(f)
	t.Cleanup(srv.Close)
	api := srv.KinesisClient(host.WithFastGetRecordsDecoder)

	sh0 := *f.Shards("s")[0].ShardId
	poison := budgetData(sh0, 333, size)
	dlq := filepath.Join(t.TempDir(), "dlq.jsonl")
	rec0, drop0 := host.ArenaCounts()
	r := newRig(t, f)
	budgetStart(r, api, `max_buffered_bytes = "10MiB"`, "batch_max_records = 50\n  max_records = 100",
		fmt.Sprintf("ack_half_once = true\n    fail_data = %q\n    kill_at = [700]", poison),
		fmt.Sprintf("on_failure = \"dead_letter\"\n  dead_letter { file = %q }", dlq))
	r.waitDistinct(shards*perShard-1, 2*time.Minute)
	r.h.Drain()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-r.h.Closed()

	ds := r.deliveries()
	bad, again := 0, 0
	seen := map[string]bool{}
	for _, d := range ds {
		k := d.Shard + "/" + d.Seq
		if seen[k] {
			again++
		}
		seen[k] = true
		if w, ok := bySeq[k]; !ok || d.Data != w {
			bad++
			if bad <= 3 {
				t.Errorf("delivery of %s (attempt %d) carries %.40q…, want %.40q…", k, d.Attempt, d.Data, w)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d deliveries carry the wrong data", bad, len(ds))
	}
	if again == 0 {
		t.Errorf("no record was delivered again: the redelivery paths were not exercised")
	}
	checkOrder(t, ds)

	fd, err := os.Open(dlq)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	n := 0
	sc := bufio.NewScanner(fd)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var dl host.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatal(err)
		}
		n++
		if w := bySeq[dl.ShardID+"/"+dl.SequenceNumber]; string(dl.Data) != w || w != poison {
			t.Errorf("dead letter %s/%s carries %.40q…, want %.40q…", dl.ShardID, dl.SequenceNumber, dl.Data, w)
		}
	}
	if n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
	rec1, drop1 := host.ArenaCounts()
	if rec1 == rec0 {
		t.Errorf("no page buffer was recycled: the pooled path was not exercised")
	}
	t.Logf("%d deliveries (%d again), page buffers recycled %d, dropped after an abandoned call %d",
		len(ds), again, rec1-rec0, drop1-drop0)
}

// BenchmarkBudget64Shards: 64 shards with one ~5 MB page each (100 records
// of 50 KiB), a handler that acknowledges everything; the host reads the
// fake in-process (inproc) or through the SDK client and the fast decoder
// over HTTP/2 (http, the production path: response bodies, decoding,
// pooled Data buffers). Reports the time until the first record was
// acknowledged, the time until all were, the most bytes held against the
// budget, and the heap in use above what the fake holds (sampled
// high-water mark). The GC runs at GOGC=20 meanwhile: the fake's 320 MB of
// records are live heap, and at the default GOGC=100 the garbage the GC
// lets pile up on top of them would hide what the host holds.
func BenchmarkBudget64Shards(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	for _, via := range []string{"inproc", "http"} {
		for _, budget := range []string{"", `max_buffered_bytes = "64MiB"`} {
			name := via + "/default"
			if budget != "" {
				name = via + "/64MiB"
			}
			b.Run(name, func(b *testing.B) { budgetBench(b, budget, via == "http") })
		}
	}
}

func budgetBench(b *testing.B, top string, viaHTTP bool) {
	const shards, perShard, size = 64, 100, 50 << 10
	payload := make([]byte, size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := kinesisfake.New()
		_ = f.CreateStream("s", shards)
		for _, sh := range f.Shards("s") {
			for j := 0; j < perShard; j++ {
				_, _ = f.PutRecordToShard("s", *sh.ShardId, "k", payload)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		var api host.KinesisAPI = f
		var srv *kinesisfake.Server
		if viaHTTP {
			srv = kinesisfake.NewServer(f)
			api = srv.KinesisClient(host.WithFastGetRecordsDecoder)
		}
		r := newRig(b, f)
		b.StartTimer()
		start := time.Now()
		budgetStart(r, api, top, `max_records = 10000`, `discard = true`, "")
		var first time.Duration
		for r.h.Stats().Records < shards*perShard {
			if first == 0 && r.h.Stats().Records > 0 {
				first = time.Since(start)
			}
			time.Sleep(time.Millisecond)
		}
		all := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		st := host.BudgetStats(r.h)
		r.h.Stop()
		<-r.h.Closed()
		if srv != nil {
			srv.Close()
		}
		b.ReportMetric(float64(first.Milliseconds()), "ms-first-record")
		b.ReportMetric(float64(all.Milliseconds()), "ms-all")
		b.ReportMetric(float64(st.Peak)/(1<<20), "MiB-peak-buffered")
		b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "MiB-peak-heap-over-fake")
		b.StartTimer()
	}
}

// Enhanced fan-out under a small budget: events of big records from many
// shards are all delivered exactly once and in order, what is held never
// passes the budget by more than one event, and nothing stays held once
// the host has stopped.
func TestBudgetEFOSmallBudget(t *testing.T) {
	const shards, perShard, size = 8, 40, 40 << 10
	f := kinesisfake.New()
	if err := f.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	_, client := efoServer(t, f)
	_, want := budgetPut(t, f, perShard, size)
	r := newRig(t, f)
	const budget = 10 << 20
	budgetStart(r, client, fmt.Sprintf("max_buffered_bytes = %d", budget), "consumer = \"efo\"\n  batch_max_records = 9", "", "")
	r.waitDistinct(shards*perShard, 2*time.Minute)
	st := host.BudgetStats(r.h)
	r.h.Drain()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-r.h.Closed()
	scaleExactlyOnce(t, r.deliveries(), want)
	if onePage := membudget.PageBytes(kinesisfake.MaxGetRecordsLimit, membudget.MaxPageBytes); st.Peak > budget+onePage {
		t.Errorf("peak held %d bytes: more than the budget %d plus one event %d", st.Peak, budget, onePage)
	}
	if end := host.BudgetStats(r.h); end.Held != 0 || end.Waiting != 0 {
		t.Errorf("after the host stopped: %+v, want nothing held or waiting", end)
	}
	t.Logf("budget %d: peak held %d, %d waits", budget, st.Peak, st.Waits)
}
