package host

import (
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/shared"
)

// startFacts is what decides where a shard starts reading. It is gathered
// by the stream runner (the first listing, whether the app has consumed the
// stream before) and the shard worker (the shard's checkpoint); planStart
// turns it into a plan without any I/O.
type startFacts struct {
	// found and cp: the shard's stored checkpoint.
	found bool
	cp    shared.Checkpoint
	// deaggregate is the stream's deaggregate setting.
	deaggregate bool
	// configured is the stream's start_position (and start_timestamp).
	configured iteratorPosition
	// streamConsumed: when this host first listed the stream, some of its
	// shards already had a checkpoint of this app (a position or
	// SHARD_END). start_position then applies to no shard at all.
	streamConsumed bool
	// initial: the shard was in that first listing. A shard that appears
	// later was created by a reshard while the host ran.
	initial bool
	// closed: the shard was already closed in that first listing.
	closed bool
}

// startPlan is where a shard starts.
type startPlan struct {
	// pos is the iterator position to read from.
	pos iteratorPosition
	// ended: the shard already has SHARD_END; nothing to read.
	ended bool
	// markEnded: store SHARD_END without reading the shard (a shard that
	// was already closed when a stream was first consumed at LATEST: none
	// of its records is after LATEST).
	markEnded bool
	// skipSeq/skipSub: with deaggregate, the KPL aggregate at skipSeq is
	// read again and its user records up to skipSub are skipped.
	skipSeq string
	skipSub int64
	// why explains the choice, for the log.
	why string
}

// planStart decides where a shard starts. The rules, in order:
//
//  1. A SHARD_END checkpoint: the shard is done.
//  2. A checkpoint: read after it. With deaggregate, a checkpoint inside a
//     KPL aggregate re-reads that aggregate and skips the user records
//     already done; without deaggregate (the setting was turned off after a
//     checkpoint inside an aggregate) the aggregate is delivered again
//     whole: at-least-once. (A checkpoint after an aggregate's first user
//     record, sub-sequence 0, looks like a plain record's and is resumed
//     after; the README says to turn deaggregate off after a clean drain.)
//  3. No checkpoint, on a stream this app has never consumed, for a shard
//     that was in the host's first listing: start_position applies. At
//     LATEST, a shard already closed holds nothing after LATEST and is
//     recorded as ended (its children then start at LATEST too).
//  4. Every other shard without a checkpoint starts at TRIM_HORIZON: a child
//     of a reshard (whether it appeared while the host ran or before a
//     restart that came ahead of the child's first checkpoint), or any
//     shard of a stream the app has consumed before. A shard's descendants
//     are read from their first record, as in KCL, so a reshard never
//     skips what producers wrote to a child before the host reached it.
func planStart(f startFacts) startPlan {
	switch {
	case f.found && f.cp.ShardEnd:
		return startPlan{ended: true, why: "SHARD_END checkpoint: the shard was read to its end"}
	case f.found && f.cp.IsTrimHorizon():
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon},
			why: "checkpoint rewound to TRIM_HORIZON (kinesis-host rewind): read from the oldest record kept"}
	case f.found && f.cp.SubSequenceNumber == shared.SubSequenceAt:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeAtSequenceNumber, seq: f.cp.SequenceNumber},
			why: "rewound checkpoint (kinesis-host rewind): the record at it is delivered again"}
	case f.found && f.deaggregate:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeAtSequenceNumber, seq: f.cp.SequenceNumber},
			skipSeq: f.cp.SequenceNumber, skipSub: f.cp.SubSequenceNumber,
			why: "checkpoint (the record at the checkpoint is read again to skip the KPL user records already done)"}
	case f.found && f.cp.SubSequenceNumber > 0:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeAtSequenceNumber, seq: f.cp.SequenceNumber},
			why: "checkpoint inside a KPL aggregate with deaggregate = false: the aggregate is delivered again whole (at-least-once)"}
	case f.found:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: f.cp.SequenceNumber},
			why: "checkpoint"}
	case !f.streamConsumed && f.initial:
		if f.configured.typ == types.ShardIteratorTypeLatest && f.closed {
			return startPlan{markEnded: true, why: "first start of the stream at LATEST: the shard was already closed, so none of its records is after LATEST"}
		}
		return startPlan{pos: f.configured, why: "first start of the stream: start_position applies"}
	case f.streamConsumed:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon},
			why: "no checkpoint on a stream this app has consumed before (a child of a reshard, or a shard never written): read from its first record"}
	default:
		return startPlan{pos: iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon},
			why: "the shard appeared after the host started (a reshard): read from its first record"}
	}
}
