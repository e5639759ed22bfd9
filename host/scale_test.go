package host_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// Tests of the host at scale and under Kinesis's bad days, against the
// in-memory fake: 1,200 shards, throttling and dropped connections,
// expired iterators, the 5 GetRecords/s per shard limit and caught-up
// polling. Identifiers here start with "scale".

// scaleStart is rig.start with poll_interval chosen by the test and the
// host reading through api (normally a scaleSpy around r.fake).
func scaleStart(r *rig, api host.KinesisAPI, poll, streamExtra, handlerExtra string) {
	r.t.Helper()
	r.startAPI(api, fmt.Sprintf("poll_interval = %q\n  %s", poll, streamExtra), handlerExtra, "")
}

func scaleTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// scaleSpy wraps the fake and records, per shard, when GetRecords was
// called. The shard of a GetRecords call is found by following iterators:
// GetShardIterator's answer belongs to the shard asked for, and a
// NextShardIterator to the shard of the iterator it came from.
type scaleSpy struct {
	f *kinesisfake.Fake

	mu        sync.Mutex
	iterShard map[string]string
	reads     map[string][]time.Time // shard → GetRecords call times
	unknown   int                    // GetRecords with an iterator not traced
	lists     []time.Time
	listPaged int // ListShards calls with a NextToken
	errs      map[string]int
}

func newScaleSpy(f *kinesisfake.Fake) *scaleSpy {
	return &scaleSpy{f: f, iterShard: map[string]string{}, reads: map[string][]time.Time{}, errs: map[string]int{}}
}

func (s *scaleSpy) noteErr(op string, err error) {
	if err == nil {
		return
	}
	kind := "other"
	var (
		thr    *types.ProvisionedThroughputExceededException
		kms    *types.KMSThrottlingException
		intern *types.InternalFailureException
		exp    *types.ExpiredIteratorException
		lim    *types.LimitExceededException
	)
	switch {
	case errors.As(err, &thr):
		kind = "throttle"
	case errors.As(err, &kms):
		kind = "kms-throttle"
	case errors.As(err, &intern):
		kind = "internal"
	case errors.As(err, &exp) && strings.Contains(err.Error(), "injected"):
		kind = "expired-injected"
	case errors.As(err, &exp):
		kind = "expired"
	case errors.As(err, &lim):
		kind = "limit"
	case strings.Contains(err.Error(), "connection reset"):
		kind = "conn-reset"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	}
	s.mu.Lock()
	s.errs[op+"/"+kind]++
	s.mu.Unlock()
}

func (s *scaleSpy) ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	s.mu.Lock()
	s.lists = append(s.lists, time.Now())
	if in.NextToken != nil {
		s.listPaged++
	}
	s.mu.Unlock()
	out, err := s.f.ListShards(ctx, in, optFns...)
	s.noteErr(kinesisfake.OpListShards, err)
	return out, err
}

func (s *scaleSpy) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	out, err := s.f.GetShardIterator(ctx, in, optFns...)
	s.noteErr(kinesisfake.OpGetShardIterator, err)
	if err == nil && out.ShardIterator != nil {
		s.mu.Lock()
		s.iterShard[*out.ShardIterator] = aws.ToString(in.ShardId)
		s.mu.Unlock()
	}
	return out, err
}

func (s *scaleSpy) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	now := time.Now()
	s.mu.Lock()
	shard, ok := s.iterShard[aws.ToString(in.ShardIterator)]
	if ok {
		s.reads[shard] = append(s.reads[shard], now)
	} else {
		s.unknown++
	}
	s.mu.Unlock()
	out, err := s.f.GetRecords(ctx, in, optFns...)
	s.noteErr(kinesisfake.OpGetRecords, err)
	if err == nil && out.NextShardIterator != nil && ok {
		s.mu.Lock()
		s.iterShard[*out.NextShardIterator] = shard
		s.mu.Unlock()
	}
	return out, err
}

func (s *scaleSpy) pagedLists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listPaged
}

// readTimes returns a copy of the GetRecords call times per shard.
func (s *scaleSpy) readTimes() map[string][]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string][]time.Time, len(s.reads))
	for k, v := range s.reads {
		m[k] = append([]time.Time(nil), v...)
	}
	return m
}

