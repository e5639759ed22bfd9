package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// efoServer serves f over HTTP/2 for the test and returns an SDK client
// for it. The server closes after the test's host has stopped.
func efoServer(t *testing.T, f *kinesisfake.Fake, opts ...kinesisfake.FrontOption) (*kinesisfake.Server, *kinesis.Client) {
	t.Helper()
	srv := kinesisfake.NewServer(f, opts...)
	t.Cleanup(srv.Close)
	return srv, srv.KinesisClient()
}

// exactlyOnce fails unless every record of want (by shard/sequence) was
// delivered exactly once and nothing else was.
func exactlyOnce(t *testing.T, ds []delivery, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range ds {
		seen[d.Shard+"/"+d.Seq]++
	}
	var dups []string
	for k, n := range seen {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", k, n))
		}
	}
	sort.Strings(dups)
	if len(dups) > 0 {
		t.Fatalf("%d records delivered more than once: %v", len(dups), dups[:min(len(dups), 5)])
	}
	if len(seen) != want {
		t.Fatalf("%d distinct records delivered, want %d", len(seen), want)
	}
}

// lastSeqs returns the last sequence number of every shard of stream s.
func lastSeqs(f *kinesisfake.Fake) map[string]string {
	out := map[string]string{}
	for _, sh := range f.Shards("s") {
		if recs := f.Records("s", *sh.ShardId); len(recs) > 0 {
			out[*sh.ShardId] = *recs[len(recs)-1].SequenceNumber
		}
	}
	return out
}

