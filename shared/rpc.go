package shared

import (
	"context"
	"fmt"
	"net/rpc"
	"runtime/debug"
	"time"
)

// call runs one net/rpc call bounded by ctx. net/rpc has no cancellation:
// when ctx ends first the call is abandoned (its reply is discarded when it
// arrives) and ctx's error is returned.
func call(ctx context.Context, c *rpc.Client, method string, args, reply any) error {
	cl, err := send(ctx, c, method, args, reply)
	if err != nil {
		return err
	}
	return wait(ctx, cl, method)
}

// send starts a call: when it returns, args has been encoded and written
// (or the call failed), so the caller may reuse memory args refers to.
// That holds for net/rpc's client (Client.Go runs Client.send, which calls
// the codec's WriteRequest under the request mutex before returning;
// go-plugin builds its clients with rpc.NewClient, whose gob codec encodes
// args into its own buffer and flushes it to the connection inside
// WriteRequest): nothing keeps a reference to args after Go returns, even
// when the call is later abandoned.
func send(ctx context.Context, c *rpc.Client, method string, args, reply any) (*rpc.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return c.Go(method, args, reply, make(chan *rpc.Call, 1)), nil
}

// wait waits for a call started by send, bounded by ctx.
func wait(ctx context.Context, cl *rpc.Call, method string) error {
	select {
	case <-cl.Done:
		return transportError(method, cl.Error)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// timeoutMillis turns ctx's deadline into a relative timeout for the wire
// (the two processes share a clock, but a relative value is robust anyway).
// 0 means no deadline.
func timeoutMillis(ctx context.Context) int64 {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(d).Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return ms
}

// serverContext builds the context a plugin-side call runs under.
func serverContext(base context.Context, timeoutMs int64) (context.Context, context.CancelFunc) {
	if base == nil {
		base = context.Background()
	}
	if timeoutMs > 0 {
		return context.WithTimeout(base, time.Duration(timeoutMs)*time.Millisecond)
	}
	return context.WithCancel(base)
}

// guard turns a panic in plugin code into an *Error so that one bad record
// does not take the plugin process (and every other shard's call) down.
func guard(what string, set func(*Error)) {
	if r := recover(); r != nil {
		set(&Error{Code: CodeInternal, Message: fmt.Sprintf("%s panicked: %v\n%s", what, r, debug.Stack())})
	}
}

// common is the part of both plugin kinds' contracts that is the same.
type common interface {
	Info(ctx context.Context) InfoResponse
	Configure(ctx context.Context, req *ConfigureRequest) *ConfigureResponse
}

// commonServer serves Info and Configure; the kind-specific servers embed
// it (net/rpc sees promoted methods).
type commonServer struct {
	impl common
	base context.Context
}

// Info is the RPC method behind the clients' Info.
func (s *commonServer) Info(_ Empty, reply *InfoResponse) error {
	*reply = s.impl.Info(context.Background())
	return nil
}

// Configure is the RPC method behind the clients' Configure.
func (s *commonServer) Configure(req ConfigureRequest, reply *ConfigureResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("Configure", func(e *Error) { reply.Err = e })
	*reply = *s.impl.Configure(ctx, &req)
	return nil
}

// commonClient calls Info and Configure; the kind-specific clients embed it.
type commonClient struct {
	c *rpc.Client
}

// Info asks the plugin to describe itself.
func (h *commonClient) Info(ctx context.Context) (InfoResponse, error) {
	var out InfoResponse
	err := call(ctx, h.c, "Plugin.Info", Empty{}, &out)
	return out, err
}

// Configure sends the config {} block. A rejected config comes back as a
// non-nil *Error with CodeInvalidConfig.
func (h *commonClient) Configure(ctx context.Context, req ConfigureRequest) error {
	req.TimeoutMillis = timeoutMillis(ctx)
	var out ConfigureResponse
	if err := call(ctx, h.c, "Plugin.Configure", req, &out); err != nil {
		return err
	}
	return FromWire(out.Err)
}

// closeLike runs a no-argument call whose reply carries only an *Error
// (Shutdown, Close).
func closeLike(ctx context.Context, c *rpc.Client, method string) error {
	var out ConfigureResponse
	if err := call(ctx, c, method, timeoutMillis(ctx), &out); err != nil {
		return err
	}
	return FromWire(out.Err)
}
