package telemetry

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values the host passes to the event methods. Other values are
// accepted and exported as given (on a slower path), so a new outcome
// never panics or disappears; keep them to these so dashboards and alerts
// see every series.
const (
	// Batch results (kinesis_host_batches_total{result}).
	ResultOK      = "ok"      // every record of the call acknowledged
	ResultPartial = "partial" // some records acknowledged, the rest delivered again
	ResultFailed  = "failed"  // the handler answered with an error (or out-of-range acks)
	ResultCrash   = "crash"   // the plugin died during the call
	ResultTimeout = "timeout" // the call outlived call_timeout and the plugin was killed

	// Checkpoint write results (kinesis_host_checkpoint_writes_total{result}).
	CheckpointOK       = "ok"       // written
	CheckpointConflict = "conflict" // refused by the store's condition (another writer, or a lost lease)
	CheckpointError    = "error"    // the store failed or was unreachable; retried

	// GetRecords results (kinesis_host_getrecords_total{result}).
	GetRecordsOK              = "ok"
	GetRecordsThrottled       = "throttled"        // ProvisionedThroughputExceeded, KMS throttling
	GetRecordsError           = "error"            // 5xx, dropped connections, other failures
	GetRecordsExpiredIterator = "expired_iterator" // the iterator expired and was renewed

	// Plugin restart reasons (kinesis_host_plugin_restarts_total{reason}).
	RestartCrash  = "crash"  // the process died
	RestartHang   = "hang"   // a call outlived call_timeout; the process was killed
	RestartSwap   = "swap"   // the binary was replaced on disk (hot swap)
	RestartReload = "reload" // a SIGHUP reload changed the plugin's block

	// Failed-record actions (kinesis_host_records_failed_total{action}).
	ActionRetry      = "retry"       // delivered again after a backoff
	ActionSkip       = "skip"        // on_failure = "skip": logged, checkpointed past
	ActionDeadLetter = "dead_letter" // written to the dead-letter target, checkpointed past
	ActionStop       = "stop"        // on_failure = "stop": the stream stops

	// Lease change reasons (kinesis_host_lease_changes_total{reason}).
	LeaseTaken        = "taken"         // an unowned lease was taken
	LeaseExpiredTaken = "expired_taken" // another host's expired lease was taken
	LeaseHandedOff    = "handed_off"    // given up to balance the fleet, or released on drain
	LeaseLost         = "lost"          // another host took it (a conditional write failed)
)

// batchResults are the results whose batches_total children are cached.
var batchResults = [...]string{ResultOK, ResultPartial, ResultFailed, ResultCrash, ResultTimeout}

// batchResultIndex is the index of result in batchResults, -1 when it is
// not one of them.
func batchResultIndex(result string) int {
	switch result {
	case ResultOK:
		return 0
	case ResultPartial:
		return 1
	case ResultFailed:
		return 2
	case ResultCrash:
		return 3
	case ResultTimeout:
		return 4
	}
	return -1
}

// Histogram buckets, in seconds.
var (
	// HandlerBuckets span a fast in-memory handler (1 ms) to a call near
	// the default call_timeout (30 s).
	HandlerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// CheckpointBuckets span a local file write (1 ms) to a store call near
	// the default checkpoint call_timeout (10 s).
	CheckpointBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Metrics holds every metric of one host process in its own
// prometheus.Registry (never the global default registry, so tests and
// several hosts in one process do not collide), plus the seed-compatible
// expvar counters.
//
// The host calls one method per event (Batch, Lag, CheckpointWrite, ...).
// Every method is safe for concurrent use and is a no-op on a nil
// *Metrics, so the host calls them unconditionally and a host without a
// telemetry {} block passes nil. The per-batch methods (Batch, Lag,
// IteratorAge) look their series up in a cache keyed by label values, so
// the hot path costs a read-locked map lookup and a few atomic adds, and
// no allocation after a shard's first batch.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	records, bytes     *prometheus.CounterVec
	batches            *prometheus.CounterVec
	handlerDuration    *prometheus.HistogramVec
	shardLag, iterAge  *prometheus.GaugeVec
	checkpointWrites   *prometheus.CounterVec
	checkpointDuration *prometheus.HistogramVec
	getRecords         *prometheus.CounterVec
	throttles          *prometheus.CounterVec
	pluginUp           *prometheus.GaugeVec
	pluginRestarts     *prometheus.CounterVec
	recordsFailed      *prometheus.CounterVec
	shardsOwned        *prometheus.GaugeVec
	leasesHeld         *prometheus.GaugeVec
	leaseChanges       *prometheus.CounterVec
	bufferedBytes      prometheus.Gauge
	bufferBudget       prometheus.Gauge
	bufferWaits        prometheus.Counter

	vars *seedVars

	mu       sync.RWMutex
	batchS   map[batchKey]*batchSeries
	handlerS map[pair]*handlerSeries
	lagS     map[pair]prometheus.Gauge // shard_lag_seconds children by (stream, shard)
	ageS     map[pair]prometheus.Gauge // shard_iterator_age_seconds children

	// Less frequent events: one child per label tuple, cached.
	getRecordsC  labelCache[pair, prometheus.Counter]
	throttlesC   labelCache[pair, prometheus.Counter]
	checkpointC  labelCache[pair, checkpointSeries]
	failedC      labelCache[triple, prometheus.Counter]
	restartsC    labelCache[pair, prometheus.Counter]
	leaseChangeC labelCache[pair, prometheus.Counter]
}

