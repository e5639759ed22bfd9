package kinesisfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// Names of the operations only the HTTP front serves (see [Fake.Handler]).
// They are counted by [Fake.Calls] and passed to fault hooks like the
// others, so FailNext(OpSubscribeToShard, 2, LimitExceeded) makes the next
// two SubscribeToShard calls fail with an HTTP error response.
const (
	OpDescribeStreamSummary    = "DescribeStreamSummary"
	OpRegisterStreamConsumer   = "RegisterStreamConsumer"
	OpDescribeStreamConsumer   = "DescribeStreamConsumer"
	OpListStreamConsumers      = "ListStreamConsumers"
	OpDeregisterStreamConsumer = "DeregisterStreamConsumer"
	OpPutRecord                = "PutRecord"
	OpPutRecords               = "PutRecords"
	OpSubscribeToShard         = "SubscribeToShard"
)

// targetPrefix is the X-Amz-Target prefix of Kinesis Data Streams.
const targetPrefix = "Kinesis_20131202."

// Front serves a Fake over HTTP: the Kinesis JSON 1.1 protocol
// (POST /, X-Amz-Target: Kinesis_20131202.<Op>) for ListShards,
// GetShardIterator, GetRecords, DescribeStreamSummary, PutRecord,
// PutRecords, RegisterStreamConsumer, DescribeStreamConsumer,
// ListStreamConsumers and DeregisterStreamConsumer, and SubscribeToShard as
// an AWS event stream (application/vnd.amazon.eventstream). Errors have the
// real wire shape ({"__type": "...", "message": "..."}), so the AWS SDK
// turns them into the typed exceptions of service/kinesis/types.
//
// Make one with [Fake.Handler], or get a ready TLS + HTTP/2 server with
// [NewServer]. Requests are not authenticated; signatures are ignored.
//
// Enhanced fan-out is modelled on AWS:
//
//   - Consumers are registered per stream (at most 20), start CREATING and
//     become ACTIVE after the consumer activation delay
//     ([WithConsumerActivation]). SubscribeToShard on a consumer that is
//     not ACTIVE gives ResourceInUseException.
//   - SubscribeToShard answers with an initial-response event, then pushes a
//     SubscribeToShardEvent as soon as records are written to the shard
//     (through this front or the Fake's Go methods; no polling), an empty
//     one every heartbeat ([WithHeartbeat], default 5 s) while nothing
//     happens, and ends the stream cleanly after the subscription lifetime
//     ([WithSubscriptionLifetime], default 5 minutes).
//   - ContinuationSequenceNumber is where to resume with
//     AFTER_SEQUENCE_NUMBER. At the end of a closed shard the last event has
//     no ContinuationSequenceNumber and carries ChildShards (with
//     SeparateShardEnd, the records come in one event and the end in the
//     next), then the stream ends.
//   - A second SubscribeToShard for the same consumer and shard within the
//     resubscribe gap ([WithResubscribeGap], default 5 s) of a successful one
//     gives ResourceInUseException; a later one takes over and the older
//     subscription ends with a ResourceInUseException event.
//   - Subscription faults ([Front.InjectSubscriptionFault]) end a
//     subscription mid-stream with an exception event, a dropped TCP
//     connection or a reset HTTP/2 stream.
//
// Waiting (activation, heartbeats, lifetimes, the resubscribe gap) uses
// real time, not the Fake's Now. Arrival timestamps and MillisBehindLatest
// use the Fake's clock as usual.
//
// To see writes at once, a Front wraps the Fake's Now function (every
// write reads the clock with the lock held); set f.Now before calling
// [Fake.Handler] or [NewServer]. A Now replaced later still works, but new
// records are then only seen at the next heartbeat.
type Front struct {
	f       *Fake
	cfg     frontConfig
	changed *notifier
	closing chan struct{}
	once    sync.Once

	mu        sync.Mutex
	consumers map[string]*consumer // by ARN
	subs      map[subKey]*subscription
	lastSub   map[subKey]time.Time // last successful SubscribeToShard
	hooks     []subHook
	hookID    uint64
	serial    int
	stats     FrontStats
}

