package host

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// The fake store's lease calls follow shared.LeaseUpdate: a conditional
// write on (owner, counter) that bumps the counter.
func (f *fakeStore) list(_ context.Context, app, stream string) ([]shared.LeaseRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != 0 {
		return nil, &shared.Error{Code: shared.CodeUnavailable, Message: "backend down", Retryable: true}
	}
	var out []shared.LeaseRow
	for k, cp := range f.stored {
		if k.App == app && k.Stream == stream {
			out = append(out, shared.LeaseRow{ShardID: k.ShardID, Checkpoint: cp})
		}
	}
	return out, nil
}

func (f *fakeStore) update(_ context.Context, updates []shared.LeaseUpdate) (res []shared.Error, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == 2 {
		return nil, errors.New("Plugin.UpdateLeases: context deadline exceeded")
	}
	lostAnswer := f.lostAnswers > 0
	if lostAnswer {
		f.lostAnswers-- // applied below, but the caller hears a timeout
	}
	defer func() {
		if lostAnswer {
			res, err = nil, errors.New("Plugin.UpdateLeases: context deadline exceeded")
		}
	}()
	out := make([]shared.Error, len(updates))
	var batch []shared.CheckpointKey
	for i, u := range updates {
		batch = append(batch, u.Key)
		f.tried[u.Key]++
		cur := f.stored[u.Key]
		switch {
		case f.down == 1:
			out[i] = shared.Error{Code: shared.CodeUnavailable, Message: "backend down", Retryable: true}
		case cur.Owner != u.ExpectOwner || cur.LeaseCounter != u.ExpectCounter:
			out[i] = shared.Error{Code: shared.CodeConflict, Message: "lease held by " + cur.Owner}
		case u.Delete:
			delete(f.stored, u.Key)
		default:
			cur.Owner, cur.LeaseCounter = u.Owner, u.ExpectCounter+1
			if u.Checkpoint != nil && sdk.ComparePosition(*u.Checkpoint, cur) > 0 {
				cur.SequenceNumber, cur.SubSequenceNumber, cur.ShardEnd = u.Checkpoint.SequenceNumber, u.Checkpoint.SubSequenceNumber, u.Checkpoint.ShardEnd
			}
			f.stored[u.Key] = cur
		}
	}
	f.batches = append(f.batches, batch)
	return out, nil
}

// steal makes another host take key's lease.
func (f *fakeStore) steal(key shared.CheckpointKey, owner string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := f.stored[key]
	cp.Owner, cp.LeaseCounter = owner, cp.LeaseCounter+1
	f.stored[key] = cp
}

func (f *fakeStore) row(key shared.CheckpointKey) shared.Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stored[key]
}

