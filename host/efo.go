package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/shared"
)

// EFOAPI is the part of the Kinesis API that enhanced fan-out
// (consumer = "efo") uses on top of KinesisAPI. *kinesis.Client has it;
// host/kinesisfake serves it over HTTP/2 (kinesisfake.NewServer), since an
// in-process value cannot make the SDK's event stream.
type EFOAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

var _ EFOAPI = (*kinesis.Client)(nil)

const (
	// minSubscribeGap keeps a shard under Kinesis's limit of one
	// SubscribeToShard call per second per consumer and shard.
	minSubscribeGap = time.Second
	// subscribeTimeout bounds a SubscribeToShard call until its
	// initial-response (the stream itself lasts up to 5 minutes).
	subscribeTimeout = 30 * time.Second
	// efoIdleTimeout: Kinesis sends an event at least every few seconds,
	// even on an idle shard. A subscription silent for this long is
	// treated as a dead connection and replaced.
	efoIdleTimeout = 35 * time.Second
)

// ownEventStreamCodec gives one SubscribeToShard call its own event stream
// codec. The SDK keeps one per client and shares it, unsynchronized,
// between every open stream (aws/smithy-go#714): benign today but reported
// by -race, and a hazard if the codec grows state.
func ownEventStreamCodec(o *kinesis.Options) {
	o.Protocol = awsjson.New11(schemas.Kinesis_20131202)
}

// runEFO reads the shard with enhanced fan-out: SubscribeToShard with the
// stream's registered consumer, resubscribing from the continuation
// sequence number when a subscription ends (every 5 minutes, on errors and
// dropped connections), until the shard ends, the host drains (fetch
// done) or something fails that retrying cannot fix.
func (w *shardWorker) runEFO(fetch, deliver context.Context, start iteratorPosition) shardResult {
	res := shardResult{id: w.id}
	api, ok := w.s.api.(EFOAPI)
	if !ok {
		res.err = fmt.Errorf("%w: stream %s: consumer = \"efo\" needs a Kinesis client with SubscribeToShard and the consumer APIs (the AWS SDK client); %T has none",
			ErrKinesis, w.s.cfg.Name, w.s.api)
		return res
	}
	cons := acquireEFOConsumer(w.s)
	defer releaseEFOConsumer(w.s)

	var (
		cont      string // resume AFTER this (continuation of the last event handled)
		started   bool
		attempt   = 1
		lastCall  time.Time
		subscribe = start
	)
	for {
		if fetch.Err() != nil {
			return res
		}
		arn, err := cons.resolve(fetch, api, w.s, w.log)
		if err != nil {
			if fetch.Err() == nil {
				res.err = err
			}
			return res
		}
		pos := subscribe
		if cont != "" {
			pos = iteratorPosition{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: cont}
		}
		if gap := time.Since(lastCall); gap < minSubscribeGap {
			if sleepCtx(fetch, minSubscribeGap-gap) != nil {
				return res
			}
		}
		lastCall = time.Now()
		sub, err := w.subscribe(fetch, api, arn, pos)
		if pos.typ == types.ShardIteratorTypeLatest {
			// Whether this call succeeded or failed (the server may have
			// started the subscription before the failure reached us),
			// LATEST again would skip what was written meanwhile: pin the
			// start to the time of this first call (less a second for
			// clock skew; a record written just before may be delivered).
			subscribe = iteratorPosition{typ: types.ShardIteratorTypeAtTimestamp, ts: lastCall.Add(-time.Second)}
		}
		if err != nil {
			if fetch.Err() != nil {
				return res
			}
			var nf *types.ResourceNotFoundException
			switch {
			case pos.seq != "" && isExpiredCheckpoint(err):
				if w.s.cfg.OnExpiredCheckpoint == ExpiredFail {
					res.err = fmt.Errorf("%w: stream %s shard %s: checkpoint %s is no longer in the stream (on_expired_checkpoint = \"fail\"); set on_expired_checkpoint = \"trim_horizon\" to resume at the oldest record, or remove the checkpoint",
						ErrCheckpointExpired, w.s.cfg.Name, w.id, pos.seq)
					return res
				}
				w.log.Error("checkpoint is no longer in the stream (older than its retention, or the stream was re-created); restarting the shard at TRIM_HORIZON: records between the checkpoint and the trim horizon are gone",
					"sequence", pos.seq, "error", err)
				subscribe, cont = iteratorPosition{typ: types.ShardIteratorTypeTrimHorizon}, ""
				w.skipSeq = ""
				lastCall = time.Time{}
				continue
			case efoClass(err) == errFatal:
				hint := ""
				if strings.Contains(err.Error(), "expected initial-response") {
					hint = " (the endpoint does not speak the SubscribeToShard event stream the AWS SDK needs; kinesis-local and kinesalite don't: use consumer = \"polling\" with them)"
				}
				res.err = fmt.Errorf("%w: SubscribeToShard on stream %s shard %s: %v%s", ErrKinesis, w.s.cfg.Name, w.id, err, hint)
				return res
			case errors.As(err, &nf):
				if w.gone(fetch, err) {
					// Trimmed from the stream: its children need not wait.
					res.gone = true
					return res
				}
				// The consumer is gone: look it up again, registering it if
				// it was deleted.
				cons.forget(arn)
			}
			d := retryBackoff(attempt)
			w.s.h.stats.retries.Add(1)
			w.log.Warn("SubscribeToShard failed; retrying", "attempt", attempt, "retry_in", d, "position", string(pos.typ), "after", pos.seq, "error", err)
			attempt++
			if sleepCtx(fetch, d) != nil {
				return res
			}
			continue
		}
		if !started {
			started = true
			w.lifecycle(deliver, shared.LifecycleRequest{Event: shared.EventShardStarted, Position: string(start.typ), StartAfter: start.seq})
		}
		out := w.readSubscription(fetch, deliver, sub, &cont)
		switch {
		case out.err != nil || out.stop:
			res.err, res.stop = out.err, out.stop && out.err == nil && deliver.Err() == nil
			return res
		case fetch.Err() != nil:
			return res
		case out.ended:
			w.lifecycle(deliver, shared.LifecycleRequest{Event: shared.EventShardEnded})
			return w.endShard(deliver, out.children, "shard read to its end; SHARD_END stored", "children", len(out.children))
		}
		if out.events > 0 {
			attempt = 1
		}
		if out.streamErr == nil {
			// The subscription's lifetime ended (or the connection closed
			// between two events): carry on from the continuation.
			w.log.Debug("subscription ended; resubscribing", "events", out.events, "after", cont)
			continue
		}
		if efoClass(out.streamErr) == errFatal {
			res.err = fmt.Errorf("%w: SubscribeToShard event stream on stream %s shard %s: %v", ErrKinesis, w.s.cfg.Name, w.id, out.streamErr)
			return res
		}
		d := retryBackoff(attempt)
		w.s.h.stats.retries.Add(1)
		w.log.Warn("subscription failed; resubscribing from the continuation sequence number",
			"events", out.events, "after", cont, "attempt", attempt, "retry_in", d, "error", out.streamErr)
		attempt++
		if sleepCtx(fetch, d) != nil {
			return res
		}
	}
}

