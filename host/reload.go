package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// binaryPollInterval is how often plugin binaries are checked for
// replacement (hot swap).
const binaryPollInterval = 2 * time.Second

// conf is the configuration in effect (it changes on Reload).
func (h *Host) conf() *Config { return h.cfgp.Load() }

// streamHandle is one running stream.
type streamHandle struct {
	cfg    *StreamConfig
	cancel context.CancelFunc // ends this stream's fetching
}

type streamExit struct {
	h   *streamHandle
	err error
}

type reloadRequest struct {
	cfg  *Config
	done chan error
}

// startStream starts a runner for s; its exit arrives on h.exits.
func (h *Host) startStream(s *StreamConfig) {
	sf, cancel := context.WithCancel(h.fetch)
	h.mu.Lock()
	handler, cp := h.handlers[s.Handler], h.checkpoints[s.Checkpoint]
	h.mu.Unlock()
	r := &streamRunner{h: h, cfg: s, api: h.api, handler: handler, cp: cp, log: h.log.Named("stream").With("stream", s.Name),
		rewinds: make(chan *rewindOp), stopped: make(chan struct{})}
	sh := &streamHandle{cfg: s, cancel: cancel}
	h.running[s.Name] = sh
	h.runners.Store(s.Name, r)
	go func() {
		err := r.run(sf, h.deliver)
		h.runners.CompareAndDelete(s.Name, r)
		close(r.stopped)
		cancel()
		h.exits <- streamExit{sh, err}
	}()
}

// streamEnded handles a runner's exit.
func (h *Host) streamEnded(ex streamExit) {
	if h.running[ex.h.cfg.Name] == ex.h {
		delete(h.running, ex.h.cfg.Name)
	}
	err := ex.err
	switch {
	case err == nil:
	case continueAfter(err):
		h.log.Error("stream stopped: its plugin exhausted its restart budget; other streams keep running (on_exhausted = \"continue\"); a SIGHUP or a fixed plugin binary starts it again, otherwise the host exits non-zero when it stops",
			"stream", ex.h.cfg.Name, "error", err)
		h.mu.Lock()
		if h.degraded == nil {
			h.degraded = map[string]error{}
		}
		h.degraded[ex.h.cfg.Name] = fmt.Errorf("stream %s stopped: %w", ex.h.cfg.Name, err)
		h.mu.Unlock()
	default:
		h.requestStop(err)
	}
}

// degradedErr joins the errors of the streams stopped under on_exhausted =
// "continue" that were not started again.
func (h *Host) degradedErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.degraded))
	for n := range h.degraded {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs error
	for _, n := range names {
		errs = errors.Join(errs, h.degraded[n])
	}
	return errs
}

// restartDegraded starts again the streams stopped under on_exhausted =
// "continue" whose plugins serve again (a hot swap of a fixed binary
// revived them). It runs in the loop goroutine.
func (h *Host) restartDegraded() {
	streams := map[string]*StreamConfig{}
	for _, s := range h.conf().Streams {
		streams[s.Name] = s
	}
	h.mu.Lock()
	var ready []*StreamConfig
	for name := range h.degraded {
		s := streams[name]
		if s == nil {
			delete(h.degraded, name)
			continue
		}
		hp, cp := h.handlers[s.Handler], h.stores[s.Checkpoint]
		if _, running := h.running[name]; running || hp == nil || cp == nil || hp.exhausted() || cp.exhausted() {
			continue
		}
		delete(h.degraded, name)
		ready = append(ready, s)
	}
	h.mu.Unlock()
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	for _, s := range ready {
		h.log.Info("starting again a stream stopped by a spent restart budget: its plugins serve again", "stream", s.Name)
		h.startStream(s)
	}
}

// waitingForRevival reports whether streams are stopped under on_exhausted
// = "continue": the host stays up for a SIGHUP or a fixed binary.
func (h *Host) waitingForRevival() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.degraded) > 0
}

