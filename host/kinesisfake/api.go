package kinesisfake

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// seqPattern is the pattern AWS applies to sequence numbers in requests.
var seqPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)

// begin is the common start of every API method: count the call, honour a
// done context and run the fault hooks (without the lock held).
func (f *Fake) begin(ctx context.Context, op string, in any) error {
	f.mu.Lock()
	f.calls[op]++
	hooks := f.hooks // never changed in place, see addHook
	f.mu.Unlock()
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for _, h := range hooks {
		if err := h.fn(op, in); err != nil {
			return err
		}
	}
	return nil
}

// wrap gives err the shape the SDK gives errors: a *smithy.OperationError
// around the cause.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return err
	}
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: op, Err: err}
}

// resolve finds the stream named by a StreamName and/or StreamARN. Call
// with f.mu held.
func (f *Fake) resolve(name, arn *string) (*stream, error) {
	if name == nil && arn == nil {
		return nil, invalidArg("Either StreamName or StreamARN must be provided.")
	}
	if arn != nil {
		i := strings.LastIndex(*arn, ":stream/")
		if !strings.HasPrefix(*arn, "arn:") || i < 0 {
			return nil, invalidArg("StreamARN %q is not a valid Kinesis stream ARN.", *arn)
		}
		n := (*arn)[i+len(":stream/"):]
		if name != nil && *name != n {
			return nil, invalidArg("StreamARN %q and StreamName %q name different streams.", *arn, *name)
		}
		st, err := f.stream(n)
		if err != nil {
			return nil, err
		}
		if st.arn != *arn {
			return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(
				"Stream %s not found.", *arn))}
		}
		return st, nil
	}
	if *name == "" {
		return nil, invalidArg("StreamName must not be empty.")
	}
	return f.stream(*name)
}

// ListShards lists the shards of a stream in shard id order, like the AWS
// API of the same name.
//
// The stream is named by StreamName or StreamARN, or by NextToken on later
// pages. NextToken may not be combined with StreamName, StreamARN,
// ExclusiveStartShardId, StreamCreationTimestamp or ShardFilter (the token
// remembers the filter): any of those gives *types.InvalidArgumentException,
// as does a token this Fake did not issue. A token older than NextTokenTTL
// gives *types.ExpiredNextTokenException. MaxResults defaults to 1000 and
// must be 1 to 10000. ExclusiveStartShardId and ShardFilter work as on AWS;
// see the package documentation for how the trim horizon is modelled. An
// unknown stream gives *types.ResourceNotFoundException.
func (f *Fake) ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	if in == nil {
		in = &kinesis.ListShardsInput{}
	}
	if err := f.begin(ctx, OpListShards, in); err != nil {
		return nil, wrap(OpListShards, err)
	}
	out, err := f.listShards(in)
	if err != nil {
		return nil, wrap(OpListShards, err)
	}
	return out, nil
}

