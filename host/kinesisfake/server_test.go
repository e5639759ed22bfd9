package kinesisfake

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// ownCodec gives one SubscribeToShard call its own event stream codec: the
// SDK shares one per client between all open streams, unsynchronized
// (aws/smithy-go#714), which -race reports.
func ownCodec(o *kinesis.Options) { o.Protocol = awsjson.New11(schemas.Kinesis_20131202) }

func newServer(t *testing.T, opts ...FrontOption) (*Fake, *Server, *kinesis.Client) {
	t.Helper()
	f := New()
	srv := NewServer(f, opts...)
	t.Cleanup(srv.Close)
	return f, srv, srv.KinesisClient()
}

func TestServerPollingOps(t *testing.T) {
	f, srv, c := newServer(t)
	ctx := context.Background()
	must(t, f.CreateStream("s", 2))

	// Writes through the API, one routed by ExplicitHashKey.
	p, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("one")})
	must(t, err)
	p2, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(f.StreamARN("s")), PartitionKey: aws.String("k"),
		ExplicitHashKey: aws.String("0"), Data: []byte("two")})
	must(t, err)
	if *p2.ShardId != "shardId-000000000000" {
		t.Fatalf("ExplicitHashKey 0 went to %s", *p2.ShardId)
	}
	pr, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: []byte("three")},
		{PartitionKey: aws.String("b"), Data: []byte{}},
	}})
	must(t, err)
	if aws.ToInt32(pr.FailedRecordCount) != 0 || len(pr.Records) != 2 || pr.Records[0].SequenceNumber == nil {
		t.Fatalf("PutRecords: %+v", pr)
	}

	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(1)})
	must(t, err)
	if len(ls.Shards) != 1 || ls.NextToken == nil || ls.Shards[0].HashKeyRange == nil || ls.Shards[0].SequenceNumberRange == nil {
		t.Fatalf("ListShards page 1: %+v", ls)
	}
	ls2, err := c.ListShards(ctx, &kinesis.ListShardsInput{NextToken: ls.NextToken})
	must(t, err)
	if len(ls2.Shards) != 1 || ls2.NextToken != nil {
		t.Fatalf("ListShards page 2: %+v", ls2)
	}

	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: p.ShardId,
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: p.SequenceNumber})
	must(t, err)
	gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	must(t, err)
	if len(gr.Records) == 0 || string(gr.Records[0].Data) != "one" || *gr.Records[0].SequenceNumber != *p.SequenceNumber ||
		gr.Records[0].ApproximateArrivalTimestamp == nil || gr.NextShardIterator == nil || gr.MillisBehindLatest == nil {
		t.Fatalf("GetRecords: %+v", gr)
	}
	if d := time.Since(*gr.Records[0].ApproximateArrivalTimestamp); d < 0 || d > time.Minute {
		t.Fatalf("arrival timestamp off by %s", d)
	}
	// AT_TIMESTAMP travels as epoch seconds.
	it2, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: p.ShardId,
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(-time.Minute))})
	must(t, err)
	gr2, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it2.ShardIterator})
	must(t, err)
	if len(gr2.Records) != len(gr.Records) {
		t.Fatalf("AT_TIMESTAMP read %d records, AT_SEQUENCE_NUMBER %d", len(gr2.Records), len(gr.Records))
	}

	ds, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	must(t, err)
	if aws.ToString(ds.StreamDescriptionSummary.StreamARN) != f.StreamARN("s") || aws.ToInt32(ds.StreamDescriptionSummary.OpenShardCount) != 2 ||
		ds.StreamDescriptionSummary.StreamStatus != types.StreamStatusActive {
		t.Fatalf("DescribeStreamSummary: %+v", ds.StreamDescriptionSummary)
	}

	if st := srv.Front.Stats(); st.HTTP2Requests == 0 || st.HTTP2Requests != st.Requests {
		t.Fatalf("want every request over HTTP/2: %+v", st)
	}
	if n := f.Calls(OpGetRecords); n != 2 {
		t.Fatalf("GetRecords calls = %d", n)
	}
}

