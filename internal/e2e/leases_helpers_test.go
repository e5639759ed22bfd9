package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// Multi-host tests: several kinesis-host processes with the same config
// (apart from their deliveries file and worker id) on one stream and one
// shared checkpoint store, as a user runs them on several machines.

// lsBackends are the shared stores, each with settings private to a test.
var lsBackends = []struct {
	plugin   string
	settings func(t testing.TB) map[string]any
}{
	{"redis", func(t testing.TB) map[string]any {
		addr := testenv.RedisAddr()
		return map[string]any{"address": addr, "db": 0, "key_prefix": bkRedisPrefix(t, addr)}
	}},
	{"postgres", func(t testing.TB) map[string]any {
		return map[string]any{"connection": testenv.PostgresDSN(), "table": bkPGTable(t), "create_table": true}
	}},
	{"dynamodb", func(t testing.TB) map[string]any {
		return map[string]any{
			"table": "ls_e2e_" + bkRandHex(6), "region": "us-east-1", "endpoint": testenv.StartDynalite(t),
			"create_table": true, "access_key_id": "e2e", "secret_access_key": "e2e-secret",
		}
	}},
}

// lsFast is the lease {} block of the scaled-down tests: the shipped
// defaults divided by five (duration 10s → 2s, poll 1s → 250ms; the renew
// interval stays duration/3).
const lsFast = `duration = "2s"
    poll_interval = "250ms"`

type lsCluster struct {
	t        testing.TB
	e        *env
	plugin   string
	settings map[string]any
	lease    string            // the lease {} block's body
	start    string            // runConfig.start
	stream   string            // runConfig.stream
	recorder map[string]string // runConfig.recorder; "lifecycle_out" gets a per-host file
	st       interface {
		bkStore
		sdk.LeaseStore
	}
	hosts []*lsHost
}

type lsHost struct {
	name, workerID string
	cfg            string // its config file
	proc           *hostProc
	out            string
	d              *deliveries
	stopped        bool
}

func newCluster(t testing.TB, e *env, plugin string, settings map[string]any, lease string) *lsCluster {
	st := bkOpenStore(t, plugin, settings)
	ls, ok := st.(interface {
		bkStore
		sdk.LeaseStore
	})
	if !ok {
		t.Fatalf("the %s store does not implement sdk.LeaseStore", plugin)
	}
	return &lsCluster{t: t, e: e, plugin: plugin, settings: settings, lease: lease, st: ls}
}

var lsWorkerRE = regexp.MustCompile(`worker_id=([^ ]+)`)

// add starts a host. workerID "" leaves worker_id unset (the default, unique
// per process); the id is then read from the host's log.
func (c *lsCluster) add(name, workerID string) *lsHost {
	c.t.Helper()
	out := filepath.Join(c.e.dir, "deliveries-"+name+".jsonl")
	for i := 2; ; i++ { // a restarted host gets a fresh deliveries file
		if _, err := os.Stat(out); err != nil {
			break
		}
		out = filepath.Join(c.e.dir, fmt.Sprintf("deliveries-%s-%d.jsonl", name, i))
	}
	rec := map[string]string{}
	for k, v := range c.recorder {
		rec[k] = v
	}
	if _, ok := rec["lifecycle_out"]; ok {
		rec["lifecycle_out"] = out + ".life"
	}
	path := bkWriteConfig(c.e, "host-"+name, runConfig{out: out, start: c.start, stream: c.stream, recorder: rec}, c.plugin, c.settings)
	raw, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	lease := c.lease
	if workerID != "" {
		lease += fmt.Sprintf("\n    worker_id = %q", workerID)
	}
	s := string(raw)
	if lease = strings.TrimSpace(lease); lease != "" { // "": no lease {} block, the shipped defaults
		s = strings.TrimSuffix(s, "}\n") + "  lease {\n    " + lease + "\n  }\n}\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		c.t.Fatal(err)
	}
	h := &lsHost{name: name, workerID: workerID, out: out, cfg: path, proc: c.e.startHost(path)}
	h.d = newDeliveries(c.t, out)
	if workerID == "" {
		waitFor(c.t, 30*time.Second, h.proc, "host "+name+" to log its worker id", func() bool {
			m := lsWorkerRE.FindStringSubmatch(h.proc.log())
			if m != nil {
				h.workerID = strings.Trim(m[1], `"`)
			}
			return m != nil
		})
	}
	c.hosts = append(c.hosts, h)
	return h
}

