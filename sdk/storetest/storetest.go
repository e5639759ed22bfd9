// Package storetest is the conformance suite for checkpoint stores
// (sdk.Store). Every built-in backend passes it, and third-party backend
// authors should run it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) sdk.Store {
//			s := mystore.New()
//			if err := s.Configure(ctx, sdk.Config{JSON: cfg}); err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close(context.Background()) })
//			return s
//		})
//	}
//
// open must return a fresh, configured store. It need not be wiped: every
// check uses an app name unique to the run, the check and the variant, so
// several runs can share one database server. open should register any
// cleanup (closing the store, dropping a throwaway table) with t.Cleanup;
// Run never closes the store itself.
//
// Every check runs twice: on the store directly ("direct") and through the
// real plugin RPC boundary ("plugin", via sdk.TestStore), where errors lose
// their Go types and keep only their codes.
//
// The semantics checked are the ones documented on sdk.Store:
//
//   - Get on a key with no checkpoint returns found=false and a nil error.
//   - Set then Get round-trips SequenceNumber (up to 128 digits),
//     SubSequenceNumber, ShardEnd, Owner and LeaseCounter; on a store that
//     implements sdk.LeaseStore, Set writes the position only and Get
//     reports the row's own lease (owner "" and counter 0 here).
//   - Set never moves a checkpoint backwards or sideways: sequence numbers
//     compare as big integers ("10" > "9"), then sub-sequence numbers; a
//     write at the stored position is a no-op (the stored Owner stays).
//   - ShardEnd is past every position and is persisted. A ShardEnd write
//     that carries a SequenceNumber round-trips it; one with an empty
//     SequenceNumber reads back either empty or the previously stored
//     sequence number (backends whose layout requires a number keep the
//     old one).
//   - Keys are isolated by app, stream and shard.
//   - Racing writers: 64 shards × 8 goroutines writing increasing random
//     positions leave exactly the maximum written in each shard.
//   - SetBatch, where implemented, returns one result per update and
//     applies forward, backward, new and duplicate-key updates correctly.
//   - Rewind, where sdk.Rewinder is implemented, sets the position exactly
//     (backwards too, out of ShardEnd too), clears it for a nil or empty
//     checkpoint (Get found=false), keeps the stored owner and counter,
//     and later Sets are forward only from the new position. Through the
//     plugin boundary a store without Rewinder answers CodeUnimplemented,
//     and rewinds mixed with plain writes in one Set call are routed right.
//
// With RunWith and Options.SeedSequence, a backend that keeps the seed's
// layout also checks that a ShardEnd write keeps the last sequence number
// readable to seed readers (and, with RunLeasesWith, that a rewind moves
// what seed readers see).
//
// A store that several hosts can share implements sdk.LeaseStore; run
// RunLeases on it too (see there for the checks):
//
//	func TestLeases(t *testing.T) {
//		storetest.RunLeases(t, func(t *testing.T) sdk.Store { return openMyStore(t) })
//	}
//
// AssertUnavailable, AssertDown and AssertRecovers help backends test
// "the server went away": a failed read must never look like "no
// checkpoint", and a failed lease call must never look like a lost lease
// (sdk.ErrConflict).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// checkTimeout bounds each check.
const checkTimeout = 2 * time.Minute

type env struct {
	s   sdk.Store
	app string // unique to this run, check and variant
	// leases: the store implements sdk.LeaseStore, so a plain Set keeps
	// the stored owner and counter instead of writing cp's.
	leases bool
	// rewinder: the store itself implements sdk.Rewinder (through the
	// plugin boundary the client always does, and a store without it
	// answers CodeUnimplemented).
	rewinder bool
}

// setResult is what Get returns after plain Sets leave want in a row that
// was never leased: a lease store keeps the row's (empty) lease.
func (e env) setResult(want sdk.Checkpoint) sdk.Checkpoint {
	if e.leases {
		want.Owner, want.LeaseCounter = "", 0
	}
	return want
}

func (e env) key(stream, shard string) sdk.CheckpointKey {
	return sdk.CheckpointKey{App: e.app, Stream: stream, ShardID: shard}
}

type check struct {
	name string
	fn   func(t *testing.T, ctx context.Context, e env)
}