// notifyRevived tells the loop that a plugin whose budget was spent serves
// again.
func (h *Host) notifyRevived() {
	select {
	case h.revived <- struct{}{}:
	default:
	}
}

// continueAfter reports whether err is a spent restart budget of a plugin
// whose restart { on_exhausted = "continue" }: only its streams stop.
func continueAfter(err error) bool {
	var be *BudgetError
	return errors.As(err, &be) && be.Block.Restart.OnExhausted == OnExhaustedContinue
}

// loop runs until every stream has ended (after Drain, or on their own),
// or, while streams are stopped under on_exhausted = "continue", until
// Drain. It owns h.running and applies reloads and hot swaps.
func (h *Host) loop() {
	tick := time.NewTicker(binaryPollInterval)
	defer tick.Stop()
	drain := h.drainCh
	seen := map[*pluginProc][2]int64{} // last (mtime, size) seen changed, for settling
	waiting := false
	for len(h.running) > 0 || (drain != nil && h.waitingForRevival()) {
		if len(h.running) == 0 && !waiting {
			waiting = true
			h.log.Error("no stream is running: every one was stopped by a spent restart budget (on_exhausted = \"continue\"); waiting for a fixed plugin binary or a SIGHUP")
		}
		h.heartbeat.Beat()
		select {
		case ex := <-h.exits:
			h.streamEnded(ex)
		case req := <-h.reloadCh:
			req.done <- h.applyReload(req.cfg)
		case <-h.revived:
			h.restartDegraded()
		case <-tick.C:
			h.swapChangedBinaries(seen)
		case <-drain:
			drain = nil // fetch is cancelled: every runner is ending
		}
		if len(h.running) > 0 {
			waiting = false
		}
	}
}

