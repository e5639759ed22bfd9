package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host/membudget"
	"github.com/kinesis-host/kinesis-host/host/telemetry"
	"github.com/kinesis-host/kinesis-host/shared"
)

// minCallGap keeps a shard reader under Kinesis's limit of 5 GetRecords
// calls per second per shard.
const minCallGap = 200 * time.Millisecond

// getRecordsTimeout bounds one GetRecords call (a stuck connection is then
// retried like any transient failure, with the same iterator).
const getRecordsTimeout = 30 * time.Second

// shardResult is how a shard worker ended.
type shardResult struct {
	id       string
	ended    bool               // read to its end; SHARD_END stored
	stop     bool               // the handler asked to stop the whole scan
	gone     bool               // the shard is no longer in the stream (trimmed)
	children []types.ChildShard // from the last GetRecords, when the API sent them
	err      error              // a failure that stops the scan
}

// shardWorker reads one shard in order and delivers it to the stream's
// handler, one batch in flight, advancing the checkpoint only to what the
// handler acknowledged.
type shardWorker struct {
	s   *streamRunner
	id  string
	key shared.CheckpointKey
	log hclog.Logger

	// From the stream's first listing in this run (see planStart).
	initial bool // the shard was in it
	closed  bool // and was closed then

	stat     *shardStat // what `status` shows of the shard (set by run)
	lastCall time.Time  // the reader's last GetRecords call
	lastRead string     // EFO: sequence number of the last record delivered in full
	// abandoned: a handler call of the page being delivered returned an
	// error (timed out, failed, cut short by ctx), so the transport might
	// still be reading its records: the page's Data buffer is then not
	// recycled (releasePage). Delivery loop only.
	abandoned bool

	// With deaggregate, a shard resuming inside a KPL aggregate reads the
	// aggregate again and skips its user records up to skipSub.
	skipSeq string
	skipSub int64
}

