// Package lease is the decision core of multi-host shard leases: which
// shards this host should take, which it should hand off, and when another
// host's lease has expired. It does no I/O and reads no clock: the host
// feeds it listings of the store's rows and the time on its own monotonic
// clock, and carries out the plan it returns (package host does the
// conditional writes). That keeps every rule here testable with tables and
// a deterministic simulation.
//
// # The protocol
//
// Each shard has one lease, kept in the shard's checkpoint row: an owner
// (a per-process token, "worker-id#incarnation") and a counter. Every
// write to a lease — take, renew, checkpoint, release — is one conditional
// write on the (owner, counter) its writer last saw, and bumps the counter.
// So a host that lost a lease can never write its checkpoint again, and
// another host may take a lease only by naming the counter it saw.
//
// Expiry is judged only by watching: a lease is expired when this host has
// seen its counter stay unchanged for Config.Duration on its own monotonic
// clock. No two hosts' wall clocks are ever compared.
//
// Each host also keeps a worker row per stream (ShardID
// shared.WorkerRowPrefix + worker id), renewed every poll, so that a host
// holding no shard yet is counted when the others balance.
//
// # Balancing
//
// Only shards that need an owner count: not ended, and every parent still
// in the stream has SHARD_END stored (parents before children, across
// hosts). With E such shards and W live workers, target = ceil(E/W)
// (capped by Config.MaxShards). Each round a host
//
//  1. takes back leases held by an earlier incarnation of its own worker
//     id (a restart with an explicit worker_id fences its predecessor at
//     once);
//  2. takes unowned shards while below target, if it is the least loaded
//     worker, or anyone below target once a shard has waited a grace
//     period (Duration/3) unowned;
//  3. takes expired leases while below target (and any lease expired for
//     3 × Duration, whatever the target);
//  4. hands off at most one shard per round when it holds at least two
//     more than the least loaded worker (hysteresis: a balance within ±1
//     is left alone), and does not take back a shard it handed off for
//     Duration.
//
// There is no leader: every host runs the same rules, and a host that dies
// only delays the shards it held by Duration.
package lease

import (
	"hash/fnv"
	"sort"
	"strings"
	"time"
)

// Config tunes the protocol. Times are on the host's monotonic clock.
type Config struct {
	// Owner is this process's owner token: worker id, "#", incarnation.
	Owner string
	// Duration: a lease whose counter this host has seen unchanged this
	// long is expired and may be taken.
	Duration time.Duration
	// MaxShards caps the shards this host holds; 0 means no cap.
	MaxShards int
}

// Shard is a shard of the stream as the host listed it.
type Shard struct {
	ID string
	// Parents still in the stream (trimmed parents left out: they never
	// block their children).
	Parents []string
}

// Row is the lease part of one stored row (see shared.LeaseRow).
type Row struct {
	ShardID  string
	Owner    string
	Counter  int64
	ShardEnd bool
}

// WorkerOf returns the worker id part of an owner token.
func WorkerOf(owner string) string {
	if i := strings.LastIndexByte(owner, '#'); i >= 0 {
		return owner[:i]
	}
	return owner
}

// Take is one lease to take: the conditional write expects ExpectOwner and
// ExpectCounter.
type Take struct {
	ShardID       string
	ExpectOwner   string
	ExpectCounter int64
	// Reason: "unowned", "expired", "restart" (an earlier incarnation of
	// this worker id held it).
	Reason string
}

// Plan is what this host should do this round.
type Plan struct {
	Take    []Take
	Release []string // hand these off (after their final checkpoint)
	// Eligible shards (need an owner), live Workers (this one included),
	// the per-host Target, and Held: how many eligible shards this host
	// holds.
	Eligible, Workers, Target, Held int
}

type obs struct {
	owner    string
	counter  int64
	shardEnd bool
	since    time.Duration // when this host last saw owner or counter change
	unowned  time.Duration // since when it has been seen unowned (valid when owner == "")
}

// Core keeps what this host has observed of one stream's rows.
type Core struct {
	cfg      Config
	rows     map[string]*obs
	released map[string]time.Duration // shard -> when this host handed it off
}

// New returns a Core for one stream.
func New(cfg Config) *Core {
	return &Core{cfg: cfg, rows: map[string]*obs{}, released: map[string]time.Duration{}}
}

// Observe records a complete listing of the stream's rows taken at now. A
// row missing from the listing is an unowned row with counter 0.
func (c *Core) Observe(now time.Duration, rows []Row) {
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		seen[r.ShardID] = true
		c.see(now, r)
	}
	for id := range c.rows {
		if !seen[id] {
			c.see(now, Row{ShardID: id})
		}
	}
}

// Wrote records a write of this host that succeeded (take, renew,
// release): the row is now (owner, counter) as of now.
func (c *Core) Wrote(now time.Duration, r Row) { c.see(now, r) }

func (c *Core) see(now time.Duration, r Row) {
	o := c.rows[r.ShardID]
	if o == nil {
		o = &obs{owner: r.Owner, counter: r.Counter, since: now, unowned: now}
		c.rows[r.ShardID] = o
	} else if o.owner != r.Owner || o.counter != r.Counter {
		if o.owner != "" && r.Owner == "" {
			o.unowned = now
		}
		o.owner, o.counter, o.since = r.Owner, r.Counter, now
	}
	o.shardEnd = r.ShardEnd
}

