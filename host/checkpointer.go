package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host/telemetry"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// checkpointer owns the writes to one checkpoint plugin. Shard workers hand
// it positions with Set, which never blocks; a single writer goroutine
// coalesces them per shard (the latest position wins) and writes every
// due shard in one RPC. A position is never dropped and never moves
// backwards: regressions are discarded here, and the store's conditional
// write guards against other writers.
//
// Failures are handled at two levels. When the whole store is unavailable
// (the RPC fails, or every write in it answers CodeUnavailable) the writer
// backs off (capped at 4 s, so writes resume within 5 s of recovery) and
// logs the outage once when it starts and once when it ends. When only some keys fail (a corrupt item, a Redis key
// of the wrong type) those keys back off on their own while every other
// key keeps being written. A write the store rejects with CodeConflict
// (another owner holds the shard's lease) is never counted as written:
// Flush and SetSync report it as ErrCheckpointConflict.
type checkpointer struct {
	proc  *pluginProc // nil in unit tests
	calls storeCalls
	log   hclog.Logger
	// backoff is the retry policy (checkpointBackoff; tests shorten it).
	backoff func(attempt int) time.Duration

	mu    sync.Mutex
	cond  *sync.Cond
	keys  map[shared.CheckpointKey]*keyState
	seq   uint64 // bumps on every accepted Set
	fatal error
	kick  chan struct{}

	// store-wide outage
	outageSince time.Time // zero when the store answers
	outageTries int
	outageUntil time.Time // no RPC before this
	outageErr   error
	outageLog   time.Time // last outage log line

	metrics *telemetry.Metrics // nil in unit tests

	// lease mode (checkpointer_lease.go)
	leased                  bool
	renewEvery, fenceWithin time.Duration

	// counters
	writes, rpcs, failedWrites, conflicts, leasesLost int64
}

// keyState is one shard's checkpoint as the writer sees it.
type keyState struct {
	latest    shared.Checkpoint // highest position handed in (valid if has)
	has       bool
	seq       uint64 // version of latest
	stored    uint64 // highest version known stored
	conflict  uint64 // highest version the store rejected with CodeConflict
	rejectErr string

	// per-key failures (the store answered, but not for this key)
	failures  int
	failSince time.Time
	retryAt   time.Time
	lastErr   error
	lastLog   time.Time

	lease *leaseState // lease mode: the shard's lease while this host holds it

	// rewind is the version of an operator's rewind (0: none pending):
	// every write of a version at or past it goes as a rewind write (exact
	// position, may go backwards) until one is stored.
	rewind uint64
}

func (k *keyState) pending() bool { return k.seq > k.stored && k.seq > k.conflict }

// outageRemindEvery spaces the "still failing" log lines of a long outage
// or a key that keeps failing.
const outageRemindEvery = time.Minute

func newCheckpointer(proc *pluginProc, log hclog.Logger) *checkpointer {
	c := newCheckpointerWith(procCalls{proc}, log)
	c.proc = proc
	return c
}

func newCheckpointerWith(calls storeCalls, log hclog.Logger) *checkpointer {
	c := &checkpointer{
		calls: calls, log: log, backoff: checkpointBackoff,
		keys: map[shared.CheckpointKey]*keyState{},
		kick: make(chan struct{}, 1),
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// storeCalls is how the checkpointer reaches its store: the plugin process
// (procCalls), or a fake in tests.
type storeCalls interface {
	get(ctx context.Context, keys []shared.CheckpointKey) ([]shared.CheckpointGetResult, error)
	set(ctx context.Context, updates []shared.CheckpointUpdate) ([]shared.Error, error)
	storeLeases
}

// procCalls calls the checkpoint plugin, each call bounded by call_timeout.
// A plugin that is gone or overstays is failed (killed and restarted); a
// store that answers, even "unavailable", is healthy.
type procCalls struct{ p *pluginProc }

func (pc procCalls) call(ctx context.Context, fn func(context.Context, *shared.CheckpointClient) error) error {
	inst, release, err := pc.p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, pc.p.block().CallTimeout)
	defer cancel()
	if err := fn(cctx, inst.raw.(*shared.CheckpointClient)); err != nil {
		if errors.Is(err, shared.ErrPluginGone) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			pc.p.fail(inst, err)
		}
		return err
	}
	pc.p.healthy(inst)
	return nil
}

