package host_test

import (
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// Repro: start_position = LATEST, the first GetRecords calls are throttled
// long enough for the iterator to expire; a record written meanwhile is
// lost because the renewal asks for LATEST again (no record read yet).
func TestLatestExpiryBeforeFirstRecordLosesNothing(t *testing.T) {
	f := kinesisfake.New()
	f.IteratorTTL = 500 * time.Millisecond // stands in for AWS's 5 minutes
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	f.FailNext(kinesisfake.OpGetRecords, 4, kinesisfake.Throttle) // ~200+400+800 ms of backoff
	r := newRig(t, f)
	r.start(`start_position = "LATEST"`, "", "")
	time.Sleep(100 * time.Millisecond) // the host has its LATEST iterator and is being throttled
	if _, err := f.PutRecordToShard("s", sh, "k", []byte("written-while-throttled")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	if ds := r.deliveries(); len(ds) == 0 {
		t.Fatalf("record written after the LATEST iterator was taken was never delivered (GetShardIterator calls: %d)", f.Calls(kinesisfake.OpGetShardIterator))
	}
}
