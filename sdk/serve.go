package sdk

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/kinesis-host/kinesis-host/shared"
)

var (
	loggerOnce sync.Once
	logger     hclog.Logger
	// stderr is the process's real stderr, captured before plugin.Serve
	// replaces os.Stderr with a pipe. The host parses JSON lines written
	// here and re-levels them into its own log.
	stderr = os.Stderr
)

// Logger returns the plugin's logger. It writes JSON lines to stderr, which
// the host parses and shows in its own log under the plugin's name, at the
// host's log level.
func Logger() hclog.Logger {
	loggerOnce.Do(func() {
		logger = hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Trace, // the host filters
			Output:     stderr,
			JSONFormat: true,
		})
	})
	return logger
}

// routeLogsToStderr makes sure nothing a plugin logs through the standard
// library lands on stdout, where it would break the handshake.
func routeLogsToStderr() {
	log.SetOutput(stderr)
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
}

// watchParent exits the plugin when the host process goes away, even when
// it was killed with SIGKILL and could not stop its plugins. (The host also
// sets a parent-death signal on Linux; this is the portable backstop.)
func watchParent() {
	ppid := os.Getppid()
	if ppid <= 1 {
		return
	}
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != ppid {
				Logger().Warn("host process is gone; exiting")
				os.Exit(3)
			}
		}
	}()
}

func binaryName() string { return filepath.Base(os.Args[0]) }

func serve(sets map[int]plugin.PluginSet) {
	if os.Getenv(shared.Handshake.MagicCookieKey) != shared.Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a kinesis-host plugin: it is started by kinesis-host, not by hand.\n"+
			"Copy it into the plugin_dir named in config.hcl and run `kinesis-host run -config config.hcl`.\n", binaryName())
		os.Exit(1)
	}
	routeLogsToStderr()
	watchParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: sets,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level: hclog.Warn, Output: stderr, JSONFormat: true,
		}),
	})
}

// Serve is the whole main of a handler plugin: it serves h to the host
// until the host stops the plugin. h may also implement Configurer and
// ShutdownHandler.
func Serve(h Handler) {
	serve(shared.HandlerPluginSets(NewHandlerServer(h)))
}

// ServeCheckpoint is the whole main of a checkpoint plugin. s may also
// implement Configurer, BatchStore, Rewinder, LeaseStore and Closer.
func ServeCheckpoint(s Store) {
	serve(shared.CheckpointPluginSets(NewCheckpointServer(s)))
}

// NewHandlerServer adapts h to the wire contract. Serve uses it; it is
// exported for custom transports and tests.
func NewHandlerServer(h Handler) shared.HandlerServer { return &handlerServer{h: h} }

// NewCheckpointServer adapts s to the wire contract.
func NewCheckpointServer(s Store) shared.CheckpointServer { return &storeServer{s: s} }

type handlerServer struct{ h Handler }

func (a *handlerServer) Info(context.Context) shared.InfoResponse {
	return shared.InfoResponse{Kind: shared.HandlerPluginName, Name: binaryName(), SDKVersion: Version, WireVersion: shared.WireVersion}
}

func configure(ctx context.Context, target any, req *shared.ConfigureRequest) *shared.ConfigureResponse {
	c, ok := target.(Configurer)
	if !ok {
		return &shared.ConfigureResponse{}
	}
	err := c.Configure(ctx, Config{App: req.App, Name: req.Name, JSON: req.Config, ValidateOnly: req.ValidateOnly})
	return &shared.ConfigureResponse{Err: shared.ToWire(err)}
}

func (a *handlerServer) Configure(ctx context.Context, req *shared.ConfigureRequest) *shared.ConfigureResponse {
	return configure(ctx, a.h, req)
}

func (a *handlerServer) HandleBatch(ctx context.Context, req *shared.BatchRequest) (resp *shared.BatchResponse) {
	b, err := batchFromWire(req)
	if err != nil {
		return &shared.BatchResponse{Err: &shared.Error{Code: shared.CodeBadRequest, Message: err.Error()}}
	}
	defer func() {
		if v := recover(); v != nil {
			resp = &shared.BatchResponse{Err: batchPanicError(b, v)}
		}
	}()
	res := a.h.HandleBatch(ctx, b)
	return resultToWire(res, len(b.Records))
}

// batchPanicError is the answer to a batch whose Handler panicked outside
// EachRecord. The plugin keeps serving (other shards' calls are unharmed)
// and nothing of the batch is acknowledged. The handler did not say which
// record failed, so the error has code CodeBatchFailed: the host splits
// the batch until the record at fault is alone.
func batchPanicError(b *Batch, v any) *shared.Error {
	first := "none"
	if len(b.Records) > 0 {
		first = b.Records[0].SequenceNumber
	}
	e := panicError(fmt.Sprintf("HandleBatch panicked on a batch of %d record(s) of shard %s starting at %s (a batch panic cannot say which record failed: the host splits the batch to find it; sdk.EachRecord fails the record at fault directly)",
		len(b.Records), b.ShardID, first), v)
	if len(b.Records) > 1 {
		e.Code = shared.CodeBatchFailed
	}
	return e
}