// produce writes n records round-robin over the open shards of stream s,
// one every gap, on a goroutine; wait blocks until it is done.
func produce(t *testing.T, f *kinesisfake.Fake, n int, gap time.Duration, name func(int) string) (wait func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		var shards []string
		for _, sh := range f.Shards("s") {
			if sh.SequenceNumberRange.EndingSequenceNumber == nil {
				shards = append(shards, *sh.ShardId)
			}
		}
		for i := 0; i < n; i++ {
			if _, err := f.PutRecordToShard("s", shards[i%len(shards)], fmt.Sprintf("k%d", i%7), []byte(name(i))); err != nil {
				done <- err
				return
			}
			time.Sleep(gap)
		}
		done <- nil
	}()
	return func() {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// drainAndCheckpoints drains the host and checks every shard's checkpoint
// is its last record.
func drainAndCheckpoints(t *testing.T, r *rig, f *kinesisfake.Fake) {
	t.Helper()
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for shard, seq := range lastSeqs(f) {
		if cp := r.checkpoint(shard); cp.SequenceNumber != seq {
			t.Errorf("shard %s: checkpoint %q, want %q", shard, cp.SequenceNumber, seq)
		}
	}
}

// Records reach the handler in order through SubscribeToShard, once each,
// and the checkpoints end at every shard's last record. The consumer is
// registered once (named after the app) and subscriptions are opened once
// per shard.
func TestEFODeliversInOrder(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	srv, client := efoServer(t, f)
	put(t, f, 300, rname)
	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"
  batch_max_records = 50`, "", "")
	r.waitDistinct(300, 20*time.Second)
	wait := produce(t, f, 300, time.Millisecond, func(i int) string { return rname(300 + i) })
	wait()
	ds := r.waitDistinct(600, 20*time.Second)
	exactlyOnce(t, ds, 600)
	checkOrder(t, ds)
	drainAndCheckpoints(t, r, f)

	cs := srv.Front.Consumers("s")
	if len(cs) != 1 || *cs[0].ConsumerName != "test" || cs[0].ConsumerStatus != types.ConsumerStatusActive {
		t.Fatalf("consumers %+v, want one named after the app", cs)
	}
	if n := f.Calls(kinesisfake.OpRegisterStreamConsumer); n != 1 {
		t.Errorf("RegisterStreamConsumer called %d times, want 1 (shared by the shards)", n)
	}
	if n := f.Calls(kinesisfake.OpDescribeStreamSummary); n != 1 {
		t.Errorf("DescribeStreamSummary called %d times, want 1", n)
	}
	if n := f.Calls(kinesisfake.OpSubscribeToShard); n != 2 {
		t.Errorf("SubscribeToShard called %d times, want 2 (one per shard)", n)
	}
	if n := f.Calls(kinesisfake.OpGetRecords); n != 0 {
		t.Errorf("GetRecords called %d times with consumer = \"efo\"", n)
	}
	if st := srv.Front.Stats(); st.HTTP2Requests != st.Requests {
		t.Errorf("not every request used HTTP/2: %+v", st)
	}
	// The host deregisters nothing.
	if cs := srv.Front.Consumers("s"); len(cs) != 1 {
		t.Errorf("consumer gone after the host stopped: %+v", cs)
	}
}

// A subscription lifetime of 1 s forces several resubscriptions per shard
// while records keep coming: none lost, none delivered twice. Nothing
// leaks: every goroutine is gone once the host and server are.
func TestEFOResubscribesAtLifetime(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		f := kinesisfake.New()
		if err := f.CreateStream("s", 2); err != nil {
			t.Fatal(err)
		}
		srv := kinesisfake.NewServer(f, kinesisfake.WithSubscriptionLifetime(time.Second), kinesisfake.WithResubscribeGap(500*time.Millisecond))
		defer srv.Close()
		client := srv.KinesisClient()
		r := newRig(t, f)
		r.startAPI(client, `consumer = "efo"`, "", "")
		defer func() {
			r.h.Stop()
			<-r.h.Closed()
		}()
		wait := produce(t, f, 200, 20*time.Millisecond, rname)
		wait()
		ds := r.waitDistinct(200, 20*time.Second)
		exactlyOnce(t, ds, 200)
		checkOrder(t, ds)
		st := srv.Front.Stats()
		if st.Expired < 4 || st.Subscriptions < 6 {
			t.Errorf("want several resubscriptions per shard: %+v", st)
		}
		if st.RejectedInUse != 0 {
			t.Errorf("a resubscription came within the 500ms gap: %+v", st)
		}
		drainAndCheckpoints(t, r, f)
		t.Logf("%d subscriptions, %d ended by their lifetime", st.Subscriptions, st.Expired)
		if n := srv.Front.Stats().Active; n != 0 {
			// Drain closed every event stream.
			deadline := time.Now().Add(5 * time.Second)
			for srv.Front.Stats().Active != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := srv.Front.Stats().Active; n != 0 {
				t.Errorf("%d subscriptions still open after the host stopped", n)
			}
		}
		srv.Client().CloseIdleConnections()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// Exception events, a dropped TCP connection, a reset HTTP/2 stream,
// failed SubscribeToShard calls and resubscriptions refused as in use: the
// host resubscribes from the continuation sequence number and nothing is
// lost or delivered twice.
func TestEFOErrorsAndDroppedConnections(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	// A gap longer than the host's 1 s between calls: a resubscription
	// right after a failure is refused with ResourceInUseException first.
	srv, client := efoServer(t, f, kinesisfake.WithResubscribeGap(1200*time.Millisecond))
	inUse := func() error {
		return &types.ResourceInUseException{Message: aws.String("taken over (injected)")}
	}
	// The first four subscriptions that have sent 5 records fail, one way
	// each, before their next event.
	var mu sync.Mutex
	faults := []func() error{
		kinesisfake.Internal,
		func() error { return kinesisfake.ErrDropConnection },
		func() error { return kinesisfake.ErrResetStream },
		inUse,
	}
	srv.Front.InjectSubscriptionFault(func(si kinesisfake.SubscriptionInfo) error {
		if si.Records < 5 || si.Pending == 0 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if len(faults) == 0 {
			return nil
		}
		mk := faults[0]
		faults = faults[1:]
		return mk()
	})
	f.FailNext(kinesisfake.OpSubscribeToShard, 2, kinesisfake.LimitExceeded)

	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"`, "", "")
	wait := produce(t, f, 500, 15*time.Millisecond, rname)
	wait()
	ds := r.waitDistinct(500, 40*time.Second)
	exactlyOnce(t, ds, 500)
	checkOrder(t, ds)
	drainAndCheckpoints(t, r, f)
	st := srv.Front.Stats()
	t.Logf("front: %+v; host retries %d", st, r.h.Stats().Retries)
	if st.Faulted < 4 {
		t.Errorf("only %d injected subscription faults fired", st.Faulted)
	}
	if st.RejectedInUse == 0 {
		t.Errorf("no resubscription was refused as in use; the backoff path is untested")
	}
	if r.h.Stats().Retries < 4 {
		t.Errorf("host retries %d", r.h.Stats().Retries)
	}
}

