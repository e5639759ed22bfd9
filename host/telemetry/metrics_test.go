package telemetry

import (
	"encoding/json"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// recordEveryEvent calls every event method once or twice.
func recordEveryEvent(m *Metrics) {
	m.Batch("orders", "shardId-000", "orders-h", 10, 1000, 20*time.Millisecond, ResultOK)
	m.Batch("orders", "shardId-000", "orders-h", 5, 500, 3*time.Second, ResultPartial)
	m.Batch("orders", "shardId-001", "orders-h", 1, 10, time.Millisecond, ResultCrash)
	m.Lag("orders", "shardId-000", 1500*time.Millisecond)
	m.IteratorAge("orders", "shardId-000", time.Now().Add(-2*time.Second))
	m.CheckpointWrite("redis", CheckpointOK, 3*time.Millisecond)
	m.CheckpointWrite("redis", CheckpointConflict, 4*time.Millisecond)
	m.Checkpointed("orders", 2)
	m.GetRecords("orders", GetRecordsOK)
	m.GetRecords("orders", GetRecordsThrottled)
	m.Throttle("orders", "GetRecords")
	m.PluginUp("orders-h", true)
	m.PluginRestart("orders-h", RestartCrash)
	m.RecordFailed("orders", "orders-h", ActionRetry, 3)
	m.ShardsOwned("orders", 2)
	m.LeasesHeld("orders", 2)
	m.LeaseChange("orders", LeaseTaken)
	m.BufferedBytes(4096)
	m.BufferBudget(1 << 20)
	m.BufferWait()
}

// family describes one expected metric family.
type family struct {
	typ    dto.MetricType
	labels []string
}

// wantFamilies are the host's metrics with their types and label names.
var wantFamilies = map[string]family{
	"kinesis_host_records_total":                     {dto.MetricType_COUNTER, []string{"handler", "shard", "stream"}},
	"kinesis_host_bytes_total":                       {dto.MetricType_COUNTER, []string{"handler", "shard", "stream"}},
	"kinesis_host_batches_total":                     {dto.MetricType_COUNTER, []string{"handler", "result", "stream"}},
	"kinesis_host_handler_duration_seconds":          {dto.MetricType_HISTOGRAM, []string{"handler", "stream"}},
	"kinesis_host_shard_lag_seconds":                 {dto.MetricType_GAUGE, []string{"shard", "stream"}},
	"kinesis_host_shard_iterator_age_seconds":        {dto.MetricType_GAUGE, []string{"shard", "stream"}},
	"kinesis_host_checkpoint_writes_total":           {dto.MetricType_COUNTER, []string{"checkpoint", "result"}},
	"kinesis_host_checkpoint_write_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"checkpoint"}},
	"kinesis_host_getrecords_total":                  {dto.MetricType_COUNTER, []string{"result", "stream"}},
	"kinesis_host_throttles_total":                   {dto.MetricType_COUNTER, []string{"api", "stream"}},
	"kinesis_host_plugin_up":                         {dto.MetricType_GAUGE, []string{"plugin"}},
	"kinesis_host_plugin_restarts_total":             {dto.MetricType_COUNTER, []string{"plugin", "reason"}},
	"kinesis_host_records_failed_total":              {dto.MetricType_COUNTER, []string{"action", "handler", "stream"}},
	"kinesis_host_shards_owned":                      {dto.MetricType_GAUGE, []string{"stream"}},
	"kinesis_host_leases_held":                       {dto.MetricType_GAUGE, []string{"stream"}},
	"kinesis_host_lease_changes_total":               {dto.MetricType_COUNTER, []string{"reason", "stream"}},
	"kinesis_host_buffered_bytes":                    {dto.MetricType_GAUGE, nil},
	"kinesis_host_buffer_budget_bytes":               {dto.MetricType_GAUGE, nil},
	"kinesis_host_buffer_waits_total":                {dto.MetricType_COUNTER, nil},
	"kinesis_host_build_info":                        {dto.MetricType_GAUGE, []string{"go_version", "version"}},
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelNames(m *dto.Metric) []string {
	var names []string
	for _, lp := range m.GetLabel() {
		names = append(names, lp.GetName())
	}
	sort.Strings(names)
	return names
}

func TestExposition(t *testing.T) {
	m := NewMetrics("1.2.3")
	recordEveryEvent(m)
	mfs := gather(t, m)

	for name, want := range wantFamilies {
		mf, ok := mfs[name]
		if !ok {
			t.Errorf("%s is not exported", name)
			continue
		}
		if mf.GetType() != want.typ {
			t.Errorf("%s has type %v, want %v", name, mf.GetType(), want.typ)
		}
		if strings.TrimSpace(mf.GetHelp()) == "" {
			t.Errorf("%s has no help text", name)
		}
		for _, s := range mf.GetMetric() {
			if got := labelNames(s); !slices.Equal(got, want.labels) {
				t.Errorf("%s has labels %v, want %v", name, got, want.labels)
			}
		}
	}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "kinesis_host_") {
			continue
		}
		if _, ok := wantFamilies[name]; !ok {
			t.Errorf("unexpected metric %s", name)
		}
		isCounter := mf.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: a counter's name must end in _total, and only a counter's (type %v)", name, mf.GetType())
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: histograms here measure durations and must end in _seconds", name)
		}
		for _, bad := range []string{"millis", "_ms", "milliseconds"} {
			if strings.Contains(name, bad) {
				t.Errorf("%s: use base units (seconds)", name)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total"} {
		if runtime.GOOS != "linux" && strings.HasPrefix(name, "process_") {
			continue
		}
		if _, ok := mfs[name]; !ok {
			t.Errorf("%s (Go/process collector) is not exported", name)
		}
	}

	// promlint: the Prometheus naming rules (units, _total, snake_case).
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "kinesis_host_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}

	bi := mfs["kinesis_host_build_info"].GetMetric()[0]
	labels := map[string]string{}
	for _, lp := range bi.GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	if labels["version"] != "1.2.3" || labels["go_version"] != runtime.Version() || bi.GetGauge().GetValue() != 1 {
		t.Errorf("build_info = %v %v", labels, bi.GetGauge().GetValue())
	}
}

func TestBatchValues(t *testing.T) {
	m := NewMetrics("")
	recordEveryEvent(m)
	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.records.WithLabelValues("orders", "shardId-000", "orders-h"), 15},
		{m.records.WithLabelValues("orders", "shardId-001", "orders-h"), 1},
		{m.bytes.WithLabelValues("orders", "shardId-000", "orders-h"), 1500},
		{m.batches.WithLabelValues("orders", "orders-h", "ok"), 1},
		{m.batches.WithLabelValues("orders", "orders-h", "partial"), 1},
		{m.batches.WithLabelValues("orders", "orders-h", "crash"), 1},
		{m.batches.WithLabelValues("orders", "orders-h", "timeout"), 0},
		{m.shardLag.WithLabelValues("orders", "shardId-000"), 1.5},
		{m.checkpointWrites.WithLabelValues("redis", "ok"), 1},
		{m.checkpointWrites.WithLabelValues("redis", "conflict"), 1},
		{m.getRecords.WithLabelValues("orders", "throttled"), 1},
		{m.throttles.WithLabelValues("orders", "GetRecords"), 1},
		{m.pluginUp.WithLabelValues("orders-h"), 1},
		{m.pluginRestarts.WithLabelValues("orders-h", "crash"), 1},
		{m.recordsFailed.WithLabelValues("orders", "orders-h", "retry"), 3},
		{m.shardsOwned.WithLabelValues("orders"), 2},
		{m.leasesHeld.WithLabelValues("orders"), 2},
		{m.leaseChanges.WithLabelValues("orders", "taken"), 1},
		{m.bufferedBytes, 4096},
		{m.bufferBudget, 1 << 20},
		{m.bufferWaits, 1},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			desc := make(chan *prometheus.Desc, 1)
			c.c.Describe(desc)
			t.Errorf("%v = %v, want %v", <-desc, got, c.want)
		}
	}
	if age := testutil.ToFloat64(m.iterAge.WithLabelValues("orders", "shardId-000")); age < 2 || age > 60 {
		t.Errorf("iterator age = %v, want about 2s", age)
	}

	mfs := gather(t, m)
	for _, s := range mfs["kinesis_host_handler_duration_seconds"].GetMetric() {
		h := s.GetHistogram()
		if h.GetSampleCount() != 3 || h.GetSampleSum() < 3.02 || h.GetSampleSum() > 3.022 {
			t.Errorf("handler duration: count %d sum %v, want 3 and 3.021", h.GetSampleCount(), h.GetSampleSum())
		}
		if n := len(h.GetBucket()); n != len(HandlerBuckets) {
			t.Errorf("handler duration has %d buckets, want %d", n, len(HandlerBuckets))
		}
	}
	cw := mfs["kinesis_host_checkpoint_write_duration_seconds"].GetMetric()[0].GetHistogram()
	if cw.GetSampleCount() != 2 {
		t.Errorf("checkpoint write duration count = %d, want 2 (every result is timed)", cw.GetSampleCount())
	}

	// A result outside the known set is exported as given, not dropped.
	m.Batch("orders", "shardId-000", "orders-h", 1, 1, time.Millisecond, "weird")
	if got := testutil.ToFloat64(m.batches.WithLabelValues("orders", "orders-h", "weird")); got != 1 {
		t.Errorf("unknown result counted %v times, want 1", got)
	}
	// Label values that are not UTF-8 do not panic.
	m.Batch("bad\xff", "s", "h", 1, 1, 0, ResultOK)
	m.Lag("bad\xff", "s\xfe", time.Second)
	m.ShardGone("bad\xff", "s\xfe")
	m.GetRecords("bad\xff", "ok")
}

