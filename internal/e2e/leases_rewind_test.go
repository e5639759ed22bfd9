package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestLeasesRewind: two hosts share a stream through a lease store (every
// shared backend); `rewind -apply -to <time>` sent to one of them moves
// every shard, also those the other host holds: it stops and starts its
// own shards around the write, and the other host's shards are fenced (the
// rewind write clears their owner, so that host's next write is refused
// and whoever takes the shard next starts from the rewound position).
// Every record from that time on is delivered again, none before it.
func TestLeasesRewind(t *testing.T) {
	for _, b := range lsBackends {
		t.Run(b.plugin, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 4)
			c := newCluster(t, e, b.plugin, b.settings(t), lsFast)
			c.start = startDefault // the shipped LATEST: records are put once every shard reads
			c.recorder = map[string]string{"lifecycle_out": ""}
			a := c.add("a", "host-a")
			c.add("b", "host-b")
			c.waitBalanced(e.shards, time.Minute, "two hosts")
			c.waitStarted(len(e.shards), time.Minute)
			first := e.put(0, 80)
			c.waitAll(first, time.Minute)
			time.Sleep(1500 * time.Millisecond)
			at := time.Now().UTC()
			time.Sleep(1500 * time.Millisecond)
			second := e.put(100, 80)
			c.waitAll(second, time.Minute)

			code, so, se := svRunCmd(t, "rewind", "-stream", streamName, "-to", at.Format(time.RFC3339Nano), "-apply", "-config", a.cfg)
			if code != 0 || strings.Count(so, "moved") < len(e.shards) {
				t.Fatalf("rewind -apply exited %d:\n%s%s", code, so, se)
			}
			count := func() map[string]int {
				ds, _ := c.all()
				n := map[string]int{}
				for _, d := range ds {
					n[d.Data]++
				}
				return n
			}
			waitFor(t, time.Minute, a.proc, "every record after the rewind's time, again", func() bool {
				n := count()
				for _, r := range second {
					if n[r.data] < 2 {
						return false
					}
				}
				return true
			})
			n := count()
			for _, r := range first {
				if n[r.data] != 1 {
					t.Fatalf("%s (before the rewind's time) was delivered %d times", r.data[:8], n[r.data])
				}
			}
			c.waitBalanced(e.shards, time.Minute, "after the rewind")
			t.Logf("%s: rewind -apply through host a moved %d shards held by two hosts; %d records redelivered", b.plugin, len(e.shards), len(second))
		})
	}
}