func (s *scaleSpy) errCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.errs))
	for k, v := range s.errs {
		m[k] = v
	}
	return m
}

// scaleWindowMax returns the most calls in any window [ts[i], ts[i]+w)
// and the smallest gap between consecutive calls.
func scaleWindowMax(ts []time.Time, w time.Duration) (most int, minGap time.Duration) {
	minGap = time.Hour
	j := 0
	for i := range ts {
		if i > 0 {
			minGap = min(minGap, ts[i].Sub(ts[i-1]))
		}
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most, minGap
}

// scaleRateWindow is the window the 5-calls/s check uses: one second less
// 5 ms, for the time between the host taking its own timestamp and the
// spy taking its (scheduling under -race); the host keeps 200 ms between
// the starts of its calls, so six calls need at least 1 s.
const scaleRateWindow = time.Second - 5*time.Millisecond

// scaleCheckRate asserts at most 5 GetRecords calls per shard in any
// one-second window and returns the worst window and the smallest gap.
func scaleCheckRate(t *testing.T, spy *scaleSpy) (worst int, minGap time.Duration) {
	t.Helper()
	minGap = time.Hour
	for shard, ts := range spy.readTimes() {
		most, gap := scaleWindowMax(ts, scaleRateWindow)
		if most > 5 {
			t.Errorf("shard %s: %d GetRecords calls within one second (at most 5 allowed); smallest gap %s", shard, most, gap)
		}
		worst, minGap = max(worst, most), min(minGap, gap)
	}
	if spy.unknown > 0 {
		t.Errorf("%d GetRecords calls with an iterator that no GetShardIterator or GetRecords answer gave", spy.unknown)
	}
	return worst, minGap
}

// scaleExactlyOnce asserts every record in want (by data) was delivered
// exactly once, with in-order sequence numbers per shard.
func scaleExactlyOnce(t *testing.T, ds []delivery, want map[string]bool) {
	t.Helper()
	count := map[string]int{}
	for _, d := range ds {
		count[d.Data]++
	}
	missing, dup, extra := 0, 0, 0
	for d := range want {
		switch n := count[d]; {
		case n == 0:
			missing++
			if missing <= 5 {
				t.Errorf("record %q never delivered", d)
			}
		case n > 1:
			dup++
			if dup <= 5 {
				t.Errorf("record %q delivered %d times", d, n)
			}
		}
	}
	for d := range count {
		if !want[d] {
			extra++
			if extra <= 5 {
				t.Errorf("delivered %q, which was never put", d)
			}
		}
	}
	if missing+dup+extra > 0 {
		t.Errorf("%d records: %d missing, %d delivered more than once, %d unknown (%d deliveries)", len(want), missing, dup, extra, len(ds))
	}
	checkOrder(t, ds)
}

// scalePut writes perShard records to every open shard of stream "s" and
// returns the set of their data.
func scalePut(t *testing.T, f *kinesisfake.Fake, perShard int, prefix string) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for _, sh := range f.Shards("s") {
		if sh.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		id := aws.ToString(sh.ShardId)
		for i := 0; i < perShard; i++ {
			d := fmt.Sprintf("%s-%s-%05d", prefix, id[len(id)-4:], i)
			if _, err := f.PutRecordToShard("s", id, "k"+fmt.Sprint(i%7), []byte(d)); err != nil {
				t.Fatal(err)
			}
			want[d] = true
		}
	}
	return want
}

