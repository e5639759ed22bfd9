package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// RunLeases runs the lease conformance suite on a store that implements
// sdk.LeaseStore (the stores several hosts can share). open has the same
// contract as for Run. Every check runs on the store directly and through
// the plugin boundary, with app names unique to the run, and skips
// nothing: a store that does not implement sdk.LeaseStore fails.
//
// The semantics checked are the ones documented on sdk.LeaseStore and
// shared.LeaseUpdate:
//
//   - A take of a missing row with ("", 0) creates the lease (counter 1)
//     without a position: Get says found=false, ListLeases shows the row.
//   - Every update applies only when the stored (owner, counter) equals the
//     expectation; otherwise it fails with sdk.ErrConflict and changes
//     nothing (no row is created, no position moves, nothing is deleted).
//   - A renew bumps the counter; a renew with a Checkpoint also moves the
//     position, forward only (a position at or behind the stored one leaves
//     it, while the lease part still applies); Get reports the position with
//     the owner and counter.
//   - A ShardEnd without a sequence number keeps the stored sequence and
//     sub-sequence numbers; nothing moves a finished shard.
//   - Release (owner ""), then a take by another owner with ("", n); a
//     stale writer (old owner, old counter) is rejected.
//   - A row written by a plain Set (a seed row: a position, no lease) is
//     taken with ("", 0) and keeps its position; a plain Set after a lease
//     keeps the owner and counter.
//   - Delete of a worker row (sdk.WorkerRowPrefix) is conditional too.
//   - ListLeases lists exactly the rows of (app, stream).
//   - Of 8 racing takers or renewers with the same expectation exactly one
//     wins; hosts sending overlapping batches at once (takes, checkpoints
//     and deletes of the same rows, in different orders) get only
//     applied updates and conflicts, never another error (a deadlock).
//   - A batch returns one result per update, in order, and applies updates
//     of the same key in order.
//   - An invalid sequence number fails with an error that is not a
//     conflict and changes nothing.
//   - A Rewind update sets the position exactly (backwards, out of
//     ShardEnd, to ShardEnd) under the right owner and counter and bumps
//     the counter; under a stale one it fails with sdk.ErrConflict and
//     changes nothing; a nil or empty Checkpoint clears the position (Get
//     found=false, ListLeases keeps the row's owner and counter); later
//     checkpoints are forward only from the new position; rewinds apply in
//     order within a batch; Rewind with Delete deletes.
func RunLeases(t *testing.T, open func(t *testing.T) sdk.Store) {
	t.Helper()
	RunLeasesWith(t, open, Options{})
}

// RunLeasesWith is RunLeases with backend-specific checks: with
// Options.SeedSequence, RewindSeedSequence checks that seed-layout readers
// see a rewound sequence number, and no position after a clear.
func RunLeasesWith(t *testing.T, open func(t *testing.T) sdk.Store, opts Options) {
	t.Helper()
	run := "lt" + RunID()
	all := leaseChecks
	if opts.SeedSequence != nil {
		all = append(all[:len(all):len(all)], leaseCheck{"RewindSeedSequence", func(t *testing.T, ctx context.Context, e lenv) {
			checkLeaseRewindSeedSequence(t, ctx, e, opts.SeedSequence)
		}})
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			for _, variant := range []string{"direct", "plugin"} {
				t.Run(variant, func(t *testing.T) {
					s := open(t)
					if s == nil {
						t.Fatal("open returned a nil store")
					}
					if _, ok := s.(sdk.LeaseStore); !ok {
						t.Fatalf("%T does not implement sdk.LeaseStore (ListLeases, UpdateLeases)", s)
					}
					if variant == "plugin" {
						c := sdk.TestStore(t, s)
						ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
						leases, err := c.Leases(ctx)
						cancel()
						if err != nil || !leases {
							t.Fatalf("through the plugin boundary Info.Leases = %v (err %v); want true", leases, err)
						}
						s = c
					}
					ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
					defer cancel()
					app := run + "-" + nonWord.ReplaceAllString(strings.ToLower(c.name), "") + "-" + variant
					c.fn(t, ctx, lenv{env: env{s: s, app: app, leases: true}, ls: s.(sdk.LeaseStore)})
				})
			}
		})
	}
}

type lenv struct {
	env
	ls sdk.LeaseStore
}

type leaseCheck struct {
	name string
	fn   func(t *testing.T, ctx context.Context, e lenv)
}

