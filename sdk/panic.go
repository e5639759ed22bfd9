package sdk

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/kinesis-host/kinesis-host/shared"
)

// callRecord runs fn on one record. A panic in fn becomes that record's
// error (code handler), so the records before it stay acknowledged and the
// host's failure policy applies to this record alone.
func callRecord(ctx context.Context, r *Record, fn func(ctx context.Context, r *Record) ScanStatus) (st ScanStatus) {
	defer func() {
		if v := recover(); v != nil {
			st = ScanStatus{Error: panicError(fmt.Sprintf("handler panicked on record %s of shard %s", r.SequenceNumber, r.ShardID), v)}
		}
	}()
	return fn(ctx, r)
}

// panicError builds the wire error for a recovered panic: the panic value
// and where it happened (the first frame below the panic), and logs the
// whole stack to the plugin's log, which the host shows under the plugin's
// name. It must be called from the deferred function that recovered.
func panicError(what string, v any) *Error {
	site := panicSite()
	msg := fmt.Sprintf("%s: %v", what, v)
	if site != "" {
		msg += " (at " + site + ")"
	}
	Logger().Error(what, "panic", fmt.Sprint(v), "at", site, "stack", string(debug.Stack()))
	return &Error{Code: shared.CodeHandler, Message: msg}
}

// panicSite returns "dir/file.go:line (function)" of the frame that
// panicked: the first frame after runtime.gopanic that is not in the
// runtime (a nil dereference passes through runtime.sigpanic and
// runtime.panicmem first). Empty when the stack cannot be read.
func panicSite() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			file := filepath.Join(filepath.Base(filepath.Dir(f.File)), filepath.Base(f.File))
			return fmt.Sprintf("%s:%d in %s", file, f.Line, f.Function)
		}
		if !more {
			return ""
		}
	}
}
