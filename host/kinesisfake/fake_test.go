package kinesisfake

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// kinesisAPI mirrors host.KinesisAPI without importing package host.
type kinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var (
	_ kinesisAPI = (*Fake)(nil)
	_ kinesisAPI = (*kinesis.Client)(nil)
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func newFake(t *testing.T) (*Fake, *Clock) {
	t.Helper()
	clk := NewClock(t0)
	f := New()
	f.Now = clk.Now
	return f, clk
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// errIs reports whether err holds an error of type T.
func errIs[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func seqInt(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || len(s) != 56 {
		t.Fatalf("sequence number %q is not a 56-digit decimal", s)
	}
	return n
}

func iter(t *testing.T, f *Fake, stream, shard string, typ types.ShardIteratorType, seq *string) string {
	t.Helper()
	out, err := f.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ, StartingSequenceNumber: seq,
	})
	must(t, err)
	return *out.ShardIterator
}

func allShards(t *testing.T, f *Fake, in *kinesis.ListShardsInput) []types.Shard {
	t.Helper()
	var shards []types.Shard
	for {
		out, err := f.ListShards(context.Background(), in)
		must(t, err)
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: in.MaxResults}
	}
}

func ids(shards []types.Shard) []string {
	out := make([]string, len(shards))
	for i, s := range shards {
		out[i] = *s.ShardId
	}
	return out
}

func TestCreateStreamHashRanges(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 1200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f, _ := newFake(t)
			must(t, f.CreateStream("s", n))
			shards := f.Shards("s")
			if len(shards) != n {
				t.Fatalf("got %d shards", len(shards))
			}
			next := big.NewInt(0)
			for i, s := range shards {
				if want := fmt.Sprintf("shardId-%012d", i); *s.ShardId != want {
					t.Fatalf("shard %d id %s, want %s", i, *s.ShardId, want)
				}
				start, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
				end, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
				if start.Cmp(next) != 0 || end.Cmp(start) < 0 {
					t.Fatalf("shard %d range %s..%s, want start %s", i, start, end, next)
				}
				next.Add(end, big.NewInt(1))
				if s.SequenceNumberRange.EndingSequenceNumber != nil || s.ParentShardId != nil {
					t.Fatalf("new shard %d is closed or has a parent", i)
				}
			}
			if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
				t.Fatalf("ranges end at %s, want 2^128", next)
			}
		})
	}
}

