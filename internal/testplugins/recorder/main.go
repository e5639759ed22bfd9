// Command kinesis-handler-recorder is a test handler: it appends every
// record it receives to a JSON-lines file, one line per delivery, and acts
// on chosen records as told by its config:
//
//	config {
//	  out        = "/tmp/x/deliveries.jsonl"  # required
//	  fail_data  = "poison"   # ScanStatus.Error on a record with this data
//	  stop_data  = "stop"     # StopScan
//	  skip_data  = "skip"     # SkipCheckpoint
//	  hang_data  = "hang"     # block until the host gives up (call_timeout)
//	  exit_data  = "crash"    # os.Exit(3) before handling this record, once per file marker
//	  delay      = "10ms"     # sleep per batch
//
//	  hang_data_list = ["a", "b"]  # like hang_data, for any of these (once per record)
//	  exit_always    = true        # os.Exit(3) at the start of every batch (crash loop)
//	  ack_half_once  = true        # acknowledge (and record) only the first half of the
//	                               # first batch of each shard, once per process: a
//	                               # partial batch acknowledgement
//	}
package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Delivery is one line of the output file.
type Delivery struct {
	Shard   string `json:"shard"`
	Seq     string `json:"seq"`
	Data    string `json:"data"`
	Key     string `json:"key"`
	Sub     int64  `json:"sub"`
	Attempt int    `json:"attempt"`
	PID     int    `json:"pid"`
}

type recorder struct {
	Out      string `json:"out"`
	FailData string `json:"fail_data"`
	StopData string `json:"stop_data"`
	SkipData string `json:"skip_data"`
	HangData string `json:"hang_data"`
	ExitData string `json:"exit_data"`
	Delay    string `json:"delay"`
	// Discard counts nothing and writes nothing: a null handler for benchmarks.
	Discard bool `json:"discard"`
	// LifecycleOut, when set, gets one JSON line per lifecycle call
	// (shard_started, shard_ended, shutdown).
	LifecycleOut string `json:"lifecycle_out"`
	// HangDataList: hang (once per record) on a record whose data is any of these.
	HangDataList []string `json:"hang_data_list"`
	// ExitAlways: exit at the start of every batch.
	ExitAlways bool `json:"exit_always"`
	// AckHalfOnce: partial acknowledgement of each shard's first batch.
	AckHalfOnce bool `json:"ack_half_once"`

	delay time.Duration
	mu    sync.Mutex
	f     *os.File

	halfMu   sync.Mutex
	halfDone map[string]bool // shards whose first batch was half acknowledged
}

func (r *recorder) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(r); err != nil {
		return err
	}
	if r.Out == "" && !r.Discard {
		return sdk.ConfigError("out", "is required: the file deliveries are appended to")
	}
	if r.Delay != "" {
		d, err := time.ParseDuration(r.Delay)
		if err != nil {
			return sdk.ConfigError("delay", "must be a duration, got %q", r.Delay)
		}
		r.delay = d
	}
	if cfg.ValidateOnly || r.Discard {
		return nil
	}
	f, err := os.OpenFile(r.Out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return sdk.ConfigError("out", "cannot open: %v", err)
	}
	r.f = f
	return nil
}

func (r *recorder) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	if r.Discard {
		return sdk.AckAll(b)
	}
	if r.ExitAlways {
		os.Exit(3)
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if r.AckHalfOnce && len(b.Records) >= 2 {
		r.halfMu.Lock()
		first := !r.halfDone[b.ShardID]
		if r.halfDone == nil {
			r.halfDone = map[string]bool{}
		}
		r.halfDone[b.ShardID] = true
		r.halfMu.Unlock()
		if first {
			half := *b
			half.Records = b.Records[:len(b.Records)/2]
			return r.handle(ctx, &half)
		}
	}
	return r.handle(ctx, b)
}

func (r *recorder) hangOn(d string) bool {
	if r.HangData != "" && d == r.HangData {
		return true
	}
	for _, h := range r.HangDataList {
		if d == h {
			return true
		}
	}
	return false
}

func (r *recorder) handle(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	var buf []byte
	flush := func() {
		if len(buf) > 0 {
			r.mu.Lock()
			_, _ = r.f.Write(buf)
			r.mu.Unlock()
			buf = buf[:0]
		}
	}
	res := sdk.EachRecord(ctx, b, func(ctx context.Context, rec *sdk.Record) sdk.ScanStatus {
		d := string(rec.Data)
		if r.ExitData != "" && d == r.ExitData {
			marker := r.Out + ".exited-" + rec.SequenceNumber
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				flush()
				os.Exit(3)
			}
		}
		if r.hangOn(d) {
			marker := r.Out + ".hung-" + rec.SequenceNumber
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				flush()
				select {} // until killed
			}
		}
		if r.FailData != "" && d == r.FailData {
			return sdk.ScanStatus{Error: &sdk.Error{Code: sdk.ErrHandler.Code, Message: "poison record: " + d}}
		}
		line, _ := json.Marshal(Delivery{Shard: rec.ShardID, Seq: rec.SequenceNumber, Data: d, Key: rec.PartitionKey, Sub: rec.SubSequenceNumber, Attempt: b.Attempt, PID: os.Getpid()})
		buf = append(append(buf, line...), '\n')
		switch {
		case r.StopData != "" && d == r.StopData:
			return sdk.ScanStatus{StopScan: true}
		case r.SkipData != "" && d == r.SkipData:
			return sdk.ScanStatus{SkipCheckpoint: true}
		}
		return sdk.ScanStatus{}
	})
	flush()
	return res
}

func (r *recorder) event(kind string, info sdk.ShardInfo) error {
	if r.LifecycleOut == "" {
		return nil
	}
	line, _ := json.Marshal(map[string]string{"event": kind, "shard": info.ShardID, "position": info.Position, "after": info.StartAfter})
	f, err := os.OpenFile(r.LifecycleOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

// ShardStarted implements sdk.ShardStarter.
func (r *recorder) ShardStarted(ctx context.Context, info sdk.ShardInfo) error {
	return r.event("shard_started", info)
}

// ShardEnded implements sdk.ShardEnder.
func (r *recorder) ShardEnded(ctx context.Context, info sdk.ShardInfo) error {
	return r.event("shard_ended", info)
}

// Shutdown implements sdk.ShutdownHandler.
func (r *recorder) Shutdown(ctx context.Context) error { return r.event("shutdown", sdk.ShardInfo{}) }

func main() { sdk.Serve(&recorder{}) }
