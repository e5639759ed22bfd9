package host

import (
	"fmt"

	"github.com/kinesis-host/kinesis-host/shared"
)

// cutBatch returns how many of recs (at least one, when any) go into the
// next handler call: at most maxRecords records and maxBytes bytes of data
// plus partition keys. A single record larger than maxBytes still goes
// alone, since Kinesis records are at most 1 MiB and must be delivered.
func cutBatch(recs []shared.Record, maxRecords int, maxBytes int64) int {
	if len(recs) == 0 {
		return 0
	}
	var size int64
	n := 0
	for n < len(recs) && n < maxRecords {
		sz := int64(len(recs[n].Data) + len(recs[n].PartitionKey))
		if n > 0 && size+sz > maxBytes {
			break
		}
		size += sz
		n++
	}
	return n
}

// batchOutcome is what the shard worker does after a handler call.
type batchOutcome struct {
	// checkpoint, when non-nil, is the new position to store.
	checkpoint *shared.Checkpoint
	// done is how many records of the batch will not be delivered again.
	done int
	// stop ends the whole scan cleanly; fail ends it with an error.
	stop bool
	fail *shared.Error
	// invalid: the response itself is malformed (a handler bug). The scan
	// stops whatever the failure policy: no record may be skipped on the
	// strength of an answer that does not say which record failed.
	invalid bool
}

// decideBatch turns a handler's response into the next step. It trusts
// nothing: an out-of-range response is a failure, never a checkpoint past
// records the handler did not acknowledge.
func decideBatch(recs []shared.Record, resp *shared.BatchResponse) batchOutcome {
	n := len(recs)
	if resp.Acked < 0 || resp.Acked > n || resp.CheckpointTo < 0 || resp.CheckpointTo > resp.Acked ||
		(resp.Err != nil && resp.Acked >= n) {
		return batchOutcome{invalid: true, fail: &shared.Error{Code: shared.CodeInternal, Message: fmt.Sprintf(
			"handler plugin returned an invalid batch response (Acked=%d, CheckpointTo=%d, error=%v for %d records); an error must belong to a record after the acknowledged ones",
			resp.Acked, resp.CheckpointTo, resp.Err != nil, n)}}
	}
	out := batchOutcome{done: resp.Acked, stop: resp.Stop, fail: resp.Err}
	if resp.CheckpointTo > 0 {
		r := recs[resp.CheckpointTo-1]
		out.checkpoint = &shared.Checkpoint{SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber}
	}
	return out
}
