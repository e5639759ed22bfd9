package e2e

// Helpers for backends_test.go: config blocks for every checkpoint backend,
// reading checkpoints back through each backend's own package, a steady
// producer, a throwaway Redis server, a TCP proxy that stands in for a
// stopped PostgreSQL, and a sampler that watches stored checkpoints.
// Every identifier here starts with bk.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	_ "github.com/lib/pq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/checkpoint/dynamodb"
	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/checkpoint/postgres"
	"github.com/kinesis-host/kinesis-host/checkpoint/redis"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
)

// bkCheckpointLabel is the checkpoint block's label; writeConfig's stream
// block names it.
const bkCheckpointLabel = "local"

func bkRandHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// bkHCLValue renders a config value as HCL.
func bkHCLValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	default:
		panic(fmt.Sprintf("bkHCLValue: unsupported %T", v))
	}
}

// bkWriteConfig writes a config like e.writeConfig, with the checkpoint
// block replaced by one running plugin with settings (the same settings
// the test's own store is configured with).
func bkWriteConfig(e *env, name string, rc runConfig, plugin string, settings map[string]any) string {
	e.t.Helper()
	path := e.writeConfig(name, rc)
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, fmt.Sprintf("checkpoint %q {", bkCheckpointLabel))
	if i < 0 {
		e.t.Fatalf("%s has no checkpoint %q block to replace:\n%s", path, bkCheckpointLabel, s)
	}
	var blk strings.Builder
	fmt.Fprintf(&blk, "checkpoint %q {\n  plugin = %q\n  config {\n", bkCheckpointLabel, plugin)
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&blk, "    %s = %s\n", k, bkHCLValue(settings[k]))
	}
	blk.WriteString("  }\n}\n")
	if err := os.WriteFile(path, []byte(s[:i]+blk.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

var bkQuietStores sync.Once

// bkStore is what the tests need of a checkpoint store.
type bkStore interface {
	Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error)
	Close(ctx context.Context) error
}

// bkOpenStore is bkNewStore, closed at cleanup.
func bkOpenStore(t testing.TB, plugin string, settings map[string]any) bkStore {
	t.Helper()
	st := bkNewStore(t, plugin, settings)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// bkNewStore configures the backend's own store package with settings, as
// the plugin does (same app, same block label). The caller closes it.
func bkNewStore(t testing.TB, plugin string, settings map[string]any) bkStore {
	t.Helper()
	// The stores log through sdk.Logger (stderr, every level): keep the
	// test output to warnings (go-redis logs each failed dial at debug).
	bkQuietStores.Do(func() { sdk.Logger().SetLevel(hclog.Warn) })
	var st interface {
		bkStore
		Configure(ctx context.Context, cfg sdk.Config) error
	}
	switch plugin {
	case "file":
		st = file.New()
	case "redis":
		st = redis.New()
	case "postgres":
		st = postgres.New()
	case "dynamodb":
		st = dynamodb.New()
	default:
		t.Fatalf("bkOpenStore: unknown backend %q", plugin)
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Configure(ctx, sdk.Config{App: appName, Name: bkCheckpointLabel, JSON: raw}); err != nil {
		t.Fatalf("configure the %s store: %v", plugin, err)
	}
	return st
}

// bkReadStored opens the backend's store, reads every shard's checkpoint
// and closes it again (the file store must not hold its lock while a host
// runs).
func bkReadStored(t testing.TB, plugin string, settings map[string]any, shards []string) map[string]*sdk.Checkpoint {
	t.Helper()
	st := bkNewStore(t, plugin, settings)
	defer st.Close(context.Background())
	return bkCheckpoints(t, st, shards)
}

func bkKey(shard string) sdk.CheckpointKey {
	return sdk.CheckpointKey{App: appName, Stream: streamName, ShardID: shard}
}

// bkCheckpoints reads every shard's stored checkpoint from st.
func bkCheckpoints(t testing.TB, st bkStore, shards []string) map[string]*sdk.Checkpoint {
	t.Helper()
	m := map[string]*sdk.Checkpoint{}
	for _, sh := range shards {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cp, found, err := st.Get(ctx, bkKey(sh))
		cancel()
		if err != nil {
			t.Fatalf("read checkpoint of %s: %v", sh, err)
		}
		if found {
			m[sh] = &cp
		}
	}
	return m
}

// bkCheckCheckpoints asserts that each shard's checkpoint in got is want's
// sequence number (not SHARD_END).
func bkCheckCheckpoints(t testing.TB, backend string, got map[string]*sdk.Checkpoint, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for sh := range want {
		keys = append(keys, sh)
	}
	sort.Strings(keys)
	for _, sh := range keys {
		w := want[sh]
		cp := got[sh]
		switch {
		case cp == nil:
			t.Errorf("%s: shard %s: no checkpoint stored, want %s", backend, sh, w)
		case cp.SequenceNumber != w || cp.ShardEnd:
			t.Errorf("%s: shard %s: checkpoint %+v, want sequence %s", backend, sh, *cp, w)
		}
	}
}

// bkRedisPrefix is a key prefix no other test uses; its keys are deleted
// from the server at addr at cleanup.
func bkRedisPrefix(t testing.TB, addr string) string {
	t.Helper()
	prefix := "bk-e2e-" + bkRandHex(6) + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: addr, DisableIdentity: true})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleanup: scan redis keys %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Logf("cleanup: delete redis keys %s*: %v", prefix, err)
			}
		}
	})
	return prefix
}

