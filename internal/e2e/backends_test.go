package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

// TestBackendsEndToEnd is the vertical slice's end-to-end run once per
// checkpoint backend (issue 3): 4,000 records over 4 shards, the real host
// with that backend's plugin, SIGTERM, exit 0, every record delivered in
// order, and each shard's checkpoint — read back through the backend's own
// package — is its last sequence number. Then 200 more records and a
// restart: only the new ones are delivered.
func TestBackendsEndToEnd(t *testing.T) {
	backends := []struct {
		plugin   string
		settings func(t *testing.T, e *env) map[string]any
	}{
		{"file", func(t *testing.T, e *env) map[string]any {
			return map[string]any{"path": e.cpPath}
		}},
		{"redis", func(t *testing.T, e *env) map[string]any {
			addr := testenv.RedisAddr()
			return map[string]any{"address": addr, "db": 0, "key_prefix": bkRedisPrefix(t, addr)}
		}},
		{"postgres", func(t *testing.T, e *env) map[string]any {
			return map[string]any{"connection": testenv.PostgresDSN(), "table": bkPGTable(t), "create_table": true}
		}},
		{"dynamodb", func(t *testing.T, e *env) map[string]any {
			return map[string]any{
				"table":             "bk_e2e_" + bkRandHex(6),
				"region":            "us-east-1",
				"endpoint":          testenv.StartDynalite(t),
				"create_table":      true,
				"access_key_id":     "e2e",
				"secret_access_key": "e2e-secret",
			}
		}},
	}
	for _, b := range backends {
		t.Run(b.plugin, func(t *testing.T) {
			t0 := time.Now()
			e := newEnv(t, 4)
			settings := b.settings(t, e)
			first := e.put(0, 4000)

			out1 := filepath.Join(e.dir, "deliveries-1.jsonl")
			h1 := e.startHost(bkWriteConfig(e, "run1", runConfig{out: out1}, b.plugin, settings))
			d1 := newDeliveries(t, out1)
			d1.waitAll(time.Minute, h1, first)
			run1 := time.Since(h1.started)
			h1.stop(30 * time.Second)
			d1.poll()
			checkComplete(t, first, d1.all)
			if red := checkOrder(t, d1.all); red != 0 {
				t.Errorf("%d redeliveries in a run without faults, want 0", red)
			}
			if len(d1.all) != len(first) {
				t.Errorf("run 1 made %d deliveries for %d records", len(d1.all), len(first))
			}
			bkCheckCheckpoints(t, b.plugin, bkReadStored(t, b.plugin, settings, e.shards), lastSeqs(first))
			if t.Failed() {
				return
			}

			second := e.put(4000, 200)
			out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
			h2 := e.startHost(bkWriteConfig(e, "run2", runConfig{out: out2}, b.plugin, settings))
			d2 := newDeliveries(t, out2)
			d2.waitAll(time.Minute, h2, second)
			time.Sleep(time.Second) // five poll intervals: anything extra would show up
			h2.stop(30 * time.Second)
			d2.poll()

			isNew := map[string]bool{}
			for _, r := range second {
				isNew[r.data] = true
			}
			old := 0
			for _, dl := range d2.all {
				if !isNew[dl.Data] {
					old++
					if old <= 5 {
						t.Errorf("the restart delivered %.8s (shard %s seq %s), which run 1 had already done", dl.Data, dl.Shard, dl.Seq)
					}
				}
			}
			if old > 0 {
				t.Errorf("the restart delivered %d records of run 1 again", old)
			}
			if len(d2.all) != len(second) {
				t.Errorf("the restart made %d deliveries, want exactly %d", len(d2.all), len(second))
			}
			checkComplete(t, second, d2.all)
			checkOrder(t, d2.all)
			bkCheckCheckpoints(t, b.plugin, bkReadStored(t, b.plugin, settings, e.shards), lastSeqs(append(first, second...)))
			t.Logf("%s: %d records delivered in %s; restart delivered exactly the %d new ones; whole subtest %s",
				b.plugin, len(first), run1.Round(time.Millisecond), len(second), time.Since(t0).Round(time.Millisecond))
		})
	}
}

