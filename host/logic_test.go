package host

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithy "github.com/aws/smithy-go"

	"github.com/kinesis-host/kinesis-host/shared"
)

func TestLineage(t *testing.T) {
	// Each step: an operation, then the expected Ready() list.
	type step struct {
		op   string // observe|children:<id>[<parent>[+<adjacent>]],... | start:<id> | finish:<id> | forget:<id>
		want []string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"independent shards start at once", []step{
			{"observe:a,b", []string{"a", "b"}},
		}},
		{"split: children wait for the parent", []step{
			{"observe:p,c1<p,c2<p", []string{"p"}},
			{"start:p", nil},
			{"finish:p", []string{"c1", "c2"}},
		}},
		{"merge: child waits for both parents", []step{
			{"observe:a,b,m<a+b", []string{"a", "b"}},
			{"start:a", []string{"b"}},
			{"start:b", nil},
			{"finish:a", nil},
			{"finish:b", []string{"m"}},
		}},
		{"listing out of order", []step{
			{"observe:m<a+b,b,a", []string{"a", "b"}},
		}},
		{"trimmed parent does not block", []step{
			{"observe:c<gone", []string{"c"}},
		}},
		{"forgotten parent unblocks", []step{
			{"observe:p,c<p", []string{"p"}},
			{"start:p", nil},
			{"forget:p", []string{"c"}},
		}},
		{"grandchildren wait for their own parent", []step{
			{"observe:p,c<p,g<c", []string{"p"}},
			{"start:p", nil},
			{"finish:p", []string{"c"}},
			{"start:c", nil},
			{"finish:c", []string{"g"}},
		}},
		{"child naming an unlisted parent waits for a listing", []step{
			{"observe:a", []string{"a"}},
			{"start:a", nil},
			{"finish:a", nil},
			{"children:m<a+fresh", nil},
			{"observe:a,fresh,m<a+fresh", []string{"fresh"}},
			{"start:fresh", nil},
			{"finish:fresh", []string{"m"}},
		}},
		{"child whose unlisted parent is really gone starts after the listing", []step{
			{"children:c<gone", nil},
			{"observe:c<gone", []string{"c"}},
		}},
		{"already finished shard (SHARD_END) is not ready again", []step{
			{"observe:p", []string{"p"}},
			{"start:p", nil},
			{"finish:p", nil},
			{"observe:p", nil},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLineage()
			for i, st := range tc.steps {
				verb, arg, _ := strings.Cut(st.op, ":")
				switch verb {
				case "observe", "children":
					var infos []ShardInfo
					for _, s := range strings.Split(arg, ",") {
						id, parents, _ := strings.Cut(s, "<")
						p, adj, _ := strings.Cut(parents, "+")
						infos = append(infos, ShardInfo{ID: id, Parent: p, AdjacentParent: adj})
					}
					if verb == "observe" {
						l.Observe(infos)
					} else {
						l.ObserveChildren(infos)
					}
				case "start":
					l.Started(arg)
				case "finish":
					l.Finished(arg)
				case "forget":
					l.Forget(arg)
				}
				if got := l.Ready(); !reflect.DeepEqual(got, st.want) {
					t.Fatalf("step %d (%s): Ready() = %v, want %v", i, st.op, got, st.want)
				}
			}
		})
	}
}

func recsOfSizes(sizes ...int) []shared.Record {
	out := make([]shared.Record, len(sizes))
	for i, s := range sizes {
		out[i] = shared.Record{Data: make([]byte, s), SequenceNumber: fmt.Sprint(i + 1)}
	}
	return out
}