// subscribe calls SubscribeToShard. Its ctx lives as long as the returned
// stream; the call itself (up to the initial-response) is bounded by
// subscribeTimeout.
func (w *shardWorker) subscribe(fetch context.Context, api EFOAPI, arn string, pos iteratorPosition) (*efoSub, error) {
	sp := &types.StartingPosition{Type: pos.typ}
	switch pos.typ {
	case types.ShardIteratorTypeAfterSequenceNumber, types.ShardIteratorTypeAtSequenceNumber:
		sp.SequenceNumber = aws.String(pos.seq)
	case types.ShardIteratorTypeAtTimestamp:
		sp.Timestamp = aws.Time(pos.ts)
	}
	ctx, cancel := context.WithCancel(fetch)
	timer := time.AfterFunc(subscribeTimeout, cancel)
	out, err := api.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(w.id), StartingPosition: sp},
		ownEventStreamCodec)
	if !timer.Stop() && err == nil {
		err = fmt.Errorf("no initial-response within %s", subscribeTimeout)
	}
	if err != nil {
		if out != nil && out.GetStream() != nil {
			_ = out.GetStream().Close()
		}
		cancel()
		return nil, err
	}
	w.log.Debug("subscribed", "position", string(pos.typ), "after", pos.seq)
	return &efoSub{stream: out.GetStream(), cancel: cancel}, nil
}

// efoSub is one open subscription.
type efoSub struct {
	stream *kinesis.SubscribeToShardEventStream
	cancel context.CancelFunc
}

func (s *efoSub) close() {
	_ = s.stream.Close()
	s.cancel()
}

// subOutcome is how one subscription ended.
type subOutcome struct {
	events    int   // SubscribeToShardEvents handled
	streamErr error // the subscription failed (nil: it ended cleanly)
	ended     bool  // the shard ended; children from the last event
	children  []types.ChildShard
	stop      bool  // the scan must stop (handler asked, or fetch ended mid-page)
	err       error // a failure that stops the scan
}

