package shared

import (
	"context"
	"net/rpc"

	plugin "github.com/hashicorp/go-plugin"
)

// CheckpointServer is what a checkpoint plugin implements, in wire types.
// Package sdk adapts a user's sdk.Store to it.
type CheckpointServer interface {
	Info(ctx context.Context) InfoResponse
	Configure(ctx context.Context, req *ConfigureRequest) *ConfigureResponse
	Get(ctx context.Context, req *CheckpointGetRequest) *CheckpointGetResponse
	Set(ctx context.Context, req *CheckpointSetRequest) *CheckpointSetResponse
	// Close releases connections; the host calls it before stopping the
	// plugin.
	Close(ctx context.Context) *Error
	// ListLeases and UpdateLeases are the lease calls (see LeaseUpdate);
	// a store without leases answers CodeUnimplemented and says so in
	// InfoResponse.Leases.
	ListLeases(ctx context.Context, req *LeaseListRequest) *LeaseListResponse
	UpdateLeases(ctx context.Context, req *LeaseUpdateRequest) *LeaseUpdateResponse
}

// CheckpointPlugin is the go-plugin Plugin for checkpoint stores (net/rpc).
type CheckpointPlugin struct {
	Impl CheckpointServer // plugin side only
	Base context.Context  // optional parent of every plugin-side call's ctx
}

// Server implements plugin.Plugin.
func (p *CheckpointPlugin) Server(*plugin.MuxBroker) (any, error) {
	return &CheckpointRPCServer{commonServer: commonServer{impl: p.Impl, base: p.Base}, impl: p.Impl}, nil
}

// Client implements plugin.Plugin.
func (p *CheckpointPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &CheckpointClient{commonClient{c: c}}, nil
}

// CheckpointRPCServer is the net/rpc receiver inside a checkpoint plugin.
type CheckpointRPCServer struct {
	commonServer
	impl CheckpointServer
}

// Get is the RPC method behind CheckpointClient.Get.
func (s *CheckpointRPCServer) Get(req CheckpointGetRequest, reply *CheckpointGetResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("Get", func(e *Error) {
		reply.Results = make([]CheckpointGetResult, len(req.Keys))
		for i := range reply.Results {
			reply.Results[i].Err = e
		}
	})
	*reply = *s.impl.Get(ctx, &req)
	return nil
}

// Set is the RPC method behind CheckpointClient.Set.
func (s *CheckpointRPCServer) Set(req CheckpointSetRequest, reply *CheckpointSetResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("Set", func(e *Error) {
		reply.Results = make([]Error, len(req.Updates))
		for i := range reply.Results {
			reply.Results[i] = *e
		}
	})
	*reply = *s.impl.Set(ctx, &req)
	return nil
}

// ListLeases is the RPC method behind CheckpointClient.ListLeases.
func (s *CheckpointRPCServer) ListLeases(req LeaseListRequest, reply *LeaseListResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("ListLeases", func(e *Error) { reply.Err = e })
	*reply = *s.impl.ListLeases(ctx, &req)
	return nil
}

// UpdateLeases is the RPC method behind CheckpointClient.UpdateLeases.
func (s *CheckpointRPCServer) UpdateLeases(req LeaseUpdateRequest, reply *LeaseUpdateResponse) error {
	ctx, cancel := serverContext(s.base, req.TimeoutMillis)
	defer cancel()
	defer guard("UpdateLeases", func(e *Error) {
		reply.Results = make([]Error, len(req.Updates))
		for i := range reply.Results {
			reply.Results[i] = *e
		}
	})
	*reply = *s.impl.UpdateLeases(ctx, &req)
	return nil
}

// Close is the RPC method behind CheckpointClient.Close.
func (s *CheckpointRPCServer) Close(timeoutMs int64, reply *ConfigureResponse) error {
	ctx, cancel := serverContext(s.base, timeoutMs)
	defer cancel()
	defer guard("Close", func(e *Error) { reply.Err = e })
	reply.Err = s.impl.Close(ctx)
	return nil
}

// CheckpointClient is the host's stub for a checkpoint plugin. Safe for
// concurrent use.
type CheckpointClient struct {
	commonClient
}

// Get reads checkpoints; one result per key. The error is a transport error.
func (h *CheckpointClient) Get(ctx context.Context, keys []CheckpointKey) ([]CheckpointGetResult, error) {
	req := CheckpointGetRequest{Keys: keys, TimeoutMillis: timeoutMillis(ctx)}
	var out CheckpointGetResponse
	if err := call(ctx, h.c, "Plugin.Get", req, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(keys) {
		return nil, &Error{Code: CodeInternal, Message: "checkpoint plugin returned a wrong number of results"}
	}
	return out.Results, nil
}

// Set writes checkpoints; one result per update (empty Code = ok).
func (h *CheckpointClient) Set(ctx context.Context, updates []CheckpointUpdate) ([]Error, error) {
	req := CheckpointSetRequest{Updates: updates, TimeoutMillis: timeoutMillis(ctx)}
	var out CheckpointSetResponse
	if err := call(ctx, h.c, "Plugin.Set", req, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(updates) {
		return nil, &Error{Code: CodeInternal, Message: "checkpoint plugin returned a wrong number of results"}
	}
	return out.Results, nil
}

// ListLeases reads every row of (app, stream). The error is a transport
// error or the store's.
func (h *CheckpointClient) ListLeases(ctx context.Context, app, stream string) ([]LeaseRow, error) {
	req := LeaseListRequest{App: app, Stream: stream, TimeoutMillis: timeoutMillis(ctx)}
	var out LeaseListResponse
	if err := call(ctx, h.c, "Plugin.ListLeases", req, &out); err != nil {
		return nil, err
	}
	if out.Err != nil {
		return nil, out.Err
	}
	return out.Rows, nil
}

// UpdateLeases applies conditional lease writes; one result per update
// (empty Code = applied, CodeConflict = the condition failed).
func (h *CheckpointClient) UpdateLeases(ctx context.Context, updates []LeaseUpdate) ([]Error, error) {
	req := LeaseUpdateRequest{Updates: updates, TimeoutMillis: timeoutMillis(ctx)}
	var out LeaseUpdateResponse
	if err := call(ctx, h.c, "Plugin.UpdateLeases", req, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(updates) {
		return nil, &Error{Code: CodeInternal, Message: "checkpoint plugin returned a wrong number of results"}
	}
	return out.Results, nil
}

// Close asks the plugin to release its connections.
func (h *CheckpointClient) Close(ctx context.Context) error {
	return closeLike(ctx, h.c, "Plugin.Close")
}