// run reads the shard until it ends, the host drains (fetch ctx done), or
// something fails. In-flight delivery uses deliver ctx, which outlives
// fetch ctx by the shutdown timeout.
func (w *shardWorker) run(fetch, deliver context.Context) (res shardResult) {
	res = shardResult{id: w.id}
	st := w.s.h.stat(w.s.cfg.Name, w.id)
	w.stat = st
	st.running.Store(true)
	defer func() {
		st.running.Store(false)
		st.lagMs.Store(-1)
		if res.ended {
			st.ended.Store(true)
		}
		if res.err != nil && !isLeaseLoss(res.err) {
			st.mu.Lock()
			st.errText = res.err.Error()
			st.mu.Unlock()
		}
	}()
	cp, found, err := w.s.cp.Get(fetch, w.key)
	if found {
		st.mu.Lock()
		st.start = &cp
		st.mu.Unlock()
	}
	if err != nil {
		if fetch.Err() == nil {
			res.err = fmt.Errorf("shard %s: read checkpoint: %w", w.id, err)
		}
		return res
	}
	plan := planStart(startFacts{found: found, cp: cp, deaggregate: w.s.cfg.Deaggregate, configured: w.s.initialPosition(),
		streamConsumed: w.s.consumed, initial: w.initial, closed: w.closed})
	switch {
	case plan.ended:
		w.log.Debug("shard already read to its end (SHARD_END checkpoint)")
		res.ended = true
		return res
	case plan.markEnded:
		return w.endShard(deliver, nil, "closed shard recorded as read to its end without reading it", "why", plan.why)
	case found:
		w.log.Info("shard starting after its checkpoint", "position", string(plan.pos.typ), "sequence", cp.SequenceNumber,
			"sub_sequence", cp.SubSequenceNumber, "why", plan.why)
	default:
		w.log.Info("shard starting with no checkpoint", "position", string(plan.pos.typ), "why", plan.why)
	}
	start := plan.pos
	w.skipSeq, w.skipSub = plan.skipSeq, plan.skipSub
	if w.s.cfg.Consumer == ConsumerEFO {
		return w.runEFO(fetch, deliver, start)
	}
	latestAt := time.Now() // when LATEST was first asked for
	iter, err := w.iterator(fetch, start)
	if errors.Is(err, errShardGone) {
		res.gone = true
		return res
	}
	if err != nil {
		if fetch.Err() == nil {
			res.err = err
		}
		return res
	}
	w.lifecycle(deliver, shared.LifecycleRequest{Event: shared.EventShardStarted, Position: string(start.typ), StartAfter: start.seq})
	// The reader fetches the next page while the current one is being
	// delivered (one page ahead), so a slow fetch and a slow handler
	// overlap instead of adding up.
	rctx, stopReader := context.WithCancel(fetch)
	pages := make(chan page, 1)
	go w.read(rctx, iter, start, latestAt, pages)
	defer func() {
		// Stop the reader and give back the pages it fetched that were
		// not delivered (read again at the next start).
		stopReader()
		for pg := range pages {
			w.releasePage(&pg, true)
		}
	}()
	for pg := range pages {
		if pg.err != nil || pg.gone {
			res.err, res.gone = pg.err, pg.gone
			return res
		}
		if len(pg.recs) > 0 {
			var stop bool
			w.abandoned = false
			if w.s.cfg.Deaggregate {
				stop, err = w.deliverAggregated(fetch, deliver, pg.recs, pg.behind)
			} else {
				stop, err = w.deliverPage(fetch, deliver, pg.recs, pg.behind)
			}
			// The delivery loop is done with the page: every record
			// acknowledged (or dealt with by the failure policy), or the
			// worker stops and the rest is read again next time.
			w.releasePage(&pg, !w.abandoned)
			if err != nil || stop {
				res.err, res.stop = err, stop && err == nil && deliver.Err() == nil
				return res
			}
		}
		if pg.end {
			w.lifecycle(deliver, shared.LifecycleRequest{Event: shared.EventShardEnded})
			return w.endShard(deliver, pg.children, "shard read to its end; SHARD_END stored", "children", len(pg.children))
		}
	}
	return res // fetch ended (drain)
}

// endShard stores SHARD_END durably before the shard's children may start
// and returns the worker's result: ended (with the children the API
// reported) once stored, or the write's error (none when ctx ended).
func (w *shardWorker) endShard(ctx context.Context, children []types.ChildShard, msg string, args ...any) shardResult {
	res := shardResult{id: w.id}
	if err := w.s.cp.SetSync(ctx, w.key, shared.Checkpoint{ShardEnd: true}); err != nil {
		if errors.Is(err, ErrCheckpointConflict) && w.s.leases != nil {
			res.err = fmt.Errorf("%w: shard %s: SHARD_END not stored: %v", ErrLeaseLost, w.id, err)
		} else if ctx.Err() == nil {
			res.err = fmt.Errorf("shard %s: store SHARD_END: %w", w.id, err)
		}
		return res
	}
	w.log.Info(msg, args...)
	res.ended, res.children = true, children
	return res
}

// page is one GetRecords result handed from the reader to the delivery
// loop, or how the reading ended.
type page struct {
	recs     []shared.Record
	behind   int64
	end      bool               // the shard is closed and this was its last page
	children []types.ChildShard // with end
	gone     bool               // the shard was trimmed from the stream
	err      error              // reading cannot go on

	// held is what the page holds of the host's memory budget, and arena
	// the pooled buffer its records' Data live in (nil when decoded
	// otherwise). Both are given back by releasePage, once.
	held  int64
	arena *pageArena
}

// releasePage gives a page's memory back: its budget reservation, and its
// Data buffer to the pools when recycle is true (nothing can refer to it
// any more), or to the GC otherwise (a handler call of the page was
// abandoned; see shardWorker.abandoned).
func (w *shardWorker) releasePage(pg *page, recycle bool) {
	if recycle {
		pg.arena.free()
	} else {
		pg.arena.drop()
	}
	w.s.h.budget.Release(pg.held)
	pg.held, pg.arena = 0, nil
}

