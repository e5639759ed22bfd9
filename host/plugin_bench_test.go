package host_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// BenchmarkCrashToNextBatch measures how long a busy handler is away when
// it is SIGKILLed: from the kill to the moment the new process receives
// its first batch (the redelivery of the batch that was in flight), with
// the default restart settings (only max_restarts is raised so that many
// kills fit into one run). The handler is the bottleneck — it takes 100 ms
// per batch of 1,000 over a backlog that keeps growing — so a batch is
// always in flight when the kill lands, and the shard's GetRecords pacing
// never decides the result. The receipt time is the recorder's record
// time less its per-batch delay. Reports p50 and p99 in ms.
// Run: go test -run '^$' -bench CrashToNextBatch -benchtime 30x ./host/
func BenchmarkCrashToNextBatch(b *testing.B) {
	const delay = 100 * time.Millisecond
	f := kinesisfake.New()
	_ = f.CreateStream("s", 1)
	sh := *f.Shards("s")[0].ShardId
	n := 0
	putN := func(k int) {
		for ; k > 0; k-- {
			_, _ = f.PutRecordToShard("s", sh, "k", []byte(fmt.Sprintf("r%d", n)))
			n++
		}
	}
	putN(50000) // a backlog: the handler is busy from the start
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 15k records/s, more than the handler's 10k/s
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			putN(30)
		}
	}()
	dir := b.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	s := supStart(b, f, dir, supRecorderConfig(dir, out, fmt.Sprintf("delay = %q", delay), "restart { max_restarts = 100000 }"))
	tail := &supTail{path: out}
	pid := tail.nextPID(b, 0, 30*time.Second)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Let the new process serve a few batches (a healthy period).
		tail.nextPID(b, -1, 10*time.Second)
		time.Sleep(150 * time.Millisecond)
		b.StartTimer()
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		pid = tail.nextPID(b, pid, 30*time.Second)
		lat = append(lat, time.Unix(0, tail.at).Add(-delay).Sub(t0))
	}
	b.StopTimer()
	s.running()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// supTail follows a recorder output file.
type supTail struct {
	path string
	off  int64
	last int
	at   int64 // the recorder's time (unix ns) of the line nextPID returned
}

// nextPID returns the pid of the next delivery made by a process other
// than not (-1: any process, after at least one more delivery).
func (tl *supTail) nextPID(b testing.TB, not int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		f, err := os.Open(tl.path)
		if err == nil {
			_, _ = f.Seek(tl.off, 0)
			r := bufio.NewReader(f)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					break
				}
				tl.off += int64(len(line))
				var x struct {
					PID int
					At  int64
				}
				if json.Unmarshal(line, &x) == nil && x.PID != not {
					f.Close()
					tl.last, tl.at = x.PID, x.At
					return x.PID
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			b.Fatalf("no delivery by a new process within %s", d)
		}
		time.Sleep(500 * time.Microsecond)
	}
}
