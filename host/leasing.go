package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host/lease"
	"github.com/kinesis-host/kinesis-host/host/telemetry"
	"github.com/kinesis-host/kinesis-host/shared"
)

// streamLeases is the store side of multi-host leases for one stream (the
// decisions are host/lease's): every poll it lists the stream's rows,
// keeps this host's worker row, takes the leases the core plans to take
// and reports the shards to hand off. Held leases are renewed, fenced and
// released by the checkpointer (checkpointer_lease.go), so a shard's
// renewals and checkpoints go through one writer.
type streamLeases struct {
	app, stream string
	cfg         LeaseConfig
	cp          *checkpointer
	calls       storeLeases
	log         hclog.Logger
	metrics     *telemetry.Metrics

	owner    string // worker id "#" incarnation
	workerID string
	core     *lease.Core
	origin   time.Time // the monotonic origin of core's clock

	worker        shared.CheckpointKey // this host's worker row
	workerHeld    bool
	workerCounter int64
	workerWrote   time.Time // when the last successful write of it was sent
	// duplicate check: another incarnation of this worker id seen in the
	// worker row, with the counter and when it was first seen so.
	dupOwner   string
	dupCounter int64
	dupSince   time.Time

	held      map[string]bool
	lastPlan  lease.Plan
	badLogged map[string]time.Time // unreadable rows: last logged
	listErr   time.Time            // last time a failed listing was logged
}

// incarnation is this process's part of every owner token: a restart with
// the same worker_id is a different owner, which fences its predecessor.
var incarnation = randomHex(4)

// defaultWorkerID is the worker id when lease {} names none: the host name
// and a random per-process suffix, unique even for several hosts on one
// machine or containers sharing a host name (where process ids repeat).
var defaultWorkerID = func() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "host"
	}
	name = strings.Map(func(r rune) rune {
		if r == '#' || r < ' ' {
			return '_'
		}
		return r
	}, name)
	return name + "-" + randomHex(3)
}()

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newStreamLeases(app, stream string, cfg LeaseConfig, cp *checkpointer, log hclog.Logger) *streamLeases {
	id := cfg.WorkerID
	if id == "" {
		id = defaultWorkerID
	}
	owner := id + "#" + incarnation
	return &streamLeases{
		app: app, stream: stream, cfg: cfg, cp: cp, calls: cp.calls, log: log,
		owner: owner, workerID: id, origin: time.Now(),
		core:   lease.New(lease.Config{Owner: owner, Duration: cfg.Duration, MaxShards: cfg.MaxShards}),
		worker: shared.CheckpointKey{App: app, Stream: stream, ShardID: shared.WorkerRowPrefix + id},
		held:   map[string]bool{}, badLogged: map[string]time.Time{},
	}
}

func (l *streamLeases) now() time.Duration { return time.Since(l.origin) }

func (l *streamLeases) key(shard string) shared.CheckpointKey {
	return shared.CheckpointKey{App: l.app, Stream: l.stream, ShardID: shard}
}

// roundResult is what one poll decided.
type roundResult struct {
	took    []string        // leases taken: their shards may start
	release []string        // hand these off after their final checkpoint
	ended   map[string]bool // shards with SHARD_END in the store
}