// bkOutage is one "backend stopped for 30 s mid-stream" run (issue 3):
// the host runs with the backend (hostSettings) while 100 records/s are
// put over 4 shards; after a few seconds down() stops the backend for 30 s,
// then up() brings it back, and records keep coming for 10 s more. The
// host must stay up by itself, deliver every record, store each shard's
// last sequence number without being told to (and again after SIGTERM,
// exit 0), and the stored checkpoints — sampled every 500 ms through st —
// must never go backwards.
type bkOutage struct {
	plugin       string
	hostSettings map[string]any
	st           bkStore // the test's own view of the stored checkpoints
	down, up     func()
	// readableWhileDown: st still reads while the host's path to the
	// backend is down (a proxy in between), so the recovery baseline can
	// be taken before up().
	readableWhileDown bool
}

const bkOutageFor = 30 * time.Second

func (o bkOutage) run(t *testing.T) {
	e := newEnv(t, 4)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(bkWriteConfig(e, "config", runConfig{out: out}, o.plugin, o.hostSettings))
	prod := bkStartProducer(e, 0, 10, 100*time.Millisecond) // 100 records/s
	d := newDeliveries(t, out)

	waitFor(t, 30*time.Second, h, "a stored checkpoint for every shard", func() bool {
		return len(bkSnapshot(t, o.st, e.shards, 5*time.Second)) == len(e.shards)
	})
	sampler := bkStartSampler(t, o.st, e.shards, 500*time.Millisecond)
	bkSleep(t, h, 3*time.Second, "before the outage")

	// The outage.
	d.poll()
	deliveredBefore, producedBefore := d.distinct(), prod.count()
	if !o.readableWhileDown {
		sampler.pause()
	}
	o.down()
	tDown := time.Now()
	bkSleep(t, h, bkOutageFor, "during the outage")
	d.poll()
	deliveredDuring, producedDuring := d.distinct()-deliveredBefore, prod.count()-producedBefore

	var base map[string]string
	if o.readableWhileDown {
		base = bkSnapshot(t, o.st, e.shards, 10*time.Second)
	}
	o.up()
	tUp := time.Now()
	if !o.readableWhileDown {
		base = bkSnapshot(t, o.st, e.shards, 10*time.Second)
		sampler.resume()
	}
	waitFor(t, time.Minute, h, "the first checkpoint write after the backend came back", func() bool {
		return bkAdvanced(o.st, e.shards, base)
	})
	recovered := time.Since(tUp)
	t.Logf("%s down for %s (%d records put, %d delivered meanwhile); first checkpoint write stored %s after it came back",
		o.plugin, tUp.Sub(tDown).Round(time.Millisecond), producedDuring, deliveredDuring, recovered.Round(time.Millisecond))

	bkSleep(t, h, time.Until(tUp.Add(10*time.Second)), "after the outage")
	recs := prod.stop(t)
	tStop := time.Now()
	want := lastSeqs(recs)
	d.waitAll(time.Minute, h, recs)
	// The host stores the latest positions by itself, before any SIGTERM.
	var caughtUp time.Duration
	waitFor(t, time.Minute, h, "the stored checkpoints to reach each shard's last record", func() bool {
		got := bkSnapshot(t, o.st, e.shards, 5*time.Second)
		for sh, w := range want {
			if got[sh] != w {
				return false
			}
		}
		caughtUp = time.Since(tStop)
		return true
	})
	samples, fails := sampler.check(t)
	drain := h.stop(30 * time.Second)
	d.poll()

	checkComplete(t, recs, d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries: a checkpoint outage must not cause any", red)
	}
	if len(d.all) != len(recs) {
		t.Errorf("%d deliveries for %d records", len(d.all), len(recs))
	}
	got := bkCheckpoints(t, o.st, e.shards)
	bkCheckCheckpoints(t, o.plugin, got, want)

	log := h.log()
	warns := strings.Count(log, "checkpoint write failed; retrying")
	if warns == 0 {
		t.Errorf("the host log has no \"checkpoint write failed; retrying\" warning: the outage went unnoticed, so it tested nothing")
	}
	t.Logf("%s: %d records; %d checkpoint write retries logged; %d checkpoint plugin restarts; stored checkpoints at each shard's last record %s after the last put; %d samples, monotonic (%d failed reads); SIGTERM to exit %s",
		o.plugin, len(recs), warns, strings.Count(log, "plugin failed; it will be restarted"),
		caughtUp.Round(time.Millisecond), samples, fails, drain.Round(time.Millisecond))
}

// TestRedisOutage30s stops a Redis server of our own (SIGKILL; AOF with
// appendfsync always, so nothing it acknowledged is lost) for 30 s while
// records flow, then starts it again on the same port and data dir.
func TestRedisOutage30s(t *testing.T) {
	t.Parallel()
	r := bkStartRedis(t)
	settings := map[string]any{"address": r.addr, "key_prefix": "bk-e2e:"}
	bkOutage{
		plugin:       "redis",
		hostSettings: settings,
		st:           bkOpenStore(t, "redis", settings),
		down:         r.kill,
		up:           r.start,
	}.run(t)
}

