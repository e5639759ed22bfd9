// Package redis is a checkpoint store kept in Redis, compatible with the
// key layout of harlow/kinesis-consumer's store/redis, so users who migrate
// keep their progress.
//
// Settings (config {} block):
//
//	address      = "127.0.0.1:6379"  # host:port
//	db           = 0
//	username     = ""                # Redis 6 ACL user; empty for the default user
//	password     = ""                # never logged or echoed
//	key_prefix   = ""                # put in front of every key
//	tls          = false             # TLS to the server (verified against the host name)
//	dial_timeout = "5s"
//
// # Layout
//
// The row of (app, stream, shard) lives in two keys, and each stream has
// an index set:
//
//	<key_prefix><app>:checkpoint:<stream>:<shard>        string: the sequence number
//	<key_prefix><app>:checkpoint-meta:<stream>:<shard>   hash: seq, sub, end, owner, lease
//	<key_prefix><app>:checkpoint-index:<stream>          set: the stream's shard ids
//
// The first key is exactly the seed's: it holds the plain decimal sequence
// number, so a checkpoint written by the seed is picked up as is, and a
// seed reader still sees the last sequence number we wrote. Everything the
// seed had no room for goes into the meta hash: the sub-sequence number
// (sub), the SHARD_END marker (end = "1"), and the shard's lease: its
// owner (owner, "" or absent when unowned) and counter (lease, absent
// meaning 0). The hash also repeats the sequence number it describes
// (seq): when the main key no longer holds that number (a seed-era writer
// or an operator changed it), sub and end are stale and ignored, so the
// main key is always the source of truth for the position. The lease
// fields do not depend on seq: they count whatever the main key holds.
// Delete both keys to reset a shard.
//
// A lease without a position (a shard taken but not yet checkpointed, or
// a host's worker row, whose shard id starts with "kinesis-host-worker:")
// is the hash alone, with no main key: seed readers see no checkpoint
// there, and Get reports none. Seed readers never read the hash or the
// index.
//
// The index set lets ListLeases find a stream's rows without scanning the
// keyspace: every Set and lease update adds its shard id (a lease delete
// removes it). Rows written before the index existed (by the seed or an
// earlier version) are found by the first ListLeases of the stream, which
// SCANs the stream's keys once and marks the set built with an empty
// member; delete the set to have it built again. A shard id left in the
// set after its keys were deleted by hand is skipped.
//
// As in the seed, the key is built by joining app, stream and shard with
// ":", so names containing ":" can collide (app "a:b" and stream "c" vs
// app "a" and stream "b:c"); give each app a distinct key_prefix if that
// matters.
//
// SHARD_END is recorded only in the hash (end = "1"); the main key keeps the
// last sequence number read, so seed readers never read a marker they do
// not understand. A ShardEnd write without a sequence number keeps the
// stored one; on a shard with no checkpoint it creates only the hash.
//
// # Conditional writes
//
// Every write runs a Lua script (EVALSHA, falling back to EVAL when the
// server's script cache is empty, e.g. after a restart) that reads the
// stored position and writes only if the new one is past it: sequence
// numbers compare as decimal integers of any length (leading zeros
// stripped, then by length, then digit by digit), then sub-sequence
// numbers; a finished shard is never moved. Two writers racing therefore
// can never move a checkpoint backwards. Set writes the position only and
// never the lease fields. SetBatch sends one script call per update in a
// single pipeline (one round trip).
//
// # Leases
//
// The store implements sdk.LeaseStore, so several hosts can share it. A
// lease update is one script call: it compares the hash's owner and lease
// with the expected ones (a missing hash or field is owner "" and counter
// 0) and, only when they match, sets owner and lease = counter+1 and moves
// the position forward exactly as Set does, or deletes the row's keys.
// Redis runs a script atomically, so the check and the write cannot be
// separated. UpdateLeases sends all its script calls in one pipeline (one
// round trip; a batch naming a key twice takes one more per repetition,
// so that a key's updates run in order). ListLeases costs two round trips:
// SMEMBERS on the index, then one MULTI/EXEC reading every row (plus the
// one-time SCAN above).
//
// A rewind (sdk.LeaseUpdate.Rewind, `kinesis-host rewind -apply`) is the
// same script with the same condition: it sets the main key (what seed
// readers read) and the hash's seq, sub and end to exactly the given
// position, backwards too, or DELetes the main key and HDELs those fields
// to clear it; owner and lease are written as for every lease update.
//
// Get reads both keys in one MULTI/EXEC. A missing key is "no checkpoint";
// a connection failure or timeout is returned as sdk.Unavailable, so the
// host retries and never starts a shard from scratch because Redis was
// briefly unreachable. A key holding the wrong type (WRONGTYPE) is a plain
// error naming the keys to fix or delete; retrying it does not help, and
// the host retries only that key, on its own backoff.
//
// Every call is bounded by its context (the sdk gives a store half of the
// host's call_timeout), so a stalled server is answered "unavailable" long
// before the host would count the plugin as hung. Configure answers
// sdk.Unavailable when the server cannot be reached (the host retries
// it), and a ConfigError for wrong settings (password, db, TLS, an
// unknown host name).
//
// The keys of a row and its stream's index are touched by one script, so
// Redis Cluster is not supported (the seed's key layout has no hash tag);
// use a single server or a Sentinel-managed primary address. Configure
// Redis with AOF (appendonly yes) if a Redis crash must not lose recent
// checkpoints or leases.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// DefaultAddress is used when the config block names no address.
const DefaultAddress = "127.0.0.1:6379"

