package host_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// defaultStart is a stream block line that keeps the rig from setting
// start_position: the host runs on the shipped default, LATEST.
const defaultStart = "# start_position: the shipped default (LATEST)\n  shard_sync_interval = \"1s\""

// lifecycleEvents reads the recorder's lifecycle_out file.
func lifecycleEvents(path string) []map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev map[string]string
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

// waitStarted waits until shard_started was reported for n shards (the
// host holds their iterators: records put from now on are after LATEST).
func waitStarted(t *testing.T, path string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		started := map[string]string{}
		for _, ev := range lifecycleEvents(path) {
			if ev["event"] == "shard_started" {
				started[ev["shard"]] = ev["position"]
			}
		}
		if len(started) >= n {
			return started
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d shards started: %v", len(started), n, started)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func childrenOf(f *kinesisfake.Fake, parent string) []string {
	var kids []string
	for _, s := range f.Shards("s") {
		if (s.ParentShardId != nil && *s.ParentShardId == parent) || (s.AdjacentParentShardId != nil && *s.AdjacentParentShardId == parent) {
			kids = append(kids, *s.ShardId)
		}
	}
	return kids
}

func putTo(t *testing.T, f *kinesisfake.Fake, shard, prefix string, n int) []string {
	t.Helper()
	var data []string
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("%s-%03d", prefix, i)
		if _, err := f.PutRecordToShard("s", shard, "k", []byte(d)); err != nil {
			t.Fatal(err)
		}
		data = append(data, d)
	}
	return data
}

func split(t *testing.T, f *kinesisfake.Fake, shard string) []string {
	t.Helper()
	for _, s := range f.Shards("s") {
		if *s.ShardId != shard {
			continue
		}
		lo, hi := s.HashKeyRange.StartingHashKey, s.HashKeyRange.EndingHashKey
		mid := midHashKey(*lo, *hi)
		if err := f.SplitShard("s", shard, mid); err != nil {
			t.Fatal(err)
		}
		return childrenOf(f, shard)
	}
	t.Fatalf("no shard %s", shard)
	return nil
}