func (pc procCalls) get(ctx context.Context, keys []shared.CheckpointKey) (res []shared.CheckpointGetResult, err error) {
	err = pc.call(ctx, func(ctx context.Context, cl *shared.CheckpointClient) error {
		res, err = cl.Get(ctx, keys)
		return err
	})
	return res, err
}

func (pc procCalls) set(ctx context.Context, updates []shared.CheckpointUpdate) (res []shared.Error, err error) {
	err = pc.call(ctx, func(ctx context.Context, cl *shared.CheckpointClient) error {
		res, err = cl.Set(ctx, updates)
		return err
	})
	return res, err
}

// Get reads a shard's checkpoint. A failed read is retried with backoff
// until it succeeds or ctx ends: a shard never starts on a failed read,
// because "no checkpoint" would mean starting from LATEST (loss) or the
// trim horizon (mass replay).
func (c *checkpointer) Get(ctx context.Context, key shared.CheckpointKey) (shared.Checkpoint, bool, error) {
	res, err := c.read(ctx, []shared.CheckpointKey{key}, nil)
	if err != nil {
		return shared.Checkpoint{}, false, err
	}
	cp, found := res[0].Checkpoint, res[0].Found
	c.mu.Lock()
	if k := c.keys[key]; k != nil && k.has && (!found || sdk.ComparePosition(k.latest, cp) > 0) {
		cp, found = k.latest, true
	}
	c.mu.Unlock()
	return cp, found, nil
}

