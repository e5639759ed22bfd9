package main

import (
	"io"
	stdlog "log"
	"sort"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/host"
)

// newLogger returns the host logger, writing to w at level in format
// (host.LogFormatText or host.LogFormatJSON; anything else is text).
// Plugins' lines are forwarded through it by go-plugin, so they come out
// in the same format. Libraries that write to the standard log package
// (yamux inside go-plugin reports closed plugin connections there) are
// routed into it at debug level: they describe plugin stops the host
// already reports.
func newLogger(level, format string, w io.Writer) hclog.Logger {
	l := stableFields{hclog.New(&hclog.LoggerOptions{
		Name:       "kinesis-host",
		Level:      hclog.LevelFromString(level),
		Output:     w,
		JSONFormat: format == host.LogFormatJSON,
	})}
	stdlog.SetOutput(l.Named("lib").StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}))
	stdlog.SetFlags(0)
	return l
}

// stableFields gives the lines forwarded from plugins a stable field
// order. A plugin logs JSON lines; go-plugin decodes each into a map and
// logs its fields through the host logger in map iteration order, which
// Go randomizes, so in the text format the same line's fields came out in
// a different order every time. stableFields recognizes those calls (their
// last field is "timestamp", the plugin's own time, which go-plugin
// appends) and sorts the other fields by key: the order the plugin's JSON
// line had them in (encoding/json sorts map keys). The host's own lines
// keep the order they were written in.
type stableFields struct{ hclog.Logger }

// pluginTimestampKey is the field go-plugin appends to a forwarded line.
const pluginTimestampKey = "timestamp"

// sortForwarded returns args with the fields before a trailing
// go-plugin "timestamp" field sorted by key, or args unchanged when they
// are not a forwarded plugin line.
func sortForwarded(args []any) []any {
	n := len(args)
	if n < 4 || n%2 != 0 {
		return args
	}
	if k, ok := args[n-2].(string); !ok || k != pluginTimestampKey {
		return args
	}
	if ts, ok := args[n-1].(string); !ok {
		return args
	} else if _, err := time.Parse(hclog.TimeFormat, ts); err != nil {
		return args
	}
	type kv struct {
		k string
		v any
	}
	pairs := make([]kv, 0, n/2-1)
	for i := 0; i < n-2; i += 2 {
		k, ok := args[i].(string)
		if !ok {
			return args
		}
		pairs = append(pairs, kv{k, args[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	out := make([]any, 0, n)
	for _, p := range pairs {
		out = append(out, p.k, p.v)
	}
	return append(out, args[n-2], args[n-1])
}

func (l stableFields) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, sortForwarded(args)...)
}
func (l stableFields) Trace(msg string, args ...any) { l.Logger.Trace(msg, sortForwarded(args)...) }
func (l stableFields) Debug(msg string, args ...any) { l.Logger.Debug(msg, sortForwarded(args)...) }
func (l stableFields) Info(msg string, args ...any)  { l.Logger.Info(msg, sortForwarded(args)...) }
func (l stableFields) Warn(msg string, args ...any)  { l.Logger.Warn(msg, sortForwarded(args)...) }
func (l stableFields) Error(msg string, args ...any) { l.Logger.Error(msg, sortForwarded(args)...) }

// With, Named and ResetNamed keep the wrapper on derived loggers (go-plugin
// forwards through Named loggers).
func (l stableFields) With(args ...any) hclog.Logger { return stableFields{l.Logger.With(args...)} }
func (l stableFields) Named(name string) hclog.Logger {
	return stableFields{l.Logger.Named(name)}
}
func (l stableFields) ResetNamed(name string) hclog.Logger {
	return stableFields{l.Logger.ResetNamed(name)}
}
