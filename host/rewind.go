package host

// kinesis-host rewind: moving a stream's checkpoints to an operator's
// target. A target is resolved per shard into a checkpoint every store
// keeps (resolveRewind, which reads Kinesis), then written with one rewind
// write per shard — the only write allowed to go backwards:
//
//   - a running host stops the shard's worker first, writes (through the
//     checkpointer for a shard whose lease it holds, fenced like every lease
//     write; directly for one another host holds, clearing its owner so
//     that host loses the lease at its next write and whoever takes it
//     starts from the new position), then starts the shard again;
//   - with no host running, RewindStopped starts the checkpoint plugin and
//     writes the store directly.
//
// Positions: TRIM_HORIZON is shared.RewoundToTrimHorizon (AT sequence 0); a
// sequence number S is AT S (shared.SubSequenceAt); a time T is AT the
// first record that arrived at or after T; LATEST (and a time after every
// record) is AFTER the newest record now in the shard. A shard read to its
// end (SHARD_END, a reshard's parent) is left alone, so a rewind to a time
// before a reshard does not replay the parent's records from that time:
// reading a finished parent again would mean holding its children back
// until it ends once more.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host/control"
	"github.com/kinesis-host/kinesis-host/shared"
)

// rewindTimeout bounds one rewind: resolving every shard's target in
// Kinesis and writing the store.
const rewindTimeout = 90 * time.Second

// rewindShard is one shard's part of a rewind.
type rewindShard struct {
	id    string
	from  shared.Checkpoint
	found bool // from is a stored checkpoint
	to    shared.Checkpoint
	desc  string // the new position, as the operator reads it
	moves bool
	note  string
}

// result is the shard's entry of the operator's answer.
func (r rewindShard) result(applied bool) control.ShardRewind {
	out := control.ShardRewind{Shard: r.id, To: r.desc, Moves: r.moves, Applied: applied && r.moves, Note: r.note}
	if r.found {
		out.From = control.Checkpoint{SequenceNumber: r.from.SequenceNumber, SubSequenceNumber: r.from.SubSequenceNumber, ShardEnd: r.from.ShardEnd}
	}
	return out
}

// describeCheckpoint is a rewound checkpoint as a shard iterator position.
func describeCheckpoint(cp shared.Checkpoint) string {
	switch {
	case cp.IsTrimHorizon():
		return "TRIM_HORIZON"
	case cp.SubSequenceNumber == shared.SubSequenceAt:
		return "AT_SEQUENCE_NUMBER " + cp.SequenceNumber
	default:
		return "AFTER_SEQUENCE_NUMBER " + cp.SequenceNumber
	}
}

