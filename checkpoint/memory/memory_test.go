package memory_test

import (
	"testing"

	"github.com/kinesis-host/kinesis-host/checkpoint/memory"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return memory.New() })
}

func TestLeases(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) sdk.Store { return memory.New() })
}