// scaleGoroutinesSettle waits up to d for the goroutine count to fall to
// at most limit and returns the last count.
func scaleGoroutinesSettle(limit int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScale1200Shards: a stream of 1,200 shards is listed in pages (the
// fake's ListShards page is 1,000 shards), one record from each shard is
// delivered, the periodic shard sync (every 1 s) costs a bounded number of
// ListShards calls, and the goroutine count stays proportional to the
// shards and returns to where it was after the host stops.
func TestScale1200Shards(t *testing.T) {
	const shards = 1200
	f := kinesisfake.New()
	if err := f.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	want := scalePut(t, f, 1, "one")
	spy := newScaleSpy(f)
	runtime.GC()
	g0 := runtime.NumGoroutine()

	r := newRig(t, f)
	t0 := time.Now()
	scaleStart(r, spy, "1s", `shard_sync_interval = "1s"`, "")
	ds := r.waitDistinct(shards, 2*time.Minute)
	took := time.Since(t0)
	gRun := runtime.NumGoroutine()

	firstLists, firstPaged := f.Calls(kinesisfake.OpListShards), spy.pagedLists()
	if firstLists < 2 || firstPaged < 1 {
		t.Errorf("%d ListShards calls (%d with NextToken) for %d shards: the listing was not paged", firstLists, firstPaged, shards)
	}
	perShard := map[string]int{}
	for _, d := range ds {
		perShard[d.Shard]++
	}
	if len(perShard) != shards {
		t.Errorf("records delivered from %d shards, want %d", len(perShard), shards)
	}

	// The periodic refresh over 5 s with shard_sync_interval = 1s.
	const window = 5 * time.Second
	c0, gr0 := f.Calls(kinesisfake.OpListShards), f.Calls(kinesisfake.OpGetRecords)
	time.Sleep(window)
	c1, gr1 := f.Calls(kinesisfake.OpListShards), f.Calls(kinesisfake.OpGetRecords)
	refresh := c1 - c0
	pages := (shards + kinesisfake.DefaultListShardsMaxResults - 1) / kinesisfake.DefaultListShardsMaxResults
	if limit := pages * (int(window/time.Second) + 2); refresh > limit {
		t.Errorf("%d ListShards calls in %s with shard_sync_interval = 1s (%d pages per listing): more than %d", refresh, window, pages, limit)
	}
	if refresh < pages {
		t.Errorf("%d ListShards calls in %s with shard_sync_interval = 1s: the periodic shard sync is not running", refresh, window)
	}
	gPeak := runtime.NumGoroutine()
	if gPeak > g0+4*shards+200 {
		t.Errorf("%d goroutines with %d shards running (%d before the host started): more than 4 per shard", gPeak, shards, g0)
	}

	r.h.Drain()
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-r.h.Closed()
	gAfter := scaleGoroutinesSettle(g0+5, 10*time.Second)
	if gAfter > g0+5 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines after the host stopped, %d before it started: goroutines leaked\n%s", gAfter, g0, scaleTail(string(buf[:n]), 8<<10))
	}
	ds = r.deliveries()
	scaleExactlyOnce(t, ds, want)
	t.Logf("%d shards: all %d records delivered in %s; ListShards calls by then %d (%d with NextToken); periodic sync: %d ListShards calls in %s (%d pages per listing); %d GetRecords calls in %s (%.0f/s, poll_interval 1s); goroutines: %d before, %d with all shards running (+%d, %.2f per shard), %d after stop",
		shards, len(want), took.Round(time.Millisecond), firstLists, firstPaged, refresh, window, pages, gr1-gr0, window,
		float64(gr1-gr0)/window.Seconds(), g0, max(gRun, gPeak), max(gRun, gPeak)-g0, float64(max(gRun, gPeak)-g0)/shards, gAfter)
}

// TestScaleThrottlingNoLossNoDup: 20 % of GetRecords calls throttled,
// dropped connections (every 7th), InternalFailure (every 11th) and KMS
// throttling (every 17th) on GetRecords, dropped connections on every
// 2nd GetShardIterator and LimitExceeded on every 3rd ListShards: every
// record is delivered exactly once, in order, and retries keep to 5
// GetRecords calls per second per shard.
func TestScaleThrottlingNoLossNoDup(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 4); err != nil {
		t.Fatal(err)
	}
	want := scalePut(t, f, 500, "thr")
	f.FailRatio(kinesisfake.OpGetRecords, 0.2, 7, kinesisfake.Throttle)
	f.FailEvery(kinesisfake.OpGetRecords, 7, kinesisfake.ConnReset)
	f.FailEvery(kinesisfake.OpGetRecords, 11, kinesisfake.Internal)
	f.FailEvery(kinesisfake.OpGetRecords, 17, kinesisfake.KMSThrottling)
	f.FailEvery(kinesisfake.OpGetShardIterator, 2, kinesisfake.ConnReset)
	f.FailEvery(kinesisfake.OpListShards, 3, kinesisfake.LimitExceeded)
	spy := newScaleSpy(f)
	r := newRig(t, f)
	t0 := time.Now()
	scaleStart(r, spy, "200ms", `max_records = 50
  shard_sync_interval = "1s"`, "")
	r.waitDistinct(len(want), time.Minute)
	took := time.Since(t0)
	time.Sleep(500 * time.Millisecond) // a late duplicate would show up
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	scaleExactlyOnce(t, r.deliveries(), want)
	errs := spy.errCounts()
	for _, k := range []string{"GetRecords/throttle", "GetRecords/conn-reset", "GetRecords/internal", "GetRecords/kms-throttle", "GetShardIterator/conn-reset"} {
		if errs[k] == 0 {
			t.Errorf("no %s error was injected", k)
		}
	}
	st := r.h.Stats()
	if st.Retries == 0 {
		t.Error("no retries counted")
	}
	worst, gap := scaleCheckRate(t, spy)
	t.Logf("%d records over 4 shards delivered exactly once in %s; %d GetRecords calls; injected errors %v; host retries %d; worst 1 s window %d GetRecords calls per shard, smallest gap %s",
		len(want), took.Round(time.Millisecond), f.Calls(kinesisfake.OpGetRecords), errs, st.Retries, worst, gap.Round(time.Millisecond))
}

