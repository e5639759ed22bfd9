package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// fakeHost records what it is asked; calls block on block (until ctx ends)
// when it is set.
type fakeHost struct {
	mu      sync.Mutex
	status  Status
	calls   []string
	rewinds []RewindRequest
	err     error         // returned by every call when set
	block   bool          // calls wait for ctx to end
	ended   chan error    // ctx.Err() of a blocked call that returned
	entered chan struct{} // a blocked call started
	panics  bool
}

func newFake() *fakeHost {
	return &fakeHost{
		status:  sampleStatus(),
		ended:   make(chan error, 16),
		entered: make(chan struct{}, 16),
	}
}

func (f *fakeHost) enter(ctx context.Context, call string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	err, block, panics := f.err, f.block, f.panics
	f.mu.Unlock()
	if panics {
		panic("boom")
	}
	if block {
		f.entered <- struct{}{}
		<-ctx.Done()
		f.ended <- ctx.Err()
		return fmt.Errorf("waiting for the store: %w", ctx.Err())
	}
	return err
}

func (f *fakeHost) Status(ctx context.Context) (Status, error) {
	if err := f.enter(ctx, "status"); err != nil {
		return Status{}, err
	}
	return f.status, nil
}

func (f *fakeHost) Pause(ctx context.Context, stream, shard string) error {
	return f.enter(ctx, "pause "+stream+" "+shard)
}

func (f *fakeHost) Resume(ctx context.Context, stream, shard string) error {
	return f.enter(ctx, "resume "+stream+" "+shard)
}

func (f *fakeHost) Rewind(ctx context.Context, r RewindRequest) (RewindResult, error) {
	if err := f.enter(ctx, "rewind "+r.Stream+" "+r.Shard); err != nil {
		return RewindResult{}, err
	}
	f.mu.Lock()
	f.rewinds = append(f.rewinds, r)
	f.mu.Unlock()
	return RewindResult{Stream: r.Stream, DryRun: r.DryRun, Shards: []ShardRewind{{
		Shard: "shardId-000000000000", From: Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898"},
		To: "AT_TIMESTAMP " + r.To.String(), Moves: true, Applied: !r.DryRun,
	}}}, nil
}

func sampleStatus() Status {
	return Status{
		Version: "v1.2.3", PID: 4242, WorkerID: "w-1", UptimeSeconds: 3723.5,
		Plugins: []PluginStatus{{Name: "example", Kind: "handler", PID: 99, Up: true, Restarts: 2}, {Name: "local", Kind: "checkpoint", PID: 98, Up: true}},
		Streams: []StreamStatus{{
			Name: "orders", Handler: "example", Checkpoint: "local",
			Shards: []ShardStatus{
				{ID: "shardId-000000000000", State: StateReading, Checkpoint: Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", SubSequenceNumber: 3},
					LagSeconds: 1.5, LastBatch: time.Date(2026, 8, 21, 10, 0, 0, 0, time.UTC), RecordsDelivered: 1234, PluginPID: 99, PluginRestarts: 2, Owner: "w-1"},
				{ID: "shardId-000000000001", State: StateEnded, Checkpoint: Checkpoint{ShardEnd: true}, LagSeconds: LagUnknown},
				{ID: "shardId-000000000002", State: StateFailing, LagSeconds: LagUnknown, Error: "handler: boom"},
			},
		}},
	}
}

// sockPath is a socket path in a fresh temporary directory (short enough
// for a unix socket).
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return SocketPath(DataDir(dir))
}

