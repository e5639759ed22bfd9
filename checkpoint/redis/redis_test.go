package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/checkpoint/redis"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
	"github.com/kinesis-host/kinesis-host/shared"
)

// The tests use the Redis at REDIS_ADDR (default 127.0.0.1:6379) and never
// skip: CI provides the server. Every store gets its own key prefix, and
// its keys are deleted when the test ends. Tests that stop a server start
// their own throwaway redis-server.

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return redis.DefaultAddress
}

func configure(t testing.TB, s *redis.Store, settings map[string]any) error {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	return s.Configure(context.Background(), sdk.Config{App: "test", Name: "redis", JSON: raw})
}

// open returns a store on the shared server under a fresh key prefix and
// deletes that prefix's keys when the test ends.
func open(t testing.TB) (*redis.Store, string) {
	t.Helper()
	prefix := "kht-test-" + storetest.RunID() + ":"
	s := redis.New()
	if err := configure(t, s, map[string]any{"address": redisAddr(), "key_prefix": prefix}); err != nil {
		t.Fatalf("cannot use the Redis at %s (set REDIS_ADDR): %v", redisAddr(), err)
	}
	t.Cleanup(func() {
		_ = s.Close(context.Background())
		deletePrefix(t, prefix)
	})
	return s, prefix
}

func rawClient(t testing.TB) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func deletePrefix(t testing.TB, prefix string) {
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			c.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleaning up keys %s*: %v", prefix, err)
	}
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	prefixes := map[string]string{} // app → key prefix
	raw := rawClient(t)
	storetest.RunWith(t, func(t *testing.T) sdk.Store {
		s, prefix := open(t)
		mu.Lock()
		prefixes[t.Name()] = prefix
		mu.Unlock()
		return s
	}, storetest.Options{
		// What harlow/kinesis-consumer's store/redis reads: the main key.
		SeedSequence: func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, prefix := range prefixes {
				mainKey, _ := redis.Keys(prefix, k)
				v, err := raw.Get(ctx, mainKey).Result()
				if err == nil {
					return v, nil
				}
				if !errors.Is(err, goredis.Nil) {
					return "", err
				}
			}
			return "", nil
		},
	})
}

func TestSeedLayoutPickedUp(t *testing.T) {
	s, prefix := open(t)
	c := rawClient(t)
	ctx := context.Background()
	key := sdk.CheckpointKey{App: "orders-app", Stream: "orders", ShardID: "shardId-000000000003"}
	seedKey := prefix + "orders-app:checkpoint:orders:shardId-000000000003"
	const seedSeq = "49590338271490256608559692538361571095921575989136588898"

	// A checkpoint written by harlow/kinesis-consumer's store/redis.
	if err := c.Set(ctx, seedKey, seedSeq, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, st := range []sdk.Store{s, sdk.TestStore(t, s)} {
		cp, found, err := st.Get(ctx, key)
		if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: seedSeq}) {
			t.Fatalf("Get of a seed checkpoint = %+v, %v, %v; want {%s}, true, nil", cp, found, err, seedSeq)
		}
	}
	// It is protected like ours: a lower write loses.
	if err := s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: "9" + seedSeq[2:]}); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, seedKey).Val(); v != seedSeq {
		t.Fatalf("a lower sequence number overwrote the seed checkpoint: %q", v)
	}

	// Our writes keep the main key a plain sequence number, so a seed
	// reader still understands it, shard end included.
	next := "49590338271490256608559692538361571095921575989136588899"
	if err := s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: next, SubSequenceNumber: 4, Owner: "h1", LeaseCounter: 2}); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, seedKey).Val(); v != next {
		t.Fatalf("main key = %q, want the plain sequence number %q", v, next)
	}
	if err := s.Set(ctx, key, sdk.Checkpoint{ShardEnd: true}); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, seedKey).Val(); v != next {
		t.Fatalf("after SHARD_END the main key = %q, want %q", v, next)
	}
	meta := c.HGetAll(ctx, prefix+"orders-app:checkpoint-meta:orders:shardId-000000000003").Val()
	if meta["end"] != "1" || meta["seq"] != next || meta["sub"] != "4" {
		t.Fatalf("meta hash = %v", meta)
	}
	cp, _, _ := s.Get(ctx, key)
	if cp != (sdk.Checkpoint{SequenceNumber: next, SubSequenceNumber: 4, ShardEnd: true}) {
		t.Fatalf("Get = %+v", cp)
	}

	// A seed-era writer moves the main key on: the meta hash no longer
	// describes it and is ignored, and our next write works from the
	// seed's value.
	later := "49590338271490256608559692538361571095921575989136589000"
	if err := c.Set(ctx, seedKey, later, 0).Err(); err != nil {
		t.Fatal(err)
	}
	cp, found, err := s.Get(ctx, key)
	if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: later}) {
		t.Fatalf("after a seed write Get = %+v, %v, %v; want {%s}", cp, found, err, later)
	}
	if err := s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: later, SubSequenceNumber: 1}); err != nil {
		t.Fatal(err)
	}
	if cp, _, _ := s.Get(ctx, key); cp != (sdk.Checkpoint{SequenceNumber: later, SubSequenceNumber: 1}) {
		t.Fatalf("Get = %+v", cp)
	}

	// A main key holding garbage is an error, never "no checkpoint".
	bad := sdk.CheckpointKey{App: "orders-app", Stream: "orders", ShardID: "bad"}
	c.Set(ctx, prefix+"orders-app:checkpoint:orders:bad", "not-a-number", 0)
	if _, found, err := s.Get(ctx, bad); err == nil || found {
		t.Fatalf("Get of a garbage key = found %v, err %v; want an error", found, err)
	}
}