// A split during EFO: the parent is read to its end, SHARD_END stored,
// and the children (learnt from the ChildShards of the last event, long
// before the next shard sync) are read after it.
func TestEFOReshard(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	_, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"
  shard_sync_interval = "5m"`, "", "")
	for i := 0; i < 50; i++ {
		if _, _, err := f.PutRecord("s", fmt.Sprintf("pk-%d", i%10), []byte("p-"+rname(i))); err != nil {
			t.Fatal(err)
		}
	}
	r.waitDistinct(50, 20*time.Second)
	if err := f.SplitShard("s", parent, "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, _, err := f.PutRecord("s", fmt.Sprintf("pk-%d", i%10), []byte("c-"+rname(i))); err != nil {
			t.Fatal(err)
		}
	}
	ds := r.waitDistinct(100, 20*time.Second)
	exactlyOnce(t, ds, 100)
	checkOrder(t, ds)
	lastParent, firstChild := -1, len(ds)
	shards := map[string]bool{}
	for i, d := range ds {
		shards[d.Shard] = true
		if d.Shard == parent {
			lastParent = i
		} else if i < firstChild {
			firstChild = i
		}
	}
	if lastParent > firstChild || len(shards) != 3 {
		t.Fatalf("parent record at %d after a child record at %d (shards %v)", lastParent, firstChild, shards)
	}
	// Per partition key, order holds across the split.
	last := map[string]string{}
	for _, d := range ds {
		if strings.HasPrefix(last[d.Key], "c-") && strings.HasPrefix(d.Data, "p-") {
			t.Fatalf("key %s: %s after %s", d.Key, d.Data, last[d.Key])
		}
		last[d.Key] = d.Data
	}
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !r.checkpoint(parent).ShardEnd {
		t.Fatal("the parent has no SHARD_END checkpoint")
	}
	for shard, seq := range lastSeqs(f) {
		if shard != parent && r.checkpoint(shard).SequenceNumber != seq {
			t.Errorf("child %s: checkpoint %+v, want %s", shard, r.checkpoint(shard), seq)
		}
	}
}

// A consumer registered beforehand (consumer_name) is used, not registered
// again; a restart resumes after the checkpoint through it; it stays
// registered after the host stops.
func TestEFOReusesRegisteredConsumer(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	srv, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
	arn, err := srv.Front.RegisterConsumer("s", "shared-consumer")
	if err != nil {
		t.Fatal(err)
	}
	put(t, f, 20, rname)
	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"
  consumer_name = "shared-consumer"`, "", "")
	r.waitDistinct(20, 20*time.Second)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	put(t, f, 10, func(i int) string { return rname(20 + i) })
	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.startAPI(client, `consumer = "efo"
  consumer_name = "shared-consumer"`, "", "")
	ds := r2.waitDistinct(30, 20*time.Second)
	exactlyOnce(t, ds, 30) // the restart redelivered nothing
	drainAndCheckpoints(t, r2, f)
	if n := f.Calls(kinesisfake.OpRegisterStreamConsumer); n != 0 {
		t.Errorf("RegisterStreamConsumer called %d times for an existing consumer", n)
	}
	if cs := srv.Front.Consumers("s"); len(cs) != 1 || *cs[0].ConsumerARN != arn {
		t.Errorf("consumers %+v, want only %s", cs, arn)
	}
}

