package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host/telemetry"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// stableAfter is how long a plugin process must have run for its death to
// count as the first failure after a healthy period (no backoff), even if
// it never answered a call.
const stableAfter = time.Minute

// Backoff of Configure retries while a plugin's backend is unavailable.
const (
	outageBackoff    = 200 * time.Millisecond
	outageMaxBackoff = 5 * time.Second
)

// pluginProc supervises the processes of one handler or checkpoint block:
// it starts the plugin, watches the process and restarts it as soon as it
// dies (the first restart after a healthy period at once, later ones with
// exponential backoff), and enforces the restart budget. All shards using
// the block share one process; calls are multiplexed over its connection.
type pluginProc struct {
	blk atomic.Pointer[PluginBlock] // swapped by a config reload
	app string
	dir string // working directory of the plugin: the config file's folder
	log hclog.Logger

	// ctx ends when the plugin is stopped; background restarts use it.
	ctx    context.Context
	cancel context.CancelFunc

	startSem chan struct{} // one starter at a time
	swapMu   sync.Mutex    // one swap (or reload install) at a time

	// calls holds a read lock around every call on an instance; a hot swap
	// takes the write lock, so it waits for in-flight calls to finish and
	// no call straddles two binaries.
	calls sync.RWMutex

	mu       sync.Mutex
	cur      *pluginInstance
	image    *binImage // the verified bytes restarts execute
	gen      int       // bumped when a swap installs an instance
	started  bool      // some instance has started: later start failures are retried, not fatal
	stopped  bool
	fatal    error
	failures int         // consecutive failures since the last healthy call
	retryAt  time.Time   // no start before this (backoff)
	crashes  []time.Time // deaths of started instances, for the budget
	restarts int         // total restarts, for logs and metrics
	refused  [2]int64    // binary identity a hot swap refused (not retried by polling)

	metrics *telemetry.Metrics // nil outside a Host (validate, replay)

	outageSince time.Time // the backend has been unavailable since (zero: it is not)
	outageTries int
	outageErr   error
}

