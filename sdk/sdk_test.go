package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinesis-host/kinesis-host/sdk"
)

func recs(n int) []sdk.Record {
	out := make([]sdk.Record, n)
	for i := range out {
		out[i] = sdk.Record{Data: []byte(fmt.Sprint(i)), PartitionKey: "pk", SequenceNumber: fmt.Sprint(100 + i)}
	}
	return out
}

func TestHandlerFuncStatuses(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name   string
		status map[int]sdk.ScanStatus // by record index
		want   sdk.BatchResult
	}{
		{"all done", nil, sdk.BatchResult{Acked: 5, CheckpointTo: 5}},
		{"skip last", map[int]sdk.ScanStatus{4: {SkipCheckpoint: true}}, sdk.BatchResult{Acked: 5, CheckpointTo: 4}},
		{"skip middle is covered by later", map[int]sdk.ScanStatus{2: {SkipCheckpoint: true}}, sdk.BatchResult{Acked: 5, CheckpointTo: 5}},
		{"stop", map[int]sdk.ScanStatus{1: {StopScan: true}}, sdk.BatchResult{Acked: 2, CheckpointTo: 2, StopScan: true}},
		{"stop and skip", map[int]sdk.ScanStatus{1: {StopScan: true, SkipCheckpoint: true}}, sdk.BatchResult{Acked: 2, CheckpointTo: 1, StopScan: true}},
		{"error", map[int]sdk.ScanStatus{3: {Error: boom}}, sdk.BatchResult{Acked: 3, CheckpointTo: 3, Error: boom}},
		{"error first", map[int]sdk.ScanStatus{0: {Error: boom}}, sdk.BatchResult{Error: boom}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			h := sdk.HandlerFunc(func(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
				seen = append(seen, r.SequenceNumber)
				if r.ShardID != "shard-1" {
					t.Errorf("ShardID = %q", r.ShardID)
				}
				var i int
				fmt.Sscan(r.SequenceNumber, &i)
				return tc.status[i-100]
			})
			// Through the real RPC boundary.
			c := sdk.TestHandler(t, h)
			got, err := c.HandleBatch(context.Background(), &sdk.Batch{ShardID: "shard-1", Records: recs(5)})
			if err != nil {
				t.Fatal(err)
			}
			if got.Acked != tc.want.Acked || got.CheckpointTo != tc.want.CheckpointTo || got.StopScan != tc.want.StopScan {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if (got.Error != nil) != (tc.want.Error != nil) {
				t.Fatalf("error = %v, want %v", got.Error, tc.want.Error)
			}
			if got.Error != nil {
				if !errors.Is(got.Error, sdk.ErrHandler) || got.Error.Error() != "boom" {
					t.Fatalf("error %v: want code handler and text boom", got.Error)
				}
			}
		})
	}
}

type badHandler struct{}

func (badHandler) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	return sdk.BatchResult{Acked: len(b.Records) + 1, CheckpointTo: 1}
}

type errAllAcked struct{}

func (errAllAcked) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	r := sdk.AckAll(b)
	r.Error = errors.New("which record?")
	return r
}

type panicHandler struct{}

func (panicHandler) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult { panic("oops") }

func TestInvalidResultAndPanicAreErrors(t *testing.T) {
	for name, h := range map[string]sdk.Handler{"invalid": badHandler{}, "panic": panicHandler{}, "error after all acked": errAllAcked{}} {
		c := sdk.TestHandler(t, h)
		got, err := c.HandleBatch(context.Background(), &sdk.Batch{ShardID: "s", Records: recs(2)})
		if err != nil {
			t.Fatal(name, err)
		}
		if got.Error == nil || got.Acked != 0 || got.CheckpointTo != 0 {
			t.Fatalf("%s: got %+v, want an error and nothing acknowledged", name, got)
		}
	}
}

type cfgHandler struct {
	sdk.HandlerFunc
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
}

func (h *cfgHandler) Configure(ctx context.Context, c sdk.Config) error { return c.Decode(h) }

func TestConfigDecodeErrorsNameTheField(t *testing.T) {
	h := &cfgHandler{HandlerFunc: func(context.Context, *sdk.Record) sdk.ScanStatus { return sdk.ScanStatus{} }}
	c := sdk.TestHandler(t, h)
	ctx := context.Background()
	if err := c.Configure(ctx, `{"prefix":"x","count":3}`); err != nil || h.Prefix != "x" || h.Count != 3 {
		t.Fatalf("good config: err=%v h=%+v", err, h)
	}
	for cfg, field := range map[string]string{`{"prefx":"x"}`: "prefx", `{"count":"many"}`: "count"} {
		err := c.Configure(ctx, cfg)
		var se *sdk.Error
		if !errors.As(err, &se) || !errors.Is(err, sdk.ErrInvalidConfig) || se.Field != field {
			t.Fatalf("%s: err = %#v, want invalid config on field %q", cfg, err, field)
		}
		if !strings.Contains(err.Error(), field) {
			t.Fatalf("message %q does not name %q", err, field)
		}
	}
}

func TestCompareSequence(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1", "2", -1}, {"10", "9", 1}, {"009", "9", 0}, {"", "0001", -1}, {"", "", 0},
		{"49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692538361571095921575989136588899", -1},
		{"9" + strings.Repeat("0", 127), strings.Repeat("9", 127), 1},
	}
	for _, c := range cases {
		if got := sdk.CompareSequence(c.a, c.b); got != c.want {
			t.Errorf("CompareSequence(%q,%q)=%d want %d", c.a, c.b, got, c.want)
		}
	}
	end := sdk.Checkpoint{ShardEnd: true}
	if sdk.ComparePosition(end, sdk.Checkpoint{SequenceNumber: strings.Repeat("9", 128)}) != 1 {
		t.Fatal("ShardEnd must be past every sequence")
	}
	if sdk.ComparePosition(sdk.Checkpoint{SequenceNumber: "5", SubSequenceNumber: 2}, sdk.Checkpoint{SequenceNumber: "5", SubSequenceNumber: 1}) != 1 {
		t.Fatal("sub-sequence must order within a sequence")
	}
}