// FrontStats counts what a Front did, for assertions.
type FrontStats struct {
	Requests      int // HTTP requests served
	HTTP2Requests int // of which over HTTP/2
	Subscriptions int // successful SubscribeToShard calls
	Active        int // subscriptions open now
	RejectedInUse int // SubscribeToShard calls refused with ResourceInUseException
	TakenOver     int // subscriptions ended because a newer one took over
	Expired       int // subscriptions ended by their lifetime
	Faulted       int // subscriptions ended by an injected subscription fault
	Events        int // SubscribeToShardEvents sent (not counting initial-response)
	Heartbeats    int // of which empty heartbeats
}

type frontConfig struct {
	lifetime   time.Duration
	gap        time.Duration
	heartbeat  time.Duration
	activation time.Duration
}

// FrontOption configures a Front.
type FrontOption func(*frontConfig)

// Defaults of the enhanced fan-out model, as on AWS.
const (
	DefaultSubscriptionLifetime = 5 * time.Minute
	DefaultResubscribeGap       = 5 * time.Second
	DefaultHeartbeat            = 5 * time.Second
	DefaultConsumerActivation   = 100 * time.Millisecond
	// MaxConsumersPerStream is how many consumers RegisterStreamConsumer
	// allows per stream before LimitExceededException.
	MaxConsumersPerStream = 20
	// maxEventBytes caps the data plus partition keys of one
	// SubscribeToShardEvent (at least one record is always sent).
	maxEventBytes   = 1 << 20
	maxEventRecords = 10000
)

// WithSubscriptionLifetime sets how long a subscription lasts before the
// front ends it cleanly (AWS: 5 minutes).
func WithSubscriptionLifetime(d time.Duration) FrontOption {
	return func(c *frontConfig) { c.lifetime = d }
}

// WithResubscribeGap sets how soon after a successful SubscribeToShard
// another one for the same consumer and shard is refused with
// ResourceInUseException (AWS: 5 s). Zero turns the rule off.
func WithResubscribeGap(d time.Duration) FrontOption {
	return func(c *frontConfig) { c.gap = d }
}

// WithHeartbeat sets how often an empty SubscribeToShardEvent is sent on an
// idle subscription (default 5 s).
func WithHeartbeat(d time.Duration) FrontOption {
	return func(c *frontConfig) { c.heartbeat = d }
}

// WithConsumerActivation sets how long a registered consumer stays
// CREATING before it is ACTIVE (default 100 ms). Zero makes consumers
// ACTIVE at once.
func WithConsumerActivation(d time.Duration) FrontOption {
	return func(c *frontConfig) { c.activation = d }
}