// Reload applies a new configuration (SIGHUP) to a running host: streams
// whose settings changed, or that were added or removed, are drained and
// restarted; plugins whose block changed are hot-swapped (in-flight calls
// finish, the old process stops, the new one starts with the new config).
// The app name and the kinesis {} block cannot change without a restart;
// such a config is refused and the running one carries on.
func (h *Host) Reload(ctx context.Context, cfg *Config) error {
	req := reloadRequest{cfg: cfg, done: make(chan error, 1)}
	select {
	case h.reloadCh <- req:
	case <-h.closed:
		return errors.New("reload: the host is not running")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SwapChangedBinaries hot-swaps every plugin whose binary was replaced,
// without waiting for the periodic check (SIGHUP does this; it also tries
// again a binary a swap refused).
func (h *Host) SwapChangedBinaries() {
	for _, p := range h.sortedProcs() {
		if p.binaryChanged(false) {
			h.swapAsync(p, p.block(), "binary replaced")
		}
	}
}

// swapChangedBinaries swaps plugins whose binary changed and has stayed the
// same for one poll (so a binary still being written is not started).
func (h *Host) swapChangedBinaries(seen map[*pluginProc][2]int64) {
	for _, p := range h.sortedProcs() {
		if !p.binaryChanged(true) {
			delete(seen, p)
			continue
		}
		id := binaryID(p.block().Path)
		if prev, ok := seen[p]; ok && prev == id {
			delete(seen, p)
			h.swapAsync(p, p.block(), "binary replaced in plugin_dir")
			continue
		}
		seen[p] = id
	}
}

// swapAsync swaps p in the background, one swap per plugin at a time. A
// binary the swap refuses is not tried again by polling; a swap that
// revives a plugin whose budget was spent starts its streams again.
func (h *Host) swapAsync(p *pluginProc, b *PluginBlock, why string) {
	if _, busy := h.swapping.LoadOrStore(p, struct{}{}); busy {
		return
	}
	id := binaryID(b.Path)
	go func() {
		defer h.swapping.Delete(p)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		revived, err := p.swap(ctx, b, why)
		if errors.Is(err, errSwapDeferred) {
			return // polling tries it again
		}
		if err != nil {
			p.refuse(id)
			return
		}
		if revived {
			h.notifyRevived()
		}
	}()
}

// preparedPlugin is a new or changed plugin block of a reload, started and
// configured before the reload commits.
type preparedPlugin struct {
	name string
	b    *PluginBlock
	p    *pluginProc // the running supervisor, or a new one
	old  bool        // p was running before the reload
	inst *pluginInstance
	im   *binImage
	// inPlace: a checkpoint store that cannot run beside its old process
	// (a file lock) but passed ValidateOnly: swapped in place at commit.
	inPlace bool
}

// ReloadError is a reload that was refused: Diags point at the blocks at
// fault. The running configuration carries on unchanged.
type ReloadError struct {
	Diags hcl.Diagnostics
}

func (e *ReloadError) Error() string {
	var b strings.Builder
	b.WriteString("reload refused; the running configuration carries on:")
	for _, d := range e.Diags {
		b.WriteString("\n  ")
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d: ", d.Subject.Filename, d.Subject.Start.Line)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": " + d.Detail)
		}
	}
	return b.String()
}

// preparePlugins starts and configures every plugin block of next that is
// new, changed, or whose restart budget is spent, beside the running
// plugins. On any failure it stops what it started and returns the
// diagnostics.
func (h *Host) preparePlugins(next *Config, used map[string]bool) ([]preparedPlugin, error) {
	h.mu.Lock()
	handlers, stores := h.handlers, h.stores
	h.mu.Unlock()
	var todo []preparedPlugin
	add := func(prefix string, blocks map[string]*PluginBlock, running map[string]*pluginProc) {
		names := make([]string, 0, len(blocks))
		for n := range blocks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b := blocks[n]
			if !used[prefix+n] {
				continue
			}
			if p, ok := running[n]; ok {
				if samePlugin(p.block(), b) && !p.exhausted() {
					continue
				}
				todo = append(todo, preparedPlugin{name: n, b: b, p: p, old: true})
				continue
			}
			np := newPluginProc(b, next.App, next.Dir, h.log)
			np.metrics = h.metrics
			todo = append(todo, preparedPlugin{name: n, b: b, p: np})
		}
	}
	add("c/", next.Checkpoints, stores)
	add("h/", next.Handlers, handlers)
	var diags hcl.Diagnostics
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range todo {
		t := &todo[i]
		h.log.Info("reload: starting the new plugin beside the running configuration", "plugin", t.b.Kind, "name", t.name)
		im, err := loadVerified(t.b)
		if err != nil {
			diags = append(diags, pluginDiag(t.b, err))
			continue
		}
		inst, err := t.p.startImage(ctx, t.b, im, false)
		if err != nil && t.old && t.b.Kind == KindCheckpoint && !errors.Is(err, sdk.ErrUnavailable) && t.p.validates(ctx, t.b, im) {
			t.im, t.inPlace = im, true
			continue
		}
		if err != nil {
			im.close()
			diags = append(diags, pluginDiag(t.b, err))
			continue
		}
		t.inst, t.im = inst, im
	}
	if len(diags) == 0 {
		return todo, nil
	}
	for _, t := range todo {
		if t.inst != nil {
			stopClient(t.inst, 3*time.Second)
		}
		t.im.close()
		if !t.old {
			t.p.cancel()
		}
	}
	return nil, &ReloadError{Diags: diags}
}