func (a *handlerServer) Lifecycle(ctx context.Context, req *shared.LifecycleRequest) *shared.Error {
	info := ShardInfo{Stream: req.Stream, ShardID: req.ShardID, Position: req.Position, StartAfter: req.StartAfter}
	switch req.Event {
	case shared.EventShardStarted:
		if h, ok := a.h.(ShardStarter); ok {
			return shared.ToWire(h.ShardStarted(ctx, info))
		}
	case shared.EventShardEnded:
		if h, ok := a.h.(ShardEnder); ok {
			return shared.ToWire(h.ShardEnded(ctx, info))
		}
	}
	return nil
}

func (a *handlerServer) Shutdown(ctx context.Context) *shared.Error {
	if s, ok := a.h.(ShutdownHandler); ok {
		return shared.ToWire(s.Shutdown(ctx))
	}
	return nil
}

// batchFromWire turns a request into the handler's Batch, from either wire
// form. A packed batch costs a fixed number of allocations whatever its
// size (the Records slice and one copy of its strings): each Record.Data
// is a slice of the received buffer, not a copy (see Record.Data). An
// error means the request cannot be read (CodeBadRequest).
func batchFromWire(req *shared.BatchRequest) (*Batch, error) {
	b := &Batch{
		Stream: req.Stream, ShardID: req.ShardID, MillisBehindLatest: req.MillisBehindLatest,
		Attempt: req.Attempt,
	}
	if req.Packed != nil {
		if len(req.Records) > 0 {
			return nil, fmt.Errorf("batch of shard %s carries both Records and Packed", req.ShardID)
		}
		rd, err := shared.ReadPacked(req.Packed)
		if err != nil {
			return nil, fmt.Errorf("batch of shard %s: %w", req.ShardID, err)
		}
		b.Records = make([]Record, rd.Len())
		var w shared.Record
		for i := range b.Records {
			rd.Next(&w)
			b.Records[i] = Record{
				Data: w.Data, PartitionKey: w.PartitionKey, SequenceNumber: w.SequenceNumber,
				SubSequenceNumber: w.SubSequenceNumber, ApproximateArrivalTimestamp: w.ApproximateArrivalTimestamp,
				ShardID: req.ShardID,
			}
		}
		return b, nil
	}
	b.Records = make([]Record, len(req.Records))
	for i := range req.Records {
		w := &req.Records[i]
		b.Records[i] = Record{
			Data: w.Data, PartitionKey: w.PartitionKey, SequenceNumber: w.SequenceNumber,
			SubSequenceNumber: w.SubSequenceNumber, ApproximateArrivalTimestamp: w.ApproximateArrivalTimestamp,
			ShardID: req.ShardID,
		}
	}
	return b, nil
}

// resultToWire validates a handler's result and converts it. An out-of-range
// result is a bug in the handler and is reported as an error rather than
// trusted, so it can never move a checkpoint past unhandled records.
func resultToWire(res BatchResult, n int) *shared.BatchResponse {
	if res.Acked < 0 || res.Acked > n || res.CheckpointTo < 0 || res.CheckpointTo > res.Acked || (res.Error != nil && res.Acked >= n) {
		return &shared.BatchResponse{Err: &shared.Error{Code: shared.CodeInternal, Message: fmt.Sprintf(
			"handler returned an invalid BatchResult (Acked=%d, CheckpointTo=%d for %d records): need 0 <= CheckpointTo <= Acked <= len(Records), and Acked < len(Records) when Error is set (the error belongs to Records[Acked])",
			res.Acked, res.CheckpointTo, n)}}
	}
	out := &shared.BatchResponse{Acked: res.Acked, CheckpointTo: res.CheckpointTo, Stop: res.StopScan}
	if res.Error != nil {
		we := shared.ToWire(res.Error)
		if we.Code == shared.CodeInternal {
			we.Code = shared.CodeHandler
		}
		out.Err = we
	}
	return out
}

type storeServer struct{ s Store }

func (a *storeServer) Info(context.Context) shared.InfoResponse {
	_, leases := a.s.(LeaseStore)
	_, rewinder := a.s.(Rewinder)
	return shared.InfoResponse{Kind: shared.CheckpointPluginName, Name: binaryName(), SDKVersion: Version, Leases: leases, Rewind: leases || rewinder}
}

func (a *storeServer) ListLeases(ctx context.Context, req *shared.LeaseListRequest) *shared.LeaseListResponse {
	ls, ok := a.s.(LeaseStore)
	if !ok {
		return &shared.LeaseListResponse{Err: errNoLeases}
	}
	ctx, cancel := storeBudget(ctx)
	defer cancel()
	rows, err := ls.ListLeases(ctx, req.App, req.Stream)
	return &shared.LeaseListResponse{Rows: rows, Err: shared.ToWire(err)}
}

