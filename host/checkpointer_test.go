package host

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// fakeStore is an in-process store behind the checkpointer's storeCalls:
// poisoned keys always fail (like a Redis key of the wrong type), fenced
// keys are rejected with CodeConflict, and down makes the whole store
// unavailable (every write answers CodeUnavailable, or the RPC fails).
type fakeStore struct {
	mu       sync.Mutex
	stored   map[shared.CheckpointKey]shared.Checkpoint
	poisoned map[shared.CheckpointKey]bool
	fenced   map[shared.CheckpointKey]bool
	down     int // 0 up, 1 every write unavailable, 2 the RPC fails
	batches  [][]shared.CheckpointKey
	tried    map[shared.CheckpointKey]int
	// lostAnswers: that many lease writes apply but answer a timeout.
	lostAnswers int
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		stored: map[shared.CheckpointKey]shared.Checkpoint{}, poisoned: map[shared.CheckpointKey]bool{},
		fenced: map[shared.CheckpointKey]bool{}, tried: map[shared.CheckpointKey]int{},
	}
}

func (f *fakeStore) get(_ context.Context, keys []shared.CheckpointKey) ([]shared.CheckpointGetResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == 2 {
		return nil, errors.New("Plugin.Get: context deadline exceeded")
	}
	out := make([]shared.CheckpointGetResult, len(keys))
	for i, k := range keys {
		if f.down == 1 {
			out[i].Err = &shared.Error{Code: shared.CodeUnavailable, Message: "backend down", Retryable: true}
			continue
		}
		out[i].Checkpoint, out[i].Found = f.stored[k]
	}
	return out, nil
}

func (f *fakeStore) set(_ context.Context, updates []shared.CheckpointUpdate) ([]shared.Error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == 2 {
		return nil, errors.New("Plugin.Set: context deadline exceeded")
	}
	var batch []shared.CheckpointKey
	out := make([]shared.Error, len(updates))
	for i, u := range updates {
		batch = append(batch, u.Key)
		f.tried[u.Key]++
		switch {
		case f.down == 1:
			out[i] = shared.Error{Code: shared.CodeUnavailable, Message: "backend down", Retryable: true}
		case f.poisoned[u.Key]:
			out[i] = shared.Error{Code: shared.CodeInternal, Message: "WRONGTYPE Operation against a key holding the wrong kind of value"}
		case f.fenced[u.Key]:
			out[i] = shared.Error{Code: shared.CodeConflict, Message: "lease held by host-b"}
		default:
			if old, ok := f.stored[u.Key]; !ok || sdk.ComparePosition(u.Checkpoint, old) > 0 {
				f.stored[u.Key] = u.Checkpoint
			}
		}
	}
	f.batches = append(f.batches, batch)
	return out, nil
}

func (f *fakeStore) seqOf(k shared.CheckpointKey) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stored[k].SequenceNumber
}

func (f *fakeStore) setDown(mode int) { f.mu.Lock(); f.down = mode; f.mu.Unlock() }

// cpRig runs a checkpointer's writer against a fakeStore, logging into buf.
type cpRig struct {
	c   *checkpointer
	f   *fakeStore
	buf *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newCPRig(t *testing.T, backoff time.Duration) *cpRig {
	buf := &lockedBuf{}
	f := newFakeStore()
	c := newCheckpointerWith(f, hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug}))
	c.backoff = func(int) time.Duration { return backoff }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &cpRig{c: c, f: f, buf: buf}
}

func cpKey(shard string) shared.CheckpointKey {
	return shared.CheckpointKey{App: "app", Stream: "s", ShardID: shard}
}

func at(seq string) shared.Checkpoint { return shared.Checkpoint{SequenceNumber: seq} }

