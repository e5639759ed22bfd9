package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// forward logs one plugin JSON line through l the way go-plugin does
// (client.go logStderr with log_entry.go parseJSON): the line is decoded
// into a map, its fields are passed in map iteration order, and the
// plugin's timestamp is appended last.
func forward(t *testing.T, l hclog.Logger, line string) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatal(err)
	}
	msg, _ := raw["@message"].(string)
	ts, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", raw["@timestamp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	delete(raw, "@message")
	delete(raw, "@level")
	delete(raw, "@timestamp")
	var args []any
	for k, v := range raw {
		args = append(args, k, v)
	}
	args = append(args, "timestamp", ts.Format(hclog.TimeFormat))
	l.Named("kinesis-handler-example").Info(msg, args...)
}

// pluginLine is what a plugin's sdk.Logger (hclog, JSON) writes.
func pluginLine(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	pl := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Trace})
	pl.Info("handled batch", "shard", "shardId-000", "records", 5, "stream", "orders", "attempt", 1, "bytes", 500, "zone", "eu")
	return strings.TrimSpace(buf.String())
}

func stripTime(line string) string {
	// hclog's text lines start with the host's timestamp.
	if i := strings.Index(line, " ["); i >= 0 {
		return line[i:]
	}
	return line
}

func TestPluginFieldOrderStable(t *testing.T) {
	line := pluginLine(t)
	var first string
	for i := range 30 {
		var out bytes.Buffer
		l := newLogger("info", "text", &out)
		forward(t, l, line)
		got := stripTime(strings.TrimSpace(out.String()))
		if i == 0 {
			first = got
			want := "attempt=1 bytes=500 records=5 shard=shardId-000 stream=orders zone=eu timestamp="
			if !strings.Contains(got, want) {
				t.Fatalf("forwarded line %q lacks the sorted fields %q", got, want)
			}
			continue
		}
		if got != first {
			t.Fatalf("field order changed between two forwards of the same line:\n%s\n%s", first, got)
		}
	}
}

func TestHostFieldOrderKept(t *testing.T) {
	var out bytes.Buffer
	l := newLogger("info", "text", &out).Named("stream")
	l.Info("shard started", "stream", "orders", "shard", "shardId-000", "from", "TRIM_HORIZON")
	l.With("worker", "w1").Warn("lease lost", "shard", "s", "error", "conflict")
	got := out.String()
	for _, want := range []string{
		"shard started: stream=orders shard=shardId-000 from=TRIM_HORIZON",
		"lease lost: worker=w1 shard=s error=conflict",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("host line reordered; want %q in:\n%s", want, got)
		}
	}
	// A host line that happens to end in a non-time "timestamp" is left alone.
	out.Reset()
	l.Info("x", "b", 1, "a", 2, "timestamp", "yesterday")
	if !strings.Contains(out.String(), "b=1 a=2 timestamp=yesterday") {
		t.Errorf("reordered a host line: %s", out.String())
	}
}

func TestLogFormatJSON(t *testing.T) {
	var out bytes.Buffer
	l := newLogger("debug", "json", &out)
	l.Named("stream").Info("shard started", "stream", "orders", "shard", "s0")
	forward(t, l, pluginLine(t))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", out.String())
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if m["@level"] != "info" || m["@message"] == nil || m["@module"] == nil || m["@timestamp"] == nil {
			t.Errorf("JSON line lacks hclog's fields: %v", m)
		}
	}
	var plugin map[string]any
	_ = json.Unmarshal([]byte(lines[1]), &plugin)
	if plugin["@module"] != "kinesis-host.kinesis-handler-example" || plugin["stream"] != "orders" || plugin["records"] != float64(5) {
		t.Errorf("forwarded plugin line: %v", plugin)
	}
	// The level filter applies to forwarded lines as to the host's.
	out.Reset()
	newLogger("warn", "json", &out).Info("hidden")
	if out.Len() != 0 {
		t.Errorf("info logged at level warn: %s", out.String())
	}
}

func TestSortForwardedLeavesOtherCallsAlone(t *testing.T) {
	ts := time.Now().Format(hclog.TimeFormat)
	for _, args := range [][]any{
		nil,
		{"timestamp", ts},                   // nothing to sort
		{"b", 1, "a"},                       // odd
		{"b", 1, "a", 2},                    // no timestamp
		{"b", 1, "a", 2, "timestamp", 3},    // not a string time
		{"b", 1, 7, 2, "timestamp", ts},     // a non-string key
		{"b", 1, "a", 2, "timestamp", "no"}, // not a time
	} {
		got := sortForwarded(args)
		if len(got) != len(args) || (len(args) > 0 && &got[0] != &args[0]) {
			t.Errorf("sortForwarded(%v) = %v, want the same slice", args, got)
		}
	}
	args := []any{"b", 1, "a", 2, "timestamp", ts}
	got := sortForwarded(args)
	if got[0] != "a" || got[2] != "b" || got[4] != "timestamp" || args[0] != "b" {
		t.Errorf("sortForwarded = %v (input now %v)", got, args)
	}
}
