package shared

import (
	"context"
	"fmt"
	"net/rpc"
	"sync"
	"sync/atomic"

	plugin "github.com/hashicorp/go-plugin"
)

// HandlerServer is what a handler plugin implements, in wire types. Package
// sdk adapts a user's sdk.Handler to it. Every method may be called
// concurrently (HandleBatch once per shard at a time, many shards at once).
type HandlerServer interface {
	Info(ctx context.Context) InfoResponse
	Configure(ctx context.Context, req *ConfigureRequest) *ConfigureResponse
	HandleBatch(ctx context.Context, req *BatchRequest) *BatchResponse
	// Lifecycle reports a shard event; plugins that do not care return nil.
	Lifecycle(ctx context.Context, req *LifecycleRequest) *Error
	// Shutdown is the plugin's last chance to flush its own buffers before
	// the host writes its final checkpoints and stops it.
	Shutdown(ctx context.Context) *Error
}

// HandlerPlugin is the go-plugin Plugin for record handlers (net/rpc).
type HandlerPlugin struct {
	Impl HandlerServer // set on the plugin side only
	// Base, if set, is the parent of every call's context on the plugin
	// side (cancelled when the plugin is asked to stop).
	Base context.Context
}

// Server implements plugin.Plugin.
func (p *HandlerPlugin) Server(*plugin.MuxBroker) (any, error) {
	return &HandlerRPCServer{commonServer: commonServer{impl: p.Impl, base: p.Base}, impl: p.Impl}, nil
}

// Client implements plugin.Plugin.
func (p *HandlerPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &HandlerClient{commonClient: commonClient{c: c}, packing: make(chan struct{}, maxPacking)}, nil
}

// HandlerRPCServer is the net/rpc receiver inside a handler plugin. Its
// methods are exported only because net/rpc requires it.
type HandlerRPCServer struct {
	commonServer
	impl HandlerServer
}

// HandleBatch is the RPC method behind HandlerClient.HandleBatch.
func (s *HandlerRPCServer) HandleBatch(req BatchRequest, reply *BatchResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("HandleBatch", func(e *Error) { *reply = BatchResponse{Err: e} })
	*reply = *s.impl.HandleBatch(ctx, &req)
	if reply.Err != nil && reply.Err.Code == CodeBadRequest {
		// The request could not be read: the call failed, no record is
		// to blame (see CodeBadRequest).
		return reply.Err
	}
	return nil
}

// Lifecycle is the RPC method behind HandlerClient.Lifecycle.
func (s *HandlerRPCServer) Lifecycle(req LifecycleRequest, reply *ConfigureResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("Lifecycle", func(e *Error) { reply.Err = e })
	reply.Err = s.impl.Lifecycle(ctx, &req)
	return nil
}

// Shutdown is the RPC method behind HandlerClient.Shutdown.
func (s *HandlerRPCServer) Shutdown(timeoutMs int64, reply *ConfigureResponse) error {
	ctx, cancel := serverContext(s.base, timeoutMs)
	defer cancel()
	defer guard("Shutdown", func(e *Error) { reply.Err = e })
	reply.Err = s.impl.Shutdown(ctx)
	return nil
}

// HandlerClient is the host's stub for a handler plugin. Safe for
// concurrent use. Every method returns an error wrapping ErrPluginGone when
// the plugin process is gone.
//
// The client speaks the newest batch wire format the plugin advertised in
// the answer to its last Info call (InfoResponse.WireVersion, capped at
// this build's WireVersion); before any Info call, or after one that
// failed, it sends the form every plugin reads (WireRecords). The host
// calls Info once on every plugin instance it starts, each of which has its
// own client, so the form is decided per plugin instance.
type HandlerClient struct {
	commonClient
	wire atomic.Int32
	// packing bounds the packed batches that exist at once (see
	// maxPacking); nil: unbounded.
	packing chan struct{}
}