// A key the store can never write (issue 8 item 4) is retried on its own:
// the other shards' positions keep being stored, in the same Set RPC as
// the failing key's retries, SHARD_END of another shard is durable, and
// the failures are logged with the key and counted.
func TestCheckpointerPoisonedKeyDoesNotStopOthers(t *testing.T) {
	r := newCPRig(t, 20*time.Millisecond)
	bad, good, other := cpKey("shard-bad"), cpKey("shard-good"), cpKey("shard-other")
	r.f.poisoned[bad] = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r.c.Set(bad, at("100"))
	for i := 1; i <= 50; i++ {
		seq := "1" + strings.Repeat("0", i%3) + string(rune('0'+i%10))
		r.c.Set(good, at(seq))
		if err := r.c.SetSync(ctx, good, at(strings.Repeat("9", i))); err != nil {
			t.Fatalf("position %d of a healthy shard not stored while another shard's key fails: %v", i, err)
		}
	}
	if got := r.f.seqOf(good); got != strings.Repeat("9", 50) {
		t.Fatalf("healthy shard stored %q, want the last position", got)
	}
	// Keep writing the healthy shard until the bad key has been retried a
	// few times (its backoff is 20 ms here).
	for i := 51; ; i++ {
		r.f.mu.Lock()
		tries := r.f.tried[bad]
		r.f.mu.Unlock()
		if tries >= 3 {
			break
		}
		if err := r.c.SetSync(ctx, good, at(strings.Repeat("9", i))); err != nil {
			t.Fatalf("position %d of a healthy shard not stored while another shard's key fails: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.c.SetSync(ctx, other, shared.Checkpoint{ShardEnd: true}); err != nil {
		t.Fatalf("SHARD_END of a healthy shard not stored while another key fails: %v", err)
	}

	// The bad key was retried on its own schedule, never dropped, and its
	// retries rode along in the same RPCs as the other writes.
	r.f.mu.Lock()
	tries := r.f.tried[bad]
	mixed := 0
	for _, b := range r.f.batches {
		hasBad, hasOther := false, false
		for _, k := range b {
			if k == bad {
				hasBad = true
			} else {
				hasOther = true
			}
		}
		if hasBad && hasOther {
			mixed++
		}
	}
	r.f.mu.Unlock()
	if tries < 2 {
		t.Errorf("the failing key was tried %d times, want it retried", tries)
	}
	if mixed == 0 {
		t.Errorf("no Set RPC carried the failing key together with other keys: want one RPC for all due keys")
	}
	failed, _ := r.c.failureStats()
	if failed < int64(tries) {
		t.Errorf("failure counter %d, want at least the %d failed attempts", failed, tries)
	}
	log := r.buf.String()
	if !strings.Contains(log, "checkpoint write failed for this shard") || !strings.Contains(log, "shard=shard-bad") {
		t.Errorf("the log does not name the failing key:\n%s", log)
	}
	if n := strings.Count(log, "checkpoint write failed for this shard"); n != 1 {
		t.Errorf("the failing key was logged %d times, want once (then a reminder a minute)", n)
	}

	// Flush reports the key it cannot store, by name, when its ctx ends.
	fctx, fcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer fcancel()
	err := r.c.Flush(fctx)
	if err == nil || !strings.Contains(err.Error(), "s/shard-bad") || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Flush = %v, want an error naming s/shard-bad and its failure", err)
	}

	// Once the key is fixed, it is stored.
	r.f.mu.Lock()
	delete(r.f.poisoned, bad)
	r.f.mu.Unlock()
	if err := r.c.Flush(ctx); err != nil {
		t.Fatalf("Flush after the key was fixed: %v", err)
	}
	if got := r.f.seqOf(bad); got != "100" {
		t.Errorf("fixed key stored %q, want 100", got)
	}
	if !strings.Contains(r.buf.String(), "checkpoint write succeeded again") {
		t.Errorf("the recovery of the key is not logged")
	}
}

// A write the store rejects with CodeConflict is never counted as written
// (issue 8 item 3): SetSync (the SHARD_END write) and Flush return
// ErrCheckpointConflict naming the shard, and the log says which and why.
func TestCheckpointerConflictIsNotWritten(t *testing.T) {
	r := newCPRig(t, 20*time.Millisecond)
	fenced, fine := cpKey("shard-fenced"), cpKey("shard-fine")
	r.f.fenced[fenced] = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	err := r.c.SetSync(ctx, fenced, shared.Checkpoint{ShardEnd: true})
	if !errors.Is(err, ErrCheckpointConflict) {
		t.Fatalf("SetSync(SHARD_END) on a fenced shard = %v, want ErrCheckpointConflict", err)
	}
	if !strings.Contains(err.Error(), "s/shard-fenced") || !strings.Contains(err.Error(), "lease held by host-b") {
		t.Errorf("error %q does not name the shard and the store's reason", err)
	}
	if r.f.seqOf(fenced) != "" {
		t.Fatalf("the fake stored a fenced key")
	}
	r.c.Set(fine, at("5"))
	r.c.Set(fenced, at("7"))
	err = r.c.Flush(ctx)
	if !errors.Is(err, ErrCheckpointConflict) || !strings.Contains(err.Error(), "s/shard-fenced") {
		t.Fatalf("Flush = %v, want ErrCheckpointConflict naming s/shard-fenced", err)
	}
	if got := r.f.seqOf(fine); got != "5" {
		t.Errorf("the other shard stored %q, want 5", got)
	}
	// The rejected position is not reported as the shard's checkpoint.
	cp, found, err := r.c.Get(ctx, fenced)
	if err != nil || found {
		t.Errorf("Get of the fenced shard = %+v, %v, %v; want no checkpoint (nothing was stored)", cp, found, err)
	}
	log := r.buf.String()
	if !strings.Contains(log, "checkpoint write rejected (conflict)") || !strings.Contains(log, "shard=shard-fenced") ||
		!strings.Contains(log, "lease held by host-b") {
		t.Errorf("the log does not say which shard was rejected and why:\n%s", log)
	}
	if _, conflicts := r.c.failureStats(); conflicts != 2 {
		t.Errorf("conflict counter %d, want 2", conflicts)
	}
}

// A store outage (issue 8 item 7) is logged once when it starts and once
// when it ends, with its duration — not once per retry — and nothing
// handed in meanwhile is lost.
func TestCheckpointerOutageLoggedOnce(t *testing.T) {
	for _, mode := range []struct {
		name string
		down int
	}{{"every write unavailable", 1}, {"RPC fails", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			r := newCPRig(t, 5*time.Millisecond)
			a, b := cpKey("shard-a"), cpKey("shard-b")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.c.SetSync(ctx, a, at("1")); err != nil {
				t.Fatal(err)
			}
			r.f.setDown(mode.down)
			for i := 2; i <= 20; i++ {
				r.c.Set(a, at(strings.Repeat("2", i)))
				r.c.Set(b, at(strings.Repeat("3", i)))
				time.Sleep(2 * time.Millisecond)
			}
			// Wait for many retries.
			for {
				failed, _ := r.c.failureStats()
				if failed >= 40 {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("only %d failed writes counted", failed)
				}
				time.Sleep(5 * time.Millisecond)
			}
			r.f.setDown(0)
			if err := r.c.Flush(ctx); err != nil {
				t.Fatalf("Flush after the outage: %v", err)
			}
			if r.f.seqOf(a) != strings.Repeat("2", 20) || r.f.seqOf(b) != strings.Repeat("3", 20) {
				t.Errorf("stored %q, %q: want the last positions handed in during the outage", r.f.seqOf(a), r.f.seqOf(b))
			}
			log := r.buf.String()
			if n := strings.Count(log, "checkpoint store unavailable"); n != 1 {
				t.Errorf("outage start logged %d times, want once:\n%s", n, log)
			}
			if n := strings.Count(log, "checkpoint store available again"); n != 1 || !strings.Contains(log, "outage=") {
				t.Errorf("outage end logged %d times (want once, with its duration):\n%s", n, log)
			}
			if n := strings.Count(log, "[WARN]"); n > 1 {
				t.Errorf("%d warnings for one outage, want 1:\n%s", n, log)
			}
		})
	}
}