func (a *storeServer) UpdateLeases(ctx context.Context, req *shared.LeaseUpdateRequest) *shared.LeaseUpdateResponse {
	out := &shared.LeaseUpdateResponse{Results: make([]shared.Error, len(req.Updates))}
	ls, ok := a.s.(LeaseStore)
	if !ok {
		for i := range out.Results {
			out.Results[i] = *errNoLeases
		}
		return out
	}
	ctx, cancel := storeBudget(ctx)
	defer cancel()
	errs := ls.UpdateLeases(ctx, req.Updates)
	for i := range out.Results {
		switch {
		case i >= len(errs):
			out.Results[i] = shared.Error{Code: shared.CodeInternal, Message: "UpdateLeases returned too few results"}
		case errs[i] != nil:
			out.Results[i] = *shared.ToWire(errs[i])
		}
	}
	return out
}

var errNoLeases = &shared.Error{Code: shared.CodeUnimplemented, Message: "this checkpoint store has no leases (it does not implement sdk.LeaseStore): it runs single-host"}

func (a *storeServer) Configure(ctx context.Context, req *shared.ConfigureRequest) *shared.ConfigureResponse {
	ctx, cancel := storeBudget(ctx)
	defer cancel()
	return configure(ctx, a.s, req)
}

// storeBudget bounds a store call to half of the time the host allows it
// (the request's TimeoutMillis, call_timeout): a stalled or unreachable
// backend then makes the store answer "unavailable" (a context deadline
// crosses the wire as CodeUnavailable) well before the host gives up on
// the call and kills the plugin as hung.
func storeBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/2)
}

// storeParallelism bounds concurrent Get/Set calls into a Store within one
// RPC, so 64 shards' writes cost a few round trips, not 64.
const storeParallelism = 16

func (a *storeServer) Get(ctx context.Context, req *shared.CheckpointGetRequest) *shared.CheckpointGetResponse {
	ctx, cancel := storeBudget(ctx)
	defer cancel()
	out := &shared.CheckpointGetResponse{Results: make([]shared.CheckpointGetResult, len(req.Keys))}
	parallel(len(req.Keys), func(i int) {
		cp, found, err := a.s.Get(ctx, req.Keys[i])
		out.Results[i] = shared.CheckpointGetResult{Found: found && err == nil, Checkpoint: cp, Err: shared.ToWire(err)}
	})
	return out
}

func (a *storeServer) Set(ctx context.Context, req *shared.CheckpointSetRequest) *shared.CheckpointSetResponse {
	ctx, cancel := storeBudget(ctx)
	defer cancel()
	out := &shared.CheckpointSetResponse{Results: make([]shared.Error, len(req.Updates))}
	// Rewinds go to the store's Rewinder, never to Set or SetBatch (which
	// only move forward, and a store built before rewinds would ignore the
	// flag and report success); they run after the request's other writes.
	var idx []int
	var updates []shared.CheckpointUpdate
	var rewinds []int
	for i, u := range req.Updates {
		if u.Rewind {
			rewinds = append(rewinds, i)
		} else {
			idx = append(idx, i)
			updates = append(updates, u)
		}
	}
	if len(updates) > 0 {
		if bs, ok := a.s.(BatchStore); ok {
			errs := bs.SetBatch(ctx, updates)
			for j, i := range idx {
				if j < len(errs) && errs[j] != nil {
					out.Results[i] = *shared.ToWire(errs[j])
				} else if j >= len(errs) {
					out.Results[i] = shared.Error{Code: shared.CodeInternal, Message: "SetBatch returned too few results"}
				}
			}
		} else {
			parallel(len(idx), func(j int) {
				u := updates[j]
				if err := a.s.Set(ctx, u.Key, u.Checkpoint); err != nil {
					out.Results[idx[j]] = *shared.ToWire(err)
				}
			})
		}
	}
	if len(rewinds) > 0 {
		rw, ok := a.s.(Rewinder)
		for _, i := range rewinds {
			if !ok {
				out.Results[i] = *errNoRewind
				continue
			}
			cp := req.Updates[i].Checkpoint
			if err := rw.Rewind(ctx, req.Updates[i].Key, &cp); err != nil {
				out.Results[i] = *shared.ToWire(err)
			}
		}
	}
	return out
}

var errNoRewind = &shared.Error{Code: shared.CodeUnimplemented, Message: "this checkpoint store cannot rewind; upgrade it or edit the checkpoint in the store by hand"}

func (a *storeServer) Close(ctx context.Context) *shared.Error {
	if c, ok := a.s.(Closer); ok {
		return shared.ToWire(c.Close(ctx))
	}
	return nil
}

func parallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	sem := make(chan struct{}, storeParallelism)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