var checks = []check{
	{"GetUnknown", checkGetUnknown},
	{"RoundTrip", checkRoundTrip},
	{"NeverBackwards", checkNeverBackwards},
	{"BigIntegerOrder", checkBigIntegerOrder},
	{"SubSequenceOrder", checkSubSequenceOrder},
	{"ShardEnd", checkShardEnd},
	{"Isolation", checkIsolation},
	{"RacingWriters", checkRacingWriters},
	{"SetBatch", checkSetBatch},
	{"Rewind", checkRewinder},
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// RunID returns a short random identifier, handy for unique table names or
// key prefixes in backend tests.
func RunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Options adds backend-specific checks to RunWith.
type Options struct {
	// SeedSequence, when set, reads the sequence number that a reader of
	// the seed's layout (harlow/kinesis-consumer) sees for key, "" when it
	// sees none. RunWith then also checks ShardEndKeepsSeedSequence: a
	// ShardEnd write without a sequence number, after a position, leaves
	// that position's sequence number readable there (seed readers do not
	// know SHARD_END and must not lose the shard's last position).
	SeedSequence func(ctx context.Context, key sdk.CheckpointKey) (string, error)
}

// Run runs the conformance suite. See the package documentation for what
// open must return.
func Run(t *testing.T, open func(t *testing.T) sdk.Store) {
	t.Helper()
	RunWith(t, open, Options{})
}

// RunWith is Run with backend-specific checks (see Options).
func RunWith(t *testing.T, open func(t *testing.T) sdk.Store, opts Options) {
	t.Helper()
	run := "st" + RunID()
	all := checks
	if opts.SeedSequence != nil {
		all = append(all[:len(all):len(all)], check{"ShardEndKeepsSeedSequence", func(t *testing.T, ctx context.Context, e env) {
			checkShardEndKeepsSeedSequence(t, ctx, e, opts.SeedSequence)
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
					_, leases := s.(sdk.LeaseStore)
					_, rewinder := s.(sdk.Rewinder)
					if variant == "plugin" {
						s = sdk.TestStore(t, s)
					}
					ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
					defer cancel()
					app := run + "-" + nonWord.ReplaceAllString(strings.ToLower(c.name), "") + "-" + variant
					c.fn(t, ctx, env{s: s, app: app, leases: leases, rewinder: rewinder})
				})
			}
		})
	}
}

// AssertUnavailable fails the test unless err is non-nil and satisfies
// errors.Is(err, sdk.ErrUnavailable): a backend failure the host retries.
func AssertUnavailable(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got a nil error; want an error wrapped with sdk.Unavailable")
	}
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("got %v (%T); want an error satisfying errors.Is(err, sdk.ErrUnavailable)", err, err)
	}
}

// AssertDown checks a store whose backend is unreachable: Get, Set and (if
// implemented) SetBatch, ListLeases and UpdateLeases on key must all fail
// with sdk.ErrUnavailable, and Get must never report found=false with a
// nil error.
func AssertDown(t testing.TB, s sdk.Store, key sdk.CheckpointKey) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cp, found, err := s.Get(ctx, key)
	if err == nil {
		t.Fatalf("Get with the backend down returned found=%v cp=%+v and a nil error; want sdk.ErrUnavailable", found, cp)
	}
	AssertUnavailable(t, err)
	if found {
		t.Fatalf("Get returned found=true together with error %v", err)
	}
	AssertUnavailable(t, s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: "1"}))
	if bs, ok := s.(sdk.BatchStore); ok {
		errs := bs.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: key, Checkpoint: sdk.Checkpoint{SequenceNumber: "2"}}})
		if len(errs) != 1 {
			t.Fatalf("SetBatch returned %d results for 1 update", len(errs))
		}
		AssertUnavailable(t, errs[0])
	}
	if ls, ok := leaseStore(ctx, s); ok {
		_, err := ls.ListLeases(ctx, key.App, key.Stream)
		AssertUnavailable(t, err)
		errs := ls.UpdateLeases(ctx, []sdk.LeaseUpdate{
			{Key: key, Owner: "h"},
			{Key: key, ExpectOwner: "h", ExpectCounter: 1, Owner: "h", Checkpoint: &sdk.Checkpoint{SequenceNumber: "3"}},
		})
		if len(errs) != 2 {
			t.Fatalf("UpdateLeases returned %d results for 2 updates", len(errs))
		}
		for _, err := range errs {
			AssertUnavailable(t, err)
		}
	}
}

// leaseStore returns s as a LeaseStore when it really is one (through the
// plugin boundary: when the plugin says so).
func leaseStore(ctx context.Context, s sdk.Store) (sdk.LeaseStore, bool) {
	if c, ok := s.(*sdk.TestStoreClient); ok {
		leases, err := c.Leases(ctx)
		return c, err == nil && leases
	}
	ls, ok := s.(sdk.LeaseStore)
	return ls, ok
}