func TestServerErrorsAreTyped(t *testing.T) {
	f, _, c := newServer(t)
	ctx := context.Background()
	must(t, f.CreateStream("s", 1))

	_, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("nope")})
	if !errIs[*types.ResourceNotFoundException](err) {
		t.Fatalf("unknown stream: %T %v", err, err)
	}
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("garbage")})
	if !errIs[*types.InvalidArgumentException](err) {
		t.Fatalf("bad iterator: %v", err)
	}
	f.FailNext(OpGetShardIterator, 1, Throttle)
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
	if !errIs[*types.ProvisionedThroughputExceededException](err) {
		t.Fatalf("throttle: %v", err)
	}
	f.FailNext(OpListShards, 1, Internal)
	_, err = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	var re interface{ HTTPStatusCode() int }
	if !errIs[*types.InternalFailureException](err) || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Fatalf("internal failure: %v", err)
	}
	f.FailNext(OpListShards, 1, ConnReset)
	_, err = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	var ae smithy.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("dropped connection: want a transport error, got %v", err)
	}
	// And the client recovers on a new connection.
	if _, err = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
}

func registerActive(t *testing.T, c *kinesis.Client, f *Fake, stream, name string) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(f.StreamARN(stream)), ConsumerName: aws.String(name)})
	must(t, err)
	if out.Consumer.ConsumerStatus != types.ConsumerStatusCreating {
		t.Fatalf("new consumer status %s", out.Consumer.ConsumerStatus)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: out.Consumer.ConsumerARN})
		must(t, err)
		if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			return *out.Consumer.ConsumerARN
		}
		if time.Now().After(deadline) {
			t.Fatal("consumer never became ACTIVE")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerConsumers(t *testing.T) {
	f, srv, c := newServer(t)
	ctx := context.Background()
	must(t, f.CreateStream("s", 1))
	arn := registerActive(t, c, f, "s", "app")
	if !strings.HasPrefix(arn, f.StreamARN("s")+"/consumer/app:") {
		t.Fatalf("consumer ARN %s", arn)
	}
	_, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(f.StreamARN("s")), ConsumerName: aws.String("app")})
	if !errIs[*types.ResourceInUseException](err) {
		t.Fatalf("second registration: %v", err)
	}
	d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(f.StreamARN("s")), ConsumerName: aws.String("app")})
	must(t, err)
	if *d.ConsumerDescription.ConsumerARN != arn || *d.ConsumerDescription.StreamARN != f.StreamARN("s") {
		t.Fatalf("describe by name: %+v", d.ConsumerDescription)
	}
	_, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(f.StreamARN("s")), ConsumerName: aws.String("other")})
	if !errIs[*types.ResourceNotFoundException](err) {
		t.Fatalf("unknown consumer: %v", err)
	}
	for i := 0; i < 3; i++ {
		_, err := srv.Front.RegisterConsumer("s", fmt.Sprintf("c%d", i))
		must(t, err)
	}
	var names []string
	in := &kinesis.ListStreamConsumersInput{StreamARN: aws.String(f.StreamARN("s")), MaxResults: aws.Int32(3)}
	for {
		out, err := c.ListStreamConsumers(ctx, in)
		must(t, err)
		for _, x := range out.Consumers {
			names = append(names, *x.ConsumerName)
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListStreamConsumersInput{StreamARN: in.StreamARN, NextToken: out.NextToken}
	}
	if strings.Join(names, ",") != "app,c0,c1,c2" {
		t.Fatalf("consumers %v", names)
	}
	ds, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	must(t, err)
	if aws.ToInt32(ds.StreamDescriptionSummary.ConsumerCount) != 4 {
		t.Fatalf("ConsumerCount %d", aws.ToInt32(ds.StreamDescriptionSummary.ConsumerCount))
	}
	_, err = c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)})
	must(t, err)
	if n := len(srv.Front.Consumers("s")); n != 3 {
		t.Fatalf("%d consumers after deregistering one", n)
	}
}

// subscription reads one SubscribeToShard event stream on a goroutine.
type subscription_ struct {
	out    *kinesis.SubscribeToShardOutput
	events chan *types.SubscribeToShardEvent
	done   chan error
}

