// Command kinesis-checkpoint-redis is the Redis checkpoint plugin. It keeps
// harlow/kinesis-consumer's key layout, so a seed user's checkpoints are
// picked up; see package checkpoint/redis for settings and layout.
package main

import (
	"github.com/kinesis-host/kinesis-host/checkpoint/redis"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func main() { sdk.ServeCheckpoint(redis.New()) }
