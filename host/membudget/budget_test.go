package membudget

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGrant(t *testing.T) {
	for _, c := range []struct {
		name                string
		limit, held, lo, hi int64
		want                int64
	}{
		{"all free", 100, 0, 10, 50, 50},
		{"hi capped by free", 100, 70, 10, 50, 30},
		{"exactly lo free", 100, 90, 10, 50, 10},
		{"less than lo free", 100, 95, 10, 50, 0},
		{"full", 100, 100, 1, 1, 0},
		{"over the limit (grown)", 100, 130, 1, 1, 0},
		{"oversized alone", 100, 0, 150, 200, 150},
		{"oversized with something held", 100, 1, 150, 200, 0},
		{"lo equals limit, nothing held", 100, 0, 100, 100, 100},
	} {
		if got := grant(c.limit, c.held, c.lo, c.hi); got != c.want {
			t.Errorf("%s: grant(limit %d, held %d, lo %d, hi %d) = %d, want %d", c.name, c.limit, c.held, c.lo, c.hi, got, c.want)
		}
	}
}

// step is one operation of a single-goroutine budget scenario.
type step struct {
	op       string // acquire (must not wait), grow, release, limit
	lo, hi   int64
	n        int64
	wantGot  int64
	wantHeld int64
}

func TestBudgetSequences(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit int64
		steps []step
	}{
		{"take and give back", 100, []step{
			{op: "acquire", lo: 10, hi: 60, wantGot: 60, wantHeld: 60},
			{op: "acquire", lo: 10, hi: 60, wantGot: 40, wantHeld: 100},
			{op: "release", n: 60, wantHeld: 40},
			{op: "release", n: 40, wantHeld: 0},
		}},
		{"page bigger than its reservation", 100, []step{
			{op: "acquire", lo: 50, hi: 50, wantGot: 50, wantHeld: 50},
			{op: "grow", n: 80, wantHeld: 130},
			{op: "release", n: 130, wantHeld: 0},
		}},
		{"oversized alone", 100, []step{
			{op: "acquire", lo: 250, hi: 300, wantGot: 250, wantHeld: 250},
			{op: "release", n: 250, wantHeld: 0},
		}},
		{"bad arguments", 100, []step{
			{op: "acquire", lo: 0, hi: -5, wantGot: 1, wantHeld: 1},
			{op: "grow", n: -3, wantHeld: 1},
			{op: "release", n: 0, wantHeld: 1},
			{op: "release", n: 5, wantHeld: 0}, // over-release stops at 0
		}},
		{"limit raised", 100, []step{
			{op: "acquire", lo: 100, hi: 100, wantGot: 100, wantHeld: 100},
			{op: "limit", n: 200, wantHeld: 100},
			{op: "acquire", lo: 1, hi: 500, wantGot: 100, wantHeld: 200},
		}},
	} {
		b := New(c.limit, Options{})
		for i, s := range c.steps {
			switch s.op {
			case "acquire":
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				got, err := b.Acquire(ctx, s.lo, s.hi)
				cancel()
				if err != nil || got != s.wantGot {
					t.Fatalf("%s step %d: Acquire(%d, %d) = %d, %v; want %d", c.name, i, s.lo, s.hi, got, err, s.wantGot)
				}
			case "grow":
				b.Grow(s.n)
			case "release":
				b.Release(s.n)
			case "limit":
				b.SetLimit(s.n)
			}
			if st := b.Stats(); st.Held != s.wantHeld {
				t.Fatalf("%s step %d (%s): held %d, want %d", c.name, i, s.op, st.Held, s.wantHeld)
			}
		}
	}
}

// A waiter is admitted in FIFO order: a big request at the head is not
// overtaken by a small one that would fit.
func TestBudgetFIFO(t *testing.T) {
	b := New(100, Options{})
	ctx := context.Background()
	if _, err := b.Acquire(ctx, 90, 90); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	big := make(chan int64, 1)
	go func() {
		g, _ := b.Acquire(ctx, 50, 50)
		order <- "big"
		big <- g
	}()
	waitQueued(t, b, 1)
	go func() {
		_, _ = b.Acquire(ctx, 5, 5) // would fit now, but is behind "big"
		order <- "small"
	}()
	waitQueued(t, b, 2)
	select {
	case who := <-order:
		t.Fatalf("%s admitted before any release", who)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(40) // 50 free: exactly big's; small must still wait behind it
	if g := <-big; g != 50 {
		t.Fatalf("big got %d, want 50", g)
	}
	if who := <-order; who != "big" {
		t.Fatalf("%s admitted first, want big", who)
	}
	if st := b.Stats(); st.Held != 100 || st.Waiting != 1 {
		t.Fatalf("after big: %+v, want held 100 and small waiting", st)
	}
	b.Release(50)
	if who := <-order; who != "small" {
		t.Fatalf("%s, want small", who)
	}
	if st := b.Stats(); st.Held != 55 || st.Waits != 2 || st.Waiting != 0 || st.Peak != 100 {
		t.Fatalf("stats %+v", st)
	}
}

// A cancelled waiter leaves the queue, so those behind it go on; one
// granted just as it was cancelled gives its bytes back.
func TestBudgetCancel(t *testing.T) {
	b := New(100, Options{})
	bg := context.Background()
	_, _ = b.Acquire(bg, 100, 100)
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx, 80, 80)
		errc <- err
	}()
	waitQueued(t, b, 1)
	done := make(chan int64, 1)
	go func() {
		g, _ := b.Acquire(bg, 10, 10)
		done <- g
	}()
	waitQueued(t, b, 2)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled Acquire returned no error")
	}
	b.Release(50)
	if g := <-done; g != 10 {
		t.Fatalf("second waiter got %d", g)
	}
	if st := b.Stats(); st.Held != 60 || st.Waiting != 0 {
		t.Fatalf("stats %+v, want held 60", st)
	}
	// Already cancelled: nothing taken.
	if g, err := b.Acquire(ctx, 1, 1); err == nil || g != 0 {
		t.Fatalf("Acquire on a done ctx = %d, %v", g, err)
	}
}