// planRewind reads the stream's shards and their checkpoints (get) and
// resolves the target for each shard r names.
func planRewind(ctx context.Context, api KinesisAPI, app string, r control.RewindRequest,
	get func(context.Context, []shared.CheckpointKey) ([]shared.CheckpointGetResult, error)) ([]rewindShard, error) {
	if r.To.Kind == control.TargetSequence && r.Shard == "" {
		return nil, fmt.Errorf("%w: a sequence number belongs to one shard: add -shard <id> (the shard whose record it is)", control.ErrBadRequest)
	}
	all, err := listAllShards(ctx, api, r.Stream, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: list the shards of %s: %v", ErrKinesis, r.Stream, err)
	}
	var shards []types.Shard
	for _, sh := range all {
		if r.Shard == "" || aws.ToString(sh.ShardId) == r.Shard {
			shards = append(shards, sh)
		}
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("%w: stream %s has no shard %q in Kinesis now", control.ErrNoSuchShard, r.Stream, r.Shard)
	}
	sort.Slice(shards, func(i, j int) bool { return aws.ToString(shards[i].ShardId) < aws.ToString(shards[j].ShardId) })
	keys := make([]shared.CheckpointKey, len(shards))
	for i, sh := range shards {
		keys[i] = shared.CheckpointKey{App: app, Stream: r.Stream, ShardID: aws.ToString(sh.ShardId)}
	}
	cps, err := get(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoints of %s: %w", r.Stream, err)
	}
	out := make([]rewindShard, len(shards))
	for i, sh := range shards {
		rs := rewindShard{id: keys[i].ShardID}
		if res := cps[i]; res.Err != nil {
			return nil, fmt.Errorf("read the checkpoint of %s/%s: %w", r.Stream, rs.id, shared.FromWire(res.Err))
		} else if res.Found {
			rs.from, rs.found = res.Checkpoint, true
		}
		if rs.found && rs.from.ShardEnd {
			rs.desc, rs.note = "SHARD_END", "the shard was read to its end (a reshard's parent): left as it is; its records from the target on are not replayed"
			out[i] = rs
			continue
		}
		to, note, err := resolveRewind(ctx, api, r.Stream, sh, r.To)
		if err != nil {
			return nil, err
		}
		rs.to, rs.desc, rs.note = to, describeCheckpoint(to), note
		rs.moves = !rs.found || rs.from.SequenceNumber != to.SequenceNumber || rs.from.SubSequenceNumber != to.SubSequenceNumber
		if !rs.moves && rs.note == "" {
			rs.note = "already there"
		}
		out[i] = rs
	}
	return out, nil
}

// resolveRewind turns a target into the checkpoint that makes the shard
// restart there (reading the shard for a time or LATEST).
func resolveRewind(ctx context.Context, api KinesisAPI, stream string, sh types.Shard, t control.Target) (shared.Checkpoint, string, error) {
	id := aws.ToString(sh.ShardId)
	switch t.Kind {
	case control.TargetTrimHorizon:
		return shared.RewoundToTrimHorizon(), "", nil
	case control.TargetSequence:
		// Kinesis says whether the number belongs to the shard.
		_, err := api.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(id),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(t.SequenceNumber)})
		if err != nil {
			return shared.Checkpoint{}, "", fmt.Errorf("%w: sequence number %s is not a position of shard %s (Kinesis: %v); take one from the shard's records or from kinesis-host status -json",
				control.ErrBadRequest, t.SequenceNumber, id, err)
		}
		return shared.Checkpoint{SequenceNumber: t.SequenceNumber, SubSequenceNumber: shared.SubSequenceAt}, "", nil
	case control.TargetTimestamp:
		seq, found, err := firstAtOrAfter(ctx, api, stream, id, t.Timestamp)
		if err != nil {
			return shared.Checkpoint{}, "", err
		}
		if found {
			return shared.Checkpoint{SequenceNumber: seq, SubSequenceNumber: shared.SubSequenceAt}, "", nil
		}
		cp, err := afterNewest(ctx, api, stream, id)
		return cp, "no record at or after that time yet: the shard restarts after its newest record", err
	case control.TargetLatest:
		cp, err := afterNewest(ctx, api, stream, id)
		return cp, "", err
	}
	return shared.Checkpoint{}, "", t.Validate()
}

// rewindCallGap paces a rewind's GetRecords calls on one shard (Kinesis
// allows 5 per second per shard, shared with the host's reader).
const rewindCallGap = 250 * time.Millisecond

// maxRewindCalls bounds the GetRecords calls spent looking for one record.
const maxRewindCalls = 200

