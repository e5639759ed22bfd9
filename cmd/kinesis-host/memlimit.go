package main

import (
	"os"
	"runtime/debug"

	"github.com/kinesis-host/kinesis-host/host"
)

// memoryHeadroom is what the Go runtime may hold beyond max_buffered_bytes
// (the fetched pages, and the GetRecords bodies being read and decoded,
// which the host counts in that budget) before the garbage collector works
// harder: the host's own structures, connections, goroutine stacks, pooled
// buffers not in use, and the garbage made between two collections. The
// process's resident memory is about the limit plus the binary's code
// (some 13 MiB): 256 + 40 MiB gives some 310 MiB at the default budget.
const memoryHeadroom = 40 << 20

// minMemoryLimit is the least soft limit set: with a small budget, the
// per-shard structures of many shards alone would keep the heap near a
// limit of budget + headroom, and the collector would run back to back.
const minMemoryLimit = 128 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of
// max_buffered_bytes plus memoryHeadroom (at least minMemoryLimit), so the
// heap is collected before it grows to twice what is live (GOGC's
// default) and the host's resident memory follows the budget at any shard
// count. An operator's GOMEMLIMIT wins. It is called at start and at every
// reload (max_buffered_bytes may change).
func setMemoryLimit(cfg *host.Config) {
	if os.Getenv("GOMEMLIMIT") != "" || cfg.MaxBufferedBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(memoryLimit(cfg.MaxBufferedBytes))
}

// memoryLimit is the soft memory limit for a budget of maxBuffered bytes.
func memoryLimit(maxBuffered int64) int64 {
	return max(maxBuffered+memoryHeadroom, minMemoryLimit)
}