// An oversized request waits until everything else is released, and
// then goes alone.
func TestBudgetOversizedWaitsForEmpty(t *testing.T) {
	b := New(100, Options{})
	bg := context.Background()
	_, _ = b.Acquire(bg, 30, 30)
	got := make(chan int64, 1)
	go func() {
		g, _ := b.Acquire(bg, 150, 150)
		got <- g
	}()
	waitQueued(t, b, 1)
	b.Release(20)
	select {
	case <-got:
		t.Fatal("oversized request admitted while 10 bytes are held")
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(10)
	if g := <-got; g != 150 {
		t.Fatalf("got %d", g)
	}
}

func TestBudgetOnChange(t *testing.T) {
	var last atomic.Int64
	b := New(100, Options{OnChange: func(held, limit int64) { last.Store(held*1000 + limit) }})
	if last.Load() != 100 {
		t.Fatalf("initial OnChange: %d", last.Load())
	}
	_, _ = b.Acquire(context.Background(), 7, 7)
	if last.Load() != 7100 {
		t.Fatalf("after Acquire: %d", last.Load())
	}
	b.Release(7)
	if last.Load() != 100 {
		t.Fatalf("after Release: %d", last.Load())
	}
}

// Many readers share a small budget, each reserving, holding a while and
// releasing, some with requests above the limit, some cancelled: every
// reader makes progress (none starves), nothing deadlocks, every grant is
// within its bounds, and everything is given back.
func TestBudgetConcurrentFairness(t *testing.T) {
	const (
		readers = 24
		rounds  = 150
		limit   = 1000
	)
	b := New(limit, Options{})
	var (
		wg       sync.WaitGroup
		progress [readers]atomic.Int64
		bad      atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for i := 0; i < rounds; i++ {
				lo := int64(1 + rng.IntN(300))
				if r == 0 && i%10 == 0 {
					lo = limit + 500 // oversized
				}
				hi := lo + int64(rng.IntN(300))
				actx, acancel := ctx, context.CancelFunc(func() {})
				if r%5 == 4 && i%7 == 0 {
					actx, acancel = context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
				}
				g, err := b.Acquire(actx, lo, hi)
				acancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue // a short-lived ctx ended: fine
				}
				if g < lo || g > hi {
					bad.Add(1)
				}
				if rng.IntN(3) == 0 {
					extra := int64(rng.IntN(50))
					b.Grow(extra)
					g += extra
				}
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
				}
				b.Release(g)
				progress[r].Add(1)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("readers did not finish within the deadline (deadlock or starvation); stats %+v", b.Stats())
	}
	for r := range readers {
		if n := progress[r].Load(); n == 0 {
			t.Errorf("reader %d never got memory", r)
		}
	}
	if bad.Load() > 0 {
		t.Errorf("%d grants broke the rules", bad.Load())
	}
	if st := b.Stats(); st.Held != 0 || st.Waiting != 0 {
		t.Errorf("after all released: %+v", st)
	}
}

func waitQueued(t *testing.T, b *Budget, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Waiting < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", b.Stats().Waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Resize grows or gives back the difference between a holding's estimate
// and its real size.
func TestBudgetResize(t *testing.T) {
	b := New(100, Options{})
	for _, c := range []struct{ from, to, held int64 }{
		{0, 40, 40},    // grows
		{40, 130, 130}, // past the limit, without waiting
		{130, 30, 30},  // gives back
		{30, 30, 30},   // same size
		{30, 0, 0},
	} {
		b.Resize(c.from, c.to)
		if got := b.Stats().Held; got != c.held {
			t.Fatalf("Resize(%d, %d): held %d, want %d", c.from, c.to, got, c.held)
		}
	}
}