// live returns the hosts not stopped by the test.
func (c *lsCluster) live() []*lsHost {
	var out []*lsHost
	for _, h := range c.hosts {
		if !h.stopped && !h.proc.exited() {
			out = append(out, h)
		}
	}
	return out
}

// owners reads the store: open (not ended) shard → worker id holding it
// ("" unowned).
func (c *lsCluster) owners() map[string]string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.st.ListLeases(ctx, appName, streamName)
	if err != nil {
		c.t.Fatalf("ListLeases: %v", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		if strings.HasPrefix(r.ShardID, sdk.WorkerRowPrefix) || r.Checkpoint.ShardEnd {
			continue
		}
		w := r.Checkpoint.Owner
		if i := strings.LastIndexByte(w, '#'); i >= 0 {
			w = w[:i]
		}
		out[r.ShardID] = w
	}
	return out
}

// waitBalanced waits until every one of shards is owned by a live host and
// the live hosts' counts differ by at most one; it returns how long that
// took.
func (c *lsCluster) waitBalanced(shards []string, timeout time.Duration, what string) time.Duration {
	c.t.Helper()
	t0 := time.Now()
	var last string
	for {
		live := c.live()
		ids := map[string]int{}
		for _, h := range live {
			ids[h.workerID] = 0
		}
		own := c.owners()
		ok := true
		for _, s := range shards {
			w := own[s]
			if _, isLive := ids[w]; !isLive {
				ok = false
				continue
			}
			ids[w]++
		}
		lo, hi := len(shards), 0
		for _, n := range ids {
			lo, hi = min(lo, n), max(hi, n)
		}
		last = fmt.Sprint(ids)
		if ok && hi-lo <= 1 {
			d := time.Since(t0)
			c.t.Logf("%s: balanced %s after %s", what, last, d.Round(time.Millisecond))
			return d
		}
		if time.Since(t0) > timeout {
			c.t.Fatalf("%s: not balanced after %s: %s (owners %v)", what, timeout, last, own)
		}
		for _, h := range c.hosts {
			if !h.stopped && h.proc.exited() {
				c.t.Fatalf("%s: host %s exited by itself with code %d", what, h.name, h.proc.cmd.ProcessState.ExitCode())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heldBy returns the shards the store shows held by h.
func (c *lsCluster) heldBy(h *lsHost) map[string]bool {
	out := map[string]bool{}
	for s, w := range c.owners() {
		if w == h.workerID {
			out[s] = true
		}
	}
	return out
}

// stop ends h with SIGTERM (exit 0 expected).
func (c *lsCluster) stop(h *lsHost) time.Duration {
	c.t.Helper()
	h.stopped = true
	return h.proc.stop(60 * time.Second)
}

// kill SIGKILLs h.
func (c *lsCluster) kill(h *lsHost) {
	c.t.Helper()
	h.stopped = true
	h.proc.signal(syscall.SIGKILL)
	h.proc.wait(10 * time.Second)
}

// all returns every delivery of every host, in the order the recorders
// wrote them (their timestamps), each tagged with its host in PID's place.
func (c *lsCluster) all() (ds []delivery, host []string) {
	type tagged struct {
		d delivery
		h string
	}
	var ts []tagged
	for _, h := range c.hosts {
		h.d.poll()
		for _, d := range h.d.all {
			ts = append(ts, tagged{d, h.name})
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].d.At < ts[j].d.At })
	for _, x := range ts {
		ds = append(ds, x.d)
		host = append(host, x.h)
	}
	return ds, host
}

// waitAll waits until every record in want was delivered by some host.
func (c *lsCluster) waitAll(want []*rec, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]bool{}
		for _, h := range c.hosts {
			h.d.poll()
			for d := range h.d.byData {
				got[d] = true
			}
		}
		missing := 0
		for _, r := range want {
			if !got[r.data] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d records not delivered after %s", missing, len(want), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lsOverlap returns, over all shards, the longest time two hosts delivered
// the same shard at once (segments of consecutive deliveries by one host
// that overlap in time), and where.
func lsOverlap(ds []delivery, host []string) (time.Duration, string) {
	type seg struct {
		h          string
		start, end int64
	}
	segs := map[string][]seg{}
	for i, d := range ds {
		ss := segs[d.Shard]
		if n := len(ss); n > 0 && ss[n-1].h == host[i] {
			ss[n-1].end = d.At
		} else {
			ss = append(ss, seg{host[i], d.At, d.At})
		}
		segs[d.Shard] = ss
	}
	var worst time.Duration
	var where string
	for shard, ss := range segs {
		for i := range ss {
			for j := i + 1; j < len(ss); j++ {
				if ss[i].h == ss[j].h {
					continue
				}
				ov := time.Duration(min(ss[i].end, ss[j].end) - max(ss[i].start, ss[j].start))
				if ov > worst {
					worst, where = ov, fmt.Sprintf("shard %s: hosts %s and %s", shard, ss[i].h, ss[j].h)
				}
			}
		}
	}
	return worst, where
}

// lsDuplicates counts deliveries of records already delivered, per shard.
func lsDuplicates(ds []delivery) (total int, byShard map[string]int) {
	seen := map[string]bool{}
	byShard = map[string]int{}
	for _, d := range ds {
		if seen[d.Data] {
			total++
			byShard[d.Shard]++
		}
		seen[d.Data] = true
	}
	return total, byShard
}

// waitStarted waits until the hosts' lifecycle files together show
// shard_started for n distinct shards.
func (c *lsCluster) waitStarted(n int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		started := map[string]bool{}
		for _, h := range c.hosts {
			raw, _ := os.ReadFile(h.out + ".life")
			for _, line := range strings.Split(string(raw), "\n") {
				var ev map[string]string
				if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "shard_started" {
					started[ev["shard"]] = true
				}
			}
		}
		if len(started) >= n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("only %d of %d shards reported shard_started", len(started), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rows reads every row of the stream from the store (shards only).
func (c *lsCluster) rows() map[string]sdk.Checkpoint {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.st.ListLeases(ctx, appName, streamName)
	if err != nil {
		c.t.Fatalf("ListLeases: %v", err)
	}
	out := map[string]sdk.Checkpoint{}
	for _, r := range rows {
		if !strings.HasPrefix(r.ShardID, sdk.WorkerRowPrefix) {
			out[r.ShardID] = r.Checkpoint
		}
	}
	return out
}

// openShards lists the stream's open shard ids.
func (c *lsCluster) openShards() []string {
	var ids []string
	for _, s := range rsOpenShards(c.t, c.e) {
		ids = append(ids, aws.ToString(s.ShardId))
	}
	return ids
}

// maxGap returns the longest pause, over every shard that changed hosts,
// between the last delivery of one host and the first of the next: how
// long a hand-off kept the shard idle (bounded below by the producer's
// pace on that shard).
func lsMaxGap(ds []delivery, host []string) time.Duration {
	last := map[string]int{}
	var worst time.Duration
	for i, d := range ds {
		if j, ok := last[d.Shard]; ok && host[j] != host[i] {
			worst = max(worst, time.Duration(d.At-ds[j].At))
		}
		last[d.Shard] = i
	}
	return worst
}