// DefaultDialTimeout is used when dial_timeout is not set.
const DefaultDialTimeout = 5 * time.Second

// Settings is the store's config {} block.
type Settings struct {
	Address     string `json:"address"`
	DB          int    `json:"db"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	KeyPrefix   string `json:"key_prefix"`
	TLS         bool   `json:"tls"`
	DialTimeout string `json:"dial_timeout"`
}

// luaCompare holds the scripts' comparisons: nat compares two decimal
// naturals of any length (leading zeros stripped, then by length, then
// digit by digit), int two decimal integers that may be negative.
const luaCompare = `
local function nat(a, b)
  a = string.gsub(a, '^0+', '')
  b = string.gsub(b, '^0+', '')
  if #a ~= #b then
    if #a < #b then return -1 else return 1 end
  end
  if a == b then return 0 end
  if a < b then return -1 else return 1 end
end
local function int(a, b)
  local na = string.sub(a, 1, 1) == '-'
  local nb = string.sub(b, 1, 1) == '-'
  if na ~= nb then
    if na then return -1 else return 1 end
  end
  if na then return nat(string.sub(b, 2), string.sub(a, 2)) end
  return nat(a, b)
end
`

// luaForward moves the position forward (see the package documentation);
// it expects the stored hash fields seq, sub, end in m[ms], m[ms+1],
// m[ms+2] and the new position in seq, sub, fin. It returns true when it
// wrote.
const luaForward = `
local function forward(m, ms, seq, sub, fin)
  local cur = redis.call('GET', KEYS[1])
  local curseq = cur or ''
  local valid = m[ms] ~= false and m[ms] == curseq
  local cursub = '0'
  if valid and m[ms+1] then cursub = m[ms+1] end
  if valid and m[ms+2] == '1' then return false end
  if (cur ~= false) and fin ~= '1' then
    local c = nat(seq, curseq)
    if c < 0 or (c == 0 and int(sub, cursub) <= 0) then return false end
  end
  if seq == '' then
    seq = curseq
    sub = cursub
  else
    redis.call('SET', KEYS[1], seq)
  end
  redis.call('HSET', KEYS[2], 'seq', seq, 'sub', sub, 'end', fin)
  return true
end
`

// setScript applies one conditional write; see the package documentation.
// It never touches the lease fields (owner, lease) of the hash.
//
//	KEYS[1] main key, KEYS[2] meta hash, KEYS[3] the stream's index set
//	ARGV[1] sequence number ("" keeps the stored one; only with ARGV[3]="1")
//	ARGV[2] sub-sequence number (decimal), ARGV[3] "1" for SHARD_END else "0"
//	ARGV[4] the shard id (the index member)
//
// It returns 1 when it wrote, 0 when the stored position was already at or
// past the new one.
var setScript = goredis.NewScript(luaCompare + luaForward + `
redis.call('SADD', KEYS[3], ARGV[4])
local m = redis.call('HMGET', KEYS[2], 'seq', 'sub', 'end')
if forward(m, 1, ARGV[1], ARGV[2], ARGV[3]) then return 1 end
return 0
`)

// Store is the Redis-backed sdk.Store. Use New, then Configure.
type Store struct {
	mu     sync.RWMutex
	client *goredis.Client
	prefix string
	addr   string
}

// New returns an unconfigured store.
func New() *Store { return &Store{} }

// Configure implements sdk.Configurer: it validates the settings and, unless
// validating only, connects and checks that the server answers, accepts the
// credentials and runs scripts.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	var st Settings
	if err := cfg.Decode(&st); err != nil {
		return err
	}
	opts, err := st.options()
	if err != nil {
		return err
	}
	routeClientLogs.Do(func() { goredis.SetLogger(clientLogger{}) })
	client := goredis.NewClient(opts)
	if err := check(ctx, client, st, opts.DialTimeout); err != nil {
		_ = client.Close()
		return err
	}
	// validate: the server answered and accepted us. The client is kept
	// all the same, for read-only calls (validate lists the leases); the
	// host makes no write on a store configured with ValidateOnly.
	s.mu.Lock()
	old := s.client
	s.client, s.prefix, s.addr = client, st.KeyPrefix, opts.Addr
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func (st *Settings) options() (*goredis.Options, error) {
	if st.Address == "" {
		st.Address = DefaultAddress
	}
	host, port, err := net.SplitHostPort(st.Address)
	if err != nil || port == "" {
		return nil, sdk.ConfigError("address", "must be host:port, like %q; got %q", DefaultAddress, st.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, sdk.ConfigError("address", "port must be a number from 1 to 65535; got %q", st.Address)
	}
	if st.DB < 0 {
		return nil, sdk.ConfigError("db", "must be a database number >= 0; got %d", st.DB)
	}
	dial := DefaultDialTimeout
	if st.DialTimeout != "" {
		d, err := time.ParseDuration(st.DialTimeout)
		if err != nil || d <= 0 {
			return nil, sdk.ConfigError("dial_timeout", "must be a positive duration like \"5s\"; got %q", st.DialTimeout)
		}
		dial = d
	}
	if st.Username != "" && st.Password == "" {
		return nil, sdk.ConfigError("password", "is empty but username %q is set; set the user's password (for example password = env(\"REDIS_PASSWORD\"))", st.Username)
	}
	opts := &goredis.Options{
		Addr:     st.Address,
		DB:       st.DB,
		Username: st.Username,
		Password: st.Password,
		// Checkpoint calls are small; fail fast and let the host retry
		// with backoff rather than stacking retries here.
		DialTimeout:           dial,
		DialerRetries:         2,
		DialerRetryTimeout:    50 * time.Millisecond,
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          5 * time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		PoolSize:              16,
		PoolTimeout:           10 * time.Second,
		ConnMaxIdleTime:       5 * time.Minute,
		DisableIdentity:       true, // no CLIENT SETINFO: works with older servers and proxies
	}
	if st.TLS {
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// check pings the server and loads the script, turning failures into
// ConfigErrors that name the setting to fix. The password is never part of
// a message.
func check(ctx context.Context, c *goredis.Client, st Settings, dial time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, dial+2*time.Second)
	defer cancel()
	err := c.Ping(ctx).Err()
	if err == nil {
		err = setScript.Load(ctx, c).Err()
	}
	if err == nil {
		err = leaseScript.Load(ctx, c).Err()
	}
	if err == nil {
		return nil
	}
	msg := redact(err.Error(), st.Password)
	upper := strings.ToUpper(msg)
	switch {
	case strings.Contains(upper, "WRONGPASS"), strings.Contains(upper, "INVALID PASSWORD"),
		strings.Contains(upper, "INVALID USERNAME-PASSWORD"), strings.Contains(upper, "NOAUTH"),
		strings.Contains(upper, "WITHOUT ANY PASSWORD CONFIGURED"), strings.Contains(upper, "AUTH FAILED"):
		who := "the default user"
		if st.Username != "" {
			who = fmt.Sprintf("user %q", st.Username)
		}
		if st.Password == "" {
			return sdk.ConfigError("password", "Redis at %s requires a password (%s); set password (and username for an ACL user), for example password = env(\"REDIS_PASSWORD\")", st.Address, msg)
		}
		return sdk.ConfigError("password", "Redis at %s rejected the password for %s (%s); check password and username", st.Address, who, msg)
	case strings.Contains(upper, "NOPERM"):
		return sdk.ConfigError("username", "Redis user %q at %s lacks a permission the checkpoint store needs (GET, SET, DEL, HMGET, HSET, HGETALL, SADD, SREM, SMEMBERS, SISMEMBER, SCAN, MULTI, EXEC, EVAL, EVALSHA, SCRIPT LOAD, PING): %s", st.Username, st.Address, msg)
	case strings.Contains(upper, "DB INDEX IS OUT OF RANGE"), strings.Contains(upper, "INVALID DB INDEX"):
		return sdk.ConfigError("db", "Redis at %s has no database %d (%s); use a number below the server's `databases` setting", st.Address, st.DB, msg)
	}
	var tlsErr tls.RecordHeaderError
	if errors.As(err, &tlsErr) && st.TLS {
		return sdk.ConfigError("tls", "Redis at %s does not speak TLS (%s); set tls = false or use the server's TLS port", st.Address, msg)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return sdk.ConfigError("address", "the host name in %s does not exist (%s); fix address (host:port)", st.Address, msg)
	}
	if dataError(err) {
		return sdk.ConfigError("address", "Redis at %s refused the checkpoint store (%s); check address, username, password and db", st.Address, msg)
	}
	hint := "check address (host:port), that Redis is running and reachable from here"
	if st.TLS {
		hint += ", and whether the server really speaks TLS (tls = true)"
	} else {
		hint += ", and whether the server requires TLS (tls = true)"
	}
	// Unreachable or stalled: not a configuration problem by itself; the
	// host retries Configure with backoff.
	return sdk.UnavailableAt("address", fmt.Errorf("cannot reach Redis at %s within %s: %s; if this persists, %s", st.Address, dial, msg, hint))
}

// isServerError reports an error reply from the server (as opposed to a
// connection that failed or timed out).
func isServerError(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// transientReplies are server replies that pass: the server is loading,
// busy, failing over or out of memory.
var transientReplies = []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "OOM", "NOSCRIPT", "NOREPLICAS"}

// transientReply reports a server reply that passes (loading, busy,
// failing over, out of memory, out of client slots): Configure answers
// "unavailable" and the host retries.
func transientReply(err error) bool {
	for _, p := range transientReplies {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return strings.Contains(strings.ToUpper(err.Error()), "MAX NUMBER OF CLIENTS REACHED")
}

// dataError reports a server reply that no retry will change: the key
// holds something this store cannot use (WRONGTYPE, a script error on its
// value).
func dataError(err error) bool {
	return isServerError(err) && !transientReply(err)
}

var routeClientLogs sync.Once

// clientLogger sends go-redis's own log lines (a failed dial per pooled
// connection while the server is down, for example) to the plugin logger at
// debug level; the host logs the failures it acts on itself.
type clientLogger struct{}

func (clientLogger) Printf(ctx context.Context, format string, v ...any) {
	sdk.Logger().Debug(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}

func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

func (s *Store) handle() (*goredis.Client, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.client == nil {
		return nil, "", errors.New("redis checkpoint store is not configured (no Configure call)")
	}
	return s.client, s.prefix, nil
}

// Keys returns the main key and the meta hash key of a checkpoint.
func Keys(prefix string, k sdk.CheckpointKey) (main, meta string) {
	return prefix + k.App + ":checkpoint:" + k.Stream + ":" + k.ShardID,
		prefix + k.App + ":checkpoint-meta:" + k.Stream + ":" + k.ShardID
}

// IndexKey returns the key of the set that lists the shard ids of a
// stream's rows (see the package documentation).
func IndexKey(prefix, app, stream string) string {
	return prefix + app + ":checkpoint-index:" + stream
}

// scriptKeys returns the KEYS of both scripts for k.
func scriptKeys(prefix string, k sdk.CheckpointKey) []string {
	mainKey, metaKey := Keys(prefix, k)
	return []string{mainKey, metaKey, IndexKey(prefix, k.App, k.Stream)}
}

// unavailable wraps a failed call: a reply about the key's contents
// (WRONGTYPE) is a plain error naming the keys to fix, anything else a
// retryable sdk.Unavailable.
func (s *Store) unavailable(op string, k sdk.CheckpointKey, err error) error {
	if dataError(err) {
		s.mu.RLock()
		prefix := s.prefix
		s.mu.RUnlock()
		mainKey, metaKey := Keys(prefix, k)
		return fmt.Errorf("redis %s: %s checkpoint %s/%s: %w; keys %s and %s (strings and a hash) or %s (a set) hold something this store cannot use: fix or delete them",
			s.addr, op, k.Stream, k.ShardID, err, mainKey, metaKey, IndexKey(prefix, k.App, k.Stream))
	}
	return sdk.Unavailable(fmt.Errorf("redis %s: %s checkpoint %s/%s: %w", s.addr, op, k.Stream, k.ShardID, err))
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	c, prefix, err := s.handle()
	if err != nil {
		return sdk.Checkpoint{}, false, err
	}
	mainKey, metaKey := Keys(prefix, key)
	var get *goredis.StringCmd
	var meta *goredis.MapStringStringCmd
	_, err = c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, mainKey)
		meta = p.HGetAll(ctx, metaKey)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return sdk.Checkpoint{}, false, s.unavailable("read", key, err)
	}
	cp, hasPos, err := decodeRow(get, meta, mainKey, metaKey)
	if err != nil {
		return sdk.Checkpoint{}, false, s.rowError("read", key, err)
	}
	if !hasPos {
		return sdk.Checkpoint{}, false, nil
	}
	return cp, true, nil
}

// errRowUnreadable marks a row whose keys hold values this store cannot
// read; retrying does not help.
var errRowUnreadable = errors.New("unreadable checkpoint row")

// decodeRow reads a row from the replies of GET main and HGETALL meta:
// the position (hasPos false when none is stored) and the lease, which
// counts whatever the main key holds.
func decodeRow(get *goredis.StringCmd, meta *goredis.MapStringStringCmd, mainKey, metaKey string) (cp sdk.Checkpoint, hasPos bool, err error) {
	if err := meta.Err(); err != nil {
		return cp, false, err
	}
	seq, err := get.Result()
	missing := errors.Is(err, goredis.Nil)
	if err != nil && !missing {
		return cp, false, err
	}
	m := meta.Val()
	cp.Owner = m["owner"]
	if v := m["lease"]; v != "" {
		if cp.LeaseCounter, err = strconv.ParseInt(v, 10, 64); err != nil {
			return sdk.Checkpoint{}, false, fmt.Errorf("%w: redis hash %s has a bad lease field %q; fix the field or delete the hash", errRowUnreadable, metaKey, truncate(v))
		}
	}
	if ms, ok := m["seq"]; !ok || ms != seq {
		m = nil // stale or absent: the main key alone is the truth
	}
	if missing && m["end"] != "1" {
		return cp, false, nil
	}
	if !missing && !sdk.ValidSequence(seq) {
		return sdk.Checkpoint{}, false, fmt.Errorf("%w: redis key %s holds %q, which is not a sequence number; fix or delete the key", errRowUnreadable, mainKey, truncate(seq))
	}
	cp.SequenceNumber, cp.ShardEnd = seq, m["end"] == "1"
	if v := m["sub"]; v != "" {
		if cp.SubSequenceNumber, err = strconv.ParseInt(v, 10, 64); err != nil {
			return sdk.Checkpoint{}, false, fmt.Errorf("%w: redis hash %s has a bad sub field %q; fix the field or delete the hash", errRowUnreadable, metaKey, truncate(v))
		}
	}
	return cp, true, nil
}

// rowError wraps a failure of decodeRow: an unreadable row is a plain
// error (its message names the key to fix), anything else a failed call.
func (s *Store) rowError(op string, k sdk.CheckpointKey, err error) error {
	if errors.Is(err, errRowUnreadable) {
		return fmt.Errorf("checkpoint %s/%s: %w", k.Stream, k.ShardID, err)
	}
	return s.unavailable(op, k, err)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// position validates cp's position and returns it as script arguments
// (sequence number, sub-sequence number, "1"/"0" for SHARD_END); skip is
// true for an empty position, which never moves anything.
func position(cp sdk.Checkpoint) (argv []any, skip bool, err error) {
	if cp.SequenceNumber == "" && !cp.ShardEnd {
		return nil, true, nil
	}
	if cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
		return nil, false, fmt.Errorf("invalid sequence number %q: want 1 to 128 decimal digits", truncate(cp.SequenceNumber))
	}
	end := "0"
	if cp.ShardEnd {
		end = "1"
	}
	return []any{cp.SequenceNumber, strconv.FormatInt(cp.SubSequenceNumber, 10), end}, false, nil
}

// Set implements sdk.Store. It writes the position only: the stored lease
// (owner and counter) stays as it is.
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	c, prefix, err := s.handle()
	if err != nil {
		return err
	}
	argv, skip, err := position(cp)
	if err != nil || skip {
		return err
	}
	if err := setScript.Run(ctx, c, scriptKeys(prefix, key), append(argv, key.ShardID)...).Err(); err != nil {
		return s.unavailable("write", key, err)
	}
	return nil
}

// SetBatch implements sdk.BatchStore: one pipelined script call per update,
// in one round trip (two if the server's script cache was empty).
func (s *Store) SetBatch(ctx context.Context, updates []sdk.CheckpointUpdate) []error {
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
		argv, skip, err := position(u.Checkpoint)
		if err != nil {
			errs[i] = err
			continue
		}
		if skip {
			continue
		}
		calls = append(calls, &scriptCall{i: i, keys: scriptKeys(prefix, u.Key), argv: append(argv, u.Key.ShardID)})
	}
	runPipelined(ctx, c, setScript, calls)
	for _, cl := range calls {
		if err := cl.cmd.Err(); err != nil {
			errs[cl.i] = s.unavailable("write", updates[cl.i].Key, err)
		}
	}
	return errs
}

// scriptCall is one script call of a pipeline: i is the index of the
// update it serves.
type scriptCall struct {
	i    int
	keys []string
	argv []any
	cmd  *goredis.Cmd
}

// runPipelined runs the calls of script in one pipeline (one round trip;
// two when the server's script cache was empty: a restart or SCRIPT FLUSH).
// Each call's outcome is in its cmd. Calls to one key run in order.
func runPipelined(ctx context.Context, c *goredis.Client, script *goredis.Script, calls []*scriptCall) {
	run := func(calls []*scriptCall, eval bool) {
		if len(calls) == 0 {
			return
		}
		_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, cl := range calls {
				if eval {
					cl.cmd = script.Eval(ctx, p, cl.keys, cl.argv...)
				} else {
					cl.cmd = p.EvalSha(ctx, script.Hash(), cl.keys, cl.argv...)
				}
			}
			return nil
		})
	}
	run(calls, false)
	var retry []*scriptCall
	for _, cl := range calls {
		if goredis.HasErrorPrefix(cl.cmd.Err(), "NOSCRIPT") {
			retry = append(retry, cl)
		}
	}
	if len(retry) > 0 {
		// Load the script again, then EVALSHA; EVAL if loading fails.
		if script.Load(ctx, c).Err() == nil {
			run(retry, false)
		} else {
			run(retry, true)
		}
	}
}

// Close implements sdk.Closer.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}
