package host

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/shared"
)

// TestPlanStart is the start-position rule as a table: start_position
// applies only to the shards of a stream the app has never consumed;
// every other shard without a checkpoint (children of a reshard, found
// while running or after a restart) starts at its first record.
func TestPlanStart(t *testing.T) {
	latest := iteratorPosition{typ: types.ShardIteratorTypeLatest}
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	atTS := iteratorPosition{typ: types.ShardIteratorTypeAtTimestamp, ts: ts}
	trim := iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon}
	cp := shared.Checkpoint{SequenceNumber: "100"}
	inAgg := shared.Checkpoint{SequenceNumber: "200", SubSequenceNumber: 3}
	after := func(seq string) iteratorPosition {
		return iteratorPosition{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: seq}
	}
	at := func(seq string) iteratorPosition {
		return iteratorPosition{typ: types.ShardIteratorTypeAtSequenceNumber, seq: seq}
	}
	cases := []struct {
		name string
		f    startFacts
		want startPlan
	}{
		{"shard end", startFacts{found: true, cp: shared.Checkpoint{ShardEnd: true}, configured: latest, streamConsumed: true, initial: true},
			startPlan{ended: true}},
		{"checkpoint", startFacts{found: true, cp: cp, configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: after("100")}},
		{"checkpoint, closed shard", startFacts{found: true, cp: cp, configured: latest, streamConsumed: true, initial: true, closed: true},
			startPlan{pos: after("100")}},
		{"checkpoint inside an aggregate, deaggregate on: skip the done user records", startFacts{found: true, cp: inAgg, deaggregate: true, configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: at("200"), skipSeq: "200", skipSub: 3}},
		{"checkpoint on a plain record, deaggregate on", startFacts{found: true, cp: cp, deaggregate: true, configured: latest, streamConsumed: true},
			startPlan{pos: at("100"), skipSeq: "100", skipSub: 0}},
		{"rewound to TRIM_HORIZON", startFacts{found: true, cp: shared.RewoundToTrimHorizon(), deaggregate: true, configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: trim}},
		{"rewound AT a record, deaggregate off: that record again", startFacts{found: true, cp: shared.Checkpoint{SequenceNumber: "300", SubSequenceNumber: shared.SubSequenceAt}, configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: at("300")}},
		{"rewound AT a record, deaggregate on: that record again, nothing skipped", startFacts{found: true, cp: shared.Checkpoint{SequenceNumber: "300", SubSequenceNumber: shared.SubSequenceAt}, deaggregate: true, configured: latest, streamConsumed: true},
			startPlan{pos: at("300")}},
		{"checkpoint inside an aggregate, deaggregate off: the aggregate again, whole", startFacts{found: true, cp: inAgg, configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: at("200")}},

		{"first start at LATEST, open shard", startFacts{configured: latest, initial: true},
			startPlan{pos: latest}},
		{"first start at LATEST, closed shard: recorded as ended", startFacts{configured: latest, initial: true, closed: true},
			startPlan{markEnded: true}},
		{"first start at AT_TIMESTAMP, closed shard is read from the timestamp", startFacts{configured: atTS, initial: true, closed: true},
			startPlan{pos: atTS}},
		{"first start at AT_TIMESTAMP, open shard", startFacts{configured: atTS, initial: true},
			startPlan{pos: atTS}},
		{"first start at TRIM_HORIZON, closed shard", startFacts{configured: trim, initial: true, closed: true},
			startPlan{pos: trim}},

		{"child appearing while running, LATEST", startFacts{configured: latest},
			startPlan{pos: trim}},
		{"child appearing while running, AT_TIMESTAMP", startFacts{configured: atTS},
			startPlan{pos: trim}},
		{"child listed at a restart before its first checkpoint (stream consumed)", startFacts{configured: latest, streamConsumed: true, initial: true},
			startPlan{pos: trim}},
		{"closed shard of a consumed stream with no checkpoint: read it, never skip", startFacts{configured: latest, streamConsumed: true, initial: true, closed: true},
			startPlan{pos: trim}},
		{"consumed stream at AT_TIMESTAMP: the timestamp no longer applies", startFacts{configured: atTS, streamConsumed: true, initial: true},
			startPlan{pos: trim}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := planStart(c.f)
			if got.why == "" {
				t.Errorf("plan has no reason for the log")
			}
			got.why = ""
			if got != c.want {
				t.Errorf("planStart(%+v)\n got  %+v\n want %+v", c.f, got, c.want)
			}
		})
	}
}