// A conflict on one shard never cuts a Flush short for the others: the
// final flush at shutdown waits until every other position is stored, then
// reports the conflict.
func TestCheckpointerConflictDoesNotCutFlushShort(t *testing.T) {
	r := newCPRig(t, 20*time.Millisecond)
	fenced, fine := cpKey("shard-fenced"), cpKey("shard-fine")
	r.f.fenced[fenced] = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.c.SetSync(ctx, fenced, at("3")); !errors.Is(err, ErrCheckpointConflict) {
		t.Fatalf("SetSync on a fenced shard = %v, want ErrCheckpointConflict", err)
	}
	r.f.setDown(2)
	r.c.Set(fine, at("9"))
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.f.setDown(0)
	}()
	err := r.c.Flush(ctx)
	if got := r.f.seqOf(fine); got != "9" {
		t.Fatalf("Flush returned (%v) before the other shard's position was stored (stored %q)", err, got)
	}
	if !errors.Is(err, ErrCheckpointConflict) || !strings.Contains(err.Error(), "s/shard-fenced") {
		t.Fatalf("Flush = %v, want ErrCheckpointConflict naming s/shard-fenced", err)
	}
}

// A SHARD_END handed in right after a position not yet written carries
// that position: seed readers see the shard's last record as its
// sequence_number, not an older one.
func TestCheckpointerShardEndCarriesLastPosition(t *testing.T) {
	r := newCPRig(t, 20*time.Millisecond)
	key := cpKey("shard-end")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.c.SetSync(ctx, key, at("5")); err != nil {
		t.Fatal(err)
	}
	r.f.setDown(2) // nothing is written until both are handed in
	r.c.Set(key, at("9"))
	go func() {
		time.Sleep(100 * time.Millisecond)
		r.f.setDown(0)
	}()
	if err := r.c.SetSync(ctx, key, shared.Checkpoint{ShardEnd: true}); err != nil {
		t.Fatal(err)
	}
	if got := r.f.seqOf(key); got != "9" {
		t.Fatalf("stored sequence %q after SHARD_END, want the last position 9", got)
	}
}
