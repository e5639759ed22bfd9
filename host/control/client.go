package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"time"
)

// Client talks to the host listening at a control socket. It holds no
// connection between calls (each call is one connection), so there is
// nothing to close, and it is safe for concurrent use. A Client is a Host:
// every method has the Host method's meaning.
//
// Every error a method returns is an *Error testable with errors.Is
// against the sentinels (ErrNotRunning when nothing listens any more), or
// wraps ctx's error when ctx ended first.
type Client struct {
	path string
	pid  int
}

var _ Host = (*Client)(nil)

// Dial checks that a kinesis-host answers at the control socket path (see
// SocketPath) and returns a Client for it. When none does, the error is
// ErrNotRunning saying so: "no kinesis-host is running with data directory
// X (no socket at P)".
func Dial(ctx context.Context, path string) (*Client, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	c := &Client{path: path}
	var resp Response
	if err := c.call(ctx, Request{Op: OpPing}, &resp); err != nil {
		return nil, err
	}
	if resp.Hello == nil {
		return nil, c.protocolError("no hello in the answer to a ping")
	}
	c.pid = resp.Hello.PID
	return c, nil
}

// Path returns the socket's absolute path.
func (c *Client) Path() string { return c.path }

// PID returns the host's process id, as it answered Dial.
func (c *Client) PID() int { return c.pid }

// Status asks the host for its Status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var resp Response
	if err := c.call(ctx, Request{Op: OpStatus}, &resp); err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, c.protocolError("no status in the answer")
	}
	return *resp.Status, nil
}

// Pause pauses one shard of stream, or all of it for shard "".
func (c *Client) Pause(ctx context.Context, stream, shard string) error {
	return c.call(ctx, Request{Op: OpPause, Stream: stream, Shard: shard}, &Response{})
}

// Resume resumes one shard of stream, or all of it for shard "".
func (c *Client) Resume(ctx context.Context, stream, shard string) error {
	return c.call(ctx, Request{Op: OpResume, Stream: stream, Shard: shard}, &Response{})
}

// Rewind asks the host to rewind (or, with r.DryRun, to say what a rewind
// would change).
func (c *Client) Rewind(ctx context.Context, r RewindRequest) (RewindResult, error) {
	var resp Response
	if err := c.call(ctx, Request{Op: OpRewind, Rewind: &r}, &resp); err != nil {
		return RewindResult{}, err
	}
	if resp.Rewind == nil {
		return RewindResult{}, c.protocolError("no rewind result in the answer")
	}
	return *resp.Rewind, nil
}

// call sends req and decodes the answer into resp; an answered error is
// returned as it is (an *Error).
func (c *Client) call(ctx context.Context, req Request, resp *Response) error {
	req.Version = ProtocolVersion
	if err := roundTrip(ctx, c.path, req, resp); err != nil {
		return err
	}
	if resp.Version != ProtocolVersion {
		return &Error{Code: CodeProtocol, Message: fmt.Sprintf("the host at %s speaks control protocol %d and this client %d: use the kinesis-host binary of the host's release", c.path, resp.Version, ProtocolVersion)}
	}
	if resp.Error != nil {
		if resp.Error.Message == "" {
			resp.Error.Message = string(resp.Error.Code)
		}
		return resp.Error
	}
	return nil
}

func (c *Client) protocolError(what string) error {
	return &Error{Code: CodeProtocol, Message: fmt.Sprintf("the control socket %s answered without what was asked (%s): is the host of another release? use the kinesis-host binary of the host's release", c.path, what)}
}

// roundTrip is one connection: req out, one Response in.
func roundTrip(ctx context.Context, path string, req Request, resp *Response) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("the control socket path %s is %d bytes, and a unix socket's may have at most %d: no host can listen there; run the host from a config in a folder with a shorter path", path, len(path), maxSocketPath)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return dialError(ctx, path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A deadline in the past makes the pending read or write return: the
	// server sees the connection close and cancels the host's work.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// A write error is not the end: a peer that stops reading early may
	// still have answered.
	werr := json.NewEncoder(conn).Encode(req)
	if err := json.NewDecoder(io.LimitReader(conn, MaxResponseBytes)).Decode(resp); err != nil {
		if werr != nil && errors.Is(err, io.EOF) {
			err = werr
		}
		return exchangeError(ctx, path, err)
	}
	return nil
}

// dialError explains why the socket could not be reached.
func dialError(ctx context.Context, path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connecting to the control socket %s: %w", path, ctx.Err())
	case errors.Is(err, syscall.ENOENT):
		return &Error{Code: CodeNotRunning, Message: fmt.Sprintf("no kinesis-host is running with data directory %s (no socket at %s)", dir, path)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Code: CodeNotRunning, Message: fmt.Sprintf("no kinesis-host is running with data directory %s (the socket at %s is left from a host that stopped without removing it; the next host removes it)", dir, path)}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("cannot connect to the control socket %s: %v: run this command as the user the host runs as", path, err)
	}
	return fmt.Errorf("cannot connect to the control socket %s: %v", path, err)
}

// exchangeError explains a failed request or answer.
func exchangeError(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the host at %s did not answer in time: %w", path, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the host at %s did not answer in time: %w", path, context.DeadlineExceeded)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &Error{Code: CodeNotRunning, Message: fmt.Sprintf("the kinesis-host at %s closed the connection without answering: it is probably stopping", path)}
	}
	return &Error{Code: CodeProtocol, Message: fmt.Sprintf("what answered at %s is not a kinesis-host control socket (%v)", path, err)}
}