// AssertRecovers waits up to timeout for a store whose backend came back to
// work again by itself: a Set of cp on key followed by a Get returning it.
func AssertRecovers(t testing.TB, s sdk.Store, key sdk.CheckpointKey, cp sdk.Checkpoint, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Set(ctx, key, cp)
		if err == nil {
			var got sdk.Checkpoint
			var found bool
			got, found, err = s.Get(ctx, key)
			if err == nil && !found {
				err = errors.New("Get after a successful Set found nothing")
			}
			if err == nil {
				cancel()
				if sdk.ComparePosition(got, cp) < 0 {
					t.Fatalf("after recovery Get = %+v, want at least %+v", got, cp)
				}
				return
			}
		} else if !errors.Is(err, sdk.ErrUnavailable) {
			cancel()
			t.Fatalf("Set while recovering returned %v; want nil or sdk.ErrUnavailable", err)
		}
		cancel()
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within %v: last error %v", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- helpers ----

func mustSet(t *testing.T, ctx context.Context, s sdk.Store, k sdk.CheckpointKey, cp sdk.Checkpoint) {
	t.Helper()
	if err := s.Set(ctx, k, cp); err != nil {
		t.Fatalf("Set(%v, %+v): %v", k, cp, err)
	}
}

func mustGet(t *testing.T, ctx context.Context, s sdk.Store, k sdk.CheckpointKey) sdk.Checkpoint {
	t.Helper()
	cp, found, err := s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	if !found {
		t.Fatalf("Get(%v): found=false after a successful Set", k)
	}
	return cp
}

// wantCP checks what Get returns after plain Sets (see env.setResult).
func (e env) wantCP(t *testing.T, ctx context.Context, k sdk.CheckpointKey, want sdk.Checkpoint) {
	t.Helper()
	want = e.setResult(want)
	if got := mustGet(t, ctx, e.s, k); got != want {
		t.Fatalf("Get(%v)\n got %+v\nwant %+v", k, got, want)
	}
}

func seq(n int, digit byte) string { return strings.Repeat(string(digit), n) }

// ---- checks ----

func checkGetUnknown(t *testing.T, ctx context.Context, e env) {
	for _, k := range []sdk.CheckpointKey{e.key("stream", "shardId-000000000000"), {App: e.app + "-none", Stream: "s", ShardID: "x"}} {
		cp, found, err := e.s.Get(ctx, k)
		if err != nil {
			t.Fatalf("Get on a key never written: err = %v, want nil", err)
		}
		if found {
			t.Fatalf("Get on a key never written: found = true (%+v)", cp)
		}
		if cp != (sdk.Checkpoint{}) {
			t.Fatalf("Get on a key never written returned a non-zero checkpoint %+v", cp)
		}
	}
}

func checkRoundTrip(t *testing.T, ctx context.Context, e env) {
	cases := []sdk.Checkpoint{
		{SequenceNumber: "1"},
		{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", SubSequenceNumber: 3, Owner: "host-a", LeaseCounter: 1},
		{SequenceNumber: "1" + seq(127, '0'), SubSequenceNumber: 1<<62 + 5, Owner: "worker/ü:1", LeaseCounter: 1 << 40},
		{SequenceNumber: seq(128, '9'), LeaseCounter: 7},
	}
	for i, cp := range cases {
		k := e.key("roundtrip", fmt.Sprintf("shardId-%012d", i))
		mustSet(t, ctx, e.s, k, cp)
		e.wantCP(t, ctx, k, cp)
	}
	// Moving forward replaces every field.
	k := e.key("roundtrip", "forward")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "100", SubSequenceNumber: 9, Owner: "a", LeaseCounter: 1})
	next := sdk.Checkpoint{SequenceNumber: "101", Owner: "b", LeaseCounter: 2}
	mustSet(t, ctx, e.s, k, next)
	e.wantCP(t, ctx, k, next)
	next = sdk.Checkpoint{SequenceNumber: "102"}
	mustSet(t, ctx, e.s, k, next)
	e.wantCP(t, ctx, k, next)
}