// pageBytes is what records hold in memory, for the budget: their Data (or
// the pooled buffer holding it, when bigger), partition keys, sequence
// numbers and per-record overhead.
func pageBytes(recs []shared.Record, arena *pageArena) int64 {
	var data, strs int64
	for i := range recs {
		r := &recs[i]
		data += int64(len(r.Data))
		strs += int64(len(r.PartitionKey) + len(r.SequenceNumber))
	}
	return membudget.PageBytes(len(recs), max(data, arena.bytes())+strs)
}

// read is the shard's reader: GetRecords with the host's pacing and retry
// policy. It sends pages in order and closes out when it stops; it stops at
// the shard's end, on a permanent failure, or when ctx ends.
//
// Memory: before each call it reserves room in the host's budget for the
// page it asks for (waiting in line with the other shards while the budget
// is spent) and sizes the call's Limit by what it got and the shard's
// observed bytes per record (membudget.Sizer: slow start from a
// one-record first page while the budget is contended, fewer records when
// it is tight). Once the page is
// in, the reservation becomes the page's real size; the delivery loop
// gives it back when it is done with the page.
func (w *shardWorker) read(ctx context.Context, iter *string, start iteratorPosition, latestAt time.Time, out chan<- page) {
	defer close(out)
	send := func(p page) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			w.releasePage(&p, true)
			return false
		}
	}
	budget := w.s.h.budget
	sizer := membudget.NewSizer(int(w.s.cfg.MaxRecords))
	lastRead := "" // the last record fetched (every fetched page is delivered in order)
	for attempt := 1; ; {
		if ctx.Err() != nil {
			return
		}
		if !w.waitWhilePaused(ctx) {
			return
		}
		if gap := time.Since(w.lastCall); gap < minCallGap {
			if sleepCtx(ctx, minCallGap-gap) != nil {
				return
			}
		}
		bst := budget.Stats()
		if bst.Waiting > 0 {
			bst.Held = bst.Limit // contended: no whole first page
		}
		lo, hi := sizer.Want(bst.Limit, bst.Held)
		granted, err := budget.Acquire(ctx, lo, hi)
		if err != nil {
			return
		}
		limit := int32(sizer.Limit(granted))
		arena := &pageArena{budget: budget}
		w.lastCall = time.Now()
		cctx, cancel := context.WithTimeout(withPageArena(ctx, arena), getRecordsTimeout)
		res, err := w.s.api.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit)})
		cancel()
		if err != nil {
			// GetRecords has returned: nothing refers to the arena.
			arena.free()
			budget.Release(granted)
			if ctx.Err() != nil {
				return
			}
			switch classify(err) {
			case errExpired:
				w.s.h.metrics.GetRecords(w.s.cfg.Name, telemetry.GetRecordsExpiredIterator)
				w.log.Info("shard iterator expired; renewing from the last record read", "after", lastRead)
				pos := start
				switch {
				case lastRead != "":
					pos = iteratorPosition{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: lastRead}
				case start.typ == types.ShardIteratorTypeLatest:
					// Nothing read yet: LATEST again would skip what arrived
					// since the first iterator. Resume from that moment
					// instead (a second early, for clock skew: at-least-once).
					pos = iteratorPosition{typ: types.ShardIteratorTypeAtTimestamp, ts: latestAt.Add(-time.Second)}
				}
				if iter, err = w.iterator(ctx, pos); err != nil {
					if errors.Is(err, errShardGone) {
						send(page{gone: true})
					} else if ctx.Err() == nil {
						send(page{err: err})
					}
					return
				}
				continue
			case errRetry:
				if w.gone(ctx, err) {
					send(page{gone: true})
					return
				}
				d := retryBackoff(attempt)
				w.s.h.stats.retries.Add(1)
				if isThrottle(err) {
					w.s.h.metrics.GetRecords(w.s.cfg.Name, telemetry.GetRecordsThrottled)
					w.s.h.metrics.Throttle(w.s.cfg.Name, "GetRecords")
				} else {
					w.s.h.metrics.GetRecords(w.s.cfg.Name, telemetry.GetRecordsError)
				}
				w.log.Warn("GetRecords failed; retrying with the same iterator", "attempt", attempt, "retry_in", d, "error", err)
				attempt++
				if sleepCtx(ctx, d) != nil {
					return
				}
				continue
			default:
				w.s.h.metrics.GetRecords(w.s.cfg.Name, telemetry.GetRecordsError)
				send(page{err: fmt.Errorf("%w: GetRecords on shard %s: %v", ErrKinesis, w.id, err)})
				return
			}
		}
		attempt = 1
		pg := page{recs: toWire(res.Records), end: res.NextShardIterator == nil, children: res.ChildShards, arena: arena}
		// The reservation becomes the page's size: given back in part, or
		// grown when the page is bigger than estimated (it is in memory
		// already).
		pg.held = pageBytes(pg.recs, arena)
		sizer.Observe(int(limit), len(pg.recs), pg.held)
		budget.Resize(granted, pg.held)
		if len(pg.recs) == 0 {
			w.releasePage(&pg, true)
		}
		if res.MillisBehindLatest != nil {
			pg.behind = *res.MillisBehindLatest
		}
		w.s.h.metrics.GetRecords(w.s.cfg.Name, telemetry.GetRecordsOK)
		w.s.h.metrics.Lag(w.s.cfg.Name, w.id, time.Duration(pg.behind)*time.Millisecond)
		w.stat.lagMs.Store(pg.behind)
		w.stat.caughtUp.Store(len(res.Records) < int(limit) && pg.behind == 0)
		if len(pg.recs) > 0 {
			lastRead = pg.recs[len(pg.recs)-1].SequenceNumber
		}
		if (len(pg.recs) > 0 || pg.end) && !send(pg) {
			return
		}
		if pg.end {
			return
		}
		iter = res.NextShardIterator
		caughtUp := len(res.Records) < int(limit) && pg.behind == 0
		if caughtUp && sleepCtx(ctx, w.s.cfg.PollInterval) != nil {
			return
		}
	}
}

