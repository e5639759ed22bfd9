package sdk

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/kinesis-host/kinesis-host/shared"
)

// TestHandler serves h in-process through the real net/rpc boundary (gob
// encoding, error codes and all) and returns a client for it, so a handler
// can be unit-tested without building a binary:
//
//	c := sdk.TestHandler(t, myHandler)
//	res, err := c.HandleBatch(ctx, &sdk.Batch{ShardID: "shardId-0", Records: recs})
//
// Like the host, the client asks the plugin's Info first and sends batches
// in the newest wire format it reads (packed: every Record.Data the
// handler sees is a slice of one buffer, as in production). The connection
// is closed when the test ends.
func TestHandler(t testing.TB, h Handler) *TestHandlerClient {
	t.Helper()
	raw := dispense(t, shared.HandlerPluginName, &shared.HandlerPlugin{Impl: NewHandlerServer(h)})
	c := raw.(*shared.HandlerClient)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Info(ctx); err != nil {
		t.Fatalf("handler Info: %v", err)
	}
	return &TestHandlerClient{c: c}
}

// TestStore serves s in-process through the real net/rpc boundary.
func TestStore(t testing.TB, s Store) *TestStoreClient {
	t.Helper()
	raw := dispense(t, shared.CheckpointPluginName, &shared.CheckpointPlugin{Impl: NewCheckpointServer(s)})
	return &TestStoreClient{c: raw.(*shared.CheckpointClient)}
}

func dispense(t testing.TB, name string, p plugin.Plugin) any {
	t.Helper()
	client, server := plugin.TestPluginRPCConn(t, map[string]plugin.Plugin{name: p}, nil)
	t.Cleanup(func() { _ = client.Close(); _ = server })
	raw, err := client.Dispense(name)
	if err != nil {
		t.Fatalf("dispense %s: %v", name, err)
	}
	return raw
}

func configJSON(cfg any) ([]byte, error) {
	switch v := cfg.(type) {
	case nil:
		return []byte("{}"), nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return json.Marshal(cfg)
}

// TestHandlerClient calls a handler served by TestHandler.
type TestHandlerClient struct{ c *shared.HandlerClient }

// Configure sends a config block: cfg is a JSON string or []byte, or any
// value that marshals to a JSON object (a map or struct).
func (c *TestHandlerClient) Configure(ctx context.Context, cfg any) error {
	raw, err := configJSON(cfg)
	if err != nil {
		return err
	}
	return c.c.Configure(ctx, shared.ConfigureRequest{App: "test", Name: "test", Config: raw})
}

// HandleBatch delivers b and returns the handler's result as the host
// would see it. The error is a transport error.
func (c *TestHandlerClient) HandleBatch(ctx context.Context, b *Batch) (BatchResult, error) {
	req := &shared.BatchRequest{Stream: b.Stream, ShardID: b.ShardID, MillisBehindLatest: b.MillisBehindLatest, Attempt: b.Attempt,
		Records: make([]shared.Record, 0, len(b.Records))}
	for _, r := range b.Records {
		req.Records = append(req.Records, shared.Record{
			Data: r.Data, PartitionKey: r.PartitionKey, SequenceNumber: r.SequenceNumber,
			SubSequenceNumber: r.SubSequenceNumber, ApproximateArrivalTimestamp: r.ApproximateArrivalTimestamp,
		})
	}
	resp, err := c.c.HandleBatch(ctx, req)
	if err != nil {
		return BatchResult{}, err
	}
	return BatchResult{Acked: resp.Acked, CheckpointTo: resp.CheckpointTo, StopScan: resp.Stop, Error: shared.FromWire(resp.Err)}, nil
}

// Shutdown calls the handler's ShutdownHandler, if any.
func (c *TestHandlerClient) Shutdown(ctx context.Context) error { return c.c.Shutdown(ctx) }

// TestStoreClient calls a store served by TestStore. It implements Store
// itself, so a test can run the same assertions on a store in-process and
// through the plugin boundary.
type TestStoreClient struct{ c *shared.CheckpointClient }

// Configure sends a config block (see TestHandlerClient.Configure).
func (c *TestStoreClient) Configure(ctx context.Context, cfg any) error {
	raw, err := configJSON(cfg)
	if err != nil {
		return err
	}
	return c.c.Configure(ctx, shared.ConfigureRequest{App: "test", Name: "test", Config: raw})
}

// Get implements Store.
func (c *TestStoreClient) Get(ctx context.Context, key CheckpointKey) (Checkpoint, bool, error) {
	res, err := c.c.Get(ctx, []CheckpointKey{key})
	if err != nil {
		return Checkpoint{}, false, err
	}
	return res[0].Checkpoint, res[0].Found, shared.FromWire(res[0].Err)
}

// Set implements Store.
func (c *TestStoreClient) Set(ctx context.Context, key CheckpointKey, cp Checkpoint) error {
	errs := c.SetBatch(ctx, []CheckpointUpdate{{Key: key, Checkpoint: cp}})
	return errs[0]
}

// SetBatch implements BatchStore: all updates in one RPC.
func (c *TestStoreClient) SetBatch(ctx context.Context, updates []CheckpointUpdate) []error {
	res, err := c.c.Set(ctx, updates)
	out := make([]error, len(updates))
	for i := range out {
		switch {
		case err != nil:
			out[i] = err
		case res[i].Code != "":
			e := res[i]
			out[i] = &e
		}
	}
	return out
}

// Rewind implements Rewinder through the plugin boundary (a Set RPC with
// CheckpointUpdate.Rewind). A store behind the client that does not
// implement Rewinder answers with an error of code CodeUnimplemented.
func (c *TestStoreClient) Rewind(ctx context.Context, key CheckpointKey, cp *Checkpoint) error {
	u := CheckpointUpdate{Key: key, Rewind: true}
	if cp != nil {
		u.Checkpoint = *cp
	}
	return c.SetBatch(ctx, []CheckpointUpdate{u})[0]
}

// Close implements Closer.
func (c *TestStoreClient) Close(ctx context.Context) error { return c.c.Close(ctx) }

// ListLeases implements LeaseStore through the plugin boundary.
func (c *TestStoreClient) ListLeases(ctx context.Context, app, stream string) ([]LeaseRow, error) {
	return c.c.ListLeases(ctx, app, stream)
}

// UpdateLeases implements LeaseStore: all updates in one RPC.
func (c *TestStoreClient) UpdateLeases(ctx context.Context, updates []LeaseUpdate) []error {
	res, err := c.c.UpdateLeases(ctx, updates)
	out := make([]error, len(updates))
	for i := range out {
		switch {
		case err != nil:
			out[i] = err
		case res[i].Code != "":
			e := res[i]
			out[i] = &e
		}
	}
	return out
}

// Leases reports whether the store behind the client implements LeaseStore
// (what the host reads from the plugin's Info).
func (c *TestStoreClient) Leases(ctx context.Context) (bool, error) {
	info, err := c.c.Info(ctx)
	return info.Leases, err
}
