package shared

import (
	"context"
	"net/rpc"

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
	return &HandlerClient{commonClient{c: c}}, nil
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
type HandlerClient struct {
	commonClient
}

// HandleBatch delivers one batch. The returned error is a transport or
// deadline error (the batch's fate is unknown: deliver it again); the
// handler's own verdict is in the response.
func (h *HandlerClient) HandleBatch(ctx context.Context, req *BatchRequest) (*BatchResponse, error) {
	req.TimeoutMillis = timeoutMillis(ctx)
	out := new(BatchResponse)
	if err := call(ctx, h.c, "Plugin.HandleBatch", req, out); err != nil {
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
