// Command kinesis-handler-null is the benchmark handler: it acknowledges
// every record at once, counts records and bytes, and reports when it saw
// what in a small JSON file, so a benchmark can time the host from outside
// without the handler doing any work of its own.
//
//	handler "null" {
//	  plugin = "null"
//	  config {
//	    out    = "/tmp/x/null.json"  # required: where the report is written
//	    expect = 200000              # write the report once this many records arrived
//	    cpu_profile = "/tmp/x/null.pprof"  # optional: a CPU profile of this plugin, Configure to Shutdown
//	  }
//	}
//
// At the first record it also writes <out>.first (the time, in Unix
// nanoseconds), so a benchmark can sample CPU times at that moment.
//
// The report (see [Report]) is written once, atomically (a temporary file
// renamed over out), when the count first reaches expect, and again at
// Shutdown if it was never written (Complete false then). Like every
// plugin, it never writes to stdout: that is the plugin protocol's channel.
package main

import (
	"context"
	"encoding/json"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Report is the JSON file the handler writes. Times are Unix nanoseconds
// on the machine's wall clock, so a benchmark in another process can
// compare them with its own clock.
type Report struct {
	// ScanStartNs is the first ShardStarted call: the host is about to
	// read its first shard.
	ScanStartNs int64 `json:"scan_start_ns"`
	// AllStartedNs is the last ShardStarted call so far: every shard is
	// being read (with a shared store, leases may be taken over several
	// polls).
	AllStartedNs int64 `json:"all_started_ns"`
	// FirstNs is when the first batch arrived, LastNs when the batch that
	// brought the count to Expect arrived (at Shutdown: the last batch).
	FirstNs int64 `json:"first_ns"`
	LastNs  int64 `json:"last_ns"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"` // data bytes of the records
	Batches int64 `json:"batches"`
	Shards  int   `json:"shards"` // ShardStarted calls
	// Complete is true when Records reached Expect.
	Complete bool `json:"complete"`
	PID      int  `json:"pid"`
}

type null struct {
	Out        string `json:"out"`
	Expect     int64  `json:"expect"`
	CPUProfile string `json:"cpu_profile"`

	profile *os.File

	mu      sync.Mutex
	rep     Report
	written bool
}

func (n *null) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(n); err != nil {
		return err
	}
	if n.Out == "" {
		return sdk.ConfigError("out", "is required: the file the report is written to")
	}
	if n.Expect < 0 {
		return sdk.ConfigError("expect", "must be 0 or more, got %d", n.Expect)
	}
	if n.CPUProfile != "" && !cfg.ValidateOnly && n.profile == nil {
		f, err := os.Create(n.CPUProfile)
		if err != nil {
			return sdk.ConfigError("cpu_profile", "cannot create: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return sdk.ConfigError("cpu_profile", "cannot start profiling: %v", err)
		}
		n.profile = f
	}
	return nil
}

func (n *null) ShardStarted(ctx context.Context, s sdk.ShardInfo) error {
	now := time.Now().UnixNano()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rep.ScanStartNs == 0 {
		n.rep.ScanStartNs = now
	}
	n.rep.Shards++
	n.rep.AllStartedNs = now
	return nil
}

func (n *null) HandleBatch(ctx context.Context, b *sdk.Batch) sdk.BatchResult {
	now := time.Now().UnixNano()
	var bytes int64
	for i := range b.Records {
		bytes += int64(len(b.Records[i].Data))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rep.FirstNs == 0 {
		n.rep.FirstNs = now
		// A marker for the benchmark, which then samples every process's
		// CPU time so far (the cost of starting up).
		if err := os.WriteFile(n.Out+".first", []byte(strconv.FormatInt(now, 10)), 0o644); err != nil {
			sdk.Logger().Error("cannot write the first-record marker", "path", n.Out+".first", "error", err)
		}
	}
	n.rep.Records += int64(len(b.Records))
	n.rep.Bytes += bytes
	n.rep.Batches++
	if !n.written {
		n.rep.LastNs = now
		if n.Expect > 0 && n.rep.Records >= n.Expect {
			n.rep.Complete = true
			n.write()
		}
	}
	return sdk.AckAll(b)
}

func (n *null) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.written {
		n.write()
	}
	if n.profile != nil {
		pprof.StopCPUProfile()
		if err := n.profile.Close(); err != nil {
			sdk.Logger().Error("cannot write the CPU profile", "path", n.CPUProfile, "error", err)
		}
		n.profile = nil
	}
	return nil
}

// write writes the report; n.mu is held.
func (n *null) write() {
	n.written = true
	n.rep.PID = os.Getpid()
	buf, err := json.Marshal(n.rep)
	if err == nil {
		tmp := n.Out + ".tmp"
		if err = os.WriteFile(tmp, buf, 0o644); err == nil {
			err = os.Rename(tmp, n.Out)
		}
	}
	if err != nil {
		sdk.Logger().Error("cannot write the report", "out", n.Out, "error", err)
	}
}

func main() { sdk.Serve(&null{}) }
