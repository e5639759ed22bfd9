// Command kinesis-checkpoint-file is the embedded file checkpoint plugin.
package main

import (
	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func main() { sdk.ServeCheckpoint(file.New()) }