var leaseChecks = []leaseCheck{
	{"TakeMissing", checkTakeMissing},
	{"WrongExpectation", checkWrongExpectation},
	{"Renew", checkRenew},
	{"RenewWithCheckpoint", checkRenewWithCheckpoint},
	{"CheckpointNeverBackwards", checkLeaseNeverBackwards},
	{"ShardEnd", checkLeaseShardEnd},
	{"ReleaseThenTake", checkReleaseThenTake},
	{"StaleWriter", checkStaleWriter},
	{"SeedRow", checkSeedRow},
	{"SetKeepsLease", checkSetKeepsLease},
	{"DeleteWorkerRow", checkDeleteWorkerRow},
	{"ListLeases", checkListLeases},
	{"ConcurrentTakers", checkConcurrentTakers},
	{"ConcurrentRenewers", checkConcurrentRenewers},
	{"RacingBatches", checkRacingBatches},
	{"Batch", checkLeaseBatch},
	{"InvalidSequence", checkLeaseInvalid},
	{"Rewind", checkLeaseRewind},
	{"RewindStale", checkLeaseRewindStale},
	{"RewindClear", checkLeaseRewindClear},
	{"RewindShardEnd", checkLeaseRewindShardEnd},
	{"RewindBatch", checkLeaseRewindBatch},
}

// ---- helpers ----

// update applies one update and returns its result.
func (e lenv) update(t *testing.T, ctx context.Context, u sdk.LeaseUpdate) error {
	t.Helper()
	errs := e.ls.UpdateLeases(ctx, []sdk.LeaseUpdate{u})
	if len(errs) != 1 {
		t.Fatalf("UpdateLeases returned %d results for 1 update", len(errs))
	}
	return errs[0]
}

func (e lenv) apply(t *testing.T, ctx context.Context, u sdk.LeaseUpdate) {
	t.Helper()
	if err := e.update(t, ctx, u); err != nil {
		t.Fatalf("UpdateLeases(%s): %v; want it applied", describe(u), err)
	}
}

func (e lenv) conflict(t *testing.T, ctx context.Context, u sdk.LeaseUpdate) {
	t.Helper()
	err := e.update(t, ctx, u)
	assertConflict(t, u, err)
}

func assertConflict(t *testing.T, u sdk.LeaseUpdate, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("UpdateLeases(%s) applied; want sdk.ErrConflict", describe(u))
	}
	if !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("UpdateLeases(%s) = %v (%T); want an error satisfying errors.Is(err, sdk.ErrConflict)", describe(u), err, err)
	}
}

func describe(u sdk.LeaseUpdate) string {
	s := fmt.Sprintf("%s/%s expect (%q, %d) ", u.Key.Stream, u.Key.ShardID, u.ExpectOwner, u.ExpectCounter)
	switch {
	case u.Delete:
		s += "delete"
	case u.Rewind && u.Checkpoint == nil:
		s += fmt.Sprintf("owner %q rewind to no position", u.Owner)
	case u.Rewind:
		s += fmt.Sprintf("owner %q rewind to %+v", u.Owner, *u.Checkpoint)
	case u.Checkpoint != nil:
		s += fmt.Sprintf("owner %q checkpoint %+v", u.Owner, *u.Checkpoint)
	default:
		s += fmt.Sprintf("owner %q", u.Owner)
	}
	return s
}

// take is (old owner, counter) → owner.
func take(k sdk.CheckpointKey, oldOwner string, counter int64, owner string) sdk.LeaseUpdate {
	return sdk.LeaseUpdate{Key: k, ExpectOwner: oldOwner, ExpectCounter: counter, Owner: owner}
}

func withCP(u sdk.LeaseUpdate, cp sdk.Checkpoint) sdk.LeaseUpdate {
	u.Checkpoint = &cp
	return u
}

func del(k sdk.CheckpointKey, owner string, counter int64) sdk.LeaseUpdate {
	return sdk.LeaseUpdate{Key: k, ExpectOwner: owner, ExpectCounter: counter, Delete: true}
}

func (e lenv) list(t *testing.T, ctx context.Context, stream string) map[string]sdk.Checkpoint {
	t.Helper()
	rows, err := e.ls.ListLeases(ctx, e.app, stream)
	if err != nil {
		t.Fatalf("ListLeases(%s, %s): %v", e.app, stream, err)
	}
	out := map[string]sdk.Checkpoint{}
	for _, r := range rows {
		if _, dup := out[r.ShardID]; dup {
			t.Fatalf("ListLeases(%s, %s) lists shard %q twice", e.app, stream, r.ShardID)
		}
		out[r.ShardID] = r.Checkpoint
	}
	return out
}

// wantRow checks k's row as ListLeases reports it (position and lease).
func (e lenv) wantRow(t *testing.T, ctx context.Context, k sdk.CheckpointKey, want sdk.Checkpoint) {
	t.Helper()
	rows := e.list(t, ctx, k.Stream)
	got, ok := rows[k.ShardID]
	if !ok {
		t.Fatalf("ListLeases(%s, %s) has no row %q; want %+v (rows: %+v)", k.App, k.Stream, k.ShardID, want, rows)
	}
	if got != want {
		t.Fatalf("ListLeases row %s/%s\n got %+v\nwant %+v", k.Stream, k.ShardID, got, want)
	}
}