// read reads keys in one call, retrying with backoff until every key was
// read or ctx ends. When some keys fail, enough (if not nil) may accept the
// partial answer (the failed keys' results carry their Err). The failure is
// logged when it starts, about once a minute while it lasts, and when the
// read succeeds again.
func (c *checkpointer) read(ctx context.Context, keys []shared.CheckpointKey, enough func([]shared.CheckpointGetResult) bool) ([]shared.CheckpointGetResult, error) {
	what := []any{"stream", keys[0].Stream, "shard", keys[0].ShardID}
	if len(keys) > 1 {
		what = []any{"stream", keys[0].Stream, "shards", len(keys)}
	}
	var since, lastLog time.Time
	for attempt := 1; ; attempt++ {
		res, err := c.readOnce(ctx, keys)
		if err == nil || (res != nil && enough != nil && enough(res)) {
			if !since.IsZero() {
				c.log.Info("checkpoint read succeeded again", append(what, "attempts", attempt, "failing_for", time.Since(since).Round(time.Millisecond))...)
			}
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A rejected config is final; a Configure that failed only because
		// the backend is unreachable (CodeUnavailable) is retried.
		if errors.Is(err, ErrRestartBudgetExhausted) || (errors.Is(err, ErrPluginConfig) && !errors.Is(err, sdk.ErrUnavailable)) {
			return nil, err
		}
		d := c.backoff(attempt)
		if since.IsZero() || time.Since(lastLog) >= outageRemindEvery {
			if since.IsZero() {
				since = time.Now()
			}
			lastLog = time.Now()
			c.log.Warn("checkpoint read failed; the shard waits and retries with backoff (it never starts on a failed read)",
				append(what, "attempt", attempt, "failing_for", time.Since(since).Round(time.Millisecond), "error", err)...)
		}
		if err := sleepCtx(ctx, d); err != nil {
			return nil, err
		}
	}
}

// anyFound reports whether any of keys has a checkpoint (stored, or handed
// in and not yet written), in one Get RPC. A key that fails to read does
// not matter once another is found; otherwise the read is retried with
// backoff until ctx ends, never taken for "none".
func (c *checkpointer) anyFound(ctx context.Context, keys []shared.CheckpointKey) (bool, error) {
	c.mu.Lock()
	for _, key := range keys {
		if k := c.keys[key]; k != nil && k.has {
			c.mu.Unlock()
			return true, nil
		}
	}
	c.mu.Unlock()
	found := func(res []shared.CheckpointGetResult) bool {
		for _, r := range res {
			if r.Found && r.Err == nil {
				return true
			}
		}
		return false
	}
	res, err := c.read(ctx, keys, found)
	if err != nil {
		return false, err
	}
	return found(res), nil
}

func (c *checkpointer) readOnce(ctx context.Context, keys []shared.CheckpointKey) ([]shared.CheckpointGetResult, error) {
	res, err := c.calls.get(ctx, keys)
	if err != nil {
		return nil, err
	}
	if len(res) != len(keys) {
		return nil, fmt.Errorf("checkpoint store answered %d results for %d keys", len(res), len(keys))
	}
	for _, r := range res {
		if r.Err != nil {
			return res, shared.FromWire(r.Err) // res for read's enough
		}
	}
	return res, nil
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
	c.refuseUnheldLocked(c.setLocked(key, cp))
	c.mu.Unlock()
	c.wake()
}

// wake tells the writer goroutine there is work (never blocks).
func (c *checkpointer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// keyLocked returns key's state, created on first use.
func (c *checkpointer) keyLocked(key shared.CheckpointKey) *keyState {
	k := c.keys[key]
	if k == nil {
		k = &keyState{}
		c.keys[key] = k
	}
	return k
}

// setLocked accepts cp unless it is not past the latest position; it
// returns the key's state.
func (c *checkpointer) setLocked(key shared.CheckpointKey, cp shared.Checkpoint) *keyState {
	k := c.keyLocked(key)
	if k.has && sdk.ComparePosition(k.latest, cp) >= 0 {
		return k
	}
	if cp.ShardEnd && cp.SequenceNumber == "" && k.has {
		// SHARD_END coalesced over a position not yet written carries
		// it, so the seed layout's sequence_number is the shard's last
		// record, not an older one.
		cp.SequenceNumber, cp.SubSequenceNumber = k.latest.SequenceNumber, k.latest.SubSequenceNumber
	}
	c.seq++
	k.latest, k.has, k.seq = cp, true, c.seq
	return k
}

// Flush waits until every position handed in before the call is stored
// (in lease mode: of the shards whose lease this host still holds).
// A position the store rejected with CodeConflict is not stored: Flush
// returns ErrCheckpointConflict naming the shards. When ctx ends first, the
// error names the shards still waiting and why.
func (c *checkpointer) Flush(ctx context.Context) error {
	c.mu.Lock()
	targets := map[shared.CheckpointKey]uint64{}
	for key, k := range c.keys {
		if c.leased && (k.lease == nil || k.lease.done != nil) {
			continue // handed off or lost (reported then): another host goes on from the stored position
		}
		if k.seq > k.stored {
			targets[key] = k.seq
		}
	}
	c.mu.Unlock()
	return c.wait(ctx, targets)
}

// SetSync stores cp and waits until it is stored (only this key: a shard's
// SHARD_END never waits on another shard's failing key). A rejected write
// (CodeConflict) returns ErrCheckpointConflict.
func (c *checkpointer) SetSync(ctx context.Context, key shared.CheckpointKey, cp shared.Checkpoint) error {
	c.mu.Lock()
	k := c.setLocked(key, cp)
	c.refuseUnheldLocked(k)
	target := k.seq
	c.mu.Unlock()
	c.wake()
	return c.wait(ctx, map[shared.CheckpointKey]uint64{key: target})
}

// rewind stores cp as key's position even when it is behind the stored one
// (kinesis-host rewind -apply) and waits until it is stored: one rewind
// write (CheckpointUpdate.Rewind, or in lease mode a fenced
// LeaseUpdate.Rewind on the lease this host holds). The shard's worker must
// be stopped first: positions handed in later move forward from cp again.
func (c *checkpointer) rewind(ctx context.Context, key shared.CheckpointKey, cp shared.Checkpoint) error {
	c.mu.Lock()
	k := c.keyLocked(key)
	c.seq++
	k.latest, k.has, k.seq, k.rewind = cp, true, c.seq, c.seq
	k.conflict, k.rejectErr = 0, ""
	c.refuseUnheldLocked(k)
	target := k.seq
	c.mu.Unlock()
	c.wake()
	return c.wait(ctx, map[shared.CheckpointKey]uint64{key: target})
}

// wakeOnDone wakes the checkpointer's waiters when ctx ends, so a
// cond.Wait loop sees ctx.Err(); call the returned func when done waiting.
func (c *checkpointer) wakeOnDone(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
}

// wait blocks until every key's version in targets is stored, one is
// rejected, the writer dies or ctx ends.
func (c *checkpointer) wait(ctx context.Context, targets map[shared.CheckpointKey]uint64) error {
	defer c.wakeOnDone(ctx)()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		var waiting, rejected []string
		for key, v := range targets {
			k := c.keys[key]
			switch {
			case k.stored >= v:
			case k.conflict >= v:
				rejected = append(rejected, fmt.Sprintf("%s/%s (%s)", key.Stream, key.ShardID, k.rejectErr))
			default:
				w := key.Stream + "/" + key.ShardID
				if k.lastErr != nil {
					w += fmt.Sprintf(" (failing for %s: %v)", time.Since(k.failSince).Round(time.Second), k.lastErr)
				}
				waiting = append(waiting, w)
			}
		}
		sort.Strings(rejected)
		sort.Strings(waiting)
		// A rejection is reported only once every other target is stored
		// (or cannot be): a conflict on one shard must never cut short the
		// wait for the others (the final flush would drop them).
		var conflict error
		if len(rejected) > 0 {
			conflict = fmt.Errorf("%w: shard(s) %s: the position was not stored", ErrCheckpointConflict, strings.Join(rejected, ", "))
		}
		switch {
		case len(waiting) == 0:
			return conflict
		case c.fatal != nil:
			return errors.Join(c.fatal, conflict)
		case ctx.Err() != nil:
			msg := fmt.Sprintf("%d checkpoint(s) not yet stored: %s", len(waiting), strings.Join(waiting, ", "))
			if c.outageErr != nil {
				msg += fmt.Sprintf("; store unavailable for %s: %v", time.Since(c.outageSince).Round(time.Second), c.outageErr)
			}
			return errors.Join(fmt.Errorf("%s: %w", msg, ctx.Err()), conflict)
		}
		c.cond.Wait()
	}
}

// run is the writer loop; it returns when ctx ends or the plugin's restart
// budget is spent. Call Flush before cancelling ctx to store everything.
func (c *checkpointer) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if c.leaseMode() {
			verifyNow, verifyAt := c.needVerify(time.Now())
			if verifyNow {
				c.verifyLeases(ctx)
				continue
			}
			updates, versions, next := c.dueLeases(time.Now())
			if !verifyAt.IsZero() && (next.IsZero() || verifyAt.Before(next)) {
				next = verifyAt
			}
			if len(updates) > 0 {
				sent := time.Now()
				results, err := c.calls.update(ctx, updates)
				if ctx.Err() != nil {
					return
				}
				if c.budgetSpent(err) {
					return
				}
				c.recordLeases(updates, versions, sent, results, err)
				c.observe(len(updates), func(i int) (string, bool) { return updates[i].Key.Stream, updates[i].Checkpoint != nil }, results, err, time.Since(sent))
				continue
			}
			if !c.waitWork(ctx, timer, next) {
				return
			}
			continue
		}
		updates, versions, next := c.due(time.Now())
		if len(updates) == 0 {
			if !c.waitWork(ctx, timer, next) {
				return
			}
			continue
		}
		sent := time.Now()
		results, err := c.calls.set(ctx, updates)
		if ctx.Err() != nil {
			return
		}
		if c.budgetSpent(err) {
			return
		}
		c.record(updates, versions, results, err)
		c.observe(len(updates), func(i int) (string, bool) { return updates[i].Key.Stream, true }, results, err, time.Since(sent))
	}
}