type pair struct{ a, b string }

type triple struct{ a, b, c string }

// batchKey identifies the per-shard series Batch updates.
type batchKey struct{ stream, shard, handler string }

// batchSeries are the children one Batch call updates.
type batchSeries struct {
	records, bytes prometheus.Counter
	h              *handlerSeries
}

// handlerSeries are the (stream, handler) children, shared by the stream's
// shards.
type handlerSeries struct {
	duration prometheus.Observer
	batches  [len(batchResults)]prometheus.Counter
	vars     *streamVars
}

type checkpointSeries struct {
	writes   prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics returns the host's metrics, registered in a new private
// registry together with the Go runtime collector (go_*), the process
// collector (process_*: CPU, memory, open files of this process; plugins
// are separate processes and not included) and
// kinesis_host_build_info{version, go_version} = 1. version is the host's
// version string ("dev" for a build without one).
func NewMetrics(version string) *Metrics {
	if version == "" {
		version = "unknown"
	}
	const ns = "kinesis_host"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		records: counter("records_total",
			"Records passed to the handler, counted at every handler call (a record delivered again counts again).",
			"stream", "shard", "handler"),
		bytes: counter("bytes_total",
			"Record data bytes passed to the handler, counted like records_total.",
			"stream", "shard", "handler"),
		batches: counter("batches_total",
			"Handler calls by result: ok, partial (the rest is delivered again), failed, crash (the plugin died), timeout (call_timeout).",
			"stream", "handler", "result"),
		handlerDuration: histogram("handler_duration_seconds",
			"Duration of one handler call (HandleBatch RPC), from send to answer.",
			HandlerBuckets, "stream", "handler"),
		shardLag: gauge("shard_lag_seconds",
			"How far the shard's reader is behind the tip of the shard (MillisBehindLatest of the last GetRecords page or EFO event); 0 when caught up.",
			"stream", "shard"),
		iterAge: gauge("shard_iterator_age_seconds",
			"Age of the last record handled when it was handled: handling time minus the record's arrival in Kinesis (as Lambda's IteratorAge).",
			"stream", "shard"),
		checkpointWrites: counter("checkpoint_writes_total",
			"Checkpoint write calls to a store, by result: ok, conflict (refused by the store's condition), error (retried).",
			"checkpoint", "result"),
		checkpointDuration: histogram("checkpoint_write_duration_seconds",
			"Duration of one checkpoint write call to a store (one call carries every due shard), whatever its result.",
			CheckpointBuckets, "checkpoint"),
		getRecords: counter("getrecords_total",
			"GetRecords calls by result: ok, throttled, error, expired_iterator.",
			"stream", "result"),
		throttles: counter("throttles_total",
			"Throttled Kinesis calls (ProvisionedThroughputExceeded, LimitExceeded, KMS throttling), by API.",
			"stream", "api"),
		pluginUp: gauge("plugin_up",
			"1 while the plugin's process is running and configured, 0 while it is down or restarting.",
			"plugin"),
		pluginRestarts: counter("plugin_restarts_total",
			"Plugin process restarts by reason: crash, hang (killed after call_timeout), swap (binary replaced), reload (config changed).",
			"plugin", "reason"),
		recordsFailed: counter("records_failed_total",
			"Records the handler failed, by what the host did: retry, skip, dead_letter, stop.",
			"stream", "handler", "action"),
		shardsOwned: gauge("shards_owned",
			"Shards this host is reading, or waiting to read (parents not finished), for the stream.",
			"stream"),
		leasesHeld: gauge("leases_held",
			"Shard leases this host holds for the stream in a shared checkpoint store.",
			"stream"),
		leaseChanges: counter("lease_changes_total",
			"Lease changes on this host by reason: taken, expired_taken, handed_off, lost.",
			"stream", "reason"),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "buffered_bytes",
			Help: "Bytes held against max_buffered_bytes: records fetched from Kinesis and not yet acknowledged by a handler, and GetRecords responses being read."}),
		bufferBudget: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "buffer_budget_bytes",
			Help: "The memory budget for fetched records (max_buffered_bytes)."}),
		bufferWaits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "buffer_waits_total",
			Help: "Times a shard reader waited for room in max_buffered_bytes before reading on."}),
		vars:     newSeedVars(),
		batchS:   map[batchKey]*batchSeries{},
		handlerS: map[pair]*handlerSeries{},
		lagS:     map[pair]prometheus.Gauge{},
		ageS:     map[pair]prometheus.Gauge{},
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   ns,
		Name:        "build_info",
		Help:        "Always 1; the labels say which kinesis-host build and Go version run.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.records, m.bytes, m.batches, m.handlerDuration, m.shardLag, m.iterAge,
		m.checkpointWrites, m.checkpointDuration, m.getRecords, m.throttles,
		m.pluginUp, m.pluginRestarts, m.recordsFailed, m.shardsOwned, m.leasesHeld,
		m.leaseChanges, m.bufferedBytes, m.bufferBudget, m.bufferWaits,
	)
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics:   true,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	return m
}