func (e lenv) wantNoRow(t *testing.T, ctx context.Context, k sdk.CheckpointKey) {
	t.Helper()
	if got, ok := e.list(t, ctx, k.Stream)[k.ShardID]; ok {
		t.Fatalf("ListLeases(%s, %s) lists %q = %+v; want no row", k.App, k.Stream, k.ShardID, got)
	}
}

// wantNotFound checks that Get finds no position for k.
func (e lenv) wantNotFound(t *testing.T, ctx context.Context, k sdk.CheckpointKey) {
	t.Helper()
	cp, found, err := e.s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	if found {
		t.Fatalf("Get(%v) = %+v, found=true; want found=false (a row holding only a lease has no position)", k, cp)
	}
}

// wantBoth checks Get (a position is stored) and ListLeases.
func (e lenv) wantBoth(t *testing.T, ctx context.Context, k sdk.CheckpointKey, want sdk.Checkpoint) {
	t.Helper()
	if got := mustGet(t, ctx, e.s, k); got != want {
		t.Fatalf("Get(%v)\n got %+v\nwant %+v", k, got, want)
	}
	e.wantRow(t, ctx, k, want)
}

// ---- checks ----

func checkTakeMissing(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.wantNotFound(t, ctx, k)
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.wantNotFound(t, ctx, k)
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "host-a", LeaseCounter: 1})
	// A name with characters some backends treat specially.
	k2 := e.key("orders", "shardId-000000000001")
	e.apply(t, ctx, take(k2, "", 0, "worker/ü:1 'x'"))
	e.wantRow(t, ctx, k2, sdk.Checkpoint{Owner: "worker/ü:1 'x'", LeaseCounter: 1})
}

func checkWrongExpectation(t *testing.T, ctx context.Context, e lenv) {
	// On a missing row: only ("", 0) matches, and a failed update must
	// not create the row.
	missing := e.key("orders", "shardId-000000000009")
	for _, u := range []sdk.LeaseUpdate{
		take(missing, "host-a", 1, "host-a"),
		take(missing, "", 1, "host-a"),
		take(missing, "host-a", 0, "host-a"),
		withCP(take(missing, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "5"}),
		del(missing, "host-a", 1),
	} {
		e.conflict(t, ctx, u)
	}
	e.wantNoRow(t, ctx, missing)
	e.wantNotFound(t, ctx, missing)

	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.apply(t, ctx, withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "100", SubSequenceNumber: 2}))
	want := sdk.Checkpoint{SequenceNumber: "100", SubSequenceNumber: 2, Owner: "host-a", LeaseCounter: 2}
	for _, u := range []sdk.LeaseUpdate{
		take(k, "", 0, "host-b"),
		take(k, "", 2, "host-b"),
		take(k, "host-a", 1, "host-b"),
		take(k, "host-a", 3, "host-a"),
		take(k, "host-b", 2, "host-b"),
		take(k, "host-A", 2, "host-a"),
		withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "200"}),
		withCP(take(k, "host-b", 2, "host-b"), sdk.Checkpoint{ShardEnd: true}),
		del(k, "host-a", 1),
		del(k, "", 0),
	} {
		e.conflict(t, ctx, u)
		e.wantBoth(t, ctx, k, want)
	}
}

func checkRenew(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	for n := int64(1); n <= 5; n++ {
		e.apply(t, ctx, take(k, "host-a", n, "host-a"))
	}
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "host-a", LeaseCounter: 6})
	e.wantNotFound(t, ctx, k)
}

func checkRenewWithCheckpoint(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	s := "49590338271490256608559692538361571095921575989136588898"
	// Only the position fields of Checkpoint count.
	e.apply(t, ctx, withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 3, Owner: "ignored", LeaseCounter: 99}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 3, Owner: "host-a", LeaseCounter: 2})
	long := seq(128, '9')
	e.apply(t, ctx, withCP(take(k, "host-a", 2, "host-a"), sdk.Checkpoint{SequenceNumber: long}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, Owner: "host-a", LeaseCounter: 3})
	// A checkpoint that also hands the lease on (owner changes in the same
	// write).
	e.apply(t, ctx, withCP(take(k, "host-a", 3, "host-b"), sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 1}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 1, Owner: "host-b", LeaseCounter: 4})
	// An empty Checkpoint moves nothing.
	e.apply(t, ctx, withCP(take(k, "host-b", 4, "host-b"), sdk.Checkpoint{}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 1, Owner: "host-b", LeaseCounter: 5})
}

