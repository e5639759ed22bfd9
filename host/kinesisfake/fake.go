package kinesisfake

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Names of the API operations the Fake serves. They are the op values that
// fault hooks receive and that [Fake.Calls] takes.
const (
	OpListShards       = "ListShards"
	OpGetShardIterator = "GetShardIterator"
	OpGetRecords       = "GetRecords"
)

// Limits and defaults that match Kinesis Data Streams.
const (
	// DefaultIteratorTTL is how long a shard iterator stays valid on AWS
	// and, unless IteratorTTL says otherwise, in the Fake.
	DefaultIteratorTTL = 5 * time.Minute
	// DefaultNextTokenTTL is how long a ListShards NextToken stays valid.
	DefaultNextTokenTTL = 300 * time.Second
	// DefaultListShardsMaxResults is the page size of ListShards when
	// MaxResults is not given.
	DefaultListShardsMaxResults = 1000
	// MaxListShardsMaxResults is the largest MaxResults ListShards accepts.
	MaxListShardsMaxResults = 10000
	// MaxGetRecordsLimit is the default and largest GetRecords Limit.
	MaxGetRecordsLimit = 10000
	// MaxGetRecordsBytes is the most record data (data plus partition key)
	// a GetRecords response holds, unless a single record is bigger.
	MaxGetRecordsBytes = 10 << 20
	// MaxRecordBytes is the largest record (data plus partition key) that
	// PutRecord and PutRecordToShard accept.
	MaxRecordBytes = 1 << 20
	// MaxShardsPerStream is the most shards CreateStream accepts.
	MaxShardsPerStream = 20000
	// Region and AccountID appear in stream ARNs and error messages.
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// maxHashKey is 2^128 - 1, the top of the partition key hash space.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// streamNameRE is the pattern AWS applies to stream names.
var streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// instanceCounter tells Fakes in one process apart, so that an iterator made
// by one Fake is refused by another.
var instanceCounter atomic.Uint64

// Fake is an in-memory Kinesis Data Streams. Create one with [New]; the zero
// value is not usable. It satisfies the ListShards, GetShardIterator and
// GetRecords part of *kinesis.Client's method set. All methods are safe for
// concurrent use; the exported fields are configuration and must be set
// before the Fake is used from several goroutines.
type Fake struct {
	// Now is the clock behind arrival timestamps, iterator and NextToken
	// expiry, shard open and close times and MillisBehindLatest. New sets it
	// to time.Now. Point it at a [Clock] (f.Now = clk.Now) to control time.
	// It is called with the Fake's lock held, so it must not call the Fake.
	Now func() time.Time

	// IteratorTTL is how long after creation a shard iterator may be used
	// before GetRecords fails with *types.ExpiredIteratorException. New
	// sets it to DefaultIteratorTTL; zero or less also means that.
	IteratorTTL time.Duration

	// NextTokenTTL is how long a ListShards NextToken may be used before
	// ListShards fails with *types.ExpiredNextTokenException. New sets it
	// to DefaultNextTokenTTL; zero or less also means that.
	NextTokenTTL time.Duration

	// SeparateShardEnd changes how the end of a closed shard is reported.
	// When false (the default), the GetRecords response that returns the
	// last records of a closed shard also has NextShardIterator == nil and
	// ChildShards set. When true, that response has a NextShardIterator
	// and the end is reported by the next call, which returns no records.
	// Consumers must handle both; this switch tests each.
	SeparateShardEnd bool

	instance uint64

	mu      sync.Mutex
	streams map[string]*stream
	seq     uint64 // last sequence counter handed out, shared by all streams
	calls   map[string]int
	hooks   []hook
	hookID  uint64
}

type stream struct {
	name    string
	arn     string
	created time.Time
	shards  []*shard // index == shard number, so also shard id order
	byID    map[string]*shard
}

type shard struct {
	id       string
	index    int
	startKey *big.Int
	endKey   *big.Int
	parent   string // "" if none
	adjacent string // "" if none
	children []string
	initial  bool // made by CreateStream, so open at the trim horizon
	startSeq string
	endSeq   string // "" while open
	created  time.Time
	closed   time.Time // zero while open
	records  []record
}

type record struct {
	counter uint64
	seq     string
	pk      string
	data    []byte
	at      time.Time
}

func (s *shard) open() bool { return s.endSeq == "" }

// New returns an empty Fake using the system clock, with the default
// iterator and NextToken lifetimes.
func New() *Fake {
	return &Fake{
		Now:          time.Now,
		IteratorTTL:  DefaultIteratorTTL,
		NextTokenTTL: DefaultNextTokenTTL,
		instance:     instanceCounter.Add(1),
		streams:      make(map[string]*stream),
		calls:        make(map[string]int),
	}
}

// StreamARN returns the ARN the Fake uses for the stream called name, which
// API inputs may give as StreamARN instead of StreamName. The stream does
// not have to exist.
func (f *Fake) StreamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", Region, AccountID, name)
}

