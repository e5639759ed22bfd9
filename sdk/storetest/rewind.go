package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// ---- Rewinder (stores without leases, and the memory store) ----

// checkRewinder checks sdk.Rewinder where the store implements it: the
// position is set exactly (backwards too), nil and empty clear it, the
// stored owner and counter stay, later plain Sets are forward only from
// the new position, an invalid sequence number changes nothing. Through
// the plugin boundary, a store without Rewinder answers CodeUnimplemented.
func checkRewinder(t *testing.T, ctx context.Context, e env) {
	rw, ok := e.s.(sdk.Rewinder)
	if !ok {
		t.Skipf("%T does not implement sdk.Rewinder", e.s)
	}
	k := e.key("rewind", "shardId-000000000000")
	if !e.rewinder {
		err := rw.Rewind(ctx, k, &sdk.Checkpoint{SequenceNumber: "1"})
		if !errors.Is(err, &sdk.Error{Code: shared.CodeUnimplemented}) || !strings.Contains(err.Error(), "cannot rewind") {
			t.Fatalf("Rewind through the plugin boundary of a store without sdk.Rewinder = %v; want an error with code %q saying the store cannot rewind", err, shared.CodeUnimplemented)
		}
		if _, found, err := e.s.Get(ctx, k); err != nil || found {
			t.Fatalf("after a refused Rewind Get = found %v, %v; want nothing stored", found, err)
		}
		return
	}
	mustRewind := func(cp *sdk.Checkpoint) {
		t.Helper()
		if err := rw.Rewind(ctx, k, cp); err != nil {
			t.Fatalf("Rewind(%v, %+v): %v", k, cp, err)
		}
	}
	notFound := func() {
		t.Helper()
		if cp, found, err := e.s.Get(ctx, k); err != nil || found {
			t.Fatalf("after a Rewind that clears, Get = %+v, found %v, %v; want found=false", cp, found, err)
		}
	}
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2, Owner: "o", LeaseCounter: 3})
	// Backwards, keeping the stored owner and counter.
	mustRewind(&sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 1, Owner: "ignored", LeaseCounter: 99})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 1, Owner: "o", LeaseCounter: 3})
	// Forward only again from there.
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "499", SubSequenceNumber: 9, Owner: "o", LeaseCounter: 3})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 1, Owner: "o", LeaseCounter: 3})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "501", Owner: "o", LeaseCounter: 3})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "501", Owner: "o", LeaseCounter: 3})
	// An invalid sequence number fails and changes nothing.
	if err := rw.Rewind(ctx, k, &sdk.Checkpoint{SequenceNumber: "12a"}); err == nil {
		t.Fatal("Rewind to sequence number \"12a\" succeeded; want an error")
	}
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "501", Owner: "o", LeaseCounter: 3})
	// Clear: nil and empty.
	mustRewind(nil)
	notFound()
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "7"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "7"})
	mustRewind(&sdk.Checkpoint{})
	notFound()
	mustRewind(nil) // clearing nothing
	notFound()
	// A finished shard rewound to a sequence number is no longer finished.
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "700", ShardEnd: true})
	mustRewind(&sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 2})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 2})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "651"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "651"})
	// Exactly, also forwards and to ShardEnd.
	long := seq(128, '9')
	mustRewind(&sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 4})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 4})
	mustRewind(&sdk.Checkpoint{ShardEnd: true})
	e.wantCP(t, ctx, k, sdk.Checkpoint{ShardEnd: true})
	// A rewound position AT a record (sdk.SubSequenceAt): stored as is,
	// behind the record's own position, forward from there again.
	mustRewind(&sdk.Checkpoint{SequenceNumber: "640", SubSequenceNumber: sdk.SubSequenceAt})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "640", SubSequenceNumber: sdk.SubSequenceAt})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "639", SubSequenceNumber: 5})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "640", SubSequenceNumber: sdk.SubSequenceAt})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "640"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "640"})
	// Rewound to TRIM_HORIZON: AT sequence number 0, before every record.
	mustRewind(&sdk.Checkpoint{SequenceNumber: "0", SubSequenceNumber: sdk.SubSequenceAt})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "0", SubSequenceNumber: sdk.SubSequenceAt})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "5"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "5"})
	// A rewind on a key never written.
	k2 := e.key("rewind", "shardId-000000000001")
	if err := rw.Rewind(ctx, k2, &sdk.Checkpoint{SequenceNumber: "42"}); err != nil {
		t.Fatalf("Rewind of a new key: %v", err)
	}
	e.wantCP(t, ctx, k2, sdk.Checkpoint{SequenceNumber: "42"})

	// Through the plugin boundary, rewinds and plain writes in one Set RPC.
	if c, ok := e.s.(*sdk.TestStoreClient); ok {
		k3 := e.key("rewind", "shardId-000000000003")
		mustSet(t, ctx, c, k3, sdk.Checkpoint{SequenceNumber: "300"})
		errs := c.SetBatch(ctx, []sdk.CheckpointUpdate{
			{Key: k3, Checkpoint: sdk.Checkpoint{SequenceNumber: "30"}, Rewind: true},
			{Key: k2, Checkpoint: sdk.Checkpoint{SequenceNumber: "41"}}, // backwards, not a rewind
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("mixed SetBatch update %d: %v", i, err)
			}
		}
		e.wantCP(t, ctx, k3, sdk.Checkpoint{SequenceNumber: "30"})
		e.wantCP(t, ctx, k2, sdk.Checkpoint{SequenceNumber: "42"})
	}
}