func serve(t *testing.T, path string, h Host) *Server {
	t.Helper()
	s, err := Serve(context.Background(), path, h, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTrip(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	serve(t, path, f)
	c := dial(t, path)
	if c.PID() != os.Getpid() {
		t.Errorf("PID = %d, want %d", c.PID(), os.Getpid())
	}
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonOf(t, st), jsonOf(t, f.status); got != want {
		t.Errorf("status:\n got %s\nwant %s", got, want)
	}
	if !st.Streams[0].Shards[0].LastBatch.Equal(f.status.Streams[0].Shards[0].LastBatch) || !st.Streams[0].Shards[1].LastBatch.IsZero() {
		t.Errorf("last batch times: %v", st.Streams[0].Shards)
	}
	if err := c.Pause(ctx, "orders", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, "orders", "shardId-000000000001"); err != nil {
		t.Fatal(err)
	}
	to, err := ParseTarget("2026-08-21T10:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Rewind(ctx, RewindRequest{Stream: "orders", To: to, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Stream != "orders" || len(res.Shards) != 1 || res.Shards[0].Applied || res.Shards[0].To != "AT_TIMESTAMP 2026-08-21T10:00:00Z" {
		t.Errorf("rewind result: %+v", res)
	}
	if len(f.rewinds) != 1 || !f.rewinds[0].To.Timestamp.Equal(to.Timestamp) || f.rewinds[0].To.Kind != TargetTimestamp || !f.rewinds[0].DryRun {
		t.Errorf("host got %+v", f.rewinds)
	}
	want := []string{"status", "pause orders ", "resume orders shardId-000000000001", "rewind orders "}
	if strings.Join(f.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

func TestErrors(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	serve(t, path, f)
	c := dial(t, path)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error // the host's
		want error
	}{
		{"stream", fmt.Errorf("%w: %q; this host runs orders", ErrNoSuchStream, "nope"), ErrNoSuchStream},
		{"shard", fmt.Errorf("%w: shardId-9 in orders", ErrNoSuchShard), ErrNoSuchShard},
		{"not running", fmt.Errorf("%w: still starting", ErrNotRunning), ErrNotRunning},
		{"bad", fmt.Errorf("%w: the shard is ended", ErrBadRequest), ErrBadRequest},
		{"other", errors.New("redis: connection refused"), ErrFailed},
		{"deadline", fmt.Errorf("store: %w", context.DeadlineExceeded), context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.err = tc.err
			f.mu.Unlock()
			err := c.Pause(ctx, "orders", "")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v (%T), want errors.Is %v", err, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.err.Error()) {
				t.Errorf("message %q lost the host's %q", err, tc.err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("not an *Error: %T", err)
			}
		})
	}
	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()

	// Checked by the server before the host is called.
	if err := c.Pause(ctx, "", "shardId-1"); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "-stream") {
		t.Errorf("pause without a stream: %v", err)
	}
	if _, err := c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: "yesterday"}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("rewind to a bad kind: %v", err)
	}
	if _, err := c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: TargetSequence, SequenceNumber: "12ab"}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("rewind to a bad sequence: %v", err)
	}
	if _, err := c.Rewind(ctx, RewindRequest{To: Target{Kind: TargetLatest}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("rewind without a stream: %v", err)
	}
	if len(f.calls) != 6 {
		t.Errorf("the host was called for invalid requests: %q", f.calls)
	}
	if errors.Is(ErrNoSuchShard, ErrNoSuchStream) || errors.Is(ErrFailed, context.DeadlineExceeded) {
		t.Error("sentinels of different codes match")
	}
}

func TestPanicIsFailed(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	f.panics = true
	serve(t, path, f)
	_, err := dial(t, path).Status(context.Background())
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v", err)
	}
}

func TestPermissions(t *testing.T) {
	path := sockPath(t)
	s := serve(t, path, newFake())
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("created data directory mode %v, want 0700", di.Mode().Perm())
	}
	li, err := os.Stat(path + ".lock")
	if err != nil || li.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", li, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("data directory holds %v, want the socket and its lock only (no temporary folder left)", entries)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRefusesUnsafeDirectory(t *testing.T) {
	path := sockPath(t)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Serve(context.Background(), path, newFake(), nil)
	if !errors.Is(err, ErrSocket) || !strings.Contains(err.Error(), "chmod o-w") {
		t.Fatalf("world-writable data directory: %v", err)
	}
}