func newPluginProc(b *PluginBlock, app, dir string, log hclog.Logger) *pluginProc {
	p := &pluginProc{app: app, dir: dir, log: log.Named(string(b.Kind) + "." + b.Name), startSem: make(chan struct{}, 1)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.blk.Store(b)
	return p
}

// block is the plugin's current configuration block.
func (p *pluginProc) block() *PluginBlock { return p.blk.Load() }

func (p *pluginProc) String() string {
	b := p.block()
	return fmt.Sprintf("%s %q (%s)", b.Kind, b.Name, b.Path)
}

// acquire returns a live instance for one call and a release func that
// must be called when the call is over. It blocks while a swap is in
// progress.
//
// The read lock is taken only around the call itself, never while a
// restart is being waited for, so a swap waits for in-flight calls (each
// bounded by call_timeout) and never for a plugin that cannot start.
func (p *pluginProc) acquire(ctx context.Context) (*pluginInstance, func(), error) {
	for {
		inst, err := p.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		p.calls.RLock()
		p.mu.Lock()
		current := p.cur == inst
		p.mu.Unlock()
		if current {
			return inst, p.calls.RUnlock, nil
		}
		p.calls.RUnlock() // swapped or failed meanwhile: take the new one
	}
}

// get returns a live instance, starting or restarting the plugin when
// needed. It blocks through restart backoff (and through an outage of the
// plugin's backend) and returns early when ctx ends.
func (p *pluginProc) get(ctx context.Context) (*pluginInstance, error) {
	for {
		p.mu.Lock()
		inst, fatal := p.cur, p.fatal
		p.mu.Unlock()
		if fatal != nil {
			return nil, fatal
		}
		if inst != nil {
			if !inst.gone() {
				return inst, nil
			}
			p.fail(inst, errors.New("process exited"))
			continue
		}
		select {
		case p.startSem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		inst, err := p.startLocked(ctx)
		<-p.startSem
		if inst != nil {
			return inst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// startLocked is one start attempt of get; p.startSem is held. It returns
// (nil, nil) when get should look again.
func (p *pluginProc) startLocked(ctx context.Context) (*pluginInstance, error) {
	p.mu.Lock()
	if p.cur != nil || p.fatal != nil {
		p.mu.Unlock()
		return nil, nil
	}
	wait, failures, started := time.Until(p.retryAt), p.failures, p.started
	b, im, gen := p.block(), p.image, p.gen
	p.mu.Unlock()
	if wait > 0 {
		if failures > 0 && p.outageStart().IsZero() {
			p.log.Info("restarting plugin after backoff", "backoff", wait.Round(time.Millisecond), "consecutive_failures", failures)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
		p.mu.Lock()
		again := p.cur != nil || p.fatal != nil || p.gen != gen
		p.mu.Unlock()
		if again {
			return nil, nil // a swap installed an instance meanwhile
		}
	} else if started {
		p.log.Info("restarting plugin", "consecutive_failures", failures)
	}
	inst, newIm, err := p.launch(ctx, b, im, false)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen || p.cur != nil || p.fatal != nil {
		// A swap installed another instance meanwhile (or the plugin was
		// stopped): this one is not needed.
		if inst != nil {
			go stopClient(inst, 3*time.Second)
			if newIm != im {
				newIm.close()
			}
		}
		return nil, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, sdk.ErrUnavailable) {
			// The backend is down, the plugin is fine: retry with a short
			// backoff, log the outage once, never count it.
			p.outageTries++
			if p.outageSince.IsZero() {
				p.outageSince = time.Now()
				p.log.Warn("backend unavailable: the plugin cannot be configured; retrying with backoff until it is back (not a plugin failure, not counted against the restart budget)",
					"error", err.Error())
			}
			p.outageErr = err
			p.retryAt = time.Now().Add(backoffDelay(outageBackoff, outageMaxBackoff, p.outageTries))
			return nil, nil
		}
		if !started {
			// The first start failing is a configuration problem: fail fast.
			return nil, err
		}
		p.failures++
		exhausted := p.countFailureLocked(err)
		p.retryAt = time.Now().Add(restartDelay(b.Restart, p.failures))
		if exhausted {
			p.log.Error("plugin restart failed and its restart budget is exhausted; it will NOT be restarted", "error", err)
		} else {
			p.log.Error("plugin restart failed; will retry", "error", err)
		}
		return nil, nil
	}
	if !p.outageSince.IsZero() {
		p.log.Info("backend available again: plugin configured", "outage", time.Since(p.outageSince).Round(time.Millisecond), "attempts", p.outageTries)
		p.outageSince, p.outageTries, p.outageErr = time.Time{}, 0, nil
	}
	if p.started {
		p.log.Info("plugin is back", "restarts", p.restarts)
	}
	if newIm != p.image {
		p.image.close()
		p.image = newIm
	}
	p.cur = inst
	p.started = true
	p.metrics.PluginUp(b.Name, true)
	go p.watch(inst)
	return inst, nil
}

// outageStart is when the current backend outage began (zero: none).
func (p *pluginProc) outageStart() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outageSince
}

// watch waits for inst's process to end: a death while it is the current
// instance is a failure, restarted at once (also when no call is waiting).
func (p *pluginProc) watch(inst *pluginInstance) {
	select {
	case <-inst.exited():
	case <-p.ctx.Done():
		return
	}
	p.fail(inst, errors.New("process exited"))
}

// restartSoon starts the plugin again in the background, so that a
// plugin that died while idle is back before the next call needs it.
func (p *pluginProc) restartSoon() {
	if p.ctx.Err() != nil {
		return
	}
	go func() { _, _ = p.get(p.ctx) }()
}

// restartDelay is the wait before a restart after n consecutive failures:
// none for the first (after a healthy period), then backoff doubling from
// the second.
func restartDelay(pol RestartPolicy, n int) time.Duration {
	if n <= 1 {
		return 0
	}
	return backoffDelay(pol.Backoff, pol.MaxBackoff, n-1)
}

// healthy records that a call on inst succeeded, resetting the backoff.
func (p *pluginProc) healthy(inst *pluginInstance) {
	p.mu.Lock()
	if p.cur == inst {
		p.failures = 0
	}
	p.mu.Unlock()
}

// fail retires inst after a crash, a broken connection or a timeout, and
// restarts it at once (or after backoff). Only the first report for an
// instance counts (several shards, and the process watch, may notice the
// same death). The process is killed hard: a hung plugin never answers the
// polite quit request. A backend's "unavailable" answer is not a failure.
func (p *pluginProc) fail(inst *pluginInstance, why error) {
	if errors.Is(why, sdk.ErrUnavailable) {
		return
	}
	p.mu.Lock()
	if p.cur != inst || inst == nil {
		p.mu.Unlock()
		return
	}
	p.cur = nil
	if time.Since(inst.started) >= stableAfter {
		p.failures = 0 // it ran long enough: this is a first failure
	}
	p.failures++
	exhausted := p.countFailureLocked(why)
	if !exhausted {
		p.restarts++
	}
	pol := p.block().Restart
	p.retryAt = time.Now().Add(restartDelay(pol, p.failures))
	p.mu.Unlock()
	p.metrics.PluginUp(p.block().Name, false)
	if !exhausted {
		reason := telemetry.RestartCrash
		if errors.Is(why, context.DeadlineExceeded) {
			reason = telemetry.RestartHang
		}
		p.metrics.PluginRestart(p.block().Name, reason)
	}
	if exhausted {
		p.log.Error("plugin failed and its restart budget is exhausted; it will NOT be restarted", "reason", why.Error(),
			"max_restarts", pol.MaxRestarts, "window", pol.Window)
	} else {
		p.log.Warn("plugin failed; it will be restarted", "reason", why.Error())
	}
	go hardKill(inst)
	if !exhausted {
		p.restartSoon()
	}
}

// shutdownHandler gives a handler plugin that is about to be stopped its
// last chance to flush its own buffers (sdk.ShutdownHandler).
func (p *pluginProc) shutdownHandler(ctx context.Context, inst *pluginInstance) {
	hc, ok := inst.raw.(*shared.HandlerClient)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, p.block().CallTimeout)
	defer cancel()
	if err := hc.Shutdown(cctx); err != nil {
		p.log.Warn("handler Shutdown failed", "error", err)
	}
}

// countFailureLocked records a failure against the restart budget and, when
// the budget is spent, makes the plugin fatal. p.mu must be held.
func (p *pluginProc) countFailureLocked(why error) (exhausted bool) {
	now := time.Now()
	pol := p.block().Restart
	p.crashes = append(p.crashes, now)
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) <= pol.Window {
			kept = append(kept, t)
		}
	}
	p.crashes = kept
	if pol.MaxRestarts < 0 || len(p.crashes) <= pol.MaxRestarts {
		return false
	}
	if p.fatal == nil {
		p.fatal = &BudgetError{Block: p.block(), Msg: fmt.Sprintf("%s: %d failures within %s (max_restarts = %d); last: %v",
			p, len(p.crashes), pol.Window, pol.MaxRestarts, why)}
	}
	return true
}

// exhausted reports whether the plugin's restart budget is spent.
func (p *pluginProc) exhausted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	var be *BudgetError
	return errors.As(p.fatal, &be)
}

