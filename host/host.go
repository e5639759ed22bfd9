package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/kinesis-host/kinesis-host/host/control"
	"github.com/kinesis-host/kinesis-host/host/membudget"
	"github.com/kinesis-host/kinesis-host/host/telemetry"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// Options are the parts of a Host that are not in config.hcl. The zero
// value is ready to use.
type Options struct {
	// Logger receives the host's log and, under their names, the plugins'.
	// Default: hclog at cfg.LogLevel on stderr.
	Logger hclog.Logger
	// Kinesis is the client the host reads with. Default: NewKinesisClient
	// from the kinesis {} block. Tests pass host/kinesisfake here.
	Kinesis KinesisAPI
	// StatsInterval is how often throughput is logged; default 30s,
	// negative disables.
	StatsInterval time.Duration
}

// Stats are running totals since Run started.
type Stats struct {
	Records          int64 // records acknowledged by handlers
	Batches          int64 // handler calls that returned
	Redeliveries     int64 // batches delivered again after a crash or timeout
	Retries          int64 // Kinesis calls retried
	Skipped          int64 // records skipped by on_failure = "skip"
	DeadLettered     int64 // records written to a dead-letter target
	PluginRestarts   int   // plugin processes restarted
	CheckpointWrites int64 // positions written
	CheckpointRPCs   int64 // Set calls to checkpoint plugins
	// CheckpointWriteFailures counts key writes that failed and are
	// retried (a store outage, or one key the store cannot write).
	CheckpointWriteFailures int64
	// CheckpointConflicts counts writes the store rejected (CodeConflict).
	CheckpointConflicts int64
}

// Host runs the streams of one config.hcl. Create it with New, then Run.
//
// Lifecycle, as in nats.go's ConsumeContext: Drain stops fetching, lets
// every in-flight batch finish (bounded by shutdown_timeout), writes the
// final checkpoints and stops the plugins; Stop does the same without
// waiting for in-flight batches (they are delivered again next time);
// Closed is closed when Run has returned.
type Host struct {
	cfgp atomic.Pointer[Config]
	opts Options
	log  hclog.Logger
	api  KinesisAPI

	handlers    map[string]*pluginProc
	stores      map[string]*pluginProc
	checkpoints map[string]*checkpointer

	// control socket and the state `status` shows (control_wiring.go)
	control    *control.Server
	shardStats sync.Map // [2]string{stream, shard} -> *shardStat
	pauseMu    sync.Mutex
	paused     map[string]map[string]bool // stream -> shard ("" = all) -> paused
	started    time.Time
	workerID   atomic.Pointer[string]

	metrics   *telemetry.Metrics   // never nil
	budget    *membudget.Budget    // max_buffered_bytes, shared by every shard reader
	heartbeat *telemetry.Heartbeat // beaten by the control loop (/livez)
	telemetry *telemetry.Server    // nil without a telemetry {} block

	drainOnce, stopOnce, closeOnce sync.Once
	drainCh, stopCh, closed        chan struct{}

	mu       sync.Mutex
	stopErr  error
	degraded map[string]error // streams stopped under on_exhausted = "continue", by name

	stats struct {
		records, batches, retries, redeliveries, skipped, deadLettered atomic.Int64
	}
	sinkMu      sync.Mutex
	sinks       map[string]deadLetterSink // by handler block
	sinkTargets map[string]DeadLetterConfig

	// Owned by Run's loop goroutine.
	fetch, deliver, writers context.Context
	exits                   chan streamExit
	running                 map[string]*streamHandle
	runners                 sync.Map // stream name → *streamRunner, while it runs (for the control socket)
	reloadCh                chan reloadRequest
	revived                 chan struct{} // a plugin whose budget was spent serves again
	wwg                     sync.WaitGroup
	swapping                sync.Map // *pluginProc -> struct{}: a swap is in progress
	latMu                   sync.Mutex
	lat                     []time.Duration
}

// bufferBudget is cfg's max_buffered_bytes (the default for a Config not
// made by the loader).
func bufferBudget(cfg *Config) int64 {
	if cfg.MaxBufferedBytes <= 0 {
		return cfgDefaults.MaxBufferedBytes
	}
	return cfg.MaxBufferedBytes
}