func checkNeverBackwards(t *testing.T, ctx context.Context, e env) {
	k := e.key("backwards", "shardId-000000000001")
	stored := sdk.Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", Owner: "a", LeaseCounter: 3}
	mustSet(t, ctx, e.s, k, stored)
	for _, cp := range []sdk.Checkpoint{
		{SequenceNumber: "49590338271490256608559692538361571095921575989136588897", Owner: "b"}, // lower
		{SequenceNumber: "4959033827149025660855969253836157109592157598913658889", Owner: "b"},  // one digit shorter
		{SequenceNumber: "1", Owner: "b"},
		{SequenceNumber: stored.SequenceNumber, Owner: "b", LeaseCounter: 9}, // equal: no-op
	} {
		mustSet(t, ctx, e.s, k, cp)
		e.wantCP(t, ctx, k, stored)
	}
}

func checkBigIntegerOrder(t *testing.T, ctx context.Context, e env) {
	// "10" > "9" although "10" < "9" as strings.
	k := e.key("bigint", "a")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "10"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "9"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10"})

	k = e.key("bigint", "b")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "9"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "10"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "10"})

	// 128 digits, differing only in the last digit (beyond float64 and
	// int64 precision).
	k = e.key("bigint", "c")
	lo, hi := seq(127, '9')+"8", seq(128, '9')
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: lo})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: hi})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: lo})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: hi})

	// 127 nines < 1 followed by 127 zeros.
	k = e.key("bigint", "d")
	lo, hi = seq(127, '9'), "1"+seq(127, '0')
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: hi})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: lo})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: hi})

	// Differing early in a long number.
	k = e.key("bigint", "e")
	lo, hi = "2"+seq(60, '9'), "3"+seq(60, '0')
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: lo})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: hi})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: lo})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: hi})
}

func checkSubSequenceOrder(t *testing.T, ctx context.Context, e env) {
	k := e.key("subseq", "shardId-000000000002")
	s := "49590338271490256608559692538361571095921575989136588898"
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 5, Owner: "a"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 3, Owner: "b"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 5, Owner: "a"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 5, Owner: "c"})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 5, Owner: "a"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 6})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 6})
	// A later sequence number wins whatever its sub-sequence number.
	s2 := "49590338271490256608559692538361571095921575989136588899"
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s2})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: s2})
	// And a lower sequence number loses whatever its sub-sequence number.
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: 1 << 50})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: s2})
}

func checkShardEnd(t *testing.T, ctx context.Context, e env) {
	// ShardEnd with a sequence number, over an existing checkpoint.
	k := e.key("shardend", "parent-1")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "500", SubSequenceNumber: 2})
	end := sdk.Checkpoint{SequenceNumber: "600", ShardEnd: true, Owner: "a", LeaseCounter: 4}
	mustSet(t, ctx, e.s, k, end)
	e.wantCP(t, ctx, k, end)
	// Nothing moves a finished shard: not a larger number, not a larger
	// sub-sequence, not another ShardEnd.
	for _, cp := range []sdk.Checkpoint{
		{SequenceNumber: seq(128, '9'), SubSequenceNumber: 1 << 60},
		{SequenceNumber: "600", SubSequenceNumber: 1},
		{SequenceNumber: "700", ShardEnd: true, Owner: "b"},
	} {
		mustSet(t, ctx, e.s, k, cp)
		e.wantCP(t, ctx, k, end)
	}

	// ShardEnd on a key with no checkpoint yet.
	k = e.key("shardend", "parent-2")
	end = sdk.Checkpoint{SequenceNumber: seq(128, '9'), ShardEnd: true}
	mustSet(t, ctx, e.s, k, end)
	e.wantCP(t, ctx, k, end)

	// ShardEnd past a larger stored number: ShardEnd still wins.
	k = e.key("shardend", "parent-3")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "900"})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "900", ShardEnd: true})
	e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: "900", ShardEnd: true})

	// ShardEnd without a sequence number: reads back as ShardEnd with an
	// empty sequence number or the one stored before.
	k = e.key("shardend", "parent-4")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 1})
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{ShardEnd: true})
	got := mustGet(t, ctx, e.s, k)
	if !got.ShardEnd || (got.SequenceNumber != "" && got.SequenceNumber != "42") {
		t.Fatalf("after ShardEnd without a sequence number over 42: got %+v, want ShardEnd with \"\" or \"42\"", got)
	}
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: "43"})
	if got2 := mustGet(t, ctx, e.s, k); got2 != got {
		t.Fatalf("a sequence number moved a finished shard: %+v, then %+v", got, got2)
	}

	k = e.key("shardend", "parent-5")
	mustSet(t, ctx, e.s, k, sdk.Checkpoint{ShardEnd: true})
	got = mustGet(t, ctx, e.s, k)
	if !got.ShardEnd || got.SequenceNumber != "" {
		t.Fatalf("ShardEnd without a sequence number on a new key: got %+v, want {ShardEnd:true}", got)
	}
}