func (f *Fake) listShards(in *kinesis.ListShardsInput) (*kinesis.ListShardsOutput, error) {
	limit := DefaultListShardsMaxResults
	if in.MaxResults != nil {
		m := int(*in.MaxResults)
		if m < 1 || m > MaxListShardsMaxResults {
			return nil, invalidArg("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d.",
				m, MaxListShardsMaxResults)
		}
		limit = m
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()

	var (
		st     *stream
		ftype  types.ShardFilterType
		ftime  time.Time
		after  string
		err    error
		others []string
	)
	if in.NextToken != nil {
		if in.StreamName != nil {
			others = append(others, "StreamName")
		}
		if in.StreamARN != nil {
			others = append(others, "StreamARN")
		}
		if in.ExclusiveStartShardId != nil {
			others = append(others, "ExclusiveStartShardId")
		}
		if in.StreamCreationTimestamp != nil {
			others = append(others, "StreamCreationTimestamp")
		}
		if in.ShardFilter != nil {
			others = append(others, "ShardFilter")
		}
		if len(others) > 0 {
			return nil, invalidArg("NextToken and %s cannot be provided together.", strings.Join(others, ", "))
		}
		tok, ok := decodeListToken(*in.NextToken)
		if !ok || tok.instance != f.instance {
			return nil, invalidArg("NextToken %q is invalid.", *in.NextToken)
		}
		if now.Sub(tok.created) > f.nextTokenTTL() {
			return nil, &types.ExpiredNextTokenException{Message: aws.String(fmt.Sprintf(
				"NextToken was created at %s, more than %s ago.", tok.created.UTC().Format(time.RFC3339Nano), f.nextTokenTTL()))}
		}
		if st, err = f.stream(tok.stream); err != nil {
			return nil, err
		}
		ftype, ftime, after = tok.filterType, tok.filterTime, tok.lastID
	} else {
		if st, err = f.resolve(in.StreamName, in.StreamARN); err != nil {
			return nil, err
		}
		if in.StreamCreationTimestamp != nil &&
			!in.StreamCreationTimestamp.Truncate(time.Millisecond).Equal(st.created.Truncate(time.Millisecond)) {
			return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(
				"Stream %s under account %s with creation timestamp %s not found.", st.name, AccountID, in.StreamCreationTimestamp.UTC().Format(time.RFC3339Nano)))}
		}
		if in.ExclusiveStartShardId != nil {
			after = *in.ExclusiveStartShardId
		}
		if sf := in.ShardFilter; sf != nil {
			ftype = sf.Type
			switch sf.Type {
			case types.ShardFilterTypeAfterShardId:
				if sf.ShardId == nil || sf.Timestamp != nil {
					return nil, invalidArg("ShardFilter of type AFTER_SHARD_ID needs ShardId and no Timestamp.")
				}
				if *sf.ShardId > after {
					after = *sf.ShardId
				}
			case types.ShardFilterTypeAtTrimHorizon, types.ShardFilterTypeFromTrimHorizon, types.ShardFilterTypeAtLatest:
				if sf.ShardId != nil || sf.Timestamp != nil {
					return nil, invalidArg("ShardFilter of type %s takes neither ShardId nor Timestamp.", sf.Type)
				}
			case types.ShardFilterTypeAtTimestamp, types.ShardFilterTypeFromTimestamp:
				if sf.Timestamp == nil || sf.ShardId != nil {
					return nil, invalidArg("ShardFilter of type %s needs Timestamp and no ShardId.", sf.Type)
				}
				ftime = *sf.Timestamp
			default:
				return nil, invalidArg("ShardFilter type %q is not valid.", sf.Type)
			}
		}
	}

	out := &kinesis.ListShardsOutput{Shards: make([]types.Shard, 0, min(limit, len(st.shards)))}
	more := false
	for _, sh := range st.shards {
		if after != "" && sh.id <= after {
			continue
		}
		if !st.matches(sh, ftype, ftime) {
			continue
		}
		if len(out.Shards) == limit {
			more = true
			break
		}
		out.Shards = append(out.Shards, sh.toAWS())
	}
	if more {
		out.NextToken = aws.String(listToken{
			instance:   f.instance,
			stream:     st.name,
			filterType: ftype,
			filterTime: ftime,
			lastID:     *out.Shards[len(out.Shards)-1].ShardId,
			created:    now,
		}.encode())
	}
	return out, nil
}

// matches reports whether sh passes a ShardFilter. Timestamps before the
// stream existed are moved up to its creation, the trim horizon.
func (st *stream) matches(sh *shard, ft types.ShardFilterType, ts time.Time) bool {
	if ts.Before(st.created) {
		ts = st.created
	}
	switch ft {
	case types.ShardFilterTypeAtTrimHorizon:
		return sh.initial
	case types.ShardFilterTypeAtLatest:
		return sh.open()
	case types.ShardFilterTypeAtTimestamp:
		return !sh.created.After(ts) && (sh.open() || !sh.closed.Before(ts))
	case types.ShardFilterTypeFromTimestamp:
		return sh.open() || !sh.closed.Before(ts)
	default: // no filter, FROM_TRIM_HORIZON, AFTER_SHARD_ID
		return true
	}
}

