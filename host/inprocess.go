package host

// ConsumeInProcess: the host's polling fetch path with a handler called in
// this process, without plugins, RPC, checkpoint stores or supervision.
// internal/bench uses it as the in-process baseline that an out-of-process
// handler is compared against (it stands in for an in-process consumer
// library such as harlow/kinesis-consumer).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// InProcessOptions configure [ConsumeInProcess]. A zero field takes the
// default of the same setting in a stream {} block (max_records,
// batch_max_records, batch_max_bytes, poll_interval), so a zero value
// apart from Stream reads like a stream block that sets nothing but its
// name and start_position = "TRIM_HORIZON".
type InProcessOptions struct {
	// Stream is the name of the stream to read (required).
	Stream string
	// MaxRecords is the GetRecords Limit (1..10000; default 10000).
	MaxRecords int32
	// BatchMaxRecords caps the records of one handler call (default 1000).
	BatchMaxRecords int
	// BatchMaxBytes caps the data plus partition keys of one handler call
	// (default 4 MiB); a single larger record still goes alone.
	BatchMaxBytes int64
	// PollInterval is the wait after a GetRecords call that found the
	// shard caught up (default 1 s; like the host, never less than the
	// 200 ms between two calls on one shard).
	PollInterval time.Duration
	// Checkpoint, when set, is called after every handler call that moves
	// a shard's position: the last record the handler acknowledged
	// without SkipCheckpoint. It runs on the shard's goroutine, so calls
	// for one shard are in order and calls for different shards may run
	// concurrently. Nothing is stored unless Checkpoint stores it.
	Checkpoint func(shardID string, cp shared.Checkpoint)
}

// ConsumeInProcess reads every shard of opts.Stream from TRIM_HORIZON
// through api and calls h for each batch, in this process. It is the
// host's polling fetch path without the rest of the host: the same
// GetRecords loop (at most 5 calls per second per shard, the next page
// fetched while the current one is handled, an immediate read again
// while the shard is behind, PollInterval when caught up, throttling and
// transient errors retried with the same iterator and the host's backoff,
// an expired iterator renewed after the last record read), the same
// conversion of records and the same batching by count and bytes
// (cutBatch), and h is run exactly as a handler plugin runs it: through
// the sdk's handler server (EachRecord panics, BatchResult validation,
// ShardStarter and ShardEnder lifecycle calls), only without the RPC.
// Use [NewKinesisClient] for api to get the host's HTTP client and its
// GetRecords decoder.
//
// What it leaves out, on purpose: checkpoints are not read (every shard
// starts at TRIM_HORIZON) and only reported to opts.Checkpoint; only the
// shards of the first listing are read (a closed shard is read to its
// end, its children are not followed); no leases, no failure policy (a
// handler error ends the whole call with that error), no dead letters,
// no KPL de-aggregation, no metrics. A batch the handler acknowledges
// only in part is delivered again from its first unacknowledged record
// with Attempt + 1.
//
// It returns nil when every shard was read to its end or the handler
// asked to stop (StopScan), ctx.Err() when ctx ends first, and otherwise
// the first error of any shard (the other shards are then stopped).
func ConsumeInProcess(ctx context.Context, api KinesisAPI, opts InProcessOptions, h sdk.Handler) error {
	if opts.Stream == "" {
		return errors.New("ConsumeInProcess: no stream name")
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = cfgDefaults.MaxRecords
	}
	if opts.MaxRecords > cfgMaxRecordsMax {
		return fmt.Errorf("ConsumeInProcess: MaxRecords %d is over the GetRecords limit of %d", opts.MaxRecords, cfgMaxRecordsMax)
	}
	if opts.BatchMaxRecords <= 0 {
		opts.BatchMaxRecords = cfgDefaults.BatchMaxRecords
	}
	if opts.BatchMaxBytes <= 0 {
		opts.BatchMaxBytes = cfgDefaults.BatchMaxBytes
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = cfgDefaults.PollInterval
	}
	shards, err := listAllShards(ctx, api, opts.Stream, nil)
	if err != nil {
		return fmt.Errorf("ConsumeInProcess: list shards of %s: %w", opts.Stream, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &inProcess{api: api, opts: opts, srv: sdk.NewHandlerServer(h), cancel: cancel}
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Go(func() { c.shard(ctx, aws.ToString(sh.ShardId)) })
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.stopped {
		return nil
	}
	return ctx.Err()
}

// inProcess is one ConsumeInProcess call.
type inProcess struct {
	api    KinesisAPI
	opts   InProcessOptions
	srv    shared.HandlerServer
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	err     error // the first shard error
	stopped bool  // the handler asked to stop
}

// end stops every shard: with err, or (nil) because the handler asked to.
func (c *inProcess) end(err error) {
	c.mu.Lock()
	if err != nil && c.err == nil && !c.stopped {
		c.err = err
	}
	if err == nil {
		c.stopped = true
	}
	c.mu.Unlock()
	c.cancel(err)
}

// iterator gets a shard iterator, retrying what the host retries.
func (c *inProcess) iterator(ctx context.Context, shardID string, pos iteratorPosition) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(c.opts.Stream), ShardId: aws.String(shardID), ShardIteratorType: pos.typ}
	if pos.seq != "" {
		in.StartingSequenceNumber = aws.String(pos.seq)
	}
	for attempt := 1; ; attempt++ {
		out, err := c.api.GetShardIterator(ctx, in)
		if err == nil {
			return out.ShardIterator, nil
		}
		if ctx.Err() != nil || classify(err) != errRetry {
			return nil, fmt.Errorf("GetShardIterator on shard %s: %w", shardID, err)
		}
		if err := sleepCtx(ctx, retryBackoff(attempt)); err != nil {
			return nil, err
		}
	}
}