// checkData asserts that exactly want (as a set) was delivered, with no
// record missing; every record of notWant must be absent.
func checkData(t *testing.T, r *rig, want, notWant []string) {
	t.Helper()
	got := map[string]bool{}
	for _, d := range r.deliveries() {
		got[d.Data] = true
	}
	missing := 0
	for _, w := range want {
		if !got[w] {
			missing++
			if missing <= 5 {
				t.Errorf("record %s was never delivered", w)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records lost", missing, len(want))
	}
	for _, n := range notWant {
		if got[n] {
			t.Errorf("record %s delivered; it is before the start position", n)
		}
	}
}

// waitData waits until every record of want was delivered (or fails with
// what is missing after 20 s).
func waitData(t *testing.T, r *rig, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]bool{}
		for _, d := range r.deliveries() {
			got[d.Data] = true
		}
		n := 0
		for _, w := range want {
			if got[w] {
				n++
			}
		}
		if n == len(want) {
			return
		}
		if time.Now().After(deadline) {
			checkData(t, r, want, nil)
			t.FailNow()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReshardAtDefaultLatestLosesNothing reshards a stream consumed at the
// default start position, LATEST: the children of a split made while the
// host runs, and of one made while it is stopped, are read from their
// first record (records producers wrote to a child before the host reached
// it are delivered, not skipped), and the restart also lands between a
// parent's SHARD_END and its children's first checkpoint.
func TestReshardAtDefaultLatestLosesNothing(t *testing.T) {
	t.Run("polling", func(t *testing.T) { reshardAtLatest(t, false) })
	t.Run("efo", func(t *testing.T) { reshardAtLatest(t, true) })
}

func reshardAtLatest(t *testing.T, efo bool) {
	f := kinesisfake.New()
	var api host.KinesisAPI = f
	stream := defaultStart
	if efo {
		_, api = efoServer(t, f, kinesisfake.WithResubscribeGap(0))
		stream += "\n  consumer = \"efo\""
	}
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	shards := f.Shards("s")
	s0, s1 := *shards[0].ShardId, *shards[1].ShardId
	old := putTo(t, f, s0, "before-start", 5) // before the first start: LATEST skips these
	r := newRig(t, f)
	life := filepath.Join(r.dir, "life.jsonl")
	r.startAPI(api, stream, fmt.Sprintf("lifecycle_out = %q", life), "")
	for id, pos := range waitStarted(t, life, 2) {
		if pos != "LATEST" {
			t.Fatalf("shard %s started at %s on the first start, want LATEST (the default)", id, pos)
		}
	}
	var want []string
	want = append(want, putTo(t, f, s0, "p0", 10)...)
	want = append(want, putTo(t, f, s1, "p1", 10)...)
	waitData(t, r, want)

	// 1. Split while running; producers write to the children at once,
	// before the host has read the parent to its end.
	kids0 := split(t, f, s0)
	want = append(want, putTo(t, f, kids0[0], "c0a", 10)...)
	want = append(want, putTo(t, f, kids0[1], "c0b", 10)...)
	waitData(t, r, want)

	// 2. Split again while running, but stop the host once the parent is
	// read to its end and before its (empty) children have a checkpoint;
	// records reach the children while the host is down.
	kids1 := split(t, f, s1)
	waitStarted(t, life, 2+2+2)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if cp := r.checkpoint(s1); !cp.ShardEnd {
		t.Fatalf("parent %s checkpoint %+v, want SHARD_END", s1, cp)
	}
	want = append(want, putTo(t, f, kids1[0], "c1a", 10)...)
	want = append(want, putTo(t, f, kids1[1], "c1b", 10)...)

	// 3. While the host is down: more records in a child of split 1, then
	// split it; its children get records too. The restarted host must
	// read both generations from their first record.
	grand := split(t, f, kids1[0])
	want = append(want, putTo(t, f, grand[0], "g-a", 10)...)
	want = append(want, putTo(t, f, grand[1], "g-b", 10)...)

	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.startAPI(api, stream, fmt.Sprintf("lifecycle_out = %q", life), "")
	waitData(t, r2, want)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkData(t, r2, want, old)
	if log := r2.logBuf.String(); !strings.Contains(log, "stream has checkpoints of this app") {
		t.Errorf("the restarted host did not log that start_position no longer applies")
	}
}

// TestFirstStartAtLatestSkipsClosedShards: on the very first start at
// LATEST, a shard that is already closed is recorded as read to its end
// (SHARD_END) without being read, its open children start at LATEST, and
// nothing old is replayed.
func TestFirstStartAtLatestSkipsClosedShards(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	old := putTo(t, f, parent, "old-p", 10)
	kids := split(t, f, parent)
	old = append(old, putTo(t, f, kids[0], "old-a", 5)...)
	old = append(old, putTo(t, f, kids[1], "old-b", 5)...)

	r := newRig(t, f)
	life := filepath.Join(r.dir, "life.jsonl")
	r.start(defaultStart, fmt.Sprintf("lifecycle_out = %q", life), "")
	for id, pos := range waitStarted(t, life, 2) {
		if id == parent {
			t.Fatalf("the closed parent %s was read on a first start at LATEST", parent)
		}
		if pos != "LATEST" {
			t.Fatalf("child %s started at %s, want LATEST", id, pos)
		}
	}
	var want []string
	want = append(want, putTo(t, f, kids[0], "new-a", 5)...)
	want = append(want, putTo(t, f, kids[1], "new-b", 5)...)
	waitData(t, r, want)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkData(t, r, want, old)
	if cp := r.checkpoint(parent); !cp.ShardEnd {
		t.Fatalf("closed parent: checkpoint %+v, want SHARD_END", cp)
	}
}

// TestFirstStartAtTimestampReadsLineageFromTimestamp: at AT_TIMESTAMP,
// every shard that can hold records at or after the timestamp is read
// from it, parents before children: a closed parent's records after the
// timestamp, then its children's.
func TestFirstStartAtTimestampReadsLineageFromTimestamp(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	old := putTo(t, f, parent, "old", 10)
	time.Sleep(20 * time.Millisecond)
	ts := time.Now().UTC().Truncate(time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	want := putTo(t, f, parent, "p", 10)
	kids := split(t, f, parent)
	want = append(want, putTo(t, f, kids[0], "ca", 5)...)
	want = append(want, putTo(t, f, kids[1], "cb", 5)...)

	r := newRig(t, f)
	r.start(fmt.Sprintf("start_position = \"AT_TIMESTAMP\"\n  start_timestamp = %q\n  shard_sync_interval = \"1s\"", ts.Format(time.RFC3339Nano)), "", "")
	waitData(t, r, want)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkData(t, r, want, old)
	// Parents before children.
	lastParent, firstChild := -1, -1
	for i, d := range r.deliveries() {
		if d.Shard == parent {
			lastParent = i
		} else if firstChild < 0 {
			firstChild = i
		}
	}
	if firstChild < lastParent {
		t.Errorf("a child record was delivered (#%d) before the parent's last (#%d)", firstChild, lastParent)
	}
}

// midHashKey is the middle of a hash key range (decimal strings).
func midHashKey(lo, hi string) string {
	a, _ := new(big.Int).SetString(lo, 10)
	b, _ := new(big.Int).SetString(hi, 10)
	return new(big.Int).Rsh(new(big.Int).Add(a, b), 1).String()
}

// TestKPLCheckpointInsideAggregateWithoutDeaggregate: a checkpoint inside
// a KPL aggregate (written with deaggregate = true, the handler stopped
// after user record 2 of 6) and a restart with deaggregate = false: the
// aggregate is delivered again whole (at-least-once), never skipped.
func TestKPLCheckpointInsideAggregateWithoutDeaggregate(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var keys []string
	var data [][]byte
	for i := 0; i < 6; i++ {
		keys = append(keys, "pk")
		data = append(data, []byte(fmt.Sprintf("b-%d", i)))
	}
	agg := host.Aggregate(keys, data)
	aggSeq, err := f.PutRecordToShard("s", sh, "agg", agg)
	if err != nil {
		t.Fatal(err)
	}
	after := putTo(t, f, sh, "plain", 3)

	r := newRig(t, f)
	r.start("deaggregate = true", `stop_data = "b-2"`, "")
	if err := r.wait(20 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cp := r.checkpoint(sh); cp.SequenceNumber != aggSeq || cp.SubSequenceNumber != 2 {
		t.Fatalf("checkpoint = %+v, want (%s, 2)", cp, aggSeq)
	}
	before := len(r.deliveries())

	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.start("deaggregate = false", "", "")
	waitData(t, r2, after)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	var whole bool
	for _, d := range r2.deliveries()[before:] {
		if d.Seq == aggSeq && d.Sub == 0 {
			whole = true
		}
	}
	if !whole {
		t.Fatalf("the aggregate %s was not delivered again whole after the restart with deaggregate = false: %d records after it skipped to", aggSeq, len(after))
	}
}