func checkLeaseNeverBackwards(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2}))
	n := int64(2)
	for _, cp := range []sdk.Checkpoint{
		{SequenceNumber: "999", SubSequenceNumber: 9},
		{SequenceNumber: "1000", SubSequenceNumber: 1},
		{SequenceNumber: "1000", SubSequenceNumber: 2}, // equal
		{SequenceNumber: "00999"},
		{SequenceNumber: "1"},
	} {
		e.apply(t, ctx, withCP(take(k, "h", n, "h"), cp))
		n++
		e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2, Owner: "h", LeaseCounter: n})
	}
	// Forward: a longer number, then a larger sub-sequence number.
	e.apply(t, ctx, withCP(take(k, "h", n, "h"), sdk.Checkpoint{SequenceNumber: "10000"}))
	n++
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10000", Owner: "h", LeaseCounter: n})
	e.apply(t, ctx, withCP(take(k, "h", n, "h"), sdk.Checkpoint{SequenceNumber: "10000", SubSequenceNumber: 1}))
	n++
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10000", SubSequenceNumber: 1, Owner: "h", LeaseCounter: n})
	// A take with a stale position (the new owner read an older one)
	// still takes, and keeps the stored position.
	e.apply(t, ctx, withCP(take(k, "h", n, "h2"), sdk.Checkpoint{SequenceNumber: "9999"}))
	n++
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10000", SubSequenceNumber: 1, Owner: "h2", LeaseCounter: n})
}

func checkLeaseShardEnd(t *testing.T, ctx context.Context, e lenv) {
	// ShardEnd without a sequence number keeps the stored one.
	k := e.key("orders", "parent-1")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 3}))
	e.apply(t, ctx, withCP(take(k, "h", 2, "h"), sdk.Checkpoint{ShardEnd: true}))
	end := sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 3, ShardEnd: true, Owner: "h", LeaseCounter: 3}
	e.wantBoth(t, ctx, k, end)
	// Nothing moves a finished shard; the lease part still applies.
	for _, cp := range []sdk.Checkpoint{
		{SequenceNumber: seq(128, '9')},
		{SequenceNumber: "600", ShardEnd: true},
		{ShardEnd: true},
	} {
		e.apply(t, ctx, withCP(take(k, "h", end.LeaseCounter, "h"), cp))
		end.LeaseCounter++
		e.wantBoth(t, ctx, k, end)
	}
	// Release of a finished shard keeps it finished.
	e.apply(t, ctx, take(k, "h", end.LeaseCounter, ""))
	end.Owner, end.LeaseCounter = "", end.LeaseCounter+1
	e.wantBoth(t, ctx, k, end)

	// ShardEnd with a sequence number.
	k = e.key("orders", "parent-2")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "700", ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "700", ShardEnd: true, Owner: "h", LeaseCounter: 2})

	// ShardEnd without a sequence number on a row without a position.
	k = e.key("orders", "parent-3")
	e.apply(t, ctx, withCP(take(k, "", 0, "h"), sdk.Checkpoint{ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{ShardEnd: true, Owner: "h", LeaseCounter: 1})
}

func checkReleaseThenTake(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.apply(t, ctx, withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "77"}))
	// Release: owner "", counter + 1, position kept.
	e.apply(t, ctx, take(k, "host-a", 2, ""))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "77", LeaseCounter: 3})
	// An unowned row is taken with ("", counter); not with ("", 0).
	e.conflict(t, ctx, take(k, "", 0, "host-b"))
	e.conflict(t, ctx, take(k, "", 2, "host-b"))
	e.apply(t, ctx, take(k, "", 3, "host-b"))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "77", Owner: "host-b", LeaseCounter: 4})
	// The old owner cannot renew.
	e.conflict(t, ctx, take(k, "host-a", 2, "host-a"))
	e.conflict(t, ctx, take(k, "host-a", 4, "host-a"))

	// Release of a lease that never had a position.
	k = e.key("orders", "shardId-000000000001")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.apply(t, ctx, take(k, "host-a", 1, ""))
	e.wantRow(t, ctx, k, sdk.Checkpoint{LeaseCounter: 2})
	e.wantNotFound(t, ctx, k)
	e.apply(t, ctx, take(k, "", 2, "host-b"))
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "host-b", LeaseCounter: 3})
}

func checkStaleWriter(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "old"))
	e.apply(t, ctx, withCP(take(k, "old", 1, "old"), sdk.Checkpoint{SequenceNumber: "100"}))
	// Another host takes the lease it saw expire (old, 2).
	e.apply(t, ctx, take(k, "old", 2, "new"))
	want := sdk.Checkpoint{SequenceNumber: "100", Owner: "new", LeaseCounter: 3}
	// The zombie's checkpoints and renewals are fenced off.
	for _, u := range []sdk.LeaseUpdate{
		withCP(take(k, "old", 2, "old"), sdk.Checkpoint{SequenceNumber: "999"}),
		withCP(take(k, "old", 2, "old"), sdk.Checkpoint{ShardEnd: true}),
		take(k, "old", 2, "old"),
		take(k, "old", 2, ""),
		del(k, "old", 2),
	} {
		e.conflict(t, ctx, u)
		e.wantBoth(t, ctx, k, want)
	}
	// The new owner goes on from the stored position.
	e.apply(t, ctx, withCP(take(k, "new", 3, "new"), sdk.Checkpoint{SequenceNumber: "101"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "101", Owner: "new", LeaseCounter: 4})
}