// efoFirstEventEstimate is the room reserved in the memory budget for a
// subscription's first event, before any event's size is known. Small:
// the reservation is held while the subscription waits for the event
// (seconds on an idle shard), and a bigger event is counted when it comes.
// Later events are estimated at the size of the last (at least
// efoMinEventEstimate).
const (
	efoFirstEventEstimate = 256 << 10
	efoMinEventEstimate   = 64 << 10
)

// readSubscription delivers the records of one subscription's events in
// order, advancing *cont past every event fully delivered, and closes the
// subscription when it returns.
//
// Memory: before taking the next event it reserves room for it in the
// host's budget (the size of the last event), waiting in line with the
// other shards while the budget is spent; meanwhile the event stays
// unread and HTTP/2 flow control holds the sender back. Once the event is
// in, the reservation becomes its real size, and it is given back when
// the event's records are delivered.
func (w *shardWorker) readSubscription(fetch, deliver context.Context, sub *efoSub, cont *string) (out subOutcome) {
	defer sub.close()
	idle := time.NewTimer(efoIdleTimeout)
	defer idle.Stop()
	budget := w.s.h.budget
	est := int64(efoFirstEventEstimate)
	var held int64 // reserved in the budget now
	defer func() { budget.Release(held) }()
	for {
		budget.Release(held)
		held = 0
		g, err := budget.Acquire(fetch, min(est, budget.Limit()), est)
		if err != nil {
			return out
		}
		held = g
		idle.Reset(efoIdleTimeout) // time spent waiting for room is not the server's silence
		var ev types.SubscribeToShardEventStream
		var ok bool
		select {
		case ev, ok = <-sub.stream.Events():
		case <-idle.C:
			out.streamErr = fmt.Errorf("no event for %s; replacing the subscription", efoIdleTimeout)
			return out
		case <-fetch.Done():
			return out
		}
		if !ok {
			out.streamErr = sub.stream.Err()
			return out
		}
		e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			w.log.Debug("ignoring an unknown event stream member", "type", fmt.Sprintf("%T", ev))
			continue
		}
		out.events++
		v := &e.Value
		recs := toWire(v.Records)
		cost := pageBytes(recs, nil)
		budget.Resize(held, cost)
		held = cost
		est = max(cost, efoMinEventEstimate)
		if len(recs) > 0 {
			behind := aws.ToInt64(v.MillisBehindLatest)
			w.s.h.metrics.Lag(w.s.cfg.Name, w.id, time.Duration(behind)*time.Millisecond)
			var stop bool
			var err error
			if w.s.cfg.Deaggregate {
				stop, err = w.deliverAggregated(fetch, deliver, recs, behind)
			} else {
				stop, err = w.deliverPage(fetch, deliver, recs, behind)
			}
			if err != nil || stop {
				out.stop, out.err = stop, err
				return out
			}
			w.lastRead = recs[len(recs)-1].SequenceNumber
		}
		// ChildShards come only at the end of a closed shard, where the
		// continuation sequence number is absent.
		if v.ContinuationSequenceNumber == nil || len(v.ChildShards) > 0 {
			out.ended, out.children = true, v.ChildShards
			return out
		}
		*cont = *v.ContinuationSequenceNumber
		idle.Reset(efoIdleTimeout)
	}
}

// efoClass decides what to do about a failed subscription. A subscription
// can always be resumed from its continuation, so anything that is not
// plainly permanent (access, arguments, KMS key state, an endpoint that
// does not speak the event stream) is retried.
func efoClass(err error) errClass {
	if strings.Contains(err.Error(), "expected initial-response") {
		// "expected initial-response, got SubscribeToShardEvent": the
		// endpoint (kinesis-local, for one) does not speak the protocol.
		return errFatal
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return errRetry // transport, decoding, HTTP/2 resets, timeouts
	}
	switch ae.ErrorCode() {
	case "AccessDeniedException", "KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSOptInRequired",
		"InvalidArgumentException", "ValidationException", "UnrecognizedClientException", "InvalidSignatureException",
		"IncompleteSignature", "MissingAuthenticationToken", "InvalidClientTokenId", "UnknownOperationException":
		return errFatal
	}
	return errRetry
}

// efoConsumer is the registered stream consumer of one stream run, shared
// by its shard workers so that the consumer is looked up (and registered)
// once, not once per shard: the consumer APIs allow 5 to 20 calls per
// second per stream.
type efoConsumer struct {
	sem       chan struct{} // one resolver at a time
	refs      int           // guarded by efoConsumersMu
	streamARN string
	arn       string
}

var (
	efoConsumersMu sync.Mutex
	efoConsumers   = map[*streamRunner]*efoConsumer{}
)