// deliverPage sends one GetRecords page to the handler in batches capped by
// count and bytes. It returns when every record is done, the scan must
// stop, or ctx ends. When fetch ends (drain), the batch in flight finishes
// but no new batch starts: the rest of the page is not acknowledged and is
// read again next time.
func (w *shardWorker) deliverPage(fetch, ctx context.Context, recs []shared.Record, behind int64) (stop bool, err error) {
	for len(recs) > 0 {
		if fetch.Err() != nil {
			return true, nil
		}
		if !w.waitWhilePaused(fetch) {
			return true, nil
		}
		n := cutBatch(recs, w.s.cfg.BatchMaxRecords, w.s.cfg.BatchMaxBytes)
		batch := recs[:n]
		done, stop, err := w.deliverBatch(fetch, ctx, batch, behind)
		if err != nil || stop {
			return stop, err
		}
		if done < n { // ctx ended
			return true, nil
		}
		recs = recs[n:]
	}
	return false, nil
}

// deliverAggregated de-aggregates a page (deaggregate = true), skips the
// user records a resumed checkpoint already covers, sends corrupt
// aggregates through the failure policy, and delivers the rest.
func (w *shardWorker) deliverAggregated(fetch, ctx context.Context, recs []shared.Record, behind int64) (bool, error) {
	var acc []shared.Record
	flush := func() (bool, error) {
		if len(acc) == 0 {
			return false, nil
		}
		stop, err := w.deliverPage(fetch, ctx, acc, behind)
		acc = nil
		return stop, err
	}
	for _, u := range deaggregate(recs) {
		if w.skipSeq != "" {
			if u.rec.SequenceNumber == w.skipSeq && (u.corrupt != nil || u.rec.SubSequenceNumber <= w.skipSub) {
				continue
			}
			w.skipSeq = ""
		}
		if u.corrupt == nil {
			acc = append(acc, u.rec)
			continue
		}
		if stop, err := flush(); err != nil || stop {
			return stop, err
		}
		if fetch.Err() != nil {
			return true, nil
		}
		e := &shared.Error{Code: shared.CodeCorrupt, Message: "corrupt KPL aggregate: " + u.corrupt.Error()}
		retry, cancel := w.retryContext(fetch, ctx)
		skip, err := w.recordFailed(retry, u.rec, e, w.s.handler.block().Failure.MaxAttempts, ErrCorruptRecord)
		cancel()
		if err != nil {
			return false, err
		}
		if !skip {
			return true, nil // ctx ended
		}
	}
	return flush()
}