// BudgetError is the error of a plugin whose restart budget is spent. It
// matches ErrRestartBudgetExhausted with errors.Is; Block says which
// plugin, whose restart { on_exhausted } applies.
type BudgetError struct {
	Block *PluginBlock
	Msg   string
}

func (e *BudgetError) Error() string { return ErrRestartBudgetExhausted.Error() + ": " + e.Msg }

// Is makes errors.Is(err, ErrRestartBudgetExhausted) true.
func (e *BudgetError) Is(target error) bool { return target == ErrRestartBudgetExhausted }

// stop asks the plugin to exit and kills it if it does not within d.
func (p *pluginProc) stop(d time.Duration) {
	p.cancel()
	p.mu.Lock()
	inst := p.cur
	p.cur = nil
	p.stopped = true
	if p.fatal == nil {
		p.fatal = errors.New("plugin stopped")
	}
	im := p.image
	p.image = nil
	p.mu.Unlock()
	if inst != nil {
		stopClient(inst, d)
	}
	im.close()
}

// swap replaces the running plugin with a fresh start of block b (the same
// block after its binary changed, or a reloaded one). The new process is
// started, verified and configured first, beside the old one; only then
// are in-flight calls drained and the old process stopped. If the new one
// cannot start, the old one keeps serving: nothing is stopped or restarted
// and the restart budget is untouched. A swap that succeeds on a plugin
// whose budget was spent revives it (revived is true).
//
// A checkpoint store may hold a resource only one process can have (the
// file store's lock): when its new process cannot be configured beside the
// old one but passes a ValidateOnly check, it is swapped in place (see
// replaceInPlace).
func (p *pluginProc) swap(ctx context.Context, b *PluginBlock, why string) (revived bool, err error) {
	p.swapMu.Lock()
	defer p.swapMu.Unlock()
	p.log.Info("hot swap: starting the new plugin beside the running one", "reason", why)
	im, err := loadVerified(b)
	if err != nil {
		p.log.Error("hot swap refused: the new binary did not pass its checks; the running plugin keeps serving", "reason", why, "error", err)
		return false, err
	}
	inst, err := p.startImage(ctx, b, im, false)
	if err != nil && errors.Is(err, sdk.ErrUnavailable) {
		// The backend is down, not the binary: the old process keeps
		// serving (it recovers with the backend) and the swap is tried
		// again later (ErrSwapDeferred: the binary is not refused).
		im.close()
		p.log.Warn("hot swap deferred: the new plugin cannot reach its backend; the running one keeps serving", "reason", why, "error", err)
		return false, fmt.Errorf("%w: %v", errSwapDeferred, err)
	}
	if err != nil && b.Kind == KindCheckpoint && p.validates(ctx, b, im) {
		return p.replaceInPlace(ctx, b, im, why)
	}
	if err != nil {
		im.close()
		p.log.Error("hot swap refused: the new plugin did not start; the running one keeps serving", "reason", why, "error", err)
		return false, err
	}
	return p.installLocked(ctx, inst, im, b, why, false), nil
}