// ---- LeaseUpdate.Rewind ----

func rewind(u sdk.LeaseUpdate, cp *sdk.Checkpoint) sdk.LeaseUpdate {
	u.Rewind, u.Checkpoint = true, cp
	return u
}

func checkLeaseRewind(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2}))
	// Backwards under the right owner and counter; only the position
	// fields of Checkpoint count.
	e.apply(t, ctx, rewind(take(k, "h", 2, "h"), &sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 1, Owner: "x", LeaseCounter: 9}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 1, Owner: "h", LeaseCounter: 3})
	// Compared as numbers: "99" is behind "500".
	e.apply(t, ctx, rewind(take(k, "h", 3, "h"), &sdk.Checkpoint{SequenceNumber: "99"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "99", Owner: "h", LeaseCounter: 4})
	// Exactly: also forwards, and the sub-sequence number alone.
	long := seq(128, '9')
	e.apply(t, ctx, rewind(take(k, "h", 4, "h"), &sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 7}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 7, Owner: "h", LeaseCounter: 5})
	e.apply(t, ctx, rewind(take(k, "h", 5, "h"), &sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 3}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 3, Owner: "h", LeaseCounter: 6})
	// AT a record (sdk.SubSequenceAt): behind the record, forward again.
	e.apply(t, ctx, rewind(take(k, "h", 6, "h"), &sdk.Checkpoint{SequenceNumber: "20", SubSequenceNumber: sdk.SubSequenceAt}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "20", SubSequenceNumber: sdk.SubSequenceAt, Owner: "h", LeaseCounter: 7})
	e.apply(t, ctx, withCP(take(k, "h", 7, "h"), sdk.Checkpoint{SequenceNumber: "19", SubSequenceNumber: 3}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "20", SubSequenceNumber: sdk.SubSequenceAt, Owner: "h", LeaseCounter: 8})
	e.apply(t, ctx, rewind(take(k, "h", 8, "h"), &sdk.Checkpoint{SequenceNumber: "0", SubSequenceNumber: sdk.SubSequenceAt}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "0", SubSequenceNumber: sdk.SubSequenceAt, Owner: "h", LeaseCounter: 9})
	e.apply(t, ctx, rewind(take(k, "h", 9, "h"), &sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 3}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: long, SubSequenceNumber: 3, Owner: "h", LeaseCounter: 10})
	// A rewind that releases the lease in the same write.
	e.apply(t, ctx, rewind(take(k, "h", 10, ""), &sdk.Checkpoint{SequenceNumber: "10"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10", LeaseCounter: 11})
	// Forward only again from there.
	e.apply(t, ctx, withCP(take(k, "", 11, "h2"), sdk.Checkpoint{SequenceNumber: "9"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10", Owner: "h2", LeaseCounter: 12})
	e.apply(t, ctx, withCP(take(k, "h2", 12, "h2"), sdk.Checkpoint{SequenceNumber: "11"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "11", Owner: "h2", LeaseCounter: 13})

	// A rewind on a missing row expecting ("", 0) creates it.
	k2 := e.key("orders", "shardId-000000000001")
	e.apply(t, ctx, rewind(take(k2, "", 0, ""), &sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1}))
	e.wantBoth(t, ctx, k2, sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1, LeaseCounter: 1})
	// A rewind of a seed row (a position, no lease) expecting ("", 0).
	k3 := e.key("orders", "shardId-000000000002")
	mustSet(t, ctx, e.s, k3, sdk.Checkpoint{SequenceNumber: "900"})
	e.apply(t, ctx, rewind(take(k3, "", 0, ""), &sdk.Checkpoint{SequenceNumber: "800"}))
	e.wantBoth(t, ctx, k3, sdk.Checkpoint{SequenceNumber: "800", LeaseCounter: 1})
}

func checkLeaseRewindStale(t *testing.T, ctx context.Context, e lenv) {
	k := e.key("orders", "shardId-000000000000")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2}))
	want := sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2, Owner: "h", LeaseCounter: 2}
	for _, u := range []sdk.LeaseUpdate{
		rewind(take(k, "h", 1, "h"), &sdk.Checkpoint{SequenceNumber: "5"}),
		rewind(take(k, "h", 3, "h"), &sdk.Checkpoint{SequenceNumber: "5"}),
		rewind(take(k, "", 0, "h"), &sdk.Checkpoint{SequenceNumber: "5"}),
		rewind(take(k, "h2", 2, "h2"), &sdk.Checkpoint{SequenceNumber: "5"}),
		rewind(take(k, "h", 1, "h"), nil),
		rewind(take(k, "", 2, ""), &sdk.Checkpoint{}),
	} {
		e.conflict(t, ctx, u)
		e.wantBoth(t, ctx, k, want)
	}
	// On a missing row only ("", 0) matches, and a failed rewind creates
	// nothing.
	missing := e.key("orders", "shardId-000000000009")
	e.conflict(t, ctx, rewind(take(missing, "h", 1, "h"), &sdk.Checkpoint{SequenceNumber: "5"}))
	e.conflict(t, ctx, rewind(take(missing, "", 1, "h"), nil))
	e.wantNoRow(t, ctx, missing)
	e.wantNotFound(t, ctx, missing)
	// An invalid sequence number fails (not a conflict) and changes nothing.
	for _, cp := range []sdk.Checkpoint{{SequenceNumber: "12a"}, {SequenceNumber: seq(129, '1')}, {SequenceNumber: "-5"}} {
		u := rewind(take(k, "h", 2, "h"), &cp)
		err := e.update(t, ctx, u)
		if err == nil || errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("UpdateLeases(%s) = %v; want an error that is not a conflict", describe(u), err)
		}
		e.wantBoth(t, ctx, k, want)
	}
}

