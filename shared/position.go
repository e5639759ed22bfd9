package shared

import "strings"

// SubSequenceAt in Checkpoint.SubSequenceNumber marks a position written
// by `kinesis-host rewind -apply`: the record with the checkpoint's
// SequenceNumber is NOT done yet and is the next one delivered (the shard
// restarts AT_SEQUENCE_NUMBER instead of AFTER_SEQUENCE_NUMBER). It sorts
// just before (SequenceNumber, 0), so the first checkpoint written after
// the rewind — that record done — moves forward from it, and every store's
// never-backwards rule holds. It is the only negative sub-sequence number a
// store must accept; seed-layout readers see the sequence number and would
// resume after it (one record later than kinesis-host does).
const SubSequenceAt int64 = -1

// RewoundToTrimHorizon is the checkpoint `kinesis-host rewind -to
// TRIM_HORIZON -apply` writes: AT sequence number 0, before every record a
// shard can hold, so the shard restarts at TRIM_HORIZON. (Clearing the
// checkpoint instead would let start_position apply again when every shard
// of the stream was rewound.)
func RewoundToTrimHorizon() Checkpoint {
	return Checkpoint{SequenceNumber: "0", SubSequenceNumber: SubSequenceAt}
}

// IsTrimHorizon reports whether cp is RewoundToTrimHorizon's position.
func (cp Checkpoint) IsTrimHorizon() bool {
	return !cp.ShardEnd && cp.SubSequenceNumber == SubSequenceAt && strings.TrimLeft(cp.SequenceNumber, "0") == "" && cp.SequenceNumber != ""
}
