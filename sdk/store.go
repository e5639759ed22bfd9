package sdk

import (
	"context"
	"strings"

	"github.com/kinesis-host/kinesis-host/shared"
)

// CheckpointKey identifies a checkpoint: (App, Stream, ShardID), the
// identity harlow/kinesis-consumer users know.
type CheckpointKey = shared.CheckpointKey

// Checkpoint is a stored position: the last record done in a shard, or
// ShardEnd once the shard has been read to its end. Owner and LeaseCounter
// are reserved for multi-host leases; stores must persist them as given.
type Checkpoint = shared.Checkpoint

// CheckpointUpdate is one write in a batch of writes.
type CheckpointUpdate = shared.CheckpointUpdate

// Store is a checkpoint backend. Serve it with ServeCheckpoint.
//
// Get returns found=false with a nil error when the key has no checkpoint
// yet, and a non-nil error (wrap backend failures with Unavailable) when
// the read failed: the host never starts a shard on a failed read.
//
// Set stores cp unless the stored position is already at or past it
// (ComparePosition), and the comparison must happen in the store itself
// (a conditional write, a Lua script, UPDATE ... WHERE), so that two
// writers racing can never move a checkpoint backwards. Losing that race is
// not an error. A ShardEnd checkpoint is past every sequence number.
//
// Methods are called concurrently.
type Store interface {
	Get(ctx context.Context, key CheckpointKey) (cp Checkpoint, found bool, err error)
	Set(ctx context.Context, key CheckpointKey, cp Checkpoint) error
}

// BatchStore is an optional Store extension for backends that can write
// many checkpoints in one round trip. It returns one error per update (nil
// for success), in order.
type BatchStore interface {
	SetBatch(ctx context.Context, updates []CheckpointUpdate) []error
}

// Rewinder is the optional Store extension behind `kinesis-host rewind
// -apply` on a store without leases (one host at a time): Rewind sets key's
// position to exactly cp's (SequenceNumber, SubSequenceNumber, ShardEnd),
// even when it is behind the stored one: the one write that moves a
// checkpoint backwards, on an operator's request. A nil cp, or an empty
// one (SequenceNumber "" and ShardEnd false), clears the position: Get then
// answers found=false. The stored Owner and LeaseCounter are kept. It is
// one write in the backend; an invalid sequence number fails and changes
// nothing. A store without Rewinder answers a rewind with CodeUnimplemented
// (the operator then upgrades it or edits the checkpoint by hand).
//
// A LeaseStore is rewound through UpdateLeases with LeaseUpdate.Rewind set
// (a conditional write like every lease write); see shared.LeaseUpdate.
// storetest.Run checks Rewinder where implemented, storetest.RunLeases
// checks LeaseUpdate.Rewind.
type Rewinder interface {
	Rewind(ctx context.Context, key CheckpointKey, cp *Checkpoint) error
}

// LeaseRow is one stored row of a stream: checkpoint and lease.
type LeaseRow = shared.LeaseRow

// LeaseUpdate is one conditional lease write; see shared.LeaseUpdate for
// the exact rule every store must follow.
type LeaseUpdate = shared.LeaseUpdate

// WorkerRowPrefix starts the ShardID of the host's per-worker presence
// rows; stores keep them like any other row.
const WorkerRowPrefix = shared.WorkerRowPrefix

// SubSequenceAt is shared.SubSequenceAt: a rewound position whose record is
// not done yet. Stores keep it like any sub-sequence number (it sorts just
// before the record's own positions).
const SubSequenceAt = shared.SubSequenceAt

// LeaseStore is the optional Store extension that lets several hosts share
// the store: they coordinate shard leases through it (one lease per shard,
// in the checkpoint's own row). A store without it runs single-host.
//
// ListLeases returns every row of (app, stream) that has a position or a
// lease (owner or counter), including worker rows; it returns an error
// (wrap backend failures with Unavailable) when the read failed.
//
// UpdateLeases applies each update as ONE conditional write in the backend
// (a Lua script, UPDATE ... WHERE owner = $ AND lease_counter = $, a
// DynamoDB ConditionExpression): it applies only when the stored owner and
// counter equal ExpectOwner and ExpectCounter, and then sets the owner,
// counter+1 and (forward only) the position; or deletes the row when
// Delete is set. With Rewind set, the position is set to exactly
// *Checkpoint's, backwards too, or cleared for a nil or empty Checkpoint
// (the row keeps its lease), in the same conditional write. A failed condition returns ErrConflict (wrapped or as is:
// errors.Is(err, ErrConflict)); a backend failure returns Unavailable.
// One error per update, in order, nil for success.
//
// Get must keep meaning "a position is stored": a row holding only a
// lease is found=false. A plain Set keeps the stored owner and counter.
// storetest.RunLeases checks all of this.
type LeaseStore interface {
	ListLeases(ctx context.Context, app, stream string) ([]LeaseRow, error)
	UpdateLeases(ctx context.Context, updates []LeaseUpdate) []error
}

// Closer is an optional Store extension: Close is called before the host
// stops the plugin.
type Closer interface {
	Close(ctx context.Context) error
}

// CompareSequence compares two Kinesis sequence numbers as the unsigned
// decimal integers they are (up to 128 digits): -1 if a < b, 0 if equal, +1
// if a > b. The empty string is less than any number. Leading zeros are
// ignored; strings are not compared by length-blind byte order.
func CompareSequence(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return strings.Compare(a, b)
}

// ComparePosition orders two checkpoints: ShardEnd is past everything;
// otherwise by sequence number, then sub-sequence number.
func ComparePosition(a, b Checkpoint) int {
	switch {
	case a.ShardEnd && b.ShardEnd:
		return 0
	case a.ShardEnd:
		return 1
	case b.ShardEnd:
		return -1
	}
	if c := CompareSequence(a.SequenceNumber, b.SequenceNumber); c != 0 {
		return c
	}
	switch {
	case a.SubSequenceNumber < b.SubSequenceNumber:
		return -1
	case a.SubSequenceNumber > b.SubSequenceNumber:
		return 1
	}
	return 0
}

// ValidSequence reports whether s is a plausible sequence number: 1 to 128
// decimal digits.
func ValidSequence(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