// applyReload runs in the loop goroutine.
func (h *Host) applyReload(next *Config) error {
	cur := h.conf()
	if next.App != cur.App {
		return fmt.Errorf("reload refused: app changed from %q to %q; app is part of every checkpoint key, so changing it needs a restart", cur.App, next.App)
	}
	if !reflect.DeepEqual(stripKinesis(cur.Kinesis), stripKinesis(next.Kinesis)) {
		return errors.New("reload refused: the kinesis {} block changed; restart the host to change how Kinesis is reached")
	}
	used := map[string]bool{}
	for _, s := range next.Streams {
		used["h/"+s.Handler] = true
		used["c/"+s.Checkpoint] = true
	}
	// 0. Start and configure new and changed plugins first: a block that
	// cannot start refuses the whole reload, and nothing changes.
	prepared, err := h.preparePlugins(next, used)
	if err != nil {
		h.log.Error("reload refused: a new or changed plugin did not start; the running configuration carries on", "error", err)
		return err
	}
	if lvl := hclog.LevelFromString(next.LogLevel); lvl != hclog.NoLevel {
		h.log.SetLevel(lvl)
	}

	// 1. Streams to stop: removed, or changed in any way.
	nextStreams := map[string]*StreamConfig{}
	for _, s := range next.Streams {
		nextStreams[s.Name] = s
	}
	var stop []*streamHandle
	for name, sh := range h.running {
		ns, ok := nextStreams[name]
		if !ok || !sameStream(sh.cfg, ns) {
			stop = append(stop, sh)
		}
	}
	for _, sh := range stop {
		h.log.Info("reload: draining stream", "stream", sh.cfg.Name)
		sh.cancel()
	}
	for _, sh := range stop {
		for h.running[sh.cfg.Name] == sh {
			h.streamEnded(<-h.exits)
		}
	}

	// 2. Plugins: install the prepared ones, retire unused ones.
	var errs error
	for _, t := range prepared {
		if t.old {
			if t.b.Kind == KindCheckpoint {
				h.mu.Lock()
				c := h.checkpoints[t.name]
				h.mu.Unlock()
				if c != nil {
					fctx, cancel := context.WithTimeout(h.writers, 30*time.Second)
					if err := c.Flush(fctx); err != nil {
						h.log.Warn("reload: checkpoints not flushed before the swap (they stay pending)", "checkpoint", t.name, "error", err)
					}
					cancel()
				}
			}
			if t.inPlace {
				t.p.swapMu.Lock()
				_, err := t.p.replaceInPlace(context.Background(), t.b, t.im, "config reloaded")
				t.p.swapMu.Unlock()
				if err != nil {
					errs = errors.Join(errs, fmt.Errorf("%s %q: the new block did not start; the previous one serves again: %w", t.b.Kind, t.name, err))
				}
				continue
			}
			t.p.install(context.Background(), t.inst, t.im, t.b, "config reloaded")
			continue
		}
		t.p.install(context.Background(), t.inst, t.im, t.b, "new in the reloaded config")
		h.mu.Lock()
		if t.b.Kind == KindCheckpoint {
			c := newCheckpointer(t.p, h.log.Named("checkpoint."+t.name))
			c.metrics = h.metrics
			h.stores[t.name], h.checkpoints[t.name] = t.p, c
			h.mu.Unlock()
			h.startWriter(c)
		} else {
			h.handlers[t.name] = t.p
			h.mu.Unlock()
		}
	}
	h.retireUnused(used)
	h.cfgp.Store(next)
	h.budget.SetLimit(bufferBudget(next))
	if err := h.openSinks(); err != nil {
		errs = errors.Join(errs, err)
	}

	// 3. Start streams that are new or were stopped (also those a spent
	// restart budget stopped: their plugins were started again above).
	for _, s := range next.Streams {
		if _, ok := h.running[s.Name]; !ok {
			h.mu.Lock()
			delete(h.degraded, s.Name)
			h.mu.Unlock()
			h.log.Info("reload: starting stream", "stream", s.Name)
			h.startStream(s)
		}
	}
	if errs != nil {
		h.log.Error("reload applied with errors", "error", errs)
	} else {
		h.log.Info("reload applied", "streams", len(h.running))
	}
	return errs
}

