// Package memory is a checkpoint store that keeps positions in memory only.
// It is for tests and demos: everything is lost when the plugin stops, and
// it says so loudly when configured.
package memory

import (
	"context"
	"sync"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Store is an in-memory sdk.Store. The zero value is not ready; use New.
type Store struct {
	mu  sync.Mutex
	cps map[sdk.CheckpointKey]sdk.Checkpoint
}

// New returns an empty store.
func New() *Store { return &Store{cps: map[sdk.CheckpointKey]sdk.Checkpoint{}} }

// Configure implements sdk.Configurer. The memory store takes no settings.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	var none struct{}
	if err := cfg.Decode(&none); err != nil {
		return err
	}
	if !cfg.ValidateOnly {
		sdk.Logger().Warn("checkpoint store is IN MEMORY: progress is NOT kept across restarts; use it only for tests",
			"checkpoint", cfg.Name)
	}
	return nil
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.cps[key]
	return cp, ok, nil
}

// Set implements sdk.Store; it never moves a checkpoint backwards.
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.cps[key]; ok && sdk.ComparePosition(old, cp) >= 0 {
		return nil
	}
	s.cps[key] = cp
	return nil
}