func checkShardEndKeepsSeedSequence(t *testing.T, ctx context.Context, e env, seed func(context.Context, sdk.CheckpointKey) (string, error)) {
	for i, before := range []sdk.Checkpoint{
		{SequenceNumber: "4242"},
		{SequenceNumber: seq(128, '7'), SubSequenceNumber: 3},
	} {
		k := e.key("seedend", fmt.Sprintf("parent-%d", i))
		mustSet(t, ctx, e.s, k, before)
		mustSet(t, ctx, e.s, k, sdk.Checkpoint{ShardEnd: true})
		got := mustGet(t, ctx, e.s, k)
		if !got.ShardEnd || (got.SequenceNumber != "" && got.SequenceNumber != before.SequenceNumber) {
			t.Fatalf("after ShardEnd over %s: got %+v, want ShardEnd", before.SequenceNumber, got)
		}
		s, err := seed(ctx, k)
		if err != nil {
			t.Fatalf("reading the seed layout of %+v: %v", k, err)
		}
		if s != before.SequenceNumber {
			t.Fatalf("after a ShardEnd write over sequence number %s, a seed-layout reader sees %q, want %s (the SHARD_END write must keep the last sequence number)",
				before.SequenceNumber, s, before.SequenceNumber)
		}
	}
}

func checkIsolation(t *testing.T, ctx context.Context, e env) {
	keys := []sdk.CheckpointKey{
		e.key("orders", "shardId-000000000000"),
		e.key("orders", "shardId-000000000001"),
		e.key("payments", "shardId-000000000000"),
		{App: e.app + "x", Stream: "orders", ShardID: "shardId-000000000000"},
		{App: e.app + "x", Stream: "payments", ShardID: "shardId-000000000001"},
	}
	for i, k := range keys {
		mustSet(t, ctx, e.s, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(1000 - i), Owner: fmt.Sprint("o", i)})
	}
	for i, k := range keys {
		e.wantCP(t, ctx, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(1000 - i), Owner: fmt.Sprint("o", i)})
	}
	// Untouched neighbours stay unknown.
	for _, k := range []sdk.CheckpointKey{
		e.key("orders", "shardId-000000000002"),
		e.key("payment", "shardId-000000000000"),
		{App: e.app + "y", Stream: "orders", ShardID: "shardId-000000000000"},
	} {
		if cp, found, err := e.s.Get(ctx, k); err != nil || found {
			t.Fatalf("Get(%v) = %+v, %v, %v; want not found", k, cp, found, err)
		}
	}
}

const (
	raceShards  = 64
	raceWriters = 8
	raceWrites  = 12
)

func checkRacingWriters(t *testing.T, ctx context.Context, e env) {
	type shardMax struct {
		mu  sync.Mutex
		max sdk.Checkpoint
	}
	maxes := make([]shardMax, raceShards)
	bs, _ := e.s.(sdk.BatchStore)
	var wg sync.WaitGroup
	errc := make(chan error, raceShards*raceWriters)
	for sh := 0; sh < raceShards; sh++ {
		k := e.key("race", fmt.Sprintf("shardId-%012d", sh))
		for w := 0; w < raceWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := mrand.New(mrand.NewPCG(uint64(sh), uint64(w)))
				cur := randBig(r, 18+r.IntN(20))
				for i := 0; i < raceWrites; i++ {
					var cp sdk.Checkpoint
					if i > 0 && r.IntN(4) == 0 {
						// Same sequence number, later sub-sequence.
						cp = sdk.Checkpoint{SequenceNumber: cur.String(), SubSequenceNumber: int64(i)}
					} else {
						// Grow by a random amount that often changes the length.
						step := randBig(r, 1+r.IntN(24))
						cur.Add(cur, step.Add(step, big.NewInt(1)))
						cp = sdk.Checkpoint{SequenceNumber: cur.String(), SubSequenceNumber: int64(r.IntN(3))}
					}
					cp.Owner = fmt.Sprintf("w%d", w)
					cp.LeaseCounter = int64(i)
					var err error
					if bs != nil && w%2 == 1 {
						errs := bs.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: k, Checkpoint: cp}})
						if len(errs) != 1 {
							err = fmt.Errorf("SetBatch returned %d results for 1 update", len(errs))
						} else {
							err = errs[0]
						}
					} else {
						err = e.s.Set(ctx, k, cp)
					}
					if err != nil {
						errc <- fmt.Errorf("Set(%v, %+v): %w", k, cp, err)
						return
					}
					m := &maxes[sh]
					m.mu.Lock()
					if sdk.ComparePosition(cp, m.max) > 0 {
						m.max = cp
					}
					m.mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for sh := 0; sh < raceShards; sh++ {
		k := e.key("race", fmt.Sprintf("shardId-%012d", sh))
		got := mustGet(t, ctx, e.s, k)
		if want := e.setResult(maxes[sh].max); got != want {
			t.Errorf("shard %d: stored %+v, want the maximum written %+v", sh, got, want)
		}
	}
}

