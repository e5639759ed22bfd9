package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/shared"
)

// streamRunner consumes one stream: it lists shards, starts a worker per
// shard once the shard's parents are done (Lineage), finds new shards by
// periodic listing and by the ChildShards a closed shard reports, and
// stops every worker when the host drains or a worker fails.
type streamRunner struct {
	h       *Host
	cfg     *StreamConfig
	api     KinesisAPI
	handler *pluginProc
	cp      *checkpointer
	log     hclog.Logger

	// Set by the first successful listing of this run (see planStart);
	// initial is nil until then.
	initial  map[string]bool // shards in that listing
	consumed bool            // some shard of it had a checkpoint of this app

	// leases is set when the checkpoint store is shared by several hosts
	// (it implements the lease calls): only shards whose lease this host
	// holds run here.
	leases *streamLeases

	// rewinds takes an operator's rewind (rewind.go); stopped is closed
	// when run returns.
	rewinds chan *rewindOp
	stopped chan struct{}
}

// setupLeases turns leases on when the stream's checkpoint store has them.
func (s *streamRunner) setupLeases(ctx context.Context) error {
	if s.cp.proc == nil {
		return nil
	}
	inst, err := s.cp.proc.get(ctx)
	if err != nil {
		return err
	}
	if !inst.info.Leases {
		return nil
	}
	b := s.cp.proc.block()
	lc := b.Lease
	s.cp.enableLeases(lc.RenewInterval, lc.Duration/2)
	s.leases = newStreamLeases(s.h.conf().App, s.cfg.Name, lc, s.cp, s.log.Named("lease"))
	s.leases.metrics = s.h.metrics
	s.h.workerID.Store(&s.leases.workerID)
	s.log.Info("checkpoint store is shared: this host takes shard leases", "checkpoint", b.Name,
		"worker_id", s.leases.workerID, "lease_duration", lc.Duration, "max_shards", lc.MaxShards)
	return nil
}

// handoffTimeout bounds handing a lease off (its final checkpoint write).
func (s *streamRunner) handoffTimeout() time.Duration {
	if s.cp.proc != nil {
		return 2 * s.cp.proc.block().CallTimeout
	}
	return 10 * time.Second
}

// releaseLease hands a shard's lease off with its final position.
func (s *streamRunner) releaseLease(id, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.handoffTimeout())
	defer cancel()
	key := s.leases.key(id)
	if err := s.cp.release(ctx, key); err != nil {
		s.log.Warn("lease not handed off; other hosts take the shard when it expires", "shard", id, "why", why, "error", err)
	} else {
		s.log.Info("lease handed off", "shard", id, "why", why)
	}
	s.leases.released(id, false)
}

func (s *streamRunner) initialPosition() iteratorPosition {
	switch s.cfg.StartPosition {
	case "TRIM_HORIZON":
		return iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon}
	case "AT_TIMESTAMP":
		return iteratorPosition{typ: types.ShardIteratorTypeAtTimestamp, ts: s.cfg.StartTimestamp}
	}
	return iteratorPosition{typ: types.ShardIteratorTypeLatest}
}

