package sdk_test

import (
	"bytes"
	"context"
	"fmt"
	"net/rpc"
	"strings"
	"testing"
	"time"
	"unsafe"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// keeper is a handler that copies what it sees (as the Data rule asks) and
// records how Data relates to the buffer it came in.
type keeper struct {
	got        []sdk.Record
	capped     bool
	contiguous bool // every Data follows the previous one in memory: one buffer
}

func (k *keeper) HandleBatch(_ context.Context, b *sdk.Batch) sdk.BatchResult {
	k.got = k.got[:0]
	k.capped, k.contiguous = true, len(b.Records) > 1
	for i, r := range b.Records {
		if cap(r.Data) != len(r.Data) {
			k.capped = false
		}
		if i > 0 {
			prev := b.Records[i-1].Data
			if len(prev) == 0 || len(r.Data) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(prev)))+uintptr(len(prev)) != uintptr(unsafe.Pointer(unsafe.SliceData(r.Data))) {
				k.contiguous = false
			}
		}
		r.Data = bytes.Clone(r.Data)
		k.got = append(k.got, r)
	}
	return sdk.AckAll(b)
}

func wireRecords(n int) []sdk.Record {
	now := time.Date(2026, 12, 5, 0, 0, 0, 123, time.UTC)
	out := make([]sdk.Record, n)
	for i := range out {
		out[i] = sdk.Record{Data: []byte(fmt.Sprintf("payload-%d", i)), PartitionKey: fmt.Sprint("pk-", i), SequenceNumber: fmt.Sprint(1000 + i),
			SubSequenceNumber: int64(i % 3), ApproximateArrivalTimestamp: now.Add(time.Duration(i) * time.Second)}
	}
	return out
}