// Registry returns the private registry holding every metric, to register
// further collectors in or to gather from in tests. Nil for a nil
// *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler returns the /metrics handler: the Prometheus text and
// OpenMetrics exposition of Registry, instrumented with
// promhttp_metric_handler_requests_total. On a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Batch records one handler call for shard of stream: records and bytes
// are the records (and their data bytes) passed in the call, d is the
// call's duration (send to answer, or to the crash or timeout), and result
// is one of ResultOK, ResultPartial, ResultFailed, ResultCrash,
// ResultTimeout. A redelivery of the unacknowledged rest is a new call and
// counts again. It updates kinesis_host_records_total,
// kinesis_host_bytes_total, kinesis_host_batches_total,
// kinesis_host_handler_duration_seconds and the expvar "records" counters.
func (m *Metrics) Batch(stream, shard, handler string, records, bytes int, d time.Duration, result string) {
	if m == nil {
		return
	}
	s := m.batchSeries(stream, shard, handler)
	s.records.Add(float64(records))
	s.bytes.Add(float64(bytes))
	s.h.duration.Observe(d.Seconds())
	if i := batchResultIndex(result); i >= 0 {
		s.h.batches[i].Inc()
	} else {
		m.batches.WithLabelValues(labelValue(stream), labelValue(handler), labelValue(result)).Inc()
	}
	s.h.vars.records.Add(int64(records))
}

