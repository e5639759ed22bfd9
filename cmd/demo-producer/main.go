// Command demo-producer writes a steady stream of small JSON records into a
// Kinesis stream, for the `make run` demo and for trying the host by hand.
//
//	demo-producer [-endpoint http://127.0.0.1:4567] [-stream demo] [-shards 4] [-rate 20] [-count 0]
//
// It creates the stream if it is missing (and waits until it is ACTIVE;
// -create-only stops there), then puts records such as
//
//	{"n":123,"at":"2025-01-02T03:04:05.123456789Z","msg":"hello"}
//
// in PutRecords batches, with partition keys spread over the shards. With
// -endpoint set (the default points at a local kinesalite) it uses dummy
// static credentials and reads no AWS configuration; with -endpoint "" it
// uses the normal AWS configuration chain. It logs to stderr and stops
// cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// maxBatch is the PutRecords limit on records per call.
const maxBatch = 500

type options struct {
	endpoint string
	region   string
	stream   string
	shards   int
	rate     float64
	count    int64
	msg      string
	wait     time.Duration
	every    time.Duration
	create   bool
}

// record is the JSON body of every record.
type record struct {
	N   int64  `json:"n"`
	At  string `json:"at"`
	Msg string `json:"msg"`
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("demo-producer: ")
	log.SetOutput(os.Stderr)

	var o options
	flag.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4567", "Kinesis endpoint URL; empty for real AWS (default credential chain)")
	flag.StringVar(&o.region, "region", "", "AWS region (default us-east-1 with -endpoint, else from the AWS config)")
	flag.StringVar(&o.stream, "stream", "demo", "stream name")
	flag.IntVar(&o.shards, "shards", 4, "shard count when the stream has to be created")
	flag.Float64Var(&o.rate, "rate", 20, "records per second")
	flag.Int64Var(&o.count, "count", 0, "records to put before exiting (0 = forever)")
	flag.StringVar(&o.msg, "msg", "hello", "msg field of every record")
	flag.DurationVar(&o.wait, "wait", 30*time.Second, "how long to wait for the endpoint to answer at start")
	flag.DurationVar(&o.every, "log-every", 10*time.Second, "progress log interval (0 = only at exit)")
	flag.BoolVar(&o.create, "create-only", false, "create the stream if missing, wait until ACTIVE, and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments: %v", flag.Args())
	}
	if o.rate <= 0 {
		log.Fatalf("-rate must be > 0")
	}
	if o.shards < 1 {
		log.Fatalf("-shards must be >= 1")
	}
	if o.count < 0 {
		log.Fatalf("-count must be >= 0")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := newClient(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	if err := ensureStream(ctx, client, o); err != nil {
		if ctx.Err() != nil {
			log.Print("interrupted before the stream was ready")
			return
		}
		log.Fatal(err)
	}
	if o.create {
		return
	}
	p := &producer{client: client, opts: o, perShard: map[string]int64{}}
	err = p.run(ctx)
	p.logProgress("stopped:")
	if err != nil {
		log.Fatal(err)
	}
}

func newClient(ctx context.Context, o options) (*kinesis.Client, error) {
	if o.endpoint != "" {
		region := o.region
		if region == "" {
			region = "us-east-1"
		}
		return kinesis.New(kinesis.Options{
			Region:       region,
			BaseEndpoint: aws.String(o.endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDDEMOPRODUCER", "demo-secret", ""),
		}), nil
	}
	var loadOpts []func(*config.LoadOptions) error
	if o.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return kinesis.NewFromConfig(cfg), nil
}

// ensureStream creates the stream if it is missing and waits until it is
// ACTIVE. Connection errors are retried for o.wait, so the producer may be
// started together with the emulator.
func ensureStream(ctx context.Context, c *kinesis.Client, o options) error {
	deadline := time.Now().Add(o.wait)
	created := false
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(o.stream)})
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil:
			s := out.StreamDescriptionSummary
			if s.StreamStatus == types.StreamStatusActive {
				n := aws.ToInt32(s.OpenShardCount)
				if created {
					log.Printf("created stream %q with %d shards", o.stream, n)
				} else if int(n) != o.shards {
					log.Printf("stream %q exists with %d open shards (not %d); using it as is", o.stream, n, o.shards)
				} else {
					log.Printf("stream %q exists with %d shards", o.stream, n)
				}
				return nil
			}
		case errors.As(err, &notFound):
			if !created {
				_, cerr := c.CreateStream(ctx, &kinesis.CreateStreamInput{
					StreamName: aws.String(o.stream),
					ShardCount: aws.Int32(int32(o.shards)),
				})
				var inUse *types.ResourceInUseException
				if cerr != nil && !errors.As(cerr, &inUse) {
					return fmt.Errorf("create stream %q: %w", o.stream, cerr)
				}
				created = true
				log.Printf("creating stream %q with %d shards", o.stream, o.shards)
			}
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("describe stream %q at %s: %w", o.stream, endpointName(o), err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %q not ACTIVE after %s", o.stream, o.wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func endpointName(o options) string {
	if o.endpoint == "" {
		return "AWS"
	}
	return o.endpoint
}

type producer struct {
	client   *kinesis.Client
	opts     options
	sent     int64
	failed   int64
	perShard map[string]int64
	started  time.Time
}

// run puts records at o.rate until ctx is done or o.count records are sent.
// Each tick sends what is due since the start (at most one second's worth
// of backlog, so a slow endpoint does not cause a burst afterwards).
func (p *producer) run(ctx context.Context) error {
	o := p.opts
	tick := 100 * time.Millisecond
	if interval := time.Duration(float64(time.Second) / o.rate); interval > tick {
		tick = interval
	}
	p.started = time.Now()
	log.Printf("putting into %q at %s: %g records/s%s", o.stream, endpointName(o), o.rate, countNote(o.count))

	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var nextLog time.Time
	if o.every > 0 {
		nextLog = p.started.Add(o.every)
	}
	var due float64 // records owed, fractional
	last := p.started
	due = 1 // send the first record at once
	for {
		if o.count > 0 && p.sent >= o.count {
			return nil
		}
		for due >= 1 && ctx.Err() == nil {
			n := int64(due)
			if n > maxBatch {
				n = maxBatch
			}
			if o.count > 0 && p.sent+n > o.count {
				n = o.count - p.sent
			}
			if n <= 0 {
				break
			}
			if err := p.putBatch(ctx, int(n)); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Printf("PutRecords: %v", err)
				due = 0 // retry on the next tick with fresh records
				break
			}
			due -= float64(n)
			if o.count > 0 && p.sent >= o.count {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			due += now.Sub(last).Seconds() * o.rate
			last = now
			if due > o.rate && due > 1 {
				due = max(o.rate, 1)
			}
			if !nextLog.IsZero() && !now.Before(nextLog) {
				p.logProgress("progress:")
				nextLog = now.Add(o.every)
			}
		}
	}
}

func countNote(n int64) string {
	if n == 0 {
		return " until interrupted"
	}
	return ", " + strconv.FormatInt(n, 10) + " records"
}

// putBatch sends n new records in one PutRecords call and retries entries
// that failed (throttling) a few times with backoff.
func (p *producer) putBatch(ctx context.Context, n int) error {
	entries := make([]types.PutRecordsRequestEntry, 0, n)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := 0; i < n; i++ {
		num := p.sent + int64(i) + 1
		data, err := json.Marshal(record{N: num, At: now, Msg: p.opts.msg})
		if err != nil {
			return err
		}
		entries = append(entries, types.PutRecordsRequestEntry{
			Data: data,
			// Random keys: MD5 spreads them evenly over the hash key
			// range, so every shard gets its part.
			PartitionKey: aws.String(fmt.Sprintf("key-%08x", rand.Uint32())),
		})
	}
	// The request itself is not cut short by Ctrl-C: the batch in flight
	// finishes (or times out) and is counted.
	reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := p.client.PutRecords(reqCtx, &kinesis.PutRecordsInput{
			StreamName: aws.String(p.opts.stream),
			Records:    entries,
		})
		if err != nil {
			return err
		}
		var retry []types.PutRecordsRequestEntry
		var lastErr string
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, entries[i])
				lastErr = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				continue
			}
			p.sent++
			p.perShard[aws.ToString(r.ShardId)]++
		}
		if len(retry) == 0 {
			return nil
		}
		if attempt == 5 || ctx.Err() != nil {
			p.failed += int64(len(retry))
			log.Printf("dropped %d records after %d attempts (%s)", len(retry), attempt, lastErr)
			return nil
		}
		entries = retry
		select {
		case <-reqCtx.Done():
			return reqCtx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (p *producer) logProgress(prefix string) {
	if p.started.IsZero() {
		return
	}
	el := time.Since(p.started)
	shards := make([]string, 0, len(p.perShard))
	for s := range p.perShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	var b strings.Builder
	for i, s := range shards {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", strings.TrimPrefix(s, "shardId-"), p.perShard[s])
	}
	rate := 0.0
	if el > 0 {
		rate = float64(p.sent) / el.Seconds()
	}
	msg := fmt.Sprintf("%s sent %d records in %s (%.1f/s)", prefix, p.sent, el.Round(100*time.Millisecond), rate)
	if p.failed > 0 {
		msg += fmt.Sprintf(", dropped %d", p.failed)
	}
	if b.Len() > 0 {
		msg += "; per shard: " + b.String()
	}
	log.Print(msg)
}
