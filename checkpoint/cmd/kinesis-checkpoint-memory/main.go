// Command kinesis-checkpoint-memory is the in-memory checkpoint plugin, for
// tests only: it keeps nothing across restarts.
//
// It is single-host: its memory is its own process's, so no second host
// can ever share it, and it does not offer leases to the host (the memory
// package's lease calls serve in-process tests).
package main

import (
	"context"

	"github.com/kinesis-host/kinesis-host/checkpoint/memory"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// singleHost serves the memory store without its lease calls.
type singleHost struct{ s *memory.Store }

func (h singleHost) Configure(ctx context.Context, cfg sdk.Config) error {
	return h.s.Configure(ctx, cfg)
}

func (h singleHost) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	return h.s.Get(ctx, key)
}

func (h singleHost) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	return h.s.Set(ctx, key, cp)
}

func main() { sdk.ServeCheckpoint(singleHost{memory.New()}) }