func TestStaleSocketRemoved(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// A host killed with SIGKILL leaves its socket file behind.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal("no stale socket to test with:", err)
	}
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "left from a host") {
		t.Errorf("Dial of a stale socket: %v", err)
	}
	serve(t, path, newFake())
	if _, err := dial(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNotASocketInTheWay(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Serve(context.Background(), path, newFake(), nil)
	if !errors.Is(err, ErrSocket) || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Error("the file in the way was touched")
	}
}

func TestSecondServerRefused(t *testing.T) {
	path := sockPath(t)
	first := serve(t, path, newFake())
	_, err := Serve(context.Background(), path, newFake(), nil)
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Serve: %v", err)
	}
	for _, want := range []string{"another kinesis-host", fmt.Sprintf("pid %d", os.Getpid()), filepath.Dir(path)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// The refused server left the first one's socket alone.
	if _, err := dial(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Without its lock file (deleted by hand), a live host is still
	// found by asking it.
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(context.Background(), path, newFake(), nil); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("Serve next to a live host without lock file: %v", err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	serve(t, path, newFake()) // the place is free again
}

func TestDialNoHost(t *testing.T) {
	path := sockPath(t)
	_, err := Dial(context.Background(), path)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("err = %v", err)
	}
	want := fmt.Sprintf("no kinesis-host is running with data directory %s (no socket at %s)", filepath.Dir(path), path)
	if err.Error() != want {
		t.Errorf("err = %q\nwant %q", err, want)
	}
	long := "/tmp/" + strings.Repeat("x", 120) + "/kinesis-host.sock"
	if _, err := Dial(context.Background(), long); err == nil || !strings.Contains(err.Error(), "shorter path") {
		t.Errorf("long path: %v", err)
	}
	if _, err := Serve(context.Background(), long, newFake(), nil); !errors.Is(err, ErrSocket) || !strings.Contains(err.Error(), "shorter path") {
		t.Errorf("Serve on a long path: %v", err)
	}
}

func TestConcurrentClients(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	serve(t, path, f)
	c := dial(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for j := range 5 {
				var err error
				switch (i + j) % 3 {
				case 0:
					var st Status
					st, err = c.Status(ctx)
					if err == nil && len(st.Streams) != 1 {
						err = fmt.Errorf("status %+v", st)
					}
				case 1:
					err = c.Pause(ctx, "orders", fmt.Sprint(i))
				default:
					_, err = c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: TargetTrimHorizon}, DryRun: true})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(f.calls) != 200 {
		t.Errorf("%d calls, want 200", len(f.calls))
	}
}

// TestClientGivesUp: a client whose ctx ends gets ctx's error, and the
// host's call is cancelled with it.
func TestClientGivesUp(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	f.block = true
	serve(t, path, f)
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: TargetLatest}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	select {
	case err := <-f.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("host ctx ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the host's call was not cancelled when the client gave up")
	}

	<-f.entered // the rewind's

	// A cancelled (not timed out) ctx as well.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { <-f.entered; cancel2() }()
	if err := c.Pause(ctx2, "orders", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	<-f.ended
}

// TestServerCapsRequest: the server's cap on one request ends the host's
// call and answers a timeout.
func TestServerCapsRequest(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 100 * time.Millisecond
	path := sockPath(t)
	f := newFake()
	f.block = true
	serve(t, path, f)
	_, err := dial(t, path).Status(context.Background())
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	if !errors.Is(<-f.ended, context.DeadlineExceeded) {
		t.Error("host ctx did not end by its deadline")
	}
}

// TestCloseWithRequestInFlight: Close waits for ctx, then cancels; the
// waiting client hears that the host is not running.
func TestCloseWithRequestInFlight(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	f.block = true
	s := serve(t, path, f)
	c := dial(t, path)
	errc := make(chan error, 1)
	go func() { errc <- c.Pause(context.Background(), "orders", "") }()
	<-f.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline (a request was in flight)", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNotRunning) {
			t.Errorf("in-flight request: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request was not ended by Close")
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left: %v", err)
	}
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial after Close: %v", err)
	}
}

// raw sends b on a new connection and returns the answer (nil if none).
func raw(t *testing.T, path string, b []byte) *Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if len(b) > 0 {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	conn.(*net.UnixConn).CloseWrite()
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return nil
	}
	return &resp
}

