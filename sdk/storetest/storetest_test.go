package storetest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/checkpoint/memory"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

func openMemory(t testing.TB) sdk.Store { return memory.New() }

func openFile(t testing.TB) sdk.Store {
	s := file.New()
	if err := s.Open(filepath.Join(t.TempDir(), "checkpoints.db"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return openMemory(t) })
}

func TestMemoryLeases(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) sdk.Store { return openMemory(t) })
}

func TestFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return openFile(t) })
}

// TestFileConfigure runs the suite on a file store set up the way the host
// does it, through Configure.
func TestFileConfigure(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store {
		s := file.New()
		cfg := sdk.Config{App: "test", Name: "file", JSON: []byte(`{"path": "` + filepath.Join(t.TempDir(), "c.db") + `"}`)}
		if err := s.Configure(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		return s
	})
}

func TestAssertUnavailable(t *testing.T) {
	storetest.AssertUnavailable(t, sdk.Unavailable(context.DeadlineExceeded))
	// And across the RPC boundary: a closed file store fails its writes
	// with sdk.ErrUnavailable.
	s := openFile(t)
	c := sdk.TestStore(t, s)
	if err := s.(*file.Store).Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	storetest.AssertUnavailable(t, c.Set(context.Background(), sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}, sdk.Checkpoint{SequenceNumber: "1"}))
}

func BenchmarkSet(b *testing.B) {
	b.Run("memory", func(b *testing.B) { storetest.Bench(b, openMemory(b)) })
	b.Run("file", func(b *testing.B) { storetest.Bench(b, openFile(b)) })
}

// plainStore hides every optional interface of a store: only Get and Set.
type plainStore struct{ s sdk.Store }

func (p plainStore) Get(ctx context.Context, k sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	return p.s.Get(ctx, k)
}

func (p plainStore) Set(ctx context.Context, k sdk.CheckpointKey, cp sdk.Checkpoint) error {
	return p.s.Set(ctx, k, cp)
}

// TestPlainStore runs the suite on a store with no optional interface:
// through the plugin boundary a rewind answers CodeUnimplemented.
func TestPlainStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return plainStore{openFile(t)} })
}
