package kinesisfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
)

// notifier wakes every waiter at the next broadcast.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next broadcast. Take it before
// looking at the state it guards, then wait on it.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}

// consumer is a registered stream consumer.
type consumer struct {
	name, arn string
	stream    string // stream name
	streamARN string
	created   time.Time // the Fake's clock, for ConsumerCreationTimestamp
	activeAt  time.Time // real time it becomes ACTIVE
}

func (c *consumer) status() types.ConsumerStatus {
	if time.Now().Before(c.activeAt) {
		return types.ConsumerStatusCreating
	}
	return types.ConsumerStatusActive
}

func (c *consumer) wire(withStream bool) map[string]any {
	m := map[string]any{
		"ConsumerName":              c.name,
		"ConsumerARN":               c.arn,
		"ConsumerStatus":            string(c.status()),
		"ConsumerCreationTimestamp": epochTime{c.created},
	}
	if withStream {
		m["StreamARN"] = c.streamARN
	}
	return m
}

// RegisterConsumer registers a consumer directly (no HTTP, no fault hooks),
// ACTIVE at once, and returns its ARN: a test's way to have a consumer
// exist before the code under test starts. Errors as for the API:
// *types.ResourceNotFoundException, *types.ResourceInUseException (the
// name is taken), *types.LimitExceededException.
func (fr *Front) RegisterConsumer(stream, name string) (string, error) {
	c, err := fr.register(aws.String(fr.f.StreamARN(stream)), name, 0)
	if err != nil {
		return "", err
	}
	return c.arn, nil
}

// Consumers lists the consumers registered on a stream, by name.
func (fr *Front) Consumers(stream string) []types.Consumer {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var out []types.Consumer
	for _, c := range fr.consumers {
		if c.stream == stream {
			created := c.created
			out = append(out, types.Consumer{ConsumerName: aws.String(c.name), ConsumerARN: aws.String(c.arn),
				ConsumerStatus: c.status(), ConsumerCreationTimestamp: &created})
		}
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].ConsumerName < *out[j].ConsumerName })
	return out
}

var consumerNameOK = streamNameRE // same rule: [a-zA-Z0-9_.-]{1,128}

func (fr *Front) register(streamARN *string, name string, activation time.Duration) (*consumer, error) {
	if streamARN == nil {
		return nil, invalidArg("StreamARN must be provided.")
	}
	if !consumerNameOK.MatchString(name) {
		return nil, invalidArg("ConsumerName %q must match [a-zA-Z0-9_.-]{1,128}.", name)
	}
	f := fr.f
	f.mu.Lock()
	st, err := f.resolve(nil, streamARN)
	var created time.Time
	if err == nil {
		created = f.now()
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	n := 0
	for _, c := range fr.consumers {
		if c.stream != st.name {
			continue
		}
		if c.name == name {
			return nil, &types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
				"Consumer %s, account %s, already exists for stream %s.", name, AccountID, st.arn))}
		}
		n++
	}
	if n >= MaxConsumersPerStream {
		return nil, &types.LimitExceededException{Message: aws.String(fmt.Sprintf(
			"Stream %s under account %s already has %d consumers, the maximum.", st.arn, AccountID, n))}
	}
	c := &consumer{
		name: name, stream: st.name, streamARN: st.arn, created: created,
		arn:      fmt.Sprintf("%s/consumer/%s:%d", st.arn, name, created.Unix()),
		activeAt: time.Now().Add(activation),
	}
	fr.consumers[c.arn] = c
	return c, nil
}

// lookup finds a consumer by ARN, or by stream ARN and name. Call with
// fr.mu held.
func (fr *Front) lookup(streamARN, name, arn *string) (*consumer, error) {
	switch {
	case arn != nil:
		if c, ok := fr.consumers[*arn]; ok && (streamARN == nil || *streamARN == c.streamARN) && (name == nil || *name == c.name) {
			return c, nil
		}
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Consumer %s not found.", *arn))}
	case streamARN != nil && name != nil:
		for _, c := range fr.consumers {
			if c.streamARN == *streamARN && c.name == *name {
				return c, nil
			}
		}
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(
			"Consumer %s under account %s not found for stream %s.", *name, AccountID, *streamARN))}
	}
	return nil, invalidArg("Either ConsumerARN, or StreamARN and ConsumerName, must be provided.")
}

