package main

import (
	"context"
	"errors"
	"testing"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// The example handler, tested in-process through the real RPC boundary.
func TestExampleHandler(t *testing.T) {
	c := sdk.TestHandler(t, &printer{})
	ctx := context.Background()
	if err := c.Configure(ctx, map[string]any{"prefix": "t", "max_bytes": 3}); err != nil {
		t.Fatal(err)
	}
	res, err := c.HandleBatch(ctx, &sdk.Batch{ShardID: "shardId-000000000000", Records: []sdk.Record{
		{Data: []byte("hello"), PartitionKey: "a", SequenceNumber: "1"},
		{Data: []byte("world"), PartitionKey: "b", SequenceNumber: "2"},
	}})
	if err != nil || res.Acked != 2 || res.CheckpointTo != 2 || res.Error != nil {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	err = c.Configure(ctx, `{"max_bytes": -1}`)
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("want invalid config, got %v", err)
	}
}