// leaseRig is a cpRig in lease mode holding one key.
func leaseRig(t *testing.T, renewEvery, fenceWithin time.Duration) (*cpRig, shared.CheckpointKey) {
	r := newCPRig(t, 20*time.Millisecond)
	r.c.enableLeases(renewEvery, fenceWithin)
	key := cpKey("shard-1")
	res, _ := r.f.update(context.Background(), []shared.LeaseUpdate{{Key: key, Owner: "me#1"}})
	if res[0].Code != "" {
		t.Fatal(res[0])
	}
	r.c.hold(key, "me#1", 1, time.Now())
	return r, key
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Checkpoints of a held shard are lease writes (they renew); an idle held
// lease is renewed every renewEvery; a release carries the last position.
func TestCheckpointerLeaseWritesRenewAndRelease(t *testing.T) {
	r, key := leaseRig(t, 50*time.Millisecond, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.SetSync(ctx, key, at("10")); err != nil {
		t.Fatal(err)
	}
	row := r.f.row(key)
	if row.SequenceNumber != "10" || row.Owner != "me#1" || row.LeaseCounter != 2 {
		t.Fatalf("after a checkpoint: %+v", row)
	}
	waitUntil(t, "idle renewals", func() bool { return r.f.row(key).LeaseCounter >= 5 })
	r.c.Set(key, at("20"))
	if err := r.c.release(ctx, key); err != nil {
		t.Fatal(err)
	}
	row = r.f.row(key)
	if row.SequenceNumber != "20" || row.Owner != "" {
		t.Fatalf("after the release: %+v", row)
	}
	if err := r.c.fence(ctx, key); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fence after release: %v", err)
	}
	// Nothing is written for a key no longer held, and it is not counted
	// as written.
	if err := r.c.SetSync(ctx, key, at("30")); !errors.Is(err, ErrCheckpointConflict) {
		t.Fatalf("SetSync of an unheld key: %v", err)
	}
	if err := r.c.Flush(ctx); err != nil {
		t.Fatalf("Flush after the hand-off: %v", err)
	}
	if r.f.row(key).SequenceNumber != "20" {
		t.Fatal("a position of an unheld key was written")
	}
}

// A lease another host took is lost at the next write: the position is not
// stored, fence refuses the next batch, Flush reports the conflict.
func TestCheckpointerLeaseLost(t *testing.T) {
	r, key := leaseRig(t, time.Hour, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.fence(ctx, key); err != nil {
		t.Fatal(err)
	}
	r.f.steal(key, "other#1")
	if err := r.c.SetSync(ctx, key, at("5")); !errors.Is(err, ErrCheckpointConflict) {
		t.Fatalf("SetSync: %v", err)
	}
	if err := r.c.fence(ctx, key); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fence: %v", err)
	}
	if row := r.f.row(key); row.SequenceNumber != "" || row.Owner != "other#1" {
		t.Fatalf("row %+v", row)
	}
	if r.c.leaseCounters() != 1 || !strings.Contains(r.buf.String(), "shard lease lost") {
		t.Fatalf("lost not counted or logged: %d\n%s", r.c.leaseCounters(), r.buf.String())
	}
}

// A lease not renewed within fenceWithin (a frozen or partitioned host) is
// renewed synchronously before the next batch; when the renew fails
// because the store is down, the batch waits; when it conflicts, the
// shard stops.
func TestCheckpointerFenceRenewsStaleLease(t *testing.T) {
	r, key := leaseRig(t, time.Hour, 30*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	time.Sleep(40 * time.Millisecond)
	before := r.f.row(key).LeaseCounter
	if err := r.c.fence(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := r.f.row(key).LeaseCounter; got != before+1 {
		t.Fatalf("fence did not renew: counter %d -> %d", before, got)
	}

	time.Sleep(40 * time.Millisecond)
	r.f.setDown(1)
	var passed atomic.Bool
	go func() {
		if r.c.fence(ctx, key) == nil {
			passed.Store(true)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if passed.Load() {
		t.Fatal("fence let a batch go while the lease could not be renewed")
	}
	r.f.steal(key, "other#1") // meanwhile another host took it
	r.f.setDown(0)
	time.Sleep(200 * time.Millisecond)
	if passed.Load() {
		t.Fatal("fence let a batch go on a lease another host took")
	}
	if err := r.c.fence(ctx, key); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fence: %v", err)
	}
}

// A lease write that applied although its answer was lost (a timeout) makes
// the next write conflict on the counter; the checkpointer reads the row,
// sees its own owner token, and goes on at the stored counter: the lease is
// not lost and the position is stored.
func TestCheckpointerLeaseLostAnswer(t *testing.T) {
	r, key := leaseRig(t, time.Hour, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.f.mu.Lock()
	r.f.lostAnswers = 1
	r.f.mu.Unlock()
	if err := r.c.SetSync(ctx, key, at("7")); err != nil {
		t.Fatal(err)
	}
	row := r.f.row(key)
	if row.SequenceNumber != "7" || row.Owner != "me#1" {
		t.Fatalf("row %+v", row)
	}
	if err := r.c.fence(ctx, key); err != nil {
		t.Fatalf("fence after a lost answer: %v", err)
	}
	if r.c.leaseCounters() != 0 || !strings.Contains(r.buf.String(), "answer was lost had applied") {
		t.Fatalf("lost %d; log:\n%s", r.c.leaseCounters(), r.buf.String())
	}
}
