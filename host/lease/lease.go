// Package lease is the decision core of multi-host shard leases: which
// shards this host should take, which it should hand off, and when another
// host's lease has expired. It does no I/O and reads no clock: the host
// feeds it listings of the store's rows and the time on its own monotonic
// clock, and carries out the plan it returns (package host does the
// conditional writes). That keeps every rule here testable with tables and
// a deterministic simulation (sim_test.go).
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
// clock (a host that starts late waits a full Duration). No two hosts'
// wall clocks are ever compared. A host renews its leases every
// Duration/3 and starts a batch only if its last successful write of that
// lease was sent less than Duration/3 ago, so a batch never starts on a
// lease that someone else may already have taken.
//
// Each host also keeps a worker row per stream (ShardID
// shared.WorkerRowPrefix + worker id, owner its token), written every
// poll, so that a host holding no shard yet is counted when the others
// balance; a host that leaves deletes it after releasing its leases.
//
// # Who is alive
//
// A worker counts as alive while this host sees its worker row move (a
// row merely listed proves nothing: it may be a dead host's) at least
// every Duration/2, or while it holds a lease that has not expired and
// none that has (a host that stopped renewing a lease is dead, whatever
// its worker row last said). Workers are counted by worker id, so the
// incarnations of a restarted host are one worker.
//
// # Balancing
//
// Only shards that need an owner count: not ended, and every parent still
// in the stream has SHARD_END stored (parents before children, across
// hosts). With E such shards and W live workers, Target = ceil(E/W)
// (capped by Config.MaxShards). Each round a host
//
//  1. takes back leases held by another incarnation of its own worker id
//     (a restart with an explicit worker_id fences its predecessor at
//     once), and rows its own token holds that it does not (a write of
//     its own whose outcome it never learned);
//  2. shares out the free shards (unowned, or expired) by filling up the
//     least loaded workers first, in an order every host computes alike
//     (shards by id, ties by worker id), and takes the ones that fall to
//     it: so a free shard is taken at once by the least loaded worker and
//     hosts racing for free shards ask for different ones. In its first
//     Duration/3 a host takes at most one free shard per round, so that
//     hosts started together share (one that lists no other worker's row
//     at its second round is alone and takes its share then). A free shard nobody took for
//     Duration/2 is taken by any host below Target; one unowned for
//     Duration, or expired for 3 × Duration, by any host with room;
//  3. hands off one shard when, in that same shared picture, it is the
//     most loaded of the workers still to give and holds at least two
//     more than the least loaded (hysteresis: a balance within ±1 is left
//     alone; each worker gives at most one shard per round, and only as
//     many workers give as there are shards missing at the bottom), or
//     when it holds more than MaxShards. It does not take back a shard
//     it handed off for Duration.
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
	// Reason: "unowned", "expired", "restart" (another incarnation of
	// this worker id holds it), or "own" (this very token holds it in the
	// store but the host does not: a write whose reply was lost applied).
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
	seen     time.Duration // when this host first saw the row
	since    time.Duration // when this host last saw owner or counter change
	unowned  time.Duration // since when it has been seen unowned (valid when owner == "")
}

// moving reports whether this host has seen the row change at all (a row
// only ever seen as it was when first listed proves nobody is alive).
func (o *obs) moving() bool { return o.since > o.seen }

// Core keeps what this host has observed of one stream's rows.
type Core struct {
	cfg      Config
	started  bool
	start    time.Duration            // first Observe or Plan
	plans    int                      // Plan calls so far
	rows     map[string]*obs          // by ShardID
	released map[string]time.Duration // shard -> when this host planned to hand it off
}

// New returns a Core for one stream.
func New(cfg Config) *Core {
	return &Core{cfg: cfg, rows: map[string]*obs{}, released: map[string]time.Duration{}}
}

func (c *Core) begin(now time.Duration) {
	if !c.started {
		c.started, c.start = true, now
	}
}