// TestPostgresOutage30s puts a TCP proxy between the host and the shared
// PostgreSQL server and takes it down for 30 s (every session is reset and
// new connections are refused, as when the server stops), then listens
// again on the same port. The test reads the table directly.
func TestPostgresOutage30s(t *testing.T) {
	t.Parallel()
	proxy := bkStartProxy(t, bkPGServer(t))
	table := bkPGTable(t)
	direct := map[string]any{"connection": testenv.PostgresDSN(), "table": table, "create_table": true}
	st := bkOpenStore(t, "postgres", direct) // creates the table
	bkOutage{
		plugin:            "postgres",
		hostSettings:      map[string]any{"connection": bkPGDSNVia(t, proxy.addr), "table": table, "create_table": true},
		st:                st,
		down:              proxy.down,
		up:                proxy.up,
		readableWhileDown: true,
	}.run(t)
}

// TestCheckpointPluginCrash SIGKILLs the kinesis-checkpoint-file plugin
// three times while records flow: the host stays up and restarts it, no
// record is lost, and positions handed in while the plugin was dead are
// kept and stored (the last kill comes after the producer stopped, right
// before a final burst, so the burst's checkpoints can only be written by
// the restarted plugin).
func TestCheckpointPluginCrash(t *testing.T) {
	const plugin = "kinesis-checkpoint-file"
	e := newEnv(t, 4)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(e.writeConfig("config", runConfig{out: out}))
	prod := bkStartProducer(e, 0, 20, 100*time.Millisecond) // 200 records/s
	d := newDeliveries(t, out)
	waitFor(t, 30*time.Second, h, "the first delivery", func() bool { return d.poll() > 0 })

	const kills = 3
	var (
		killed   []int
		respawns []time.Duration
		recs     []*rec
	)
	var tKill time.Time
	for k := 1; k <= kills; k++ {
		prev := 0
		if len(killed) > 0 {
			prev = killed[len(killed)-1]
		}
		pid := 0
		waitFor(t, 30*time.Second, h, fmt.Sprintf("a live %s (kill %d)", plugin, k), func() bool {
			pid = bkPluginPID(h.pid(), plugin)
			return pid != 0 && pid != prev
		})
		if k > 1 {
			respawns = append(respawns, time.Since(tKill))
		}
		bkSleep(t, h, 1500*time.Millisecond, fmt.Sprintf("before kill %d", k))
		if k == kills {
			// Quiesce: everything so far delivered, then kill, then a burst
			// whose checkpoints wait for the restarted plugin.
			recs = prod.stop(t)
			d.waitAll(time.Minute, h, recs)
			bkSleep(t, h, 500*time.Millisecond, "before the last kill")
		}
		tKill = time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d of %s pid %d: %v", k, plugin, pid, err)
		}
		killed = append(killed, pid)
	}
	burst := e.put(len(recs), 200)
	recs = append(recs, burst...)
	d.waitAll(time.Minute, h, recs)
	waitFor(t, 30*time.Second, h, fmt.Sprintf("%s to be restarted after the last kill", plugin), func() bool {
		p := bkPluginPID(h.pid(), plugin)
		return p != 0 && p != killed[len(killed)-1]
	})
	respawns = append(respawns, time.Since(tKill))
	bkSleep(t, h, 2*time.Second, "after the last restart")
	h.stop(30 * time.Second)
	d.poll()

	checkComplete(t, recs, d.all)
	red := checkOrder(t, d.all)
	if red != 0 {
		t.Errorf("%d redeliveries: a checkpoint plugin crash must not cause any", red)
	}
	e.checkCheckpointsAtEnd(lastSeqs(recs))

	log := h.log()
	back := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "checkpoint."+bkCheckpointLabel) && strings.Contains(l, "plugin is back") {
			back++
		}
	}
	if back < kills {
		t.Errorf("host log says the checkpoint plugin is back %d times, want %d", back, kills)
	}
	t.Logf("%s killed %d times (pids %v); kill → new process %v; %d records, all delivered once; host log: %d \"plugin is back\", %d checkpoint write retries",
		plugin, kills, killed, roundAll(respawns), len(recs), back, strings.Count(log, "checkpoint write failed; retrying"))
}