// New prepares a host; it starts nothing.
func New(cfg *Config, opts Options) (*Host, error) {
	if cfg == nil {
		return nil, errors.New("host.New: nil config")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "kinesis-host", Level: hclog.LevelFromString(cfg.LogLevel)})
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = 30 * time.Second
	}
	h := &Host{
		opts: opts, log: opts.Logger, api: opts.Kinesis, reloadCh: make(chan reloadRequest), revived: make(chan struct{}, 1),
		handlers: map[string]*pluginProc{}, stores: map[string]*pluginProc{}, checkpoints: map[string]*checkpointer{},
		drainCh: make(chan struct{}), stopCh: make(chan struct{}), closed: make(chan struct{}),
	}
	h.cfgp.Store(cfg)
	h.metrics = telemetry.NewMetrics(sdk.Version)
	h.budget = membudget.New(bufferBudget(cfg), membudget.Options{
		OnChange: func(held, limit int64) {
			h.metrics.BufferedBytes(held)
			h.metrics.BufferBudget(limit)
		},
		OnWait: h.metrics.BufferWait,
	})
	h.heartbeat = telemetry.NewHeartbeat(3 * binaryPollInterval)
	for _, s := range cfg.Streams {
		if _, ok := h.handlers[s.Handler]; !ok {
			b := cfg.Handlers[s.Handler]
			if b == nil {
				return nil, fmt.Errorf("stream %q names handler %q, which is not declared", s.Name, s.Handler)
			}
			h.handlers[s.Handler] = newPluginProc(b, cfg.App, cfg.Dir, h.log)
			h.handlers[s.Handler].metrics = h.metrics
		}
		if _, ok := h.stores[s.Checkpoint]; !ok {
			b := cfg.Checkpoints[s.Checkpoint]
			if b == nil {
				return nil, fmt.Errorf("stream %q names checkpoint %q, which is not declared", s.Name, s.Checkpoint)
			}
			p := newPluginProc(b, cfg.App, cfg.Dir, h.log)
			p.metrics = h.metrics
			h.stores[s.Checkpoint] = p
			h.checkpoints[s.Checkpoint] = newCheckpointer(p, h.log.Named("checkpoint."+b.Name))
			h.checkpoints[s.Checkpoint].metrics = h.metrics
		}
	}
	return h, nil
}

// Drain stops fetching and finishes in-flight batches, then Run writes the
// final checkpoints, stops the plugins and returns. Safe to call many
// times and from any goroutine.
func (h *Host) Drain() { h.drainOnce.Do(func() { close(h.drainCh) }) }

// Stop is Drain without waiting for in-flight batches: they are abandoned
// unacknowledged and delivered again on the next run.
func (h *Host) Stop() {
	h.Drain()
	h.stopOnce.Do(func() { close(h.stopCh) })
}

// Closed is closed when Run has returned.
func (h *Host) Closed() <-chan struct{} { return h.closed }

// requestStop ends the scan: cleanly for StopScan (err nil), or with err.
func (h *Host) requestStop(err error) {
	h.mu.Lock()
	if h.stopErr == nil && err != nil {
		h.stopErr = err
	}
	h.mu.Unlock()
	h.Drain()
}