// acquireEFOConsumer returns the consumer shared by s's shard workers. The
// entry is dropped when the last worker releases it (between shard
// generations it may be looked up again: two cheap calls).
func acquireEFOConsumer(s *streamRunner) *efoConsumer {
	efoConsumersMu.Lock()
	defer efoConsumersMu.Unlock()
	c := efoConsumers[s]
	if c == nil {
		c = &efoConsumer{sem: make(chan struct{}, 1)}
		efoConsumers[s] = c
	}
	c.refs++
	return c
}

func releaseEFOConsumer(s *streamRunner) {
	efoConsumersMu.Lock()
	defer efoConsumersMu.Unlock()
	if c := efoConsumers[s]; c != nil {
		if c.refs--; c.refs <= 0 {
			delete(efoConsumers, s)
		}
	}
}

// consumerName is the stream's consumer_name, by default the app name.
func (s *streamRunner) consumerName() string {
	if s.cfg.ConsumerName != "" {
		return s.cfg.ConsumerName
	}
	return s.h.conf().App
}

// forget drops a consumer ARN that Kinesis no longer knows.
func (c *efoConsumer) forget(arn string) {
	c.sem <- struct{}{}
	if c.arn == arn {
		c.arn = ""
	}
	<-c.sem
}

// resolve returns the ACTIVE consumer's ARN: the stream's ARN from
// DescribeStreamSummary, then the consumer by name (DescribeStreamConsumer),
// registered when missing (RegisterStreamConsumer; a concurrent
// registration elsewhere is fine), then waited for until ACTIVE. The host
// never deregisters it. Transient failures are retried until ctx ends.
func (c *efoConsumer) resolve(ctx context.Context, api EFOAPI, s *streamRunner, log hclog.Logger) (string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.arn != "" {
		return c.arn, nil
	}
	name := s.consumerName()
	retry := func(attempt int, what string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) && efoClass(err) == errFatal {
			return fmt.Errorf("%w: %s for stream %s (consumer %q): %v", ErrKinesis, what, s.cfg.Name, name, err)
		}
		d := retryBackoff(attempt)
		s.h.stats.retries.Add(1)
		msg := what + " failed; retrying"
		var lim *types.LimitExceededException
		if errors.As(err, &lim) && what == "RegisterStreamConsumer" {
			msg += " (a stream has at most 20 consumers; deregister unused ones)"
		}
		log.Warn(msg, "consumer", name, "attempt", attempt, "retry_in", d, "error", err)
		return sleepCtx(ctx, d)
	}
	for attempt := 1; c.streamARN == ""; attempt++ {
		out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.cfg.Name)})
		if err == nil && out.StreamDescriptionSummary != nil && aws.ToString(out.StreamDescriptionSummary.StreamARN) != "" {
			c.streamARN = *out.StreamDescriptionSummary.StreamARN
			break
		}
		if err == nil {
			err = errors.New("the response has no StreamARN")
		}
		if err := retry(attempt, "DescribeStreamSummary", err); err != nil {
			return "", err
		}
	}
	registered := false
	for attempt := 1; ; attempt++ {
		d, err := api.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(c.streamARN), ConsumerName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil && d.ConsumerDescription != nil:
			cd := d.ConsumerDescription
			switch cd.ConsumerStatus {
			case types.ConsumerStatusActive:
				c.arn = aws.ToString(cd.ConsumerARN)
				if registered {
					log.Info("enhanced fan-out consumer registered", "consumer", name, "arn", c.arn)
				} else {
					log.Info("using the registered enhanced fan-out consumer", "consumer", name, "arn", c.arn)
				}
				return c.arn, nil
			case types.ConsumerStatusDeleting:
				log.Warn("the enhanced fan-out consumer is being deleted; waiting to register it again", "consumer", name)
			default:
				log.Debug("waiting for the enhanced fan-out consumer to become ACTIVE", "consumer", name, "status", string(cd.ConsumerStatus))
			}
			if err := sleepCtx(ctx, backoffDelay(200*time.Millisecond, 2*time.Second, attempt)); err != nil {
				return "", err
			}
			continue
		case errors.As(err, &nf):
			_, rerr := api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(c.streamARN), ConsumerName: aws.String(name)})
			var inUse *types.ResourceInUseException
			switch {
			case rerr == nil:
				registered = true
				log.Info("registering the enhanced fan-out consumer", "consumer", name, "stream_arn", c.streamARN)
				continue
			case errors.As(rerr, &inUse):
				continue // registered meanwhile by another process: describe it
			}
			err = rerr
			if err := retry(attempt, "RegisterStreamConsumer", err); err != nil {
				return "", err
			}
			continue
		case err == nil:
			err = errors.New("the response has no ConsumerDescription")
		}
		if err := retry(attempt, "DescribeStreamConsumer", err); err != nil {
			return "", err
		}
	}
}