// observe counts one write RPC of n writes in the metrics; of(i) names
// write i's stream and whether it carried a position (a renewal does not
// count in the seed's per-stream "checkpoints").
func (c *checkpointer) observe(n int, of func(i int) (string, bool), results []shared.Error, rpcErr error, d time.Duration) {
	if c.metrics == nil {
		return
	}
	// One observation per write call (its worst result), as the metric
	// is documented; the seed's per-stream counter counts positions.
	result := telemetry.CheckpointOK
	for i := 0; i < n; i++ {
		switch {
		case rpcErr != nil || i >= len(results) || results[i].Code != "" && results[i].Code != shared.CodeConflict:
			result = telemetry.CheckpointError
		case results[i].Code == shared.CodeConflict:
			if result == telemetry.CheckpointOK {
				result = telemetry.CheckpointConflict
			}
		default:
			if stream, pos := of(i); pos {
				c.metrics.Checkpointed(stream, 1)
			}
		}
	}
	c.metrics.CheckpointWrite(c.proc.block().Name, result, d)
}

// budgetSpent records a spent restart budget as the writer's fatal error.
func (c *checkpointer) budgetSpent(err error) bool {
	if !errors.Is(err, ErrRestartBudgetExhausted) {
		return false
	}
	c.mu.Lock()
	c.fatal = err
	c.cond.Broadcast()
	c.mu.Unlock()
	return true
}