// retryContext ends when either fetch (drain, or the stream stopping) or
// deliver ends: retries, backoffs and restarts wait on it, so a drain never
// waits on a retry loop — the unacknowledged rest is read again at the
// next start.
func (w *shardWorker) retryContext(fetch, deliver context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(deliver)
	stop := context.AfterFunc(fetch, cancel)
	return ctx, func() { stop(); cancel() }
}

// deliverBatch delivers batch until the handler has acknowledged all of it,
// redelivering the unacknowledged part after crashes, timeouts and partial
// acknowledgements. It returns how many records are done. The first
// delivery runs on ctx (it outlives fetch by the shutdown timeout: an
// in-flight batch finishes during a drain); redeliveries and their
// backoffs stop as soon as fetch ends.
func (w *shardWorker) deliverBatch(fetch, ctx context.Context, batch []shared.Record, behind int64) (done int, stop bool, err error) {
	proc := w.s.handler
	failures := 0   // consecutive failed deliveries of batch[done]
	noProgress := 0 // consecutive answers that acknowledged nothing and failed nothing
	// window caps the records sent per call: a batch failed without a
	// record named (CodeBatchFailed) is split in halves until the failing
	// record is alone, so the failure policy never lands on a good record.
	window := len(batch)
	retry, cancel := w.retryContext(fetch, ctx)
	defer cancel()
	for attempt := 1; done < len(batch); attempt++ {
		if ctx.Err() != nil {
			return done, false, nil
		}
		if attempt > 1 && fetch.Err() != nil {
			w.log.Info("draining: the unacknowledged rest of the batch is not delivered again now; it is read again at the next start",
				"records", len(batch)-done)
			return done, false, nil
		}
		// The first delivery may wait for a (re)start of the plugin within
		// ctx; a redelivery only while not draining.
		actx := ctx
		if attempt > 1 {
			actx = retry
		}
		if err := w.s.cp.Err(); err != nil {
			return done, false, fmt.Errorf("stream %s: checkpoint %q can no longer store positions: %w", w.s.cfg.Name, w.s.cp.proc.block().Name, err)
		}
		// With leases: no batch starts unless the lease was renewed
		// recently (renewed now if not), so a host that lost its lease
		// delivers nothing more of the shard.
		if err := w.s.cp.fence(actx, w.key); err != nil {
			if actx.Err() != nil && !errors.Is(err, ErrLeaseLost) {
				return done, false, nil
			}
			return done, false, err
		}
		inst, release, err := proc.acquire(actx)
		if err != nil {
			if actx.Err() != nil {
				return done, false, nil
			}
			return done, false, fmt.Errorf("stream %s: handler %q: %w", w.s.cfg.Name, proc.block().Name, err)
		}
		rest := batch[done:min(done+window, len(batch))]
		req := &shared.BatchRequest{Stream: w.s.cfg.Name, ShardID: w.id, Records: rest, MillisBehindLatest: behind, Attempt: attempt}
		cctx, cancel := context.WithTimeout(ctx, proc.block().CallTimeout)
		t0 := time.Now()
		resp, err := inst.raw.(*shared.HandlerClient).HandleBatch(cctx, req)
		cancel()
		release()
		if err != nil {
			w.abandoned = true // the page's buffer is not recycled (releasePage)
			if ctx.Err() != nil {
				return done, false, nil // draining past the deadline: not acknowledged
			}
			reason := err
			result := telemetry.ResultCrash
			if errors.Is(err, context.DeadlineExceeded) {
				reason = fmt.Errorf("call_timeout (%s) exceeded; the plugin is killed: %w", proc.block().CallTimeout, err)
				result = telemetry.ResultTimeout
			}
			w.s.h.metrics.Batch(w.s.cfg.Name, w.id, proc.block().Name, len(rest), dataBytes(rest), time.Since(t0), result)
			w.log.Warn("batch not acknowledged; it will be delivered again", "records", len(rest), "attempt", attempt, "reason", reason.Error())
			w.s.h.stats.redeliveries.Add(1)
			proc.fail(inst, reason)
			continue
		}
		proc.healthy(inst)
		w.s.h.stats.batches.Add(1)
		w.s.h.observeLatency(time.Since(t0))
		out := decideBatch(rest, resp)
		if out.checkpoint != nil {
			w.s.cp.Set(w.key, *out.checkpoint)
		}
		result := telemetry.ResultOK
		switch {
		case out.fail != nil || out.invalid:
			result = telemetry.ResultFailed
		case out.done < len(rest):
			result = telemetry.ResultPartial
		}
		w.s.h.metrics.Batch(w.s.cfg.Name, w.id, proc.block().Name, len(rest), dataBytes(rest), time.Since(t0), result)
		if out.done > 0 {
			w.s.h.metrics.IteratorAge(w.s.cfg.Name, w.id, rest[out.done-1].ApproximateArrivalTimestamp)
		}
		w.stat.lastBatch.Store(time.Now().UnixNano())
		w.stat.records.Add(int64(len(rest)))
		done += out.done
		w.s.h.stats.records.Add(int64(out.done))
		if out.invalid {
			return done, false, fmt.Errorf("%w: stream %s shard %s: %v", ErrHandlerFailed, w.s.cfg.Name, w.id, shared.FromWire(out.fail))
		}
		if out.fail != nil && out.fail.Code == shared.CodeBatchFailed && len(rest)-out.done > 1 {
			window = (len(rest) - out.done) / 2
			w.log.Warn("handler failed the batch without naming a record; delivering a smaller part on its own to find the record at fault",
				"records", len(rest)-out.done, "next", window, "error", out.fail.Error())
			continue
		}
		if out.fail != nil {
			if out.done > 0 {
				failures = 0 // a different record is failing now
			}
			failures++
			skip, err := w.recordFailed(retry, batch[done], out.fail, failures, ErrHandlerFailed)
			if err != nil {
				return done, false, err
			}
			if skip {
				failures = 0
				done++
				continue
			}
			continue // deliver the failing record again
		}
		failures = 0
		if out.done == len(rest) {
			window = len(batch) // this part is done: the rest goes whole again
		}
		if out.stop {
			w.log.Info("handler asked to stop the scan (StopScan)", "after", rest[max(out.done-1, 0)].SequenceNumber)
			return done, true, nil
		}
		if out.done < len(rest) {
			d := 100 * time.Millisecond
			if out.done == 0 {
				// Nothing acknowledged, nothing failed: back off so a handler
				// that keeps declining does not spin the shard.
				noProgress++
				d = backoffDelay(w.s.handler.block().Failure.RetryBackoff, time.Minute, noProgress)
				w.log.Warn("handler acknowledged none of the batch and reported no error; delivering it again", "records", len(rest), "retry_in", d)
			} else {
				noProgress = 0
				w.log.Debug("handler acknowledged part of the batch; delivering the rest again", "acked", out.done, "of", len(rest))
			}
			if sleepCtx(retry, d) != nil {
				return done, false, nil
			}
		}
	}
	return done, false, nil
}