// inProcessPage is one GetRecords answer handed from a shard's reader to
// its delivery loop.
type inProcessPage struct {
	recs   []shared.Record
	behind int64
	end    bool
	err    error
}

// shard reads and delivers one shard until its end, a stop or an error.
func (c *inProcess) shard(ctx context.Context, shardID string) {
	start := iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon}
	iter, err := c.iterator(ctx, shardID, start)
	if err != nil {
		if ctx.Err() == nil {
			c.end(err)
		}
		return
	}
	if e := c.srv.Lifecycle(ctx, &shared.LifecycleRequest{Event: shared.EventShardStarted, Stream: c.opts.Stream, ShardID: shardID,
		Position: string(start.typ)}); e != nil {
		c.end(fmt.Errorf("shard %s: ShardStarted: %w", shardID, e))
		return
	}
	rctx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	pages := make(chan inProcessPage, 1) // one page ahead, as the host reads
	go c.read(rctx, shardID, iter, start, pages)
	for pg := range pages {
		if pg.err != nil {
			if ctx.Err() == nil {
				c.end(pg.err)
			}
			return
		}
		if !c.deliver(ctx, shardID, pg.recs, pg.behind) {
			return
		}
		if pg.end {
			if e := c.srv.Lifecycle(ctx, &shared.LifecycleRequest{Event: shared.EventShardEnded, Stream: c.opts.Stream, ShardID: shardID}); e != nil {
				c.end(fmt.Errorf("shard %s: ShardEnded: %w", shardID, e))
			}
			return
		}
	}
}

// read is the shard's GetRecords loop; it closes out when it returns.
func (c *inProcess) read(ctx context.Context, shardID string, iter *string, start iteratorPosition, out chan<- inProcessPage) {
	defer close(out)
	send := func(p inProcessPage) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var lastCall time.Time
	lastRead := ""
	for attempt := 1; ctx.Err() == nil; {
		if gap := time.Since(lastCall); gap < minCallGap {
			if sleepCtx(ctx, minCallGap-gap) != nil {
				return
			}
		}
		lastCall = time.Now()
		cctx, cancel := context.WithTimeout(ctx, getRecordsTimeout)
		res, err := c.api.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(c.opts.MaxRecords)})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			switch classify(err) {
			case errExpired:
				pos := start
				if lastRead != "" {
					pos = iteratorPosition{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: lastRead}
				}
				if iter, err = c.iterator(ctx, shardID, pos); err != nil {
					send(inProcessPage{err: err})
					return
				}
			case errRetry:
				d := retryBackoff(attempt)
				attempt++
				if sleepCtx(ctx, d) != nil {
					return
				}
			default:
				send(inProcessPage{err: fmt.Errorf("%w: GetRecords on shard %s: %v", ErrKinesis, shardID, err)})
				return
			}
			continue
		}
		attempt = 1
		pg := inProcessPage{recs: toWire(res.Records), end: res.NextShardIterator == nil, behind: aws.ToInt64(res.MillisBehindLatest)}
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
		if len(res.Records) < int(c.opts.MaxRecords) && pg.behind == 0 && sleepCtx(ctx, c.opts.PollInterval) != nil {
			return
		}
	}
}

// deliver hands one page to the handler in batches; false means the shard
// must stop (ctx ended, the handler stopped or failed).
func (c *inProcess) deliver(ctx context.Context, shardID string, recs []shared.Record, behind int64) bool {
	attempt := 1
	for len(recs) > 0 {
		if ctx.Err() != nil {
			return false
		}
		n := cutBatch(recs, c.opts.BatchMaxRecords, c.opts.BatchMaxBytes)
		batch := recs[:n]
		resp := c.srv.HandleBatch(ctx, &shared.BatchRequest{Stream: c.opts.Stream, ShardID: shardID, Records: batch,
			MillisBehindLatest: behind, Attempt: attempt})
		out := decideBatch(batch, resp)
		if out.checkpoint != nil && c.opts.Checkpoint != nil {
			c.opts.Checkpoint(shardID, *out.checkpoint)
		}
		switch {
		case out.fail != nil:
			if ctx.Err() == nil {
				c.end(fmt.Errorf("shard %s: %w", shardID, out.fail))
			}
			return false
		case out.stop:
			c.end(nil)
			return false
		case out.done < n:
			attempt++
		default:
			attempt = 1
		}
		recs = recs[out.done:]
	}
	return true
}