// batchSeries returns the cached children for (stream, shard, handler),
// creating them on the first call.
func (m *Metrics) batchSeries(stream, shard, handler string) *batchSeries {
	k := batchKey{stream, shard, handler}
	m.mu.RLock()
	s := m.batchS[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.batchS[k]; s != nil {
		return s
	}
	hk := pair{stream, handler}
	h := m.handlerS[hk]
	if h == nil {
		st, hd := labelValue(stream), labelValue(handler)
		h = &handlerSeries{
			duration: m.handlerDuration.WithLabelValues(st, hd),
			vars:     m.vars.stream(stream),
		}
		for i, r := range batchResults {
			h.batches[i] = m.batches.WithLabelValues(st, hd, r)
		}
		m.handlerS[hk] = h
	}
	st, sh, hd := labelValue(stream), labelValue(shard), labelValue(handler)
	s = &batchSeries{
		records: m.records.WithLabelValues(st, sh, hd),
		bytes:   m.bytes.WithLabelValues(st, sh, hd),
		h:       h,
	}
	m.batchS[k] = s
	return s
}

// shardGauge returns shard's cached child of vec from cache (m.lagS or
// m.ageS), creating it when missing: at the first call, and again after
// ShardGone. Each gauge is created by its own method, so a shard that only
// reports lag has no iterator-age series pretending its records are fresh.
func (m *Metrics) shardGauge(cache map[pair]prometheus.Gauge, vec *prometheus.GaugeVec, stream, shard string) prometheus.Gauge {
	k := pair{stream, shard}
	m.mu.RLock()
	g := cache[k]
	m.mu.RUnlock()
	if g != nil {
		return g
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if g = cache[k]; g == nil {
		g = vec.WithLabelValues(labelValue(stream), labelValue(shard))
		cache[k] = g
	}
	return g
}

// Lag sets kinesis_host_shard_lag_seconds of shard to behind: the
// MillisBehindLatest of the shard's last GetRecords page (or EFO event),
// 0 when the reader is at the tip. Call it for every page, empty ones too,
// so that lag falls to 0 once caught up.
func (m *Metrics) Lag(stream, shard string, behind time.Duration) {
	if m == nil {
		return
	}
	m.shardGauge(m.lagS, m.shardLag, stream, shard).Set(behind.Seconds())
}

// IteratorAge sets kinesis_host_shard_iterator_age_seconds of shard to the
// time from arrival (the ApproximateArrivalTimestamp of the last record of
// a batch the handler acknowledged) to now. The gauge keeps that value
// until the next batch: it says how old records were when they were
// handled, not how long ago the last one arrived. A zero arrival is
// ignored; a negative age (clock skew) is exported as 0.
func (m *Metrics) IteratorAge(stream, shard string, arrival time.Time) {
	if m == nil || arrival.IsZero() {
		return
	}
	m.shardGauge(m.ageS, m.iterAge, stream, shard).Set(max(time.Since(arrival).Seconds(), 0))
}

// ShardGone deletes shard's lag and iterator-age series: call it when the
// shard ends (SHARD_END), its lease moves to another host, or its stream
// is removed, after the shard's last Lag and IteratorAge call, so that a
// dashboard does not show a frozen lag for a shard nobody reads here. The
// shard's counters (records, bytes) stay: their totals still add up in
// sums and rates.
func (m *Metrics) ShardGone(stream, shard string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.lagS, pair{stream, shard})
	delete(m.ageS, pair{stream, shard})
	st, sh := labelValue(stream), labelValue(shard)
	m.shardLag.DeleteLabelValues(st, sh)
	m.iterAge.DeleteLabelValues(st, sh)
}

// CheckpointWrite records one write call to checkpoint store checkpoint
// (the checkpoint block's label): result is CheckpointOK,
// CheckpointConflict or CheckpointError, d the call's duration. It updates
// kinesis_host_checkpoint_writes_total and
// kinesis_host_checkpoint_write_duration_seconds. (For the expvar
// "checkpoints" counter, see Checkpointed.)
func (m *Metrics) CheckpointWrite(checkpoint, result string, d time.Duration) {
	if m == nil {
		return
	}
	s := m.checkpointC.get(pair{checkpoint, result}, func() checkpointSeries {
		cp := labelValue(checkpoint)
		return checkpointSeries{
			writes:   m.checkpointWrites.WithLabelValues(cp, labelValue(result)),
			duration: m.checkpointDuration.WithLabelValues(cp),
		}
	})
	s.writes.Inc()
	s.duration.Observe(d.Seconds())
}

// Checkpointed adds n to the expvar "checkpoints" counters of stream: n
// shard positions of the stream were durably written (an ok checkpoint
// write of n of its shards). It has no Prometheus series of its own
// (kinesis_host_checkpoint_writes_total counts write calls per store).
func (m *Metrics) Checkpointed(stream string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.vars.stream(stream).checkpoints.Add(int64(n))
}

// GetRecords counts one GetRecords call of stream by result:
// GetRecordsOK, GetRecordsThrottled, GetRecordsError or
// GetRecordsExpiredIterator (kinesis_host_getrecords_total). A throttled
// call should also be counted with Throttle.
func (m *Metrics) GetRecords(stream, result string) {
	if m == nil {
		return
	}
	m.getRecordsC.get(pair{stream, result}, func() prometheus.Counter {
		return m.getRecords.WithLabelValues(labelValue(stream), labelValue(result))
	}).Inc()
}

// Throttle counts one throttled Kinesis call of stream; api is the
// operation name as AWS spells it ("GetRecords", "ListShards",
// "SubscribeToShard", ...) (kinesis_host_throttles_total).
func (m *Metrics) Throttle(stream, api string) {
	if m == nil {
		return
	}
	m.throttlesC.get(pair{stream, api}, func() prometheus.Counter {
		return m.throttles.WithLabelValues(labelValue(stream), labelValue(api))
	}).Inc()
}

// PluginUp sets kinesis_host_plugin_up of plugin (the handler or
// checkpoint block's label) to 1 when up, else 0: up once its process is
// started and configured, down when it dies, is killed or stopped, or its
// restart budget is spent.
func (m *Metrics) PluginUp(plugin string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.pluginUp.WithLabelValues(labelValue(plugin)).Set(v)
}

// PluginGone deletes plugin's kinesis_host_plugin_up series: call it when
// a reload removes the plugin's block (a plugin that is merely down keeps
// its series at 0). Its restart counters stay.
func (m *Metrics) PluginGone(plugin string) {
	if m == nil {
		return
	}
	m.pluginUp.DeleteLabelValues(labelValue(plugin))
}

// PluginRestart counts one restart of plugin by reason: RestartCrash,
// RestartHang, RestartSwap or RestartReload
// (kinesis_host_plugin_restarts_total).
func (m *Metrics) PluginRestart(plugin, reason string) {
	if m == nil {
		return
	}
	m.restartsC.get(pair{plugin, reason}, func() prometheus.Counter {
		return m.pluginRestarts.WithLabelValues(labelValue(plugin), labelValue(reason))
	}).Inc()
}

// RecordFailed adds n records of stream that handler failed, by what the
// host did with them: ActionRetry, ActionSkip, ActionDeadLetter or
// ActionStop (kinesis_host_records_failed_total).
func (m *Metrics) RecordFailed(stream, handler, action string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.failedC.get(triple{stream, handler, action}, func() prometheus.Counter {
		return m.recordsFailed.WithLabelValues(labelValue(stream), labelValue(handler), labelValue(action))
	}).Add(float64(n))
}

// ShardsOwned sets kinesis_host_shards_owned of stream to n: the shards
// this host reads or will read once their parents finish.
func (m *Metrics) ShardsOwned(stream string, n int) {
	if m == nil {
		return
	}
	m.shardsOwned.WithLabelValues(labelValue(stream)).Set(float64(n))
}

// LeasesHeld sets kinesis_host_leases_held of stream to n.
func (m *Metrics) LeasesHeld(stream string, n int) {
	if m == nil {
		return
	}
	m.leasesHeld.WithLabelValues(labelValue(stream)).Set(float64(n))
}

// LeaseChange counts one lease change of stream on this host by reason:
// LeaseTaken, LeaseExpiredTaken, LeaseHandedOff or LeaseLost
// (kinesis_host_lease_changes_total).
func (m *Metrics) LeaseChange(stream, reason string) {
	if m == nil {
		return
	}
	m.leaseChangeC.get(pair{stream, reason}, func() prometheus.Counter {
		return m.leaseChanges.WithLabelValues(labelValue(stream), labelValue(reason))
	}).Inc()
}

// BufferedBytes sets kinesis_host_buffered_bytes to n: bytes held against
// the memory budget (records fetched and not yet acknowledged, responses
// being read).
func (m *Metrics) BufferedBytes(n int64) {
	if m == nil {
		return
	}
	m.bufferedBytes.Set(float64(n))
}

// BufferBudget sets kinesis_host_buffer_budget_bytes to n, the memory
// budget (max_buffered_bytes).
func (m *Metrics) BufferBudget(n int64) {
	if m == nil {
		return
	}
	m.bufferBudget.Set(float64(n))
}

// BufferWait counts one wait of a shard reader for room in the memory
// budget (kinesis_host_buffer_waits_total).
func (m *Metrics) BufferWait() {
	if m == nil {
		return
	}
	m.bufferWaits.Inc()
}

// StreamGone deletes the per-stream gauges of stream (shards_owned,
// leases_held) and the lag and iterator-age series of all its shards:
// call it when a reload removes the stream. Counters stay.
func (m *Metrics) StreamGone(stream string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cache := range []map[pair]prometheus.Gauge{m.lagS, m.ageS} {
		for k := range cache {
			if k.a == stream {
				delete(cache, k)
			}
		}
	}
	match := prometheus.Labels{"stream": labelValue(stream)}
	m.shardLag.DeletePartialMatch(match)
	m.iterAge.DeletePartialMatch(match)
	m.shardsOwned.DeletePartialMatch(match)
	m.leasesHeld.DeletePartialMatch(match)
}

// labelValue makes s a valid label value: Prometheus requires UTF-8, and
// WithLabelValues panics on anything else.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// labelCache caches one child metric (or a few) per label tuple.
type labelCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// get returns the value cached for k, creating it with mk on the first
// call.
func (c *labelCache[K, V]) get(k K, mk func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	v = mk()
	c.m[k] = v
	return v
}
