package e2e

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

// BenchmarkLeases measures multi-host leases on the shipped defaults (no
// lease {} block: duration 10s, renew 3.3s, poll 1s) with Redis, 8 shards,
// a producer at 160 records/s:
//
//	join_s       a third host joins: until the three are balanced (±1)
//	handoff_s    SIGTERM of a host: until every one of its shards has
//	             delivered again on another host
//	failover_s   SIGKILL of a host: likewise
//	dups/kill    records delivered twice after the SIGKILL
//	dups/handoff records delivered twice after the SIGTERM (want 0)
//	writes/s/shard  lease writes per second per shard while the stream is
//	             idle and leased (renewals and worker rows)
//	lists/s/host listings of the stream's leases per second per host
//
// Run it with
//
//	go test -run '^$' -bench Leases -benchtime 1x ./internal/e2e/
func BenchmarkLeases(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e := newEnv(b, 8)
		c := newCluster(b, e, "redis", lsBackends[0].settings(b), "")
		x, y := c.add("x", ""), c.add("y", "")
		c.waitBalanced(e.shards, time.Minute, "two hosts")

		writes, lists := redisLeaseOps(b, 20*time.Second)

		p := rsStartProducer(e, 16, 100*time.Millisecond)
		time.Sleep(2 * time.Second)
		z := c.add("z", "")
		join := c.waitBalanced(e.shards, time.Minute, "a third host joins")
		time.Sleep(2 * time.Second)

		moved := c.heldBy(z)
		t0 := time.Now()
		z.proc.signal(syscall.SIGTERM)
		z.stopped = true
		handoff := lsRedelivered(b, c, moved, t0, []*lsHost{x, y})
		z.proc.wait(time.Minute)
		ds, _ := c.all()
		dupsHandoff, _ := lsDuplicates(ds)

		killed := c.heldBy(y)
		t0 = time.Now()
		c.kill(y)
		failover := lsRedelivered(b, c, killed, t0, []*lsHost{x})
		want := p.stop(b)
		c.waitAll(want, 2*time.Minute)
		ds, _ = c.all()
		checkComplete(b, want, ds)
		dupsAll, _ := lsDuplicates(ds)
		c.stop(x)

		b.ReportMetric(join.Seconds(), "join_s")
		b.ReportMetric(handoff.Seconds(), "handoff_s")
		b.ReportMetric(failover.Seconds(), "failover_s")
		b.ReportMetric(float64(dupsHandoff), "dups/handoff")
		b.ReportMetric(float64(dupsAll-dupsHandoff), "dups/kill")
		b.ReportMetric(writes/float64(len(e.shards)), "writes/s/shard")
		b.ReportMetric(lists/2, "lists/s/host")
		b.ReportMetric(0, "ns/op")
	}
}

// lsRedelivered waits until each of shards has a delivery after t0 on one
// of hosts and returns how long the slowest took.
func lsRedelivered(tb testing.TB, c *lsCluster, shards map[string]bool, t0 time.Time, hosts []*lsHost) time.Duration {
	tb.Helper()
	var took time.Duration
	waitFor(tb, 2*time.Minute, nil, "the moved shards to deliver again", func() bool {
		seen := map[string]time.Time{}
		for _, h := range hosts {
			h.d.poll()
			for _, d := range h.d.all {
				at := time.Unix(0, d.At)
				if shards[d.Shard] && at.After(t0) {
					if s, ok := seen[d.Shard]; !ok || at.Before(s) {
						seen[d.Shard] = at
					}
				}
			}
		}
		if len(seen) < len(shards) {
			return false
		}
		took = 0
		for _, at := range seen {
			took = max(took, at.Sub(t0))
		}
		return true
	})
	return took
}

// redisLeaseOps measures, over d, the lease writes (script calls) and the
// listings (MULTI/EXEC reads of a stream's rows) per second the shared
// Redis serves (nothing else should be using it).
func redisLeaseOps(tb testing.TB, d time.Duration) (writes, lists float64) {
	tb.Helper()
	rc := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(), DisableIdentity: true})
	defer rc.Close()
	count := func() (w, l float64) {
		info, err := rc.Info(context.Background(), "commandstats").Result()
		if err != nil {
			tb.Fatal(err)
		}
		calls := func(cmd string) float64 {
			for _, line := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
					n, _ := strconv.ParseFloat(strings.SplitN(v, ",", 2)[0], 64)
					return n
				}
			}
			return 0
		}
		return calls("evalsha") + calls("eval"), calls("exec")
	}
	w0, l0 := count()
	time.Sleep(d)
	w1, l1 := count()
	return (w1 - w0) / d.Seconds(), (l1 - l0) / d.Seconds()
}
