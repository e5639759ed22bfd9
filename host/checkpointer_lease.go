package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinesis-host/kinesis-host/shared"
)

// Lease mode of the checkpointer. When the store is shared by several
// hosts (it implements the lease calls), every checkpoint write of a shard
// this host holds is a lease write: one conditional write on the (owner,
// counter) this host last wrote, which bumps the counter. The same writer
// goroutine renews held leases that have no position to write (every
// renewEvery) and hands leases off (owner cleared, the final position in
// the same write), so a shard's renewals and checkpoints are serialized and
// never race each other. A write rejected with CodeConflict means another
// host took the lease: the lease is lost, the position is not stored, and
// fence refuses the shard's next batch.

// leaseState is one held lease as the writer sees it.
type leaseState struct {
	owner     string
	counter   int64     // the stored counter after this host's last successful write
	renewedAt time.Time // when that write was sent (conservative for fencing)
	wantRenew bool      // fence asked for a renew now
	release   bool      // hand the lease off with the next write
	done      error     // nil while held; errReleased, or wraps ErrLeaseLost
	// verify: a write was rejected; before calling the lease lost, the
	// row is read: it may show this owner (a write whose answer was lost
	// applied after all), and then the lease goes on at the stored counter.
	verify    bool
	rejection string
}

var errReleased = errors.New("lease released")

// storeLeases is the lease part of storeCalls.
type storeLeases interface {
	list(ctx context.Context, app, stream string) ([]shared.LeaseRow, error)
	update(ctx context.Context, updates []shared.LeaseUpdate) ([]shared.Error, error)
}

func (pc procCalls) list(ctx context.Context, app, stream string) (rows []shared.LeaseRow, err error) {
	err = pc.call(ctx, func(ctx context.Context, cl *shared.CheckpointClient) error {
		rows, err = cl.ListLeases(ctx, app, stream)
		return err
	})
	return rows, err
}

func (pc procCalls) update(ctx context.Context, updates []shared.LeaseUpdate) (res []shared.Error, err error) {
	err = pc.call(ctx, func(ctx context.Context, cl *shared.CheckpointClient) error {
		res, err = cl.UpdateLeases(ctx, updates)
		return err
	})
	return res, err
}

// enableLeases switches the checkpointer to lease mode before its writer
// runs: held leases are renewed every renewEvery, and fence lets a batch go
// only when the lease was renewed less than fenceWithin ago.
func (c *checkpointer) enableLeases(renewEvery, fenceWithin time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leased, c.renewEvery, c.fenceWithin = true, renewEvery, fenceWithin
}

// leaseMode reports whether the checkpointer writes through leases.
func (c *checkpointer) leaseMode() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leased
}

// hold records a lease this host just took (the take write was sent at
// sentAt and left the counter at counter). Positions handed in while the
// key was not held were refused; the shard's worker reads its checkpoint
// from the store.
func (c *checkpointer) hold(key shared.CheckpointKey, owner string, counter int64, sentAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keyLocked(key)
	k.stored, k.has = k.seq, false
	k.retryAt = time.Time{} // failures are kept: the first write that succeeds logs the recovery
	k.lease = &leaseState{owner: owner, counter: counter, renewedAt: sentAt}
	c.wake() // the writer schedules the renewals
}

// refuseUnheldLocked rejects the newest position of a key this host does
// not hold in lease mode: it is never written (and never counted as
// written).
func (c *checkpointer) refuseUnheldLocked(k *keyState) {
	if !c.leased || (k.lease != nil && k.lease.done == nil) || k.seq <= k.stored {
		return
	}
	k.conflict = k.seq
	k.rejectErr = "this host does not hold the shard's lease"
}