func TestSettingsValidation(t *testing.T) {
	cases := []struct {
		name     string
		settings map[string]any
		field    string
	}{
		{"address without port", map[string]any{"address": "localhost"}, "address"},
		{"address bad port", map[string]any{"address": "localhost:http0"}, "address"},
		{"negative db", map[string]any{"db": -1}, "db"},
		{"db not a number", map[string]any{"db": "zero"}, "db"},
		{"bad dial_timeout", map[string]any{"dial_timeout": "5"}, "dial_timeout"},
		{"unknown setting", map[string]any{"adress": "x:1"}, "adress"},
		{"username without password", map[string]any{"username": "app"}, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.settings)
			err := redis.New().Configure(context.Background(), sdk.Config{JSON: raw, ValidateOnly: true})
			assertConfigError(t, err, tc.field)
		})
	}
	// validate connects too (read-only), so a wrong address is reported.
	raw, _ := json.Marshal(map[string]any{"address": freeAddr(t)})
	assertUnavailable(t, redis.New().Configure(context.Background(), sdk.Config{JSON: raw, ValidateOnly: true}), "cannot reach Redis")
}

func assertConfigError(t testing.TB, err error, field string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("got %v; want an sdk.ConfigError on %q", err, field)
	}
	if e.Field != field {
		t.Fatalf("ConfigError names %q (%v); want %q", e.Field, err, field)
	}
	return e
}

func assertUnavailable(t testing.TB, err error, contains ...string) {
	t.Helper()
	if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("got %v; want sdk.ErrUnavailable", err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Fatalf("error %q does not contain %q", err, c)
		}
	}
}

func TestWrongAddressFailsFast(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	// An unreachable server is not a configuration error: the host
	// retries Configure (issue 8 item 7); the message still says what to
	// check if it persists.
	err := configure(t, redis.New(), map[string]any{"address": addr})
	assertUnavailable(t, err, addr, "cannot reach Redis", "check address")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v to report an unreachable address", d)
	}
	// And through the plugin boundary the code survives.
	c := sdk.TestStore(t, redis.New())
	assertUnavailable(t, c.Configure(context.Background(), map[string]any{"address": addr}), "cannot reach Redis")

	// A host name that does not exist is a configuration error.
	assertConfigError(t, configure(t, redis.New(), map[string]any{"address": "no-such-host.invalid:6379"}), "address")

	// A non-routable address times out within dial_timeout.
	start = time.Now()
	err = configure(t, redis.New(), map[string]any{"address": "10.255.255.1:6379", "dial_timeout": "500ms"})
	assertUnavailable(t, err, "cannot reach Redis")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v to give up on a non-routable address with dial_timeout 500ms", d)
	}
}

