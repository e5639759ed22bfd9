// Command kinesis-checkpoint-dynamodb is the DynamoDB checkpoint plugin; see
// package checkpoint/dynamodb for its settings, table layout and IAM actions.
package main

import (
	"github.com/kinesis-host/kinesis-host/checkpoint/dynamodb"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func main() { sdk.ServeCheckpoint(dynamodb.New()) }
