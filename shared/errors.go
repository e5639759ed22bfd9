package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"strings"
)

// Code classifies an error that crosses the plugin boundary.
type Code string

// The error codes. New codes may be added; an unknown code is treated like
// CodeInternal.
const (
	// CodeInvalidConfig: the plugin rejected its config {} block. Field names
	// the offending attribute when known, so the host can point at its line.
	CodeInvalidConfig Code = "invalid_config"
	// CodeHandler: the handler returned ScanStatus.Error for a record. The
	// scan stops and the record is not checkpointed.
	CodeHandler Code = "handler"
	// CodeBatchFailed: the handler failed a batch without saying which
	// record is at fault (a batch Handler panicked). The host splits the
	// batch and delivers its halves on their own until the failing record
	// is alone, so the failure policy (skip, dead_letter) applies to that
	// record and never to a good one. A host that does not know the code
	// treats it as a failure of the batch's first record.
	CodeBatchFailed Code = "batch_failed"
	// CodeUnavailable: a backend (database, cache) could not be reached or
	// failed transiently. Always retryable.
	CodeUnavailable Code = "unavailable"
	// CodeConflict: a fenced checkpoint write was rejected because another
	// owner holds the shard's lease.
	CodeConflict Code = "conflict"
	// CodeCorrupt: the record could not be decoded (a corrupt KPL
	// aggregate); used in dead letters.
	CodeCorrupt Code = "corrupt_record"
	// CodeUnimplemented: the plugin does not implement the call.
	CodeUnimplemented Code = "unimplemented"
	// CodeBadRequest: the plugin could not read the request (a packed
	// batch that does not decode: a bug on one side of the wire, never the
	// fault of a record). It never reaches the host as a handler's answer:
	// the plugin side of the RPC turns a response with this code into a
	// failed call, so the host treats the batch as not delivered (it
	// restarts the plugin and delivers the batch again) and applies no
	// record's failure policy.
	CodeBadRequest Code = "bad_request"
	// CodeInternal: anything else.
	CodeInternal Code = "internal"
)

// Error is an error with a code, as it travels over the wire. It is the
// same type as sdk.Error. Compare with errors.Is against the sentinels in
// package sdk (sdk.ErrInvalidConfig, ...), which match on Code alone.
type Error struct {
	Code      Code
	Message   string
	Field     string // for CodeInvalidConfig: the config attribute at fault
	Retryable bool
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	msg := e.Message
	if e.Field != "" {
		msg = fmt.Sprintf("%s: %s", e.Field, msg)
	}
	if msg == "" {
		return string(e.Code)
	}
	return msg
}

// Is reports whether target is an *Error sentinel with the same code. A
// sentinel is an *Error whose Message is empty.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || e == nil || t == nil {
		return false
	}
	return t.Message == "" && t.Field == "" && t.Code == e.Code
}

// ToWire converts any error into an *Error for the wire. nil stays nil.
func ToWire(err error) *Error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		cp := *we
		if cp.Message == "" {
			cp.Message = err.Error()
		}
		return &cp
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Code: CodeUnavailable, Message: err.Error(), Retryable: true}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// FromWire returns e as an error, or nil when e is nil. It exists so callers
// never return a typed nil pointer inside a non-nil error interface.
func FromWire(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// ErrPluginGone is returned by the client stubs when the plugin process went
// away (it crashed, was killed, or its connection broke). Whatever the call
// was doing must be treated as not done. Test with errors.Is.
var ErrPluginGone = errors.New("plugin process exited or its connection broke")

// transportError maps net/rpc's transport failures to ErrPluginGone.
func transportError(method string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, rpc.ErrShutdown) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "session shutdown") {
		return fmt.Errorf("%s: %w (%v)", method, ErrPluginGone, err)
	}
	return fmt.Errorf("%s: %w", method, err)
}