// now reads the clock. Call with f.mu held.
func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fake) iteratorTTL() time.Duration {
	if f.IteratorTTL <= 0 {
		return DefaultIteratorTTL
	}
	return f.IteratorTTL
}

func (f *Fake) nextTokenTTL() time.Duration {
	if f.NextTokenTTL <= 0 {
		return DefaultNextTokenTTL
	}
	return f.NextTokenTTL
}

// nextSeq hands out the next sequence number for shard sh. Call with f.mu
// held.
func (f *Fake) nextSeq(sh int) (uint64, string) {
	f.seq++
	return f.seq, formatSeq(f.seq, sh)
}

// formatSeq lays out a 56-digit sequence number: "49", a 36-digit counter
// and an 18-digit shard index. Because the counter comes before the shard,
// numbers grow over time across the whole Fake.
func formatSeq(counter uint64, shardIndex int) string {
	return fmt.Sprintf("49%036d%018d", counter, shardIndex)
}

// parseSeq undoes formatSeq. ok is false for strings the Fake did not make.
func parseSeq(s string) (counter uint64, shardIndex int, ok bool) {
	if len(s) != 56 || s[:2] != "49" {
		return 0, 0, false
	}
	c, err := strconv.ParseUint(s[2:38], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	i, err := strconv.ParseUint(s[38:], 10, 31)
	if err != nil {
		return 0, 0, false
	}
	return c, int(i), true
}

func shardIDFor(index int) string { return fmt.Sprintf("shardId-%012d", index) }

// CreateStream makes an active stream with the given number of shards,
// numbered from shardId-000000000000, whose hash key ranges split
// 0..2^128-1 evenly. It fails with *types.ResourceInUseException if the
// stream exists and *types.InvalidArgumentException if the name or shard
// count is not allowed (names match [a-zA-Z0-9_.-]{1,128}; 1 to
// MaxShardsPerStream shards).
func (f *Fake) CreateStream(name string, shards int) error {
	if !streamNameRE.MatchString(name) {
		return invalidArg("Stream name %q must match [a-zA-Z0-9_.-]{1,128}.", name)
	}
	if shards < 1 || shards > MaxShardsPerStream {
		return invalidArg("ShardCount %d must be between 1 and %d.", shards, MaxShardsPerStream)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.streams[name]; ok {
		return &types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
			"Stream %s under account %s already exists.", name, AccountID))}
	}
	now := f.now()
	st := &stream{
		name:    name,
		arn:     f.StreamARN(name),
		created: now,
		byID:    make(map[string]*shard, shards),
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	n := big.NewInt(int64(shards))
	for i := 0; i < shards; i++ {
		start := new(big.Int).Mul(space, big.NewInt(int64(i)))
		start.Div(start, n)
		end := new(big.Int).Mul(space, big.NewInt(int64(i+1)))
		end.Div(end, n)
		end.Sub(end, big.NewInt(1))
		f.addShard(st, start, end, "", "", now).initial = true
	}
	f.streams[name] = st
	return nil
}

// addShard appends a new open shard to st. Call with f.mu held.
func (f *Fake) addShard(st *stream, start, end *big.Int, parent, adjacent string, now time.Time) *shard {
	idx := len(st.shards)
	_, startSeq := f.nextSeq(idx)
	sh := &shard{
		id:       shardIDFor(idx),
		index:    idx,
		startKey: start,
		endKey:   end,
		parent:   parent,
		adjacent: adjacent,
		startSeq: startSeq,
		created:  now,
	}
	st.shards = append(st.shards, sh)
	st.byID[sh.id] = sh
	return sh
}

// closeShard closes sh. Call with f.mu held.
func (f *Fake) closeShard(sh *shard, now time.Time) {
	_, sh.endSeq = f.nextSeq(sh.index)
	sh.closed = now
}

// HashKey returns the hash key Kinesis derives from a partition key: the
// MD5 digest read as a big-endian unsigned 128-bit integer, in decimal.
func HashKey(partitionKey string) string {
	return hashKey(partitionKey).String()
}