func TestWrongPassword(t *testing.T) {
	const secret = "correct-horse-battery-staple"
	srv := startServer(t, "--requirepass", secret)
	const wrong = "Tr0ub4dor&3-wrong"
	for _, tc := range []struct {
		name     string
		settings map[string]any
	}{
		{"wrong password", map[string]any{"address": srv.addr, "password": wrong}},
		{"no password", map[string]any{"address": srv.addr}},
		{"wrong user", map[string]any{"address": srv.addr, "username": "nobody", "password": wrong}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := configure(t, redis.New(), tc.settings)
			e := assertConfigError(t, err, "password")
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%#v", e), wrong) {
				t.Fatalf("the error echoes a password: %v", err)
			}
			t.Logf("message: %v", err)
		})
	}
	s := redis.New()
	if err := configure(t, s, map[string]any{"address": srv.addr, "password": secret}); err != nil {
		t.Fatalf("the right password: %v", err)
	}
	defer s.Close(context.Background())
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}
	if err := s.Set(context.Background(), k, sdk.Checkpoint{SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}
}

func TestBadDB(t *testing.T) {
	err := configure(t, redis.New(), map[string]any{"address": redisAddr(), "db": 100000})
	assertConfigError(t, err, "db")
}

func TestDBSelected(t *testing.T) {
	prefix := "kht-test-" + storetest.RunID() + ":"
	s := redis.New()
	if err := configure(t, s, map[string]any{"address": redisAddr(), "db": 3, "key_prefix": prefix}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "77"}); err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr(), DB: 3})
	defer c.Close()
	defer c.Del(ctx, prefix+"a:checkpoint:s:x", prefix+"a:checkpoint-meta:s:x")
	if v := c.Get(ctx, prefix+"a:checkpoint:s:x").Val(); v != "77" {
		t.Fatalf("db 3 holds %q", v)
	}
	if n := rawClient(t).Exists(ctx, prefix+"a:checkpoint:s:x").Val(); n != 0 {
		t.Fatal("the checkpoint landed in db 0")
	}
}