// TestScaleExpiredIterators: iterators really expire (IteratorTTL 250 ms
// while each page takes the handler over 300 ms), more expiries are
// injected on every 6th GetRecords, and a shard is split mid-stream, so
// renewals also happen on a closed shard before its end. Every record is
// delivered exactly once: a renewed iterator starts right after the last
// record read, neither skipping nor replaying.
func TestScaleExpiredIterators(t *testing.T) {
	f := kinesisfake.New()
	f.IteratorTTL = 250 * time.Millisecond
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	want := scalePut(t, f, 100, "a")
	f.FailEvery(kinesisfake.OpGetRecords, 6, kinesisfake.Expired)
	spy := newScaleSpy(f)
	r := newRig(t, f)
	t0 := time.Now()
	scaleStart(r, spy, "200ms", `max_records = 20
  batch_max_records = 10
  shard_sync_interval = "1s"`, `delay = "400ms"`)
	r.waitDistinct(50, 30*time.Second)

	// Split shard 0 while it is being read; its children get records too.
	parent := f.Shards("s")[0]
	lo, _ := new(big.Int).SetString(*parent.HashKeyRange.StartingHashKey, 10)
	hi, _ := new(big.Int).SetString(*parent.HashKeyRange.EndingHashKey, 10)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	if err := f.SplitShard("s", *parent.ShardId, mid.String()); err != nil {
		t.Fatal(err)
	}
	for d := range scalePut(t, f, 40, "b") {
		want[d] = true
	}
	r.waitDistinct(len(want), time.Minute)
	took := time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	scaleExactlyOnce(t, r.deliveries(), want)
	if cp := r.checkpoint(*parent.ShardId); !cp.ShardEnd {
		t.Errorf("split parent %s: checkpoint %+v, want SHARD_END", *parent.ShardId, cp)
	}
	errs := spy.errCounts()
	renewals := strings.Count(r.logBuf.String(), "shard iterator expired; renewing")
	// One GetShardIterator per shard (4 shards) at start; the rest are renewals.
	gsi := f.Calls(kinesisfake.OpGetShardIterator)
	real, injected := errs["GetRecords/expired"], errs["GetRecords/expired-injected"]
	if real < 3 || injected < 3 || renewals < real+injected || gsi < 4+real+injected {
		t.Errorf("%d real and %d injected expired-iterator errors, %d renewals logged, %d GetShardIterator calls: the test did not exercise expiry", real, injected, renewals, gsi)
	}
	t.Logf("%d records (2 shards, then a split) delivered exactly once in %s; %d ExpiredIterator errors (%d real: IteratorTTL 250 ms, %d injected), %d renewals, %d GetShardIterator calls, %d GetRecords calls",
		len(want), took.Round(time.Millisecond), real+injected, real, injected, renewals, gsi, f.Calls(kinesisfake.OpGetRecords))
}