// fence is called before every batch of a leased shard: it returns nil when
// the lease was renewed less than fenceWithin ago, renews it synchronously
// otherwise, and returns an error wrapping ErrLeaseLost when the lease is
// gone. So a host that was frozen (SIGSTOP), partitioned or slow never
// starts a batch on a lease another host may have taken.
func (c *checkpointer) fence(ctx context.Context, key shared.CheckpointKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.leased {
		return nil
	}
	k := c.keys[key]
	if k == nil || k.lease == nil {
		return fmt.Errorf("%w: %s/%s is not held by this host", ErrLeaseLost, key.Stream, key.ShardID)
	}
	ls := k.lease
	if ls.done == nil && time.Since(ls.renewedAt) < c.fenceWithin {
		return nil
	}
	asked := time.Now()
	if ls.done == nil {
		ls.wantRenew = true
		c.wake()
	}
	defer c.wakeOnDone(ctx)()
	for {
		switch {
		case errors.Is(ls.done, errReleased):
			return fmt.Errorf("%w: %s/%s was handed off", ErrLeaseLost, key.Stream, key.ShardID)
		case ls.done != nil:
			return ls.done
		case !ls.renewedAt.Before(asked):
			return nil
		case c.fatal != nil:
			return c.fatal
		case ctx.Err() != nil:
			return ctx.Err()
		}
		c.cond.Wait()
	}
}

// release hands a held lease off: the pending position (if any) and the
// release (owner cleared, counter bumped) go in one conditional write. It
// returns nil once released, the loss when another host had taken the lease
// meanwhile, or ctx's error.
func (c *checkpointer) release(ctx context.Context, key shared.CheckpointKey) error {
	defer c.wakeOnDone(ctx)()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keys[key]
	if k == nil || k.lease == nil {
		return nil
	}
	ls := k.lease
	if ls.done == nil {
		ls.release = true
		c.wake()
	}
	for {
		switch {
		case errors.Is(ls.done, errReleased):
			return nil
		case ls.done != nil:
			return ls.done
		case c.fatal != nil:
			return c.fatal
		case ctx.Err() != nil:
			return fmt.Errorf("lease of %s/%s not released: %w", key.Stream, key.ShardID, ctx.Err())
		}
		c.cond.Wait()
	}
}

// heldKeys returns the keys of stream whose lease this host holds.
func (c *checkpointer) heldKeys(stream string) []shared.CheckpointKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []shared.CheckpointKey
	for key, k := range c.keys {
		if key.Stream == stream && k.lease != nil && k.lease.done == nil {
			out = append(out, key)
		}
	}
	return out
}

// dueLeases returns the lease writes to send now: positions to store,
// renewals that are due or asked for by fence, hand-offs. When there are
// none, next is when the next one is due.
func (c *checkpointer) dueLeases(now time.Time) ([]shared.LeaseUpdate, []uint64, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var updates []shared.LeaseUpdate
	var versions []uint64
	for key, k := range c.keys {
		ls := k.lease
		if ls == nil || ls.done != nil || ls.verify {
			continue
		}
		pos := k.pending()
		renewAt := ls.renewedAt.Add(c.renewEvery)
		if !pos && !ls.wantRenew && !ls.release && now.Before(renewAt) {
			later(renewAt)
			continue
		}
		if now.Before(c.outageUntil) {
			later(c.outageUntil)
			continue
		}
		if now.Before(k.retryAt) {
			later(k.retryAt)
			continue
		}
		u := shared.LeaseUpdate{Key: key, ExpectOwner: ls.owner, ExpectCounter: ls.counter, Owner: ls.owner}
		if ls.release {
			u.Owner = ""
		}
		var v uint64
		if pos {
			cp := k.latest
			u.Checkpoint, v = &cp, k.seq
			u.Rewind = k.rewind != 0 && k.seq >= k.rewind
		}
		updates = append(updates, u)
		versions = append(versions, v)
	}
	if len(updates) > 0 {
		next = time.Time{}
	}
	return updates, versions, next
}

