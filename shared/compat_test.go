package shared

import (
	"context"
	"errors"
	"net/rpc"
	"strings"
	"testing"
	"time"

	plugin "github.com/hashicorp/go-plugin"
)

// The wire types of a handler plugin built before packed batches: no
// InfoResponse.WireVersion, no BatchRequest.Packed. Gob matches fields by
// name, so these are what such a plugin decodes and encodes.
type (
	OldInfoResponse struct {
		Kind, Name, Version, SDKVersion string
		Leases, Rewind                  bool
	}
	OldRecord struct {
		Data                        []byte
		PartitionKey                string
		SequenceNumber              string
		SubSequenceNumber           int64
		ApproximateArrivalTimestamp time.Time
	}
	OldBatchRequest struct {
		Stream, ShardID    string
		Records            []OldRecord
		MillisBehindLatest int64
		Attempt            int
		TimeoutMillis      int64
	}
)

// OldHandler is the net/rpc receiver of an old handler plugin: it records
// what it received and acknowledges everything.
type OldHandler struct{ got chan OldBatchRequest }

func (s *OldHandler) Info(_ Empty, reply *OldInfoResponse) error {
	*reply = OldInfoResponse{Kind: HandlerPluginName, Name: "old", SDKVersion: "0.0.9"}
	return nil
}

func (s *OldHandler) HandleBatch(req OldBatchRequest, reply *BatchResponse) error {
	s.got <- req
	*reply = BatchResponse{Acked: len(req.Records), CheckpointTo: len(req.Records)}
	return nil
}

type oldPlugin struct{ srv *OldHandler }

func (p *oldPlugin) Server(*plugin.MuxBroker) (any, error) { return p.srv, nil }
func (p *oldPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return (&HandlerPlugin{}).Client(nil, c)
}

func dispenseHandler(t *testing.T, p plugin.Plugin) *HandlerClient {
	t.Helper()
	client, _ := plugin.TestPluginRPCConn(t, map[string]plugin.Plugin{HandlerPluginName: p}, nil)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(HandlerPluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*HandlerClient)
}

// A new host and a plugin built before packed batches: the plugin's Info
// answer has no WireVersion, so the client sends Records, which the old
// plugin reads in full.
func TestNewHostOldPlugin(t *testing.T) {
	srv := &OldHandler{got: make(chan OldBatchRequest, 1)}
	c := dispenseHandler(t, &oldPlugin{srv: srv})
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.WireVersion != WireRecords || c.WireVersion() != WireRecords {
		t.Fatalf("old plugin: WireVersion %d, client sends %d; want %d", info.WireVersion, c.WireVersion(), WireRecords)
	}
	recs := benchRecords(3, 10)
	resp, err := c.HandleBatch(ctx, &BatchRequest{Stream: "s", ShardID: "shardId-1", Records: recs, Attempt: 2})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Acked != 3 {
		t.Fatalf("acked %d", resp.Acked)
	}
	got := <-srv.got
	if got.ShardID != "shardId-1" || got.Attempt != 2 || len(got.Records) != 3 {
		t.Fatalf("old plugin got %+v", got)
	}
	for i, r := range got.Records {
		if !sameRecord(Record(r), recs[i]) {
			t.Fatalf("record %d: got %+v, want %+v", i, r, recs[i])
		}
	}
}

// fakeHandler is a new plugin's HandlerServer: it advertises version and
// keeps the requests it gets.
type fakeHandler struct {
	version int
	got     chan *BatchRequest
}

func (f *fakeHandler) Info(context.Context) InfoResponse {
	return InfoResponse{Kind: HandlerPluginName, WireVersion: f.version}
}
func (f *fakeHandler) Configure(context.Context, *ConfigureRequest) *ConfigureResponse {
	return &ConfigureResponse{}
}
func (f *fakeHandler) HandleBatch(_ context.Context, req *BatchRequest) *BatchResponse {
	f.got <- req
	if req.Packed != nil {
		if _, err := ReadPacked(req.Packed); err != nil {
			return &BatchResponse{Err: &Error{Code: CodeBadRequest, Message: err.Error()}}
		}
	}
	return &BatchResponse{}
}
func (f *fakeHandler) Lifecycle(context.Context, *LifecycleRequest) *Error { return nil }
func (f *fakeHandler) Shutdown(context.Context) *Error                     { return nil }