func TestCreateStreamErrors(t *testing.T) {
	f, _ := newFake(t)
	must(t, f.CreateStream("s", 1))
	tests := []struct {
		name   string
		stream string
		shards int
		check  func(error) bool
	}{
		{"exists", "s", 1, errIs[*types.ResourceInUseException]},
		{"zero shards", "t", 0, errIs[*types.InvalidArgumentException]},
		{"bad name", "a/b", 1, errIs[*types.InvalidArgumentException]},
		{"empty name", "", 1, errIs[*types.InvalidArgumentException]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.CreateStream(tc.stream, tc.shards); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestListShardsPaging(t *testing.T) {
	f, clk := newFake(t)
	must(t, f.CreateStream("big", 1200))
	ctx := context.Background()

	t.Run("MaxResults 100", func(t *testing.T) {
		in := &kinesis.ListShardsInput{StreamName: aws.String("big"), MaxResults: aws.Int32(100)}
		pages, seen := 0, map[string]bool{}
		var prev string
		for {
			out, err := f.ListShards(ctx, in)
			must(t, err)
			pages++
			if len(out.Shards) != 100 {
				t.Fatalf("page %d has %d shards", pages, len(out.Shards))
			}
			for _, s := range out.Shards {
				if seen[*s.ShardId] || *s.ShardId <= prev {
					t.Fatalf("shard %s repeated or out of order", *s.ShardId)
				}
				seen[*s.ShardId] = true
				prev = *s.ShardId
			}
			if out.NextToken == nil {
				break
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(100)}
		}
		if pages != 12 || len(seen) != 1200 {
			t.Fatalf("%d pages, %d shards", pages, len(seen))
		}
	})

	t.Run("default MaxResults is 1000", func(t *testing.T) {
		out, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("big")})
		must(t, err)
		if len(out.Shards) != 1000 || out.NextToken == nil {
			t.Fatalf("first page: %d shards, token %v", len(out.Shards), out.NextToken)
		}
		out, err = f.ListShards(ctx, &kinesis.ListShardsInput{NextToken: out.NextToken})
		must(t, err)
		if len(out.Shards) != 200 || out.NextToken != nil {
			t.Fatalf("second page: %d shards, token %v", len(out.Shards), out.NextToken)
		}
	})

	t.Run("ExclusiveStartShardId", func(t *testing.T) {
		out, err := f.ListShards(ctx, &kinesis.ListShardsInput{
			StreamName: aws.String("big"), ExclusiveStartShardId: aws.String("shardId-000000001195"),
		})
		must(t, err)
		if got := strings.Join(ids(out.Shards), ","); got != "shardId-000000001196,shardId-000000001197,shardId-000000001198,shardId-000000001199" {
			t.Fatalf("got %s", got)
		}
	})

	first, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("big"), MaxResults: aws.Int32(10)})
	must(t, err)
	token := first.NextToken

	errTests := []struct {
		name  string
		in    *kinesis.ListShardsInput
		check func(error) bool
	}{
		{"NextToken with StreamName", &kinesis.ListShardsInput{NextToken: token, StreamName: aws.String("big")}, errIs[*types.InvalidArgumentException]},
		{"NextToken with StreamARN", &kinesis.ListShardsInput{NextToken: token, StreamARN: aws.String(f.StreamARN("big"))}, errIs[*types.InvalidArgumentException]},
		{"NextToken with ExclusiveStartShardId", &kinesis.ListShardsInput{NextToken: token, ExclusiveStartShardId: aws.String("shardId-000000000001")}, errIs[*types.InvalidArgumentException]},
		{"NextToken with ShardFilter", &kinesis.ListShardsInput{NextToken: token, ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}}, errIs[*types.InvalidArgumentException]},
		{"garbage NextToken", &kinesis.ListShardsInput{NextToken: aws.String("not-a-token")}, errIs[*types.InvalidArgumentException]},
		{"edited NextToken", &kinesis.ListShardsInput{NextToken: aws.String(*token + "AA")}, errIs[*types.InvalidArgumentException]},
		{"NextToken from another Fake", &kinesis.ListShardsInput{NextToken: otherFakeToken(t)}, errIs[*types.InvalidArgumentException]},
		{"unknown stream", &kinesis.ListShardsInput{StreamName: aws.String("nope")}, errIs[*types.ResourceNotFoundException]},
		{"unknown ARN", &kinesis.ListShardsInput{StreamARN: aws.String(f.StreamARN("nope"))}, errIs[*types.ResourceNotFoundException]},
		{"no stream", &kinesis.ListShardsInput{}, errIs[*types.InvalidArgumentException]},
		{"MaxResults 0", &kinesis.ListShardsInput{StreamName: aws.String("big"), MaxResults: aws.Int32(0)}, errIs[*types.InvalidArgumentException]},
		{"MaxResults 10001", &kinesis.ListShardsInput{StreamName: aws.String("big"), MaxResults: aws.Int32(10001)}, errIs[*types.InvalidArgumentException]},
		{"wrong StreamCreationTimestamp", &kinesis.ListShardsInput{StreamName: aws.String("big"), StreamCreationTimestamp: aws.Time(t0.Add(time.Hour))}, errIs[*types.ResourceNotFoundException]},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.ListShards(ctx, tc.in)
			if !tc.check(err) || out != nil {
				t.Fatalf("got %v, %v", out, err)
			}
			if !errIs[*smithy.OperationError](err) {
				t.Fatalf("error %T is not wrapped in *smithy.OperationError", err)
			}
		})
	}

	t.Run("MaxResults 10000 and StreamARN", func(t *testing.T) {
		out, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: aws.String(f.StreamARN("big")), MaxResults: aws.Int32(10000), StreamCreationTimestamp: aws.Time(t0)})
		must(t, err)
		if len(out.Shards) != 1200 || out.NextToken != nil {
			t.Fatalf("%d shards, token %v", len(out.Shards), out.NextToken)
		}
	})

	t.Run("NextToken expires", func(t *testing.T) {
		clk.Advance(300 * time.Second)
		if _, err := f.ListShards(ctx, &kinesis.ListShardsInput{NextToken: token}); err != nil {
			t.Fatalf("token at 300s: %v", err)
		}
		clk.Advance(time.Millisecond)
		if _, err := f.ListShards(ctx, &kinesis.ListShardsInput{NextToken: token}); !errIs[*types.ExpiredNextTokenException](err) {
			t.Fatalf("got %v", err)
		}
	})
}

func otherFakeToken(t *testing.T) *string {
	f := New()
	must(t, f.CreateStream("big", 3))
	out, err := f.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("big"), MaxResults: aws.Int32(1)})
	must(t, err)
	return out.NextToken
}

// reshardedStream builds, with the clock moving an hour between steps:
//
//	t0:     shard 0 [0, 2^127-1], shard 1 [2^127, 2^128-1]
//	t0+1h:  split 0 at 2^126 into 2 [0, 2^126-1] and 3 [2^126, 2^127-1]
//	t0+2h:  merge 3 and 1 into 4 [2^126, 2^128-1]
func reshardedStream(t *testing.T) (*Fake, *Clock) {
	t.Helper()
	f, clk := newFake(t)
	must(t, f.CreateStream("s", 2))
	clk.Advance(time.Hour)
	must(t, f.SplitShard("s", "shardId-000000000000", new(big.Int).Lsh(big.NewInt(1), 126).String()))
	clk.Advance(time.Hour)
	must(t, f.MergeShards("s", "shardId-000000000003", "shardId-000000000001"))
	clk.Advance(time.Hour)
	return f, clk
}

