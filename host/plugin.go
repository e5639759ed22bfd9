package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/kinesis-host/kinesis-host/shared"
)

// pluginInstance is one running plugin process.
type pluginInstance struct {
	client  *plugin.Client
	raw     any // *shared.HandlerClient or *shared.CheckpointClient
	started time.Time
	info    shared.InfoResponse
	// the binary it was started from
	binMod  time.Time
	binSize int64
	sha256  string
}

// pluginProc supervises the processes of one handler or checkpoint block:
// it starts the plugin lazily, notices when it is gone, restarts it with
// exponential backoff and enforces the restart budget. All shards using the
// block share one process; calls are multiplexed over its connection.
type pluginProc struct {
	blk atomic.Pointer[PluginBlock] // swapped by a config reload
	app string
	dir string // working directory of the plugin: the config file's folder
	log hclog.Logger

	startSem chan struct{} // one starter at a time

	// calls holds a read lock around every call on an instance; a hot swap
	// takes the write lock, so it waits for in-flight calls to finish and
	// no call straddles two binaries.
	calls sync.RWMutex

	mu       sync.Mutex
	cur      *pluginInstance
	started  bool // some instance has started: later start failures are retried, not fatal
	fatal    error
	failures int         // consecutive failures since the last healthy call
	crashes  []time.Time // deaths of started instances, for the budget
	restarts int         // total restarts, for logs and metrics
}

func newPluginProc(b *PluginBlock, app, dir string, log hclog.Logger) *pluginProc {
	p := &pluginProc{app: app, dir: dir, log: log.Named(string(b.Kind) + "." + b.Name), startSem: make(chan struct{}, 1)}
	p.blk.Store(b)
	return p
}

// block is the plugin's current configuration block.
func (p *pluginProc) block() *PluginBlock { return p.blk.Load() }

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

// swap replaces the running plugin with a fresh start of block b (the same
// block after its binary changed, or a reloaded one): it waits for every
// in-flight call to finish, stops the old process, and starts the new one.
// If the new one cannot start, the old configuration is started again and
// the error returned; the plugin keeps serving either way.
func (p *pluginProc) swap(ctx context.Context, b *PluginBlock, why string) error {
	p.calls.Lock()
	defer p.calls.Unlock()
	select { // no restart may run beside the swap
	case p.startSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.startSem }()
	p.mu.Lock()
	old := p.cur
	p.cur = nil
	p.mu.Unlock()
	prev := p.block()
	if old != nil {
		p.shutdownHandler(ctx, old)
		stopClient(old.client, 3*time.Second)
	}
	p.blk.Store(b)
	p.log.Info("hot swap: in-flight calls finished, old plugin stopped; starting the new one", "reason", why)
	inst, err := p.start(ctx, false)
	if err != nil {
		p.log.Error("hot swap failed; going back to the previous plugin configuration", "error", err)
		p.blk.Store(prev)
		if inst2, err2 := p.start(ctx, false); err2 == nil {
			p.mu.Lock()
			p.cur = inst2
			p.mu.Unlock()
		}
		return err
	}
	p.mu.Lock()
	p.cur = inst
	p.mu.Unlock()
	p.log.Info("hot swap done", "sha256", inst.sha256)
	return nil
}

// binaryChanged reports whether the file at the block's path differs
// (modification time or size) from the one the running instance was
// started from.
func (p *pluginProc) binaryChanged() bool {
	p.mu.Lock()
	inst := p.cur
	p.mu.Unlock()
	if inst == nil {
		return false
	}
	fi, err := os.Stat(p.block().Path)
	if err != nil {
		return false
	}
	return !fi.ModTime().Equal(inst.binMod) || fi.Size() != inst.binSize
}

func (p *pluginProc) String() string {
	b := p.block()
	return fmt.Sprintf("%s %q (%s)", b.Kind, b.Name, b.Path)
}

