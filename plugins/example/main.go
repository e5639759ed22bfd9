// Command kinesis-handler-example is the example record handler: it logs
// every record it receives (shard, sequence number, partition key, data).
//
// It shows the two things most handlers need:
//
//   - reading its config {} block from config.hcl (Configure + Decode);
//   - handling records one at a time with the ScanStatus semantics of
//     harlow/kinesis-consumer, while the host makes one RPC per batch.
//
// Build it into the plugin dir as kinesis-handler-example (make build does)
// and name it in config.hcl:
//
//	handler "example" {
//	  plugin = "example"
//	  config {
//	    prefix    = "demo"   # put in front of every log line
//	    max_bytes = 200      # log at most this much of each record's data
//	  }
//	}
package main

import (
	"context"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// printer is the handler. Its fields are its settings.
type printer struct {
	Prefix   string `json:"prefix"`
	MaxBytes int    `json:"max_bytes"`
}

// Configure receives the config {} block before the first batch (and after
// every restart). Decode reports unknown or mistyped settings with the
// attribute's name, and the host shows them with file and line.
func (p *printer) Configure(ctx context.Context, cfg sdk.Config) error {
	p.Prefix, p.MaxBytes = "", 200 // defaults
	if err := cfg.Decode(p); err != nil {
		return err
	}
	if p.MaxBytes < 0 {
		return sdk.ConfigError("max_bytes", "must be 0 or more, got %d", p.MaxBytes)
	}
	return nil
}

// HandleBatch runs handleRecord over the batch in order.
func (p *printer) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	return sdk.EachRecord(ctx, b, p.handleRecord)
}

func (p *printer) handleRecord(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
	data := r.Data
	if p.MaxBytes > 0 && len(data) > p.MaxBytes {
		data = data[:p.MaxBytes]
	}
	sdk.Logger().Info(p.Prefix+" record",
		"shard", r.ShardID, "sequence", r.SequenceNumber, "partition_key", r.PartitionKey, "data", string(data))
	return sdk.ScanStatus{} // done: the checkpoint may move past this record
}

func main() { sdk.Serve(&printer{}) }