// Expired reports whether the lease on id is held by someone and has not
// moved for Duration as seen by this host.
func (c *Core) Expired(now time.Duration, id string) bool {
	o := c.rows[id]
	return o != nil && o.owner != "" && now-o.since >= c.cfg.Duration
}

// Row returns what this host last saw of id (owner "" and counter 0 when
// it has seen nothing).
func (c *Core) Row(id string) Row {
	if o := c.rows[id]; o != nil {
		return Row{ShardID: id, Owner: o.owner, Counter: o.counter, ShardEnd: o.shardEnd}
	}
	return Row{ShardID: id}
}

// LiveWorkers returns the owner tokens of the live workers seen in the
// worker rows (prefix) and the unexpired shard leases, this host included.
func (c *Core) LiveWorkers(now time.Duration, workerPrefix string) []string {
	set := map[string]bool{c.cfg.Owner: true}
	for id, o := range c.rows {
		if o.owner == "" || now-o.since >= c.cfg.Duration {
			continue
		}
		if strings.HasPrefix(id, workerPrefix) || !o.shardEnd {
			set[o.owner] = true
		}
	}
	out := make([]string, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// Plan decides this round. shards is the stream's current listing; held
// the shards this host holds now; workerPrefix the ShardID prefix of
// worker rows.
func (c *Core) Plan(now time.Duration, shards []Shard, held map[string]bool, workerPrefix string) Plan {
	ended := func(id string) bool { o := c.rows[id]; return o != nil && o.shardEnd }
	var eligible []string
	for _, s := range shards {
		if ended(s.ID) {
			continue
		}
		ok := true
		for _, p := range s.Parents {
			if !ended(p) {
				ok = false
				break
			}
		}
		if ok {
			eligible = append(eligible, s.ID)
		}
	}
	workers := c.LiveWorkers(now, workerPrefix)
	counts := make(map[string]int, len(workers))
	for _, w := range workers {
		counts[w] = 0
	}
	mine := 0
	for _, id := range eligible {
		if held[id] {
			mine++
			continue
		}
		if o := c.rows[id]; o != nil && o.owner != "" && o.owner != c.cfg.Owner && now-o.since < c.cfg.Duration {
			counts[o.owner]++
		}
	}
	counts[c.cfg.Owner] = mine
	minCount := mine
	for _, n := range counts {
		minCount = min(minCount, n)
	}
	p := Plan{Eligible: len(eligible), Workers: len(workers), Held: mine}
	p.Target = (len(eligible) + len(workers) - 1) / len(workers)
	if c.cfg.MaxShards > 0 {
		p.Target = min(p.Target, c.cfg.MaxShards)
	}
	capacity := func(n int) bool { return c.cfg.MaxShards == 0 || n < c.cfg.MaxShards }

	// Candidates in an order of this host's own (a hash of owner and
	// shard), so that hosts racing for the same free shards mostly ask
	// for different ones.
	cands := make([]string, 0, len(eligible))
	for _, id := range eligible {
		if !held[id] {
			cands = append(cands, id)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return c.rank(cands[i]) < c.rank(cands[j]) })

	me := WorkerOf(c.cfg.Owner)
	n := mine
	grace := c.cfg.Duration / 3
	taken := map[string]bool{}
	for _, pass := range []string{"restart", "unowned", "expired"} {
		for _, id := range cands {
			if taken[id] {
				continue
			}
			o := c.rows[id]
			if o == nil {
				o = &obs{since: now, unowned: now}
			}
			var take bool
			switch pass {
			case "restart":
				take = o.owner != "" && o.owner != c.cfg.Owner && WorkerOf(o.owner) == me
			case "unowned":
				if o.owner != "" || !capacity(n) {
					break
				}
				if at, ok := c.released[id]; ok && now-at < c.cfg.Duration && now-o.unowned < c.cfg.Duration {
					break // handed off by this host: leave it to the others for a while
				}
				waited := now - o.unowned
				take = n < p.Target && (n <= minCount || waited >= grace) || waited >= c.cfg.Duration
			case "expired":
				if o.owner == "" || WorkerOf(o.owner) == me || !c.Expired(now, id) || !capacity(n) {
					break
				}
				take = n < p.Target || now-o.since >= 3*c.cfg.Duration
			}
			if take {
				p.Take = append(p.Take, Take{ShardID: id, ExpectOwner: o.owner, ExpectCounter: o.counter, Reason: pass})
				n++
				taken[id] = true
			}
		}
	}

	// Hand off one shard when this host holds two or more than the least
	// loaded worker, or more than MaxShards.
	if mine-minCount >= 2 || (c.cfg.MaxShards > 0 && mine > c.cfg.MaxShards) {
		var mineIDs []string
		for _, id := range eligible {
			if held[id] {
				mineIDs = append(mineIDs, id)
			}
		}
		sort.Slice(mineIDs, func(i, j int) bool { return c.rank(mineIDs[i]) > c.rank(mineIDs[j]) })
		if len(mineIDs) > 0 {
			p.Release = append(p.Release, mineIDs[0])
			c.released[mineIDs[0]] = now
		}
	}
	for id, at := range c.released {
		if now-at >= c.cfg.Duration {
			delete(c.released, id)
		}
	}
	return p
}

func (c *Core) rank(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.cfg.Owner))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}