func subscribe(t *testing.T, c *kinesis.Client, arn, shard string, pos types.StartingPosition) *subscription_ {
	t.Helper()
	out, err := c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard), StartingPosition: &pos}, ownCodec)
	must(t, err)
	s := &subscription_{out: out, events: make(chan *types.SubscribeToShardEvent, 1000), done: make(chan error, 1)}
	go func() {
		for ev := range out.GetStream().Events() {
			if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
				s.events <- &e.Value
			}
		}
		s.done <- out.GetStream().Err()
	}()
	t.Cleanup(func() { _ = out.GetStream().Close() })
	return s
}

// next waits for the next event that has records or ends the shard.
func (s *subscription_) next(t *testing.T, d time.Duration) *types.SubscribeToShardEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-s.events:
			if len(e.Records) > 0 || e.ContinuationSequenceNumber == nil {
				return e
			}
		case err := <-s.done:
			// The reader sends every event before it reports the end, but a
			// select between two ready channels picks at random: take what
			// is still queued before calling the end early.
			s.done <- err
			select {
			case e := <-s.events:
				if len(e.Records) > 0 || e.ContinuationSequenceNumber == nil {
					return e
				}
				continue
			default:
			}
			t.Fatalf("subscription ended early: %v", err)
		case <-timeout:
			t.Fatalf("no event within %s", d)
		}
	}
}

func (s *subscription_) end(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(d):
		t.Fatalf("subscription did not end within %s", d)
		return nil
	}
}

func TestSubscribeToShardPushesRecords(t *testing.T) {
	f, srv, c := newServer(t, WithResubscribeGap(0), WithHeartbeat(100*time.Millisecond))
	must(t, f.CreateStream("s", 1))
	arn := registerActive(t, c, f, "s", "app")
	shard := "shardId-000000000000"
	first, err := f.PutRecordToShard("s", shard, "k", []byte("before"))
	must(t, err)

	s := subscribe(t, c, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	e := s.next(t, 5*time.Second)
	if len(e.Records) != 1 || string(e.Records[0].Data) != "before" || aws.ToString(e.ContinuationSequenceNumber) != first {
		t.Fatalf("first event: %+v", e)
	}
	// New records are pushed at once, not at the next heartbeat.
	var lat []time.Duration
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		seq, err := f.PutRecordToShard("s", shard, "k", []byte(fmt.Sprint(i)))
		must(t, err)
		e := s.next(t, 5*time.Second)
		lat = append(lat, time.Since(t0))
		if len(e.Records) != 1 || *e.Records[0].SequenceNumber != seq || *e.ContinuationSequenceNumber != seq || e.MillisBehindLatest == nil {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	for _, d := range lat {
		if d > 80*time.Millisecond {
			t.Errorf("push latency %s (heartbeat is 100ms): records are not pushed on write", d)
		}
	}
	// Heartbeats arrive while idle, carrying the continuation.
	select {
	case e := <-s.events:
		if len(e.Records) != 0 || e.ContinuationSequenceNumber == nil {
			t.Fatalf("heartbeat: %+v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no heartbeat")
	}
	if st := srv.Front.Stats(); st.Subscriptions != 1 || st.Active != 1 || st.Heartbeats == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Closing the stream on the client ends the subscription on the server.
	_ = s.out.GetStream().Close()
	waitFor(t, func() bool { return srv.Front.Stats().Active == 0 }, "server to notice the closed stream")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubscribeToShardLifetimeAndPositions(t *testing.T) {
	f, srv, c := newServer(t, WithResubscribeGap(0), WithSubscriptionLifetime(300*time.Millisecond))
	must(t, f.CreateStream("s", 1))
	arn := registerActive(t, c, f, "s", "app")
	shard := "shardId-000000000000"
	var seqs []string
	for i := 0; i < 5; i++ {
		seq, err := f.PutRecordToShard("s", shard, "k", []byte(fmt.Sprint(i)))
		must(t, err)
		seqs = append(seqs, seq)
	}
	for _, tc := range []struct {
		pos  types.StartingPosition
		want int // index of the first record
	}{
		{types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: &seqs[1]}, 2},
		{types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: &seqs[1]}, 1},
		{types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(-time.Hour))}, 0},
	} {
		s := subscribe(t, c, arn, shard, tc.pos)
		e := s.next(t, 5*time.Second)
		if *e.Records[0].SequenceNumber != seqs[tc.want] || len(e.Records) != 5-tc.want {
			t.Fatalf("%s: first %s, %d records", tc.pos.Type, *e.Records[0].SequenceNumber, len(e.Records))
		}
		// The lifetime ends the stream cleanly.
		if err := s.end(t, 5*time.Second); err != nil {
			t.Fatalf("lifetime end: %v", err)
		}
	}
	// LATEST sees only new records.
	s := subscribe(t, c, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	seq, err := f.PutRecordToShard("s", shard, "k", []byte("new"))
	must(t, err)
	if e := s.next(t, 5*time.Second); *e.Records[0].SequenceNumber != seq {
		t.Fatalf("LATEST got %s", *e.Records[0].SequenceNumber)
	}
	if st := srv.Front.Stats(); st.Expired < 3 {
		t.Fatalf("stats %+v", st)
	}
	// A sequence number from elsewhere is refused like GetShardIterator does.
	_, err = c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String("49" + strings.Repeat("9", 54))}}, ownCodec)
	if !errIs[*types.InvalidArgumentException](err) {
		t.Fatalf("bad sequence number: %v", err)
	}
}