// TestScaleRateWhileBehind: a stream far behind (250 records per shard,
// max_records = 10, so 25 full pages per shard) with poll_interval = 5s.
// The host must read again at once while behind, never waiting
// poll_interval between full pages, yet never make more than 5 GetRecords
// calls per second per shard.
func TestScaleRateWhileBehind(t *testing.T) {
	const perShard, maxRecords = 250, 10
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	want := scalePut(t, f, perShard, "b")
	spy := newScaleSpy(f)
	r := newRig(t, f)
	t0 := time.Now()
	scaleStart(r, spy, "5s", fmt.Sprintf(`max_records = %d`, maxRecords), "")
	r.waitDistinct(len(want), time.Minute)
	took := time.Since(t0)
	times := spy.readTimes()
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	scaleExactlyOnce(t, r.deliveries(), want)

	pages := perShard / maxRecords
	// Waiting poll_interval after any full page would take pages × 5 s.
	if limit := time.Duration(pages) * 5 * time.Second / 5; took > limit {
		t.Errorf("%d records took %s to drain: the host waited instead of reading again while behind (limit %s; %d pages × poll_interval 5s = %s)",
			len(want), took.Round(time.Millisecond), limit, pages, time.Duration(pages)*5*time.Second)
	}
	var maxGap time.Duration
	for shard, ts := range times {
		if len(ts) < pages {
			t.Errorf("shard %s: %d GetRecords calls for %d full pages", shard, len(ts), pages)
		}
		// The calls that read full pages are the first `pages` ones: none
		// may follow its predecessor by poll_interval.
		for i := 1; i < min(len(ts), pages+1); i++ {
			maxGap = max(maxGap, ts[i].Sub(ts[i-1]))
		}
	}
	if maxGap >= 2500*time.Millisecond {
		t.Errorf("largest gap between GetRecords calls while behind is %s (poll_interval 5s): the host waited while behind", maxGap)
	}
	worst, gap := scaleCheckRate(t, spy)
	if gap < 195*time.Millisecond {
		t.Errorf("smallest gap between two GetRecords calls of one shard is %s, want ≥ 200 ms", gap)
	}
	t.Logf("%d records (2 shards × %d pages of %d) drained in %s with poll_interval 5s (waiting it per page would take %s); worst 1 s window %d GetRecords calls per shard, gaps %s .. %s",
		len(want), pages, maxRecords, took.Round(time.Millisecond), time.Duration(pages)*5*time.Second, worst, gap.Round(time.Millisecond), maxGap.Round(time.Millisecond))
}

// TestScaleCaughtUpPolling: with nothing new to read and poll_interval =
// 1s, each shard is polled about once a second.
func TestScaleCaughtUpPolling(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 2); err != nil {
		t.Fatal(err)
	}
	want := scalePut(t, f, 5, "c")
	spy := newScaleSpy(f)
	r := newRig(t, f)
	scaleStart(r, spy, "1s", "", "")
	r.waitDistinct(len(want), 30*time.Second)
	time.Sleep(1500 * time.Millisecond) // caught up by now
	const window = 6 * time.Second
	from := time.Now()
	time.Sleep(window)
	to := time.Now()
	times := spy.readTimes()
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	scaleExactlyOnce(t, r.deliveries(), want)
	var report []string
	for shard, ts := range times {
		var in []time.Time
		for _, x := range ts {
			if !x.Before(from) && x.Before(to) {
				in = append(in, x)
			}
		}
		n := len(in)
		if n < 4 || n > 7 {
			t.Errorf("shard %s: %d GetRecords calls in %s while caught up with poll_interval 1s, want about 6", shard, n, window)
		}
		var gaps []time.Duration
		for i := 1; i < len(in); i++ {
			gaps = append(gaps, in[i].Sub(in[i-1]))
		}
		sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
		if len(gaps) > 0 && (gaps[0] < 950*time.Millisecond || gaps[len(gaps)-1] > 2*time.Second) {
			t.Errorf("shard %s: gaps between GetRecords calls while caught up %v, want about 1 s", shard, gaps)
		}
		med := time.Duration(0)
		if len(gaps) > 0 {
			med = gaps[len(gaps)/2]
		}
		report = append(report, fmt.Sprintf("%s: %d calls, median gap %s", shard, n, med.Round(time.Millisecond)))
	}
	sort.Strings(report)
	t.Logf("caught up, poll_interval 1s, %s window: %s", window, strings.Join(report, "; "))
}