func checkLeaseRewindClear(t *testing.T, ctx context.Context, e lenv) {
	for i, cp := range []*sdk.Checkpoint{nil, {}, {SubSequenceNumber: 5}} {
		k := e.key("orders", fmt.Sprintf("shardId-%012d", i))
		e.apply(t, ctx, take(k, "", 0, "h"))
		e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "1000", SubSequenceNumber: 2}))
		e.apply(t, ctx, rewind(take(k, "h", 2, "h"), cp))
		e.wantNotFound(t, ctx, k)
		e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "h", LeaseCounter: 3})
		// Any position is forward of none.
		e.apply(t, ctx, withCP(take(k, "h", 3, "h"), sdk.Checkpoint{SequenceNumber: "1"}))
		e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "1", Owner: "h", LeaseCounter: 4})
		// Cleared and released: the row stays (it has a counter).
		e.apply(t, ctx, rewind(take(k, "h", 4, ""), cp))
		e.wantNotFound(t, ctx, k)
		e.wantRow(t, ctx, k, sdk.Checkpoint{LeaseCounter: 5})
		e.apply(t, ctx, take(k, "", 5, "h3"))
		e.wantNotFound(t, ctx, k)
		e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "h3", LeaseCounter: 6})
	}
	// Clearing a finished shard.
	k := e.key("orders", "parent-1")
	e.apply(t, ctx, withCP(take(k, "", 0, "h"), sdk.Checkpoint{SequenceNumber: "500", ShardEnd: true}))
	e.apply(t, ctx, rewind(take(k, "h", 1, "h"), nil))
	e.wantNotFound(t, ctx, k)
	e.wantRow(t, ctx, k, sdk.Checkpoint{Owner: "h", LeaseCounter: 2})
}