// recordFailed applies the handler's failure policy to a record that
// failed its attempts-th delivery. It returns skip=true when the record has
// been dealt with (skipped or dead-lettered; the checkpoint may move past
// it), skip=false to deliver it again, or an error that stops the scan.
func (w *shardWorker) recordFailed(ctx context.Context, rec shared.Record, e *shared.Error, attempts int, kind error) (bool, error) {
	pol := w.s.handler.block().Failure
	herr := fmt.Errorf("%w: stream %s shard %s record %s: %v", kind, w.s.cfg.Name, w.id, rec.SequenceNumber, shared.FromWire(e))
	action := telemetry.ActionStop
	switch {
	case attempts < pol.MaxAttempts:
		action = telemetry.ActionRetry
	case pol.OnFailure == OnFailureSkip:
		action = telemetry.ActionSkip
	case pol.OnFailure == OnFailureDeadLetter:
		action = telemetry.ActionDeadLetter
	}
	w.s.h.metrics.RecordFailed(w.s.cfg.Name, w.s.handler.block().Name, action, 1)
	if attempts < pol.MaxAttempts {
		d := backoffDelay(pol.RetryBackoff, time.Minute, attempts)
		w.log.Warn("record failed; delivering it again", "sequence", rec.SequenceNumber, "attempt", attempts,
			"max_attempts", pol.MaxAttempts, "retry_in", d, "error", e.Error())
		if sleepCtx(ctx, d) != nil {
			return false, nil
		}
		return false, nil
	}
	switch pol.OnFailure {
	case OnFailureSkip:
		w.log.Error("record failed every attempt; SKIPPING it (on_failure = \"skip\")", "sequence", rec.SequenceNumber,
			"partition_key", rec.PartitionKey, "attempts", attempts, "error", e.Error())
		w.s.h.stats.skipped.Add(1)
	case OnFailureDeadLetter:
		dl := newDeadLetter(w.s.h.conf().App, w.s.cfg.Name, w.id, w.s.handler.block().Name, rec, e, attempts)
		for try := 1; ; try++ {
			sink := w.s.h.sink(w.s.handler.block().Name)
			err := errors.New("no dead_letter target is open for this handler")
			if sink != nil {
				err = sink.Put(ctx, dl)
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return false, nil
			}
			d := retryBackoff(try)
			w.log.Error("dead-letter write failed; retrying (the checkpoint waits)", "sequence", rec.SequenceNumber, "retry_in", d, "error", err)
			if sleepCtx(ctx, d) != nil {
				return false, nil
			}
		}
		w.log.Error("record failed every attempt; written to the dead-letter target", "sequence", rec.SequenceNumber,
			"attempts", attempts, "error", e.Error())
		w.s.h.stats.deadLettered.Add(1)
	default:
		return false, herr
	}
	w.s.cp.Set(w.key, shared.Checkpoint{SequenceNumber: rec.SequenceNumber, SubSequenceNumber: rec.SubSequenceNumber})
	return true, nil
}

