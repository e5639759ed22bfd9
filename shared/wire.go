package shared

import "time"

// InfoResponse describes a plugin. Returned by the Info call, which the host
// uses to fingerprint a binary (kinesis-host plugins, validate).
type InfoResponse struct {
	Kind       string // "handler" or "checkpoint"
	Name       string // the plugin's own name for itself, informational
	Version    string // the plugin's own version, informational
	SDKVersion string // the sdk version it was built with
	// Leases is set by a checkpoint store that implements the lease calls
	// (ListLeases, UpdateLeases): several hosts may share it. Plugins built
	// before leases leave it false and run single-host.
	Leases bool
	// Rewind is set by a checkpoint store built with an sdk that knows
	// rewind writes (CheckpointUpdate.Rewind, LeaseUpdate.Rewind): an older
	// plugin would drop the flag and write forward only, so the host
	// refuses to rewind through it.
	Rewind bool
	// WireVersion is set by a handler plugin: the newest batch wire format
	// it reads (WirePacked for this sdk; see shared.WireVersion). A plugin
	// built before packed batches does not have the field, gob decodes it
	// as 0 (WireRecords), and the host sends it BatchRequest.Records. The
	// host's HandlerClient remembers the value from its Info call and picks
	// the form of every batch it sends that plugin instance by it.
	WireVersion int
}

// Empty is the argument or reply of calls that carry nothing.
type Empty struct{}

// ConfigureRequest hands a plugin its config {} block. The host sends it
// once after every (re)start, before anything else.
type ConfigureRequest struct {
	App    string // the app name from config.hcl
	Name   string // the handler or checkpoint block's label
	Config []byte // the config {} block's attributes as a JSON object
	// ValidateOnly is set by `kinesis-host validate`: check the config and
	// that the backend answers, but create or change nothing.
	ValidateOnly  bool
	TimeoutMillis int64
}

// ConfigureResponse carries the plugin's verdict on its config.
type ConfigureResponse struct {
	Err *Error
}

// Record is one Kinesis record on the wire.
type Record struct {
	Data                        []byte
	PartitionKey                string
	SequenceNumber              string
	SubSequenceNumber           int64
	ApproximateArrivalTimestamp time.Time
}

// BatchRequest is one handler call: consecutive records of one shard, in
// order. The host sends at most one batch per shard at a time.
//
// The records travel in one of two forms, never both: Records (gob of a
// slice of structs, the form every plugin reads) or Packed (one buffer laid
// out by AppendPacked, for plugins whose InfoResponse.WireVersion is
// WirePacked or newer). Callers of HandlerClient.HandleBatch always fill
// Records; the client packs them when the plugin instance can read it.
type BatchRequest struct {
	Stream  string
	ShardID string
	// Records is the batch in the original form. Empty when Packed is set.
	Records []Record
	// Packed is the batch laid out by AppendPacked (read it with
	// ReadPacked). Nil unless the plugin advertised WirePacked; a plugin
	// built before packed batches never sees it (gob drops fields the
	// receiver does not know, which is why it is only sent to plugins that
	// said they read it). Gob never sends an empty slice, so a packed batch,
	// which is never empty (its format byte and count), arrives non-nil and
	// a Records batch arrives with Packed nil.
	Packed             []byte
	MillisBehindLatest int64
	// Attempt counts deliveries of this batch's first record: 1 the first
	// time, more after a plugin crash or a retry.
	Attempt       int
	TimeoutMillis int64
}

// BatchResponse says how far the handler got. Records[:Acked] are done;
// the checkpoint may advance to cover Records[:CheckpointTo] (CheckpointTo
// <= Acked; records between CheckpointTo and Acked asked to skip the
// checkpoint). When Err is set, it belongs to Records[Acked], which is not
// done. Stop asks the host to end the whole scan cleanly after Records[:Acked].
type BatchResponse struct {
	Acked        int
	CheckpointTo int
	Stop         bool
	Err          *Error
}

// CheckpointKey identifies a checkpoint: (app, stream, shard), as in
// harlow/kinesis-consumer.
type CheckpointKey struct {
	App     string
	Stream  string
	ShardID string
}

// Checkpoint is a stored position in a shard. The zero SequenceNumber with
// ShardEnd false means "nothing read yet" and is never stored.
type Checkpoint struct {
	// SequenceNumber of the last record done, a decimal string of up to 128
	// digits.
	SequenceNumber string
	// SubSequenceNumber of the last user record done inside a KPL aggregate;
	// 0 for plain records. With aggregates the pair is the position.
	SubSequenceNumber int64
	// ShardEnd marks a shard read to its end: nothing more will be read
	// from it and its children may start.
	ShardEnd bool
	// Owner and LeaseCounter are the shard's lease (see LeaseUpdate).
	// Stores must persist them; a plain Set writes them as given, and the
	// host uses only UpdateLeases on a store that has leases.
	Owner        string
	LeaseCounter int64
}

// CheckpointGetRequest reads several checkpoints in one call.
type CheckpointGetRequest struct {
	Keys          []CheckpointKey
	TimeoutMillis int64
}

// CheckpointGetResult is one answer of a CheckpointGetResponse. Found false
// with a nil Err means "no checkpoint yet"; a non-nil Err means the read
// failed and nothing is known.
type CheckpointGetResult struct {
	Found      bool
	Checkpoint Checkpoint
	Err        *Error
}

// CheckpointGetResponse answers a CheckpointGetRequest, one result per key
// in the same order.
type CheckpointGetResponse struct {
	Results []CheckpointGetResult
}

// CheckpointUpdate is one write of a CheckpointSetRequest.
//
// Rewind (stores without leases: file, memory; one host at a time) sets the
// position to exactly Checkpoint's (SequenceNumber, SubSequenceNumber,
// ShardEnd) even when it is behind the stored one; an empty Checkpoint
// (SequenceNumber "" and ShardEnd false) clears it (Get then answers
// found=false). It is unconditional, and the stored Owner and LeaseCounter
// are kept. The sdk hands such an update to the store's sdk.Rewinder; a
// store without one answers CodeUnimplemented. An older sdk ignores the
// field (gob drops it) and would write forward only, so the host sends it
// only to stores that know it. Lease stores are rewound with
// LeaseUpdate.Rewind instead.
type CheckpointUpdate struct {
	Key        CheckpointKey
	Checkpoint Checkpoint
	Rewind     bool
}

// CheckpointSetRequest writes several checkpoints in one call. Each write is
// conditional in the store: a checkpoint never moves backwards (except an
// update with Rewind set).
type CheckpointSetRequest struct {
	Updates       []CheckpointUpdate
	TimeoutMillis int64
}

// CheckpointSetResponse has one entry per update in the same order; the
// zero Error (empty Code) means the update succeeded or was already
// superseded by a later position.
type CheckpointSetResponse struct {
	Results []Error
}

// Lifecycle events a handler may implement.
const (
	EventShardStarted = "shard_started"
	EventShardEnded   = "shard_ended"
)

// LifecycleRequest tells a handler about a shard: it started (before its
// first batch) or ended (every record delivered, before SHARD_END is
// stored).
type LifecycleRequest struct {
	Event   string
	Stream  string
	ShardID string
	// Position the shard starts from: AFTER_SEQUENCE_NUMBER (after
	// StartAfter, its checkpoint), TRIM_HORIZON, LATEST or AT_TIMESTAMP.
	Position      string
	StartAfter    string
	TimeoutMillis int64
}