// readShard calls page with the records of the shard from pos, page by
// page, until the shard is caught up (or ended), page returns false, or
// maxRewindCalls calls were made (an error: the shard is too far behind).
func readShard(ctx context.Context, api KinesisAPI, stream, id string, in *kinesis.GetShardIteratorInput, limit int32, page func([]types.Record) bool) error {
	in.StreamName, in.ShardId = aws.String(stream), aws.String(id)
	it, err := api.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("%w: GetShardIterator on %s: %v", ErrKinesis, id, err)
	}
	iter := it.ShardIterator
	for calls := 0; iter != nil; calls++ {
		if calls == maxRewindCalls {
			return fmt.Errorf("%w: shard %s: no answer after %d GetRecords calls; try again, or a time closer to now", ErrKinesis, id, calls)
		}
		if calls > 0 {
			if err := sleepCtx(ctx, rewindCallGap); err != nil {
				return err
			}
		}
		out, err := api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit)})
		if err != nil {
			if classify(err) == errRetry && ctx.Err() == nil {
				calls++
				if err := sleepCtx(ctx, retryBackoff(1)); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("%w: GetRecords on %s: %v", ErrKinesis, id, err)
		}
		if !page(out.Records) {
			return nil
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil // caught up
		}
		iter = out.NextShardIterator
	}
	return nil
}

// firstAtOrAfter finds the first record of the shard that arrived at or
// after ts.
func firstAtOrAfter(ctx context.Context, api KinesisAPI, stream, id string, ts time.Time) (seq string, found bool, err error) {
	err = readShard(ctx, api, stream, id, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(ts)}, 1,
		func(recs []types.Record) bool {
			if len(recs) > 0 {
				seq, found = aws.ToString(recs[0].SequenceNumber), true
				return false
			}
			return true
		})
	return seq, found, err
}

// newestWindows are how far back afterNewest looks for the shard's newest
// record, nearest first: each window is read to its end, so the newest
// record is found by reading only the records of the first window that has
// any.
var newestWindows = []time.Duration{10 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 366 * 24 * time.Hour}

// afterNewest is the position after the newest record now in the shard
// (what LATEST means when stored); a shard with no record at all restarts
// at TRIM_HORIZON, which is the same.
func afterNewest(ctx context.Context, api KinesisAPI, stream, id string) (shared.Checkpoint, error) {
	now := time.Now()
	for _, w := range newestWindows {
		last := ""
		err := readShard(ctx, api, stream, id, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(now.Add(-w))}, 10000,
			func(recs []types.Record) bool {
				if len(recs) > 0 {
					last = aws.ToString(recs[len(recs)-1].SequenceNumber)
				}
				return true
			})
		if err != nil {
			return shared.Checkpoint{}, err
		}
		if last != "" {
			return shared.Checkpoint{SequenceNumber: last}, nil
		}
	}
	return shared.RewoundToTrimHorizon(), nil
}

// rewindDirect writes cp as key's position straight to the store, for a
// shard this host does not run: a Set with Rewind, or on a lease store one
// conditional rewind write on the row's current (owner, counter) that also
// clears the owner, so a host that holds the lease loses it at its next
// write (and its worker stops) and whoever takes it next starts from cp.
func rewindDirect(ctx context.Context, pc procCalls, leases bool, key shared.CheckpointKey, cp shared.Checkpoint) error {
	if !leases {
		res, err := pc.set(ctx, []shared.CheckpointUpdate{{Key: key, Checkpoint: cp, Rewind: true}})
		if err != nil {
			return err
		}
		return resultErr(res[0])
	}
	for attempt := 1; ; attempt++ {
		rows, err := pc.list(ctx, key.App, key.Stream)
		if err != nil {
			return err
		}
		u := shared.LeaseUpdate{Key: key, Checkpoint: &cp, Rewind: true}
		for _, row := range rows {
			if row.ShardID == key.ShardID {
				if row.Err != nil {
					return shared.FromWire(row.Err)
				}
				u.ExpectOwner, u.ExpectCounter = row.Checkpoint.Owner, row.Checkpoint.LeaseCounter
			}
		}
		res, err := pc.update(ctx, []shared.LeaseUpdate{u})
		if err != nil {
			return err
		}
		if res[0].Code == shared.CodeConflict && attempt < 5 {
			continue // its owner renewed between the read and the write
		}
		return resultErr(res[0])
	}
}

// resultErr is one write's answer as an error (nil for the zero Error).
func resultErr(e shared.Error) error {
	if e.Code == "" {
		return nil
	}
	return &e
}

