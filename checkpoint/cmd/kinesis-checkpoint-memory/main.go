// Command kinesis-checkpoint-memory is the in-memory checkpoint plugin, for
// tests only: it keeps nothing across restarts.
package main

import (
	"github.com/kinesis-host/kinesis-host/checkpoint/memory"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func main() { sdk.ServeCheckpoint(memory.New()) }