func checkSeedRow(t *testing.T, ctx context.Context, e lenv) {
	// A row written by a plain Set, as a single-host version or the seed
	// leaves it: a position, no lease.
	k := e.key("orders", "shardId-000000000000")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1})
	e.conflict(t, ctx, take(k, "", 1, "host-a"))
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1, Owner: "host-a", LeaseCounter: 1})

	// A finished seed-style row keeps its ShardEnd.
	k = e.key("orders", "shardId-000000000001")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "43", ShardEnd: true})
	e.apply(t, ctx, withCP(take(k, "", 0, "host-a"), sdk.Checkpoint{SequenceNumber: "44"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "43", ShardEnd: true, Owner: "host-a", LeaseCounter: 1})

	// A take of a seed row with a position in the same write: forward only.
	k = e.key("orders", "shardId-000000000002")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "50"})
	e.apply(t, ctx, withCP(take(k, "", 0, "host-a"), sdk.Checkpoint{SequenceNumber: "49"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "50", Owner: "host-a", LeaseCounter: 1})
	e.apply(t, ctx, withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "51"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "51", Owner: "host-a", LeaseCounter: 2})
}

func checkSetKeepsLease(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "host-a"))
	e.apply(t, ctx, withCP(take(k, "host-a", 1, "host-a"), sdk.Checkpoint{SequenceNumber: "100"}))
	// A plain Set moves the position but never the lease, whatever Owner
	// and LeaseCounter it carries.
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "200", SubSequenceNumber: 1, Owner: "intruder", LeaseCounter: 99})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "200", SubSequenceNumber: 1, Owner: "host-a", LeaseCounter: 2})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "300"})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "300", Owner: "host-a", LeaseCounter: 2})
	last := "300"
	if bs, ok := e.s.(sdk.BatchStore); ok {
		errs := bs.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: k, Checkpoint: sdk.Checkpoint{SequenceNumber: "400", Owner: "x", LeaseCounter: 7}}})
		if len(errs) != 1 || errs[0] != nil {
			t.Fatalf("SetBatch: %v", errs)
		}
		last = "400"
		e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: last, Owner: "host-a", LeaseCounter: 2})
	}
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{ShardEnd: true, Owner: "x"})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: last, ShardEnd: true, Owner: "host-a", LeaseCounter: 2})
	// The lease goes on where it was.
	e.apply(t, ctx, take(k, "host-a", 2, "host-a"))

	// A plain Set on a row holding only a lease adds the position.
	k = e.key("orders", "shardId-000000000001")
	e.apply(t, ctx, take(k, "", 0, "host-b"))
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "5", Owner: "intruder"})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "5", Owner: "host-b", LeaseCounter: 1})

	// A plain Set on a new row writes no lease.
	k = e.key("orders", "shardId-000000000002")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "6", Owner: "intruder", LeaseCounter: 5})
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "6"})
	e.apply(t, ctx, take(k, "", 0, "host-b"))
}

func checkDeleteWorkerRow(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", sdk.WorkerRowPrefix+"w1")
	e.apply(t, ctx, take(k, "", 0, "w1"))
	e.apply(t, ctx, take(k, "w1", 1, "w1"))
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "w1", LeaseCounter: 2})
	e.wantNotFound(t, ctx, k)
	e.conflict(t, ctx, del(k, "w1", 1))
	e.conflict(t, ctx, del(k, "", 0))
	e.conflict(t, ctx, del(k, "w2", 2))
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "w1", LeaseCounter: 2})
	e.apply(t, ctx, del(k, "w1", 2))
	e.wantNoRow(t, ctx, k)
	e.wantNotFound(t, ctx, k)
	// Gone means ("", 0) again: a stale delete fails, a delete expecting
	// nothing is a no-op, and the row can be created afresh.
	e.conflict(t, ctx, del(k, "w1", 2))
	e.apply(t, ctx, del(k, "", 0))
	e.apply(t, ctx, take(k, "", 0, "w1"))
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "w1", LeaseCounter: 1})

	// Delete removes the whole row, a position too.
	k = e.key("orders", sdk.WorkerRowPrefix+"w2")
	e.apply(t, ctx, withCP(take(k, "", 0, "w2"), sdk.Checkpoint{SequenceNumber: "12"}))
	e.apply(t, ctx, del(k, "w2", 1))
	e.wantNoRow(t, ctx, k)
	e.wantNotFound(t, ctx, k)
	e.apply(t, ctx, take(k, "", 0, "w2"))
	e.wantNotFound(t, ctx, k)
}