// Observe records a complete listing of the stream's rows taken at now. A
// row missing from the listing is an unowned row with counter 0.
func (c *Core) Observe(now time.Duration, rows []Row) {
	c.begin(now)
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
		o = &obs{owner: r.Owner, counter: r.Counter, seen: now, since: now, unowned: now}
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

// LiveWorkers returns the owner tokens of the workers this host sees
// alive, this host included: a worker row (prefix) seen to move less than
// Duration/2 ago, or an owner of an unexpired shard lease none of whose
// leases has expired (see the package doc).
func (c *Core) LiveWorkers(now time.Duration, workerPrefix string) []string {
	beating := map[string]bool{}
	fresh := map[string]bool{}
	stale := map[string]bool{}
	for id, o := range c.rows {
		switch {
		case o.owner == "":
		case strings.HasPrefix(id, workerPrefix):
			if o.moving() && now-o.since < c.cfg.Duration/2 {
				beating[o.owner] = true
			}
		case o.shardEnd:
		case now-o.since < c.cfg.Duration:
			fresh[o.owner] = true
		default:
			stale[o.owner] = true
		}
	}
	set := map[string]bool{c.cfg.Owner: true}
	for w := range beating {
		set[w] = true
	}
	for w := range fresh {
		if !stale[w] {
			set[w] = true
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
// the shards this host holds now (a shard it is still handing off
// included); workerPrefix the ShardID prefix of worker rows. The host
// skips a Take of a shard it already has a write in flight for.
func (c *Core) Plan(now time.Duration, shards []Shard, held map[string]bool, workerPrefix string) Plan {
	c.begin(now)
	d := c.cfg.Duration
	for id, at := range c.released {
		if now-at >= d {
			delete(c.released, id)
		}
	}
	handedOff := func(id string) bool { _, ok := c.released[id]; return ok }
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
	sort.Strings(eligible)

	me := WorkerOf(c.cfg.Owner)
	live := map[string]bool{me: true}
	for _, w := range c.LiveWorkers(now, workerPrefix) {
		live[WorkerOf(w)] = true
	}
	workers := make([]string, 0, len(live))
	for w := range live {
		workers = append(workers, w)
	}
	sort.Strings(workers)

	p := Plan{Eligible: len(eligible), Workers: len(workers)}
	p.Target = (len(eligible) + len(workers) - 1) / len(workers)
	if c.cfg.MaxShards > 0 {
		p.Target = min(p.Target, c.cfg.MaxShards)
	}
	capacity := func(n int) bool { return c.cfg.MaxShards == 0 || n < c.cfg.MaxShards }

	// Sort the eligible shards: this host's (less those it is handing
	// off), its worker id's other rows, free ones, and the live others'.
	load := make(map[string]int, len(workers))
	var mine, giving, back, free []string
	for _, id := range eligible {
		o := c.rows[id]
		if o == nil { // no row yet: unowned from now on
			o = &obs{seen: now, since: now, unowned: now}
			c.rows[id] = o
		}
		switch {
		case held[id]:
			p.Held++
			if handedOff(id) {
				giving = append(giving, id) // counted as free: it is on its way
			} else {
				mine = append(mine, id)
			}
		case o.owner == "":
			free = append(free, id)
		case WorkerOf(o.owner) == me:
			back = append(back, id)
		case c.Expired(now, id):
			free = append(free, id)
		case live[WorkerOf(o.owner)]:
			load[WorkerOf(o.owner)]++
		}
		// else: held by a worker that is dead but whose lease has not
		// expired yet; it becomes free when it does.
	}

	n := len(mine)
	for _, id := range back {
		if !capacity(n) {
			break
		}
		o := c.rows[id]
		reason := "restart"
		if o.owner == c.cfg.Owner {
			reason = "own"
		}
		p.Take = append(p.Take, Take{ShardID: id, ExpectOwner: o.owner, ExpectCounter: o.counter, Reason: reason})
		n++
	}
	load[me] = n

	// Share the free shards out, least loaded first; this host's share is
	// what falls to it.
	lightest := func(skip func(w string) bool) string {
		best := ""
		for _, w := range workers {
			if !skip(w) && (best == "" || load[w] < load[best]) {
				best = w
			}
		}
		return best
	}
	share := map[string]bool{}
	for _, id := range append(append([]string(nil), free...), giving...) {
		w := lightest(func(w string) bool { return w == me && (!capacity(load[me]) || handedOff(id)) })
		if w != "" {
			load[w]++
			share[id] = w == me
		}
	}
	sort.Slice(free, func(i, j int) bool { return c.rank(free[i]) < c.rank(free[j]) })
	// Warming up, a host takes one free shard a round, so hosts started
	// together see each other before they share the stream out. A host
	// that sees no other worker's row at its second round is alone (a host
	// started with it writes its row at its own first round, before this
	// second listing; a later one joins as any joiner does) and takes its
	// share at once.
	c.plans++
	warm := now-c.start < d/3 && (c.plans == 1 || c.otherWorkers(workerPrefix, me))
	took := 0
	for _, id := range free {
		if !capacity(n) || (warm && took > 0) {
			break
		}
		o := c.rows[id]
		reason, waited, old := "unowned", now-o.unowned, now-o.unowned >= d
		if o.owner != "" {
			reason, waited, old = "expired", now-o.since-d, now-o.since >= 3*d
		}
		if share[id] || old || (waited >= d/2 && n < p.Target && !handedOff(id)) {
			p.Take = append(p.Take, Take{ShardID: id, ExpectOwner: o.owner, ExpectCounter: o.counter, Reason: reason})
			n++
			took++
		}
	}

	// Hand-offs in the same shared picture: the most loaded giver gives
	// one to the least loaded while they are two or more apart.
	gave := map[string]bool{}
	for {
		hi := ""
		for _, w := range workers {
			if !gave[w] && (hi == "" || load[w] > load[hi]) {
				hi = w
			}
		}
		lo := lightest(func(string) bool { return false })
		if hi == "" || load[hi]-load[lo] < 2 {
			break
		}
		gave[hi] = true
		load[hi]--
		load[lo]++
	}
	if gave[me] || (c.cfg.MaxShards > 0 && len(mine) > c.cfg.MaxShards) {
		sort.Slice(mine, func(i, j int) bool { return c.rank(mine[i]) > c.rank(mine[j]) })
		if len(mine) > 0 {
			p.Release = append(p.Release, mine[0])
			c.released[mine[0]] = now
		}
	}
	return p
}

// otherWorkers reports whether a worker row of another worker is in the
// listing (alive or not: while warming up, a row not yet seen to move may
// be a host that just started).
func (c *Core) otherWorkers(workerPrefix, me string) bool {
	for id, o := range c.rows {
		if strings.HasPrefix(id, workerPrefix) && o.owner != "" && WorkerOf(o.owner) != me {
			return true
		}
	}
	return false
}

func (c *Core) rank(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.cfg.Owner))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}