func TestMalformedRequests(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	serve(t, path, f)
	for _, tc := range []struct {
		name, req string
		code      Code
		says      string
	}{
		{"not json", "hello\n", CodeBadRequest, "not JSON"},
		{"cut short", `{"version":1,"op":"sta`, CodeBadRequest, "cut short"},
		{"wrong type", `{"version":"1","op":"status"}`, CodeBadRequest, `"version" must be a int`},
		{"unknown field", `{"version":1,"op":"pause","stream":"orders","until":"tomorrow"}`, CodeBadRequest, "unknown field"},
		{"unknown op", `{"version":1,"op":"drain"}`, CodeBadRequest, "unknown op"},
		{"no version", `{"op":"status"}`, CodeProtocol, "protocol 0"},
		{"newer version", `{"version":2,"op":"status"}`, CodeProtocol, "protocol 2"},
		{"rewind without body", `{"version":1,"op":"rewind"}`, CodeBadRequest, "rewind needs"},
		{"too large", `{"version":1,"op":"pause","stream":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, CodeBadRequest, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := raw(t, path, []byte(tc.req))
			if resp == nil || resp.Error == nil {
				t.Fatalf("answer %+v", resp)
			}
			if resp.Version != ProtocolVersion || resp.Error.Code != tc.code || !strings.Contains(resp.Error.Message, tc.says) {
				t.Errorf("answer %+v, want %s saying %q", resp.Error, tc.code, tc.says)
			}
		})
	}
	// Connecting and closing (a probe) gets no answer and upsets nothing.
	if resp := raw(t, path, nil); resp != nil {
		t.Errorf("empty connection answered %+v", resp)
	}
	if len(f.calls) != 0 {
		t.Errorf("the host was called: %q", f.calls)
	}
	if _, err := dial(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSlowRequest(t *testing.T) {
	defer func(d time.Duration) { requestReadTimeout = d }(requestReadTimeout)
	requestReadTimeout = 100 * time.Millisecond
	path := sockPath(t)
	serve(t, path, newFake())
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(`{"version":1,`))
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error == nil || !strings.Contains(resp.Error.Message, "no complete request") {
		t.Errorf("answer %+v", resp.Error)
	}
}

func TestNotAControlSocket(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH\r\n"))
			c.Close()
		}
	}()
	_, err = Dial(context.Background(), path)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "not a kinesis-host") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoggedActions(t *testing.T) {
	path := sockPath(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := hclog.New(&hclog.LoggerOptions{Output: &lockedWriter{w: &buf, mu: &mu}, Level: hclog.Info})
	s, err := Serve(context.Background(), path, newFake(), log)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, path)
	ctx := context.Background()
	_ = c.Pause(ctx, "orders", "shardId-1")
	_, _ = c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: TargetLatest}})
	_, _ = c.Rewind(ctx, RewindRequest{Stream: "orders", To: Target{Kind: TargetLatest}, DryRun: true})
	_ = s.Close(ctx)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"control: pause: stream=orders shard=shardId-1", "control: rewind applied: stream=orders shard=\"(every shard)\" to=LATEST"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "rewind applied") != 1 {
		t.Errorf("a dry run was logged as applied:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLockHeldWithoutSocket: a host still starting (lock taken, socket not
// yet bound) is named by the pid in its lock file.
func TestLockHeldWithoutSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if held, err := tryLock(lf); held || err != nil {
		t.Skip("no flock here:", held, err)
	}
	fmt.Fprintf(lf, "pid=31337\n")
	_, err = Serve(context.Background(), path, newFake(), nil)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "(pid 31337)") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnencodableAnswer(t *testing.T) {
	path := sockPath(t)
	f := newFake()
	f.status.Streams[0].Shards[0].LagSeconds = math.NaN()
	serve(t, path, f)
	_, err := dial(t, path).Status(context.Background())
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "cannot be encoded") {
		t.Fatalf("err = %v", err)
	}
}