// round is one poll: list, keep the worker row, plan, take. A failed
// listing is logged and skipped (held leases keep being renewed by the
// checkpointer). It returns ErrWorkerIDInUse when another live process
// runs with this host's worker id.
func (l *streamLeases) round(ctx context.Context, shards []ShardInfo, running map[string]bool) (roundResult, error) {
	var res roundResult
	rows, err := l.calls.list(ctx, l.app, l.stream)
	if err != nil {
		if ctx.Err() == nil && time.Since(l.listErr) >= outageRemindEvery/4 {
			l.listErr = time.Now()
			l.log.Warn("listing the stream's leases failed; no lease is taken or handed off until it succeeds (held leases are still renewed)", "error", err)
		}
		return res, nil
	}
	if !l.listErr.IsZero() {
		l.log.Info("listing the stream's leases works again")
		l.listErr = time.Time{}
	}
	now := l.now()
	in := make([]lease.Row, 0, len(rows))
	res.ended = map[string]bool{}
	bad := map[string]bool{}
	for _, r := range rows {
		if r.Err != nil {
			// Never taken (its lease cannot be read); a shard held here
			// stays held and its writes are retried on their own.
			bad[r.ShardID] = true
			if time.Since(l.badLogged[r.ShardID]) >= outageRemindEvery {
				l.badLogged[r.ShardID] = time.Now()
				l.log.Error("a shard's row in the checkpoint store cannot be read; no host can take its lease until it is fixed", "shard", r.ShardID, "error", r.Err.Error())
			}
			continue
		}
		in = append(in, lease.Row{ShardID: r.ShardID, Owner: r.Checkpoint.Owner, Counter: r.Checkpoint.LeaseCounter, ShardEnd: r.Checkpoint.ShardEnd})
		if r.Checkpoint.ShardEnd {
			res.ended[r.ShardID] = true
		}
	}
	l.core.Observe(now, in)
	if err := l.keepWorkerRow(ctx); err != nil || !l.workerHeld {
		return res, err
	}

	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[s.ID] = true
	}
	ls := make([]lease.Shard, 0, len(shards))
	for _, s := range shards {
		if bad[s.ID] {
			continue
		}
		sh := lease.Shard{ID: s.ID}
		for _, p := range []string{s.Parent, s.AdjacentParent} {
			if p != "" && listed[p] {
				sh.Parents = append(sh.Parents, p)
			}
		}
		ls = append(ls, sh)
	}
	// The checkpointer is the truth about what is held (a lease lost at a
	// write is gone even before the stream runner hears of it).
	held := make(map[string]bool, len(l.held)+len(running))
	for id := range l.held {
		if !l.cp.holds(l.key(id)) && !running[id] {
			delete(l.held, id)
		}
	}
	// A shard whose worker is still stopping counts as held: it is not
	// taken again before that worker is gone.
	for id := range l.held {
		held[id] = true
	}
	for id := range running {
		held[id] = true
	}
	plan := l.core.Plan(now, ls, held, shared.WorkerRowPrefix)
	l.metrics.LeasesHeld(l.stream, len(l.held))
	if plan.Held != l.lastPlan.Held || plan.Workers != l.lastPlan.Workers || plan.Eligible != l.lastPlan.Eligible {
		l.log.Info("leases", "held", plan.Held, "target", plan.Target, "workers", plan.Workers, "open_shards", plan.Eligible, "worker_id", l.workerID)
	}
	l.lastPlan = plan
	if len(plan.Take) > 0 {
		res.took = l.take(ctx, plan.Take)
	}
	res.release = plan.Release
	l.sweepWorkerRows(ctx, now)
	return res, nil
}

// take sends the planned takes in one call; the leases won are handed to
// the checkpointer.
func (l *streamLeases) take(ctx context.Context, takes []lease.Take) []string {
	updates := make([]shared.LeaseUpdate, len(takes))
	for i, t := range takes {
		updates[i] = shared.LeaseUpdate{Key: l.key(t.ShardID), ExpectOwner: t.ExpectOwner, ExpectCounter: t.ExpectCounter, Owner: l.owner}
	}
	sent := time.Now()
	results, err := l.calls.update(ctx, updates)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("taking leases failed; retrying at the next poll", "shards", len(takes), "error", err)
		}
		return nil
	}
	var took []string
	for i, t := range takes {
		switch results[i].Code {
		case "":
			l.held[t.ShardID] = true
			l.cp.hold(updates[i].Key, l.owner, t.ExpectCounter+1, sent)
			reason := telemetry.LeaseTaken
			if t.Reason == "expired" {
				reason = telemetry.LeaseExpiredTaken
			}
			l.metrics.LeaseChange(l.stream, reason)
			l.core.Wrote(l.now(), lease.Row{ShardID: t.ShardID, Owner: l.owner, Counter: t.ExpectCounter + 1})
			took = append(took, t.ShardID)
			args := []any{"shard", t.ShardID, "reason", t.Reason, "counter", t.ExpectCounter + 1}
			if t.ExpectOwner != "" {
				args = append(args, "previous_owner", t.ExpectOwner)
			}
			l.log.Info("lease taken", args...)
		case shared.CodeConflict:
			l.log.Debug("lease taken by another host first", "shard", t.ShardID)
		default:
			l.log.Warn("taking a lease failed; retrying at the next poll", "shard", t.ShardID, "error", results[i].Error())
		}
	}
	return took
}