func TestSplitMergeLineage(t *testing.T) {
	f, _ := reshardedStream(t)
	shards := f.Shards("s")
	pow := func(n uint) string { return new(big.Int).Lsh(big.NewInt(1), n).String() }
	minus1 := func(n uint) string {
		return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), n), big.NewInt(1)).String()
	}
	want := []struct {
		id, parent, adjacent, start, end string
		closed                           bool
	}{
		{"shardId-000000000000", "", "", "0", minus1(127), true},
		{"shardId-000000000001", "", "", pow(127), minus1(128), true},
		{"shardId-000000000002", "shardId-000000000000", "", "0", minus1(126), false},
		{"shardId-000000000003", "shardId-000000000000", "", pow(126), minus1(127), true},
		{"shardId-000000000004", "shardId-000000000003", "shardId-000000000001", pow(126), minus1(128), false},
	}
	if len(shards) != len(want) {
		t.Fatalf("got %d shards", len(shards))
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for i, w := range want {
		s := shards[i]
		got := fmt.Sprint(*s.ShardId, str(s.ParentShardId), str(s.AdjacentParentShardId),
			*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey, s.SequenceNumberRange.EndingSequenceNumber != nil)
		if exp := fmt.Sprint(w.id, w.parent, w.adjacent, w.start, w.end, w.closed); got != exp {
			t.Errorf("shard %d:\n got %s\nwant %s", i, got, exp)
		}
		if s.SequenceNumberRange.EndingSequenceNumber != nil &&
			seqInt(t, *s.SequenceNumberRange.EndingSequenceNumber).Cmp(seqInt(t, *s.SequenceNumberRange.StartingSequenceNumber)) <= 0 {
			t.Errorf("shard %d ends before it starts", i)
		}
	}

	errTests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"split closed shard", f.SplitShard("s", "shardId-000000000000", "1"), errIs[*types.ResourceInUseException]},
		{"split at start key", f.SplitShard("s", "shardId-000000000002", "0"), errIs[*types.InvalidArgumentException]},
		{"split past end key", f.SplitShard("s", "shardId-000000000002", pow(126)), errIs[*types.InvalidArgumentException]},
		{"split bad key", f.SplitShard("s", "shardId-000000000002", "x"), errIs[*types.InvalidArgumentException]},
		{"split unknown shard", f.SplitShard("s", "shardId-000000000099", "5"), errIs[*types.ResourceNotFoundException]},
		{"split unknown stream", f.SplitShard("nope", "shardId-000000000002", "5"), errIs[*types.ResourceNotFoundException]},
		{"merge closed", f.MergeShards("s", "shardId-000000000000", "shardId-000000000004"), errIs[*types.ResourceInUseException]},
		{"merge self", f.MergeShards("s", "shardId-000000000002", "shardId-000000000002"), errIs[*types.InvalidArgumentException]},
		{"put to closed shard", func() error { _, err := f.PutRecordToShard("s", "shardId-000000000000", "k", nil); return err }(), errIs[*types.InvalidArgumentException]},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.check(tc.err) {
				t.Fatalf("got %v", tc.err)
			}
		})
	}

	t.Run("merge not adjacent", func(t *testing.T) {
		g, _ := newFake(t)
		must(t, g.CreateStream("s", 3))
		if err := g.MergeShards("s", "shardId-000000000000", "shardId-000000000002"); !errIs[*types.InvalidArgumentException](err) {
			t.Fatalf("got %v", err)
		}
		must(t, g.MergeShards("s", "shardId-000000000001", "shardId-000000000000")) // either order
	})
}