// rewindOp is a rewind handed to a running stream's runner, which stops the
// shards' workers, writes, and starts them again.
type rewindOp struct {
	shards []rewindShard
	done   chan error
}

// has reports whether op moves shard id (its worker must not start until
// the rewind is written).
func (op *rewindOp) has(id string) bool {
	for _, rs := range op.shards {
		if rs.id == id && rs.moves {
			return true
		}
	}
	return false
}

// drop leaves shard id out of op (note says why; "" keeps the old note).
func (op *rewindOp) drop(id, note string) {
	for i := range op.shards {
		if op.shards[i].id == id {
			op.shards[i].moves = false
			if note != "" {
				op.shards[i].note = note
			}
		}
	}
}

// applyRewind writes op's positions once none of its shards has a worker
// (the runner stopped them): through the checkpointer for a shard this
// host may write (no leases, or its lease held here), directly otherwise.
func (s *streamRunner) applyRewind(ctx context.Context, op *rewindOp) error {
	ctx, cancel := context.WithTimeout(ctx, rewindTimeout)
	defer cancel()
	var errs []error
	for _, rs := range op.shards {
		if !rs.moves {
			continue
		}
		key := shared.CheckpointKey{App: s.h.conf().App, Stream: s.cfg.Name, ShardID: rs.id}
		var err error
		if s.leases == nil || s.cp.holds(key) {
			err = s.cp.rewind(ctx, key, rs.to)
		} else {
			err = rewindDirect(ctx, procCalls{s.cp.proc}, true, key, rs.to)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", rs.id, err))
			continue
		}
		st := s.h.stat(s.cfg.Name, rs.id)
		st.ended.Store(false)
		st.mu.Lock()
		to := rs.to
		st.start, st.errText = &to, ""
		st.mu.Unlock()
		s.log.Info("checkpoint rewound by an operator", "shard", rs.id, "from", rs.from.SequenceNumber, "to", rs.desc)
	}
	return errors.Join(errs...)
}