func hashKey(pk string) *big.Int {
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

func checkRecord(pk string, data []byte) error {
	if pk == "" || utf8.RuneCountInString(pk) > 256 {
		return invalidArg("PartitionKey must be 1 to 256 characters long.")
	}
	if len(data)+len(pk) > MaxRecordBytes {
		return invalidArg("Record size %d (data plus partition key) exceeds the limit of %d bytes.",
			len(data)+len(pk), MaxRecordBytes)
	}
	return nil
}

// PutRecord writes a record to stream, routing it like Kinesis: to the open
// shard whose hash key range holds the MD5 hash of partitionKey (see
// [HashKey]). It returns the shard and the new sequence number. data is
// copied. Errors: *types.ResourceNotFoundException for an unknown stream,
// *types.InvalidArgumentException for an empty or over-long partition key
// or a record over MaxRecordBytes.
func (f *Fake) PutRecord(stream, partitionKey string, data []byte) (shardID, seq string, err error) {
	if err := checkRecord(partitionKey, data); err != nil {
		return "", "", err
	}
	key := hashKey(partitionKey)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(stream)
	if err != nil {
		return "", "", err
	}
	for _, sh := range st.shards {
		if sh.open() && sh.startKey.Cmp(key) <= 0 && key.Cmp(sh.endKey) <= 0 {
			return sh.id, f.appendRecord(sh, partitionKey, data), nil
		}
	}
	// Open shards always cover the whole hash space.
	return "", "", &types.InternalFailureException{Message: aws.String("kinesisfake: no open shard covers hash key " + key.String())}
}

// PutRecordToShard writes a record straight to an open shard, bypassing
// hash key routing, so partitionKey need not hash into the shard's range.
// It returns the new sequence number. data is copied. Errors:
// *types.ResourceNotFoundException for an unknown stream or shard,
// *types.InvalidArgumentException for a closed shard or a bad record.
func (f *Fake) PutRecordToShard(stream, shardID, partitionKey string, data []byte) (seq string, err error) {
	if err := checkRecord(partitionKey, data); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(stream)
	if err != nil {
		return "", err
	}
	sh, err := st.shard(shardID)
	if err != nil {
		return "", err
	}
	if !sh.open() {
		return "", invalidArg("Shard %s in stream %s under account %s is closed and cannot be written to.",
			shardID, stream, AccountID)
	}
	return f.appendRecord(sh, partitionKey, data), nil
}

// appendRecord stores a copy of a record. Call with f.mu held.
func (f *Fake) appendRecord(sh *shard, pk string, data []byte) string {
	counter, seq := f.nextSeq(sh.index)
	sh.records = append(sh.records, record{
		counter: counter,
		seq:     seq,
		pk:      pk,
		data:    append([]byte(nil), data...),
		at:      f.now().Truncate(time.Millisecond),
	})
	return seq
}

// SplitShard splits the open shard shardID at newStartingHashKey (a decimal
// string) into two new shards: the first covers the parent's starting hash
// key to newStartingHashKey-1, the second newStartingHashKey to the parent's
// ending hash key. Both children have ParentShardId == shardID. The parent
// is closed and gets an EndingSequenceNumber. newStartingHashKey must be
// greater than the parent's starting hash key and at most its ending hash
// key, otherwise *types.InvalidArgumentException.
func (f *Fake) SplitShard(stream, shardID, newStartingHashKey string) error {
	k, ok := new(big.Int).SetString(newStartingHashKey, 10)
	if !ok || k.Sign() < 0 {
		return invalidArg("NewStartingHashKey %q is not a non-negative decimal integer.", newStartingHashKey)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(stream)
	if err != nil {
		return err
	}
	sh, err := st.shard(shardID)
	if err != nil {
		return err
	}
	if !sh.open() {
		return &types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
			"Shard %s in stream %s under account %s is closed.", shardID, stream, AccountID))}
	}
	if k.Cmp(sh.startKey) <= 0 || k.Cmp(sh.endKey) > 0 {
		return invalidArg("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.",
			newStartingHashKey, shardID, stream, AccountID, sh.startKey, sh.endKey)
	}
	now := f.now()
	f.closeShard(sh, now)
	lowEnd := new(big.Int).Sub(k, big.NewInt(1))
	a := f.addShard(st, new(big.Int).Set(sh.startKey), lowEnd, sh.id, "", now)
	b := f.addShard(st, new(big.Int).Set(k), new(big.Int).Set(sh.endKey), sh.id, "", now)
	sh.children = []string{a.id, b.id}
	return nil
}

