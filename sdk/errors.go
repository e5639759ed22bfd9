package sdk

import (
	"fmt"

	"github.com/kinesis-host/kinesis-host/shared"
)

// Error is an error with a code that survives the trip between plugin and
// host. Use errors.Is with the sentinels below to test the code.
type Error = shared.Error

// Code classifies an Error.
type Code = shared.Code

// Sentinels for errors.Is. They match any *Error with the same code.
var (
	// ErrInvalidConfig: the plugin's config {} block is wrong. Create one
	// with ConfigError so the host can point at the attribute's line.
	ErrInvalidConfig = &Error{Code: shared.CodeInvalidConfig}
	// ErrHandler: a handler returned ScanStatus.Error.
	ErrHandler = &Error{Code: shared.CodeHandler}
	// ErrBatchFailed: a batch Handler failed the batch without saying which
	// record is at fault (it panicked outside EachRecord); the host splits
	// the batch until the failing record is alone.
	ErrBatchFailed = &Error{Code: shared.CodeBatchFailed}
	// ErrUnavailable: a backend is unreachable or failed transiently; the
	// host retries with backoff. Create one with Unavailable.
	ErrUnavailable = &Error{Code: shared.CodeUnavailable}
	// ErrConflict: a fenced checkpoint write lost to another owner.
	ErrConflict = &Error{Code: shared.CodeConflict}
	// ErrPluginGone: (host side) the plugin process went away.
	ErrPluginGone = shared.ErrPluginGone
)

// ConfigError reports a problem with the config attribute named field. The
// message should say how to fix it, for example
//
//	sdk.ConfigError("address", "must be host:port, got %q", v)
func ConfigError(field, format string, args ...any) error {
	return &Error{Code: shared.CodeInvalidConfig, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps err as a retryable backend failure. Stores return it
// when the database cannot be reached, so the host retries instead of
// treating the failure as "no checkpoint".
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: shared.CodeUnavailable, Message: err.Error(), Retryable: true}
}

// UnavailableAt is Unavailable naming the config attribute to check (the
// backend's address), so `kinesis-host validate` points at its line while
// `run` keeps retrying. Stores return it from Configure when the backend
// cannot be reached.
func UnavailableAt(field string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: shared.CodeUnavailable, Field: field, Message: err.Error(), Retryable: true}
}

// Conflict is the error of a lease write whose condition failed (see
// LeaseStore): errors.Is(err, ErrConflict) holds. The message should name
// what is stored, for example
//
//	sdk.Conflict("shard %s is held by %q at counter %d", shard, owner, n)
func Conflict(format string, args ...any) error {
	return &Error{Code: shared.CodeConflict, Message: fmt.Sprintf(format, args...)}
}
