// Command crashy is a test handler whose build decides whether it works:
// built with -ldflags "-X main.broken=yes" it exits at the start of every
// batch (a broken release that spends its restart budget); built without,
// it appends every record to out as the recorder does (the fixed release).
//
//	config {
//	  out = "/tmp/x/deliveries.jsonl"  # required
//	}
package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// broken is set at build time.
var broken string

type crashy struct {
	Out string `json:"out"`
	mu  sync.Mutex
}

func (c *crashy) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(c); err != nil {
		return err
	}
	if c.Out == "" {
		return sdk.ConfigError("out", "is required")
	}
	return nil
}

func (c *crashy) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	if broken == "yes" {
		os.Exit(3)
	}
	var buf []byte
	for _, r := range b.Records {
		line, _ := json.Marshal(map[string]any{"shard": r.ShardID, "seq": r.SequenceNumber, "data": string(r.Data), "attempt": b.Attempt, "pid": os.Getpid()})
		buf = append(append(buf, line...), '\n')
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.OpenFile(c.Out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return sdk.BatchResult{Error: sdk.Unavailable(err)}
	}
	defer f.Close()
	if _, err := f.Write(buf); err != nil {
		return sdk.BatchResult{Error: sdk.Unavailable(err)}
	}
	return sdk.AckAll(b)
}

func main() { sdk.Serve(&crashy{}) }