// MergeShards merges two open shards whose hash key ranges touch into one
// new shard covering both ranges, with ParentShardId == shardToMerge and
// AdjacentParentShardId == adjacent. Both parents are closed and get an
// EndingSequenceNumber. Shards that are closed, equal or not adjacent give
// *types.InvalidArgumentException (closed: *types.ResourceInUseException).
func (f *Fake) MergeShards(stream, shardToMerge, adjacent string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(stream)
	if err != nil {
		return err
	}
	a, err := st.shard(shardToMerge)
	if err != nil {
		return err
	}
	b, err := st.shard(adjacent)
	if err != nil {
		return err
	}
	if a == b {
		return invalidArg("ShardToMerge and AdjacentShardToMerge are both %s.", shardToMerge)
	}
	for _, s := range []*shard{a, b} {
		if !s.open() {
			return &types.ResourceInUseException{Message: aws.String(fmt.Sprintf(
				"Shard %s in stream %s under account %s is closed.", s.id, stream, AccountID))}
		}
	}
	one := big.NewInt(1)
	lo, hi := a, b
	if b.endKey.Cmp(a.startKey) < 0 {
		lo, hi = b, a
	}
	if new(big.Int).Add(lo.endKey, one).Cmp(hi.startKey) != 0 {
		return invalidArg("Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging.",
			shardToMerge, adjacent, stream, AccountID)
	}
	now := f.now()
	f.closeShard(a, now)
	f.closeShard(b, now)
	child := f.addShard(st, new(big.Int).Set(lo.startKey), new(big.Int).Set(hi.endKey), a.id, b.id, now)
	a.children = []string{child.id}
	b.children = []string{child.id}
	return nil
}

// Records returns copies of every record in a shard, oldest first, or nil
// if the stream or shard does not exist. Handy for assertions.
func (f *Fake) Records(stream, shardID string) []types.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.streams[stream]
	if !ok {
		return nil
	}
	sh, ok := st.byID[shardID]
	if !ok {
		return nil
	}
	out := make([]types.Record, len(sh.records))
	for i := range sh.records {
		out[i] = sh.records[i].toAWS()
	}
	return out
}

// Shards returns every shard of a stream, open and closed, in shard id
// order, as ListShards would describe them, or nil for an unknown stream.
func (f *Fake) Shards(stream string) []types.Shard {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.streams[stream]
	if !ok {
		return nil
	}
	out := make([]types.Shard, len(st.shards))
	for i, sh := range st.shards {
		out[i] = sh.toAWS()
	}
	return out
}

func (r *record) toAWS() types.Record {
	at := r.at
	return types.Record{
		Data:                        append([]byte(nil), r.data...),
		SequenceNumber:              aws.String(r.seq),
		PartitionKey:                aws.String(r.pk),
		ApproximateArrivalTimestamp: &at,
	}
}

func (s *shard) hashRange() *types.HashKeyRange {
	return &types.HashKeyRange{
		StartingHashKey: aws.String(s.startKey.String()),
		EndingHashKey:   aws.String(s.endKey.String()),
	}
}

func (s *shard) toAWS() types.Shard {
	out := types.Shard{
		ShardId:      aws.String(s.id),
		HashKeyRange: s.hashRange(),
		SequenceNumberRange: &types.SequenceNumberRange{
			StartingSequenceNumber: aws.String(s.startSeq),
		},
	}
	if s.endSeq != "" {
		out.SequenceNumberRange.EndingSequenceNumber = aws.String(s.endSeq)
	}
	if s.parent != "" {
		out.ParentShardId = aws.String(s.parent)
	}
	if s.adjacent != "" {
		out.AdjacentParentShardId = aws.String(s.adjacent)
	}
	return out
}

// childShards describes the children of a closed shard for GetRecords.
// Call with f.mu held.
func (st *stream) childShards(sh *shard) []types.ChildShard {
	if len(sh.children) == 0 {
		return nil
	}
	out := make([]types.ChildShard, 0, len(sh.children))
	for _, id := range sh.children {
		c := st.byID[id]
		parents := []string{c.parent}
		if c.adjacent != "" {
			parents = append(parents, c.adjacent)
		}
		out = append(out, types.ChildShard{
			ShardId:      aws.String(c.id),
			ParentShards: parents,
			HashKeyRange: c.hashRange(),
		})
	}
	return out
}

// stream looks a stream up by name. Call with f.mu held.
func (f *Fake) stream(name string) (*stream, error) {
	st, ok := f.streams[name]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(
			"Stream %s under account %s not found.", name, AccountID))}
	}
	return st, nil
}

func (st *stream) shard(id string) (*shard, error) {
	sh, ok := st.byID[id]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf(
			"Shard %s in stream %s under account %s does not exist", id, st.name, AccountID))}
	}
	return sh, nil
}

// findSeq returns the index of the record with the given counter, or -1.
func (s *shard) findSeq(counter uint64) int {
	i := sort.Search(len(s.records), func(i int) bool { return s.records[i].counter >= counter })
	if i < len(s.records) && s.records[i].counter == counter {
		return i
	}
	return -1
}

func invalidArg(format string, args ...any) error {
	return &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf(format, args...))}
}
