package lease_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/lease"
	"github.com/kinesis-host/kinesis-host/shared"
)

const (
	dur = 10 * time.Second
	wp  = shared.WorkerRowPrefix
)

func sec(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

// scene is a store's rows that a test moves by hand.
type scene map[string]lease.Row

// workers adds a worker row per owner token (keyed by its worker id).
func (s scene) workers(tokens ...string) scene {
	for _, tok := range tokens {
		id := wp + lease.WorkerOf(tok)
		s[id] = lease.Row{ShardID: id, Owner: tok, Counter: 1}
	}
	return s
}

// leases gives owner the shards ids ("" leaves them unowned rows).
func (s scene) leases(owner string, ids ...string) scene {
	for _, id := range ids {
		s[id] = lease.Row{ShardID: id, Owner: owner, Counter: 1}
	}
	return s
}

func (s scene) ended(owner string, ids ...string) scene {
	for _, id := range ids {
		s[id] = lease.Row{ShardID: id, Owner: owner, Counter: 1, ShardEnd: true}
	}
	return s
}

// bump moves rows: an entry with '#' is an owner token (all its rows),
// else one row id.
func (s scene) bump(what ...string) {
	for _, w := range what {
		for id, r := range s {
			if id == w || (strings.Contains(w, "#") && r.Owner == w) {
				r.Counter++
				s[id] = r
			}
		}
	}
}

func (s scene) list() []lease.Row {
	out := make([]lease.Row, 0, len(s))
	for _, r := range s {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShardID < out[j].ShardID })
	return out
}

type look struct {
	at   float64
	bump []string // rows moved just before this listing
}

// watch feeds a core the listings of sc at the given times.
func watch(c *lease.Core, sc scene, looks ...look) {
	for _, l := range looks {
		sc.bump(l.bump...)
		c.Observe(sec(l.at), sc.list())
	}
}

func shards(ids ...string) []lease.Shard {
	out := make([]lease.Shard, len(ids))
	for i, id := range ids {
		out[i] = lease.Shard{ID: id}
	}
	return out
}