func checkSame(t *testing.T, got, want []sdk.Record, shard string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Data, w.Data) || g.PartitionKey != w.PartitionKey || g.SequenceNumber != w.SequenceNumber ||
			g.SubSequenceNumber != w.SubSequenceNumber || !g.ApproximateArrivalTimestamp.Equal(w.ApproximateArrivalTimestamp) || g.ShardID != shard {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestHandler sends packed batches, as the host does: every field arrives,
// each Data is a capped slice of one buffer.
func TestTestHandlerDeliversPacked(t *testing.T) {
	k := &keeper{}
	c := sdk.TestHandler(t, k)
	want := wireRecords(50)
	res, err := c.HandleBatch(context.Background(), &sdk.Batch{Stream: "s", ShardID: "shardId-7", Records: want})
	if err != nil || res.Acked != 50 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	checkSame(t, k.got, want, "shardId-7")
	if !k.capped || !k.contiguous {
		t.Fatalf("Data capped %v, one buffer %v; want both", k.capped, k.contiguous)
	}
}

// rawHandlerPlugin serves a new sdk handler and hands the test the raw
// net/rpc client, to send requests as hosts of other versions do.
type rawHandlerPlugin struct{ shared.HandlerPlugin }

func (p *rawHandlerPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) { return c, nil }

func rawClient(t *testing.T, h sdk.Handler) *rpc.Client {
	t.Helper()
	p := &rawHandlerPlugin{shared.HandlerPlugin{Impl: sdk.NewHandlerServer(h)}}
	client, _ := plugin.TestPluginRPCConn(t, map[string]plugin.Plugin{shared.HandlerPluginName: p}, nil)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(shared.HandlerPluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*rpc.Client)
}

// What a host built before packed batches sends: no Packed field at all.
type oldRecord struct {
	Data                        []byte
	PartitionKey                string
	SequenceNumber              string
	SubSequenceNumber           int64
	ApproximateArrivalTimestamp time.Time
}

type oldBatchRequest struct {
	Stream, ShardID    string
	Records            []oldRecord
	MillisBehindLatest int64
	Attempt            int
	TimeoutMillis      int64
}

// A new plugin under an old host gets Records and works, and says it reads
// packed batches in its Info answer.
func TestOldHostNewPlugin(t *testing.T) {
	k := &keeper{}
	c := rawClient(t, k)
	var info shared.InfoResponse
	if err := c.Call("Plugin.Info", shared.Empty{}, &info); err != nil {
		t.Fatal(err)
	}
	if info.WireVersion != shared.WirePacked {
		t.Fatalf("Info.WireVersion %d, want %d", info.WireVersion, shared.WirePacked)
	}
	want := wireRecords(5)
	req := oldBatchRequest{Stream: "s", ShardID: "shardId-1", Attempt: 1}
	for _, r := range want {
		req.Records = append(req.Records, oldRecord{r.Data, r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.ApproximateArrivalTimestamp})
	}
	var resp shared.BatchResponse
	if err := c.Call("Plugin.HandleBatch", req, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Acked != 5 || resp.CheckpointTo != 5 || resp.Err != nil {
		t.Fatalf("resp %+v", resp)
	}
	checkSame(t, k.got, want, "shardId-1")
}

// A request the sdk cannot read fails the call; the handler never runs.
func TestMalformedPackedFailsTheCall(t *testing.T) {
	k := &keeper{}
	c := rawClient(t, k)
	good := shared.AppendPacked(nil, []shared.Record{{Data: []byte("x"), SequenceNumber: "1"}})
	for name, req := range map[string]shared.BatchRequest{
		"truncated":    {ShardID: "shardId-1", Packed: good[:len(good)-1]},
		"both records": {ShardID: "shardId-1", Packed: good, Records: []shared.Record{{SequenceNumber: "1"}}},
	} {
		var resp shared.BatchResponse
		err := c.Call("Plugin.HandleBatch", req, &resp)
		if err == nil || !strings.Contains(err.Error(), "shardId-1") {
			t.Fatalf("%s: got %v (resp %+v), want a failed call", name, err, resp)
		}
		if k.got != nil {
			t.Fatalf("%s: the handler ran", name)
		}
	}
}

// A batch Handler panic on a packed batch still names the batch.
func TestBatchPanicOnPackedBatch(t *testing.T) {
	c := sdk.TestHandler(t, panicOnBatch{})
	res, err := c.HandleBatch(context.Background(), &sdk.Batch{ShardID: "shardId-3", Records: wireRecords(3)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || !strings.Contains(res.Error.Error(), "3 record(s) of shard shardId-3 starting at 1000") {
		t.Fatalf("got %v", res.Error)
	}
}

type panicOnBatch struct{}

func (panicOnBatch) HandleBatch(context.Context, *sdk.Batch) sdk.BatchResult { panic("boom") }

type discard struct{}

func (discard) HandleBatch(_ context.Context, b *sdk.Batch) sdk.BatchResult { return sdk.AckAll(b) }

// BenchmarkHandleBatchRPC is one batch of 500 records through the real
// net/rpc boundary (go-plugin's in-memory connection, host and plugin side
// in this process, so B/op and allocs/op count both), in the old Records
// form and packed.
func BenchmarkHandleBatchRPC(b *testing.B) {
	for _, size := range []int{100, 1024} {
		recs := make([]shared.Record, 500)
		for i := range recs {
			recs[i] = shared.Record{Data: bytes.Repeat([]byte{'x'}, size), PartitionKey: fmt.Sprint("partition-key-", i%64),
				SequenceNumber: fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", i), ApproximateArrivalTimestamp: time.Now()}
		}
		for _, form := range []struct {
			name string
			v    int
		}{{"records", shared.WireRecords}, {"packed", shared.WirePacked}} {
			b.Run(fmt.Sprintf("%s/%dB", form.name, size), func(b *testing.B) {
				client, _ := plugin.TestPluginRPCConn(b, map[string]plugin.Plugin{
					shared.HandlerPluginName: &shared.HandlerPlugin{Impl: sdk.NewHandlerServer(discard{})}}, nil)
				defer client.Close()
				raw, err := client.Dispense(shared.HandlerPluginName)
				if err != nil {
					b.Fatal(err)
				}
				c := raw.(*shared.HandlerClient)
				c.SetWireVersion(form.v)
				ctx := context.Background()
				b.SetBytes(int64(500 * size))
				b.ReportAllocs()
				for b.Loop() {
					resp, err := c.HandleBatch(ctx, &shared.BatchRequest{Stream: "s", ShardID: "shardId-1", Records: recs})
					if err != nil || resp.Acked != 500 {
						b.Fatal(resp, err)
					}
				}
			})
		}
	}
}
