package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// panicAt is a per-record handler that panics on the record with sequence
// number 100+k (recs numbers them from 100) and skips the checkpoint of
// record skip (-1: none).
func panicAt(k, skip int, how string) func(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
	return func(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
		var i int
		fmt.Sscan(r.SequenceNumber, &i)
		if i-100 == k {
			switch how {
			case "nil":
				var m map[string]*int
				return sdk.ScanStatus{SkipCheckpoint: *m["x"] == 0} // nil dereference: a runtime error
			case "error":
				panic(errors.New("boom as an error"))
			default:
				panic(fmt.Sprintf("boom-%d", k))
			}
		}
		return sdk.ScanStatus{SkipCheckpoint: i-100 == skip}
	}
}

func checkPanicResult(t *testing.T, got sdk.BatchResult, acked, cpTo int, value string) {
	t.Helper()
	if got.Acked != acked || got.CheckpointTo != cpTo || got.StopScan {
		t.Fatalf("got Acked=%d CheckpointTo=%d Stop=%v, want Acked=%d CheckpointTo=%d: the records before the panic are done, the panicking one is not",
			got.Acked, got.CheckpointTo, got.StopScan, acked, cpTo)
	}
	if got.Error == nil || !errors.Is(got.Error, sdk.ErrHandler) {
		t.Fatalf("error = %#v, want a handler error (code %q)", got.Error, sdk.ErrHandler.Code)
	}
	msg := got.Error.Error()
	for _, want := range []string{value, fmt.Sprintf("record %d", 100+acked), "shard-1", "sdk/eachrecord_test.go:", "panicAt"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

// TestEachRecordPanicIsThatRecordsError: a panic at record k acknowledges
// records 0..k-1 and fails record k with a handler error naming the panic
// value and where it happened, both called directly and through the RPC
// boundary (HandlerFunc served by TestHandler). Before the fix the panic
// escaped EachRecord and the whole batch was blamed on record 0.
func TestEachRecordPanicIsThatRecordsError(t *testing.T) {
	cases := []struct {
		name              string
		k, skip           int
		how, value        string
		wantAck, wantCkpt int
	}{
		{"middle", 3, -1, "", "boom-3", 3, 3},
		{"first", 0, -1, "", "boom-0", 0, 0},
		{"last", 5, -1, "", "boom-5", 5, 5},
		{"after a skipped checkpoint", 3, 2, "", "boom-3", 3, 2},
		{"runtime error", 2, -1, "nil", "nil pointer dereference", 2, 2},
		{"error value", 4, -1, "error", "boom as an error", 4, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fn := panicAt(tc.k, tc.skip, tc.how)
			b := &sdk.Batch{ShardID: "shard-1", Records: recs(6)}
			for i := range b.Records {
				b.Records[i].ShardID = "shard-1"
			}
			checkPanicResult(t, sdk.EachRecord(context.Background(), b, fn), tc.wantAck, tc.wantCkpt, tc.value)

			c := sdk.TestHandler(t, sdk.HandlerFunc(fn))
			got, err := c.HandleBatch(context.Background(), &sdk.Batch{ShardID: "shard-1", Records: recs(6)})
			if err != nil {
				t.Fatalf("transport error %v: the plugin must survive a handler panic", err)
			}
			checkPanicResult(t, got, tc.wantAck, tc.wantCkpt, tc.value)
			// The same plugin still serves: the rest of the batch goes through.
			got, err = c.HandleBatch(context.Background(), &sdk.Batch{ShardID: "shard-1", Records: recs(6)[tc.k+1:]})
			if err != nil || got.Error != nil || got.Acked != 5-tc.k {
				t.Fatalf("after the panic: %+v, %v; want the rest acknowledged", got, err)
			}
		})
	}
}

type batchPanic struct {
	mu    sync.Mutex
	calls int
}

func (h *batchPanic) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	if string(b.Records[0].Data) == "0" {
		panic("batch went wrong")
	}
	return sdk.AckAll(b)
}

// TestBatchHandlerPanicIsABatchError: a Handler (not EachRecord) that
// panics does not crash the plugin: the batch comes back unacknowledged
// with a batch error (code batch_failed: the host splits the batch to find
// the record) saying what panicked and where; a concurrent and a later call on the same plugin are served.
func TestBatchHandlerPanicIsABatchError(t *testing.T) {
	h := &batchPanic{}
	c := sdk.TestHandler(t, h)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]sdk.BatchResult, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := recs(4)
			if i%2 == 1 {
				rs = rs[1:] // starts at "1": does not panic
			}
			results[i], errs[i] = c.HandleBatch(ctx, &sdk.Batch{ShardID: fmt.Sprintf("shard-%d", i), Records: rs})
		}()
	}
	wg.Wait()
	for i, got := range results {
		if errs[i] != nil {
			t.Fatalf("call %d: transport error %v: the plugin must survive", i, errs[i])
		}
		if i%2 == 1 {
			if got.Error != nil || got.Acked != 3 {
				t.Fatalf("call %d (no panic): %+v, want all 3 acknowledged", i, got)
			}
			continue
		}
		if got.Acked != 0 || got.CheckpointTo != 0 || !errors.Is(got.Error, sdk.ErrBatchFailed) {
			t.Fatalf("call %d: %+v, want nothing acknowledged and a batch error (the host bisects it)", i, got)
		}
		msg := got.Error.Error()
		for _, want := range []string{"HandleBatch panicked", "batch went wrong", fmt.Sprintf("shard-%d", i), "starting at 100", "sdk/eachrecord_test.go:", "splits the batch"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
		if strings.Contains(msg, "goroutine ") {
			t.Errorf("error %q carries a whole stack; it belongs in the plugin log", msg)
		}
	}
}
