package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// leaseScript applies one lease update (sdk.LeaseUpdate) as one script:
// the condition on the stored owner and counter, then the lease, the
// position (forward only, as setScript; exactly, or cleared, for a
// rewind: the main key, which seed readers read, is SET or DELeted with
// the hash's seq, sub and end fields) or the deletion of the row.
//
//	KEYS[1] main key, KEYS[2] meta hash, KEYS[3] the stream's index set
//	ARGV[1] expected owner, ARGV[2] expected counter (decimal)
//	ARGV[3] new owner, ARGV[4] new counter (decimal)
//	ARGV[5] "d" delete the row, "l" lease only, "c" lease and position,
//	"r" lease and rewind (the position set exactly, or cleared)
//	ARGV[6] sequence number, ARGV[7] sub-sequence number, ARGV[8] "1" for
//	SHARD_END else "0" (with "c" and "r"; with "r", "" and "0" clear)
//	ARGV[9] the shard id (the index member)
//
// It returns {1} when it applied, {0, stored owner, stored counter} when
// the condition failed. Redis does not undo a script that fails half way,
// so the index (a key of another type there fails the script) is written
// before the row.
var leaseScript = goredis.NewScript(luaCompare + luaForward + `
redis.call('GET', KEYS[1]) -- a main key of the wrong type fails here (WRONGTYPE), before the condition
local m = redis.call('HMGET', KEYS[2], 'owner', 'lease', 'seq', 'sub', 'end')
local owner = m[1] or ''
local lease = m[2] or ''
if lease == '' then lease = '0' end
if owner ~= ARGV[1] or lease ~= ARGV[2] then return {0, owner, lease} end
if ARGV[5] == 'd' then
  redis.call('SREM', KEYS[3], ARGV[9])
  redis.call('DEL', KEYS[1], KEYS[2])
  return {1}
end
redis.call('SADD', KEYS[3], ARGV[9])
if ARGV[5] == 'c' then forward(m, 3, ARGV[6], ARGV[7], ARGV[8]) end
if ARGV[5] == 'r' then
  if ARGV[6] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[6]) end
  if ARGV[6] == '' and ARGV[8] ~= '1' then
    redis.call('HDEL', KEYS[2], 'seq', 'sub', 'end')
  else
    redis.call('HSET', KEYS[2], 'seq', ARGV[6], 'sub', ARGV[7], 'end', ARGV[8])
  end
end
redis.call('HSET', KEYS[2], 'owner', ARGV[3], 'lease', ARGV[4])
return {1}
`)

// indexBuilt is the index set's member that says the set has been built
// from a SCAN of the stream's keys (no shard id is empty).
const indexBuilt = ""

// UpdateLeases implements sdk.LeaseStore: one leaseScript call per update,
// all in one pipeline (one round trip; two if the server's script cache
// was empty). Updates of one key in one batch run in order: a batch that
// names a key twice is sent as several pipelines, one per repetition.
func (s *Store) UpdateLeases(ctx context.Context, updates []sdk.LeaseUpdate) []error {
	errs := make([]error, len(updates))
	c, prefix, err := s.handle()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var calls []*scriptCall
	for i, u := range updates {
		op, pos := "l", []any{"", "0", "0"}
		switch {
		case u.Delete:
			op = "d"
		case u.Rewind:
			op = "r"
			if u.Checkpoint != nil {
				argv, skip, err := position(*u.Checkpoint)
				if err != nil {
					errs[i] = fmt.Errorf("lease update of %s/%s not applied: %w", u.Key.Stream, u.Key.ShardID, err)
					continue
				}
				if !skip {
					pos = argv
					if u.Checkpoint.SequenceNumber == "" {
						pos[1] = "0" // no sub-sequence number without a sequence number
					}
				}
			}
		case u.Checkpoint != nil:
			argv, skip, err := position(*u.Checkpoint)
			if err != nil {
				errs[i] = fmt.Errorf("lease update of %s/%s not applied: %w", u.Key.Stream, u.Key.ShardID, err)
				continue
			}
			if !skip {
				op, pos = "c", argv
			}
		}
		argv := []any{u.ExpectOwner, strconv.FormatInt(u.ExpectCounter, 10), u.Owner, strconv.FormatInt(u.ExpectCounter+1, 10), op}
		argv = append(append(argv, pos...), u.Key.ShardID)
		calls = append(calls, &scriptCall{i: i, keys: scriptKeys(prefix, u.Key), argv: argv})
	}
	for _, wave := range waves(calls, func(cl *scriptCall) sdk.CheckpointKey { return updates[cl.i].Key }) {
		runPipelined(ctx, c, leaseScript, wave)
	}
	for _, cl := range calls {
		u := updates[cl.i]
		res, err := cl.cmd.Slice()
		switch {
		case err != nil:
			errs[cl.i] = s.unavailable("lease update of", u.Key, err)
		case len(res) == 3 && res[0] == int64(0):
			errs[cl.i] = sdk.Conflict("lease of %s/%s is held by %q at counter %v, not %q at %d (another host took or renewed it)",
				u.Key.Stream, u.Key.ShardID, res[1], res[2], u.ExpectOwner, u.ExpectCounter)
		case len(res) != 1 || res[0] != int64(1):
			errs[cl.i] = fmt.Errorf("redis %s: lease update of %s/%s: unexpected script reply %v", s.addr, u.Key.Stream, u.Key.ShardID, res)
		}
	}
	return errs
}