// Handler returns an HTTP front for f; see [Front]. Each call makes an
// independent front with its own consumers and subscriptions.
func (f *Fake) Handler(opts ...FrontOption) *Front {
	cfg := frontConfig{
		lifetime:   DefaultSubscriptionLifetime,
		gap:        DefaultResubscribeGap,
		heartbeat:  DefaultHeartbeat,
		activation: DefaultConsumerActivation,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.lifetime <= 0 {
		cfg.lifetime = DefaultSubscriptionLifetime
	}
	if cfg.heartbeat <= 0 {
		cfg.heartbeat = DefaultHeartbeat
	}
	fr := &Front{
		f:         f,
		cfg:       cfg,
		changed:   &notifier{},
		closing:   make(chan struct{}),
		consumers: map[string]*consumer{},
		subs:      map[subKey]*subscription{},
		lastSub:   map[subKey]time.Time{},
	}
	// Every change to the Fake's data (a record, a split, a merge, a
	// stream) reads the clock with the lock held: hook that to wake
	// subscriptions. Reads wake them too; they check and sleep again.
	f.mu.Lock()
	orig := f.Now
	if orig == nil {
		orig = time.Now
	}
	f.Now = func() time.Time {
		fr.changed.broadcast()
		return orig()
	}
	f.mu.Unlock()
	return fr
}

// Close ends every open subscription (so that an http.Server can shut
// down) and refuses new ones. Safe to call more than once.
func (fr *Front) Close() {
	fr.once.Do(func() { close(fr.closing) })
}

// Stats returns the front's counters.
func (fr *Front) Stats() FrontStats {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	s := fr.stats
	s.Active = len(fr.subs)
	return s
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets the front drop a
// request's TCP connection to simulate a network failure. Without it, a
// dropped connection is simulated by aborting the request (an HTTP/2
// stream reset).
func (fr *Front) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// drop ends the request like a network failure: the TCP connection is
// closed when ConnContext is in use, else the request is aborted.
func drop(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		_ = c.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// Server is a Front served over TLS with HTTP/2, as Kinesis is.
type Server struct {
	*httptest.Server
	Front *Front
}

// NewServer starts an HTTPS server with HTTP/2 for f; see [Front]. Close
// it when done (it ends open subscriptions first).
func NewServer(f *Fake, opts ...FrontOption) *Server {
	fr := f.Handler(opts...)
	ts := httptest.NewUnstartedServer(fr)
	ts.EnableHTTP2 = true
	ts.Config.ConnContext = fr.ConnContext
	ts.Config.ErrorLog = nil
	ts.StartTLS()
	return &Server{Server: ts, Front: fr}
}

// Close ends open subscriptions, then shuts the server down.
func (s *Server) Close() {
	s.Front.Close()
	s.Server.Close()
}

// KinesisClient returns an AWS SDK client for the server: region
// us-east-1, static dummy credentials, the server's URL as BaseEndpoint,
// the server's TLS client (so HTTP/2 is negotiated) and no SDK retries
// (the caller owns retries, as the host does). optFns may change any of it.
func (s *Server) KinesisClient(optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDKINESISFAKE", "kinesisfake-secret", ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.Client(),
		Retryer:      aws.NopRetryer{},
	}, optFns...)
}

// ServeHTTP implements http.Handler.
func (fr *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	fr.stats.Requests++
	if r.ProtoMajor == 2 {
		fr.stats.HTTP2Requests++
	}
	fr.mu.Unlock()
	w.Header().Set("X-Amzn-Requestid", requestID())
	if r.Method != http.MethodPost {
		writeError(w, r, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: "Only POST is supported.", Fault: smithy.FaultClient})
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok {
		writeError(w, r, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: "Missing or unknown X-Amz-Target.", Fault: smithy.FaultClient})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return // the client went away
	}
	if op == OpSubscribeToShard {
		fr.subscribeToShard(w, r, body)
		return
	}
	h, ok := jsonOps[op]
	if !ok {
		writeError(w, r, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: "Operation " + op + " is not served by kinesisfake.", Fault: smithy.FaultClient})
		return
	}
	out, err := h(fr, r.Context(), body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	buf, err := json.Marshal(out)
	if err != nil {
		writeError(w, r, &types.InternalFailureException{Message: aws.String("kinesisfake: encode response: " + err.Error())})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	_, _ = w.Write(buf)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeError answers with the error shape AWS uses. An error that is not
// an AWS API error (such as ConnReset from a fault hook) drops the
// connection instead.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		drop(r)
		return
	}
	status := http.StatusBadRequest
	if ae.ErrorFault() == smithy.FaultServer {
		status = http.StatusInternalServerError
	}
	buf, _ := json.Marshal(map[string]string{"__type": ae.ErrorCode(), "message": ae.ErrorMessage()})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", ae.ErrorCode())
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

// decode reads a JSON request body into v.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &smithy.GenericAPIError{Code: "SerializationException", Message: "kinesisfake: cannot decode request: " + err.Error(), Fault: smithy.FaultClient}
	}
	return nil
}

// epochTime is a timestamp on the wire: seconds since the epoch as a JSON
// number (a string in RFC 3339 is accepted too).
type epochTime struct{ time.Time }

func (t epochTime) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', 3, 64), nil
}

func (t *epochTime) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		t.Time = v
		return nil
	}
	f, ok := new(big.Float).SetString(string(b))
	if !ok {
		return fmt.Errorf("timestamp %s is not a number", b)
	}
	ms, _ := new(big.Float).Mul(f, big.NewFloat(1000)).Int64()
	t.Time = time.UnixMilli(ms).UTC()
	return nil
}

