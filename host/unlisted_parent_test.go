package host_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// Repro: a merge child learned from ChildShards starts before its second
// parent, because that parent was created after the last ListShards and
// Lineage treats an unknown parent like a trimmed one.
func TestMergeChildWaitsForUnlistedParent(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	sh := f.Shards("s")
	s0, s1 := *sh[0].ShardId, *sh[1].ShardId
	for i := 0; i < 5; i++ {
		_, _ = f.PutRecordToShard("s", s0, "k", []byte("s0-"+rname(i)))
	}
	for i := 0; i < 200; i++ { // s1 takes a few seconds to drain
		_, _ = f.PutRecordToShard("s", s1, "k", []byte("s1-"+rname(i)))
	}
	r := newRig(t, f)
	r.start(`shard_sync_interval = "60s"
  max_records = 10`, `delay = "20ms"`, "")
	r.waitDistinct(5, 10*time.Second) // s0 read; the host has listed once

	// After that listing: split s1 (children s2, s3), merge s0 with s2 into s4.
	lo, _ := new(big.Int).SetString(*sh[1].HashKeyRange.StartingHashKey, 10)
	hi, _ := new(big.Int).SetString(*sh[1].HashKeyRange.EndingHashKey, 10)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	if err := f.SplitShard("s", s1, mid.String()); err != nil {
		t.Fatal(err)
	}
	s2 := "shardId-000000000002"
	for i := 0; i < 20; i++ {
		_, _ = f.PutRecordToShard("s", s2, "k", []byte("s2-"+rname(i)))
	}
	if err := f.MergeShards("s", s0, s2); err != nil {
		t.Fatal(err)
	}
	s4 := "shardId-000000000004"
	for i := 0; i < 5; i++ {
		_, _ = f.PutRecordToShard("s", s4, "k", []byte("s4-"+rname(i)))
	}
	ds := r.waitDistinct(230, 30*time.Second)
	lastS2, firstS4 := -1, -1
	for i, d := range ds {
		if d.Shard == s2 {
			lastS2 = i
		}
		if d.Shard == s4 && firstS4 < 0 {
			firstS4 = i
		}
	}
	if firstS4 < lastS2 {
		t.Fatalf("merge child %s first delivered (#%d) before the last delivery of its parent %s (#%d)", s4, firstS4, s2, lastS2)
	}
}