// bkPGTable is a table name no other test uses; the table is dropped from
// the shared server at cleanup.
func bkPGTable(t testing.TB) string {
	t.Helper()
	name := "bk_e2e_" + bkRandHex(6)
	t.Cleanup(func() {
		db, err := sql.Open("postgres", testenv.PostgresDSN())
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			t.Logf("cleanup: drop table %s: %v", name, err)
		}
	})
	return name
}

// bkPGServer is the host:port of the shared PostgreSQL server.
func bkPGServer(t testing.TB) string {
	t.Helper()
	dsn := testenv.PostgresDSN()
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "5432"
		}
		return net.JoinHostPort(host, port)
	}
	host, port := "127.0.0.1", "5432"
	for _, f := range strings.Fields(dsn) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	if strings.HasPrefix(host, "/") {
		t.Fatalf("PG_DSN points at a Unix socket (%s); the outage test needs a TCP server", host)
	}
	return net.JoinHostPort(host, port)
}

// bkPGDSNVia is the shared server's DSN with its address replaced by addr.
func bkPGDSNVia(t testing.TB, addr string) string {
	t.Helper()
	dsn := testenv.PostgresDSN()
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = addr
		return u.String()
	}
	host, port, _ := net.SplitHostPort(addr)
	return dsn + " host=" + host + " port=" + port // later keys win
}

// bkFreePort is a free 127.0.0.1 TCP port.
func bkFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- a steady producer ----

// bkProducer puts perTick records every tick from a goroutine until stop.
type bkProducer struct {
	e       *env
	perTick int
	tick    time.Duration
	stopCh  chan struct{}
	done    chan struct{}

	mu   sync.Mutex
	next int
	recs []*rec
	err  error
}

func bkStartProducer(e *env, from, perTick int, tick time.Duration) *bkProducer {
	p := &bkProducer{e: e, perTick: perTick, tick: tick, next: from, stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	e.t.Cleanup(p.halt)
	return p
}

func (p *bkProducer) run() {
	defer close(p.done)
	tk := time.NewTicker(p.tick)
	defer tk.Stop()
	for {
		select {
		case <-p.stopCh:
			return
		case <-tk.C:
		}
		batch := make([]*rec, p.perTick)
		for i := range batch {
			n := p.next + i
			batch[i] = &rec{n: n, data: recordData(n), key: fmt.Sprintf("pk-%d", n)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := p.e.putBatch(ctx, batch)
		cancel()
		p.mu.Lock()
		if err != nil {
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
			return
		}
		p.next += p.perTick
		p.recs = append(p.recs, batch...)
		p.mu.Unlock()
	}
}

func (p *bkProducer) halt() {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	<-p.done
}

// count is how many records have been put so far.
func (p *bkProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs)
}

// stop stops producing and returns every record put, failing the test if
// a put failed.
func (p *bkProducer) stop(t testing.TB) []*rec {
	t.Helper()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("producer: %v", p.err)
	}
	return append([]*rec(nil), p.recs...)
}

// ---- waiting while watching the host ----

// bkSleep sleeps for d, failing the test at once if host exits meanwhile.
func bkSleep(t testing.TB, h *hostProc, d time.Duration, what string) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if h.exited() {
			t.Fatalf("%s: kinesis-host exited by itself with code %d", what, h.cmd.ProcessState.ExitCode())
		}
		time.Sleep(min(50*time.Millisecond, time.Until(end)+time.Millisecond))
	}
	if h.exited() {
		t.Fatalf("%s: kinesis-host exited by itself with code %d", what, h.cmd.ProcessState.ExitCode())
	}
}

// bkPluginPID is the host's live child running plugin binary base, or 0.
func bkPluginPID(hostPID int, base string) int {
	for _, p := range pluginChildren(hostPID) {
		if filepath.Base(p.argv0) == base {
			return p.pid
		}
	}
	return 0
}

// ---- a throwaway Redis server ----

// bkRedis is a redis-server of our own on a fixed free port, with AOF
// (appendfsync always) in a temp dir, so its data survives a restart.
type bkRedis struct {
	t    testing.TB
	addr string
	port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func bkStartRedis(t testing.TB) *bkRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (apt-get install -y redis-server; make test does it): %v", err)
	}
	r := &bkRedis{t: t, dir: t.TempDir(), port: bkFreePort(t)}
	r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.start()
	t.Cleanup(func() { r.kill() })
	return r
}