// GetShardIterator returns an iterator for a shard, like the AWS API of the
// same name. The stream is named by StreamName or StreamARN.
//
// ShardIteratorType may be TRIM_HORIZON (the oldest record), LATEST (just
// after the newest record), AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER
// (which need StartingSequenceNumber to be a record of this shard, or the
// shard's own starting or ending sequence number) or AT_TIMESTAMP (the first
// record that arrived at or after Timestamp, to the millisecond). Iterators
// on closed shards are allowed. Errors: *types.ResourceNotFoundException for
// an unknown stream or shard; *types.InvalidArgumentException for a missing
// or unknown type or argument, including a sequence number not in the shard
// (its message names StartingSequenceNumber); with DryRun set, a request
// that would work gives *types.DryRunOperationException.
func (f *Fake) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if in == nil {
		in = &kinesis.GetShardIteratorInput{}
	}
	if err := f.begin(ctx, OpGetShardIterator, in); err != nil {
		return nil, wrap(OpGetShardIterator, err)
	}
	out, err := f.getShardIterator(in)
	if err != nil {
		return nil, wrap(OpGetShardIterator, err)
	}
	return out, nil
}

func (f *Fake) getShardIterator(in *kinesis.GetShardIteratorInput) (*kinesis.GetShardIteratorOutput, error) {
	if in.ShardId == nil {
		return nil, invalidArg("ShardId must be provided.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.resolve(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	sh, err := st.shard(*in.ShardId)
	if err != nil {
		return nil, err
	}
	var pos int
	switch t := in.ShardIteratorType; t {
	case types.ShardIteratorTypeTrimHorizon:
		pos = 0
	case types.ShardIteratorTypeLatest:
		pos = len(sh.records)
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		if in.StartingSequenceNumber == nil {
			return nil, invalidArg("StartingSequenceNumber must be provided for ShardIteratorType %s.", t)
		}
		if pos, err = st.locate(sh, *in.StartingSequenceNumber, t == types.ShardIteratorTypeAfterSequenceNumber); err != nil {
			return nil, err
		}
	case types.ShardIteratorTypeAtTimestamp:
		if in.Timestamp == nil {
			return nil, invalidArg("Timestamp must be provided for ShardIteratorType AT_TIMESTAMP.")
		}
		ts := in.Timestamp.Truncate(time.Millisecond)
		pos = sort.Search(len(sh.records), func(i int) bool { return !sh.records[i].at.Before(ts) })
	default:
		return nil, invalidArg("1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]", t)
	}
	if in.DryRun != nil && *in.DryRun {
		return nil, &types.DryRunOperationException{Message: aws.String("Request would have succeeded, but DryRun flag is set.")}
	}
	it := iterator{instance: f.instance, stream: st.name, shard: sh.id, pos: pos, created: f.now()}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(it.encode())}, nil
}

// locate turns a StartingSequenceNumber into a record index in sh.
func (st *stream) locate(sh *shard, seq string, after bool) (int, error) {
	if !seqPattern.MatchString(seq) {
		return 0, invalidArg("1 validation error detected: Value '%s' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})", seq)
	}
	switch {
	case seq == sh.startSeq:
		return 0, nil
	case sh.endSeq != "" && seq == sh.endSeq:
		return len(sh.records), nil
	}
	counter, idx, ok := parseSeq(seq)
	if ok && idx != sh.index {
		return 0, invalidArg("Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s",
			shardIDFor(idx), sh.id)
	}
	i := -1
	if ok {
		i = sh.findSeq(counter)
	}
	if i < 0 {
		return 0, invalidArg("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid because it did not come from this stream.",
			seq, sh.id, st.name, AccountID)
	}
	if after {
		i++
	}
	return i, nil
}

// GetRecords reads from a shard iterator, like the AWS API of the same
// name.
//
// At most Limit records (default and maximum 10000) and, unless the first
// record alone is bigger, at most MaxGetRecordsBytes of data plus partition
// keys come back, oldest first, as copies. NextShardIterator continues from
// there; it is nil once the end of a closed shard has been returned, and
// that response carries ChildShards (see SeparateShardEnd for the
// alternative). MillisBehindLatest is how long ago the first record not yet
// returned arrived, or 0 at the tip.
//
// Errors: *types.InvalidArgumentException for a missing or malformed
// iterator (or one from another Fake) or a bad Limit;
// *types.ExpiredIteratorException once the iterator is older than
// IteratorTTL; with DryRun set, a request that would work gives
// *types.DryRunOperationException.
func (f *Fake) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if in == nil {
		in = &kinesis.GetRecordsInput{}
	}
	if err := f.begin(ctx, OpGetRecords, in); err != nil {
		return nil, wrap(OpGetRecords, err)
	}
	out, err := f.getRecords(in)
	if err != nil {
		return nil, wrap(OpGetRecords, err)
	}
	return out, nil
}

