package sdk

import (
	"context"
	"time"
)

// Record is one Kinesis record as a handler sees it.
type Record struct {
	// Data is the record's payload. It is only valid during the call: copy
	// it (bytes.Clone) to keep it after HandleBatch (or the HandlerFunc)
	// returns, or to hand it to a goroutine that outlives the call.
	//
	// The sdk does not copy payloads: the host sends a batch as one buffer
	// and every Data of the batch is a slice of it. Keeping one Data keeps
	// the whole batch's buffer (up to batch_max_bytes) in memory, and a
	// later sdk may reuse the buffer for the next batch, which would change
	// a kept Data under the handler's feet. Reading and modifying Data in
	// place during the call are fine: each Data's capacity ends at its own
	// last byte, so appending to it copies and no write through it reaches
	// another record or the strings. PartitionKey, SequenceNumber and
	// ShardID are ordinary strings that may be kept (the partition keys
	// and sequence numbers of a batch share one allocation, so keeping one
	// keeps that of its batch, a few tens of bytes per record).
	Data []byte
	// PartitionKey the producer chose.
	PartitionKey string
	// SequenceNumber is unique within the shard and increases with each
	// record; a decimal string of up to 128 digits.
	SequenceNumber string
	// SubSequenceNumber orders user records inside one KPL aggregate; 0 for
	// plain records.
	SubSequenceNumber int64
	// ApproximateArrivalTimestamp is when Kinesis accepted the record.
	ApproximateArrivalTimestamp time.Time
	// ShardID is the shard the record was read from.
	ShardID string
}

// Batch is the unit of delivery: consecutive records of one shard in order.
type Batch struct {
	Stream  string
	ShardID string
	Records []Record
	// MillisBehindLatest is how far the shard's reader is behind the tip of
	// the stream after this batch (0 when caught up).
	MillisBehindLatest int64
	// Attempt is 1 on first delivery and higher when the batch is delivered
	// again after a plugin crash, a timeout or a failure.
	Attempt int
}

// ScanStatus is a record's outcome, as in harlow/kinesis-consumer:
//
//   - the zero value: done; the checkpoint may move past this record.
//   - SkipCheckpoint: done, but this record does not advance the
//     checkpoint (a later record without SkipCheckpoint will).
//   - StopScan: done; then the whole scan stops cleanly (host exit 0).
//   - Error: not done. The scan stops, the record is not checkpointed and
//     the host exits non-zero with the error's text.
type ScanStatus struct {
	StopScan       bool
	SkipCheckpoint bool
	Error          error
}

// BatchResult tells the host how far a batch got.
//
// Records[:Acked] are done and will not be delivered again (unless a crash
// loses the checkpoint write). The checkpoint advances to cover
// Records[:CheckpointTo]; CheckpointTo must not exceed Acked. When Error is
// set it is the failure of Records[Acked], which is not done. StopScan ends
// the whole scan cleanly after Records[:Acked].
//
// Acked < len(Records) with no Error and no StopScan means "deliver the
// rest again" (for example when ctx ended before the handler got there).
// AckAll builds the common all-done result.
type BatchResult struct {
	Acked        int
	CheckpointTo int
	StopScan     bool
	Error        error
}

// AckAll is the result for a batch whose records are all done.
func AckAll(b *Batch) BatchResult {
	return BatchResult{Acked: len(b.Records), CheckpointTo: len(b.Records)}
}

// Handler processes batches. Implement it directly to see whole batches;
// most authors use HandlerFunc.
//
// A panic in HandleBatch does not crash the plugin: the sdk recovers it and
// answers with an error (code handler) for the whole batch, nothing
// acknowledged, so the host applies the handler's failure policy to the
// batch's first record (it cannot know which record was at fault). With
// on_failure = "skip" or "dead_letter" that may be a good record: to fail
// only the record at fault, use EachRecord (which recovers per record) or
// recover yourself and return BatchResult{Acked: k, Error: err}.
type Handler interface {
	HandleBatch(ctx context.Context, b *Batch) BatchResult
}

// Configurer is implemented by plugins (handlers and stores) that take a
// config {} block. Configure is called after every start, before anything
// else. Return ConfigError for a bad attribute.
type Configurer interface {
	Configure(ctx context.Context, cfg Config) error
}

// ShardInfo describes a shard in lifecycle calls.
type ShardInfo struct {
	Stream  string
	ShardID string
	// Position is where reading starts: AFTER_SEQUENCE_NUMBER (right after
	// StartAfter, the shard's checkpoint), TRIM_HORIZON, LATEST or
	// AT_TIMESTAMP (no checkpoint yet). Empty in ShardEnded.
	Position   string
	StartAfter string
}

// ShardStarter is implemented by handlers that want to know when a shard
// starts (before its first batch), as KCL's initialize.
type ShardStarter interface {
	ShardStarted(ctx context.Context, s ShardInfo) error
}

// ShardEnder is implemented by handlers that want to know when a shard has
// been read to its end (every record delivered; called before the shard is
// recorded as finished and its children start), as KCL's shardEnded.
type ShardEnder interface {
	ShardEnded(ctx context.Context, s ShardInfo) error
}

// ShutdownHandler is implemented by handlers that buffer: Shutdown is
// called when the host stops, before its final checkpoints are written.
type ShutdownHandler interface {
	Shutdown(ctx context.Context) error
}

// HandlerFunc is the per-record callback of harlow/kinesis-consumer. The
// plugin runs it over each batch in order, so the host still makes one
// RPC per batch.
type HandlerFunc func(ctx context.Context, r *Record) ScanStatus

// HandleBatch implements Handler.
func (f HandlerFunc) HandleBatch(ctx context.Context, b *Batch) BatchResult {
	return EachRecord(ctx, b, f)
}

// EachRecord runs fn over the batch in order and turns the statuses into a
// BatchResult. It stops early when ctx ends; the records not reached are
// delivered again.
//
// A panic in fn is the error of the record it panicked on: the records
// before it stay acknowledged, and the panic comes back as that record's
// error (code handler: errors.Is(err, ErrHandler)) whose message has the
// panic value and the line that panicked; the whole stack goes to Logger.
// The plugin process keeps serving other shards. (A panic in a goroutine
// that fn starts cannot be recovered: it crashes the plugin, which the host
// restarts before delivering the unacknowledged records again.)
func EachRecord(ctx context.Context, b *Batch, fn func(ctx context.Context, r *Record) ScanStatus) BatchResult {
	var res BatchResult
	for i := range b.Records {
		if ctx.Err() != nil {
			return res
		}
		st := callRecord(ctx, &b.Records[i], fn)
		if st.Error != nil {
			res.Error = st.Error
			return res
		}
		res.Acked = i + 1
		if !st.SkipCheckpoint {
			res.CheckpointTo = i + 1
		}
		if st.StopScan {
			res.StopScan = true
			return res
		}
	}
	return res
}
