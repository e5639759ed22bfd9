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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	cl := c.Go(method, args, reply, make(chan *rpc.Call, 1))
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
