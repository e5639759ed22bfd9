package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// ErrAlreadyRunning is returned by Serve (wrapped, with the other host's
// pid when it answers) when another kinesis-host serves the control socket
// of the same data directory.
var ErrAlreadyRunning = errors.New("another kinesis-host runs with this data directory")

// ErrSocket is returned by Serve (wrapped, with the path, the cause and
// what to change) when the control socket cannot be created.
var ErrSocket = errors.New("cannot create the control socket")

// Server is a running control socket. Close it when the host stops.
type Server struct {
	path string
	h    Host
	log  hclog.Logger
	ln   *net.UnixListener
	fi   os.FileInfo // of the socket file, to remove only ours
	lock *os.File

	ctx     context.Context // every Host call's parent; cancelled by Close
	cancel  context.CancelFunc
	closing atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // one per connection being served
	acc   chan struct{}  // closed when the accept loop returned

	closeOnce sync.Once
	closeErr  error
}

// Serve creates the control socket at path (see SocketPath) and answers
// requests with h in the background until Close. ctx bounds only the
// start. log receives one line per request that changes something (pause,
// resume, a rewind applied) and the server's errors; nil discards them.
//
// The socket's directory is created 0700 if missing and must belong to
// the host's user. The socket is mode 0600, created in a private
// temporary directory and renamed into place, so no other user can
// connect even for an instant. A lock file, path + ".lock", held while the
// server runs, makes a second server for the same path fail with
// ErrAlreadyRunning; a socket file left by a host that died is removed. On
// Close the socket is removed; the lock file is left in place (removing it
// would race with a host starting).
func Serve(ctx context.Context, path string, h Host, log hclog.Logger) (*Server, error) {
	if h == nil {
		return nil, errors.New("control.Serve: Host is nil")
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	}
	path = abs
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("%w at %s: the path is %d bytes, and a unix socket's may have at most %d: run the host from a config in a folder with a shorter path", ErrSocket, path, len(path), maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w at %s: cannot create its folder: %v; make %s's parent writable by the host's user", ErrSocket, path, err, dir)
	}
	dfi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	}
	if !dfi.IsDir() {
		return nil, fmt.Errorf("%w at %s: %s is not a folder; move that file away", ErrSocket, path, dir)
	}
	if err := checkOwner(dir, dfi); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	}

	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: cannot create its lock file: %v; make %s writable by the host's user", ErrSocket, path, err, dir)
	}
	held, err := tryLock(lock)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("%w at %s: cannot lock %s: %v; put the data directory on a local file system", ErrSocket, path, lock.Name(), err)
	}
	if held {
		_ = lock.Close()
		return nil, alreadyRunning(ctx, path, "")
	}
	s, err := listen(ctx, path, lock, log)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	if err := lock.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(lock, "pid=%d\n", os.Getpid())
	}
	s.h = h
	go s.accept()
	return s, nil
}

