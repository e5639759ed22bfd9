// Package membudget bounds the memory a host holds in fetched, not yet
// acknowledged records, across all of its shards.
//
// Without a bound every shard fetches and decodes a full GetRecords page at
// once, so memory grows with shard count × page size. A [Budget] is one
// host-wide pool of bytes: a shard reader reserves bytes before each
// GetRecords call ([Budget.Acquire]), adjusts the reservation to what the
// page really costs once it has arrived ([Budget.Grow], [Budget.Release]),
// and the delivery loop releases it when it is done with the page. Readers
// that find the budget spent wait in one FIFO queue, so no shard starves and
// shards that have data start delivering as soon as memory frees up.
//
// A [Sizer] is one shard's read-size logic: it turns what the shard has
// observed (bytes per record, whether pages came back full) into how many
// bytes to reserve and what Limit to ask GetRecords for: slow start (a small
// first page, doubling while pages come back full) and fewer records when
// the budget is tight.
//
// Everything here is plain code without I/O or clocks: the host does the
// fetching and the delivering.
package membudget

import (
	"context"
	"sync"
)

// Budget is a host-wide byte budget shared by many readers. The zero value
// is not usable; create one with [New].
//
// Rules:
//
//   - Acquire(lo, hi) is granted, in arrival order, as soon as at least lo
//     bytes are free; it then takes as much as is free, up to hi.
//   - A request whose lo alone exceeds the limit is granted when nothing
//     else is held, so a single oversized page still makes progress and
//     nothing deadlocks; while it waits at the head of the queue, the
//     requests behind it wait too (no starvation of the big request).
//   - Grow takes bytes without waiting: the page is already in memory (a
//     page bigger than its estimate, an event pushed by the server). Held
//     bytes may then exceed the limit until they are released.
//   - Release gives bytes back and admits waiting requests in order.
//
// All methods are safe for concurrent use.
type Budget struct {
	mu       sync.Mutex
	limit    int64
	held     int64
	peak     int64
	waits    int64
	queue    []*waiter
	onChange func(held, limit int64)
	onWait   func()
}

type waiter struct {
	lo, hi int64
	got    int64         // granted bytes, set under mu before ready is closed
	ready  chan struct{} // closed when granted
}

// Options are optional hooks of a Budget.
type Options struct {
	// OnChange, when set, is called with the bytes held and the limit after
	// every change, while the budget's lock is held: keep it fast (setting
	// a gauge) and never call back into the Budget from it.
	OnChange func(held, limit int64)
	// OnWait, when set, is called (without the lock) each time an Acquire
	// has to queue.
	OnWait func()
}

// New returns a budget of limit bytes (at least 1).
func New(limit int64, opts Options) *Budget {
	b := &Budget{limit: max(limit, 1), onChange: opts.OnChange, onWait: opts.OnWait}
	b.changed()
	return b
}

// grant decides what a request for [lo, hi] bytes gets from a budget of
// limit with held bytes in use: 0 means it must wait. It is the whole
// admission rule (see Budget).
func grant(limit, held, lo, hi int64) int64 {
	free := limit - held
	switch {
	case lo <= free:
		return min(hi, free)
	case held <= 0:
		return lo // oversized, alone: exactly what it needs
	}
	return 0
}

// Acquire reserves between lo and hi bytes and returns how many it got.
// It waits, behind every earlier waiter, until at least lo bytes are free
// (or, for lo above the limit, until nothing is held). It returns
// ctx.Err() without holding anything when ctx ends first. lo below 1 is
// taken as 1; hi below lo as lo.
func (b *Budget) Acquire(ctx context.Context, lo, hi int64) (int64, error) {
	lo = max(lo, 1)
	hi = max(hi, lo)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	if len(b.queue) == 0 {
		if g := grant(b.limit, b.held, lo, hi); g > 0 {
			b.take(g)
			b.mu.Unlock()
			return g, nil
		}
	}
	w := &waiter{lo: lo, hi: hi, ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.waits++
	b.mu.Unlock()
	if b.onWait != nil {
		b.onWait()
	}

	select {
	case <-w.ready:
		return w.got, nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.got > 0 {
		// Granted while ctx ended: give it back.
		b.held -= w.got
		b.changed()
	} else {
		for i, q := range b.queue {
			if q == w {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
	}
	b.admit()
	return 0, ctx.Err()
}

// take adds g to the held bytes; b.mu is held.
func (b *Budget) take(g int64) {
	b.held += g
	if b.held > b.peak {
		b.peak = b.held
	}
	b.changed()
}

// admit grants waiting requests from the head of the queue while they fit;
// b.mu is held.
func (b *Budget) admit() {
	for len(b.queue) > 0 {
		w := b.queue[0]
		g := grant(b.limit, b.held, w.lo, w.hi)
		if g == 0 {
			return
		}
		b.queue[0] = nil
		b.queue = b.queue[1:]
		w.got = g
		b.take(g)
		close(w.ready)
	}
}

func (b *Budget) changed() {
	if b.onChange != nil {
		b.onChange(b.held, b.limit)
	}
}

// Grow adds n bytes to the held bytes without waiting, even past the limit:
// for memory already allocated (a page that turned out bigger than its
// reservation). n ≤ 0 does nothing.
func (b *Budget) Grow(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.take(n)
	b.mu.Unlock()
}

// Release gives back n bytes of earlier Acquire or Grow calls and admits
// waiting requests. n ≤ 0 does nothing. Releasing more than is held is a
// caller bug; the held count then stops at 0.
func (b *Budget) Release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.held = max(b.held-n, 0)
	b.changed()
	b.admit()
	b.mu.Unlock()
}

// Resize turns a holding of from bytes into one of to bytes, for memory
// whose real size is known once it is in: it grows (without waiting, as
// Grow) or gives back the difference (as Release).
func (b *Budget) Resize(from, to int64) {
	if to > from {
		b.Grow(to - from)
	} else {
		b.Release(from - to)
	}
}

// SetLimit changes the limit (at least 1), for a reload. A larger limit
// admits waiting requests at once; a smaller one takes effect as held bytes
// are released.
func (b *Budget) SetLimit(n int64) {
	b.mu.Lock()
	b.limit = max(n, 1)
	b.changed()
	b.admit()
	b.mu.Unlock()
}

// Limit returns the budget's limit.
func (b *Budget) Limit() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit
}

// Stats is a snapshot of a Budget.
type Stats struct {
	Limit   int64 // the budget
	Held    int64 // bytes reserved now
	Peak    int64 // the most bytes reserved at once since New
	Waits   int64 // Acquire calls that had to queue
	Waiting int   // Acquire calls queued now
}

// Stats returns a snapshot of the budget.
func (b *Budget) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Limit: b.limit, Held: b.held, Peak: b.peak, Waits: b.waits, Waiting: len(b.queue)}
}