// validates reports whether image im of block b starts and accepts its
// config with ValidateOnly (nothing opened, nothing kept).
func (p *pluginProc) validates(ctx context.Context, b *PluginBlock, im *binImage) bool {
	inst, err := p.startImage(ctx, b, im, true)
	if err != nil {
		return false
	}
	stopClient(inst, 3*time.Second)
	return true
}

// replaceInPlace swaps a plugin whose new process cannot run beside the old
// one: in-flight calls are drained, the old process stopped, the new one
// started; if it fails, the old bytes and block are started again (not a
// failure: the budget is untouched) and the error returned. p.swapMu must
// be held.
func (p *pluginProc) replaceInPlace(ctx context.Context, b *PluginBlock, im *binImage, why string) (revived bool, err error) {
	p.log.Info("hot swap: the new plugin cannot run beside the old one; swapping in place", "reason", why)
	p.calls.Lock()
	// No restart of the old block may run while it is replaced: a get()
	// that found no current instance would start it again and race the new
	// process for the resource they cannot share.
	select {
	case p.startSem <- struct{}{}:
	case <-ctx.Done():
		p.calls.Unlock()
		im.close()
		return false, ctx.Err()
	}
	p.mu.Lock()
	old, oldIm, oldB := p.cur, p.image, p.block()
	p.cur = nil
	p.gen++
	p.mu.Unlock()
	if old != nil {
		stopClient(old, 3*time.Second)
	}
	inst, err := p.startImage(ctx, b, im, false)
	if err == nil {
		revived := p.installLocked(ctx, inst, im, b, why, true)
		<-p.startSem
		return revived, nil
	}
	im.close()
	p.log.Error("hot swap failed; starting the previous plugin again", "reason", why, "error", err)
	if oldIm != nil {
		if back, err2 := p.startImage(ctx, oldB, oldIm, false); err2 == nil {
			p.mu.Lock()
			if !p.stopped && p.cur == nil {
				p.cur = back
				p.gen++
				go p.watch(back)
				back = nil
			}
			p.mu.Unlock()
			if back != nil {
				stopClient(back, 3*time.Second)
			}
		}
	}
	<-p.startSem
	p.calls.Unlock()
	p.restartSoon() // if going back failed, the usual restart path takes over
	return false, err
}

