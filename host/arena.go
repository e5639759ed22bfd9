package host

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/kinesis-host/kinesis-host/host/membudget"
)

// Pooled Data buffers of GetRecords pages.
//
// The fast GetRecords decoder (getrecords_decode.go) decodes all Data of a
// response into one buffer; every record's Data is a slice of it. Made
// fresh per response, that buffer is the biggest allocation of the fetch
// path (megabytes per page, page faults and GC on every call). With a
// pageArena in the GetRecords call's context, the decoder takes the buffer
// from size-classed pools instead, and the arena remembers it. The shard
// worker owns the arena with the page and gives it back (free) when the
// delivery loop is done with the page: every record of it acknowledged,
// skipped or dead-lettered, or the worker stopped. Until then the buffer is
// referenced only through the page's records: batches cut from them, the
// user records de-aggregation makes (slices of the same Data), the
// handler call (its request is written before the call returns), the
// dead-letter writer (which marshals a copy before Put returns). A page
// whose handler call was abandoned (timed out, failed, outlived by ctx) is
// not recycled but dropped (left to the GC), so a transport that might
// still be reading from it never sees the buffer reused.

// Size classes: four per power of two (at most 19 % slack), from
// arenaMinPooled to arenaMaxPooled. Smaller and larger buffers are plain
// allocations.
const (
	arenaMinPooled = 64 << 10
	arenaMaxPooled = 32 << 20
)

var arenaPools [64 * 4]sync.Pool // by arenaClass; values are *[]byte

// arenaPoison, when set (tests), fills every buffer given back with
// arenaPoisonByte first, so that a record still pointing into a recycled
// buffer shows it.
var arenaPoison atomic.Bool

const arenaPoisonByte = 0xDB

// arenaCounts counts arenas given back by what happened to their buffers
// (tests look at them).
var arenaCounts struct{ recycled, dropped atomic.Int64 }

// arenaClass returns the size class of n bytes and its buffer size: the
// smallest (4+j)·2^(e-2) ≥ n.
func arenaClass(n int) (class, size int) {
	e := bits.Len(uint(n)) - 1 // 2^e ≤ n < 2^(e+1)
	step := 1 << (e - 2)
	j := (n - 1<<e + step - 1) / step
	if j == 4 {
		e, j = e+1, 0
		step <<= 1
	}
	return e*4 + j, 1<<e + j*step
}

// pageArena is the set of pooled buffers one GetRecords response was
// decoded into. A nil *pageArena allocates plainly and owns nothing.
type pageArena struct {
	mu   sync.Mutex
	bufs []*[]byte // pooled buffers handed out (full capacity)
	size int64     // their total capacity

	// budget, when set, is the host's memory budget: the response body
	// is held in it while it is read and decoded (holdBody), on top of
	// the reservation made for the decoded page.
	budget *membudget.Budget
}

// holdBody takes n bytes (a response body about to be read, then decoded
// next to the page's Data) in the arena's budget without waiting (the
// response is on its way), and returns what it took, for releaseBody.
func (a *pageArena) holdBody(n int64) int64 {
	if a == nil || a.budget == nil || n <= 0 {
		return 0
	}
	a.budget.Grow(n)
	return n
}

// releaseBody gives back what holdBody took, once the body is read and
// decoded (its buffer back in the pool or dropped).
func (a *pageArena) releaseBody(n int64) {
	if n > 0 {
		a.budget.Release(n)
	}
}

type pageArenaKey struct{}

// withPageArena returns ctx carrying a for the GetRecords decoder.
func withPageArena(ctx context.Context, a *pageArena) context.Context {
	return context.WithValue(ctx, pageArenaKey{}, a)
}

// pageArenaFrom returns the arena of ctx, or nil.
func pageArenaFrom(ctx context.Context) *pageArena {
	a, _ := ctx.Value(pageArenaKey{}).(*pageArena)
	return a
}

// alloc returns a buffer of n bytes, not zeroed: the caller writes every
// byte it later reads.
func (a *pageArena) alloc(n int) []byte {
	if a == nil || n < arenaMinPooled || n > arenaMaxPooled {
		return make([]byte, n)
	}
	class, size := arenaClass(n)
	p, _ := arenaPools[class].Get().(*[]byte)
	if p == nil || cap(*p) < size {
		b := make([]byte, size)
		p = &b
	}
	a.mu.Lock()
	a.bufs = append(a.bufs, p)
	a.size += int64(cap(*p))
	a.mu.Unlock()
	return (*p)[:n]
}

// bytes is the capacity of the pooled buffers the arena holds.
func (a *pageArena) bytes() int64 {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.size
}

// free gives the arena's buffers back to the pools. Nothing may refer to
// them any more.
func (a *pageArena) free() {
	if a == nil {
		return
	}
	a.mu.Lock()
	bufs := a.bufs
	a.bufs, a.size = nil, 0
	a.mu.Unlock()
	if len(bufs) > 0 {
		arenaCounts.recycled.Add(1)
	}
	poison := arenaPoison.Load()
	for _, p := range bufs {
		b := (*p)[:cap(*p)]
		if poison {
			for i := range b {
				b[i] = arenaPoisonByte
			}
		}
		class, _ := arenaClass(cap(b))
		arenaPools[class].Put(p)
	}
}

// drop forgets the arena's buffers without recycling them: the GC frees
// them once nothing refers to them.
func (a *pageArena) drop() {
	if a == nil {
		return
	}
	a.mu.Lock()
	if len(a.bufs) > 0 {
		arenaCounts.dropped.Add(1)
	}
	a.bufs, a.size = nil, 0
	a.mu.Unlock()
}