func set(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func takes(p lease.Plan) []string {
	var out []string
	for _, t := range p.Take {
		out = append(out, t.ShardID+":"+t.Reason)
	}
	sort.Strings(out)
	return out
}

func TestWorkerOf(t *testing.T) {
	for in, want := range map[string]string{"w1#a": "w1", "host-7#1f2e": "host-7", "a#b#c": "a#b", "plain": "plain", "": ""} {
		if got := lease.WorkerOf(in); got != want {
			t.Errorf("WorkerOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpired(t *testing.T) {
	for _, tc := range []struct {
		name  string
		looks []look
		rows  scene
		at    float64
		want  bool
	}{
		{"held lease before Duration", []look{{0, nil}}, scene{}.leases("B#1", "s"), 9.9, false},
		{"held lease at Duration", []look{{0, nil}}, scene{}.leases("B#1", "s"), 10, true},
		{"a renew restarts the watch", []look{{0, nil}, {5, []string{"s"}}}, scene{}.leases("B#1", "s"), 14.9, false},
		{"... for a full Duration", []look{{0, nil}, {5, []string{"s"}}}, scene{}.leases("B#1", "s"), 15, true},
		// The row has not moved for hours, but this host only started
		// watching at 100: it must watch a full Duration itself.
		{"a host that starts late waits a full Duration", []look{{100, nil}}, scene{}.leases("B#1", "s"), 109.9, false},
		{"... and then it is expired", []look{{100, nil}}, scene{}.leases("B#1", "s"), 110, true},
		{"unowned is never expired", []look{{0, nil}}, scene{}.leases("", "s"), 100, false},
		{"never seen is never expired", nil, scene{}, 100, false},
		{"unchanged listings do not restart the watch", []look{{0, nil}, {4, nil}, {8, nil}}, scene{}.leases("B#1", "s"), 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
			watch(c, tc.rows, tc.looks...)
			if got := c.Expired(sec(tc.at), "s"); got != tc.want {
				t.Errorf("Expired at %vs = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
	t.Run("an owner change restarts the watch", func(t *testing.T) {
		c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
		c.Observe(0, []lease.Row{{ShardID: "s", Owner: "B#1", Counter: 1}})
		c.Observe(sec(8), []lease.Row{{ShardID: "s", Owner: "C#1", Counter: 2}})
		if c.Expired(sec(17.9), "s") || !c.Expired(sec(18), "s") {
			t.Error("want expired exactly Duration after the owner changed")
		}
	})
	t.Run("a listing older than a write only delays expiry", func(t *testing.T) {
		c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
		c.Observe(0, []lease.Row{{ShardID: "s", Owner: "A#1", Counter: 4}})
		c.Wrote(sec(2), lease.Row{ShardID: "s", Owner: "A#1", Counter: 5})
		c.Observe(sec(3), []lease.Row{{ShardID: "s", Owner: "A#1", Counter: 4}}) // read before the write landed
		if c.Expired(sec(12.9), "s") || !c.Expired(sec(13), "s") {
			t.Error("want expired Duration after the last change seen")
		}
	})
	t.Run("a row missing from a listing is unowned with counter 0", func(t *testing.T) {
		c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
		c.Observe(0, []lease.Row{{ShardID: "s", Owner: "B#1", Counter: 7}})
		c.Observe(sec(1), nil)
		if got := c.Row("s"); got != (lease.Row{ShardID: "s"}) || c.Expired(sec(50), "s") {
			t.Errorf("Row = %+v, want unowned with counter 0, never expired", got)
		}
	})
}

func TestLiveWorkers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rows  scene
		looks []look
		at    float64
		want  []string
	}{
		{"only this host", scene{}, []look{{0, nil}}, 0, []string{"A#1"}},
		// A worker row merely listed proves nothing: a dead host's row
		// looks exactly like this to a host that just started.
		{"a worker row seen once is no proof", scene{}.workers("B#1"), []look{{0, nil}}, 0.5, []string{"A#1"}},
		{"a worker row seen moving", scene{}.workers("B#1"), []look{{0, nil}, {1, []string{"B#1"}}}, 1, []string{"A#1", "B#1"}},
		{"... alive until Duration/2 after its last move", scene{}.workers("B#1"), []look{{0, nil}, {1, []string{"B#1"}}}, 5.9, []string{"A#1", "B#1"}},
		{"... then not", scene{}.workers("B#1"), []look{{0, nil}, {1, []string{"B#1"}}}, 6, []string{"A#1"}},
		{"an owner of an unexpired lease", scene{}.leases("B#1", "s1"), []look{{0, nil}}, 9.9, []string{"A#1", "B#1"}},
		{"... not once it expired", scene{}.leases("B#1", "s1"), []look{{0, nil}}, 10, []string{"A#1"}},
		// A crashed host: its idle lease (renewed only by the ticker)
		// expired, its busy one not yet, its worker row stopped at the
		// crash. It must not count as a worker holding one shard (or
		// none), or the others hand off to a dead host.
		{"one expired lease and a stopped worker row: dead", scene{}.workers("C#1").leases("C#1", "s1", "s2"),
			[]look{{0, nil}, {1, []string{"C#1"}}, {4, []string{wp + "C", "s2"}}}, 11.5, []string{"A#1"}},
		// A live host with a row it no longer renews (a take whose
		// outcome it never learned) is still alive: its worker row moves.
		{"an abandoned lease does not kill a beating worker", scene{}.workers("B#1").leases("B#1", "s1"),
			[]look{{0, nil}, {1, []string{wp + "B"}}, {9, []string{wp + "B"}}, {12, []string{wp + "B"}}}, 12, []string{"A#1", "B#1"}},
		{"ended shards do not count", scene{}.ended("B#1", "s1"), []look{{0, nil}}, 1, []string{"A#1"}},
		{"both incarnations, while both show", scene{}.workers("w1#b").leases("w1#a", "s1"), []look{{0, nil}, {1, []string{"w1#b"}}}, 1, []string{"A#1", "w1#a", "w1#b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
			watch(c, tc.rows, tc.looks...)
			if got := c.LiveWorkers(sec(tc.at), wp); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LiveWorkers = %v, want %v", got, tc.want)
			}
		})
	}
}

// planCase: this host (me) first lists the store at 0, then at 1 and at
// `at` (when it plans) after the rows of `alive` moved (worker rows and
// leases: a host that is alive renews both).
type planCase struct {
	name    string
	me      string
	max     int
	rows    scene
	alive   []string
	looks   []look // instead of the default three
	shards  []lease.Shard
	held    []string
	at      float64
	take    []string // "shard:reason", exactly
	anyOf   []string // or: exactly one take (no more), of any of these
	release int
	// Target, Workers, Eligible when not 0
	target, workers, eligible int
}

func (tc planCase) run(t *testing.T) {
	t.Helper()
	c := lease.New(lease.Config{Owner: tc.me, Duration: dur, MaxShards: tc.max})
	looks := tc.looks
	if looks == nil {
		looks = []look{{0, nil}, {1, tc.alive}, {tc.at, tc.alive}}
	}
	watch(c, tc.rows, looks...)
	p := c.Plan(sec(tc.at), tc.shards, set(tc.held...), wp)
	got := takes(p)
	switch {
	case tc.anyOf != nil:
		if len(got) != 1 || !strings.Contains(" "+strings.Join(tc.anyOf, " ")+" ", " "+got[0]+" ") {
			t.Errorf("takes %v, want one of %v", got, tc.anyOf)
		}
	case !reflect.DeepEqual(got, tc.take) && (len(got) > 0 || len(tc.take) > 0):
		t.Errorf("takes %v, want %v", got, tc.take)
	}
	if len(p.Release) != tc.release {
		t.Errorf("releases %v, want %d", p.Release, tc.release)
	}
	for _, r := range p.Release {
		if !set(tc.held...)[r] {
			t.Errorf("releases %s, which it does not hold", r)
		}
	}
	for _, x := range []struct {
		what      string
		got, want int
	}{{"Target", p.Target, tc.target}, {"Workers", p.Workers, tc.workers}, {"Eligible", p.Eligible, tc.eligible}} {
		if x.want != 0 && x.got != x.want {
			t.Errorf("%s = %d, want %d", x.what, x.got, x.want)
		}
	}
	for _, tk := range p.Take {
		if want := c.Row(tk.ShardID); tk.ExpectOwner != want.Owner || tk.ExpectCounter != want.Counter {
			t.Errorf("take %s expects (%q, %d), last seen (%q, %d)", tk.ShardID, tk.ExpectOwner, tk.ExpectCounter, want.Owner, want.Counter)
		}
	}
}

func TestPlan(t *testing.T) {
	six := shards("s0", "s1", "s2", "s3", "s4", "s5")
	twelve := shards("s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11")
	three := func() scene {
		return scene{}.workers("A#1", "B#1", "C#1").leases("", "s0", "s1", "s2", "s3", "s4", "s5")
	}
	held3 := func() scene {
		return scene{}.workers("A#1", "B#1", "C#1").leases("A#1", "s0", "s1").leases("B#1", "s2", "s3").leases("C#1", "s4", "s5")
	}
	left := func() scene { sc := held3().leases("", "s4", "s5"); delete(sc, wp+"C"); return sc }
	for _, tc := range []planCase{
		// Fresh start of three hosts, six unowned shards. Every host
		// computes the same shares (s0,s3 to A; s1,s4 to B; s2,s5 to C),
		// so they ask for different shards; in its first Duration/3 a host
		// takes one a round.
		{name: "fresh start: A's first round (warming up)", me: "A#1", rows: three(), alive: []string{"B#1", "C#1"}, shards: six, at: 1,
			anyOf: []string{"s0:unowned", "s3:unowned"}, target: 2, workers: 3, eligible: 6},
		{name: "fresh start: A after warming up", me: "A#1", rows: three(), alive: []string{"B#1", "C#1"}, shards: six, at: 4,
			take: []string{"s0:unowned", "s3:unowned"}},
		{name: "fresh start: B after warming up", me: "B#1", rows: three(), alive: []string{"A#1", "C#1"}, shards: six, at: 4,
			take: []string{"s1:unowned", "s4:unowned"}},
		{name: "fresh start: the others not seen moving yet", me: "A#1", rows: three(), shards: six, at: 0.5,
			looks: []look{{0, nil}}, anyOf: []string{"s0:unowned", "s1:unowned", "s2:unowned", "s3:unowned", "s4:unowned", "s5:unowned"}, workers: 1},

		// A joins three hosts holding two each: only the one most loaded
		// worker (ties by id) gives one; J takes it at once.
		{name: "joiner: A gives one", me: "A#1", rows: held3().workers("J#1"), alive: []string{"B#1", "C#1", "J#1"}, shards: six, held: []string{"s0", "s1"}, at: 4,
			release: 1, target: 2, workers: 4},
		{name: "joiner: B does not", me: "B#1", rows: held3().workers("J#1"), alive: []string{"A#1", "C#1", "J#1"}, shards: six, held: []string{"s2", "s3"}, at: 4},
		{name: "joiner: C does not", me: "C#1", rows: held3().workers("J#1"), alive: []string{"A#1", "B#1", "J#1"}, shards: six, held: []string{"s4", "s5"}, at: 4},
		{name: "joiner: J takes the handed-off shard at once", me: "J#1", rows: held3().workers("J#1").leases("", "s1"), alive: []string{"A#1", "B#1", "C#1"}, shards: six, at: 4,
			take: []string{"s1:unowned"}},
		{name: "joiner: B leaves the handed-off shard to J", me: "B#1", rows: held3().workers("J#1").leases("", "s1"), alive: []string{"A#1", "C#1", "J#1"}, shards: six, held: []string{"s2", "s3"}, at: 4},
		// Twelve shards on three hosts: each gives one, so J has its
		// share (3) after one round.
		{name: "joiner of 12: every host gives one", me: "C#1", rows: scene{}.workers("A#1", "B#1", "C#1", "J#1").
			leases("A#1", "s00", "s01", "s02", "s03").leases("B#1", "s04", "s05", "s06", "s07").leases("C#1", "s08", "s09", "s10", "s11"),
			alive: []string{"A#1", "B#1", "J#1"}, shards: twelve, held: []string{"s08", "s09", "s10", "s11"}, at: 4, release: 1, target: 3},
		// Three shards, four hosts: 1/1/1/0 is within ±1.
		{name: "joiner with fewer shards than hosts: nothing moves", me: "A#1", rows: scene{}.workers("A#1", "B#1", "C#1", "J#1").
			leases("A#1", "s0").leases("B#1", "s1").leases("C#1", "s2"), alive: []string{"B#1", "C#1", "J#1"}, shards: shards("s0", "s1", "s2"), held: []string{"s0"}, at: 4},

		// C left gracefully: released its leases and deleted its worker
		// row. Its shards are taken at once, one each.
		{name: "leaver: A takes one of its shards at once", me: "A#1", rows: left(), alive: []string{"B#1"}, shards: six, held: []string{"s0", "s1"}, at: 4,
			take: []string{"s4:unowned"}, workers: 2},
		{name: "leaver: B the other", me: "B#1", rows: left(), alive: []string{"A#1"}, shards: six, held: []string{"s2", "s3"}, at: 4, take: []string{"s5:unowned"}},

		{name: "unowned: the least loaded takes it at once", me: "A#1", rows: scene{}.workers("A#1", "B#1").leases("A#1", "s0").leases("B#1", "s1", "s2").leases("", "s3"),
			alive: []string{"B#1"}, shards: shards("s0", "s1", "s2", "s3"), held: []string{"s0"}, at: 4, take: []string{"s3:unowned"}},
		{name: "unowned: the more loaded leaves it", me: "B#1", rows: scene{}.workers("A#1", "B#1").leases("A#1", "s0").leases("B#1", "s1", "s2").leases("", "s3"),
			alive: []string{"A#1"}, shards: shards("s0", "s1", "s2", "s3"), held: []string{"s1", "s2"}, at: 4},
		{name: "a shard with no row at all is unowned", me: "A#1", rows: scene{}, shards: shards("s0"), at: 4, take: []string{"s0:unowned"}},

		{name: "imbalance 1: no hand-off", me: "A#1", rows: scene{}.workers("A#1", "B#1").leases("A#1", "s0", "s1", "s2").leases("B#1", "s3", "s4"),
			alive: []string{"B#1"}, shards: shards("s0", "s1", "s2", "s3", "s4"), held: []string{"s0", "s1", "s2"}, at: 4},
		{name: "imbalance 2: one hand-off", me: "A#1", rows: scene{}.workers("A#1", "B#1").leases("A#1", "s0", "s1", "s2").leases("B#1", "s3"),
			alive: []string{"B#1"}, shards: shards("s0", "s1", "s2", "s3"), held: []string{"s0", "s1", "s2"}, at: 4, release: 1},
		{name: "imbalance 5: still one hand-off a round", me: "A#1", rows: scene{}.workers("A#1", "B#1").leases("A#1", "s0", "s1", "s2", "s3", "s4"),
			alive: []string{"B#1"}, shards: shards("s0", "s1", "s2", "s3", "s4"), held: []string{"s0", "s1", "s2", "s3", "s4"}, at: 4, release: 1},

		{name: "max_shards: takes up to the cap", me: "A#1", max: 2, rows: scene{}.leases("", "s0", "s1", "s2", "s3"), shards: shards("s0", "s1", "s2", "s3"), at: 4,
			take: []string{"s0:unowned", "s1:unowned"}, target: 2},
		{name: "max_shards: gives back one above the cap", me: "A#1", max: 2, rows: scene{}.leases("A#1", "s0", "s1", "s2"), shards: shards("s0", "s1", "s2"), held: []string{"s0", "s1", "s2"}, at: 4,
			release: 1},
		{name: "max_shards: restarts take back only up to the cap", me: "w1#b", max: 1, rows: scene{}.leases("w1#a", "s0", "s1"), alive: []string{"w1#a"}, shards: shards("s0", "s1"), at: 1,
			take: []string{"s0:restart"}},

		// Crash: C's leases are taken only after Duration of stillness.
		{name: "crash: before Duration nothing", me: "A#1", rows: held3(), alive: []string{"B#1"}, shards: six, held: []string{"s0", "s1"}, at: 9.9, workers: 3},
		{name: "crash: after Duration A takes its share", me: "A#1", rows: held3(), alive: []string{"B#1"}, shards: six, held: []string{"s0", "s1"}, at: 10,
			take: []string{"s4:expired"}, workers: 2},
		{name: "crash: B the other", me: "B#1", rows: held3(), alive: []string{"A#1"}, shards: six, held: []string{"s2", "s3"}, at: 10, take: []string{"s5:expired"}},
		// C's idle leases expired (renewed last at 1), its worker row ran
		// until the crash at 4: C is dead, not a worker with no shards.
		{name: "crash: a dead worker's row still fresh is no reason to hand off", me: "A#1", rows: held3(),
			looks:  []look{{0, nil}, {1, []string{"B#1", "C#1"}}, {4, []string{"B#1", wp + "C"}}, {11.5, []string{"B#1"}}},
			shards: six, held: []string{"s0", "s1"}, at: 11.5, take: []string{"s4:expired"}, workers: 2},
		// A host that starts late waits a full Duration of its own.
		{name: "crash seen by a late starter: nothing at 9.9", me: "D#1", rows: held3().workers("D#1"), alive: []string{"A#1", "B#1"},
			looks: []look{{100, nil}, {101, []string{"A#1", "B#1"}}, {109.9, []string{"A#1", "B#1"}}}, shards: six, at: 109.9},
		{name: "crash seen by a late starter: takes at 10", me: "D#1", rows: held3().workers("D#1"), alive: []string{"A#1", "B#1"},
			looks: []look{{100, nil}, {101, []string{"A#1", "B#1"}}, {110, []string{"A#1", "B#1"}}}, shards: six, at: 110,
			take: []string{"s4:expired", "s5:expired"}},

		// Parents before children.
		{name: "split: parent open, children wait", me: "A#1", rows: scene{}.workers("B#1").leases("B#1", "p"), alive: []string{"B#1"},
			shards: []lease.Shard{{ID: "p"}, {ID: "c1", Parents: []string{"p"}}, {ID: "c2", Parents: []string{"p"}}}, at: 4, eligible: 1},
		{name: "split: parent ended, children taken", me: "A#1", rows: scene{}.workers("B#1").ended("B#1", "p"), alive: []string{"B#1"},
			shards: []lease.Shard{{ID: "p"}, {ID: "c1", Parents: []string{"p"}}, {ID: "c2", Parents: []string{"p"}}}, at: 4, take: []string{"c1:unowned"}, eligible: 2},
		{name: "merge: one parent ended, child waits", me: "A#1", rows: scene{}.workers("B#1").ended("B#1", "p1").leases("B#1", "p2"), alive: []string{"B#1"},
			shards: []lease.Shard{{ID: "p1"}, {ID: "p2"}, {ID: "c", Parents: []string{"p1", "p2"}}}, at: 4, eligible: 1},
		{name: "merge: both parents ended, child taken", me: "A#1", rows: scene{}.ended("B#1", "p1").ended("C#1", "p2"),
			shards: []lease.Shard{{ID: "p1"}, {ID: "p2"}, {ID: "c", Parents: []string{"p1", "p2"}}}, at: 4, take: []string{"c:unowned"}, eligible: 1},
		{name: "merge: a trimmed parent (not in Parents) does not block", me: "A#1", rows: scene{}.ended("B#1", "p1"),
			shards: []lease.Shard{{ID: "p1"}, {ID: "c", Parents: []string{"p1"}}}, at: 4, take: []string{"c:unowned"}},
		{name: "a parent with no row yet blocks its child", me: "A#1", rows: scene{},
			shards: []lease.Shard{{ID: "p"}, {ID: "c", Parents: []string{"p"}}}, at: 4, take: []string{"p:unowned"}, eligible: 1},

		// Restart with the same worker id, another incarnation: its leases
		// are taken back at once (no Duration, no warming up), and the
		// others do not mistake the new incarnation for a joiner.
		{name: "restart: w1#b takes back w1#a's leases at once", me: "w1#b", rows: scene{}.workers("w1#a", "B#1").leases("w1#a", "s0", "s1").leases("B#1", "s2", "s3"),
			alive: []string{"w1#a", "B#1"}, looks: []look{{0, nil}}, shards: shards("s0", "s1", "s2", "s3"), at: 0,
			take: []string{"s0:restart", "s1:restart"}, workers: 2},
		{name: "restart: B does not hand off to w1#b", me: "B#1", rows: scene{}.workers("w1#b", "B#1").leases("w1#a", "s0", "s1").leases("B#1", "s2", "s3"),
			alive: []string{"w1#a", "w1#b"}, shards: shards("s0", "s1", "s2", "s3"), held: []string{"s2", "s3"}, at: 4, workers: 2},
		// A take whose reply was lost but which applied: the row is this
		// very process's, and it is taken back at once, even alone.
		{name: "own row not held is taken back", me: "A#1", rows: scene{}.leases("A#1", "s0"), shards: shards("s0"), at: 4, take: []string{"s0:own"}},
		{name: "own row not held, expired, alone", me: "A#1", rows: scene{}.leases("A#1", "s0"), shards: shards("s0"), at: 30, take: []string{"s0:own"}},
	} {
		t.Run(tc.name, tc.run)
	}
}

// A host in its first Duration/3 takes one free shard a round, then the
// rest of its share at once; a host that sees no other worker's row at its
// second round is alone and takes everything then.
func TestPlanWarmup(t *testing.T) {
	six := shards("s0", "s1", "s2", "s3", "s4", "s5")
	for _, tc := range []struct {
		name  string
		other bool // another worker's row is listed (not yet seen to move)
		want  []int
	}{
		{"another worker's row listed", true, []int{1, 1, 1, 1, 2}},
		{"alone", false, []int{1, 5, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
			sc := scene{}.leases("", "s0", "s1", "s2", "s3", "s4", "s5")
			if tc.other {
				sc = sc.workers("B#1")
			}
			held := map[string]bool{}
			var per []int
			for _, at := range []float64{0, 1, 2, 3, 3.4} {
				c.Observe(sec(at), sc.list())
				p := c.Plan(sec(at), six, held, wp)
				per = append(per, len(p.Take))
				for _, tk := range p.Take {
					held[tk.ShardID] = true
					sc[tk.ShardID] = lease.Row{ShardID: tk.ShardID, Owner: "A#1", Counter: 2}
				}
			}
			if !reflect.DeepEqual(per, tc.want) {
				t.Errorf("takes per round %v, want %v", per, tc.want)
			}
		})
	}
}

// A hand-off is not taken back by the host that gave it, even when it
// becomes the least loaded, until the shard has been unowned for Duration.
func TestPlanNoTakeBackOfHandOff(t *testing.T) {
	c := lease.New(lease.Config{Owner: "A#1", Duration: dur})
	sc := scene{}.workers("A#1", "B#1").leases("A#1", "s0", "s1", "s2").leases("B#1", "s3")
	four, all := shards("s0", "s1", "s2", "s3"), shards("s0", "s1", "s2", "s3", "s4", "s5")
	watch(c, sc, look{0, nil}, look{1, []string{"B#1"}}, look{4, []string{"B#1"}})
	p := c.Plan(sec(4), four, set("s0", "s1", "s2"), wp)
	if len(p.Release) != 1 {
		t.Fatalf("releases %v, want one (3 against 1)", p.Release)
	}
	gone := p.Release[0]
	// Next round: the release not done yet (still held): no second one.
	watch(c, sc, look{5, []string{"B#1"}})
	if p := c.Plan(sec(5), four, set("s0", "s1", "s2"), wp); len(p.Release) != 0 || len(p.Take) != 0 {
		t.Fatalf("while handing off: takes %v releases %v, want nothing", takes(p), p.Release)
	}
	// Released; meanwhile two shards appeared and B took them, so A is
	// the least loaded.
	sc[gone] = lease.Row{ShardID: gone, Owner: "", Counter: 3}
	sc.leases("B#1", "s4", "s5")
	watch(c, sc, look{6, []string{"B#1"}})
	rest := set("s0", "s1", "s2")
	delete(rest, gone)
	if p := c.Plan(sec(6), all, rest, wp); len(p.Take) != 0 {
		t.Fatalf("took back its own hand-off: %v", takes(p))
	}
	// Unowned for Duration: anyone with room may take it, A too.
	for _, at := range []float64{10, 14, 16} {
		watch(c, sc, look{at, []string{"B#1"}})
	}
	if p := c.Plan(sec(16), all, rest, wp); !reflect.DeepEqual(takes(p), []string{gone + ":unowned"}) {
		t.Fatalf("after Duration unowned: takes %v, want %s", takes(p), gone)
	}
}

// A free shard whose share fell to a host that does not take it (capped,
// or about to die) is taken by another host below Target after
// Duration/2, and by any host with room after Duration.
func TestPlanFallbacks(t *testing.T) {
	for _, tc := range []struct {
		me   string
		held []string
		at   float64
		want []string
	}{
		{"A#1", []string{"s0"}, 4.9, nil},
		{"A#1", []string{"s0"}, 5, []string{"s4:unowned"}},
		{"B#1", []string{"s1", "s2"}, 9.9, nil}, // at Target
		{"B#1", []string{"s1", "s2"}, 10, []string{"s4:unowned"}},
	} {
		t.Run(fmt.Sprintf("%s at %v", tc.me, tc.at), func(t *testing.T) {
			c := lease.New(lease.Config{Owner: tc.me, Duration: dur})
			sc := scene{}.workers("A#1", "B#1", "J#1").leases("A#1", "s0").leases("B#1", "s1", "s2").leases("", "s4")
			other := map[string]string{"A#1": "B#1", "B#1": "A#1"}[tc.me]
			looks := []look{{0, nil}}
			for at := 1.0; at < tc.at; at++ {
				looks = append(looks, look{at, []string{other, "J#1"}})
			}
			watch(c, sc, append(looks, look{tc.at, []string{other, "J#1"}})...)
			p := c.Plan(sec(tc.at), shards("s0", "s1", "s2", "s4"), set(tc.held...), wp)
			if got := takes(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("takes %v, want %v", got, tc.want)
			}
		})
	}
}
