package lease_test

// Scripted scenarios on the simulation of sim_test.go: one timeline of
// isolated events (fresh start, join, graceful leave, crash, restart with
// the same worker id, pause, joins, restart with a new id), run under
// several seeds. Each event's cost — leases moved, seconds until balanced
// within ±1, seconds until the victim's shards are delivered again,
// records delivered twice — is checked against a bound and logged (go
// test -v -run Scenarios shows the table).

import (
	"fmt"
	"testing"
	"time"
)

// figure is what one event of a scenario cost.
type figure struct {
	name                       string
	t0                         time.Duration
	victim                     string                   // owner token whose shards are watched
	resumed                    map[string]time.Duration // victim's shard -> first batch elsewhere, after t0
	settled                    time.Duration            // since when (after t0) all are held within ±1 (-1: not at the end)
	takes0, dups0, takes, dups int
}

type step struct {
	at   time.Duration
	name string
	do   func(s *sim) *host // returns the victim, if any
	// bounds: leases moved, seconds to settle within ±1, seconds until
	// every shard of the victim is delivered again
	moves             int
	settled, takeover float64
}

func byID(s *sim, id string) *host {
	for i := len(s.hosts) - 1; i >= 0; i-- {
		if h := s.hosts[i]; h.id == id && h.alive {
			return h
		}
	}
	return nil
}

func runScript(t *testing.T, seed int64, shards int, steps []step, end time.Duration) []*figure {
	s := newSim(t, fmt.Sprintf("script seed %d", seed), seed, shards)
	var figs []*figure
	var cur *figure
	s.onBatch = func(b *batch) {
		if cur == nil || b.h.token == cur.victim {
			return
		}
		if at, ok := cur.resumed[b.shard]; ok && at < 0 {
			cur.resumed[b.shard] = s.now - cur.t0
		}
	}
	for i, st := range steps {
		s.run(st.at)
		cur = &figure{name: st.name, t0: s.now, resumed: map[string]time.Duration{}, takes0: s.takes, dups0: s.dups, settled: -1}
		figs = append(figs, cur)
		if v := st.do(s); v != nil {
			cur.victim = v.token
			for id := range v.held {
				cur.resumed[id] = -1
			}
		}
		stop := end
		if i+1 < len(steps) {
			stop = steps[i+1].at
		}
		for s.now < stop {
			s.run(min(stop, s.now+100*time.Millisecond))
			if d, all := s.spread(); !all || d > 1 {
				cur.settled = -1
			} else if cur.settled < 0 {
				cur.settled = s.now - cur.t0
			}
		}
		cur.takes, cur.dups = s.takes-cur.takes0, s.dups-cur.dups0
	}
	return figs
}

func (f *figure) takeover() time.Duration {
	var worst time.Duration
	for _, at := range f.resumed {
		if at < 0 {
			return -1
		}
		worst = max(worst, at)
	}
	return worst
}

// TestSimScenarios runs one timeline of isolated events (Duration 10 s,
// poll 1 s, 12 shards) under several seeds, checks the figures against
// bounds, and logs them.
func TestSimScenarios(t *testing.T) {
	start := func(ids ...string) func(s *sim) *host {
		return func(s *sim) *host {
			for i, id := range ids {
				s.at(s.now+time.Duration(i)*300*time.Millisecond, func() { s.startHost(id) })
			}
			return nil
		}
	}
	steps := []step{
		// 12 first takes, balanced 4/4/4
		{0, "fresh start of 3", start("h1", "h2", "h3"), 12, 5, 0},
		// 3 hand-offs to 3/3/3/3
		{40 * time.Second, "join h4", start("h4"), 3, 6, 0},
		// its 3 released and taken at once: 4/4/4
		{80 * time.Second, "leave h2 (graceful)", func(s *sim) *host { h := byID(s, "h2"); h.leave(); return h }, 3, 3, 2},
		// its 4 taken after Duration: 6/6
		{120 * time.Second, "crash h3", func(s *sim) *host { h := byID(s, "h3"); h.crash(); return h }, 4, 14, 14},
		// its 6 taken back at the restart
		{160 * time.Second, "crash h1, restart as h1 after 2 s", func(s *sim) *host {
			h := byID(s, "h1")
			h.crash()
			s.at(s.now+2*time.Second, func() { s.startHost("h1") })
			return h
		}, 6, 4, 4},
		// its 6 taken after Duration, then 6 handed back one a round
		{200 * time.Second, "pause h4 for 2 × Duration", func(s *sim) *host {
			h := byID(s, "h4")
			h.pausedUntil = s.now + 2*simDur
			return h
		}, 12, 30, 14},
		// 6 hand-offs to 3/3/3/3
		{260 * time.Second, "join h5, h6", start("h5", "h6"), 6, 8, 0},
		// 3 expired + 3 to the joiner (h5 still looks alive for a while)
		{300 * time.Second, "crash h5, restart as h7 after 2 s", func(s *sim) *host {
			h := byID(s, "h5")
			h.crash()
			s.at(s.now+2*time.Second, func() { s.startHost("h7") })
			return h
		}, 6, 16, 16},
	}
	type agg struct{ takeover, settled, takes, dups []float64 }
	all := make([]agg, len(steps))
	seeds := []int64{1, 2, 3, 4, 5, 6, 7, 8}
	for _, seed := range seeds {
		figs := runScript(t, seed, 12, steps, 340*time.Second)
		for i, f := range figs {
			st := steps[i]
			if f.settled < 0 || f.settled.Seconds() > st.settled {
				t.Errorf("seed %d, %s: settled within ±1 after %v, want at most %vs", seed, f.name, f.settled, st.settled)
			}
			if f.victim != "" && (f.takeover() < 0 || f.takeover().Seconds() > st.takeover) {
				t.Errorf("seed %d, %s: the victim's shards resumed after %v, want at most %vs: %v", seed, f.name, f.takeover(), st.takeover, f.resumed)
			}
			if f.takes > st.moves {
				t.Errorf("seed %d, %s: %d leases moved, want at most %d", seed, f.name, f.takes, st.moves)
			}
			all[i].takeover = append(all[i].takeover, f.takeover().Seconds())
			all[i].settled = append(all[i].settled, f.settled.Seconds())
			all[i].takes = append(all[i].takes, float64(f.takes))
			all[i].dups = append(all[i].dups, float64(f.dups))
		}
	}
	mm := func(v []float64) string {
		lo, hi, sum := v[0], v[0], 0.0
		for _, x := range v {
			lo, hi, sum = min(lo, x), max(hi, x), sum+x
		}
		return fmt.Sprintf("%5.1f [%4.1f..%4.1f]", sum/float64(len(v)), lo, hi)
	}
	t.Logf("%-36s %-20s %-20s %-20s %-20s", "event (mean [min..max] over seeds)", "takeover s", "settled ±1 s", "leases moved", "duplicates")
	for i, st := range steps {
		to := "-"
		if all[i].takeover[0] > 0 {
			to = mm(all[i].takeover)
		}
		t.Logf("%-36s %-20s %-20s %-20s %-20s", st.name, to, mm(all[i].settled), mm(all[i].takes), mm(all[i].dups))
	}
}