func TestShardFilter(t *testing.T) {
	f, _ := reshardedStream(t)
	tests := []struct {
		name   string
		filter *types.ShardFilter
		excl   *string
		want   string
	}{
		{"none", nil, nil, "0,1,2,3,4"},
		{"FROM_TRIM_HORIZON", &types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, nil, "0,1,2,3,4"},
		{"AT_TRIM_HORIZON", &types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, nil, "0,1"},
		{"AT_LATEST", &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, nil, "2,4"},
		{"AFTER_SHARD_ID", &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000002")}, nil, "3,4"},
		{"AT_LATEST after 2", &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, aws.String("shardId-000000000002"), "4"},
		{"AT_TIMESTAMP before creation", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(-time.Hour))}, nil, "0,1"},
		{"AT_TIMESTAMP t0+30m", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(30 * time.Minute))}, nil, "0,1"},
		{"AT_TIMESTAMP t0+90m", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(90 * time.Minute))}, nil, "1,2,3"},
		{"AT_TIMESTAMP t0+150m", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(150 * time.Minute))}, nil, "2,4"},
		{"FROM_TIMESTAMP t0+90m", &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(t0.Add(90 * time.Minute))}, nil, "1,2,3,4"},
		{"FROM_TIMESTAMP before creation", &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(t0.Add(-time.Hour))}, nil, "0,1,2,3,4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// MaxResults 1 also checks that the token keeps the filter.
			shards := allShards(t, f, &kinesis.ListShardsInput{
				StreamName: aws.String("s"), ShardFilter: tc.filter, ExclusiveStartShardId: tc.excl, MaxResults: aws.Int32(1),
			})
			var got []string
			for _, id := range ids(shards) {
				var n int
				fmt.Sscanf(id, "shardId-%d", &n)
				got = append(got, fmt.Sprint(n))
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v, want %s", ids(shards), tc.want)
			}
		})
	}

	bad := []*types.ShardFilter{
		{Type: types.ShardFilterTypeAfterShardId},
		{Type: types.ShardFilterTypeAtTimestamp},
		{Type: types.ShardFilterTypeFromTimestamp, ShardId: aws.String("shardId-000000000000"), Timestamp: aws.Time(t0)},
		{Type: types.ShardFilterTypeAtLatest, Timestamp: aws.Time(t0)},
		{Type: "SIDEWAYS"},
		{},
	}
	for i, sf := range bad {
		t.Run(fmt.Sprintf("bad filter %d", i), func(t *testing.T) {
			_, err := f.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: sf})
			if !errIs[*types.InvalidArgumentException](err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestPutRecordRoutingAndSequenceNumbers(t *testing.T) {
	f, clk := newFake(t)
	must(t, f.CreateStream("s", 7))
	must(t, f.CreateStream("other", 1))
	ranges := map[string][2]*big.Int{}
	for _, s := range f.Shards("s") {
		a, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
		b, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
		ranges[*s.ShardId] = [2]*big.Int{a, b}
	}
	var prev *big.Int
	lastInShard := map[string]*big.Int{}
	for i := 0; i < 500; i++ {
		pk := fmt.Sprintf("key-%d", i)
		shardID, seq, err := f.PutRecord("s", pk, []byte(pk))
		must(t, err)
		sum := md5.Sum([]byte(pk))
		h := new(big.Int).SetBytes(sum[:])
		if h.String() != HashKey(pk) {
			t.Fatalf("HashKey(%q) = %s, want %s", pk, HashKey(pk), h)
		}
		r := ranges[shardID]
		if h.Cmp(r[0]) < 0 || h.Cmp(r[1]) > 0 {
			t.Fatalf("%s hashed to %s, routed to %s [%s, %s]", pk, h, shardID, r[0], r[1])
		}
		n := seqInt(t, seq)
		if prev != nil && n.Cmp(prev) <= 0 {
			t.Fatalf("sequence number %s not above %s", n, prev)
		}
		if last := lastInShard[shardID]; last != nil && n.Cmp(last) <= 0 {
			t.Fatalf("sequence number not increasing in %s", shardID)
		}
		prev, lastInShard[shardID] = n, n
		if i%100 == 0 {
			// Other streams share the counter, so order still holds.
			_, s2, err := f.PutRecord("other", pk, nil)
			must(t, err)
			prev = seqInt(t, s2)
		}
		clk.Advance(time.Millisecond)
	}
	if len(lastInShard) != 7 {
		t.Fatalf("500 keys reached only %d of 7 shards", len(lastInShard))
	}
	recs := f.Records("s", "shardId-000000000003")
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	for _, r := range recs {
		if r.ApproximateArrivalTimestamp == nil || r.ApproximateArrivalTimestamp.Before(t0) || r.PartitionKey == nil || string(r.Data) != *r.PartitionKey {
			t.Fatalf("bad record %+v", r)
		}
		if shard, _ := f.shardOf("s", *r.PartitionKey); shard != "shardId-000000000003" {
			t.Fatalf("record %s in wrong shard", *r.PartitionKey)
		}
	}

	errTests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"unknown stream", second(f.PutRecord("nope", "k", nil)), errIs[*types.ResourceNotFoundException]},
		{"empty key", second(f.PutRecord("s", "", nil)), errIs[*types.InvalidArgumentException]},
		{"long key", second(f.PutRecord("s", strings.Repeat("k", 257), nil)), errIs[*types.InvalidArgumentException]},
		{"too big", second(f.PutRecord("s", "k", make([]byte, MaxRecordBytes))), errIs[*types.InvalidArgumentException]},
		{"to unknown shard", func() error { _, err := f.PutRecordToShard("s", "shardId-000000000099", "k", nil); return err }(), errIs[*types.ResourceNotFoundException]},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.check(tc.err) {
				t.Fatalf("got %v", tc.err)
			}
		})
	}
	if f.Records("nope", "shardId-000000000000") != nil || f.Records("s", "shardId-000000000099") != nil || f.Shards("nope") != nil {
		t.Fatal("lookups of unknown streams or shards should give nil")
	}
}

func second(_ string, _ string, err error) error { return err }