func checkSetBatch(t *testing.T, ctx context.Context, e env) {
	bs, ok := e.s.(sdk.BatchStore)
	if !ok {
		t.Log("store does not implement sdk.BatchStore; checked through the plugin variant only")
		return
	}
	if errs := bs.SetBatch(ctx, nil); len(errs) != 0 {
		t.Fatalf("SetBatch(nil) returned %d results", len(errs))
	}
	k := func(i int) sdk.CheckpointKey { return e.key("batch", fmt.Sprintf("shardId-%012d", i)) }
	cp := func(s string, sub int64) sdk.Checkpoint {
		return sdk.Checkpoint{SequenceNumber: s, SubSequenceNumber: sub}
	}
	mustSet(t, ctx, e.s, k(0), cp("100", 0))
	mustSet(t, ctx, e.s, k(1), cp("100", 0))
	mustSet(t, ctx, e.s, k(2), cp("100", 5))
	mustSet(t, ctx, e.s, k(3), cp("100", 0))
	mustSet(t, ctx, e.s, k(4), sdk.Checkpoint{SequenceNumber: "100", ShardEnd: true})
	updates := []sdk.CheckpointUpdate{
		{Key: k(0), Checkpoint: cp("101", 0)},                                          // forward
		{Key: k(1), Checkpoint: cp("99", 0)},                                           // backward
		{Key: k(2), Checkpoint: cp("100", 4)},                                          // backward by sub-sequence
		{Key: k(3), Checkpoint: sdk.Checkpoint{SequenceNumber: "100", ShardEnd: true}}, // to the end
		{Key: k(4), Checkpoint: cp("1000", 0)},                                         // after the end
		{Key: k(5), Checkpoint: cp("7", 0)},                                            // new key
		{Key: k(6), Checkpoint: cp("20", 0)},                                           // new key, twice, larger first
		{Key: k(6), Checkpoint: cp("9", 0)},
		{Key: k(7), Checkpoint: cp("9", 0)}, // new key, twice, larger last
		{Key: k(7), Checkpoint: cp("20", 1)},
		{Key: k(0), Checkpoint: cp("100", 9)}, // backward within the same batch
	}
	errs := bs.SetBatch(ctx, updates)
	if len(errs) != len(updates) {
		t.Fatalf("SetBatch returned %d results for %d updates", len(errs), len(updates))
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SetBatch update %d (%+v): %v", i, updates[i], err)
		}
	}
	want := []sdk.Checkpoint{
		cp("101", 0), cp("100", 0), cp("100", 5),
		{SequenceNumber: "100", ShardEnd: true}, {SequenceNumber: "100", ShardEnd: true},
		cp("7", 0), cp("20", 0), cp("20", 1),
	}
	for i, w := range want {
		e.wantCP(t, ctx, k(i), w)
	}

	// A large batch across many shards.
	var big []sdk.CheckpointUpdate
	for i := 0; i < 200; i++ {
		big = append(big, sdk.CheckpointUpdate{Key: e.key("batch-large", fmt.Sprint("s", i)), Checkpoint: cp(fmt.Sprint(1000+i), int64(i))})
	}
	for i, err := range bs.SetBatch(ctx, big) {
		if err != nil {
			t.Fatalf("large SetBatch update %d: %v", i, err)
		}
	}
	for i := 0; i < 200; i += 37 {
		e.wantCP(t, ctx, big[i].Key, big[i].Checkpoint)
	}
}

// randBig returns a random non-negative integer of at most digits digits.
func randBig(r *mrand.Rand, digits int) *big.Int {
	b := make([]byte, digits)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	n, _ := new(big.Int).SetString(string(b), 10)
	return n
}
