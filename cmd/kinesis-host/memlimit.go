package main

import (
	"os"
	"runtime/debug"

	"github.com/kinesis-host/kinesis-host/host"
)

// memoryHeadroom is what the host process may use beyond max_buffered_bytes
// (the fetched pages it holds) before the Go garbage collector works
// harder: its own structures, connections, goroutine stacks.
const memoryHeadroom = 48 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of
// max_buffered_bytes plus memoryHeadroom, so the heap is collected before
// it grows to twice what is live (GOGC's default) and the host's resident
// memory follows the budget at any shard count. An operator's GOMEMLIMIT
// wins. It is called at start and at every reload (max_buffered_bytes may
// change).
func setMemoryLimit(cfg *host.Config) {
	if os.Getenv("GOMEMLIMIT") != "" || cfg.MaxBufferedBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(cfg.MaxBufferedBytes + memoryHeadroom)
}