// shardOf finds which shard a partition key routes to now.
func (f *Fake) shardOf(stream, pk string) (string, error) {
	h := hashKey(pk)
	for _, s := range f.Shards(stream) {
		a, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
		b, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
		if s.SequenceNumberRange.EndingSequenceNumber == nil && a.Cmp(h) <= 0 && h.Cmp(b) <= 0 {
			return *s.ShardId, nil
		}
	}
	return "", errors.New("no shard")
}

func TestIteratorTypes(t *testing.T) {
	f, clk := newFake(t)
	must(t, f.CreateStream("s", 2))
	const shard = "shardId-000000000000"
	var seqs []string
	for i := 0; i < 5; i++ {
		seq, err := f.PutRecordToShard("s", shard, "k", []byte{byte(i)})
		must(t, err)
		seqs = append(seqs, seq)
		clk.Advance(time.Second)
	}
	otherSeq, err := f.PutRecordToShard("s", "shardId-000000000001", "k", nil)
	must(t, err)
	startSeq := *f.Shards("s")[0].SequenceNumberRange.StartingSequenceNumber

	tests := []struct {
		name    string
		in      kinesis.GetShardIteratorInput
		want    []byte // Data bytes of the records read
		wantErr func(error) bool
		errText string
	}{
		{name: "TRIM_HORIZON", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon}, want: []byte{0, 1, 2, 3, 4}},
		{name: "LATEST", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeLatest}, want: []byte{}},
		{name: "AT_SEQUENCE_NUMBER", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: &seqs[2]}, want: []byte{2, 3, 4}},
		{name: "AFTER_SEQUENCE_NUMBER", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: &seqs[2]}, want: []byte{3, 4}},
		{name: "AFTER_SEQUENCE_NUMBER last", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: &seqs[4]}, want: []byte{}},
		{name: "AT shard StartingSequenceNumber", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: &startSeq}, want: []byte{0, 1, 2, 3, 4}},
		{name: "AT_TIMESTAMP", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(t0.Add(1500 * time.Millisecond))}, want: []byte{2, 3, 4}},
		{name: "AT_TIMESTAMP exact", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(t0.Add(time.Second))}, want: []byte{1, 2, 3, 4}},
		{name: "AT_TIMESTAMP old", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(t0.Add(-time.Hour))}, want: []byte{0, 1, 2, 3, 4}},
		{name: "AT_TIMESTAMP future", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(t0.Add(time.Hour))}, want: []byte{}},
		{name: "StreamARN", in: kinesis.GetShardIteratorInput{StreamARN: aws.String(f.StreamARN("s")), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}, want: []byte{0, 1, 2, 3, 4}},

		{name: "seq of other shard", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: &otherSeq}, wantErr: errIs[*types.InvalidArgumentException], errText: "StartingSequenceNumber"},
		{name: "unknown seq", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String("12345")}, wantErr: errIs[*types.InvalidArgumentException], errText: "StartingSequenceNumber"},
		{name: "malformed seq", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("abc")}, wantErr: errIs[*types.InvalidArgumentException], errText: "startingSequenceNumber"},
		{name: "missing seq", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber}, wantErr: errIs[*types.InvalidArgumentException], errText: "StartingSequenceNumber"},
		{name: "missing timestamp", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp}, wantErr: errIs[*types.InvalidArgumentException]},
		{name: "missing type", in: kinesis.GetShardIteratorInput{}, wantErr: errIs[*types.InvalidArgumentException]},
		{name: "unknown shard", in: kinesis.GetShardIteratorInput{ShardId: aws.String("shardId-000000000042"), ShardIteratorType: types.ShardIteratorTypeLatest}, wantErr: errIs[*types.ResourceNotFoundException]},
		{name: "unknown stream", in: kinesis.GetShardIteratorInput{StreamName: aws.String("nope"), ShardIteratorType: types.ShardIteratorTypeLatest}, wantErr: errIs[*types.ResourceNotFoundException]},
		{name: "DryRun", in: kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeLatest, DryRun: aws.Bool(true)}, wantErr: errIs[*types.DryRunOperationException]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.StreamName == nil && in.StreamARN == nil {
				in.StreamName = aws.String("s")
			}
			if in.ShardId == nil {
				in.ShardId = aws.String(shard)
			}
			out, err := f.GetShardIterator(context.Background(), &in)
			if tc.wantErr != nil {
				if !tc.wantErr(err) || !strings.Contains(fmt.Sprint(err), tc.errText) {
					t.Fatalf("got %v", err)
				}
				return
			}
			must(t, err)
			got := []byte{}
			it := out.ShardIterator
			for it != nil {
				res, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(2)})
				must(t, err)
				for _, r := range res.Records {
					got = append(got, r.Data...)
				}
				if len(res.Records) == 0 {
					break
				}
				it = res.NextShardIterator
			}
			if string(got) != string(tc.want) {
				t.Fatalf("read %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("LATEST sees later records", func(t *testing.T) {
		it := iter(t, f, "s", shard, types.ShardIteratorTypeLatest, nil)
		_, err := f.PutRecordToShard("s", shard, "k", []byte{9})
		must(t, err)
		res, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: &it})
		must(t, err)
		if len(res.Records) != 1 || res.Records[0].Data[0] != 9 {
			t.Fatalf("got %+v", res.Records)
		}
	})
}