func checkListLeases(t *testing.T, ctx context.Context, e lenv) {
	if rows := e.list(t, ctx, "orders"); len(rows) != 0 {
		t.Fatalf("ListLeases on a stream never written: %+v; want no rows", rows)
	}
	want := map[string]sdk.Checkpoint{}
	k := func(shard string) sdk.CheckpointKey { return e.key("orders", shard) }
	e.apply(t, ctx, take(k("shardId-000000000000"), "", 0, "a"))
	want["shardId-000000000000"] = sdk.Checkpoint{Owner: "a", LeaseCounter: 1}
	e.apply(t, ctx, withCP(take(k("shardId-000000000001"), "", 0, "b"), sdk.Checkpoint{SequenceNumber: "11", SubSequenceNumber: 4}))
	want["shardId-000000000001"] = sdk.Checkpoint{SequenceNumber: "11", SubSequenceNumber: 4, Owner: "b", LeaseCounter: 1}
	e.apply(t, ctx, withCP(take(k("shardId-000000000002"), "", 0, "b"), sdk.Checkpoint{ShardEnd: true}))
	e.apply(t, ctx, take(k("shardId-000000000002"), "b", 1, ""))
	want["shardId-000000000002"] = sdk.Checkpoint{ShardEnd: true, LeaseCounter: 2}
	mustSet(t, ctx, e.s, k("shardId-000000000003"), sdk.Checkpoint{SequenceNumber: "13"})
	want["shardId-000000000003"] = sdk.Checkpoint{SequenceNumber: "13"}
	mustSet(t, ctx, e.s, k("shardId-000000000004"), sdk.Checkpoint{SequenceNumber: "14", ShardEnd: true})
	want["shardId-000000000004"] = sdk.Checkpoint{SequenceNumber: "14", ShardEnd: true}
	e.apply(t, ctx, take(k(sdk.WorkerRowPrefix+"a"), "", 0, "a"))
	want[sdk.WorkerRowPrefix+"a"] = sdk.Checkpoint{Owner: "a", LeaseCounter: 1}
	// Deleted rows are not listed.
	e.apply(t, ctx, take(k(sdk.WorkerRowPrefix+"gone"), "", 0, "gone"))
	e.apply(t, ctx, del(k(sdk.WorkerRowPrefix+"gone"), "gone", 1))

	// Neighbours that must not show up.
	others := []sdk.CheckpointKey{
		e.key("payments", "shardId-000000000000"),
		e.key("order", "shardId-000000000005"),
		e.key("ordersx", "shardId-000000000006"),
		{App: e.app + "x", Stream: "orders", ShardID: "shardId-000000000007"},
	}
	for _, o := range others {
		e.apply(t, ctx, take(o, "", 0, "z"))
		mustSet(t, ctx, e.s, sdk.CheckpointKey{App: o.App, Stream: o.Stream, ShardID: o.ShardID + "-set"}, sdk.Checkpoint{SequenceNumber: "1"})
	}

	got := e.list(t, ctx, "orders")
	if len(got) != len(want) {
		t.Errorf("ListLeases(%s, orders) returned %d rows; want %d", e.app, len(got), len(want))
	}
	for _, id := range sortedKeys(want) {
		if g, ok := got[id]; !ok {
			t.Errorf("ListLeases misses %q (want %+v)", id, want[id])
		} else if g != want[id] {
			t.Errorf("ListLeases row %q\n got %+v\nwant %+v", id, g, want[id])
		}
	}
	for _, id := range sortedKeys(got) {
		if _, ok := want[id]; !ok {
			t.Errorf("ListLeases lists %q = %+v, which is not a row of (%s, orders)", id, got[id], e.app)
		}
	}
	if rows := e.list(t, ctx, "payments"); len(rows) != 2 {
		t.Errorf("ListLeases(%s, payments) = %+v; want its 2 rows", e.app, rows)
	}
}

func sortedKeys(m map[string]sdk.Checkpoint) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// race runs n updates at once and returns the index of the one update
// that applied; every other one must fail with sdk.ErrConflict.
func (e lenv) race(t *testing.T, ctx context.Context, updates []sdk.LeaseUpdate) int {
	t.Helper()
	errs := make([]error, len(updates))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := e.ls.UpdateLeases(ctx, []sdk.LeaseUpdate{updates[i]})
			if len(res) != 1 {
				errs[i] = fmt.Errorf("UpdateLeases returned %d results for 1 update", len(res))
				return
			}
			errs[i] = res[0]
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racing updates %d (%s) and %d (%s) both applied; exactly one may", winner, describe(updates[winner]), i, describe(updates[i]))
		case err == nil:
			winner = i
		case !errors.Is(err, sdk.ErrConflict):
			t.Fatalf("racing update %d (%s): %v; want nil or sdk.ErrConflict", i, describe(updates[i]), err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d racing updates applied; exactly one must", len(updates))
	}
	return winner
}

const racers = 8