// retireUnused stops plugins no stream uses any more (flushing checkpoints
// first).
func (h *Host) retireUnused(used map[string]bool) {
	h.mu.Lock()
	var procs []*pluginProc
	var cps []*checkpointer
	for name, p := range h.handlers {
		if !used["h/"+name] {
			procs = append(procs, p)
			delete(h.handlers, name)
		}
	}
	for name, c := range h.checkpoints {
		if !used["c/"+name] {
			cps = append(cps, c)
			delete(h.checkpoints, name)
			delete(h.stores, name)
		}
	}
	h.mu.Unlock()
	for _, c := range cps {
		ctx, cancel := context.WithTimeout(h.writers, h.conf().ShutdownTimeout)
		if err := c.Flush(ctx); err != nil {
			h.log.Error("retired checkpoint store: final flush failed", "error", err)
		}
		cancel()
		h.closeStore(c)
		procs = append(procs, c.proc)
	}
	for _, p := range procs {
		h.log.Info("reload: stopping plugin no stream uses", "plugin", p.String())
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()
		if inst != nil {
			p.shutdownHandler(context.Background(), inst)
		}
		p.stop(3 * time.Second)
	}
}

// sameStream compares two stream blocks, ignoring source positions.
func sameStream(a, b *StreamConfig) bool {
	x, y := *a, *b
	x.DefRange, x.HandlerRange, x.CheckpointRange = hcl.Range{}, hcl.Range{}, hcl.Range{}
	y.DefRange, y.HandlerRange, y.CheckpointRange = hcl.Range{}, hcl.Range{}, hcl.Range{}
	return reflect.DeepEqual(x, y)
}

// samePlugin compares two plugin blocks, ignoring source positions.
func samePlugin(a, b *PluginBlock) bool {
	x, y := *a, *b
	for _, p := range []*PluginBlock{&x, &y} {
		p.DefRange, p.PluginRange, p.ConfigRange, p.ConfigAttrs, p.Lease.Range = hcl.Range{}, hcl.Range{}, hcl.Range{}, nil, hcl.Range{}
		if p.Failure.DeadLetter != nil {
			dl := *p.Failure.DeadLetter
			dl.Range = hcl.Range{}
			p.Failure.DeadLetter = &dl
		}
	}
	return reflect.DeepEqual(x, y)
}

func stripKinesis(k KinesisConfig) KinesisConfig {
	k.Range = hcl.Range{}
	return k
}

// openSinks makes the open dead-letter targets match the handlers: it
// opens the target of every handler whose failure policy needs one, reopens
// it when the target changed (a reload), and closes targets no handler uses
// any more.
func (h *Host) openSinks() error {
	h.sinkMu.Lock()
	defer h.sinkMu.Unlock()
	if h.sinks == nil {
		h.sinks = map[string]deadLetterSink{}
		h.sinkTargets = map[string]DeadLetterConfig{}
	}
	h.mu.Lock()
	handlers := make(map[string]*pluginProc, len(h.handlers))
	for k, v := range h.handlers {
		handlers[k] = v
	}
	h.mu.Unlock()
	var errs error
	for name, sink := range h.sinks {
		p := handlers[name]
		if p == nil || p.block().Failure.OnFailure != OnFailureDeadLetter || !sameTarget(p.block().Failure.DeadLetter, h.sinkTargets[name]) {
			_ = sink.Close()
			delete(h.sinks, name)
			delete(h.sinkTargets, name)
		}
	}
	for name, p := range handlers {
		f := p.block().Failure
		if f.OnFailure != OnFailureDeadLetter || h.sinks[name] != nil {
			continue
		}
		sink, err := openDeadLetterSink(f.DeadLetter, h.api)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("handler %q: %w", name, err))
			continue
		}
		h.sinks[name] = sink
		h.sinkTargets[name] = *f.DeadLetter
	}
	return errs
}

func sameTarget(a *DeadLetterConfig, b DeadLetterConfig) bool {
	return a != nil && a.File == b.File && a.Stream == b.Stream
}

func (h *Host) sink(handler string) deadLetterSink {
	h.sinkMu.Lock()
	defer h.sinkMu.Unlock()
	return h.sinks[handler]
}

func (h *Host) closeSinks() {
	h.sinkMu.Lock()
	defer h.sinkMu.Unlock()
	for _, s := range h.sinks {
		_ = s.Close()
	}
	h.sinks = nil
}