func TestServerGoesAway(t *testing.T) {
	srv := startServer(t)
	s := redis.New()
	if err := configure(t, s, map[string]any{"address": srv.addr, "dial_timeout": "1s"}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	viaPlugin := sdk.TestStore(t, s)
	ctx := context.Background()
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "shardId-000000000000"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "100"}); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(ctx, k); err != nil || !found {
		t.Fatalf("Get = %v, %v", found, err)
	}

	srv.stop(t)
	storetest.AssertDown(t, s, k)
	storetest.AssertDown(t, viaPlugin, k)

	srv.start(t)
	// The restarted server has no data and an empty script cache; the
	// store reconnects and reloads the script by itself.
	storetest.AssertRecovers(t, s, k, sdk.Checkpoint{SequenceNumber: "200"}, 15*time.Second)
	storetest.AssertRecovers(t, viaPlugin, k, sdk.Checkpoint{SequenceNumber: "300"}, 15*time.Second)
	errs := viaPlugin.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: k, Checkpoint: sdk.Checkpoint{SequenceNumber: "400"}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}

	// Once more, and this time the first call after the restart is a batch.
	srv.stop(t)
	storetest.AssertDown(t, viaPlugin, k)
	srv.start(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		errs := s.SetBatch(ctx, []sdk.CheckpointUpdate{
			{Key: k, Checkpoint: sdk.Checkpoint{SequenceNumber: "500"}},
			{Key: sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "other"}, Checkpoint: sdk.Checkpoint{SequenceNumber: "1"}},
		})
		if errs[0] == nil && errs[1] == nil {
			break
		}
		storetest.AssertUnavailable(t, errs[0])
		if time.Now().After(deadline) {
			t.Fatalf("SetBatch did not recover: %v", errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cp, found, err := s.Get(ctx, k); err != nil || !found || cp.SequenceNumber != "500" {
		t.Fatalf("after recovery Get = %+v, %v, %v", cp, found, err)
	}
}

func BenchmarkSet(b *testing.B) {
	s, _ := open(b)
	storetest.Bench(b, s)
}

// ---- throwaway redis-server ----

type server struct {
	addr, port string
	args       []string
	cmd        *exec.Cmd
	done       chan struct{}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts redis-server on a free port, bound to 127.0.0.1, with
// no persistence; it is killed when the test ends.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	srv := &server{addr: addr, port: port, args: extra}
	srv.start(t)
	t.Cleanup(func() { srv.stop(t) })
	return srv
}

func (s *server) start(t testing.TB) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	args := append([]string{"--port", s.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", t.TempDir(), "--loglevel", "warning"}, s.args...)
	s.cmd = exec.Command(bin, args...)
	if f, err := os.Create(filepath.Join(t.TempDir(), "redis.log")); err == nil {
		s.cmd.Stdout, s.cmd.Stderr = f, f
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("redis-server on %s exited at start", s.addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func TestLeases(t *testing.T) {
	var mu sync.Mutex
	prefixes := map[string]string{} // test → key prefix
	raw := rawClient(t)
	storetest.RunLeasesWith(t, func(t *testing.T) sdk.Store {
		s, prefix := open(t)
		mu.Lock()
		prefixes[t.Name()] = prefix
		mu.Unlock()
		return s
	}, storetest.Options{
		// What harlow/kinesis-consumer's store/redis reads: the main key.
		SeedSequence: func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, prefix := range prefixes {
				mainKey, _ := redis.Keys(prefix, k)
				v, err := raw.Get(ctx, mainKey).Result()
				if err == nil {
					return v, nil
				}
				if !errors.Is(err, goredis.Nil) {
					return "", err
				}
			}
			return "", nil
		},
	})
}

// TestLeaseLayout checks where the lease lives and that seed readers and
// rows written before the lease index are unaffected.
func TestLeaseLayout(t *testing.T) {
	s, prefix := open(t)
	c := rawClient(t)
	ctx := context.Background()
	const app, stream = "lease-app", "orders"
	key := func(shard string) sdk.CheckpointKey {
		return sdk.CheckpointKey{App: app, Stream: stream, ShardID: shard}
	}
	mainOf := func(shard string) string { m, _ := redis.Keys(prefix, key(shard)); return m }
	metaOf := func(shard string) string { _, m := redis.Keys(prefix, key(shard)); return m }
	index := redis.IndexKey(prefix, app, stream)

	// Rows from before the index: a seed checkpoint (main key only) and a
	// SHARD_END of an earlier version (hash only); neighbours of other
	// streams that must not be picked up.
	c.Set(ctx, mainOf("shardId-0"), "100", 0)
	c.HSet(ctx, metaOf("shardId-1"), "seq", "", "sub", "0", "end", "1", "owner", "", "lease", "0")
	c.Set(ctx, prefix+app+":checkpoint:ordersx:shardId-2", "7", 0)
	c.Set(ctx, prefix+app+":checkpoint:order:shardId-3", "7", 0)
	c.Set(ctx, prefix+app+"x:checkpoint:orders:shardId-4", "7", 0)

	rows, err := s.ListLeases(ctx, app, stream)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sdk.Checkpoint{}
	for _, r := range rows {
		got[r.ShardID] = r.Checkpoint
	}
	want := map[string]sdk.Checkpoint{"shardId-0": {SequenceNumber: "100"}, "shardId-1": {ShardEnd: true}}
	if len(got) != len(want) || got["shardId-0"] != want["shardId-0"] || got["shardId-1"] != want["shardId-1"] {
		t.Fatalf("ListLeases over rows written before the index = %+v; want %+v", got, want)
	}
	if m := c.SMembers(ctx, index).Val(); len(m) != 3 {
		t.Fatalf("index %s = %q; want the two shard ids and the built marker", index, m)
	}

	// Taking the seed row leaves the seed reader's key alone.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), Owner: "h1"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if v := c.Get(ctx, mainOf("shardId-0")).Val(); v != "100" {
		t.Fatalf("after a take the main key = %q, want the seed's 100", v)
	}
	if m := c.HGetAll(ctx, metaOf("shardId-0")).Val(); m["owner"] != "h1" || m["lease"] != "1" {
		t.Fatalf("after a take the meta hash = %v, want owner h1, lease 1", m)
	}
	// A checkpoint through the lease writes the plain number for seed
	// readers.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 1, Owner: "h1",
		Checkpoint: &sdk.Checkpoint{SequenceNumber: "150", SubSequenceNumber: 2}}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if v := c.Get(ctx, mainOf("shardId-0")).Val(); v != "150" {
		t.Fatalf("after a lease checkpoint the main key = %q, want 150", v)
	}

	// A lease without a position writes no main key: seed readers see no
	// checkpoint.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-5"), Owner: "h1"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if n := c.Exists(ctx, mainOf("shardId-5")).Val(); n != 0 {
		t.Fatal("a lease without a position created the main key")
	}

	// A seed-era writer moves the main key on: the position comes from it,
	// the lease still counts.
	c.Set(ctx, mainOf("shardId-0"), "200", 0)
	cp, found, err := s.Get(ctx, key("shardId-0"))
	if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: "200", Owner: "h1", LeaseCounter: 2}) {
		t.Fatalf("after a seed write Get = %+v, %v, %v", cp, found, err)
	}
	errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), Owner: "h2"}})
	if !errors.Is(errs[0], sdk.ErrConflict) || !strings.Contains(errs[0].Error(), `"h1" at counter 2`) {
		t.Fatalf("a take expecting no lease over h1's = %v; want a conflict naming h1 and 2", errs[0])
	}

	// Delete removes both keys and the index member.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 2, Delete: true}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if n := c.Exists(ctx, mainOf("shardId-0"), metaOf("shardId-0")).Val(); n != 0 {
		t.Fatalf("after Delete %d of the row's keys remain", n)
	}
	if c.SIsMember(ctx, index, "shardId-0").Val() {
		t.Fatal("after Delete the shard is still in the index")
	}

	// A deleted index is built again.
	c.Del(ctx, index)
	rows, err = s.ListLeases(ctx, app, stream)
	if err != nil || len(rows) != 2 {
		t.Fatalf("ListLeases after the index was deleted = %+v, %v; want shardId-1 and shardId-5", rows, err)
	}

	// An index key of the wrong type is a plain error naming it.
	c.Del(ctx, index)
	c.Set(ctx, index, "x", 0)
	_, err = s.ListLeases(ctx, app, stream)
	if err == nil || errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), index) {
		t.Fatalf("ListLeases with a string index = %v; want a plain error naming %s", err, index)
	}
	// ... and fails lease updates before they write anything.
	errs = s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-5"), ExpectOwner: "h1", ExpectCounter: 1, Owner: "h2"}})
	if errs[0] == nil || errors.Is(errs[0], sdk.ErrConflict) || errors.Is(errs[0], sdk.ErrUnavailable) || !strings.Contains(errs[0].Error(), index) {
		t.Fatalf("a lease update with a string index = %v; want a plain error naming %s", errs[0], index)
	}
	if m := c.HGetAll(ctx, metaOf("shardId-5")).Val(); m["owner"] != "h1" || m["lease"] != "1" {
		t.Fatalf("a failed lease update changed the row: %v", m)
	}
	// A bad lease field is a plain error naming the hash.
	c.Del(ctx, index)
	c.HSet(ctx, metaOf("shardId-5"), "lease", "x")
	// ... on its own row: it does not hide the others.
	rows, err = s.ListLeases(ctx, app, stream)
	if err != nil {
		t.Fatalf("ListLeases with a bad lease field: %v; want the rows, that one with its error", err)
	}
	var bad *sdk.LeaseRow
	for i := range rows {
		if rows[i].ShardID == "shardId-5" {
			bad = &rows[i]
		}
	}
	if bad == nil || bad.Err == nil || bad.Err.Code == shared.CodeUnavailable || !strings.Contains(bad.Err.Error(), metaOf("shardId-5")) {
		t.Fatalf("ListLeases with a bad lease field: row %+v; want a plain error naming the hash", bad)
	}
}