// errSwapDeferred: a hot swap did not happen because the new plugin could
// not reach its backend; the binary is not refused and is tried again.
var errSwapDeferred = errors.New("hot swap deferred until the backend is reachable")

// install makes a prepared instance (started and configured from block b
// and image im) the current one; see swap.
func (p *pluginProc) install(ctx context.Context, inst *pluginInstance, im *binImage, b *PluginBlock, why string) (revived bool) {
	p.swapMu.Lock()
	defer p.swapMu.Unlock()
	return p.installLocked(ctx, inst, im, b, why, false)
}

// installLocked is install with p.swapMu held (and p.calls write-locked
// when callsHeld).
func (p *pluginProc) installLocked(ctx context.Context, inst *pluginInstance, im *binImage, b *PluginBlock, why string, callsHeld bool) (revived bool) {
	if !callsHeld {
		p.calls.Lock() // waits for in-flight calls on the old instance
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.calls.Unlock()
		stopClient(inst, 3*time.Second)
		im.close()
		return false
	}
	old, oldIm := p.cur, p.image
	var be *BudgetError
	revived = errors.As(p.fatal, &be)
	p.cur, p.image, p.fatal = inst, im, nil
	p.blk.Store(b)
	p.gen++
	p.started = true
	p.failures, p.crashes, p.retryAt, p.refused = 0, nil, time.Time{}, [2]int64{}
	p.outageSince, p.outageTries, p.outageErr = time.Time{}, 0, nil
	p.mu.Unlock()
	p.calls.Unlock()
	p.metrics.PluginUp(b.Name, true)
	reason := telemetry.RestartSwap
	if strings.Contains(why, "reload") {
		reason = telemetry.RestartReload
	}
	p.metrics.PluginRestart(b.Name, reason)
	go p.watch(inst)
	if old != nil {
		p.shutdownHandler(ctx, old)
		stopClient(old, 3*time.Second)
	}
	if oldIm != im {
		oldIm.close()
	}
	if revived {
		p.log.Info("hot swap done: the plugin whose restart budget was spent is serving again", "reason", why, "sha256", inst.sha256)
	} else {
		p.log.Info("hot swap done: in-flight calls finished, old plugin stopped", "reason", why, "sha256", inst.sha256)
	}
	return revived
}

// binaryChanged reports whether the file at the block's path differs
// (modification time or size) from the one the plugin's image was read
// from. With polling set, a binary a swap already refused does not count.
func (p *pluginProc) binaryChanged(polling bool) bool {
	p.mu.Lock()
	im, refused, stopped := p.image, p.refused, p.stopped
	p.mu.Unlock()
	if im == nil || stopped {
		return false
	}
	id := binaryID(p.block().Path)
	if id == ([2]int64{}) || id == im.id {
		return false
	}
	return !polling || id != refused
}

// refuse remembers that the binary at id failed a hot swap, so polling
// does not try it again and again (a SIGHUP does).
func (p *pluginProc) refuse(id [2]int64) {
	p.mu.Lock()
	p.refused = id
	p.mu.Unlock()
}

// backoffDelay is base·2^(n−1), capped, with ±20 % jitter.
func backoffDelay(base, max time.Duration, n int) time.Duration {
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if max < base {
		max = base
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return jitter(d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