// listen clears a stale socket and binds a new one at path, 0600.
func listen(ctx context.Context, path string, lock *os.File, log hclog.Logger) (*Server, error) {
	switch fi, err := os.Lstat(path); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	case !isSocket(fi):
		return nil, fmt.Errorf("%w at %s: a file that is not a socket is in the way: move it away (the host owns this name in its data directory)", ErrSocket, path)
	default:
		if pid, live := ping(ctx, path); live {
			return nil, alreadyRunning(ctx, path, fmt.Sprint(pid))
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: a stale socket (left by a host that stopped without removing it) cannot be removed: %v; remove it by hand", ErrSocket, path, err)
		}
		log.Info("removed a stale control socket left by a host that stopped without removing it", "path", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.MkdirTemp(dir, ".c") // 0700: nobody else can reach the socket inside
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v; make %s writable by the host's user", ErrSocket, path, err, dir)
	}
	defer os.RemoveAll(tmp)
	tsock := filepath.Join(tmp, "s")
	ln, err := (&net.ListenConfig{}).Listen(ctx, "unix", tsock)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the file moves; Close removes it by its new name
	fail := func(err error) (*Server, error) {
		_ = ul.Close()
		return nil, fmt.Errorf("%w at %s: %v", ErrSocket, path, err)
	}
	if err := os.Chmod(tsock, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tsock, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	return &Server{
		path: path, log: log, ln: ul, fi: fi, lock: lock,
		ctx: sctx, cancel: cancel,
		conns: make(map[net.Conn]struct{}),
		acc:   make(chan struct{}),
	}, nil
}

// alreadyRunning builds the ErrAlreadyRunning error, asking the other host
// its pid when pid is not known yet.
func alreadyRunning(ctx context.Context, path, pid string) error {
	if pid == "" {
		if p, live := ping(ctx, path); live {
			pid = fmt.Sprint(p)
		} else if b, err := os.ReadFile(path + ".lock"); err == nil {
			var p int
			if _, err := fmt.Sscanf(string(b), "pid=%d", &p); err == nil && p > 0 {
				pid = fmt.Sprint(p)
			}
		}
	}
	who := "another kinesis-host"
	if pid != "" {
		who += " (pid " + pid + ")"
	}
	return fmt.Errorf("%w: %s runs with this data directory: %s (control socket %s): stop it first, or run this host from a config in another folder (the data directory is the config file's folder + /data)",
		ErrAlreadyRunning, who, filepath.Dir(path), path)
}

// ping asks the server at path for its pid; live is false when nothing
// answers as a kinesis-host would.
func ping(ctx context.Context, path string) (pid int, live bool) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var resp Response
	if err := roundTrip(ctx, path, Request{Version: ProtocolVersion, Op: OpPing}, &resp); err != nil || resp.Hello == nil {
		return 0, false
	}
	return resp.Hello.PID, true
}

// Path returns the socket's absolute path.
func (s *Server) Path() string { return s.path }

// Close stops accepting connections and removes the socket, then waits for
// the requests being answered until ctx ends; then it cancels their
// contexts, closes their connections and returns ctx's error (without
// waiting for a Host method that ignores its ctx). The lock is released
// last. Further calls return the first call's result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		_ = s.ln.Close()
		<-s.acc
		if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.fi) {
			_ = os.Remove(s.path)
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.closeErr = ctx.Err()
			s.cancel()
			s.mu.Lock()
			for c := range s.conns {
				_ = c.Close()
			}
			s.mu.Unlock()
		}
		s.cancel()
		_ = s.lock.Close()
	})
	return s.closeErr
}

// accept serves connections until the listener is closed.
func (s *Server) accept() {
	defer close(s.acc)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("control socket: accept failed; retrying", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve answers the one request of c.
func (s *Server) serve(c net.Conn) {
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	_ = c.SetReadDeadline(time.Now().Add(requestReadTimeout))
	var req Request
	dec := json.NewDecoder(io.LimitReader(c, MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return // connected and closed without a request: a liveness probe
		}
		s.log.Debug("control socket: malformed request", "error", err)
		s.reply(c, Response{Error: errorf(CodeBadRequest, malformed(err))})
		return
	}
	_ = c.SetReadDeadline(time.Time{})

	ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
	defer cancel()
	// One request per connection: the client closing its end means it gave
	// up, and the Host call is cancelled.
	go func() {
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				cancel()
				return
			}
		}
	}()
	s.reply(c, s.handle(ctx, req))
}

// malformed explains a request that does not decode.
func malformed(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("malformed request: cut short (or larger than %d bytes): send one complete JSON object, then wait for the answer", MaxRequestBytes)
	case errors.As(err, &se):
		return fmt.Sprintf("malformed request: not JSON (%v): send one JSON object such as {\"version\":%d,\"op\":\"status\"}", err, ProtocolVersion)
	case errors.As(err, &te):
		return fmt.Sprintf("malformed request: field %q must be a %s, not a JSON %s", te.Field, te.Type, te.Value)
	case os.IsTimeout(err):
		return fmt.Sprintf("no complete request within %s of connecting", requestReadTimeout)
	}
	return fmt.Sprintf("malformed request: %v (unknown fields are refused: is the client newer than this host? use the kinesis-host binary of the host's release)", err)
}