func (fr *Front) registerStreamConsumer(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamARN    *string
		ConsumerName string
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := fr.f.begin(ctx, OpRegisterStreamConsumer, &kinesis.RegisterStreamConsumerInput{StreamARN: req.StreamARN, ConsumerName: &req.ConsumerName}); err != nil {
		return nil, err
	}
	c, err := fr.register(req.StreamARN, req.ConsumerName, fr.cfg.activation)
	if err != nil {
		return nil, err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return map[string]any{"Consumer": c.wire(false)}, nil
}

func (fr *Front) describeStreamConsumer(ctx context.Context, body []byte) (any, error) {
	var req struct{ StreamARN, ConsumerName, ConsumerARN *string }
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := fr.f.begin(ctx, OpDescribeStreamConsumer, &kinesis.DescribeStreamConsumerInput{StreamARN: req.StreamARN, ConsumerName: req.ConsumerName, ConsumerARN: req.ConsumerARN}); err != nil {
		return nil, err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	c, err := fr.lookup(req.StreamARN, req.ConsumerName, req.ConsumerARN)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ConsumerDescription": c.wire(true)}, nil
}

func (fr *Front) listStreamConsumers(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamARN, NextToken *string
		MaxResults           *int32
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := fr.f.begin(ctx, OpListStreamConsumers, &kinesis.ListStreamConsumersInput{StreamARN: req.StreamARN, NextToken: req.NextToken, MaxResults: req.MaxResults}); err != nil {
		return nil, err
	}
	if req.StreamARN == nil {
		return nil, invalidArg("StreamARN must be provided.")
	}
	fr.f.mu.Lock()
	_, err := fr.f.resolve(nil, req.StreamARN)
	fr.f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	limit := 100
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 10000 {
			return nil, invalidArg("MaxResults must be between 1 and 10000.")
		}
		limit = int(*req.MaxResults)
	}
	start := 0
	if req.NextToken != nil {
		n, err := strconv.Atoi(strings.TrimPrefix(*req.NextToken, "kfc1-"))
		if err != nil || !strings.HasPrefix(*req.NextToken, "kfc1-") || n < 0 {
			return nil, invalidArg("NextToken %q is invalid.", *req.NextToken)
		}
		start = n
	}
	fr.mu.Lock()
	var all []*consumer
	for _, c := range fr.consumers {
		if c.streamARN == *req.StreamARN {
			all = append(all, c)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := map[string]any{}
	list := []map[string]any{}
	for i := start; i < len(all) && i < start+limit; i++ {
		list = append(list, all[i].wire(false))
	}
	fr.mu.Unlock()
	out["Consumers"] = list
	if start+limit < len(all) {
		out["NextToken"] = "kfc1-" + strconv.Itoa(start+limit)
	}
	return out, nil
}

func (fr *Front) deregisterStreamConsumer(ctx context.Context, body []byte) (any, error) {
	var req struct{ StreamARN, ConsumerName, ConsumerARN *string }
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := fr.f.begin(ctx, OpDeregisterStreamConsumer, &kinesis.DeregisterStreamConsumerInput{StreamARN: req.StreamARN, ConsumerName: req.ConsumerName, ConsumerARN: req.ConsumerARN}); err != nil {
		return nil, err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	c, err := fr.lookup(req.StreamARN, req.ConsumerName, req.ConsumerARN)
	if err != nil {
		return nil, err
	}
	delete(fr.consumers, c.arn)
	for k, s := range fr.subs {
		if k.consumer == c.arn {
			s.end(errConsumerGone)
		}
	}
	return map[string]any{}, nil
}

// Subscription faults.

// ErrDropConnection, returned by a subscription fault hook, closes the
// subscription's TCP connection (and so every request on it), like a
// network failure.
var ErrDropConnection = errors.New("kinesisfake: drop the connection")

// ErrResetStream, returned by a subscription fault hook, resets the
// subscription's HTTP/2 stream only (RST_STREAM), leaving the connection.
var ErrResetStream = errors.New("kinesisfake: reset the HTTP/2 stream")

// errConsumerGone ends the subscriptions of a deregistered consumer.
var errConsumerGone = &types.ResourceNotFoundException{Message: aws.String("The consumer was deregistered.")}

// SubscriptionInfo describes a subscription to subscription fault hooks.
type SubscriptionInfo struct {
	Serial      int // 1 for the front's first successful SubscribeToShard, and so on
	ConsumerARN string
	Stream      string
	ShardID     string
	Events      int // SubscribeToShardEvents sent on it so far (not counting initial-response)
	Records     int // records sent on it so far
	Pending     int // records in the event about to be sent
}

// SubscriptionFaultFunc runs before each SubscribeToShardEvent of every
// subscription. Returning nil sends the event. Returning an AWS API error
// (such as [Internal], or &types.ResourceInUseException{...}) sends it as
// an exception event instead and ends the subscription, as Kinesis does;
// [ErrDropConnection] or [ErrResetStream] end it like a network failure;
// any other error is sent as an InternalFailureException event. It may run
// on several goroutines at once.
type SubscriptionFaultFunc func(SubscriptionInfo) error

type subHook struct {
	id uint64
	fn SubscriptionFaultFunc
}

// InjectSubscriptionFault adds a subscription fault hook; the returned
// function removes it.
func (fr *Front) InjectSubscriptionFault(fn SubscriptionFaultFunc) (remove func()) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.hookID++
	id := fr.hookID
	hooks := make([]subHook, len(fr.hooks), len(fr.hooks)+1)
	copy(hooks, fr.hooks)
	fr.hooks = append(hooks, subHook{id: id, fn: fn})
	return func() {
		fr.mu.Lock()
		defer fr.mu.Unlock()
		kept := make([]subHook, 0, len(fr.hooks))
		for _, h := range fr.hooks {
			if h.id != id {
				kept = append(kept, h)
			}
		}
		fr.hooks = kept
	}
}

// FailSubscriptions ends the subscriptions numbered in serials (see
// SubscriptionInfo.Serial) with the error mk makes, once each has sent at
// least afterRecords records and the next event has records to send.
func (fr *Front) FailSubscriptions(afterRecords int, mk func() error, serials ...int) (remove func()) {
	want := map[int]bool{}
	for _, s := range serials {
		want[s] = true
	}
	return fr.InjectSubscriptionFault(func(si SubscriptionInfo) error {
		if want[si.Serial] && si.Records >= afterRecords && si.Pending > 0 {
			return mk()
		}
		return nil
	})
}

// Subscriptions.

type subKey struct{ consumer, shard string }

type subscription struct {
	serial int
	key    subKey
	stream string

	mu    sync.Mutex
	ended chan struct{}
	why   error // the exception to send when ended from outside
}

// end asks the subscription to finish with an exception event.
func (s *subscription) end(why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.ended:
	default:
		s.why = why
		close(s.ended)
	}
}

func (s *subscription) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

func (fr *Front) subscribeToShard(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		ConsumerARN, ShardId *string
		StartingPosition     *struct {
			Type           string
			SequenceNumber *string
			Timestamp      *epochTime
		}
	}
	if err := decode(body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	in := &kinesis.SubscribeToShardInput{ConsumerARN: req.ConsumerARN, ShardId: req.ShardId}
	if sp := req.StartingPosition; sp != nil {
		in.StartingPosition = &types.StartingPosition{Type: types.ShardIteratorType(sp.Type), SequenceNumber: sp.SequenceNumber, Timestamp: sp.Timestamp.ptr()}
	}
	if err := fr.f.begin(r.Context(), OpSubscribeToShard, in); err != nil {
		writeError(w, r, err)
		return
	}
	sub, pos, err := fr.openSubscription(in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer fr.closeSubscription(sub)
	fr.serve(w, r, sub, pos)
}

// openSubscription checks a SubscribeToShard call and registers the
// subscription. pos is the record index it starts at.
func (fr *Front) openSubscription(in *kinesis.SubscribeToShardInput) (*subscription, int, error) {
	if in.ConsumerARN == nil || in.ShardId == nil || in.StartingPosition == nil {
		return nil, 0, invalidArg("ConsumerARN, ShardId and StartingPosition must be provided.")
	}
	select {
	case <-fr.closing:
		return nil, 0, &types.InternalFailureException{Message: aws.String("kinesisfake: the server is shutting down.")}
	default:
	}
	fr.mu.Lock()
	c, err := fr.lookup(nil, nil, in.ConsumerARN)
	var stream string
	active := false
	if err == nil {
		stream, active = c.stream, c.status() == types.ConsumerStatusActive
	}
	fr.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if !active {
		fr.count(func(s *FrontStats) { s.RejectedInUse++ })
		return nil, 0, &types.ResourceInUseException{Message: aws.String(fmt.Sprintf("Consumer %s is not in ACTIVE state.", *in.ConsumerARN))}
	}
	sp := in.StartingPosition
	it, err := fr.f.getShardIterator(&kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: in.ShardId, ShardIteratorType: sp.Type,
		StartingSequenceNumber: sp.SequenceNumber, Timestamp: sp.Timestamp,
	})
	if err != nil {
		return nil, 0, err
	}
	dec, ok := decodeIterator(aws.ToString(it.ShardIterator))
	if !ok {
		return nil, 0, &types.InternalFailureException{Message: aws.String("kinesisfake: bad internal iterator")}
	}

	key := subKey{consumer: *in.ConsumerARN, shard: *in.ShardId}
	now := time.Now()
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if last, ok := fr.lastSub[key]; ok && fr.cfg.gap > 0 && now.Sub(last) < fr.cfg.gap {
		fr.stats.RejectedInUse++
		return nil, 0, &types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
			"Another active subscription exists for consumer %s on shard %s (SubscribeToShard was called less than %s ago).",
			key.consumer, key.shard, fr.cfg.gap))}
	}
	if old := fr.subs[key]; old != nil {
		fr.stats.TakenOver++
		old.end(&types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
			"Subscription to shard %s for consumer %s was taken over by a newer subscription.", key.shard, key.consumer))})
	}
	fr.lastSub[key] = now
	fr.serial++
	fr.stats.Subscriptions++
	sub := &subscription{serial: fr.serial, key: key, stream: stream, ended: make(chan struct{})}
	fr.subs[key] = sub
	return sub, dec.pos, nil
}