// waitWork waits for a Set (kick), the next due time or ctx; false when ctx
// ended.
func (c *checkpointer) waitWork(ctx context.Context, timer *time.Timer, next time.Time) bool {
	if !next.IsZero() {
		timer.Reset(max(time.Until(next), time.Millisecond))
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.kick:
	case <-timer.C:
	}
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	return true
}

// due returns the writes to send now (every pending key not backing off,
// in one batch) and, when there are none, when the next one is due (zero:
// wait for a Set).
func (c *checkpointer) due(now time.Time) ([]shared.CheckpointUpdate, []uint64, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if now.Before(c.outageUntil) {
		for _, k := range c.keys {
			if k.pending() {
				later(c.outageUntil)
				break
			}
		}
		return nil, nil, next
	}
	var updates []shared.CheckpointUpdate
	var versions []uint64
	for key, k := range c.keys {
		if !k.pending() {
			continue
		}
		if now.Before(k.retryAt) {
			later(k.retryAt)
			continue
		}
		updates = append(updates, shared.CheckpointUpdate{Key: key, Checkpoint: k.latest, Rewind: k.rewind != 0 && k.seq >= k.rewind})
		versions = append(versions, k.seq)
	}
	return updates, versions, next
}

// record applies the outcome of one Set RPC.
func (c *checkpointer) record(updates []shared.CheckpointUpdate, versions []uint64, results []shared.Error, rpcErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.cond.Broadcast()
	now := time.Now()
	if c.outage(len(updates), results, rpcErr, now) {
		return
	}
	for i, u := range updates {
		k, r := c.keys[u.Key], results[i]
		switch r.Code {
		case "":
			c.writes++
			if versions[i] > k.stored {
				k.stored = versions[i]
			}
			if k.rewind != 0 && k.stored >= k.rewind {
				k.rewind = 0
			}
			c.keyRecovered(u.Key, k, now)
		case shared.CodeConflict:
			c.conflicts++
			if versions[i] > k.conflict {
				k.conflict = versions[i]
			}
			k.rejectErr = r.Error()
			k.failures, k.failSince, k.retryAt, k.lastErr = 0, time.Time{}, time.Time{}, nil
			if k.seq == versions[i] {
				k.has = false // not stored: Get asks the store again
			}
			c.log.Error("checkpoint write rejected (conflict): another owner holds the shard's lease; the position was NOT stored",
				"stream", u.Key.Stream, "shard", u.Key.ShardID, "sequence", u.Checkpoint.SequenceNumber,
				"shard_end", u.Checkpoint.ShardEnd, "error", r.Error())
		default:
			c.keyFailed(u.Key, k, r, now)
		}
	}
}