// A plugin that reads packed batches gets them (and a newer one than this
// build gets this build's newest); the caller's request is not changed.
func TestNewHostPackedPlugin(t *testing.T) {
	for _, v := range []int{WirePacked, WireVersion + 5} {
		f := &fakeHandler{version: v, got: make(chan *BatchRequest, 1)}
		c := dispenseHandler(t, &HandlerPlugin{Impl: f})
		ctx := context.Background()
		if _, err := c.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if c.WireVersion() != WireVersion {
			t.Fatalf("plugin advertising %d: client sends %d, want %d", v, c.WireVersion(), WireVersion)
		}
		recs := benchRecords(4, 20)
		req := &BatchRequest{Stream: "s", ShardID: "shardId-1", Records: recs}
		if _, err := c.HandleBatch(ctx, req); err != nil {
			t.Fatal(err)
		}
		if len(req.Records) != 4 || req.Packed != nil {
			t.Fatal("HandleBatch changed the caller's request")
		}
		got := <-f.got
		if len(got.Records) != 0 || got.Packed == nil {
			t.Fatalf("plugin got Records %d, Packed %d bytes; want packed only", len(got.Records), len(got.Packed))
		}
		out, err := unpackAll(t, got.Packed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if !sameRecord(out[i], recs[i]) {
				t.Fatalf("record %d: got %+v, want %+v", i, out[i], recs[i])
			}
		}
		// Back to the old form when pinned.
		c.SetWireVersion(WireRecords)
		if _, err := c.HandleBatch(ctx, req); err != nil {
			t.Fatal(err)
		}
		if got := <-f.got; len(got.Records) != 4 || got.Packed != nil {
			t.Fatalf("pinned to Records: plugin got %d records, %d packed bytes", len(got.Records), len(got.Packed))
		}
	}
}

// A packed batch the plugin cannot read fails the call (a transport-level
// error, not a handler's verdict on a record, and not ErrPluginGone).
func TestBadRequestFailsTheCall(t *testing.T) {
	f := &fakeHandler{version: WirePacked, got: make(chan *BatchRequest, 1)}
	c := dispenseHandler(t, &HandlerPlugin{Impl: f})
	_, err := c.HandleBatch(context.Background(), &BatchRequest{ShardID: "shardId-1", Packed: []byte{9, 9, 9}})
	<-f.got
	if err == nil || !strings.Contains(err.Error(), "malformed packed batch") || errors.Is(err, ErrPluginGone) {
		t.Fatalf("got %v, want a failed call naming the malformed batch", err)
	}
}

// At most maxPacking packed batches of one client exist at once: a call
// waits for its turn before packing (bounded by its ctx), and every call
// gives its turn back once its request is written, whatever happens next.
func TestPackedBatchesBounded(t *testing.T) {
	f := &fakeHandler{version: WirePacked, got: make(chan *BatchRequest, 64)}
	c := dispenseHandler(t, &HandlerPlugin{Impl: f})
	if _, err := c.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := func() *BatchRequest {
		return &BatchRequest{Stream: "s", ShardID: "shardId-1", Records: benchRecords(4, 20)}
	}
	// Every turn taken: a call waits, and gives up with its ctx.
	for range maxPacking {
		c.packing <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := c.HandleBatch(ctx, req())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a turn past ctx: got %v, want DeadlineExceeded", err)
	}
	if len(f.got) != 0 {
		t.Fatal("a call without a turn reached the plugin")
	}
	for range maxPacking {
		<-c.packing
	}
	// Many calls at once all go through, and give their turns back.
	errs := make(chan error, 32)
	for range cap(errs) {
		go func() {
			_, err := c.HandleBatch(context.Background(), req())
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		<-f.got
	}
	if n := len(c.packing); n != 0 {
		t.Fatalf("%d turns still taken after every call returned", n)
	}
}