func (fr *Front) closeSubscription(sub *subscription) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.subs[sub.key] == sub {
		delete(fr.subs, sub.key)
	}
}

func (fr *Front) count(fn func(*FrontStats)) {
	fr.mu.Lock()
	fn(&fr.stats)
	fr.mu.Unlock()
}

// eventBatch is what the next SubscribeToShardEvent carries.
type eventBatch struct {
	records  []wireRecord
	next     int    // record index after them
	cont     string // continuation sequence number ("" at the end)
	behind   int64
	pending  bool // more records are waiting
	atEnd    bool // the shard is closed and read to its end
	children []wireChildShard
}

// read takes the records from pos on, for one event.
func (fr *Front) read(stream, shardID string, pos int) (eventBatch, error) {
	f := fr.f
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(stream)
	if err != nil {
		return eventBatch{}, err
	}
	sh, err := st.shard(shardID)
	if err != nil {
		return eventBatch{}, err
	}
	end, size := pos, 0
	for end < len(sh.records) && end-pos < maxEventRecords {
		r := &sh.records[end]
		n := len(r.data) + len(r.pk)
		if end > pos && size+n > maxEventBytes {
			break
		}
		size += n
		end++
	}
	b := eventBatch{next: end, records: make([]wireRecord, 0, end-pos)}
	for i := pos; i < end; i++ {
		r := &sh.records[i]
		data := r.data // never changed once stored
		if data == nil {
			data = []byte{}
		}
		b.records = append(b.records, wireRecord{SequenceNumber: r.seq, ApproximateArrivalTimestamp: epochTime{r.at}, Data: data, PartitionKey: r.pk})
	}
	if end > 0 {
		b.cont = sh.records[end-1].seq
	} else {
		b.cont = sh.startSeq
	}
	if end < len(sh.records) {
		b.pending = true
		// Only with records waiting: reading the clock wakes the other
		// subscriptions.
		b.behind = max(0, f.now().Sub(sh.records[end].at).Milliseconds())
	}
	if !sh.open() && end == len(sh.records) {
		if f.SeparateShardEnd && end > pos {
			b.pending = true // the end comes in the next event
		} else {
			b.atEnd = true
			b.cont = ""
			b.children = toWireChildShards(st.childShards(sh))
		}
	}
	return b, nil
}

