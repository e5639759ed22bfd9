package control

import (
	"context"
	"errors"
)

// Code names a kind of error on the wire. A client turns it back into an
// *Error whose Is matches the sentinel of the same code, so callers write
// errors.Is(err, control.ErrNoSuchStream) on either side of the socket.
type Code string

// The error codes of protocol version 1. A client receiving a code it does
// not know (from a newer host) keeps it in Error.Code; the message still
// says what went wrong.
const (
	// CodeNoSuchStream: the request names a stream the host does not run.
	CodeNoSuchStream Code = "no_such_stream"
	// CodeNoSuchShard: the stream has no shard with that id (or the host
	// does not know it yet).
	CodeNoSuchShard Code = "no_such_shard"
	// CodeNotRunning: no host answers at the socket, or the host is not
	// running streams (still starting, or stopping).
	CodeNotRunning Code = "not_running"
	// CodeBadRequest: the request is malformed or its values are invalid;
	// the message says which field and how to fix it.
	CodeBadRequest Code = "bad_request"
	// CodeTimeout: the host did not finish the request in time (the
	// client's deadline or the server's own cap on one request).
	CodeTimeout Code = "timeout"
	// CodeProtocol: the two sides do not speak the same protocol version,
	// or what came back is not a kinesis-host control answer.
	CodeProtocol Code = "protocol"
	// CodeFailed: the host tried and could not (a checkpoint store write
	// failed, say); the message says why.
	CodeFailed Code = "failed"
)

// Error is the error type on both sides of the socket: what crosses the
// wire ({"code": ..., "message": ...}) and what the Client returns. Its Is
// matches the sentinel of its code, so errors.Is(err, ErrNoSuchShard)
// holds for an error the host returned as fmt.Errorf("%w: ...",
// ErrNoSuchShard) and the client decoded. An Error with CodeTimeout also
// matches context.DeadlineExceeded.
type Error struct {
	// Code is the kind of error; see the Code constants.
	Code Code `json:"code"`
	// Message is the full text, meant for a person: what went wrong and
	// how to fix it.
	Message string `json:"message"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error of the same code (every sentinel
// of this package is one), or context.DeadlineExceeded for CodeTimeout.
func (e *Error) Is(target error) bool {
	if t, ok := target.(*Error); ok {
		return t.Code == e.Code
	}
	return e.Code == CodeTimeout && target == context.DeadlineExceeded
}

// The sentinels, one per code. A Host returns them wrapped with what the
// operator needs to know, e.g.
//
//	fmt.Errorf("%w: %q; this host runs streams orders, audit", control.ErrNoSuchStream, name)
//
// and the client's caller tests them with errors.Is.
var (
	// ErrNoSuchStream: the stream is not one the host runs. The message
	// should list the streams it does run.
	ErrNoSuchStream = &Error{Code: CodeNoSuchStream, Message: "no such stream"}
	// ErrNoSuchShard: the stream has no such shard on this host.
	ErrNoSuchShard = &Error{Code: CodeNoSuchShard, Message: "no such shard"}
	// ErrNotRunning: no kinesis-host runs with this data directory (Dial
	// and every Client method return it when nothing listens at the
	// socket), or the host is starting or stopping.
	ErrNotRunning = &Error{Code: CodeNotRunning, Message: "kinesis-host is not running"}
	// ErrBadRequest: the request is malformed or has invalid values; also
	// returned by ParseTarget.
	ErrBadRequest = &Error{Code: CodeBadRequest, Message: "bad request"}
	// ErrProtocol: the peer does not speak this control protocol version
	// (a host and a CLI of different releases), or is not a kinesis-host.
	ErrProtocol = &Error{Code: CodeProtocol, Message: "control protocol mismatch"}
	// ErrFailed: the host could not do what was asked; the message says
	// why.
	ErrFailed = &Error{Code: CodeFailed, Message: "the host could not do it"}
)

// errorf builds an *Error of code c.
func errorf(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }

// wireError turns what a Host returned into its wire form. An *Error in
// the chain gives the code; the message is always the whole text. ctx is
// the request's context: a cancellation caused by the server closing
// means the host is stopping.
func wireError(ctx context.Context, closing bool, err error) *Error {
	msg := err.Error()
	var e *Error
	switch {
	case errors.As(err, &e):
		return &Error{Code: e.Code, Message: msg}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: msg + ": the host did not finish in time; try again, with a narrower request (-shard) if it is large"}
	case errors.Is(err, context.Canceled) && closing:
		return &Error{Code: CodeNotRunning, Message: "kinesis-host is stopping: " + msg}
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return &Error{Code: CodeTimeout, Message: msg}
	}
	return &Error{Code: CodeFailed, Message: msg}
}