func TestCutBatch(t *testing.T) {
	cases := []struct {
		name     string
		sizes    []int
		maxRecs  int
		maxBytes int64
		want     int
	}{
		{"empty", nil, 10, 100, 0},
		{"all fit", []int{10, 10, 10}, 10, 100, 3},
		{"count cap", []int{1, 1, 1, 1}, 2, 100, 2},
		{"byte cap", []int{40, 40, 40}, 10, 100, 2},
		{"exact byte cap", []int{50, 50, 1}, 10, 100, 2},
		{"oversized single record still goes alone", []int{500, 1}, 10, 100, 1},
	}
	for _, c := range cases {
		if got := cutBatch(recsOfSizes(c.sizes...), c.maxRecs, c.maxBytes); got != c.want {
			t.Errorf("%s: cutBatch = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDecideBatch(t *testing.T) {
	recs := recsOfSizes(1, 1, 1, 1)
	cases := []struct {
		name     string
		resp     shared.BatchResponse
		wantDone int
		wantCP   string // "" = no checkpoint
		wantStop bool
		wantFail bool
	}{
		{"all acked", shared.BatchResponse{Acked: 4, CheckpointTo: 4}, 4, "4", false, false},
		{"skip last", shared.BatchResponse{Acked: 4, CheckpointTo: 3}, 4, "3", false, false},
		{"nothing", shared.BatchResponse{}, 0, "", false, false},
		{"partial ack", shared.BatchResponse{Acked: 2, CheckpointTo: 2}, 2, "2", false, false},
		{"error on third", shared.BatchResponse{Acked: 2, CheckpointTo: 2, Err: &shared.Error{Code: shared.CodeHandler}}, 2, "2", false, true},
		{"stop", shared.BatchResponse{Acked: 1, CheckpointTo: 1, Stop: true}, 1, "1", true, false},
		{"acked beyond the batch is rejected", shared.BatchResponse{Acked: 5, CheckpointTo: 5}, 0, "", false, true},
		{"checkpoint beyond ack is rejected", shared.BatchResponse{Acked: 1, CheckpointTo: 3}, 0, "", false, true},
		{"negative is rejected", shared.BatchResponse{Acked: -1}, 0, "", false, true},
		{"an error with everything acked is rejected", shared.BatchResponse{Acked: 4, CheckpointTo: 4, Err: &shared.Error{Code: shared.CodeHandler}}, 0, "", false, true},
	}
	for _, c := range cases {
		out := decideBatch(recs, &c.resp)
		cp := ""
		if out.checkpoint != nil {
			cp = out.checkpoint.SequenceNumber
		}
		if out.done != c.wantDone || cp != c.wantCP || out.stop != c.wantStop || (out.fail != nil) != c.wantFail {
			t.Errorf("%s: got done=%d cp=%q stop=%v fail=%v", c.name, out.done, cp, out.stop, out.fail)
		}
	}
}

func TestClassify(t *testing.T) {
	wrap := func(err error) error {
		return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords", Err: err}
	}
	cases := []struct {
		err  error
		want errClass
	}{
		{wrap(&types.ExpiredIteratorException{}), errExpired},
		{wrap(&types.ProvisionedThroughputExceededException{}), errRetry},
		{wrap(&types.KMSThrottlingException{}), errRetry},
		{wrap(&types.InternalFailureException{}), errRetry},
		{wrap(&types.LimitExceededException{}), errRetry},
		{wrap(syscall.ECONNRESET), errRetry},
		{wrap(errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")), errRetry},
		{wrap(&types.KMSAccessDeniedException{}), errFatal},
		{wrap(&types.InvalidArgumentException{}), errFatal},
		{wrap(&types.AccessDeniedException{}), errFatal},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if !isExpiredCheckpoint(wrap(&types.InvalidArgumentException{Message: ptr("StartingSequenceNumber 123 used in GetShardIterator on shard x is not valid")})) {
		t.Error("expired checkpoint not recognised")
	}
	if isExpiredCheckpoint(wrap(&types.InvalidArgumentException{Message: ptr("Limit must be at most 10000")})) {
		t.Error("a different InvalidArgument must not fall back")
	}
}

func ptr(s string) *string { return &s }
