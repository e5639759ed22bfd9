// Package memory is a checkpoint store that keeps positions in memory only.
// It is for tests and demos: everything is lost when the plugin stops, and
// it says so loudly when configured.
//
// It implements sdk.LeaseStore under one mutex, which makes it handy for
// unit tests of the lease protocol; since its rows live in one plugin
// process, no two hosts can ever share it.
//
// It rewinds both ways: sdk.LeaseUpdate.Rewind in UpdateLeases and
// sdk.Rewinder.
package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Store is an in-memory sdk.Store and sdk.LeaseStore. The zero value is not
// ready; use New.
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

func hasPosition(cp sdk.Checkpoint) bool { return cp.SequenceNumber != "" || cp.ShardEnd }

// Get implements sdk.Store. A row holding only a lease is not found.
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.cps[key]
	if !ok || !hasPosition(cp) {
		return sdk.Checkpoint{}, false, nil
	}
	return cp, true, nil
}

// Set implements sdk.Store; it never moves a checkpoint backwards and keeps
// the stored lease (owner and counter).
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	if !hasPosition(cp) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cps[key]
	s.cps[key] = forward(old, cp)
	return nil
}

// rewound returns old with its position set to exactly cp's (nil or
// empty: cleared); the lease fields stay old's.
func rewound(old sdk.Checkpoint, cp *sdk.Checkpoint) sdk.Checkpoint {
	old.SequenceNumber, old.SubSequenceNumber, old.ShardEnd = "", 0, false
	if cp != nil && hasPosition(*cp) {
		old.SequenceNumber, old.ShardEnd = cp.SequenceNumber, cp.ShardEnd
		if cp.SequenceNumber != "" {
			old.SubSequenceNumber = cp.SubSequenceNumber
		}
	}
	return old
}

func validRewind(key sdk.CheckpointKey, cp *sdk.Checkpoint) error {
	if cp != nil && cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
		return fmt.Errorf("rewind of %s/%s: invalid sequence number %q: want 1 to 128 decimal digits", key.Stream, key.ShardID, cp.SequenceNumber)
	}
	return nil
}

// Rewind implements sdk.Rewinder: the position becomes exactly cp's (nil
// or empty clears it), backwards too; the stored lease is kept.
func (s *Store) Rewind(ctx context.Context, key sdk.CheckpointKey, cp *sdk.Checkpoint) error {
	if err := validRewind(key, cp); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewindLocked(key, cp)
	return nil
}

func (s *Store) rewindLocked(key sdk.CheckpointKey, cp *sdk.Checkpoint) {
	next := rewound(s.cps[key], cp)
	if !hasPosition(next) && next.Owner == "" && next.LeaseCounter == 0 {
		delete(s.cps, key)
		return
	}
	s.cps[key] = next
}

// forward returns old with its position moved to cp's when cp is past it
// (a ShardEnd without a sequence number keeps the stored one); the lease
// fields stay old's.
func forward(old, cp sdk.Checkpoint) sdk.Checkpoint {
	if !hasPosition(cp) || (hasPosition(old) && sdk.ComparePosition(old, cp) >= 0) {
		return old
	}
	if cp.SequenceNumber != "" {
		old.SequenceNumber, old.SubSequenceNumber = cp.SequenceNumber, cp.SubSequenceNumber
	}
	old.ShardEnd = cp.ShardEnd
	return old
}

// ListLeases implements sdk.LeaseStore.
func (s *Store) ListLeases(ctx context.Context, app, stream string) ([]sdk.LeaseRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []sdk.LeaseRow
	for k, cp := range s.cps {
		if k.App == app && k.Stream == stream && (hasPosition(cp) || cp.Owner != "" || cp.LeaseCounter != 0) {
			rows = append(rows, sdk.LeaseRow{ShardID: k.ShardID, Checkpoint: cp})
		}
	}
	return rows, nil
}

// UpdateLeases implements sdk.LeaseStore: each update is checked and
// applied under the store's mutex, in order.
func (s *Store) UpdateLeases(ctx context.Context, updates []sdk.LeaseUpdate) []error {
	errs := make([]error, len(updates))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, u := range updates {
		if u.Checkpoint != nil && u.Checkpoint.SequenceNumber != "" && !sdk.ValidSequence(u.Checkpoint.SequenceNumber) {
			errs[i] = fmt.Errorf("lease update of %s/%s: invalid sequence number %q: want 1 to 128 decimal digits", u.Key.Stream, u.Key.ShardID, u.Checkpoint.SequenceNumber)
			continue
		}
		old, exists := s.cps[u.Key]
		if old.Owner != u.ExpectOwner || old.LeaseCounter != u.ExpectCounter {
			errs[i] = sdk.Conflict("lease of %s/%s is held by %q at counter %d, not %q at %d",
				u.Key.Stream, u.Key.ShardID, old.Owner, old.LeaseCounter, u.ExpectOwner, u.ExpectCounter)
			continue
		}
		if u.Delete {
			if exists {
				delete(s.cps, u.Key)
			}
			continue
		}
		next := old
		switch {
		case u.Rewind:
			next = rewound(old, u.Checkpoint)
		case u.Checkpoint != nil:
			next = forward(old, *u.Checkpoint)
		}
		next.Owner, next.LeaseCounter = u.Owner, u.ExpectCounter+1
		s.cps[u.Key] = next
	}
	return errs
}