// run returns when fetch ends (after every worker returned) or a worker
// fails. stopScan is called when a handler asked to stop the whole scan.
func (s *streamRunner) run(fetch, deliver context.Context) error {
	if err := s.setupLeases(fetch); err != nil {
		if fetch.Err() != nil {
			return nil
		}
		return fmt.Errorf("stream %s: checkpoint store: %w", s.cfg.Name, err)
	}
	lz := s.leases
	lin := NewLineage()
	workers := map[string]context.CancelFunc{} // per shard: stops it (hand-off)
	handoff := map[string]bool{}               // shards being handed off (their worker was stopped)
	lost := map[string]bool{}                  // shards whose lease was lost (their worker was stopped)
	var lastShards []ShardInfo
	// An operator's rewind (rewind.go): its shards' workers are stopped,
	// and none of them starts again until it is written.
	var rewind *rewindOp
	rewinding := map[string]bool{} // its shards whose worker is stopping
	results := make(chan shardResult)
	var wg sync.WaitGroup
	var firstErr error

	// A failure or StopScan in one shard ends this stream's other shards
	// too (they finish their in-flight batch and checkpoint it).
	fetch, cancel := context.WithCancel(fetch)
	defer cancel()

	launch := func() {
		for _, id := range lin.Ready() {
			if lz != nil && !lz.held[id] {
				continue
			}
			if rewind != nil && rewind.has(id) {
				continue
			}
			lin.Started(id)
			wctx, wcancel := context.WithCancel(fetch)
			workers[id] = wcancel
			s.h.metrics.ShardsOwned(s.cfg.Name, len(workers))
			w := &shardWorker{s: s, id: id, log: s.log.With("shard", id),
				key:     shared.CheckpointKey{App: s.h.conf().App, Stream: s.cfg.Name, ShardID: id},
				initial: s.initial[id], closed: lin.shards[id].Closed}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- w.run(wctx, deliver)
			}()
		}
	}
	var list func()
	leaseRound := func() {
		if lz == nil || fetch.Err() != nil || s.initial == nil {
			return
		}
		// A shard whose lease was lost at a write stops now, not at its
		// next batch (there may be none for a while): it must be gone
		// before this host could take the shard again.
		busy := make(map[string]bool, len(workers))
		for id, stop := range workers {
			busy[id] = true
			if !handoff[id] && !lost[id] && !s.cp.holds(lz.key(id)) {
				lost[id] = true
				stop()
			}
		}
		rr, err := lz.round(fetch, lastShards, busy)
		s.setOwners(lz, lastShards)
		if err != nil {
			if firstErr == nil {
				firstErr = err
				s.log.Error("stopping the stream", "error", err)
			}
			cancel()
			return
		}
		relist := false
		for id := range rr.ended {
			if !lin.IsStarted(id) && !lin.IsFinished(id) {
				lin.Finished(id)
				_, known := lin.shards[id]
				relist = relist || known
			}
		}
		if relist {
			// Another host finished a shard: list now to learn its
			// children instead of waiting for shard_sync_interval.
			list()
		}
		for _, id := range rr.release {
			if stop := workers[id]; stop != nil {
				handoff[id] = true
				stop()
			} else {
				s.releaseLease(id, "balancing")
			}
		}
		launch()
	}
	list = func() {
		shards, err := s.listShards(fetch)
		if err != nil {
			return
		}
		if s.initial == nil {
			// Nothing starts before it is known whether this app has
			// consumed the stream before: that decides whether
			// start_position applies (planStart). A read that cannot
			// succeed (the store's budget is spent, its config rejected)
			// stops the stream, like a shard's failed checkpoint read.
			if s.consumed, err = s.anyCheckpoint(fetch, shards); err != nil {
				if fetch.Err() == nil && firstErr == nil {
					firstErr = fmt.Errorf("stream %s: read checkpoints: %w", s.cfg.Name, err)
					s.log.Error("checkpoint read failed; stopping the stream", "error", err)
					cancel()
				}
				return
			}
			s.initial = make(map[string]bool, len(shards))
			for _, sh := range shards {
				s.initial[sh.ID] = true
			}
		}
		lastShards = shards
		for _, sh := range shards {
			s.h.stat(s.cfg.Name, sh.ID)
		}
		lin.Observe(shards)
		launch()
	}
	// applyPending writes the pending rewind once none of its workers
	// runs, and lets its shards start again.
	applyPending := func() {
		if rewind == nil || len(rewinding) > 0 {
			return
		}
		op := rewind
		op.done <- s.applyRewind(fetch, op)
		rewind = nil
		launch()
	}
	defer func() {
		if rewind != nil {
			rewind.done <- errors.New("the stream stopped before the rewind was written; nothing was changed")
		}
	}()
	list()
	leaseRound()
	tick := time.NewTicker(s.cfg.ShardSyncInterval)
	defer tick.Stop()
	var poll <-chan time.Time
	if lz != nil {
		t := time.NewTicker(lz.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
		// After every worker returned (the return paths below wait for
		// them): hand every lease off with its final position.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.handoffTimeout())
			defer cancel()
			lz.shutdown(ctx)
		}()
	}
	for {
		select {
		case op := <-s.rewinds:
			if rewind != nil {
				op.done <- errors.New("another rewind of this stream is being applied; try again")
				continue
			}
			rewind = op
			for _, rs := range op.shards {
				if stop := workers[rs.id]; stop != nil && rs.moves {
					rewinding[rs.id] = true
					stop()
				}
			}
			applyPending()
		case r := <-results:
			workers[r.id]() // releases the worker's context
			delete(workers, r.id)
			s.h.metrics.ShardGone(s.cfg.Name, r.id)
			s.h.metrics.ShardsOwned(s.cfg.Name, len(workers))
			if rewinding[r.id] && fetch.Err() == nil {
				delete(rewinding, r.id)
				delete(handoff, r.id)
				delete(lost, r.id)
				switch {
				case r.ended:
					lin.Finished(r.id)
					rewind.drop(r.id, "the shard reached its end while stopping: left as it is")
				case r.err == nil || errors.Is(r.err, context.Canceled):
					lin.Stopped(r.id)
				default:
					// It failed as it stopped: the stream stops, as for
					// any failed shard; the rewind is not written.
					rewind.drop(r.id, "")
					lin.Stopped(r.id)
					if firstErr == nil {
						firstErr = r.err
						s.log.Error("shard failed; stopping the stream", "shard", r.id, "error", r.err)
					}
					cancel()
				}
				applyPending()
				continue
			}
			if lz != nil {
				wasHandoff, wasLost := handoff[r.id], lost[r.id]
				delete(handoff, r.id)
				delete(lost, r.id)
				switch {
				case (r.err != nil && isLeaseLoss(r.err)) || (wasLost && !r.ended):
					s.log.Warn("shard stopped: its lease went to another host", "shard", r.id, "error", r.err)
					lin.Stopped(r.id)
					lz.released(r.id, true)
					continue
				case r.ended || r.gone:
					s.releaseLease(r.id, "shard finished")
				case wasHandoff && r.err == nil && !r.stop:
					lin.Stopped(r.id)
					s.releaseLease(r.id, "balancing")
					launch()
					continue
				}
			}
			switch {
			case r.err != nil:
				if firstErr == nil {
					firstErr = r.err
					s.log.Error("shard failed; stopping the stream", "shard", r.id, "error", r.err)
				}
				cancel()
			case r.ended:
				lin.Finished(r.id)
				var kids []ShardInfo
				for _, c := range r.children {
					ki := ShardInfo{ID: aws.ToString(c.ShardId)}
					if len(c.ParentShards) > 0 {
						ki.Parent = c.ParentShards[0]
					}
					if len(c.ParentShards) > 1 {
						ki.AdjacentParent = c.ParentShards[1]
					}
					kids = append(kids, ki)
				}
				if lz != nil {
					// The core may take the children at once (other hosts
					// learn of them at their next listing).
					for _, k := range kids {
						if _, known := lin.shards[k.ID]; !known {
							lastShards = append(lastShards, k)
						}
					}
				}
				if lin.ObserveChildren(kids) && fetch.Err() == nil {
					// A child names a parent never listed: list now to
					// tell a fresh parent (wait for it) from a trimmed one.
					list()
				}
				if fetch.Err() == nil {
					launch()
					leaseRound() // children may be taken now
				}
			case r.stop:
				if fetch.Err() == nil {
					s.h.requestStop(nil)
				}
			case r.gone:
				lin.Forget(r.id)
				if fetch.Err() == nil {
					launch()
				}
			}
			if len(workers) == 0 && fetch.Err() != nil {
				wg.Wait()
				return firstErr
			}
		case <-tick.C:
			list()
		case <-poll:
			leaseRound()
		case <-fetch.Done():
			if len(workers) == 0 {
				wg.Wait()
				return firstErr
			}
			// keep collecting results until every worker has returned
			for len(workers) > 0 {
				r := <-results
				workers[r.id]()
				delete(workers, r.id)
				if r.err != nil && firstErr == nil && !errors.Is(r.err, context.Canceled) && !isLeaseLoss(r.err) {
					firstErr = r.err
				}
			}
			wg.Wait()
			return firstErr
		}
	}
}