// Stats returns running totals.
func (h *Host) Stats() Stats {
	st := Stats{
		Records: h.stats.records.Load(), Batches: h.stats.batches.Load(),
		Redeliveries: h.stats.redeliveries.Load(), Retries: h.stats.retries.Load(),
		Skipped: h.stats.skipped.Load(), DeadLettered: h.stats.deadLettered.Load(),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.handlers {
		p.mu.Lock()
		st.PluginRestarts += p.restarts
		p.mu.Unlock()
	}
	for _, c := range h.checkpoints {
		w, r := c.stats()
		st.CheckpointWrites += w
		st.CheckpointRPCs += r
		f, x := c.failureStats()
		st.CheckpointWriteFailures += f
		st.CheckpointConflicts += x
		c.proc.mu.Lock()
		st.PluginRestarts += c.proc.restarts
		c.proc.mu.Unlock()
	}
	return st
}

func (h *Host) observeLatency(d time.Duration) {
	h.latMu.Lock()
	if len(h.lat) < 100000 {
		h.lat = append(h.lat, d)
	}
	h.latMu.Unlock()
}

// Run starts the plugins and consumes every stream until Drain, Stop, the
// end of ctx (which drains), a handler's StopScan (returns nil) or a
// failure (returns it: ErrHandlerFailed, ErrRestartBudgetExhausted,
// ErrKinesis, plugin start and config errors). Streams stopped under
// on_exhausted = "continue" do not end Run, but make it return their error
// when it does end, so the exit status shows the degraded run. Run may be
// called once.
func (h *Host) Run(ctx context.Context) (err error) {
	defer h.closeOnce.Do(func() { close(h.closed) })
	defer h.stopPlugins()

	go func() {
		select {
		case <-ctx.Done():
			h.Drain()
		case <-h.closed:
		}
	}()

	if h.api == nil {
		client, err := NewKinesisClient(ctx, h.conf().Kinesis)
		if err != nil {
			return err
		}
		h.api = client
	}
	defer h.closeSinks()
	if err := h.openSinks(); err != nil {
		return err
	}

	// Start every plugin now, so that a bad binary or a bad config fails
	// fast instead of on the first batch. A plugin whose backend is
	// unavailable is waited for (logged; each start is bounded by its
	// timeouts) until it is back or the host is told to stop.
	startCtx, cancelStart := context.WithCancel(context.Background())
	defer cancelStart()
	go func() {
		select {
		case <-h.drainCh:
			cancelStart()
		case <-startCtx.Done():
		}
	}()
	for _, p := range h.sortedProcs() {
		if _, err := p.get(startCtx); err != nil {
			if startCtx.Err() != nil {
				h.log.Info("stopped before every plugin had started; nothing was consumed")
				h.mu.Lock()
				err = h.stopErr
				h.mu.Unlock()
				return err
			}
			return err
		}
	}
	cancelStart()

	// fetch ends at Drain; deliver ends at Stop or shutdown_timeout after
	// Drain; the checkpoint writers live until the final flush.
	fetch, cancelFetch := context.WithCancel(context.Background())
	deliver, cancelDeliver := context.WithCancel(context.Background())
	writers, cancelWriters := context.WithCancel(context.Background())
	defer cancelFetch()
	defer cancelDeliver()
	defer cancelWriters()
	h.fetch, h.deliver, h.writers = fetch, deliver, writers
	go func() {
		select {
		case <-h.drainCh:
		case <-h.closed:
			return
		}
		timeout := h.conf().ShutdownTimeout
		cancelFetch()
		h.log.Info("draining: no more fetching; finishing in-flight batches", "timeout", timeout)
		select {
		case <-h.stopCh:
		case <-time.After(timeout):
			h.log.Warn("shutdown_timeout reached; abandoning in-flight batches (they will be delivered again)")
		case <-h.closed:
		}
		cancelDeliver()
	}()
	for _, c := range h.checkpoints {
		h.startWriter(c)
	}
	h.started = time.Now()
	h.startControl(fetch)
	defer h.stopControl()
	if err := h.startTelemetry(fetch); err != nil {
		h.log.Error("cannot serve telemetry; stopping", "error", err)
		h.requestStop(err)
		h.Drain()
	}
	defer h.stopTelemetry()
	if h.opts.StatsInterval > 0 {
		go h.logStats(fetch)
	}

	h.exits = make(chan streamExit)
	h.running = map[string]*streamHandle{}
	for _, s := range h.conf().Streams {
		h.startStream(s)
	}
	h.log.Info("consuming", "streams", len(h.running), "app", h.conf().App)
	h.loop()

	// Last chance for handlers to flush their own buffers, then the final
	// checkpoints.
	final, cancelFinal := context.WithTimeout(context.Background(), h.conf().ShutdownTimeout)
	defer cancelFinal()
	for name, p := range h.handlers {
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()
		if inst != nil {
			if err := inst.raw.(*shared.HandlerClient).Shutdown(final); err != nil {
				h.log.Warn("handler Shutdown failed", "handler", name, "error", err)
			}
		}
	}
	var flushErr error
	for name, c := range h.checkpoints {
		if err := c.Flush(final); err != nil {
			h.log.Error("final checkpoints not all stored", "checkpoint", name, "error", err)
			flushErr = errors.Join(flushErr, fmt.Errorf("checkpoint %q: final flush: %w", name, err))
		}
	}
	cancelWriters()
	h.wwg.Wait()
	for _, c := range h.checkpoints {
		h.closeStore(c)
	}
	st := h.Stats()
	h.log.Info("stopped", "records", st.Records, "batches", st.Batches, "redeliveries", st.Redeliveries,
		"plugin_restarts", st.PluginRestarts, "checkpoint_writes", st.CheckpointWrites,
		"skipped", st.Skipped, "dead_lettered", st.DeadLettered)
	h.mu.Lock()
	err = h.stopErr
	h.mu.Unlock()
	if err == nil {
		err = h.degradedErr()
	}
	if err == nil {
		err = flushErr
	}
	return err
}

// closeStore asks a checkpoint plugin to release its connections.
func (h *Host) closeStore(c *checkpointer) {
	c.proc.mu.Lock()
	inst := c.proc.cur
	c.proc.mu.Unlock()
	if inst != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := inst.raw.(*shared.CheckpointClient).Close(cctx); err != nil {
			h.log.Warn("checkpoint Close failed", "checkpoint", c.proc.block().Name, "error", err)
		}
		cancel()
	}
}

// startWriter runs a checkpointer's writer goroutine until the final flush.
func (h *Host) startWriter(c *checkpointer) {
	h.wwg.Add(1)
	go func() { defer h.wwg.Done(); c.run(h.writers) }()
}

func (h *Host) sortedProcs() []*pluginProc {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*pluginProc
	for _, p := range h.stores {
		out = append(out, p)
	}
	for _, p := range h.handlers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func (h *Host) stopPlugins() {
	var wg sync.WaitGroup
	for _, p := range h.sortedProcs() {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(3 * time.Second) }()
	}
	wg.Wait()
	plugin.CleanupClients()
}

func (h *Host) logStats(ctx context.Context) {
	t := time.NewTicker(h.opts.StatsInterval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st := h.Stats()
			rate := float64(st.Records-last) / h.opts.StatsInterval.Seconds()
			last = st.Records
			h.log.Info("progress", "records_per_sec", fmt.Sprintf("%.0f", rate), "records", st.Records, "lag", h.lagSummary(),
				"redeliveries", st.Redeliveries, "plugin_restarts", st.PluginRestarts, "retries", st.Retries)
		}
	}
}