// Info asks the plugin to describe itself and remembers the batch wire
// format it reads (see HandlerClient).
func (h *HandlerClient) Info(ctx context.Context) (InfoResponse, error) {
	info, err := h.commonClient.Info(ctx)
	if err == nil {
		h.SetWireVersion(info.WireVersion)
	}
	return info, err
}

// SetWireVersion sets the batch wire format HandleBatch sends, as an Info
// answer would: WireRecords, or WirePacked (any value above this build's
// WireVersion counts as WireVersion, any value below 0 as WireRecords).
// Tests and benchmarks use it to pin a form.
func (h *HandlerClient) SetWireVersion(v int) {
	h.wire.Store(int32(max(WireRecords, min(v, WireVersion))))
}

// WireVersion is the batch wire format HandleBatch sends.
func (h *HandlerClient) WireVersion() int { return int(h.wire.Load()) }

// packBufs holds the host's batch encoding buffers. A buffer is back in the
// pool as soon as its call's request is written (see send); one larger than
// maxPooledPack is left to the garbage collector.
var packBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPack bounds the buffers kept in packBufs (a GetRecords page is
// at most 10 MiB of data).
const maxPooledPack = 16 << 20

// maxPacking is how many calls of one client may hold a packed batch at
// once. A packed batch is a copy of its records, made before the call
// waits for its turn to write on the client's one connection (net/rpc
// writes one request at a time): without a bound, every shard's batch
// would be copied while the others are written, and a host with 1,000
// shards held a second copy of most of its fetched pages, outside the
// memory budget. Two let one batch be packed while another is written.
const maxPacking = 2

// HandleBatch delivers one batch. The returned error is a transport or
// deadline error (the batch's fate is unknown: deliver it again); the
// handler's own verdict is in the response.
//
// The caller fills req.Records. When the plugin reads packed batches, the
// client lays the records out in one reused buffer and sends that in
// req.Packed instead (req itself is not changed, apart from TimeoutMillis):
// encoding allocates nothing per record, and the plugin reads the records
// without a copy or an allocation per record. A req that already carries
// Packed is sent as it is.
func (h *HandlerClient) HandleBatch(ctx context.Context, req *BatchRequest) (*BatchResponse, error) {
	req.TimeoutMillis = timeoutMillis(ctx)
	out := new(BatchResponse)
	if h.wire.Load() < WirePacked || req.Packed != nil {
		if err := call(ctx, h.c, "Plugin.HandleBatch", req, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if h.packing != nil {
		select {
		case h.packing <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("Plugin.HandleBatch: %w", ctx.Err())
		}
	}
	buf := packBufs.Get().(*[]byte)
	wire := *req
	wire.TimeoutMillis = timeoutMillis(ctx) // after the wait for a turn
	wire.Records = nil
	wire.Packed = AppendPacked((*buf)[:0], req.Records)
	cl, err := send(ctx, h.c, "Plugin.HandleBatch", &wire, out)
	// send has written the request: the buffer is free again.
	if cap(wire.Packed) <= maxPooledPack {
		*buf = wire.Packed[:0]
		packBufs.Put(buf)
	}
	wire.Packed = nil
	if h.packing != nil {
		<-h.packing
	}
	if err == nil {
		err = wait(ctx, cl, "Plugin.HandleBatch")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Shutdown tells the plugin the host is stopping.
func (h *HandlerClient) Shutdown(ctx context.Context) error {
	return closeLike(ctx, h.c, "Plugin.Shutdown")
}

// Lifecycle reports a shard event. Plugins built before lifecycle calls
// existed answer with a "can't find method" error, which callers ignore.
func (h *HandlerClient) Lifecycle(ctx context.Context, req LifecycleRequest) error {
	req.TimeoutMillis = timeoutMillis(ctx)
	var out ConfigureResponse
	if err := call(ctx, h.c, "Plugin.Lifecycle", req, &out); err != nil {
		return err
	}
	return FromWire(out.Err)
}