func (t *epochTime) ptr() *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// Wire shapes of responses. Optional members are pointers with omitempty.

type wireHashKeyRange struct {
	StartingHashKey string
	EndingHashKey   string
}

type wireSeqRange struct {
	StartingSequenceNumber string
	EndingSequenceNumber   *string `json:",omitempty"`
}

type wireShard struct {
	ShardId               string
	ParentShardId         *string `json:",omitempty"`
	AdjacentParentShardId *string `json:",omitempty"`
	HashKeyRange          wireHashKeyRange
	SequenceNumberRange   wireSeqRange
}

type wireChildShard struct {
	ShardId      string
	ParentShards []string
	HashKeyRange wireHashKeyRange
}

type wireRecord struct {
	SequenceNumber              string
	ApproximateArrivalTimestamp epochTime
	Data                        []byte
	PartitionKey                string
}

func toWireHashKeyRange(h *types.HashKeyRange) wireHashKeyRange {
	if h == nil {
		return wireHashKeyRange{}
	}
	return wireHashKeyRange{StartingHashKey: aws.ToString(h.StartingHashKey), EndingHashKey: aws.ToString(h.EndingHashKey)}
}

func toWireShards(in []types.Shard) []wireShard {
	out := make([]wireShard, len(in))
	for i, s := range in {
		out[i] = wireShard{
			ShardId:               aws.ToString(s.ShardId),
			ParentShardId:         s.ParentShardId,
			AdjacentParentShardId: s.AdjacentParentShardId,
			HashKeyRange:          toWireHashKeyRange(s.HashKeyRange),
		}
		if r := s.SequenceNumberRange; r != nil {
			out[i].SequenceNumberRange = wireSeqRange{StartingSequenceNumber: aws.ToString(r.StartingSequenceNumber), EndingSequenceNumber: r.EndingSequenceNumber}
		}
	}
	return out
}

func toWireChildShards(in []types.ChildShard) []wireChildShard {
	if len(in) == 0 {
		return nil
	}
	out := make([]wireChildShard, len(in))
	for i, c := range in {
		out[i] = wireChildShard{ShardId: aws.ToString(c.ShardId), ParentShards: c.ParentShards, HashKeyRange: toWireHashKeyRange(c.HashKeyRange)}
	}
	return out
}

func toWireRecords(in []types.Record) []wireRecord {
	out := make([]wireRecord, len(in))
	for i, r := range in {
		out[i] = wireRecord{SequenceNumber: aws.ToString(r.SequenceNumber), Data: r.Data, PartitionKey: aws.ToString(r.PartitionKey)}
		if out[i].Data == nil {
			out[i].Data = []byte{}
		}
		if r.ApproximateArrivalTimestamp != nil {
			out[i].ApproximateArrivalTimestamp = epochTime{*r.ApproximateArrivalTimestamp}
		}
	}
	return out
}

type jsonOp func(fr *Front, ctx context.Context, body []byte) (any, error)

var jsonOps map[string]jsonOp

func init() {
	jsonOps = map[string]jsonOp{
		OpListShards:               (*Front).listShards,
		OpGetShardIterator:         (*Front).getShardIterator,
		OpGetRecords:               (*Front).getRecords,
		OpDescribeStreamSummary:    (*Front).describeStreamSummary,
		OpPutRecord:                (*Front).putRecord,
		OpPutRecords:               (*Front).putRecords,
		OpRegisterStreamConsumer:   (*Front).registerStreamConsumer,
		OpDescribeStreamConsumer:   (*Front).describeStreamConsumer,
		OpListStreamConsumers:      (*Front).listStreamConsumers,
		OpDeregisterStreamConsumer: (*Front).deregisterStreamConsumer,
	}
}

