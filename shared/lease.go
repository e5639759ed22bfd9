package shared

// Multi-host leases. A store that can be shared by several hosts (Redis,
// PostgreSQL, DynamoDB) keeps one lease per shard in the same row as the
// shard's checkpoint: Checkpoint.Owner and Checkpoint.LeaseCounter. Every
// lease write is one conditional write on (owner, counter), so a
// checkpoint and its fence can never be separated.

// WorkerRowPrefix starts the ShardID of a host's presence row: one row per
// (app, stream, worker) kept by the lease protocol, never a Kinesis shard
// (those are "shardId-..."). Seed readers never look at it.
const WorkerRowPrefix = "kinesis-host-worker:"

// LeaseRow is one stored row of a stream: the checkpoint (an empty
// SequenceNumber with ShardEnd false means no position is stored) and the
// lease (Owner "" means unowned; LeaseCounter 0 with no owner is a row that
// was never leased, or no row at all).
type LeaseRow struct {
	ShardID    string
	Checkpoint Checkpoint
	// Err is set when the row exists but cannot be read (a corrupt item, a
	// key of the wrong type): one bad row never hides the others. The host
	// does not take such a shard and logs the error with the shard.
	Err *Error
}

// LeaseListRequest reads every row of (App, Stream).
type LeaseListRequest struct {
	App           string
	Stream        string
	TimeoutMillis int64
}

// LeaseListResponse answers a LeaseListRequest. Rows are in no particular
// order. Err set means the read failed and nothing is known.
type LeaseListResponse struct {
	Rows []LeaseRow
	Err  *Error
}

// LeaseUpdate is one conditional lease write. It applies only if the
// stored row's owner and counter equal ExpectOwner and ExpectCounter (a row
// that does not exist has owner "" and counter 0); otherwise it changes
// nothing and fails with CodeConflict. When it applies:
//
//   - Delete removes the row (the host deletes only worker rows, which hold
//     no position);
//   - otherwise the owner becomes Owner ("" releases the lease) and the
//     counter ExpectCounter+1, and, when Checkpoint is set, the position
//     moves forward to it in the same write (a position at or behind the
//     stored one leaves the position as is; the lease part still applies).
//     Only the position fields of Checkpoint are used.
//
// A take is (ExpectOwner: old owner, Owner: me); a renew is (me, me); a
// checkpoint is a renew with a Checkpoint; a release is (me, "").
//
// Rewind (`kinesis-host rewind -apply`: an operator moves a shard's
// checkpoint backwards on purpose) is the one exception to "forward only".
// With Rewind set, the position becomes exactly *Checkpoint's
// (SequenceNumber, SubSequenceNumber, ShardEnd), even when it is behind
// the stored one or the shard is finished; a nil Checkpoint, or an empty
// one (SequenceNumber "" and ShardEnd false), clears the position: the row
// keeps its lease and Get then answers found=false. A ShardEnd without a
// SequenceNumber stores a finished shard with no sequence number. It is
// still one conditional write: the (owner, counter) condition, the new
// owner and the counter bump apply as for every lease update, and a failed
// condition changes nothing (CodeConflict). Rewind with Delete is a
// Delete. Seed-layout readers see the rewound sequence number (and "no
// position" after a clear). The field is new: the zero value (false) is
// what every older host sends, and an older store ignores it (gob drops
// unknown fields), so a host must only send it to a store built with an
// sdk that knows it.
type LeaseUpdate struct {
	Key           CheckpointKey
	ExpectOwner   string
	ExpectCounter int64
	Owner         string
	Checkpoint    *Checkpoint
	Delete        bool
	Rewind        bool
}

// LeaseUpdateRequest applies several lease writes in one call, each on its
// own (no transaction across keys).
type LeaseUpdateRequest struct {
	Updates       []LeaseUpdate
	TimeoutMillis int64
}

// LeaseUpdateResponse has one entry per update in the same order: the zero
// Error for success, CodeConflict when the condition failed, another code
// when the write failed (nothing is known: it may or may not have applied).
type LeaseUpdateResponse struct {
	Results []Error
}
