// Command kinesis-checkpoint-postgres is the PostgreSQL checkpoint plugin.
// It keeps harlow/kinesis-consumer's table layout, so a seed user's
// checkpoints are picked up; see package checkpoint/postgres for settings,
// table DDL and columns.
package main

import (
	"github.com/kinesis-host/kinesis-host/checkpoint/postgres"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func main() { sdk.ServeCheckpoint(postgres.New()) }