// seriesOf returns the label sets of family name, as "k=v,k=v" strings.
func seriesOf(t *testing.T, m *Metrics, name string) []string {
	t.Helper()
	var out []string
	for _, s := range gather(t, m)[name].GetMetric() {
		var kv []string
		for _, lp := range s.GetLabel() {
			kv = append(kv, lp.GetName()+"="+lp.GetValue())
		}
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

func TestShardGone(t *testing.T) {
	m := NewMetrics("")
	for _, sh := range []string{"s0", "s1"} {
		m.Batch("orders", sh, "h", 1, 1, time.Millisecond, ResultOK)
		m.Lag("orders", sh, time.Second)
		m.IteratorAge("orders", sh, time.Now())
	}
	m.Lag("other", "s0", time.Second)

	m.ShardGone("orders", "s0")
	for _, name := range []string{"kinesis_host_shard_lag_seconds", "kinesis_host_shard_iterator_age_seconds"} {
		want := []string{"shard=s1,stream=orders"}
		if name == "kinesis_host_shard_lag_seconds" {
			want = append(want, "shard=s0,stream=other")
		}
		sort.Strings(want)
		if got := seriesOf(t, m, name); !slices.Equal(got, want) {
			t.Errorf("%s after ShardGone(orders, s0): %v, want %v", name, got, want)
		}
	}
	// Counters stay, so totals keep adding up.
	if got := seriesOf(t, m, "kinesis_host_records_total"); len(got) != 2 {
		t.Errorf("records_total series after ShardGone: %v, want both shards", got)
	}

	// The shard comes back (its lease returns): the gauge is recreated.
	m.Lag("orders", "s0", 0)
	if got := seriesOf(t, m, "kinesis_host_shard_lag_seconds"); len(got) != 3 {
		t.Errorf("lag series after the shard came back: %v", got)
	}
	if v := testutil.ToFloat64(m.shardLag.WithLabelValues("orders", "s0")); v != 0 {
		t.Errorf("lag of the returned shard = %v, want 0", v)
	}
	// Unknown shards are fine.
	m.ShardGone("nope", "nope")
}

func TestStreamAndPluginGone(t *testing.T) {
	m := NewMetrics("")
	for _, st := range []string{"a", "b"} {
		m.Lag(st, "s0", time.Second)
		m.Lag(st, "s1", time.Second)
		m.IteratorAge(st, "s1", time.Now())
		m.ShardsOwned(st, 2)
		m.LeasesHeld(st, 2)
		m.Batch(st, "s0", "h", 1, 1, 0, ResultOK)
	}
	m.PluginUp("h", true)
	m.PluginUp("c", false)
	m.PluginRestart("h", RestartReload)

	m.StreamGone("a")
	for _, name := range []string{"kinesis_host_shard_lag_seconds", "kinesis_host_shard_iterator_age_seconds", "kinesis_host_shards_owned", "kinesis_host_leases_held"} {
		for _, s := range seriesOf(t, m, name) {
			if strings.Contains(s, "stream=a") {
				t.Errorf("%s still has %s after StreamGone(a)", name, s)
			}
		}
		if len(seriesOf(t, m, name)) == 0 {
			t.Errorf("%s lost stream b's series", name)
		}
	}
	if got := seriesOf(t, m, "kinesis_host_records_total"); len(got) != 2 {
		t.Errorf("records_total after StreamGone: %v, want both streams", got)
	}
	m.Lag("a", "s0", time.Second) // recreated after the stream comes back
	if got := seriesOf(t, m, "kinesis_host_shard_lag_seconds"); !slices.Contains(got, "shard=s0,stream=a") {
		t.Errorf("lag not recreated: %v", got)
	}

	m.PluginGone("h")
	if got := seriesOf(t, m, "kinesis_host_plugin_up"); !slices.Equal(got, []string{"plugin=c"}) {
		t.Errorf("plugin_up after PluginGone(h): %v", got)
	}
	if got := seriesOf(t, m, "kinesis_host_plugin_restarts_total"); len(got) != 1 {
		t.Errorf("plugin_restarts_total after PluginGone: %v, want it kept", got)
	}
}

func TestIteratorAgeEdges(t *testing.T) {
	m := NewMetrics("")
	m.IteratorAge("s", "a", time.Time{})
	if got := seriesOf(t, m, "kinesis_host_shard_iterator_age_seconds"); len(got) != 0 {
		t.Errorf("a zero arrival created %v", got)
	}
	m.IteratorAge("s", "a", time.Now().Add(time.Hour)) // clock skew
	if v := testutil.ToFloat64(m.iterAge.WithLabelValues("s", "a")); v != 0 {
		t.Errorf("age of a future arrival = %v, want 0", v)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	recordEveryEvent(m)
	m.ShardGone("s", "a")
	m.StreamGone("s")
	m.PluginGone("p")
	if m.Registry() != nil || m.Expvar() != nil {
		t.Error("a nil *Metrics returned a registry or expvar variables")
	}
	if h := m.Handler(); h == nil {
		t.Error("nil handler")
	}
}

func TestSeedExpvar(t *testing.T) {
	m := NewMetrics("")
	m.Batch("orders", "s0", "h", 7, 70, 0, ResultOK)
	m.Batch("orders", "s1", "h", 3, 30, 0, ResultPartial)
	m.Batch("clicks", "s0", "h2", 5, 50, 0, ResultOK)
	m.Checkpointed("orders", 2)
	m.Checkpointed("clicks", 1)
	m.Checkpointed("clicks", 0)

	vars := m.Expvar()
	var counters map[string]int64
	if err := json.Unmarshal([]byte(vars[ExpvarCounters].String()), &counters); err != nil {
		t.Fatalf("counters: %v: %s", err, vars[ExpvarCounters].String())
	}
	if want := map[string]int64{"records": 15, "checkpoints": 3}; !mapsEqual(counters, want) {
		t.Errorf("counters = %v, want %v", counters, want)
	}
	var streams map[string]map[string]int64
	if err := json.Unmarshal([]byte(vars[ExpvarStreams].String()), &streams); err != nil {
		t.Fatalf("streams: %v: %s", err, vars[ExpvarStreams].String())
	}
	if !mapsEqual(streams["orders"], map[string]int64{"records": 10, "checkpoints": 2}) ||
		!mapsEqual(streams["clicks"], map[string]int64{"records": 5, "checkpoints": 1}) || len(streams) != 2 {
		t.Errorf("streams = %v", streams)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConcurrentEvents runs the event methods from many goroutines (run
// with -race) and checks that no count is lost.
func TestConcurrentEvents(t *testing.T) {
	m := NewMetrics("")
	const workers, batches = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shard := []string{"s0", "s1", "s2"}[w%3]
			for i := range batches {
				m.Batch("orders", shard, "h", 2, 20, time.Millisecond, ResultOK)
				m.Lag("orders", shard, time.Duration(i)*time.Millisecond)
				m.GetRecords("orders", GetRecordsOK)
				if i%100 == 0 {
					m.ShardGone("orders", shard)
				}
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, sh := range []string{"s0", "s1", "s2"} {
		total += testutil.ToFloat64(m.records.WithLabelValues("orders", sh, "h"))
	}
	if total != workers*batches*2 {
		t.Errorf("records_total sum = %v, want %d", total, workers*batches*2)
	}
	if got := testutil.ToFloat64(m.getRecords.WithLabelValues("orders", "ok")); got != workers*batches {
		t.Errorf("getrecords_total = %v, want %d", got, workers*batches)
	}
}

// TestSeparateRegistries: two Metrics in one process (tests, or a host
// restarted in-process) do not collide.
func TestSeparateRegistries(t *testing.T) {
	a, b := NewMetrics("a"), NewMetrics("b")
	a.Batch("s", "x", "h", 1, 1, 0, ResultOK)
	if got := seriesOf(t, b, "kinesis_host_records_total"); len(got) != 0 {
		t.Errorf("b sees a's series: %v", got)
	}
}
