package host_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// TestDrainNeverWaitsOnRetries: a drain while a record keeps failing (its
// retry backoff far longer than shutdown_timeout) stops at once: the
// failing record is not delivered again, the host does not sit out the
// backoff or the shutdown timeout, and the checkpoint stays before the
// record, so the next start delivers it again.
func TestDrainNeverWaitsOnRetries(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var poisonSeq string
	for i := 0; i < 10; i++ {
		d := rname(i)
		if i == 5 {
			d = "poison"
		}
		seq, _ := f.PutRecordToShard("s", sh, "k", []byte(d))
		if i == 5 {
			poisonSeq = seq
		}
	}
	r := newRig(t, f) // shutdown_timeout = "10s"
	r.start("", `fail_data = "poison"`, "max_attempts = 1000\n  retry_backoff = \"1m\"")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.logBuf.String(), "record failed; delivering it again") {
		if time.Now().After(deadline) {
			t.Fatal("the poison record never failed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	r.h.Drain()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	took := time.Since(t0)
	log := r.logBuf.String()
	if !strings.Contains(log, "not delivered again now") {
		t.Errorf("the drain did not stop the retries of the failing record (took %s)", took)
	}
	// The drain must not wait out shutdown_timeout (10 s): it had nothing
	// in flight. The margin is wide: a drain takes milliseconds.
	if took > 7*time.Second {
		t.Errorf("drain took %s: it waited on the retry loop", took)
	}
	if cp := r.checkpoint(sh); sdk.CompareSequence(cp.SequenceNumber, poisonSeq) >= 0 {
		t.Fatalf("checkpoint %s reached the failing record %s", cp.SequenceNumber, poisonSeq)
	}
}
