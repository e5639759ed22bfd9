// Command badday is a test handler for host's replay and dead-letter tests
// (built by those tests as kinesis-handler-badday). It records every record
// it acknowledges and every call it answers, and misbehaves on cue:
//
//	config {
//	  out        = "deliveries.jsonl"  # one line per acknowledged record
//	  calls_out  = "calls.jsonl"       # one line per HandleBatch call
//	  panic_data = "poison"            # EachRecord panics on a record with this data
//	  batch_panic_data = "poison"      # HandleBatch itself panics on a batch holding it
//	  decline    = 2                   # the first 2 calls of the process acknowledge
//	                                   # nothing and report no error (-1: every call)
//	}
package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"

	"github.com/kinesis-host/kinesis-host/sdk"
)

type badday struct {
	Out       string `json:"out"`
	CallsOut  string `json:"calls_out"`
	PanicData string `json:"panic_data"`
	// BatchPanic: the batch handler panics, outside EachRecord, on any
	// batch holding a record with this data.
	BatchPanic string `json:"batch_panic_data"`
	Decline    int    `json:"decline"`

	mu    sync.Mutex
	calls int
}

func (h *badday) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(h); err != nil {
		return err
	}
	if h.Out == "" {
		return sdk.ConfigError("out", "is required: the file acknowledged records are appended to")
	}
	return nil
}

func appendLine(path string, v any) {
	if path == "" {
		return
	}
	line, _ := json.Marshal(v)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		sdk.Logger().Error("cannot write", "path", path, "error", err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

func (h *badday) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	declined := h.Decline < 0 || n <= h.Decline
	appendLine(h.CallsOut, map[string]any{"call": n, "shard": b.ShardID, "records": len(b.Records), "first": b.Records[0].SequenceNumber, "attempt": b.Attempt, "declined": declined})
	if declined {
		return sdk.BatchResult{}
	}
	for _, r := range b.Records {
		if h.BatchPanic != "" && string(r.Data) == h.BatchPanic {
			panic("batch holds " + string(r.Data))
		}
	}
	return sdk.EachRecord(ctx, b, func(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
		if h.PanicData != "" && string(r.Data) == h.PanicData {
			panic("cannot handle " + string(r.Data))
		}
		appendLine(h.Out, map[string]any{"shard": r.ShardID, "seq": r.SequenceNumber, "data": string(r.Data), "attempt": b.Attempt})
		return sdk.ScanStatus{}
	})
}

func main() { sdk.Serve(&badday{}) }
