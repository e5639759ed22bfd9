package storetest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// StallProxy is a TCP proxy for "the backend stalls" tests: put it
// between a store and its server, then Stall makes it stop forwarding in
// both directions while it keeps every connection open and keeps accepting
// new ones (as a SIGSTOPped server or a black-holing network does: nothing
// is refused, nothing is answered). Resume forwards again, including what
// was held.
type StallProxy struct {
	// Addr is the proxy's host:port; point the store at it.
	Addr string

	upstream string
	ln       net.Listener

	mu      sync.Mutex
	stalled bool
	resumed chan struct{} // closed on Resume
	conns   map[net.Conn]struct{}
	closed  bool
}

// NewStallProxy listens on a free 127.0.0.1 port and forwards to upstream
// until the test ends.
func NewStallProxy(t testing.TB, upstream string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stall proxy: listen: %v", err)
	}
	p := &StallProxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, conns: map[net.Conn]struct{}{}, resumed: make(chan struct{})}
	close(p.resumed)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Stall stops forwarding; connections stay open.
func (p *StallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled = true
		p.resumed = make(chan struct{})
	}
}

// Resume forwards again.
func (p *StallProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
}

// Close stops the proxy and closes every connection.
func (p *StallProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

// gate blocks while the proxy is stalled; false once it is closed.
func (p *StallProxy) gate() bool {
	p.mu.Lock()
	ch := p.resumed
	p.mu.Unlock()
	<-ch
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed
}

func (p *StallProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *StallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		go p.serve(c)
	}
}

func (p *StallProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.gate() { // a stalled server accepts, but does nothing more
		return
	}
	u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	if !p.track(u) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(u, c); done <- struct{}{} }()
	go func() { p.pipe(c, u); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *StallProxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// AssertAnswersWhileStalled calls Get and Set of key through the plugin
// boundary (sdk.NewCheckpointServer) as the host does, with a call timeout
// of callTimeout, while the backend is stalled: each must answer
// CodeUnavailable, well inside callTimeout (the sdk gives a store half of
// it), so the host never counts the plugin as hung.
func AssertAnswersWhileStalled(t testing.TB, s sdk.Store, key sdk.CheckpointKey, callTimeout time.Duration) {
	t.Helper()
	srv := sdk.NewCheckpointServer(s)
	limit := callTimeout * 3 / 4
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	start := time.Now()
	get := srv.Get(ctx, &shared.CheckpointGetRequest{Keys: []sdk.CheckpointKey{key}})
	cancel()
	took := time.Since(start)
	if len(get.Results) != 1 || get.Results[0].Err == nil || get.Results[0].Err.Code != shared.CodeUnavailable {
		t.Errorf("Get while the backend stalls answered %+v; want CodeUnavailable", get.Results)
	} else if get.Results[0].Found {
		t.Errorf("Get while the backend stalls answered found=true with an error")
	}
	if took > limit {
		t.Errorf("Get while the backend stalls took %s with a call timeout of %s; want an answer within %s", took.Round(time.Millisecond), callTimeout, limit)
	}

	ctx, cancel = context.WithTimeout(context.Background(), callTimeout)
	start = time.Now()
	set := srv.Set(ctx, &shared.CheckpointSetRequest{Updates: []sdk.CheckpointUpdate{{Key: key, Checkpoint: sdk.Checkpoint{SequenceNumber: "1"}}}})
	cancel()
	took = time.Since(start)
	if len(set.Results) != 1 || set.Results[0].Code != shared.CodeUnavailable {
		t.Errorf("Set while the backend stalls answered %+v; want CodeUnavailable", set.Results)
	}
	if took > limit {
		t.Errorf("Set while the backend stalls took %s with a call timeout of %s; want an answer within %s", took.Round(time.Millisecond), callTimeout, limit)
	}
}

// AssertConfigureWhileStalled configures s through the plugin boundary
// with a call timeout of callTimeout while its backend is stalled: the
// answer must be CodeUnavailable (the host retries it; it is not a bad
// config), well inside callTimeout.
func AssertConfigureWhileStalled(t testing.TB, s sdk.Store, config []byte, callTimeout time.Duration) {
	t.Helper()
	srv := sdk.NewCheckpointServer(s)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	res := srv.Configure(ctx, &shared.ConfigureRequest{App: "stall", Name: "stall", Config: config})
	took := time.Since(start)
	if res.Err == nil || res.Err.Code != shared.CodeUnavailable {
		t.Errorf("Configure while the backend stalls answered %v; want CodeUnavailable", res.Err)
	}
	if limit := callTimeout * 3 / 4; took > limit {
		t.Errorf("Configure while the backend stalls took %s with a call timeout of %s; want an answer within %s", took.Round(time.Millisecond), callTimeout, limit)
	}
}
