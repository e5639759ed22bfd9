// Package file is the embedded checkpoint store: a single bbolt database
// file on local disk. Every write is a transaction fsync'd before it
// returns, so a crash of the plugin, the host or the machine never loses an
// acknowledged checkpoint. It is the default when config.hcl names no
// checkpoint backend.
//
// Settings (config {} block):
//
//	path    = "./data/checkpoints.db"  # relative to config.hcl's folder
//	timeout = "5s"                     # how long to wait for the file lock
//
// # Single host
//
// The file store has no leases (it does not implement sdk.LeaseStore):
// one host at a time uses it. To make that explicit, Configure takes an
// exclusive flock on a lock file next to the data file (path + ".lock",
// which records the pid of the plugin and of its host) and keeps it until
// Close or the plugin's exit. While another process holds it, Configure
// tries again for up to timeout (a restarted plugin of the same host may
// start while the old process is still going away), then fails with a
// ConfigError on path: another kinesis-host process uses the file; run
// several hosts on redis, postgres or dynamodb, which coordinate leases.
// The lock file is left in place; removing it while a host runs would let
// a second host in.
//
// Validating (kinesis-host validate, or a host checking a new config
// before it swaps a plugin) never takes or keeps the lock: while another
// kinesis-host holds it, validation passes with a warning in the log,
// because that host is usually the one the config is for. bbolt's own lock
// on the data file stays as a second line of defence (and the only one on
// systems without flock).
//
// # Rewind
//
// The store implements sdk.Rewinder (`kinesis-host rewind -apply`): one
// fsync'd transaction sets a key's position exactly, backwards too, or
// clears it (Get then answers found=false); a stored owner and counter
// are kept. SetBatch also applies an update with CheckpointUpdate.Rewind
// set as a rewind.
package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// DefaultPath is used when the config block names no path.
const DefaultPath = "./data/checkpoints.db"

var bucket = []byte("checkpoints")

// Settings is the store's config {} block.
type Settings struct {
	// Path of the database file; its folder is created if missing.
	Path string `json:"path"`
	// Timeout to acquire the file lock, as a Go duration; default 5s.
	Timeout string `json:"timeout"`
}

// Store is the bbolt-backed sdk.Store. Use New, then Configure (or Open).
type Store struct {
	mu   sync.RWMutex
	db   *bolt.DB
	path string    // of db
	lock *fileLock // held while db is open
}

// New returns an unopened store.
func New() *Store { return &Store{} }

// Configure implements sdk.Configurer: it validates the settings and opens
// the file (unless validating only).
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	var st Settings
	if err := cfg.Decode(&st); err != nil {
		return err
	}
	if st.Path == "" {
		st.Path = DefaultPath
	}
	timeout := 5 * time.Second
	if st.Timeout != "" {
		d, err := time.ParseDuration(st.Timeout)
		if err != nil || d <= 0 {
			return sdk.ConfigError("timeout", "must be a positive duration like \"5s\", got %q", st.Timeout)
		}
		timeout = d
	}
	if cfg.ValidateOnly {
		dir := filepath.Dir(st.Path)
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return sdk.ConfigError("path", "%s is not a folder; choose a path whose folder can be created", dir)
		}
		if held, h := probe(st.Path); held && (h.hostPID == 0 || h.hostPID != os.Getppid()) {
			sdk.Logger().Warn(heldError(st.Path, h).Error()+"; `run` with this config fails while that process runs (fine if it is the host this config is for)",
				"checkpoint", cfg.Name, "holder_pid", h.hostPID)
		}
		return nil
	}
	return s.Open(st.Path, timeout)
}

// Open opens (creating if needed) the database at path, holding its lock
// file (see the package documentation) until Close. Opening the path the
// store already has open keeps it.
func (s *Store) Open(path string, lockTimeout time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return sdk.ConfigError("path", "cannot create the folder for %s: %v", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil && s.path == path {
		return nil // already open: a second lock or bbolt open would wait on our own
	}
	start := time.Now()
	lock, err := acquire(path, lockTimeout)
	if err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: max(lockTimeout-time.Since(start), 100*time.Millisecond)})
	if errors.Is(err, bolterrors.ErrTimeout) {
		lock.release()
		return sdk.ConfigError("path", "%s is locked by another process (another kinesis-host using the same file?); stop it or choose another path", path)
	}
	if err != nil {
		lock.release()
		return sdk.ConfigError("path", "cannot open checkpoint file %s: %v", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		_ = db.Close()
		lock.release()
		return sdk.ConfigError("path", "cannot initialise checkpoint file %s: %v", path, err)
	}
	if s.db != nil {
		_ = s.db.Close()
		s.lock.release()
	}
	s.db, s.path, s.lock = db, path, lock
	return nil
}