// recordLeases applies the outcome of one UpdateLeases RPC sent at sentAt.
func (c *checkpointer) recordLeases(updates []shared.LeaseUpdate, versions []uint64, sentAt time.Time, results []shared.Error, rpcErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.cond.Broadcast()
	now := time.Now()
	if c.outage(len(updates), results, rpcErr, now) {
		return
	}
	for i, u := range updates {
		k, r := c.keys[u.Key], results[i]
		ls := k.lease
		switch r.Code {
		case "":
			if u.Checkpoint != nil {
				c.writes++
				k.stored = max(k.stored, versions[i])
				if k.rewind != 0 && k.stored >= k.rewind {
					k.rewind = 0
				}
			}
			c.keyRecovered(u.Key, k, now)
			ls.counter, ls.renewedAt, ls.wantRenew = u.ExpectCounter+1, sentAt, false
			if u.Owner == "" {
				ls.done = errReleased
				c.refuseUnheldLocked(k)
			}
		case shared.CodeConflict:
			ls.verify, ls.rejection = true, r.Error()
			k.retryAt, k.lastErr = time.Time{}, nil
		default:
			c.keyFailed(u.Key, k, r, now)
		}
	}
}

// lose records a lease another host holds now.
func (c *checkpointer) loseLocked(key shared.CheckpointKey, k *keyState, why string) {
	ls := k.lease
	c.conflicts++
	c.leasesLost++
	ls.verify = false
	ls.done = fmt.Errorf("%w: %s/%s: another host took it (%s)", ErrLeaseLost, key.Stream, key.ShardID, why)
	// failures are kept: a key that was failing logs its recovery at its
	// first successful write, after it is taken again.
	if k.seq > k.stored {
		k.conflict, k.rejectErr = k.seq, "lease lost: "+why
	}
	c.log.Error("shard lease lost: another host holds it now; this host stops the shard before its next batch and its position is NOT stored",
		"stream", key.Stream, "shard", key.ShardID, "pending_sequence", k.latest.SequenceNumber, "error", why)
}

// verifyLeases reads the rows of the leases whose last write was rejected
// (one ListLeases per stream). A row that shows this host's owner token
// means the rejected write came after one whose answer was lost but which
// applied (a timeout, a black-holed connection): only this process ever
// writes that token, so the lease is still held, at the stored counter.
// Any other owner means the lease is lost. A failed read is retried with
// backoff; meanwhile the shard is fenced (no renew, so no batch).
func (c *checkpointer) verifyLeases(ctx context.Context) {
	c.mu.Lock()
	streams := map[[2]string][]shared.CheckpointKey{}
	for key, k := range c.keys {
		if k.lease != nil && k.lease.done == nil && k.lease.verify && !time.Now().Before(k.retryAt) {
			s := [2]string{key.App, key.Stream}
			streams[s] = append(streams[s], key)
		}
	}
	c.mu.Unlock()
	for s, keys := range streams {
		rows, err := c.calls.list(ctx, s[0], s[1])
		c.mu.Lock()
		if err != nil {
			for _, key := range keys {
				k := c.keys[key]
				k.failures++
				k.retryAt = time.Now().Add(c.backoff(k.failures))
			}
			c.mu.Unlock()
			continue
		}
		byShard := make(map[string]shared.Checkpoint, len(rows))
		for _, r := range rows {
			if r.Err == nil {
				byShard[r.ShardID] = r.Checkpoint
			}
		}
		for _, key := range keys {
			k := c.keys[key]
			ls := k.lease
			if ls == nil || ls.done != nil || !ls.verify {
				continue
			}
			row := byShard[key.ShardID]
			if row.Owner == ls.owner {
				c.log.Info("a lease write whose answer was lost had applied; the lease is still this host's", "stream", key.Stream,
					"shard", key.ShardID, "counter", row.LeaseCounter)
				ls.verify, ls.counter = false, row.LeaseCounter
				continue
			}
			c.loseLocked(key, k, ls.rejection)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// needVerify reports whether some lease waits for verifyLeases, and when.
func (c *checkpointer) needVerify(now time.Time) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, k := range c.keys {
		if k.lease == nil || k.lease.done != nil || !k.lease.verify {
			continue
		}
		if !now.Before(k.retryAt) {
			return true, time.Time{}
		}
		if next.IsZero() || k.retryAt.Before(next) {
			next = k.retryAt
		}
	}
	return false, next
}

// leaseCounters returns (leases lost).
func (c *checkpointer) leaseCounters() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leasesLost
}

// holds reports whether this host holds key's lease.
func (c *checkpointer) holds(key shared.CheckpointKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keys[key]
	return k != nil && k.lease != nil && k.lease.done == nil
}
