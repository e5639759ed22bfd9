package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// Helpers for reshard_test.go: a kinesis-local (kinesis-mock) world, a
// steady producer with per-key counters, and the lineage checks.

// rsNewEnv starts a fresh kinesis-local and creates the test stream with
// the given number of shards. It reuses env (and so writeConfig and
// startHost) with the kinesis-local endpoint instead of kinesalite's.
func rsNewEnv(t testing.TB, shards int32) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.ep = testenv.StartKinesisMock(t, "SHARD_LIMIT=50")
	e.kc = testenv.KinesisClient(e.ep)
	e.cpPath = filepath.Join(e.dir, "data", "checkpoints.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := testenv.CreateStream(ctx, e.kc, streamName, shards); err != nil {
		t.Fatal(err)
	}
	for _, s := range rsListShards(t, e) {
		e.shards = append(e.shards, aws.ToString(s.ShardId))
	}
	if len(e.shards) != int(shards) {
		t.Fatalf("stream has %d shards, want %d", len(e.shards), shards)
	}
	return e
}

// rsListShards lists every shard of the stream (all pages).
func rsListShards(t testing.TB, e *env) []types.Shard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(streamName)}
	for {
		page, err := e.kc.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("ListShards: %v", err)
		}
		out = append(out, page.Shards...)
		if page.NextToken == nil || *page.NextToken == "" {
			return out
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// rsOpenShards returns the open shards (no EndingSequenceNumber) sorted by
// starting hash key.
func rsOpenShards(t testing.TB, e *env) []types.Shard {
	t.Helper()
	var open []types.Shard
	for _, s := range rsListShards(t, e) {
		if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	sort.Slice(open, func(i, j int) bool {
		return rsBig(open[i].HashKeyRange.StartingHashKey).Cmp(rsBig(open[j].HashKeyRange.StartingHashKey)) < 0
	})
	return open
}

func rsBig(s *string) *big.Int {
	n, ok := new(big.Int).SetString(aws.ToString(s), 10)
	if !ok {
		panic("bad hash key " + aws.ToString(s))
	}
	return n
}

// rsReshard runs one resharding call, retrying while the stream is busy,
// then waits until the stream is ACTIVE again.
func rsReshard(t testing.TB, e *env, what string, call func(ctx context.Context) error) {
	t.Helper()
	rsReshardThen(t, e, what, call, nil)
}

// rsReshardThen is rsReshard that runs then (when not nil) right after
// the resharding call was accepted, before the new shards exist.
func rsReshardThen(t testing.TB, e *env, what string, call func(ctx context.Context) error, then func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := testenv.WaitStreamActive(ctx, e.kc, streamName); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil {
			break
		}
		var inUse *types.ResourceInUseException
		var limit *types.LimitExceededException
		if attempt < 20 && (errors.As(err, &inUse) || errors.As(err, &limit)) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		t.Fatalf("%s: %v", what, err)
	}
	if then != nil {
		then()
	}
	if err := testenv.WaitStreamActive(ctx, e.kc, streamName); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s done (%d open shards)", what, len(rsOpenShards(t, e)))
}

// rsKeys is the fixed set of partition keys the producer cycles through.
const rsKeys = 40

func rsKey(i int) string { return fmt.Sprintf("key-%02d", i) }

// rsData is the payload of the n-th record of a key: "key-07/000012".
func rsData(key string, n int) string { return fmt.Sprintf("%s/%06d", key, n) }

// rsParseData splits rsData's output back into key and counter.
func rsParseData(d string) (key string, n int, ok bool) {
	k, c, found := strings.Cut(d, "/")
	if !found {
		return "", 0, false
	}
	n, err := strconv.Atoi(c)
	return k, n, err == nil
}

// rsProducer puts records at a steady rate with PutRecords: perTick
// records every tick, keys taken round-robin from rsKeys keys (so one call
// never holds the same key twice), each record's data carrying its key's
// counter. Failed entries are retried before the next call, so each key's
// records are stored in counter order.
type rsProducer struct {
	e       *env
	perTick int
	tick    time.Duration

	mu     sync.Mutex
	recs   []*rec
	err    error
	next   int
	counts map[string]int

	burstCh chan int
	burstOK chan struct{}
	stopCh  chan struct{}
	done    chan struct{}
}

func rsStartProducer(e *env, perTick int, tick time.Duration) *rsProducer {
	p := &rsProducer{e: e, perTick: perTick, tick: tick, counts: map[string]int{},
		burstCh: make(chan int), burstOK: make(chan struct{}), stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *rsProducer) run() {
	defer close(p.done)
	tk := time.NewTicker(p.tick)
	defer tk.Stop()
	for {
		n, burst := p.perTick, false
		select {
		case <-p.stopCh:
			return
		case <-tk.C:
		case n = <-p.burstCh:
			burst = true
		}
		for n > 0 {
			// At most one record per key in one call.
			batch := make([]*rec, min(n, rsKeys))
			n -= len(batch)
			for i := range batch {
				key := rsKey(p.next % rsKeys)
				batch[i] = &rec{n: p.next, key: key, data: rsData(key, p.counts[key])}
				p.counts[key]++
				p.next++
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := p.put(ctx, batch)
			cancel()
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.recs = append(p.recs, batch...)
			p.mu.Unlock()
		}
		if burst {
			p.burstOK <- struct{}{}
		}
	}
}

// burst puts n records at once (between two ticks) and returns when they
// are stored.
func (p *rsProducer) burst(t testing.TB, n int) {
	t.Helper()
	select {
	case p.burstCh <- n:
	case <-p.done:
	}
	select {
	case <-p.burstOK:
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("producer stopped during a burst: %v", p.err)
	}
}

// put is putBatch with retries of transient call failures too.
func (p *rsProducer) put(ctx context.Context, batch []*rec) error {
	var err error
	for attempt := 1; attempt <= 20; attempt++ {
		if err = p.e.putBatch(ctx, batch); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (p *rsProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs)
}

// stop ends production and returns every record put, in put order.
func (p *rsProducer) stop(t testing.TB) []*rec {
	t.Helper()
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("producer: %v", p.err)
	}
	return p.recs
}

// rsSleep waits d, failing the test early if the host exits.
func rsSleep(t testing.TB, h *hostProc, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if h != nil && h.exited() {
			t.Fatalf("kinesis-host exited early with code %d", h.cmd.ProcessState.ExitCode())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rsCheckKeyOrder asserts that, per partition key, first deliveries come
// in counter order (redeliveries of an already delivered record are
// skipped). It returns the number of redeliveries.
func rsCheckKeyOrder(t testing.TB, ds []delivery) (redelivered int) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]int{}
	bad := 0
	for i, d := range ds {
		if seen[d.Data] {
			redelivered++
			continue
		}
		seen[d.Data] = true
		key, n, ok := rsParseData(d.Data)
		if !ok || key != d.Key {
			t.Errorf("delivery #%d: data %q does not match key %q", i, d.Data, d.Key)
			continue
		}
		prev, had := last[key]
		if had && n <= prev || !had && n != 0 {
			bad++
			if bad <= 10 {
				t.Errorf("delivery #%d: key %s counter %d (shard %s) first delivered after counter %d: per-key order broken",
					i, key, n, d.Shard, prev)
			}
		}
		if !had || n > prev {
			last[key] = n
		}
	}
	if bad > 10 {
		t.Errorf("... %d per-key order violations in all", bad)
	}
	return redelivered
}

// rsCheckLineage asserts that every child shard's first delivery comes
// after the last delivery of each of its parents (as ListShards reports
// them). It returns how many (parent, child) pairs with deliveries on both
// sides were checked.
func rsCheckLineage(t testing.TB, shards []types.Shard, ds []delivery) (pairs int) {
	t.Helper()
	first, last := map[string]int{}, map[string]int{}
	for i, d := range ds {
		if _, ok := first[d.Shard]; !ok {
			first[d.Shard] = i
		}
		last[d.Shard] = i
	}
	for _, s := range shards {
		child := aws.ToString(s.ShardId)
		fc, ok := first[child]
		if !ok {
			continue
		}
		for _, p := range []string{aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId)} {
			if p == "" {
				continue
			}
			lp, ok := last[p]
			if !ok {
				continue
			}
			pairs++
			if fc < lp {
				t.Errorf("child %s first delivered (#%d: %s) before the last delivery of its parent %s (#%d: %s)",
					child, fc, ds[fc].Data, p, lp, ds[lp].Data)
			}
		}
	}
	return pairs
}

// rsCheckpoints reads the stored checkpoint of each shard id from the file
// store. The host (which holds the file lock) must have exited.
func rsCheckpoints(t testing.TB, e *env, ids []string) map[string]*sdk.Checkpoint {
	t.Helper()
	st := file.New()
	if err := st.Open(e.cpPath, 5*time.Second); err != nil {
		t.Fatalf("open checkpoint db: %v", err)
	}
	defer st.Close(context.Background())
	m := map[string]*sdk.Checkpoint{}
	for _, id := range ids {
		cp, found, err := st.Get(context.Background(), sdk.CheckpointKey{App: appName, Stream: streamName, ShardID: id})
		if err != nil {
			t.Fatalf("checkpoint %s: %v", id, err)
		}
		if found {
			m[id] = &cp
		}
	}
	return m
}

// rsResumedIn reports whether a host log shows shard id starting from a
// stored checkpoint that is not SHARD_END.
func rsResumedIn(log, id string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "shard starting after its checkpoint") && strings.Contains(line, "shard="+id) {
			return true
		}
	}
	return false
}

// rsWaitStarted waits until the recorder's lifecycle file shows
// shard_started for n shards: the host holds their iterators, so records
// put from then on are after LATEST.
func rsWaitStarted(t testing.TB, h *hostProc, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		raw, _ := os.ReadFile(path)
		started := map[string]bool{}
		for _, line := range strings.Split(string(raw), "\n") {
			var ev map[string]string
			if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "shard_started" {
				started[ev["shard"]] = true
			}
		}
		if len(started) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d shards reported shard_started", len(started), n)
		}
		rsSleep(t, h, 50*time.Millisecond)
	}
}
