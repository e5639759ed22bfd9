package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// checkpointer owns the writes to one checkpoint plugin. Shard workers hand
// it positions with Set, which never blocks; a single writer goroutine
// coalesces them per shard (the latest position wins) and writes every
// pending shard in one RPC, retrying with backoff until it succeeds. A
// position is never dropped and never moves backwards: regressions are
// discarded here, and the store's conditional write guards against other
// writers.
type checkpointer struct {
	proc *pluginProc
	log  hclog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	latest  map[shared.CheckpointKey]shared.Checkpoint // highest position handed in
	pending map[shared.CheckpointKey]shared.Checkpoint // not yet written
	seq     uint64                                     // bumps on every accepted Set
	written uint64                                     // seq covered by completed writes
	fatal   error
	kick    chan struct{}

	// counters
	writes, rpcs int64
}

func newCheckpointer(proc *pluginProc, log hclog.Logger) *checkpointer {
	c := &checkpointer{
		proc: proc, log: log,
		latest:  map[shared.CheckpointKey]shared.Checkpoint{},
		pending: map[shared.CheckpointKey]shared.Checkpoint{},
		kick:    make(chan struct{}, 1),
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// client returns a live instance for one call; release must be called
// after the call.
func (c *checkpointer) client(ctx context.Context) (*pluginInstance, *shared.CheckpointClient, func(), error) {
	inst, release, err := c.proc.acquire(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return inst, inst.raw.(*shared.CheckpointClient), release, nil
}

// Get reads a shard's checkpoint. A failed read is retried with backoff
// until it succeeds or ctx ends: a shard never starts on a failed read,
// because "no checkpoint" would mean starting from LATEST (loss) or the
// trim horizon (mass replay).
func (c *checkpointer) Get(ctx context.Context, key shared.CheckpointKey) (shared.Checkpoint, bool, error) {
	for attempt := 1; ; attempt++ {
		cp, found, err := c.getOnce(ctx, key)
		if err == nil {
			c.mu.Lock()
			if l, ok := c.latest[key]; ok && (!found || sdk.ComparePosition(l, cp) > 0) {
				cp, found = l, true
			}
			c.mu.Unlock()
			return cp, found, nil
		}
		if ctx.Err() != nil {
			return cp, false, ctx.Err()
		}
		if errors.Is(err, ErrRestartBudgetExhausted) || errors.Is(err, ErrPluginConfig) {
			return cp, false, err
		}
		d := checkpointBackoff(attempt)
		c.log.Warn("checkpoint read failed; the shard waits and retries (it never starts on a failed read)",
			"stream", key.Stream, "shard", key.ShardID, "attempt", attempt, "retry_in", d, "error", err)
		if err := sleepCtx(ctx, d); err != nil {
			return cp, false, err
		}
	}
}

func (c *checkpointer) getOnce(ctx context.Context, key shared.CheckpointKey) (shared.Checkpoint, bool, error) {
	inst, cl, release, err := c.client(ctx)
	if err != nil {
		return shared.Checkpoint{}, false, err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, c.proc.block().CallTimeout)
	defer cancel()
	res, err := cl.Get(cctx, []shared.CheckpointKey{key})
	if err != nil {
		if errors.Is(err, shared.ErrPluginGone) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			c.proc.fail(inst, err)
		}
		return shared.Checkpoint{}, false, err
	}
	c.proc.healthy(inst)
	return res[0].Checkpoint, res[0].Found, shared.FromWire(res[0].Err)
}

// Err is the writer's fatal error (the checkpoint plugin's restart budget
// is spent): positions handed in are no longer stored, so the streams
// using this store must stop instead of consuming without checkpoints.
func (c *checkpointer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}

// Set hands in a new position for key. It never blocks.
func (c *checkpointer) Set(key shared.CheckpointKey, cp shared.Checkpoint) {
	c.mu.Lock()
	if l, ok := c.latest[key]; ok && sdk.ComparePosition(l, cp) >= 0 {
		c.mu.Unlock()
		return
	}
	c.latest[key] = cp
	c.pending[key] = cp
	c.seq++
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Flush waits until every position handed in before the call is stored.
func (c *checkpointer) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.seq
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.written < target {
		if c.fatal != nil {
			return c.fatal
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d checkpoint(s) not yet stored: %w", len(c.pending), ctx.Err())
		}
		c.cond.Wait()
	}
	return nil
}

// SetSync stores cp and waits until it is stored.
func (c *checkpointer) SetSync(ctx context.Context, key shared.CheckpointKey, cp shared.Checkpoint) error {
	c.Set(key, cp)
	return c.Flush(ctx)
}

// run is the writer loop; it returns when ctx ends. Call Flush before
// cancelling ctx to store everything.
func (c *checkpointer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		for {
			c.mu.Lock()
			if len(c.pending) == 0 {
				c.mu.Unlock()
				break
			}
			batch := c.pending
			target := c.seq
			c.pending = map[shared.CheckpointKey]shared.Checkpoint{}
			c.mu.Unlock()
			if err := c.write(ctx, batch); err != nil {
				// Put back what is still the latest, so nothing is lost.
				c.mu.Lock()
				for k, v := range batch {
					if _, newer := c.pending[k]; !newer {
						c.pending[k] = v
					}
				}
				if errors.Is(err, ErrRestartBudgetExhausted) {
					c.fatal = err
				}
				c.cond.Broadcast()
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			if target > c.written {
				c.written = target
			}
			if len(c.pending) == 0 {
				c.written = c.seq
			}
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	}
}

// write stores batch, retrying failed entries with backoff until all are
// stored or ctx ends.
func (c *checkpointer) write(ctx context.Context, batch map[shared.CheckpointKey]shared.Checkpoint) error {
	updates := make([]shared.CheckpointUpdate, 0, len(batch))
	for k, v := range batch {
		updates = append(updates, shared.CheckpointUpdate{Key: k, Checkpoint: v})
	}
	for attempt := 1; len(updates) > 0; attempt++ {
		failed, err := c.writeOnce(ctx, updates)
		if err != nil && (ctx.Err() != nil || errors.Is(err, ErrRestartBudgetExhausted)) {
			return err
		}
		if err == nil && len(failed) == 0 {
			return nil
		}
		if err == nil {
			updates = failed
			err = fmt.Errorf("%d of the writes failed", len(failed))
		}
		d := checkpointBackoff(attempt)
		c.log.Warn("checkpoint write failed; retrying (positions are kept, never dropped)",
			"attempt", attempt, "retry_in", d, "pending", len(updates), "error", err)
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *checkpointer) writeOnce(ctx context.Context, updates []shared.CheckpointUpdate) ([]shared.CheckpointUpdate, error) {
	inst, cl, release, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, c.proc.block().CallTimeout)
	defer cancel()
	results, err := cl.Set(cctx, updates)
	if err != nil {
		if errors.Is(err, shared.ErrPluginGone) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			c.proc.fail(inst, err)
		}
		return nil, err
	}
	c.proc.healthy(inst)
	c.mu.Lock()
	c.rpcs++
	c.writes += int64(len(updates))
	c.mu.Unlock()
	var failed []shared.CheckpointUpdate
	var first error
	for i, r := range results {
		if r.Code == "" {
			continue
		}
		if r.Code == shared.CodeConflict {
			c.log.Error("checkpoint write rejected: another owner holds the shard's lease",
				"stream", updates[i].Key.Stream, "shard", updates[i].Key.ShardID, "error", r.Message)
			continue
		}
		failed = append(failed, updates[i])
		if first == nil {
			e := r
			first = &e
		}
	}
	if first != nil {
		c.log.Debug("some checkpoint writes failed", "error", first)
	}
	return failed, nil
}

// stats returns (positions written, RPCs made).
func (c *checkpointer) stats() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.rpcs
}

// checkpointBackoff is the retry policy for checkpoint reads and writes:
// 200 ms doubling to 5 s, with jitter, so a backend that comes back is
// used again within a few seconds.
func checkpointBackoff(attempt int) time.Duration {
	return backoffDelay(200*time.Millisecond, 5*time.Second, attempt)
}