// Rewind implements control.Host: a dry run says, per shard, where its
// checkpoint is and where the rewind puts it; -apply also writes it, and
// the stream's runner restarts the shards from there.
func (c controlHost) Rewind(ctx context.Context, r control.RewindRequest) (control.RewindResult, error) {
	_, err := c.stream(r.Stream)
	if err != nil {
		return control.RewindResult{}, err
	}
	if err := r.To.Validate(); err != nil {
		return control.RewindResult{}, err
	}
	h := c.h
	v, ok := h.runners.Load(r.Stream)
	if !ok {
		return control.RewindResult{}, fmt.Errorf("%w: stream %s is not running (stopped by a failure or a spent restart budget); stop the host and rewind it stopped", control.ErrBadRequest, r.Stream)
	}
	sr := v.(*streamRunner)
	if !r.DryRun {
		if err := sr.canRewind(ctx); err != nil {
			return control.RewindResult{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, rewindTimeout)
	defer cancel()
	plan, err := planRewind(ctx, h.api, h.conf().App, r, func(ctx context.Context, keys []shared.CheckpointKey) ([]shared.CheckpointGetResult, error) {
		return sr.cp.readOnce(ctx, keys)
	})
	if err != nil {
		return control.RewindResult{}, err
	}
	out := control.RewindResult{Stream: r.Stream, DryRun: r.DryRun}
	applied := false
	if !r.DryRun {
		op := &rewindOp{shards: plan, done: make(chan error, 1)}
		select {
		case sr.rewinds <- op:
		case <-ctx.Done():
			return control.RewindResult{}, fmt.Errorf("the stream did not take the rewind: %w", ctx.Err())
		case <-sr.stopped:
			return control.RewindResult{}, fmt.Errorf("%w: stream %s stopped; nothing was changed", control.ErrBadRequest, r.Stream)
		}
		select {
		case err = <-op.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			return control.RewindResult{}, fmt.Errorf("rewind of %s not (fully) applied: %w; run kinesis-host status to see each shard's checkpoint", r.Stream, err)
		}
		applied = true
	}
	for _, rs := range plan {
		out.Shards = append(out.Shards, rs.result(applied))
	}
	return out, nil
}

// canRewind refuses -apply on a store that cannot write a rewind.
func (s *streamRunner) canRewind(ctx context.Context) error {
	inst, err := s.cp.proc.get(ctx)
	if err != nil {
		return err
	}
	if !inst.info.Rewind {
		return fmt.Errorf("%w: checkpoint %q (%s) cannot move a checkpoint backwards: rebuild it with this release's sdk (sdk.Rewinder or sdk.LeaseStore); nothing was changed",
			control.ErrBadRequest, s.cp.proc.block().Name, inst.info.Name)
	}
	return nil
}

// RewindStopped rewinds the checkpoints of cfg's stream with no host
// running: it starts the stream's checkpoint plugin, reads Kinesis to
// resolve the target and writes the store directly (on a lease store, as
// conditional writes that also take any remaining owner's lease away).
// With r.DryRun it only reports. opts.Logger and opts.Kinesis are used as
// by New (StatsInterval is ignored).
func RewindStopped(ctx context.Context, cfg *Config, r control.RewindRequest, opts Options) (control.RewindResult, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.New(&hclog.LoggerOptions{Name: "kinesis-host", Level: hclog.Warn})
	}
	var sc *StreamConfig
	for _, s := range cfg.Streams {
		if s.Name == r.Stream {
			sc = s
		}
	}
	if sc == nil {
		return control.RewindResult{}, fmt.Errorf("%w: no stream %q in %s", control.ErrNoSuchStream, r.Stream, cfg.Path)
	}
	if err := r.To.Validate(); err != nil {
		return control.RewindResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, rewindTimeout)
	defer cancel()
	api := opts.Kinesis
	if api == nil {
		client, err := NewKinesisClient(ctx, cfg.Kinesis)
		if err != nil {
			return control.RewindResult{}, err
		}
		api = client
	}
	blk := cfg.Checkpoints[sc.Checkpoint]
	if blk == nil {
		return control.RewindResult{}, fmt.Errorf("stream %s: no checkpoint block %q", sc.Name, sc.Checkpoint)
	}
	proc := newPluginProc(blk, cfg.App, cfg.Dir, log)
	inst, err := proc.get(ctx)
	if err != nil {
		return control.RewindResult{}, fmt.Errorf("start checkpoint %q: %w", blk.Name, err)
	}
	defer proc.stop(5 * time.Second)
	if !r.DryRun && !inst.info.Rewind {
		return control.RewindResult{}, fmt.Errorf("%w: checkpoint %q (%s) cannot move a checkpoint backwards: rebuild it with this release's sdk; nothing was changed",
			control.ErrBadRequest, blk.Name, inst.info.Name)
	}
	pc := procCalls{proc}
	plan, err := planRewind(ctx, api, cfg.App, r, pc.get)
	if err != nil {
		return control.RewindResult{}, err
	}
	out := control.RewindResult{Stream: r.Stream, DryRun: r.DryRun}
	var errs []error
	for _, rs := range plan {
		applied := false
		if !r.DryRun && rs.moves {
			key := shared.CheckpointKey{App: cfg.App, Stream: r.Stream, ShardID: rs.id}
			if err := rewindDirect(ctx, pc, inst.info.Leases, key, rs.to); err != nil {
				errs = append(errs, fmt.Errorf("shard %s: %w", rs.id, err))
			} else {
				applied = true
				log.Info("checkpoint rewound", "stream", r.Stream, "shard", rs.id, "from", rs.from.SequenceNumber, "to", rs.desc)
			}
		}
		out.Shards = append(out.Shards, rs.result(applied))
	}
	return out, errors.Join(errs...)
}