func (fr *Front) listShards(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamName, StreamARN, NextToken, ExclusiveStartShardId *string
		MaxResults                                              *int32
		StreamCreationTimestamp                                 *epochTime
		ShardFilter                                             *struct {
			Type      string
			ShardId   *string
			Timestamp *epochTime
		}
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	in := &kinesis.ListShardsInput{
		StreamName: req.StreamName, StreamARN: req.StreamARN, NextToken: req.NextToken,
		ExclusiveStartShardId: req.ExclusiveStartShardId, MaxResults: req.MaxResults,
		StreamCreationTimestamp: req.StreamCreationTimestamp.ptr(),
	}
	if sf := req.ShardFilter; sf != nil {
		in.ShardFilter = &types.ShardFilter{Type: types.ShardFilterType(sf.Type), ShardId: sf.ShardId, Timestamp: sf.Timestamp.ptr()}
	}
	out, err := fr.f.ListShards(ctx, in)
	if err != nil {
		return nil, err
	}
	return struct {
		Shards    []wireShard
		NextToken *string `json:",omitempty"`
	}{toWireShards(out.Shards), out.NextToken}, nil
}

func (fr *Front) getShardIterator(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamName, StreamARN, ShardId, StartingSequenceNumber *string
		ShardIteratorType                                      string
		Timestamp                                              *epochTime
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	out, err := fr.f.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: req.StreamName, StreamARN: req.StreamARN, ShardId: req.ShardId,
		ShardIteratorType: types.ShardIteratorType(req.ShardIteratorType), StartingSequenceNumber: req.StartingSequenceNumber,
		Timestamp: req.Timestamp.ptr(),
	})
	if err != nil {
		return nil, err
	}
	return struct{ ShardIterator *string }{out.ShardIterator}, nil
}

func (fr *Front) getRecords(ctx context.Context, body []byte) (any, error) {
	var req struct {
		ShardIterator, StreamARN *string
		Limit                    *int32
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	out, err := fr.f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: req.ShardIterator, StreamARN: req.StreamARN, Limit: req.Limit})
	if err != nil {
		return nil, err
	}
	return struct {
		Records            []wireRecord
		NextShardIterator  *string          `json:",omitempty"`
		MillisBehindLatest *int64           `json:",omitempty"`
		ChildShards        []wireChildShard `json:",omitempty"`
	}{toWireRecords(out.Records), out.NextShardIterator, out.MillisBehindLatest, toWireChildShards(out.ChildShards)}, nil
}

func (fr *Front) describeStreamSummary(ctx context.Context, body []byte) (any, error) {
	var req struct{ StreamName, StreamARN *string }
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	in := &kinesis.DescribeStreamSummaryInput{StreamName: req.StreamName, StreamARN: req.StreamARN}
	if err := fr.f.begin(ctx, OpDescribeStreamSummary, in); err != nil {
		return nil, err
	}
	f := fr.f
	f.mu.Lock()
	st, err := f.resolve(req.StreamName, req.StreamARN)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	open := 0
	for _, sh := range st.shards {
		if sh.open() {
			open++
		}
	}
	name, arn, created := st.name, st.arn, st.created
	f.mu.Unlock()
	fr.mu.Lock()
	consumers := 0
	for _, c := range fr.consumers {
		if c.stream == name {
			consumers++
		}
	}
	fr.mu.Unlock()
	type metrics struct{ ShardLevelMetrics []string }
	return map[string]any{"StreamDescriptionSummary": map[string]any{
		"StreamName":              name,
		"StreamARN":               arn,
		"StreamStatus":            "ACTIVE",
		"StreamModeDetails":       map[string]string{"StreamMode": "PROVISIONED"},
		"RetentionPeriodHours":    24,
		"StreamCreationTimestamp": epochTime{created},
		"EnhancedMonitoring":      []metrics{{ShardLevelMetrics: []string{}}},
		"EncryptionType":          "NONE",
		"OpenShardCount":          open,
		"ConsumerCount":           consumers,
	}}, nil
}

// streamName resolves a StreamName/StreamARN pair to a stream name.
func (fr *Front) streamName(name, arn *string) (string, error) {
	fr.f.mu.Lock()
	defer fr.f.mu.Unlock()
	st, err := fr.f.resolve(name, arn)
	if err != nil {
		return "", err
	}
	return st.name, nil
}