func (f *Fake) getRecords(in *kinesis.GetRecordsInput) (*kinesis.GetRecordsOutput, error) {
	if in.ShardIterator == nil || *in.ShardIterator == "" {
		return nil, invalidArg("ShardIterator must be provided.")
	}
	limit := MaxGetRecordsLimit
	if in.Limit != nil {
		l := int(*in.Limit)
		if l < 1 || l > MaxGetRecordsLimit {
			return nil, invalidArg("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d.",
				l, MaxGetRecordsLimit)
		}
		limit = l
	}
	it, ok := decodeIterator(*in.ShardIterator)
	if !ok || it.instance != f.instance {
		return nil, invalidArg("Invalid ShardIterator %q.", *in.ShardIterator)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	st, err := f.stream(it.stream)
	if err != nil {
		return nil, err
	}
	sh, err := st.shard(it.shard)
	if err != nil {
		return nil, err
	}
	if in.StreamARN != nil && *in.StreamARN != st.arn {
		return nil, invalidArg("StreamARN %q does not match the stream of the ShardIterator.", *in.StreamARN)
	}
	if ttl := f.iteratorTTL(); now.Sub(it.created) > ttl {
		return nil, &types.ExpiredIteratorException{Message: aws.String(fmt.Sprintf(
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.created.UTC().Format(time.UnixDate), now.UTC().Format(time.UnixDate), ttl.Milliseconds()))}
	}
	if it.pos > len(sh.records) {
		return nil, invalidArg("Invalid ShardIterator %q.", *in.ShardIterator)
	}
	if in.DryRun != nil && *in.DryRun {
		return nil, &types.DryRunOperationException{Message: aws.String("Request would have succeeded, but DryRun flag is set.")}
	}

	pos, size := it.pos, 0
	out := &kinesis.GetRecordsOutput{Records: make([]types.Record, 0, min(limit, len(sh.records)-pos))}
	for pos < len(sh.records) && len(out.Records) < limit {
		r := &sh.records[pos]
		n := len(r.data) + len(r.pk)
		if len(out.Records) > 0 && size+n > MaxGetRecordsBytes {
			break
		}
		out.Records = append(out.Records, r.toAWS())
		size += n
		pos++
	}

	var behind int64
	if pos < len(sh.records) {
		behind = max(0, now.Sub(sh.records[pos].at).Milliseconds())
	}
	out.MillisBehindLatest = aws.Int64(behind)

	atEnd := !sh.open() && pos == len(sh.records)
	if atEnd && !(f.SeparateShardEnd && len(out.Records) > 0) {
		out.ChildShards = st.childShards(sh)
		return out, nil
	}
	next := iterator{instance: f.instance, stream: st.name, shard: sh.id, pos: pos, created: now}
	out.NextShardIterator = aws.String(next.encode())
	return out, nil
}