func keyBytes(k sdk.CheckpointKey) []byte {
	// NUL cannot appear in app, stream or shard names.
	return []byte(k.App + "\x00" + k.Stream + "\x00" + k.ShardID)
}

func (s *Store) handle() (*bolt.DB, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, errors.New("file checkpoint store is not configured (no Configure call)")
	}
	return s.db, nil
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (cp sdk.Checkpoint, found bool, err error) {
	db, err := s.handle()
	if err != nil {
		return cp, false, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get(keyBytes(key))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &cp); err != nil {
			return err
		}
		found = hasPosition(cp) // a rewind that cleared the position keeps only the lease fields
		if !found {
			cp = sdk.Checkpoint{}
		}
		return nil
	})
	if err != nil {
		return sdk.Checkpoint{}, false, fmt.Errorf("read checkpoint %s/%s: %w", key.Stream, key.ShardID, err)
	}
	return cp, found, nil
}

// Set implements sdk.Store.
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	return s.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: key, Checkpoint: cp}})[0]
}

// SetBatch implements sdk.BatchStore: all updates in one fsync'd
// transaction, each applied only if it moves its checkpoint forward (an
// update with Rewind set is applied as Rewind).
func (s *Store) SetBatch(ctx context.Context, updates []sdk.CheckpointUpdate) []error {
	errs := make([]error, len(updates))
	for i, u := range updates {
		if u.Rewind {
			if err := validRewind(u.Key, &u.Checkpoint); err != nil {
				for j := range errs {
					if j == i {
						errs[j] = err
					} else {
						errs[j] = fmt.Errorf("not written: update %d of the batch is invalid (%v)", i, err)
					}
				}
				return errs
			}
		}
	}
	db, err := s.handle()
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			for _, u := range updates {
				k := keyBytes(u.Key)
				if u.Rewind {
					if err := rewindTx(b, k, &u.Checkpoint); err != nil {
						return err
					}
					continue
				}
				if v := b.Get(k); v != nil {
					var old sdk.Checkpoint
					if err := json.Unmarshal(v, &old); err == nil && sdk.ComparePosition(old, u.Checkpoint) >= 0 {
						continue
					}
				}
				v, err := json.Marshal(u.Checkpoint)
				if err != nil {
					return err
				}
				if err := b.Put(k, v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		for i := range errs {
			errs[i] = sdk.Unavailable(fmt.Errorf("write checkpoints: %w", err))
		}
	}
	return errs
}

// Rewind implements sdk.Rewinder: one fsync'd transaction that sets the
// position to exactly cp's, backwards too; a nil or empty cp clears it
// (Get then answers found=false). A stored owner and counter are kept.
func (s *Store) Rewind(ctx context.Context, key sdk.CheckpointKey, cp *sdk.Checkpoint) error {
	if err := validRewind(key, cp); err != nil {
		return err
	}
	db, err := s.handle()
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error { return rewindTx(tx.Bucket(bucket), keyBytes(key), cp) })
	}
	if err != nil {
		return sdk.Unavailable(fmt.Errorf("rewind checkpoint %s/%s: %w", key.Stream, key.ShardID, err))
	}
	return nil
}

func validRewind(key sdk.CheckpointKey, cp *sdk.Checkpoint) error {
	if cp != nil && cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
		return fmt.Errorf("rewind of %s/%s: invalid sequence number %q: want 1 to 128 decimal digits", key.Stream, key.ShardID, cp.SequenceNumber)
	}
	return nil
}

func hasPosition(cp sdk.Checkpoint) bool { return cp.SequenceNumber != "" || cp.ShardEnd }

// rewindTx writes k's rewound value in b: the position of cp (nil or
// empty: none), the stored owner and counter. A value without a position
// or a lease is deleted.
func rewindTx(b *bolt.Bucket, k []byte, cp *sdk.Checkpoint) error {
	var next sdk.Checkpoint
	if v := b.Get(k); v != nil {
		var old sdk.Checkpoint
		if err := json.Unmarshal(v, &old); err == nil {
			next.Owner, next.LeaseCounter = old.Owner, old.LeaseCounter
		}
	}
	if cp != nil && hasPosition(*cp) {
		next.SequenceNumber, next.ShardEnd = cp.SequenceNumber, cp.ShardEnd
		if cp.SequenceNumber != "" {
			next.SubSequenceNumber = cp.SubSequenceNumber
		}
	}
	if !hasPosition(next) && next.Owner == "" && next.LeaseCounter == 0 {
		return b.Delete(k)
	}
	v, err := json.Marshal(next)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// Close implements sdk.Closer.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.lock.release()
	s.db, s.path, s.lock = nil, "", nil
	return err
}