// put writes one record, routed by ExplicitHashKey when given.
func (fr *Front) put(name, pk string, ehk *string, data []byte) (shardID, seq string, err error) {
	if ehk == nil {
		return fr.f.PutRecord(name, pk, data)
	}
	if err := checkRecord(pk, data); err != nil {
		return "", "", err
	}
	key, ok := new(big.Int).SetString(*ehk, 10)
	if !ok || key.Sign() < 0 || key.Cmp(maxHashKey) > 0 {
		return "", "", invalidArg("ExplicitHashKey %q must be a decimal integer from 0 to 2^128-1.", *ehk)
	}
	f := fr.f
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(name)
	if err != nil {
		return "", "", err
	}
	for _, sh := range st.shards {
		if sh.open() && sh.startKey.Cmp(key) <= 0 && key.Cmp(sh.endKey) <= 0 {
			return sh.id, f.appendRecord(sh, pk, data), nil
		}
	}
	return "", "", &types.InternalFailureException{Message: aws.String("kinesisfake: no open shard covers hash key " + key.String())}
}

func (fr *Front) putRecord(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamName, StreamARN, ExplicitHashKey, SequenceNumberForOrdering *string
		PartitionKey                                                      string
		Data                                                              []byte
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	in := &kinesis.PutRecordInput{StreamName: req.StreamName, StreamARN: req.StreamARN, PartitionKey: &req.PartitionKey,
		ExplicitHashKey: req.ExplicitHashKey, SequenceNumberForOrdering: req.SequenceNumberForOrdering, Data: req.Data}
	if err := fr.f.begin(ctx, OpPutRecord, in); err != nil {
		return nil, err
	}
	name, err := fr.streamName(req.StreamName, req.StreamARN)
	if err != nil {
		return nil, err
	}
	shardID, seq, err := fr.put(name, req.PartitionKey, req.ExplicitHashKey, req.Data)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ShardId": shardID, "SequenceNumber": seq, "EncryptionType": "NONE"}, nil
}

func (fr *Front) putRecords(ctx context.Context, body []byte) (any, error) {
	var req struct {
		StreamName, StreamARN *string
		Records               []struct {
			Data            []byte
			PartitionKey    string
			ExplicitHashKey *string
		}
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	in := &kinesis.PutRecordsInput{StreamName: req.StreamName, StreamARN: req.StreamARN}
	total := 0
	for _, r := range req.Records {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(r.PartitionKey), ExplicitHashKey: r.ExplicitHashKey})
		total += len(r.Data) + len(r.PartitionKey)
	}
	if err := fr.f.begin(ctx, OpPutRecords, in); err != nil {
		return nil, err
	}
	if n := len(req.Records); n < 1 || n > 500 {
		return nil, invalidArg("1 validation error detected: Value '%d' at 'records' failed to satisfy constraint: Member must have length between 1 and 500.", n)
	}
	if total > 5<<20 {
		return nil, invalidArg("Records size %d exceeds the PutRecords limit of 5 MiB.", total)
	}
	for _, r := range req.Records {
		if err := checkRecord(r.PartitionKey, r.Data); err != nil {
			return nil, err
		}
	}
	name, err := fr.streamName(req.StreamName, req.StreamARN)
	if err != nil {
		return nil, err
	}
	type entry struct {
		SequenceNumber, ShardId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedRecordCount int
		Records           []entry
		EncryptionType    string
	}{EncryptionType: "NONE"}
	for _, r := range req.Records {
		shardID, seq, err := fr.put(name, r.PartitionKey, r.ExplicitHashKey, r.Data)
		if err != nil {
			var ae smithy.APIError
			code, msg := "InternalFailure", err.Error()
			if errors.As(err, &ae) {
				code, msg = ae.ErrorCode(), ae.ErrorMessage()
			}
			out.FailedRecordCount++
			out.Records = append(out.Records, entry{ErrorCode: code, ErrorMessage: msg})
			continue
		}
		out.Records = append(out.Records, entry{SequenceNumber: seq, ShardId: shardID})
	}
	return out, nil
}