// dataBytes is the size of the records' data.
func dataBytes(recs []shared.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Data)
	}
	return n
}

// errShardGone: the shard is no longer in the stream.
var errShardGone = errors.New("shard is no longer in the stream")

// gone reports whether err means this shard was trimmed from the stream: a
// ResourceNotFound while a fresh listing of the stream succeeds without the
// shard. (ResourceNotFound for the whole stream is a stream that does not
// exist yet or was deleted: retried.)
func (w *shardWorker) gone(ctx context.Context, err error) bool {
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return false
	}
	shards, lerr := listAllShards(ctx, w.s.api, w.s.cfg.Name, nil)
	if lerr != nil {
		return false
	}
	for _, sh := range shards {
		if aws.ToString(sh.ShardId) == w.id {
			return false
		}
	}
	w.log.Warn("shard is no longer in the stream (trimmed past retention); its children no longer wait for it")
	return true
}

// lifecycle tells the handler about a shard event. Failures are logged, not
// fatal: the event is advisory, and a plugin built before lifecycle calls
// existed does not know the method.
func (w *shardWorker) lifecycle(ctx context.Context, req shared.LifecycleRequest) {
	req.Stream, req.ShardID = w.s.cfg.Name, w.id
	inst, release, err := w.s.handler.acquire(ctx)
	if err != nil {
		return
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, w.s.handler.block().CallTimeout)
	defer cancel()
	if err := inst.raw.(*shared.HandlerClient).Lifecycle(cctx, req); err != nil && !strings.Contains(err.Error(), "can't find method") {
		w.log.Warn("handler lifecycle call failed", "event", req.Event, "error", err)
		if errors.Is(err, shared.ErrPluginGone) {
			w.s.handler.fail(inst, err)
		}
	}
}