func checkConcurrentTakers(t *testing.T, ctx context.Context, e lenv) {
	for round, setup := range []func(k sdk.CheckpointKey) (string, int64, sdk.Checkpoint){
		func(k sdk.CheckpointKey) (string, int64, sdk.Checkpoint) { // missing row
			return "", 0, sdk.Checkpoint{}
		},
		func(k sdk.CheckpointKey) (string, int64, sdk.Checkpoint) { // seed row
			mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "300"})
			return "", 0, sdk.Checkpoint{SequenceNumber: "300"}
		},
		func(k sdk.CheckpointKey) (string, int64, sdk.Checkpoint) { // released
			e.apply(t, ctx, take(k, "", 0, "gone"))
			e.apply(t, ctx, take(k, "gone", 1, ""))
			return "", 2, sdk.Checkpoint{}
		},
		func(k sdk.CheckpointKey) (string, int64, sdk.Checkpoint) { // expired owner
			e.apply(t, ctx, withCP(take(k, "", 0, "dead"), sdk.Checkpoint{SequenceNumber: "7"}))
			return "dead", 1, sdk.Checkpoint{SequenceNumber: "7"}
		},
	} {
		for rep := 0; rep < 3; rep++ {
			k := e.key("race", fmt.Sprintf("shard-%d-%d", round, rep))
			owner, counter, pos := setup(k)
			updates := make([]sdk.LeaseUpdate, racers)
			for i := range updates {
				updates[i] = take(k, owner, counter, fmt.Sprintf("taker-%d", i))
			}
			w := e.race(t, ctx, updates)
			want := pos
			want.Owner, want.LeaseCounter = updates[w].Owner, counter+1
			e.wantRow(t, ctx, k, want)
		}
	}
}

func checkConcurrentRenewers(t *testing.T, ctx context.Context, e lenv) {
	for rep := 0; rep < 3; rep++ {
		k := e.key("race", fmt.Sprintf("renew-%d", rep))
		e.apply(t, ctx, take(k, "", 0, "h"))
		e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "100"}))
		updates := make([]sdk.LeaseUpdate, racers)
		for i := range updates {
			updates[i] = withCP(take(k, "h", 2, "h"), sdk.Checkpoint{SequenceNumber: fmt.Sprint(200 + i)})
		}
		w := e.race(t, ctx, updates)
		e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(200 + w), Owner: "h", LeaseCounter: 3})
	}
}