// start runs redis-server and waits until it answers PING.
func (r *bkRedis) start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatal("bkRedis.start: already running")
	}
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for {
		if bkPing(r.addr) == nil {
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("redis-server on %s exited while starting:\n%s", r.addr, tailString(string(log), 4<<10))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING within 15 s", r.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs the server (an abrupt outage; with appendfsync always no
// acknowledged write is lost) and waits until it is gone.
func (r *bkRedis) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Errorf("redis-server pid %d did not exit after SIGKILL", r.cmd.Process.Pid)
	}
	r.cmd, r.done = nil, nil
}

// bkPing sends one RESP PING and expects +PONG.
func bkPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf)
	}
	return nil
}

// ---- a TCP proxy standing in for a PostgreSQL server that stops ----

// bkProxy forwards 127.0.0.1:port to upstream. down closes the listener
// and every open connection (clients see their sessions end and new
// connections refused, as when the server stops); up listens again on the
// same port.
type bkProxy struct {
	t        testing.TB
	addr     string
	upstream string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func bkStartProxy(t testing.TB, upstream string) *bkProxy {
	t.Helper()
	p := &bkProxy{t: t, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(bkFreePort(t)))
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *bkProxy) up() {
	p.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
}

func (p *bkProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *bkProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *bkProxy) serve(c net.Conn) {
	if !p.track(c) {
		_ = c.Close()
		return
	}
	defer p.untrack(c)
	u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(u) {
		_ = u.Close()
		return
	}
	defer p.untrack(u)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(u, c); _ = u.Close() }()
	go func() { defer wg.Done(); _, _ = io.Copy(c, u); _ = c.Close() }()
	wg.Wait()
}

func (p *bkProxy) down() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	if ln == nil {
		return
	}
	_ = ln.Close()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset, like a server going away
		}
		_ = c.Close()
	}
	p.wg.Wait()
}

// ---- watching stored checkpoints ----

type bkSample struct {
	at  time.Time
	seq string
}

// bkSampler reads every shard's stored checkpoint every interval. Failed
// reads (the backend is down) are counted and skipped.
type bkSampler struct {
	st     bkStore
	shards []string
	stopCh chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	paused  bool
	samples map[string][]bkSample
	fails   int
}

// pause stops sampling until resume (while the backend is down).
func (s *bkSampler) pause() { s.mu.Lock(); s.paused = true; s.mu.Unlock() }

func (s *bkSampler) resume() { s.mu.Lock(); s.paused = false; s.mu.Unlock() }

func bkStartSampler(t testing.TB, st bkStore, shards []string, every time.Duration) *bkSampler {
	s := &bkSampler{st: st, shards: shards, stopCh: make(chan struct{}), done: make(chan struct{}), samples: map[string][]bkSample{}}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			s.sample()
			select {
			case <-s.stopCh:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *bkSampler) sample() {
	s.mu.Lock()
	paused := s.paused
	s.mu.Unlock()
	if paused {
		return
	}
	for _, sh := range s.shards {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cp, found, err := s.st.Get(ctx, bkKey(sh))
		cancel()
		s.mu.Lock()
		switch {
		case err != nil:
			s.fails++
		case found:
			s.samples[sh] = append(s.samples[sh], bkSample{at: time.Now(), seq: cp.SequenceNumber})
		}
		s.mu.Unlock()
	}
}

func (s *bkSampler) stop() {
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	<-s.done
}

// check asserts that no shard's stored checkpoint ever went backwards and
// returns how many samples were taken and how many reads failed.
func (s *bkSampler) check(t testing.TB) (samples, fails int) {
	t.Helper()
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.shards {
		ss := s.samples[sh]
		samples += len(ss)
		for i := 1; i < len(ss); i++ {
			if sdk.CompareSequence(ss[i].seq, ss[i-1].seq) < 0 {
				t.Errorf("shard %s: the stored checkpoint went backwards from %s (at %s) to %s (at %s)",
					sh, ss[i-1].seq, ss[i-1].at.Format("15:04:05.000"), ss[i].seq, ss[i].at.Format("15:04:05.000"))
			}
		}
	}
	return samples, s.fails
}

// bkSnapshot reads every shard's stored sequence number, retrying for up
// to d while the backend refuses.
func bkSnapshot(t testing.TB, st bkStore, shards []string, d time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := map[string]string{}
		var err error
		for _, sh := range shards {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cp, found, e := st.Get(ctx, bkKey(sh))
			cancel()
			if e != nil {
				err = e
				break
			}
			if found {
				m[sh] = cp.SequenceNumber
			}
		}
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading the stored checkpoints: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bkAdvanced reports whether any shard's stored checkpoint in st is past
// base (a failed read counts as not advanced).
func bkAdvanced(st bkStore, shards []string, base map[string]string) bool {
	for _, sh := range shards {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cp, found, err := st.Get(ctx, bkKey(sh))
		cancel()
		if err == nil && found && sdk.CompareSequence(cp.SequenceNumber, base[sh]) > 0 {
			return true
		}
	}
	return false
}