func TestSubscribeToShardResourceInUse(t *testing.T) {
	f, srv, c := newServer(t, WithResubscribeGap(300*time.Millisecond))
	must(t, f.CreateStream("s", 1))
	arn := registerActive(t, c, f, "s", "app")
	shard := "shardId-000000000000"
	th := types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
	old := subscribe(t, c, arn, shard, th)
	_, err := c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard), StartingPosition: &th}, ownCodec)
	if !errIs[*types.ResourceInUseException](err) {
		t.Fatalf("within the gap: %v", err)
	}
	time.Sleep(350 * time.Millisecond)
	subscribe(t, c, arn, shard, th) // takes over
	if err := old.end(t, 5*time.Second); !errIs[*types.ResourceInUseException](err) {
		t.Fatalf("taken-over subscription ended with %v", err)
	}
	if st := srv.Front.Stats(); st.RejectedInUse != 1 || st.TakenOver != 1 || st.Active != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A consumer that is not ACTIVE yet is in use too.
	out, err := c.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(f.StreamARN("s")), ConsumerName: aws.String("slow")})
	must(t, err)
	_, err = c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: out.Consumer.ConsumerARN, ShardId: aws.String(shard), StartingPosition: &th}, ownCodec)
	if !errIs[*types.ResourceInUseException](err) {
		t.Fatalf("CREATING consumer: %v", err)
	}
	// Unknown consumers are not found.
	_, err = c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn + "x"), ShardId: aws.String(shard), StartingPosition: &th}, ownCodec)
	if !errIs[*types.ResourceNotFoundException](err) {
		t.Fatalf("unknown consumer: %v", err)
	}
}