func checkLeaseBatch(t *testing.T, ctx context.Context, e lenv) {
	if errs := e.ls.UpdateLeases(ctx, nil); len(errs) != 0 {
		t.Fatalf("UpdateLeases(nil) returned %d results", len(errs))
	}
	k := func(i int) sdk.CheckpointKey { return e.key("batch", fmt.Sprintf("shardId-%012d", i)) }
	w := e.key("batch", sdk.WorkerRowPrefix+"w")
	e.apply(t, ctx, take(k(2), "", 0, "h"))
	e.apply(t, ctx, take(k(4), "", 0, "h"))
	e.apply(t, ctx, take(k(5), "", 0, "h"))
	e.apply(t, ctx, take(w, "", 0, "w"))
	mustSet(t, ctx, e.s, k(6), sdk.Checkpoint{SequenceNumber: "60"})
	updates := []sdk.LeaseUpdate{
		take(k(0), "", 0, "h"),  // take a missing row: applies
		take(k(1), "x", 3, "h"), // wrong expectation on a missing row
		withCP(take(k(2), "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "20"}), // renew with checkpoint
		del(w, "w", 1),          // delete a worker row
		del(k(4), "h", 7),       // wrong delete
		take(k(5), "h", 1, ""),  // release
		take(k(6), "", 0, "h2"), // take a seed row
		take(k(2), "h", 1, "h"), // stale renew (k(2) moved on above)
		withCP(take(k(6), "h2", 1, "h2"), sdk.Checkpoint{SequenceNumber: "61"}), // same key again, in order
	}
	errs := e.ls.UpdateLeases(ctx, updates)
	if len(errs) != len(updates) {
		t.Fatalf("UpdateLeases returned %d results for %d updates", len(errs), len(updates))
	}
	conflicts := map[int]bool{1: true, 4: true, 7: true}
	for i, err := range errs {
		if conflicts[i] {
			assertConflict(t, updates[i], err)
		} else if err != nil {
			t.Fatalf("batch update %d (%s): %v; want it applied", i, describe(updates[i]), err)
		}
	}
	e.wantRow(t, ctx, k(0), sdk.Checkpoint{Owner: "h", LeaseCounter: 1})
	e.wantNoRow(t, ctx, k(1))
	e.wantBoth(t, ctx, k(2), sdk.Checkpoint{SequenceNumber: "20", Owner: "h", LeaseCounter: 2})
	e.wantNoRow(t, ctx, w)
	e.wantRow(t, ctx, k(4), sdk.Checkpoint{Owner: "h", LeaseCounter: 1})
	e.wantRow(t, ctx, k(5), sdk.Checkpoint{LeaseCounter: 2})
	e.wantBoth(t, ctx, k(6), sdk.Checkpoint{SequenceNumber: "61", Owner: "h2", LeaseCounter: 2})

	// Updates of one key in one batch apply in order.
	k7 := k(7)
	seqUpdates := []sdk.LeaseUpdate{take(k7, "", 0, "a")}
	for n := int64(1); n <= 4; n++ {
		seqUpdates = append(seqUpdates, withCP(take(k7, "a", n, "a"), sdk.Checkpoint{SequenceNumber: fmt.Sprint(n * 10)}))
	}
	seqUpdates = append(seqUpdates, take(k7, "a", 1, "a")) // stale by then
	errs = e.ls.UpdateLeases(ctx, seqUpdates)
	for i, err := range errs {
		if i == len(seqUpdates)-1 {
			assertConflict(t, seqUpdates[i], err)
		} else if err != nil {
			t.Fatalf("in-order update %d (%s): %v", i, describe(seqUpdates[i]), err)
		}
	}
	e.wantBoth(t, ctx, k7, sdk.Checkpoint{SequenceNumber: "40", Owner: "a", LeaseCounter: 5})

	// A large batch across many shards.
	var many []sdk.LeaseUpdate
	for i := 0; i < 150; i++ {
		u := take(e.key("batch-large", fmt.Sprint("s", i)), "", 0, "h")
		if i%3 == 0 {
			u = withCP(u, sdk.Checkpoint{SequenceNumber: fmt.Sprint(1000 + i), SubSequenceNumber: int64(i)})
		}
		many = append(many, u)
	}
	for i, err := range e.ls.UpdateLeases(ctx, many) {
		if err != nil {
			t.Fatalf("large batch update %d: %v", i, err)
		}
	}
	rows := e.list(t, ctx, "batch-large")
	if len(rows) != len(many) {
		t.Fatalf("after a batch of %d takes ListLeases returns %d rows", len(many), len(rows))
	}
	for i, u := range many {
		want := sdk.Checkpoint{Owner: "h", LeaseCounter: 1}
		if u.Checkpoint != nil {
			want.SequenceNumber, want.SubSequenceNumber = u.Checkpoint.SequenceNumber, u.Checkpoint.SubSequenceNumber
		}
		if rows[u.Key.ShardID] != want {
			t.Fatalf("large batch row %d = %+v; want %+v", i, rows[u.Key.ShardID], want)
		}
	}
}

func checkLeaseInvalid(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "h"))
	for _, cp := range []sdk.Checkpoint{
		{SequenceNumber: "12a"},
		{SequenceNumber: seq(129, '1')},
		{SequenceNumber: "-5"},
	} {
		u := withCP(take(k, "h", 1, "h"), cp)
		err := e.update(t, ctx, u)
		if err == nil || errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("UpdateLeases(%s) = %v; want an error that is not a conflict", describe(u), err)
		}
		e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "h", LeaseCounter: 1})
	}
}

// checkRacingBatches sends overlapping batches from several "hosts" at
// once, mixing rows that are created, updated and deleted, each host in
// its own order: every update must apply or fail with a conflict.
func checkRacingBatches(t *testing.T, ctx context.Context, e lenv) {
	const hosts, rounds, shards = 4, 8, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied, conflicts := 0, 0
	errc := make(chan error, hosts)
	for h := 0; h < hosts; h++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := fmt.Sprint("h", h)
			for r := 0; r < rounds; r++ {
				rows, err := e.ls.ListLeases(ctx, e.app, "s")
				if err != nil {
					errc <- err
					return
				}
				seen := map[string]sdk.Checkpoint{}
				for _, row := range rows {
					seen[row.ShardID] = row.Checkpoint
				}
				var updates []sdk.LeaseUpdate
				for i := 0; i < shards; i++ {
					id := fmt.Sprint("shard-", (i*(h+1)+r)%shards)
					cur := seen[id]
					u := take(e.key("s", id), cur.Owner, cur.LeaseCounter, me)
					switch (i + r + h) % 4 {
					case 0:
						u.Delete = true
					case 1:
						u = withCP(u, sdk.Checkpoint{SequenceNumber: fmt.Sprint(r*100 + i)})
					}
					updates = append(updates, u)
				}
				errs := e.ls.UpdateLeases(ctx, updates)
				if len(errs) != len(updates) {
					errc <- fmt.Errorf("UpdateLeases returned %d results for %d updates", len(errs), len(updates))
					return
				}
				for i, err := range errs {
					mu.Lock()
					switch {
					case err == nil:
						applied++
					case errors.Is(err, sdk.ErrConflict):
						conflicts++
					default:
						mu.Unlock()
						errc <- fmt.Errorf("host %s round %d update %d (%s): %w; want nil or sdk.ErrConflict", me, r, i, describe(updates[i]), err)
						return
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d updates applied, %d conflicts", applied, conflicts)
	if applied == 0 {
		t.Fatal("no update applied")
	}
}