// get returns a live instance, starting or restarting the plugin when
// needed. It blocks through restart backoff and returns early when ctx ends.
func (p *pluginProc) get(ctx context.Context) (*pluginInstance, error) {
	for {
		p.mu.Lock()
		inst, fatal := p.cur, p.fatal
		p.mu.Unlock()
		if fatal != nil {
			return nil, fatal
		}
		if inst != nil {
			if !inst.client.Exited() {
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
		p.mu.Lock()
		if p.cur != nil || p.fatal != nil {
			p.mu.Unlock()
			<-p.startSem
			continue
		}
		failures := p.failures
		p.mu.Unlock()
		if failures > 0 {
			d := backoffDelay(p.block().Restart.Backoff, p.block().Restart.MaxBackoff, failures)
			p.log.Info("restarting plugin after backoff", "backoff", d, "consecutive_failures", failures)
			if err := sleepCtx(ctx, d); err != nil {
				<-p.startSem
				return nil, err
			}
		}
		inst, err := p.start(ctx, false)
		p.mu.Lock()
		if err != nil {
			p.failures++
			started := p.started
			exhausted := false
			if started && ctx.Err() == nil {
				// A plugin that cannot come back counts against its budget
				// like one that keeps crashing.
				exhausted = p.countFailureLocked(err)
			}
			p.mu.Unlock()
			<-p.startSem
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !started {
				// The first start failing is a configuration problem: fail fast.
				return nil, err
			}
			if exhausted {
				p.log.Error("plugin restart failed and its restart budget is exhausted; it will NOT be restarted", "error", err)
			} else {
				p.log.Error("plugin restart failed; will retry", "error", err)
			}
			continue
		}
		if p.restarts > 0 || failures > 0 {
			p.log.Info("plugin is back", "restarts", p.restarts)
		}
		p.cur = inst
		p.started = true
		p.mu.Unlock()
		<-p.startSem
		return inst, nil
	}
}

// healthy records that a call on inst succeeded, resetting the backoff.
func (p *pluginProc) healthy(inst *pluginInstance) {
	p.mu.Lock()
	if p.cur == inst {
		p.failures = 0
	}
	p.mu.Unlock()
}

// fail retires inst after a crash, a broken connection or a timeout. Only
// the first report for an instance counts (several shards may notice the
// same crash). The process is killed hard: a hung plugin never answers the
// polite quit request.
func (p *pluginProc) fail(inst *pluginInstance, why error) {
	p.mu.Lock()
	if p.cur != inst || inst == nil {
		p.mu.Unlock()
		return
	}
	p.cur = nil
	p.failures++
	exhausted := p.countFailureLocked(why)
	if !exhausted {
		p.restarts++
	}
	pol := p.block().Restart
	p.mu.Unlock()
	if exhausted {
		p.log.Error("plugin failed and its restart budget is exhausted; it will NOT be restarted", "reason", why.Error(),
			"max_restarts", pol.MaxRestarts, "window", pol.Window)
	} else {
		p.log.Warn("plugin failed; it will be restarted", "reason", why.Error())
	}
	go hardKill(inst.client)
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
	p.mu.Lock()
	inst := p.cur
	p.cur = nil
	if p.fatal == nil {
		p.fatal = errors.New("plugin stopped")
	}
	p.mu.Unlock()
	if inst != nil {
		stopClient(inst.client, d)
	}
}

// stopClient asks the plugin to quit and kills it if it has not within d
// (a frozen plugin never answers go-plugin's polite Kill).
func stopClient(c *plugin.Client, d time.Duration) {
	done := make(chan struct{})
	go func() { c.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		hardKill(c)
	}
}

func hardKill(c *plugin.Client) {
	if rc := c.ReattachConfig(); rc != nil && rc.Pid > 0 {
		_ = syscall.Kill(rc.Pid, syscall.SIGKILL)
	}
	c.Kill()
}

// start launches the plugin binary, checks it and sends it its config.
func (p *pluginProc) start(ctx context.Context, validateOnly bool) (*pluginInstance, error) {
	b := p.block()
	fi, err := os.Stat(b.Path)
	if err := checkBinary(b); err != nil {
		return nil, err
	}
	sum, _ := fileSHA256(b.Path)
	cmd := exec.Command(b.Path)
	cmd.Dir = p.dir
	setParentDeathSignal(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.HostPluginSets(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           p.log,
		Managed:          true,
		StartTimeout:     15 * time.Second,
		SyncStdout:       logWriter{p.log, "stdout"},
		SyncStderr:       logWriter{p.log, "stderr"},
	}
	if b.SHA256 != "" {
		sum, _ := hex.DecodeString(b.SHA256)
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client, err := spawn(cfg)
	var rpcClient plugin.ClientProtocol
	if err == nil {
		rpcClient, err = client.Client()
	}
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%w: %s: %v\nCheck that the file is a kinesis-host plugin built for %s/%s whose main calls sdk.Serve or sdk.ServeCheckpoint, and that it writes nothing to stdout before serving (run it by hand: it should say it is a plugin)",
			ErrPluginStart, p, err, runtime.GOOS, runtime.GOARCH)
	}
	name := shared.HandlerPluginName
	if b.Kind == KindCheckpoint {
		name = shared.CheckpointPluginName
	}
	raw, err := rpcClient.Dispense(name)
	if err != nil {
		client.Kill()
		hint := "rebuild it against this version of the sdk"
		if strings.Contains(err.Error(), "unknown plugin") {
			other := "checkpoint"
			if b.Kind == KindCheckpoint {
				other = "handler"
			}
			hint = fmt.Sprintf("it is probably a %s plugin: a %s binary must call sdk.%s", other, b.Kind,
				map[PluginKind]string{KindHandler: "Serve", KindCheckpoint: "ServeCheckpoint"}[b.Kind])
		}
		return nil, fmt.Errorf("%w: %s is not a %s plugin (%v); %s", ErrPluginStart, p, b.Kind, err, hint)
	}
	inst := &pluginInstance{client: client, raw: raw, started: time.Now(), sha256: sum}
	if fi != nil {
		inst.binMod, inst.binSize = fi.ModTime(), fi.Size()
	}
	cctx, cancel := context.WithTimeout(ctx, b.CallTimeout)
	defer cancel()
	req := shared.ConfigureRequest{App: p.app, Name: b.Name, Config: b.Config, ValidateOnly: validateOnly}
	var cerr error
	switch c := raw.(type) {
	case *shared.HandlerClient:
		inst.info, _ = c.Info(cctx)
		cerr = c.Configure(cctx, req)
	case *shared.CheckpointClient:
		inst.info, _ = c.Info(cctx)
		cerr = c.Configure(cctx, req)
	}
	if cerr != nil {
		hardKill(client)
		return nil, &PluginConfigError{Block: b, Err: cerr}
	}
	return inst, nil
}

// PluginConfigError is a plugin's rejection of its config {} block. Field
// names the attribute at fault when the plugin said which.
type PluginConfigError struct {
	Block *PluginBlock
	Err   error
}

func (e *PluginConfigError) Error() string {
	return fmt.Sprintf("%s %q rejected its config: %v", e.Block.Kind, e.Block.Name, e.Err)
}

// Unwrap returns both ErrPluginConfig and the plugin's own error.
func (e *PluginConfigError) Unwrap() []error { return []error{ErrPluginConfig, e.Err} }

// Field is the config attribute at fault, or "".
func (e *PluginConfigError) Field() string {
	var we *shared.Error
	if errors.As(e.Err, &we) {
		return we.Field
	}
	return ""
}

// checkBinary verifies the plugin file before anything runs it.
func checkBinary(b *PluginBlock) error {
	fi, err := os.Stat(b.Path)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %s does not exist; build it (make build) or fix plugin/path in the %s block (a %s plugin named %q must be at <plugin_dir>/kinesis-%s-%s)",
			ErrPluginNotFound, b.Kind, b.Name, b.Path, b.Kind, b.Kind, b.Plugin, b.Kind, b.Plugin)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s %q: %s is not a regular file", ErrPluginNotExecutable, b.Kind, b.Name, b.Path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s %q: %s is not executable; run: chmod +x %s", ErrPluginNotExecutable, b.Kind, b.Name, b.Path, b.Path)
	}
	if b.SHA256 != "" {
		sum, err := fileSHA256(b.Path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrPluginNotExecutable, b.Path, err)
		}
		if sum != strings.ToLower(b.SHA256) {
			return fmt.Errorf("%w: %s %q: %s\n  expected sha256 %s (config.hcl)\n  actual   sha256 %s\nIf you rebuilt or upgraded the plugin on purpose, update sha256 in the %s block; otherwise do not run this file",
				ErrChecksumMismatch, b.Kind, b.Name, b.Path, strings.ToLower(b.SHA256), sum, b.Kind)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// logWriter sends raw plugin output (anything not written through its
// logger) into the host log under the plugin's name.
type logWriter struct {
	log    hclog.Logger
	stream string
}

func (w logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" {
			w.log.Info(line, "stream", w.stream)
		}
	}
	return len(b), nil
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

// binaryID is (modification time, size) of a file, zero when unreadable.
func binaryID(path string) [2]int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return [2]int64{}
	}
	return [2]int64{fi.ModTime().UnixNano(), fi.Size()}
}