func TestGetRecords(t *testing.T) {
	ctx := context.Background()
	f, clk := newFake(t)
	must(t, f.CreateStream("s", 1))
	const shard = "shardId-000000000000"
	for i := 0; i < 25; i++ {
		_, err := f.PutRecordToShard("s", shard, "k", []byte{byte(i)})
		must(t, err)
		clk.Advance(time.Second)
	}

	t.Run("Limit and MillisBehindLatest", func(t *testing.T) {
		it := aws.String(iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, nil))
		wantLens := []int{10, 10, 5, 0}
		// After reading 10, the next record (10) arrived at t0+10s and
		// now is t0+25s.
		wantBehind := []int64{15000, 5000, 0, 0}
		for i, n := range wantLens {
			res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(10)})
			must(t, err)
			if len(res.Records) != n || *res.MillisBehindLatest != wantBehind[i] || res.NextShardIterator == nil || res.ChildShards != nil {
				t.Fatalf("call %d: %d records, behind %d, next %v", i, len(res.Records), *res.MillisBehindLatest, res.NextShardIterator)
			}
			it = res.NextShardIterator
		}
	})

	t.Run("returned data is a copy", func(t *testing.T) {
		it := aws.String(iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, nil))
		res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
		must(t, err)
		res.Records[0].Data[0] = 99
		*res.Records[0].SequenceNumber = "x"
		if r := f.Records("s", shard)[0]; r.Data[0] != 0 || *r.SequenceNumber == "x" {
			t.Fatal("caller changed the fake's record")
		}
		data := []byte{7}
		seq, err := f.PutRecordToShard("s", shard, "k", data)
		must(t, err)
		data[0] = 8
		recs := f.Records("s", shard)
		if last := recs[len(recs)-1]; last.Data[0] != 7 || *last.SequenceNumber != seq {
			t.Fatal("PutRecordToShard kept the caller's slice")
		}
	})

	t.Run("10 MiB cap", func(t *testing.T) {
		g, _ := newFake(t)
		must(t, g.CreateStream("big", 1))
		big := make([]byte, MaxRecordBytes-1)
		for i := 0; i < 12; i++ {
			_, err := g.PutRecordToShard("big", shard, "k", big)
			must(t, err)
		}
		it := aws.String(iter(t, g, "big", shard, types.ShardIteratorTypeTrimHorizon, nil))
		var lens []int
		for i := 0; i < 2; i++ {
			res, err := g.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
			must(t, err)
			lens = append(lens, len(res.Records))
			it = res.NextShardIterator
		}
		if fmt.Sprint(lens) != "[10 2]" {
			t.Fatalf("batches %v, want [10 2]", lens)
		}
	})

	good := aws.String(iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, nil))
	other := New()
	must(t, other.CreateStream("s", 1))
	foreign := aws.String(iter(t, other, "s", shard, types.ShardIteratorTypeTrimHorizon, nil))
	errTests := []struct {
		name  string
		in    *kinesis.GetRecordsInput
		check func(error) bool
	}{
		{"no iterator", &kinesis.GetRecordsInput{}, errIs[*types.InvalidArgumentException]},
		{"garbage iterator", &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAgarbage")}, errIs[*types.InvalidArgumentException]},
		{"not base64", &kinesis.GetRecordsInput{ShardIterator: aws.String("%%%")}, errIs[*types.InvalidArgumentException]},
		{"iterator from another Fake", &kinesis.GetRecordsInput{ShardIterator: foreign}, errIs[*types.InvalidArgumentException]},
		{"Limit 0", &kinesis.GetRecordsInput{ShardIterator: good, Limit: aws.Int32(0)}, errIs[*types.InvalidArgumentException]},
		{"Limit 10001", &kinesis.GetRecordsInput{ShardIterator: good, Limit: aws.Int32(10001)}, errIs[*types.InvalidArgumentException]},
		{"wrong StreamARN", &kinesis.GetRecordsInput{ShardIterator: good, StreamARN: aws.String(f.StreamARN("t"))}, errIs[*types.InvalidArgumentException]},
		{"DryRun", &kinesis.GetRecordsInput{ShardIterator: good, DryRun: aws.Bool(true)}, errIs[*types.DryRunOperationException]},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.GetRecords(ctx, tc.in); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestShardEnd(t *testing.T) {
	ctx := context.Background()
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateShardEnd=%v", separate), func(t *testing.T) {
			f, clk := newFake(t)
			f.SeparateShardEnd = separate
			must(t, f.CreateStream("s", 2))
			for i := 0; i < 3; i++ {
				_, err := f.PutRecordToShard("s", "shardId-000000000000", "k", []byte{byte(i)})
				must(t, err)
				_, err = f.PutRecordToShard("s", "shardId-000000000001", "k", []byte{byte(i)})
				must(t, err)
			}
			it0 := aws.String(iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil))
			clk.Advance(time.Minute)
			must(t, f.SplitShard("s", "shardId-000000000000", "1000"))
			must(t, f.MergeShards("s", "shardId-000000000002", "shardId-000000000003"))

			// Parent of a split: read from an iterator made before the split.
			var got, calls int
			var res *kinesis.GetRecordsOutput
			for it := it0; it != nil; it = res.NextShardIterator {
				var err error
				res, err = f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
				must(t, err)
				got += len(res.Records)
				calls++
				if res.NextShardIterator != nil && res.ChildShards != nil {
					t.Fatal("ChildShards before the shard end")
				}
			}
			if wantCalls := map[bool]int{false: 1, true: 2}[separate]; got != 3 || calls != wantCalls {
				t.Fatalf("read %d records in %d calls", got, calls)
			}
			if *res.MillisBehindLatest != 0 || len(res.ChildShards) != 2 {
				t.Fatalf("end response %+v", res)
			}
			for i, c := range res.ChildShards {
				if *c.ShardId != fmt.Sprintf("shardId-00000000000%d", i+2) || fmt.Sprint(c.ParentShards) != "[shardId-000000000000]" || c.HashKeyRange == nil {
					t.Fatalf("child %d: %s %v", i, *c.ShardId, c.ParentShards)
				}
			}
			if *res.ChildShards[0].HashKeyRange.EndingHashKey != "999" || *res.ChildShards[1].HashKeyRange.StartingHashKey != "1000" {
				t.Fatal("child hash ranges don't split at 1000")
			}

			// Parents of a merge: LATEST on a closed shard is at its end.
			for _, p := range []string{"shardId-000000000002", "shardId-000000000003"} {
				it := iter(t, f, "s", p, types.ShardIteratorTypeLatest, nil)
				res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
				must(t, err)
				if res.NextShardIterator != nil || len(res.ChildShards) != 1 ||
					*res.ChildShards[0].ShardId != "shardId-000000000004" ||
					fmt.Sprint(res.ChildShards[0].ParentShards) != "[shardId-000000000002 shardId-000000000003]" {
					t.Fatalf("%s end: %+v", p, res)
				}
			}

			// AT/AFTER the EndingSequenceNumber is the shard end too.
			end := f.Shards("s")[0].SequenceNumberRange.EndingSequenceNumber
			it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeAfterSequenceNumber, end)
			res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
			must(t, err)
			if len(res.Records) != 0 || res.NextShardIterator != nil || len(res.ChildShards) != 2 {
				t.Fatalf("after EndingSequenceNumber: %+v", res)
			}

			// New writes go to the children; the merge child covers 0..2^127-1.
			sh, _, err := f.PutRecord("s", "anything", nil)
			must(t, err)
			if want, _ := f.shardOf("s", "anything"); sh != want || (sh != "shardId-000000000004" && sh != "shardId-000000000001") {
				t.Fatalf("routed to %s", sh)
			}
		})
	}
}