// iteratorPosition is where to (re)start reading a shard.
type iteratorPosition struct {
	typ types.ShardIteratorType
	seq string
	ts  time.Time
}

// iterator gets a shard iterator, retrying transient failures. A
// checkpoint the stream no longer holds (older than retention) restarts at
// the trim horizon, logged as an error: nothing newer is skipped.
func (w *shardWorker) iterator(ctx context.Context, pos iteratorPosition) (*string, error) {
	for attempt := 1; ; attempt++ {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(w.s.cfg.Name), ShardId: aws.String(w.id), ShardIteratorType: pos.typ}
		switch pos.typ {
		case types.ShardIteratorTypeAfterSequenceNumber, types.ShardIteratorTypeAtSequenceNumber:
			in.StartingSequenceNumber = aws.String(pos.seq)
		case types.ShardIteratorTypeAtTimestamp:
			in.Timestamp = aws.Time(pos.ts)
		}
		out, err := w.s.api.GetShardIterator(ctx, in)
		if err == nil {
			return out.ShardIterator, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pos.seq != "" && isExpiredCheckpoint(err) {
			if w.s.cfg.OnExpiredCheckpoint == ExpiredFail {
				return nil, fmt.Errorf("%w: stream %s shard %s: checkpoint %s is no longer in the stream (on_expired_checkpoint = \"fail\"); set on_expired_checkpoint = \"trim_horizon\" to resume at the oldest record, or remove the checkpoint",
					ErrCheckpointExpired, w.s.cfg.Name, w.id, pos.seq)
			}
			w.log.Error("checkpoint is no longer in the stream (older than its retention, or the stream was re-created); restarting the shard at TRIM_HORIZON: records between the checkpoint and the trim horizon are gone",
				"sequence", pos.seq, "error", err)
			pos = iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon}
			continue
		}
		if classify(err) == errFatal {
			return nil, fmt.Errorf("%w: GetShardIterator on shard %s: %v", ErrKinesis, w.id, err)
		}
		if w.gone(ctx, err) {
			return nil, errShardGone
		}
		d := retryBackoff(attempt)
		w.log.Warn("GetShardIterator failed; retrying", "attempt", attempt, "retry_in", d, "error", err)
		if err := sleepCtx(ctx, d); err != nil {
			return nil, err
		}
	}
}

// toWire converts SDK records without copying their data.
func toWire(in []types.Record) []shared.Record {
	out := make([]shared.Record, len(in))
	for i := range in {
		r := &in[i]
		out[i] = shared.Record{Data: r.Data, PartitionKey: aws.ToString(r.PartitionKey), SequenceNumber: aws.ToString(r.SequenceNumber)}
		if r.ApproximateArrivalTimestamp != nil {
			out[i].ApproximateArrivalTimestamp = *r.ApproximateArrivalTimestamp
		}
	}
	return out
}