// outage handles a write RPC that failed as a whole (or whose every write
// answered "unavailable"): the store-wide backoff and its log lines. It
// returns false when the store answered, after ending an outage in
// progress.
func (c *checkpointer) outage(n int, results []shared.Error, rpcErr error, now time.Time) bool {
	if rpcErr == nil {
		c.rpcs++
	}
	allUnavailable := rpcErr == nil && len(results) > 0
	for _, r := range results {
		if r.Code != shared.CodeUnavailable {
			allUnavailable = false
			break
		}
	}
	if rpcErr != nil || allUnavailable {
		err := rpcErr
		if err == nil {
			e := results[0]
			err = &e
		}
		c.outageTries++
		c.outageUntil = now.Add(c.backoff(c.outageTries))
		c.outageErr = err
		c.failedWrites += int64(n)
		if c.outageSince.IsZero() {
			c.outageSince, c.outageLog = now, now
			c.log.Warn("checkpoint store unavailable; checkpoint write failed; retrying with backoff (at most 4s apart) until it answers; positions are kept, never dropped",
				"pending", n, "error", err)
		} else if now.Sub(c.outageLog) >= outageRemindEvery {
			c.outageLog = now
			c.log.Warn("checkpoint store still unavailable; retrying", "unavailable_for", now.Sub(c.outageSince).Round(time.Second),
				"attempts", c.outageTries, "pending", n, "error", err)
		}
		return true
	}
	if !c.outageSince.IsZero() {
		c.log.Info("checkpoint store available again; writes resumed", "outage", now.Sub(c.outageSince).Round(time.Millisecond),
			"attempts", c.outageTries)
	}
	c.outageSince, c.outageTries, c.outageUntil, c.outageErr = time.Time{}, 0, time.Time{}, nil
	return false
}

// keyRecovered clears a key's failure state after a successful write.
func (c *checkpointer) keyRecovered(key shared.CheckpointKey, k *keyState, now time.Time) {
	if k.failures > 0 {
		c.log.Info("checkpoint write succeeded again", "stream", key.Stream, "shard", key.ShardID,
			"attempts", k.failures+1, "failing_for", now.Sub(k.failSince).Round(time.Millisecond))
	}
	k.failures, k.failSince, k.retryAt, k.lastErr = 0, time.Time{}, time.Time{}, nil
}

// keyFailed backs one key off after the store failed its write (the store
// answered, but not for this key).
func (c *checkpointer) keyFailed(key shared.CheckpointKey, k *keyState, r shared.Error, now time.Time) {
	c.failedWrites++
	e := r
	k.failures++
	k.lastErr = &e
	k.retryAt = now.Add(c.backoff(k.failures))
	if k.failures == 1 {
		k.failSince, k.lastLog = now, now
		c.log.Warn("checkpoint write failed for this shard; it is retried on its own with backoff while the other shards' checkpoints keep being written",
			"stream", key.Stream, "shard", key.ShardID, "code", string(r.Code), "error", r.Error())
	} else if now.Sub(k.lastLog) >= outageRemindEvery {
		k.lastLog = now
		c.log.Warn("checkpoint write still failing for this shard", "stream", key.Stream, "shard", key.ShardID,
			"attempts", k.failures, "failing_for", now.Sub(k.failSince).Round(time.Second), "code", string(r.Code), "error", r.Error())
	}
}

// stats returns (positions written, RPCs made).
func (c *checkpointer) stats() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.rpcs
}

// failureStats returns (failed key writes, which are retried; writes
// rejected with CodeConflict).
func (c *checkpointer) failureStats() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failedWrites, c.conflicts
}

// checkpointBackoff is the retry policy for checkpoint reads and writes:
// 200 ms doubling to 4 s, with jitter (never past 4 s), so a backend that
// comes back is written to again within 5 s (the wait plus one write).
func checkpointBackoff(attempt int) time.Duration {
	return min(backoffDelay(200*time.Millisecond, 4*time.Second, attempt), 4*time.Second)
}

// peek returns the latest position handed in for key (stored or pending),
// without a store call.
func (c *checkpointer) peek(key shared.CheckpointKey) (shared.Checkpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.keys[key]; k != nil && k.has {
		return k.latest, true
	}
	return shared.Checkpoint{}, false
}