// reply writes resp and ends the connection.
func (s *Server) reply(c net.Conn, resp Response) {
	resp.Version = ProtocolVersion
	b, err := json.Marshal(resp)
	if err != nil { // a NaN lag, say: a bug of the host, but answer
		s.log.Error("control socket: the answer cannot be encoded", "error", err)
		b, _ = json.Marshal(Response{Version: ProtocolVersion, Error: errorf(CodeFailed, fmt.Sprintf("the host's answer cannot be encoded (%v): this is a bug in kinesis-host", err))})
	}
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(b, '\n')); err != nil {
		s.log.Debug("control socket: the client left before the answer", "error", err)
	}
}

// handle validates req and calls the Host.
func (s *Server) handle(ctx context.Context, req Request) (resp Response) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("control socket: the host panicked answering a request", "op", req.Op, "panic", v, "stack", string(debug.Stack()))
			resp = Response{Error: errorf(CodeFailed, fmt.Sprintf("the host panicked answering %s: %v (this is a bug in kinesis-host; its log has the stack)", req.Op, v))}
		}
	}()
	if req.Version != ProtocolVersion {
		return Response{Error: errorf(CodeProtocol, fmt.Sprintf("the client speaks control protocol %d and this host %d: use the kinesis-host binary of the host's release (kinesis-host version)", req.Version, ProtocolVersion))}
	}
	fail := func(err error) Response {
		e := wireError(ctx, s.closing.Load(), err)
		if e.Code != CodeNoSuchStream && e.Code != CodeNoSuchShard && e.Code != CodeBadRequest {
			s.log.Warn("control socket: request failed", "op", req.Op, "stream", req.Stream, "shard", req.Shard, "error", err)
		}
		return Response{Error: e}
	}
	switch req.Op {
	case OpPing:
		return Response{Hello: &Hello{PID: os.Getpid()}}
	case OpStatus:
		st, err := s.h.Status(ctx)
		if err != nil {
			return fail(err)
		}
		return Response{Status: &st}
	case OpPause, OpResume:
		if req.Stream == "" {
			return Response{Error: errorf(CodeBadRequest, fmt.Sprintf("%s needs a stream: name it (-stream S), and a shard (-shard ID) to %s only that shard", req.Op, req.Op))}
		}
		f := s.h.Pause
		if req.Op == OpResume {
			f = s.h.Resume
		}
		if err := f(ctx, req.Stream, req.Shard); err != nil {
			return fail(err)
		}
		s.log.Info("control: "+string(req.Op), "stream", req.Stream, "shard", shardOrAll(req.Shard))
		return Response{}
	case OpRewind:
		r := req.Rewind
		switch {
		case r == nil:
			return Response{Error: errorf(CodeBadRequest, `rewind needs its request in "rewind": {"stream": ..., "to": {...}}`)}
		case r.Stream == "":
			return Response{Error: errorf(CodeBadRequest, "rewind needs a stream: name it (-stream S)")}
		}
		if err := r.To.Validate(); err != nil {
			return Response{Error: wireError(ctx, false, err)}
		}
		res, err := s.h.Rewind(ctx, *r)
		if err != nil {
			return fail(err)
		}
		if !r.DryRun {
			s.log.Info("control: rewind applied", "stream", r.Stream, "shard", shardOrAll(r.Shard), "to", r.To.String())
		}
		return Response{Rewind: &res}
	}
	return Response{Error: errorf(CodeBadRequest, fmt.Sprintf("unknown op %q: this host knows ping, status, pause, resume and rewind (is the client newer than this host? use the kinesis-host binary of the host's release)", req.Op))}
}

func shardOrAll(shard string) string {
	if shard == "" {
		return "(every shard)"
	}
	return shard
}
