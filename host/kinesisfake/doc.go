// Package kinesisfake is an in-memory fake of Amazon Kinesis Data Streams for
// fast, deterministic tests, in the spirit of franz-go's kfake.
//
// A *Fake implements the read side of the Kinesis API that a consumer uses:
//
//	ListShards(ctx, *kinesis.ListShardsInput, ...)             (*kinesis.ListShardsOutput, error)
//	GetShardIterator(ctx, *kinesis.GetShardIteratorInput, ...) (*kinesis.GetShardIteratorOutput, error)
//	GetRecords(ctx, *kinesis.GetRecordsInput, ...)             (*kinesis.GetRecordsOutput, error)
//
// with the same method signatures as *kinesis.Client, so it can be dropped in
// wherever code depends on a small interface holding those methods (such as
// host.KinesisAPI). The write and admin side is plain Go methods with no AWS
// types on the way in: [Fake.CreateStream], [Fake.PutRecord],
// [Fake.PutRecordToShard], [Fake.SplitShard] and [Fake.MergeShards].
// [Fake.Records], [Fake.Shards] and [Fake.Calls] exist for assertions.
//
// # A typical test
//
//	clk := kinesisfake.NewClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
//	f := kinesisfake.New()
//	f.Now = clk.Now // set configuration fields before first use
//	_ = f.CreateStream("orders", 4)
//	shardID, seq, _ := f.PutRecord("orders", "customer-42", []byte("hello"))
//	f.FailRatio(kinesisfake.OpGetRecords, 0.2, 1, kinesisfake.Throttle)
//	runConsumerUnderTest(ctx, f)
//	if n := f.Calls(kinesisfake.OpGetShardIterator); n != 4 { ... }
//
// # What is emulated
//
//   - Streams made of shards whose ids look like "shardId-000000000000" and
//     whose hash key ranges split 0..2^128-1 evenly, as decimal strings.
//   - Partition key routing: PutRecord hashes the partition key with MD5 and
//     reads the digest as a big-endian 128-bit integer, exactly like Kinesis,
//     then writes to the open shard whose hash key range contains it.
//   - Sequence numbers are 56-digit decimal strings. They increase strictly
//     within a shard and across every shard and stream of one Fake over time
//     (a fixed "49" prefix, a 36-digit zero-padded counter shared by the
//     whole Fake, then an 18-digit shard index). Compare them as big
//     integers, never as numbers that fit in 64 bits. Every record carries an
//     ApproximateArrivalTimestamp, truncated to milliseconds as Kinesis does.
//   - Resharding. SplitShard and MergeShards close their parents (the parent
//     gets an EndingSequenceNumber) and create children carrying
//     ParentShardId and AdjacentParentShardId. Reading a closed shard to its
//     end gives NextShardIterator == nil plus ChildShards.
//   - ListShards paging with NextToken (which must be sent without
//     StreamName, as on AWS, and expires after NextTokenTTL), MaxResults
//     (default 1000, at most 10000), ExclusiveStartShardId and every
//     ShardFilter type: AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON,
//     AT_LATEST, AT_TIMESTAMP and FROM_TIMESTAMP.
//   - GetShardIterator with TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER,
//     AFTER_SEQUENCE_NUMBER and AT_TIMESTAMP. Iterators are opaque strings
//     that record the stream, shard, position and creation time. They
//     expire IteratorTTL (default 5 minutes) after creation, as measured by
//     the Fake's clock.
//   - GetRecords with Limit (default and maximum 10000). A response also
//     stops at 10 MiB, counting each record's data plus its partition key,
//     though it always carries at least one record when one is available.
//     MillisBehindLatest is how far the next unread record is behind Now
//     (0 at the tip).
//   - The error types the SDK returns, from
//     github.com/aws/aws-sdk-go-v2/service/kinesis/types:
//     ResourceNotFoundException, InvalidArgumentException,
//     ExpiredIteratorException, ExpiredNextTokenException and so on. As with
//     the real client, every error an API method returns is wrapped in a
//     *smithy.OperationError, so use errors.As rather than a type assertion.
//   - StreamName or StreamARN (see [Fake.StreamARN]) may be used to name a
//     stream.
//
// # What is not emulated
//
//   - No throughput limits: there are no per-shard read or write limits and
//     no "5 GetRecords calls per second" rule. Throttling only happens when
//     a test injects it with [Fake.InjectFault], [Fake.FailEvery],
//     [Fake.FailRatio] or [Fake.FailNext], using a helper such as
//     [Throttle].
//   - Enhanced fan-out and the write API are served over HTTP only: see
//     [Fake.Handler] and [NewServer] (Kinesis JSON 1.1 plus the
//     SubscribeToShard event stream over TLS with HTTP/2).
//   - No retention: records are never trimmed, so the trim horizon is the
//     creation of the stream, and AT_TRIM_HORIZON lists the shards that
//     CreateStream made.
//   - No stream life cycle: streams are ACTIVE as soon as they are created
//     and cannot be deleted. No encryption, tagging, stream modes or resharding
//     delays either: splits and merges take effect at once.
//   - The Go methods involve no HTTP, signing or SDK middleware: optFns are ignored, no retries
//     happen, and errors are not wrapped in the SDK's HTTP response errors.
//   - Only one stored copy of each record: GetRecords copies Data out, so
//     callers can't change the Fake's state through returned values.
//
// # Concurrency
//
// Every method is safe for concurrent use. Configuration fields (Now,
// IteratorTTL, NextTokenTTL, SeparateShardEnd) must be set before the Fake is
// shared between goroutines; move time with a goroutine-safe clock such as
// [Clock] instead of replacing Now later. Fault hooks run without the Fake's
// lock held, so a hook may call back into the Fake, but hooks themselves may
// run concurrently and must be safe for that.
package kinesisfake