// waves splits calls into groups in which no key appears twice, keeping
// the order of the calls to each key: wave n holds each key's n-th call.
func waves[T any](calls []T, key func(T) sdk.CheckpointKey) [][]T {
	var out [][]T
	seen := map[sdk.CheckpointKey]int{}
	for _, cl := range calls {
		k := key(cl)
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], cl)
	}
	return out
}

// ListLeases implements sdk.LeaseStore: the shard ids come from the
// stream's index set, the rows from one MULTI/EXEC (two round trips). The
// first call on a stream whose index was never built scans the stream's
// keys once (rows written before the index existed).
func (s *Store) ListLeases(ctx context.Context, app, stream string) ([]sdk.LeaseRow, error) {
	c, prefix, err := s.handle()
	if err != nil {
		return nil, err
	}
	index := IndexKey(prefix, app, stream)
	fail := func(err error) error {
		if dataError(err) {
			return fmt.Errorf("redis %s: list the leases of %s: %w; key %s should be a set of shard ids: delete it and it is built again", s.addr, stream, err, index)
		}
		return sdk.Unavailable(fmt.Errorf("redis %s: list the leases of %s: %w", s.addr, stream, err))
	}
	var built *goredis.BoolCmd
	var members *goredis.StringSliceCmd
	if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		built = p.SIsMember(ctx, index, indexBuilt)
		members = p.SMembers(ctx, index)
		return nil
	}); err != nil {
		return nil, fail(err)
	}
	ids := members.Val()
	if !built.Val() {
		scanned, err := s.buildIndex(ctx, c, prefix, app, stream, index)
		if err != nil {
			return nil, fail(err)
		}
		ids = append(ids, scanned...)
	}
	seen := map[string]bool{indexBuilt: true}
	type read struct {
		key       sdk.CheckpointKey
		main, met string
		get       *goredis.StringCmd
		meta      *goredis.MapStringStringCmd
	}
	var reads []*read
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: id}
		r := &read{key: k}
		r.main, r.met = Keys(prefix, k)
		reads = append(reads, r)
	}
	if len(reads) == 0 {
		return nil, nil
	}
	if _, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, r := range reads {
			r.get = p.Get(ctx, r.main)
			r.meta = p.HGetAll(ctx, r.met)
		}
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) && !dataError(err) {
		return nil, fail(err) // a data error belongs to its row (below)
	}
	var rows []sdk.LeaseRow
	for _, r := range reads {
		cp, hasPos, err := decodeRow(r.get, r.meta, r.main, r.met)
		if err != nil {
			if e := s.rowError("list the leases of", r.key, err); !errors.Is(e, sdk.ErrUnavailable) {
				// One unreadable row is reported with its shard; the
				// others are listed.
				rows = append(rows, sdk.LeaseRow{ShardID: r.key.ShardID, Err: shared.ToWire(e)})
				continue
			}
			return nil, s.rowError("list the leases of", r.key, err)
		}
		if hasPos || cp.Owner != "" || cp.LeaseCounter != 0 {
			rows = append(rows, sdk.LeaseRow{ShardID: r.key.ShardID, Checkpoint: cp})
		}
	}
	return rows, nil
}

// buildIndex adds the shard ids of every row of the stream found by SCAN
// (rows written before the index existed) to the index, then marks it
// built. It runs once per stream.
func (s *Store) buildIndex(ctx context.Context, c *goredis.Client, prefix, app, stream, index string) ([]string, error) {
	var ids []string
	for _, kind := range []string{":checkpoint:", ":checkpoint-meta:"} {
		head := prefix + app + kind + stream + ":"
		iter := c.Scan(ctx, 0, globEscape(head)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if id := strings.TrimPrefix(iter.Val(), head); id != "" {
				ids = append(ids, id)
			}
		}
		if err := iter.Err(); err != nil {
			return nil, err
		}
	}
	members := make([]any, 0, len(ids)+1)
	for _, id := range ids {
		members = append(members, id)
	}
	members = append(members, indexBuilt)
	if err := c.SAdd(ctx, index, members...).Err(); err != nil {
		return nil, err
	}
	sdk.Logger().Info("built the redis lease index of a stream from its keys", "key", index, "rows", len(ids))
	return ids, nil
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
