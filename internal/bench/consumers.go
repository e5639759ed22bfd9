package main

// The two baselines, each run in its own helper process so that its CPU
// time and peak RSS are its own:
//
//   - sdk: the raw aws-sdk-go-v2 GetRecords loop, as a consumer library
//     written on the stock SDK client would read (default HTTP client and
//     retryer), paced like the host: at most 5 GetRecords per second per
//     shard, Limit 10000, the next call at once while the shard is behind.
//     It only counts records.
//   - inproc: the host's own fetch path (host.NewKinesisClient with its
//     GetRecords decoder, batching by count and bytes, the sdk's handler
//     server) calling a Go handler in this process through
//     host.ConsumeInProcess, with an in-memory checkpoint map, as an
//     in-process consumer library such as harlow/kinesis-consumer would.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// report is what every consumer says about its run: the JSON of the null
// handler plugin's report (internal/testplugins/nullhandler), which the
// baselines write too. Times are Unix nanoseconds.
type report struct {
	ScanStartNs  int64 `json:"scan_start_ns"`
	AllStartedNs int64 `json:"all_started_ns"`
	FirstNs      int64 `json:"first_ns"`
	LastNs       int64 `json:"last_ns"`
	Records      int64 `json:"records"`
	Bytes        int64 `json:"bytes"`
	Batches      int64 `json:"batches"`
	Shards       int   `json:"shards"`
	Complete     bool  `json:"complete"`
	PID          int   `json:"pid"`
	// CPUAtFirstNs is the process's CPU time (user + system) when the
	// first record arrived (baselines only; the bench samples the host's).
	CPUAtFirstNs int64 `json:"cpu_at_first_ns,omitempty"`
	// Calls counts GetRecords calls (baselines only).
	Calls int64 `json:"calls,omitempty"`
}

// consumerArgs are a baseline helper's arguments (KINESIS_BENCH_ARGS).
type consumerArgs struct {
	URL    string `json:"url"`
	Expect int64  `json:"expect"`
	Out    string `json:"out"`
}

// pacing of GetRecords per shard, as the host does it (host/shard.go):
// at least minCallGap between two calls, pollInterval after a call that
// found the shard caught up (the bench's hosts run with poll_interval =
// "200ms" too).
const (
	minCallGap   = 200 * time.Millisecond
	pollInterval = 200 * time.Millisecond
	maxRecords   = 10000
)

// counter is the baselines' handler state: records, bytes and times.
type counter struct {
	expect int64
	done   func()

	mu  sync.Mutex
	rep report
}

func (c *counter) shardStarted() {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if c.rep.ScanStartNs == 0 {
		c.rep.ScanStartNs = now
	}
	c.rep.Shards++
	c.rep.AllStartedNs = now
	c.mu.Unlock()
}

// add counts one page or batch.
func (c *counter) add(n int, bytes int64) {
	if n == 0 {
		return
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rep.FirstNs == 0 {
		c.rep.FirstNs = now
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			c.rep.CPUAtFirstNs = ru.Utime.Nano() + ru.Stime.Nano()
		}
	}
	c.rep.Records += int64(n)
	c.rep.Bytes += bytes
	c.rep.Batches++
	if !c.rep.Complete {
		c.rep.LastNs = now
		if c.rep.Records >= c.expect {
			c.rep.Complete = true
			c.done()
		}
	}
}

func (c *counter) write(path string, calls int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.PID = os.Getpid()
	c.rep.Calls = calls
	buf, err := json.Marshal(c.rep)
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

// runSDK is the raw SDK baseline's main.
func runSDK(a consumerArgs) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")))
	if err != nil {
		return err
	}
	kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(a.URL) })
	ls, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(streamName)})
	if err != nil {
		return err
	}
	iters := make([]*string, len(ls.Shards))
	for i, sh := range ls.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(streamName), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return err
		}
		iters[i] = it.ShardIterator
	}
	c := &counter{expect: a.Expect, done: cancel}
	var calls atomic.Int64
	errs := make(chan error, len(iters))
	var wg sync.WaitGroup
	for _, iter := range iters {
		c.shardStarted()
		wg.Go(func() {
			var last time.Time
			for iter != nil && ctx.Err() == nil {
				if gap := time.Since(last); gap < minCallGap && sleep(ctx, minCallGap-gap) != nil {
					return
				}
				last = time.Now()
				out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(maxRecords)})
				calls.Add(1)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				var bytes int64
				for i := range out.Records {
					bytes += int64(len(out.Records[i].Data))
				}
				c.add(len(out.Records), bytes)
				iter = out.NextShardIterator
				if len(out.Records) < maxRecords && aws.ToInt64(out.MillisBehindLatest) == 0 && sleep(ctx, pollInterval) != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return c.write(a.Out, calls.Load())
}

// inprocHandler is the in-process baseline's handler: it counts and
// acknowledges every batch, like the null handler plugin.
type inprocHandler struct{ c *counter }

func (h inprocHandler) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	var bytes int64
	for i := range b.Records {
		bytes += int64(len(b.Records[i].Data))
	}
	h.c.add(len(b.Records), bytes)
	return sdk.AckAll(b)
}

func (h inprocHandler) ShardStarted(ctx context.Context, s sdk.ShardInfo) error {
	h.c.shardStarted()
	return nil
}

// runInProc is the in-process baseline's main.
func runInProc(a consumerArgs) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api, err := host.NewKinesisClient(ctx, host.KinesisConfig{Region: "us-east-1", Endpoint: a.URL, AccessKeyID: "bench", SecretAccessKey: "bench"})
	if err != nil {
		return err
	}
	c := &counter{expect: a.Expect, done: cancel}
	var (
		cpMu sync.Mutex
		cps  = map[string]shared.Checkpoint{} // the in-memory checkpoint store
	)
	err = host.ConsumeInProcess(ctx, api, host.InProcessOptions{
		Stream: streamName, MaxRecords: maxRecords, PollInterval: pollInterval,
		Checkpoint: func(shard string, cp shared.Checkpoint) {
			cpMu.Lock()
			cps[shard] = cp
			cpMu.Unlock()
		},
	}, inprocHandler{c})
	if err != nil && ctx.Err() == nil {
		return err
	}
	if len(cps) == 0 {
		return fmt.Errorf("no checkpoint was recorded")
	}
	return c.write(a.Out, 0)
}

// sleep waits d or until ctx ends (then it returns ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