func checkLeaseRewindShardEnd(t *testing.T, ctx context.Context, e lenv) {
	// A finished shard (with and without a sequence number of its own)
	// rewound to a sequence number is no longer finished.
	k := e.key("orders", "parent-1")
	e.apply(t, ctx, take(k, "", 0, "h"))
	e.apply(t, ctx, withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "700", SubSequenceNumber: 1}))
	e.apply(t, ctx, withCP(take(k, "h", 2, "h"), sdk.Checkpoint{ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "700", SubSequenceNumber: 1, ShardEnd: true, Owner: "h", LeaseCounter: 3})
	e.apply(t, ctx, rewind(take(k, "h", 3, "h"), &sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 2}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 2, Owner: "h", LeaseCounter: 4})
	// Forward only from there, and ShardEnd again.
	e.apply(t, ctx, withCP(take(k, "h", 4, "h"), sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 1}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "650", SubSequenceNumber: 2, Owner: "h", LeaseCounter: 5})
	e.apply(t, ctx, withCP(take(k, "h", 5, "h"), sdk.Checkpoint{SequenceNumber: "660"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "660", Owner: "h", LeaseCounter: 6})
	e.apply(t, ctx, withCP(take(k, "h", 6, "h"), sdk.Checkpoint{ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "660", ShardEnd: true, Owner: "h", LeaseCounter: 7})

	k = e.key("orders", "parent-2")
	e.apply(t, ctx, withCP(take(k, "", 0, "h"), sdk.Checkpoint{ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{ShardEnd: true, Owner: "h", LeaseCounter: 1})
	e.apply(t, ctx, rewind(take(k, "h", 1, "h"), &sdk.Checkpoint{SequenceNumber: "5"}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "5", Owner: "h", LeaseCounter: 2})

	// Rewinding to ShardEnd sets exactly that: with a sequence number, and
	// without one (no sequence number is stored).
	e.apply(t, ctx, rewind(take(k, "h", 2, "h"), &sdk.Checkpoint{SequenceNumber: "3", SubSequenceNumber: 1, ShardEnd: true}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "3", SubSequenceNumber: 1, ShardEnd: true, Owner: "h", LeaseCounter: 3})
	e.apply(t, ctx, rewind(take(k, "h", 3, "h"), &sdk.Checkpoint{ShardEnd: true, SubSequenceNumber: 4}))
	e.wantBoth(t, ctx, k, sdk.Checkpoint{ShardEnd: true, Owner: "h", LeaseCounter: 4})
}

func checkLeaseRewindBatch(t *testing.T, ctx context.Context, e lenv) {
	// Rewinds mixed with other updates, the same key in order.
	k := e.key("batch", "shardId-000000000000")
	o := e.key("batch", "shardId-000000000001")
	e.apply(t, ctx, take(o, "", 0, "h"))
	updates := []sdk.LeaseUpdate{
		take(k, "", 0, "h"),
		withCP(take(k, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "900"}),
		rewind(take(k, "h", 2, "h"), &sdk.Checkpoint{SequenceNumber: "100"}),
		withCP(take(k, "h", 3, "h"), sdk.Checkpoint{SequenceNumber: "99"}),
		withCP(take(k, "h", 4, "h"), sdk.Checkpoint{SequenceNumber: "150"}),
		rewind(take(o, "h", 7, "h"), &sdk.Checkpoint{SequenceNumber: "1"}), // stale
		withCP(take(o, "h", 1, "h"), sdk.Checkpoint{SequenceNumber: "20"}),
	}
	errs := e.ls.UpdateLeases(ctx, updates)
	if len(errs) != len(updates) {
		t.Fatalf("UpdateLeases returned %d results for %d updates", len(errs), len(updates))
	}
	for i, err := range errs {
		if i == 5 {
			assertConflict(t, updates[i], err)
		} else if err != nil {
			t.Fatalf("batch update %d (%s): %v; want it applied", i, describe(updates[i]), err)
		}
	}
	e.wantBoth(t, ctx, k, sdk.Checkpoint{SequenceNumber: "150", Owner: "h", LeaseCounter: 5})
	e.wantBoth(t, ctx, o, sdk.Checkpoint{SequenceNumber: "20", Owner: "h", LeaseCounter: 2})
	// Rewind with Delete is a delete.
	w := e.key("batch", sdk.WorkerRowPrefix+"w")
	e.apply(t, ctx, take(w, "", 0, "w"))
	u := del(w, "w", 1)
	u.Rewind = true
	e.apply(t, ctx, u)
	e.wantNoRow(t, ctx, w)
}

// checkLeaseRewindSeedSequence: seed-layout readers see the rewound
// sequence number, and no position ("" or the layout's "none", -1) after a
// clear.
func checkLeaseRewindSeedSequence(t *testing.T, ctx context.Context, e lenv, seed func(context.Context, sdk.CheckpointKey) (string, error)) {
	k := e.key("seedrewind", "shardId-000000000000")
	read := func() string {
		t.Helper()
		s, err := seed(ctx, k)
		if err != nil {
			t.Fatalf("reading the seed layout of %+v: %v", k, err)
		}
		return s
	}
	e.apply(t, ctx, withCP(take(k, "", 0, "h"), sdk.Checkpoint{SequenceNumber: "4242", SubSequenceNumber: 1}))
	e.apply(t, ctx, rewind(take(k, "h", 1, "h"), &sdk.Checkpoint{SequenceNumber: "4000"}))
	if s := read(); s != "4000" {
		t.Fatalf("after a rewind to 4000 a seed-layout reader sees %q", s)
	}
	e.apply(t, ctx, withCP(take(k, "h", 2, "h"), sdk.Checkpoint{SequenceNumber: "4100", ShardEnd: true}))
	e.apply(t, ctx, rewind(take(k, "h", 3, "h"), &sdk.Checkpoint{SequenceNumber: "3999", SubSequenceNumber: 2}))
	if s := read(); s != "3999" {
		t.Fatalf("after a rewind of a finished shard to 3999 a seed-layout reader sees %q", s)
	}
	e.apply(t, ctx, rewind(take(k, "h", 4, "h"), nil))
	if s := read(); s != "" && s != "-1" {
		t.Fatalf("after a rewind that clears the position a seed-layout reader sees %q; want no position", s)
	}
	e.apply(t, ctx, withCP(take(k, "h", 5, "h"), sdk.Checkpoint{SequenceNumber: "12"}))
	if s := read(); s != "12" {
		t.Fatalf("after a checkpoint following a clear a seed-layout reader sees %q; want 12", s)
	}
}