// With deaggregate, a restart inside a KPL aggregate subscribes
// AT_SEQUENCE_NUMBER and skips the user records already done.
func TestEFOKPLResumeInside(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	sh := *f.Shards("s")[0].ShardId
	var want []string
	putAgg := func(prefix string, n int) string {
		var keys []string
		var data [][]byte
		for i := 0; i < n; i++ {
			keys = append(keys, fmt.Sprintf("pk-%d", i%3))
			data = append(data, []byte(fmt.Sprintf("%s-%d", prefix, i)))
			want = append(want, fmt.Sprintf("%s-%d", prefix, i))
		}
		seq, err := f.PutRecordToShard("s", sh, "agg", host.Aggregate(keys, data))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	putAgg("a", 5)
	bSeq := putAgg("b", 6)
	putAgg("c", 3)
	_, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"
  deaggregate = true
  batch_max_records = 4`, `stop_data = "b-2"`, "")
	if err := r.wait(20 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cp := r.checkpoint(sh); cp.SequenceNumber != bSeq || cp.SubSequenceNumber != 2 {
		t.Fatalf("checkpoint = %+v, want (%s, 2)", cp, bSeq)
	}
	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.startAPI(client, `consumer = "efo"
  deaggregate = true`, "", "")
	r2.waitDistinct(len(want), 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	r2.h.Drain()
	if err := r2.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range r2.deliveries() {
		got = append(got, d.Data)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("deliveries\n got  %v\n want %v", got, want)
	}
}

// consumer = "efo" with a client that cannot subscribe fails clearly.
func TestEFONeedsSubscribeAPI(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, f)
	r.start(`consumer = "efo"`, "", "")
	err := r.wait(20 * time.Second)
	if !errors.Is(err, host.ErrKinesis) || !strings.Contains(err.Error(), "SubscribeToShard") {
		t.Fatalf("Run = %v, want ErrKinesis naming SubscribeToShard", err)
	}
}

// TestEndToEndLatency measures put → handler latency for polling
// (poll_interval 200ms) and for enhanced fan-out, both through the SDK
// against the fake's HTTP/2 front: 200 records put one by one at 50/s with
// PutRecord, each timed from just before its PutRecord call to the moment
// its line appears in the recorder's output (read every millisecond).
func TestEndToEndLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	for _, mode := range []string{"polling", "efo"} {
		t.Run(mode, func(t *testing.T) {
			f := kinesisfake.New()
			if err := f.CreateStream("s", 1); err != nil {
				t.Fatal(err)
			}
			_, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
			r := newRig(t, f)
			r.startAPI(client, fmt.Sprintf(`consumer = %q`, mode), "", "")
			tail := newTailer(t, r.out)
			// Warm up: the host is reading once a first record got through.
			putAPI(t, client, "warm")
			tail.wait(t, "warm", 20*time.Second)

			const n, rate = 200, 50
			sent := make([]time.Time, n)
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			for i := 0; i < n; i++ {
				<-tick.C
				sent[i] = time.Now()
				putAPI(t, client, fmt.Sprintf("lat-%d", i))
			}
			lat := make([]time.Duration, n)
			for i := 0; i < n; i++ {
				lat[i] = tail.wait(t, fmt.Sprintf("lat-%d", i), 20*time.Second).Sub(sent[i])
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(p float64) time.Duration { return lat[min(n-1, int(p*float64(n)))].Round(100 * time.Microsecond) }
			t.Logf("%s: put → handler over %d records at %d/s: p50 %s, p90 %s, p99 %s, max %s",
				mode, n, rate, pct(0.50), pct(0.90), pct(0.99), lat[n-1].Round(100*time.Microsecond))
			if mode == "efo" && pct(0.50) > 100*time.Millisecond {
				t.Errorf("EFO p50 %s: records are not pushed", pct(0.50))
			}
		})
	}
}

func putAPI(t *testing.T, c *kinesis.Client, data string) {
	t.Helper()
	if _, err := c.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

// tailer follows the recorder's output file and notes when each record's
// data first appeared.
type tailer struct {
	mu   sync.Mutex
	seen map[string]time.Time
	stop chan struct{}
	done chan struct{}
}

func newTailer(t *testing.T, path string) *tailer {
	tl := &tailer{seen: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		var f *os.File
		var rd *bufio.Reader
		var partial []byte
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tl.stop:
				if f != nil {
					f.Close()
				}
				return
			case <-tick.C:
			}
			if f == nil {
				var err error
				if f, err = os.Open(path); err != nil {
					f = nil
					continue
				}
				rd = bufio.NewReader(f)
			}
			for {
				line, err := rd.ReadBytes('\n')
				partial = append(partial, line...)
				if err == io.EOF {
					break
				}
				var d struct{ Data string }
				if json.Unmarshal(partial, &d) == nil {
					now := time.Now()
					tl.mu.Lock()
					if _, ok := tl.seen[d.Data]; !ok {
						tl.seen[d.Data] = now
					}
					tl.mu.Unlock()
				}
				partial = partial[:0]
			}
		}
	}()
	t.Cleanup(func() { close(tl.stop); <-tl.done })
	return tl
}

func (tl *tailer) wait(t *testing.T, data string, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		tl.mu.Lock()
		at, ok := tl.seen[data]
		tl.mu.Unlock()
		if ok {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not delivered within %s", data, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// start_position = LATEST: a subscription that fails before its first
// event must not resubscribe at LATEST again and skip what was written
// meanwhile.
func TestEFOLatestSurvivesEarlyFailure(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	put(t, f, 5, func(i int) string { return "old-" + rname(i) })
	// The resubscription starts AT_TIMESTAMP a second before the first
	// call (a margin for clock skew): keep the old records out of it.
	time.Sleep(1200 * time.Millisecond)
	srv, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
	srv.Front.FailSubscriptions(0, func() error { return kinesisfake.ErrDropConnection }, 1)
	r := newRig(t, f)
	r.startAPI(client, `consumer = "efo"
  start_position = "LATEST"`, "", "")
	deadline := time.Now().Add(10 * time.Second)
	for srv.Front.Stats().Subscriptions == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the host never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	put(t, f, 10, rname)
	r.waitDistinct(10, 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	ds := r.deliveries()
	exactlyOnce(t, ds, 10)
	for _, d := range ds {
		if strings.HasPrefix(d.Data, "old-") {
			t.Fatalf("LATEST delivered %s, written before the start", d.Data)
		}
	}
	if st := srv.Front.Stats(); st.Faulted != 1 || st.Subscriptions < 2 {
		t.Fatalf("stats %+v", st)
	}
}

// trimmedAPI plays a shard trimmed from the stream just after the host
// listed it: later listings leave it out and SubscribeToShard on it is
// ResourceNotFound.
type trimmedAPI struct {
	*kinesis.Client
	shard  string
	listed *atomic.Int32
}

func (a trimmedAPI) ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	out, err := a.Client.ListShards(ctx, in, optFns...)
	if err != nil || a.listed.Add(1) == 1 {
		return out, err
	}
	var kept []types.Shard
	for _, sh := range out.Shards {
		if *sh.ShardId != a.shard {
			kept = append(kept, sh)
		}
	}
	out.Shards = kept
	return out, nil
}

func (a trimmedAPI) SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	if *in.ShardId == a.shard {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Shard " + a.shard + " does not exist (trimmed)")}
	}
	return a.Client.SubscribeToShard(ctx, in, optFns...)
}

// A shard trimmed from the stream is forgotten, not retried forever, and
// does not block its children.
func TestEFOTrimmedShardIsForgotten(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	put(t, f, 5, func(i int) string { return "p-" + rname(i) })
	if err := f.SplitShard("s", parent, "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, _, err := f.PutRecord("s", fmt.Sprintf("k%d", i), []byte(rname(i))); err != nil { // to the children
			t.Fatal(err)
		}
	}
	_, client := efoServer(t, f, kinesisfake.WithResubscribeGap(0))
	r := newRig(t, f)
	api := trimmedAPI{Client: client, shard: parent, listed: new(atomic.Int32)}
	r.startAPI(api, `consumer = "efo"`, "", "")
	ds := r.waitDistinct(20, 20*time.Second)
	for _, d := range ds {
		if d.Shard == parent {
			t.Fatalf("record %s of the trimmed shard delivered", d.Seq)
		}
	}
	if !strings.Contains(r.logBuf.String(), "no longer in the stream") {
		t.Fatalf("the trimmed shard was not reported")
	}
}