// listShards pages through the stream's shards, retrying transient
// failures (including a stream that does not exist yet) until fetch ends.
func (s *streamRunner) listShards(ctx context.Context) ([]ShardInfo, error) {
	for attempt := 1; ; attempt++ {
		shards, err := listAllShards(ctx, s.api, s.cfg.Name, nil)
		if err == nil {
			out := make([]ShardInfo, len(shards))
			for i, sh := range shards {
				out[i] = ShardInfo{ID: aws.ToString(sh.ShardId), Parent: aws.ToString(sh.ParentShardId), AdjacentParent: aws.ToString(sh.AdjacentParentShardId),
					Closed: sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil}
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var nf *types.ResourceNotFoundException
		d := retryBackoff(attempt)
		if errors.As(err, &nf) {
			s.log.Warn("stream not found; waiting for it to be created", "retry_in", d)
		} else if classify(err) == errFatal {
			s.log.Error("ListShards failed; retrying", "retry_in", d, "error", err)
		} else {
			s.log.Warn("ListShards failed; retrying", "retry_in", d, "error", err)
		}
		if sleepCtx(ctx, d) != nil {
			return nil, ctx.Err()
		}
	}
}

// anyCheckpoint reports whether any of shards has a checkpoint of this app:
// whether the app has consumed the stream before. Reads are batched (one
// RPC per 100 keys) and stop at the first checkpoint found; a failed read
// is retried until ctx ends, never taken for "no checkpoint" (that would
// apply start_position to a stream already consumed: LATEST would skip
// the children of a reshard).
func (s *streamRunner) anyCheckpoint(ctx context.Context, shards []ShardInfo) (bool, error) {
	keys := make([]shared.CheckpointKey, len(shards))
	for i, sh := range shards {
		keys[i] = shared.CheckpointKey{App: s.h.conf().App, Stream: s.cfg.Name, ShardID: sh.ID}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		found, err := s.cp.anyFound(ctx, keys[:n])
		if err != nil {
			return false, err
		}
		if found {
			s.log.Info("stream has checkpoints of this app: shards without one start at TRIM_HORIZON, start_position does not apply")
			return true, nil
		}
		keys = keys[n:]
	}
	s.log.Info("stream never consumed by this app: start_position applies to its current shards", "start_position", s.cfg.StartPosition)
	return false, nil
}