func TestSubscribeToShardFaults(t *testing.T) {
	f, srv, c := newServer(t, WithResubscribeGap(0))
	must(t, f.CreateStream("s", 1))
	arn := registerActive(t, c, f, "s", "app")
	shard := "shardId-000000000000"
	th := types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
	_, err := f.PutRecordToShard("s", shard, "k", []byte("x"))
	must(t, err)

	// A failing call is an HTTP error.
	f.FailNext(OpSubscribeToShard, 1, LimitExceeded)
	_, err = c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard), StartingPosition: &th}, ownCodec)
	if !errIs[*types.LimitExceededException](err) {
		t.Fatalf("injected call failure: %v", err)
	}

	cases := []struct {
		name  string
		mk    func() error
		check func(error) bool
	}{
		{"exception event", Internal, func(err error) bool { return errIs[*types.InternalFailureException](err) }},
		{"in use event", func() error { return &types.ResourceInUseException{Message: aws.String("x")} }, func(err error) bool { return errIs[*types.ResourceInUseException](err) }},
		// The SDK folds a truncated stream into a clean end (smithy-go
		// treats io.ErrUnexpectedEOF as io.EOF), so a dropped connection may
		// end the stream without an error.
		{"dropped connection", func() error { return ErrDropConnection }, func(err error) bool { return true }},
		{"reset stream", func() error { return ErrResetStream }, func(err error) bool { return err != nil }},
	}
	for i, tc := range cases {
		// The fault hits the second event of the subscription, after one
		// record went through.
		serial := srv.Front.Stats().Subscriptions + 1
		remove := srv.Front.FailSubscriptions(1, tc.mk, serial)
		s := subscribe(t, c, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeLatest})
		seq, err := f.PutRecordToShard("s", shard, "k", []byte("first"))
		must(t, err)
		if e := s.next(t, 5*time.Second); *e.Records[0].SequenceNumber != seq {
			t.Fatalf("%s: first event %+v", tc.name, e)
		}
		_, err = f.PutRecordToShard("s", shard, "k", []byte("second"))
		must(t, err)
		err = s.end(t, 5*time.Second)
		remove()
		if !tc.check(err) {
			t.Fatalf("%s: stream error %T %v", tc.name, err, err)
		}
		for len(s.events) > 0 {
			if e := <-s.events; len(e.Records) > 0 {
				t.Fatalf("%s: an event was delivered after the fault", tc.name)
			}
		}
		if st := srv.Front.Stats(); st.Faulted != i+1 {
			t.Fatalf("%s: stats %+v", tc.name, st)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	waitFor(t, func() bool { return srv.Front.Stats().Active == 0 }, "no open subscriptions")
}

func TestSubscribeToShardEnd(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprint("separate=", separate), func(t *testing.T) {
			f := New()
			f.SeparateShardEnd = separate
			srv := NewServer(f, WithResubscribeGap(0))
			t.Cleanup(srv.Close)
			c := srv.KinesisClient()
			must(t, f.CreateStream("s", 1))
			arn := registerActive(t, c, f, "s", "app")
			shard := "shardId-000000000000"
			seq, err := f.PutRecordToShard("s", shard, "k", []byte("last"))
			must(t, err)
			s := subscribe(t, c, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
			if e := s.next(t, 5*time.Second); *e.ContinuationSequenceNumber != seq {
				t.Fatalf("first event %+v", e)
			}
			must(t, f.SplitShard("s", shard, "1000"))
			e := s.next(t, 5*time.Second)
			if e.ContinuationSequenceNumber != nil || len(e.ChildShards) != 2 || len(e.Records) != 0 ||
				e.ChildShards[0].ParentShards[0] != shard || e.ChildShards[0].HashKeyRange == nil {
				t.Fatalf("end event %+v", e)
			}
			if err := s.end(t, 5*time.Second); err != nil {
				t.Fatalf("after the end: %v", err)
			}
			// Resubscribing after the last record gets the end at once, with
			// the final records first.
			s2 := subscribe(t, c, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
			var got int
			for {
				e := s2.next(t, 5*time.Second)
				got += len(e.Records)
				if e.ContinuationSequenceNumber == nil {
					if len(e.ChildShards) != 2 {
						t.Fatalf("end event %+v", e)
					}
					if separate && len(e.Records) != 0 {
						t.Fatal("SeparateShardEnd: records in the end event")
					}
					break
				}
			}
			if got != 1 {
				t.Fatalf("%d records before the end", got)
			}
		})
	}
}

func TestServerCloseEndsSubscriptions(t *testing.T) {
	before := runtime.NumGoroutine()
	f := New()
	srv := NewServer(f, WithResubscribeGap(0))
	c := srv.KinesisClient()
	must(t, f.CreateStream("s", 4))
	arn := registerActive(t, c, f, "s", "app")
	var subs []*subscription_
	for _, sh := range f.Shards("s") {
		subs = append(subs, subscribe(t, c, arn, *sh.ShardId, types.StartingPosition{Type: types.ShardIteratorTypeLatest}))
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Server.Close blocked on open subscriptions")
	}
	for _, s := range subs {
		s.end(t, 5*time.Second)
		_ = s.out.GetStream().Close()
	}
	c.Options().HTTPClient.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+2 }, fmt.Sprintf("goroutines back to %d (now %d)", before, runtime.NumGoroutine()))
}