func TestIteratorExpiry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		ttl     time.Duration
		wait    time.Duration
		expired bool
	}{
		{"default TTL, just inside", 0, 5 * time.Minute, false},
		{"default TTL, just past", 0, 5*time.Minute + time.Millisecond, true},
		{"custom TTL", time.Second, 2 * time.Second, true},
		{"custom TTL inside", time.Hour, 59 * time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, clk := newFake(t)
			if tc.ttl != 0 {
				f.IteratorTTL = tc.ttl
			}
			must(t, f.CreateStream("s", 1))
			it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
			clk.Advance(tc.wait)
			res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
			if tc.expired {
				if !errIs[*types.ExpiredIteratorException](err) || res != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			must(t, err)
			// The next iterator is fresh: created at the time of the call.
			clk.Advance(tc.wait)
			_, err = f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: res.NextShardIterator})
			must(t, err)
		})
	}
}

func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	f, _ := newFake(t)
	must(t, f.CreateStream("s", 1))
	_, _, err := f.PutRecord("s", "k", []byte("v"))
	must(t, err)
	listIn := &kinesis.ListShardsInput{StreamName: aws.String("s")}
	getIt := func() (*kinesis.GetShardIteratorOutput, error) {
		return f.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
	}

	t.Run("helpers make the right errors", func(t *testing.T) {
		tests := []struct {
			name  string
			mk    func() error
			check func(error) bool
		}{
			{"Throttle", Throttle, errIs[*types.ProvisionedThroughputExceededException]},
			{"Expired", Expired, errIs[*types.ExpiredIteratorException]},
			{"Internal", Internal, errIs[*types.InternalFailureException]},
			{"KMSThrottling", KMSThrottling, errIs[*types.KMSThrottlingException]},
			{"LimitExceeded", LimitExceeded, errIs[*types.LimitExceededException]},
			{"ConnReset", ConnReset, func(err error) bool {
				return errIs[*net.OpError](err) && errors.Is(err, syscall.ECONNRESET)
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				remove := f.InjectFault(func(op string, in any) error {
					if _, ok := in.(*kinesis.ListShardsInput); op != OpListShards || !ok {
						t.Errorf("hook got %s %T", op, in)
					}
					return tc.mk()
				})
				defer remove()
				_, err := f.ListShards(ctx, listIn)
				var oe *smithy.OperationError
				if !tc.check(err) || !errors.As(err, &oe) || oe.Operation() != OpListShards || oe.Service() != "Kinesis" {
					t.Fatalf("got %#v", err)
				}
			})
		}
		if _, err := f.ListShards(ctx, listIn); err != nil {
			t.Fatalf("hook not removed: %v", err)
		}
	})

	t.Run("throttle once then succeed, counting calls", func(t *testing.T) {
		f.ResetCalls()
		f.FailNext(OpGetRecords, 1, Throttle)
		it, err := getIt()
		must(t, err)
		_, err = f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if !errIs[*types.ProvisionedThroughputExceededException](err) {
			t.Fatalf("got %v", err)
		}
		// A throttle doesn't spend the iterator: retry with the same one.
		res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		must(t, err)
		if len(res.Records) != 1 {
			t.Fatalf("got %d records", len(res.Records))
		}
		if a, b, c := f.Calls(OpGetShardIterator), f.Calls(OpGetRecords), f.Calls(OpListShards); a != 1 || b != 2 || c != 0 {
			t.Fatalf("calls: GetShardIterator %d GetRecords %d ListShards %d", a, b, c)
		}
	})

	t.Run("FailEvery", func(t *testing.T) {
		f.ClearFaults()
		remove := f.FailEvery(OpGetShardIterator, 3, Internal)
		var pattern []bool
		for i := 0; i < 7; i++ {
			_, err := getIt()
			pattern = append(pattern, err != nil)
		}
		remove()
		if fmt.Sprint(pattern) != "[false false true false false true false]" {
			t.Fatalf("failures %v", pattern)
		}
	})

	t.Run("FailRatio is deterministic", func(t *testing.T) {
		run := func() []bool {
			f.ClearFaults()
			defer f.ClearFaults()
			f.FailRatio(OpListShards, 0.2, 42, Throttle)
			var out []bool
			for i := 0; i < 1000; i++ {
				_, err := f.ListShards(ctx, listIn)
				if err != nil && !errIs[*types.ProvisionedThroughputExceededException](err) {
					t.Fatal(err)
				}
				out = append(out, err != nil)
			}
			return out
		}
		a, b := run(), run()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatal("same seed, different failures")
		}
		n := 0
		for _, failed := range a {
			if failed {
				n++
			}
		}
		if n < 150 || n > 250 {
			t.Fatalf("%d of 1000 calls failed, want about 200", n)
		}
		if _, err := getIt(); err != nil {
			t.Fatalf("other ops must not fail: %v", err)
		}
	})

	t.Run("empty op matches all, and a hook may call the Fake", func(t *testing.T) {
		f.ClearFaults()
		defer f.ClearFaults()
		f.InjectFault(func(op string, _ any) error {
			if f.Calls(op) > 100 { // re-entering the Fake must not deadlock
				return nil
			}
			return nil
		})
		f.FailNext("", 2, ConnReset)
		_, err1 := f.ListShards(ctx, listIn)
		_, err2 := getIt()
		_, err3 := getIt()
		if !errors.Is(err1, syscall.ECONNRESET) || !errors.Is(err2, syscall.ECONNRESET) || err3 != nil {
			t.Fatalf("got %v, %v, %v", err1, err2, err3)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		before := f.Calls(OpListShards)
		if _, err := f.ListShards(cctx, listIn); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if f.Calls(OpListShards) != before+1 {
			t.Fatal("canceled call not counted")
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	f := New()
	must(t, f.CreateStream("s", 4))
	f.FailRatio(OpGetRecords, 0.1, 7, Throttle)
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if _, _, err := f.PutRecord("s", fmt.Sprintf("%d-%d", w, i), []byte{1}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		must := func(err error) {
			if err != nil {
				t.Error(err)
			}
		}
		must(f.SplitShard("s", "shardId-000000000001", new(big.Int).Mul(big.NewInt(3), new(big.Int).Lsh(big.NewInt(1), 125)).String()))
		_, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
		must(err)
	}()
	total := 0
	var mu sync.Mutex
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(fmt.Sprintf("shardId-%012d", s)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				t.Error(err)
				return
			}
			it := out.ShardIterator
			for i := 0; i < 400 && it != nil; i++ {
				res, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(7)})
				if err != nil {
					continue // injected throttle; retry the same iterator
				}
				mu.Lock()
				total += len(res.Records)
				mu.Unlock()
				it = res.NextShardIterator
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	n := 0
	for _, s := range f.Shards("s") {
		n += len(f.Records("s", *s.ShardId))
	}
	if n != writers*perWriter || total > n {
		t.Fatalf("stored %d, read %d", n, total)
	}
}