// serve writes the event stream of one subscription until it ends.
func (fr *Front) serve(w http.ResponseWriter, r *http.Request, sub *subscription, pos int) {
	rc := http.NewResponseController(w)
	enc := eventstream.NewEncoder()
	send := func(msg eventstream.Message) error {
		if err := enc.Encode(w, msg); err != nil {
			return err
		}
		return rc.Flush()
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	if err := send(eventMessage("initial-response", []byte("{}"))); err != nil {
		return
	}

	lifetime := time.NewTimer(fr.cfg.lifetime)
	defer lifetime.Stop()
	heartbeat := time.NewTimer(fr.cfg.heartbeat)
	defer heartbeat.Stop()
	info := SubscriptionInfo{Serial: sub.serial, ConsumerARN: sub.key.consumer, Stream: sub.stream, ShardID: sub.key.shard}
	beat := false
	for {
		select {
		case <-r.Context().Done():
			return
		case <-fr.closing:
			return
		case <-sub.ended:
			_ = send(exceptionMessage(sub.reason()))
			return
		case <-lifetime.C:
			fr.count(func(s *FrontStats) { s.Expired++ })
			return
		default:
		}
		wake := fr.changed.wait()
		b, err := fr.read(sub.stream, sub.key.shard, pos)
		if err != nil {
			_ = send(exceptionMessage(err))
			return
		}
		if len(b.records) > 0 || b.atEnd || beat {
			beat = false
			info.Pending = len(b.records)
			if err := fr.fault(info); err != nil {
				fr.count(func(s *FrontStats) { s.Faulted++ })
				switch {
				case errors.Is(err, ErrDropConnection):
					drop(r)
				case errors.Is(err, ErrResetStream):
					panic(http.ErrAbortHandler)
				default:
					_ = send(exceptionMessage(err))
				}
				return
			}
			// Counted first, so that a client that got the event sees it in
			// Stats.
			fr.count(func(s *FrontStats) {
				s.Events++
				if len(b.records) == 0 && !b.atEnd {
					s.Heartbeats++
				}
			})
			if err := send(eventMessage("SubscribeToShardEvent", encodeEvent(b))); err != nil {
				return
			}
			pos = b.next
			info.Events++
			info.Records += len(b.records)
			heartbeat.Reset(fr.cfg.heartbeat)
			if b.atEnd {
				return
			}
			if b.pending {
				continue
			}
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			beat = true
		case <-lifetime.C:
			fr.count(func(s *FrontStats) { s.Expired++ })
			return
		case <-sub.ended:
			_ = send(exceptionMessage(sub.reason()))
			return
		case <-r.Context().Done():
			return
		case <-fr.closing:
			return
		}
	}
}

// fault runs the subscription fault hooks.
func (fr *Front) fault(info SubscriptionInfo) error {
	fr.mu.Lock()
	hooks := fr.hooks
	fr.mu.Unlock()
	for _, h := range hooks {
		if err := h.fn(info); err != nil {
			return err
		}
	}
	return nil
}

func encodeEvent(b eventBatch) []byte {
	ev := struct {
		Records                    []wireRecord
		ContinuationSequenceNumber *string `json:",omitempty"`
		MillisBehindLatest         int64
		ChildShards                []wireChildShard `json:",omitempty"`
	}{Records: b.records, MillisBehindLatest: b.behind, ChildShards: b.children}
	if !b.atEnd {
		ev.ContinuationSequenceNumber = aws.String(b.cont)
	}
	buf, _ := json.Marshal(ev)
	return buf
}

func eventMessage(eventType string, payload []byte) eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue(eventType))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	m.Payload = payload
	return m
}

// exceptionMessage encodes err as an exception event. Errors that are not
// AWS API errors become InternalFailureException.
func exceptionMessage(err error) eventstream.Message {
	code, msg := "InternalFailureException", "kinesisfake: "+fmt.Sprint(err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	payload, _ := json.Marshal(map[string]string{"message": msg})
	var m eventstream.Message
	m.Headers.Set(eventstream.ExceptionTypeHeader, eventstream.StringValue(code))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.ExceptionMessageType))
	m.Payload = payload
	return m
}