// keepWorkerRow takes or renews this host's worker row. A row of another
// live incarnation of the same worker id (its counter moves while this host
// watches, for up to 2.5 polls) is a second process with this worker_id:
// ErrWorkerIDInUse. A row whose owner stayed still that long belongs to a
// dead predecessor and is taken over, with its leases.
func (l *streamLeases) keepWorkerRow(ctx context.Context) error {
	row := l.core.Row(l.worker.ShardID)
	u := shared.LeaseUpdate{Key: l.worker, ExpectOwner: row.Owner, ExpectCounter: row.Counter, Owner: l.owner}
	if l.workerHeld {
		// Renewed every duration/4 (or renew_interval if shorter), not
		// every poll: the other hosts count a worker live while its row
		// moves at least every duration/2 as they see it, a poll late.
		if time.Since(l.workerWrote) < min(l.cfg.RenewInterval, l.cfg.Duration/4) {
			return nil
		}
		u.ExpectOwner, u.ExpectCounter = l.owner, l.workerCounter
	} else if row.Owner != "" && row.Owner != l.owner {
		if row.Owner != l.dupOwner || row.Counter != l.dupCounter {
			if l.dupOwner == row.Owner && row.Counter != l.dupCounter {
				return l.duplicate(row.Owner)
			}
			l.dupOwner, l.dupCounter, l.dupSince = row.Owner, row.Counter, time.Now()
			l.log.Info("the worker row of this worker_id is held by an earlier process; waiting to see whether it is alive", "owner", row.Owner)
			return nil
		}
		if time.Since(l.dupSince) < l.cfg.PollInterval*5/2 {
			return nil
		}
		l.log.Info("the earlier process with this worker_id is gone; taking over its worker row and leases", "owner", row.Owner)
	}
	sent := time.Now()
	results, err := l.calls.update(ctx, []shared.LeaseUpdate{u})
	if err != nil {
		return nil // the next poll tries again
	}
	switch results[0].Code {
	case "":
		l.workerHeld, l.workerCounter, l.workerWrote = true, u.ExpectCounter+1, sent
		l.core.Wrote(l.now(), lease.Row{ShardID: l.worker.ShardID, Owner: l.owner, Counter: l.workerCounter})
	case shared.CodeConflict:
		// The next listing tells: a write of this host whose answer was
		// lost (the row shows this owner: taken over again), another
		// process with the same worker_id (watched, then refused), or a
		// sweep after this host was frozen longer than the lease (taken
		// again).
		l.workerHeld = false
	}
	return nil
}

func (l *streamLeases) duplicate(owner string) error {
	return fmt.Errorf("%w: stream %s: worker_id %q is held by %s, which keeps renewing it; give each host its own worker_id (or leave worker_id unset for a unique default), or stop the other process",
		ErrWorkerIDInUse, l.stream, l.workerID, owner)
}

// sweepWorkerRows deletes one worker row per poll that has been released,
// or expired for 3 × duration: hosts with default worker ids leave one row
// per process behind otherwise.
func (l *streamLeases) sweepWorkerRows(ctx context.Context, now time.Duration) {
	for _, id := range l.core.StaleRows(now, shared.WorkerRowPrefix, 3*l.cfg.Duration) {
		if id == l.worker.ShardID {
			continue
		}
		r := l.core.Row(id)
		_, _ = l.calls.update(ctx, []shared.LeaseUpdate{{Key: l.key(id), ExpectOwner: r.Owner, ExpectCounter: r.Counter, Delete: true}})
		return
	}
}

// released forgets a lease the checkpointer handed off or lost.
func (l *streamLeases) released(shard string, lost bool) {
	delete(l.held, shard)
	reason := telemetry.LeaseHandedOff
	if lost {
		reason = telemetry.LeaseLost
	}
	l.metrics.LeaseChange(l.stream, reason)
	l.metrics.LeasesHeld(l.stream, len(l.held))
}

// shutdown hands every held lease of the stream off (each with its final
// position in the same write) and deletes the worker row, so other hosts
// take the shards at their next poll instead of waiting for expiry.
func (l *streamLeases) shutdown(ctx context.Context) {
	n := 0
	for _, key := range l.cp.heldKeys(l.stream) {
		if err := l.cp.release(ctx, key); err != nil {
			l.log.Warn("lease not handed off; other hosts take it when it expires", "shard", key.ShardID, "error", err)
			continue
		}
		n++
	}
	if l.workerHeld {
		_, _ = l.calls.update(ctx, []shared.LeaseUpdate{{Key: l.worker, ExpectOwner: l.owner, ExpectCounter: l.workerCounter, Delete: true}})
		l.workerHeld = false
	}
	if n > 0 {
		l.log.Info("leases handed off", "shards", n)
	}
}

// isLeaseLoss reports whether a shard worker's error only means its lease
// went to another host.
func isLeaseLoss(err error) bool { return errors.Is(err, ErrLeaseLost) }
