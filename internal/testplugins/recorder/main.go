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
//
//	  gate_after = 2000   # once this process has recorded that many deliveries, every
//	                      # batch waits, before it is handled, until the file <out>.release
//	                      # exists; a waiting batch first writes its pid to <out>.gated-<shard>.
//	                      # Lines of a batch that waited carry "gate":"held", lines of a
//	                      # batch that began after the release "gate":"after"
//	  kill_at = [900, 4000]  # SIGKILL itself once the deliveries file holds at least that
//	                         # many lines, each point once (marker <out>.killed-<i> holds
//	                         # "<pid> <unix nanos>"), mid-batch, right after recording a
//	                         # record; never while one of its batches hangs (hang_data)
//	}
//
// Every line carries "at", the Unix nanoseconds it was written. With
// kill_at, every process start appends "<pid> <unix nanos>" to <out>.starts.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
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
	At      int64  `json:"at"`             // Unix nanoseconds when the line was written
	Gate    string `json:"gate,omitempty"` // "held" or "after" with gate_after
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
	// GateAfter: hold every batch once this process recorded that many
	// deliveries, until <out>.release exists.
	GateAfter int `json:"gate_after"`
	// KillAt: SIGKILL itself when the deliveries file reaches these line
	// counts (ascending), each once.
	KillAt []int `json:"kill_at"`

	lines    atomic.Int64 // lines in the deliveries file: those before this process plus its own
	own      atomic.Int64 // lines this process wrote
	gated    atomic.Bool  // gate_after reached
	hanging  atomic.Int32 // batches of this process blocked on a hang record
	killMu   sync.Mutex
	nextKill int // index into KillAt of the next kill point

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
	if len(r.KillAt) > 0 {
		n, err := countLines(r.Out)
		if err != nil {
			return sdk.ConfigError("out", "cannot read: %v", err)
		}
		r.lines.Store(n)
		for r.nextKill < len(r.KillAt) && exists(r.killMarker(r.nextKill)) {
			r.nextKill++
		}
		sf, err := os.OpenFile(r.Out+".starts", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return sdk.ConfigError("out", "cannot open the starts file: %v", err)
		}
		_, err = fmt.Fprintf(sf, "%d %d\n", os.Getpid(), time.Now().UnixNano())
		if cerr := sf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sdk.ConfigError("out", "cannot write the starts file: %v", err)
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// countLines counts the newlines of a file (0 when it does not exist).
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (r *recorder) killMarker(i int) string { return r.Out + ".killed-" + strconv.Itoa(i) }

// killIfDue SIGKILLs this process when the deliveries file (with pending
// more lines about to be written) has reached the next kill point. flush
// writes the caller's pending lines first.
func (r *recorder) killIfDue(pending int, flush func()) {
	if len(r.KillAt) == 0 || r.hanging.Load() > 0 {
		return
	}
	r.killMu.Lock()
	defer r.killMu.Unlock()
	if r.nextKill >= len(r.KillAt) || r.lines.Load()+int64(pending) < int64(r.KillAt[r.nextKill]) || r.hanging.Load() > 0 {
		return
	}
	flush()
	_ = os.WriteFile(r.killMarker(r.nextKill), []byte(fmt.Sprintf("%d %d\n", os.Getpid(), time.Now().UnixNano())), 0o644)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// gate holds a batch once gate_after is reached, until <out>.release
// exists, and says how the batch went through it.
func (r *recorder) gate(ctx context.Context, shard string) string {
	if r.GateAfter <= 0 || (!r.gated.Load() && r.own.Load() < int64(r.GateAfter)) {
		return ""
	}
	r.gated.Store(true)
	release := r.Out + ".release"
	if exists(release) {
		return "after"
	}
	_ = os.WriteFile(r.Out+".gated-"+shard, []byte(strconv.Itoa(os.Getpid())), 0o644)
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !exists(release) {
		select {
		case <-ctx.Done():
			return "held"
		case <-t.C:
		}
	}
	return "held"
}

func (r *recorder) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	if r.Discard {
		return sdk.AckAll(b)
	}
	if r.ExitAlways {
		os.Exit(3)
	}
	gate := r.gate(ctx, b.ShardID)
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
			return r.handle(ctx, &half, gate)
		}
	}
	return r.handle(ctx, b, gate)
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

func (r *recorder) handle(ctx context.Context, b *sdk.Batch, gate string) sdk.BatchResult {
	var buf []byte
	pending := 0 // lines in buf
	flush := func() {
		if len(buf) > 0 {
			r.mu.Lock()
			_, _ = r.f.Write(buf)
			r.lines.Add(int64(pending))
			r.own.Add(int64(pending))
			r.mu.Unlock()
			buf, pending = buf[:0], 0
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
				// Under killMu: a self-kill either happens before the
				// hang begins (and the record hangs in a later process)
				// or waits for the host to end the hang.
				r.killMu.Lock()
				r.hanging.Add(1)
				r.killMu.Unlock()
				_ = os.WriteFile(marker, nil, 0o644)
				flush()
				select {} // until killed
			}
		}
		if r.FailData != "" && d == r.FailData {
			return sdk.ScanStatus{Error: &sdk.Error{Code: sdk.ErrHandler.Code, Message: "poison record: " + d}}
		}
		line, _ := json.Marshal(Delivery{Shard: rec.ShardID, Seq: rec.SequenceNumber, Data: d, Key: rec.PartitionKey, Sub: rec.SubSequenceNumber,
			Attempt: b.Attempt, PID: os.Getpid(), At: time.Now().UnixNano(), Gate: gate})
		buf = append(append(buf, line...), '\n')
		pending++
		r.killIfDue(pending, flush)
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
