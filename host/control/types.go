package control

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Host is what the control socket drives; package host implements it. Each
// method is called on its own goroutine, concurrently with the others and
// with itself, with a ctx that ends when the client gives up, when the
// server's cap on one request passes, or when the server is closed: a
// method that blocks (a checkpoint store call) must return when ctx ends.
//
// Errors: wrap the sentinels of this package (ErrNoSuchStream,
// ErrNoSuchShard, ErrNotRunning) with a message that says
// how to fix the request; any other error reaches the client as ErrFailed
// with its text.
type Host interface {
	// Status describes the host, its plugins and every stream and shard it
	// knows, from state it keeps (no Kinesis call needed).
	Status(ctx context.Context) (Status, error)
	// Pause stops fetching and delivering records of one shard of stream,
	// or of every shard (also shards found later) when shard is "". The
	// position is kept, and with leases the shards are not given up.
	// Pausing what is paused is not an error.
	Pause(ctx context.Context, stream, shard string) error
	// Resume undoes Pause: for shard "" the whole stream and every shard
	// paused on its own. Resuming what is not paused is not an error.
	Resume(ctx context.Context, stream, shard string) error
	// Rewind moves the checkpoints of r.Stream (one shard, or every shard
	// for r.Shard "") to r.To, backwards if need be, one conditional write
	// per shard, and restarts the shards it moved from there. With
	// r.DryRun it changes nothing and says what it would change.
	Rewind(ctx context.Context, r RewindRequest) (RewindResult, error)
}

// Status is the answer to `kinesis-host status`: the host, its plugins and
// every stream it runs.
type Status struct {
	// Version is the host's release (`kinesis-host version`).
	Version string `json:"version"`
	// PID is the host process's id.
	PID int `json:"pid"`
	// WorkerID is the host's lease worker id; "" when no stream uses a
	// store with leases.
	WorkerID string `json:"worker_id,omitempty"`
	// UptimeSeconds is how long the host has been running.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Plugins has one entry per handler and checkpoint block in use.
	Plugins []PluginStatus `json:"plugins"`
	// Streams has one entry per stream block, in config order.
	Streams []StreamStatus `json:"streams"`
}

// PluginStatus is the state of one plugin process.
type PluginStatus struct {
	// Name is the handler or checkpoint block's label.
	Name string `json:"name"`
	// Kind is "handler" or "checkpoint".
	Kind string `json:"kind"`
	// PID of the running process; 0 while none runs.
	PID int `json:"pid"`
	// Up is true while the process runs and is configured.
	Up bool `json:"up"`
	// Restarts counts restarts since the host started (crashes, hangs,
	// swaps, reloads).
	Restarts int `json:"restarts"`
}

// StreamStatus is the state of one stream block.
type StreamStatus struct {
	// Name is the stream block's label: the Kinesis stream name.
	Name string `json:"name"`
	// Handler is the label of the stream's handler block.
	Handler string `json:"handler"`
	// Checkpoint is the label of the stream's checkpoint block.
	Checkpoint string `json:"checkpoint"`
	// Paused is true when the whole stream is paused (shards found later
	// start paused too).
	Paused bool `json:"paused"`
	// Shards are every shard the host knows of the stream, by id.
	Shards []ShardStatus `json:"shards"`
}

// ShardState is what a shard is doing, as `status` shows it.
type ShardState string

// The shard states.
const (
	// StateReading: records are being fetched and delivered; the shard is
	// behind the tip.
	StateReading ShardState = "reading"
	// StateCaughtUp: the reader is at the tip of the shard (lag 0).
	StateCaughtUp ShardState = "caught_up"
	// StateWaitingForParents: a child shard waiting for its parents to be
	// read to their end.
	StateWaitingForParents ShardState = "waiting_for_parents"
	// StateEnded: the shard is closed and was read to its end (SHARD_END).
	StateEnded ShardState = "ended"
	// StatePaused: paused by an operator; the position is kept.
	StatePaused ShardState = "paused"
	// StateFailing: deliveries or reads keep failing (retried with
	// backoff, or a plugin restart budget spent); ShardStatus.Error says
	// why.
	StateFailing ShardState = "failing"
	// StateNotOwned: another host holds the shard's lease.
	StateNotOwned ShardState = "not_owned"
)

// LagUnknown is ShardStatus.LagSeconds when the host has no lag for the
// shard (not read by this host yet, ended, or not owned).
const LagUnknown = -1.0

// ShardStatus is the state of one shard.
type ShardStatus struct {
	// ID is the shard id.
	ID string `json:"id"`
	// State is what the shard is doing.
	State ShardState `json:"state"`
	// Checkpoint is the shard's last stored checkpoint.
	Checkpoint Checkpoint `json:"checkpoint"`
	// LagSeconds is how far the reader is behind the tip of the shard
	// (MillisBehindLatest of the last read, in seconds); 0 when caught
	// up, LagUnknown when not known.
	LagSeconds float64 `json:"lag_seconds"`
	// LastBatch is when the handler last answered a batch of this shard;
	// zero (omitted) when never since the host started.
	LastBatch time.Time `json:"last_batch,omitzero"`
	// RecordsDelivered counts records delivered to the handler since the
	// host started (a record delivered again counts again).
	RecordsDelivered int64 `json:"records_delivered"`
	// PluginPID is the pid of the handler process serving the shard; 0
	// while none runs.
	PluginPID int `json:"plugin_pid"`
	// PluginRestarts counts restarts of that handler process.
	PluginRestarts int `json:"plugin_restarts"`
	// Owner is the lease owner (a worker id); "" without leases.
	Owner string `json:"owner,omitempty"`
	// Error is the last error of a failing shard; "" otherwise.
	Error string `json:"error,omitempty"`
}

// Checkpoint is a stored position: a sequence number (and, inside a KPL
// aggregate, a sub-sequence number), SHARD_END, or none (the zero value).
type Checkpoint struct {
	// SequenceNumber of the last record checkpointed; "" for none or
	// SHARD_END.
	SequenceNumber string `json:"sequence_number,omitempty"`
	// SubSequenceNumber of the last user record inside a KPL aggregate.
	SubSequenceNumber int64 `json:"sub_sequence_number,omitempty"`
	// ShardEnd is true once the shard was read to its end.
	ShardEnd bool `json:"shard_end,omitempty"`
}

// IsZero reports whether c is "no checkpoint".
func (c Checkpoint) IsZero() bool { return c == Checkpoint{} }

// String is "none", "SHARD_END", the sequence number, or
// "<sequence>/<sub-sequence>" inside a KPL aggregate.
func (c Checkpoint) String() string {
	switch {
	case c.ShardEnd:
		return "SHARD_END"
	case c.SequenceNumber == "":
		return "none"
	case c.SubSequenceNumber > 0:
		return c.SequenceNumber + "/" + strconv.FormatInt(c.SubSequenceNumber, 10)
	}
	return c.SequenceNumber
}

// TargetKind says what a rewind Target is.
type TargetKind string

// The rewind target kinds.
const (
	// TargetTimestamp: the first record that arrived at or after
	// Target.Timestamp (AT_TIMESTAMP).
	TargetTimestamp TargetKind = "timestamp"
	// TargetTrimHorizon: the oldest record the stream keeps.
	TargetTrimHorizon TargetKind = "trim_horizon"
	// TargetLatest: only records that arrive from now on (skips what is
	// unread).
	TargetLatest TargetKind = "latest"
	// TargetSequence: the record with Target.SequenceNumber, which is
	// delivered again (AT_SEQUENCE_NUMBER).
	TargetSequence TargetKind = "sequence"
)

// Target is where a rewind moves shards to. Build one with ParseTarget.
type Target struct {
	// Kind says which of the other fields is set.
	Kind TargetKind `json:"kind"`
	// Timestamp for TargetTimestamp.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// SequenceNumber for TargetSequence: a Kinesis sequence number of the
	// shard (decimal digits).
	SequenceNumber string `json:"sequence_number,omitempty"`
}

// sequenceRE is Kinesis's pattern for a sequence number.
var sequenceRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)

// targetHelp ends every ParseTarget error.
const targetHelp = `give an RFC 3339 time such as 2026-08-21T10:00:00Z (or with an offset: 2026-08-21T12:00:00+02:00), TRIM_HORIZON (the oldest record kept), LATEST (only new records), or a sequence number of the shard (digits, as in "status -json")`

// ParseTarget parses a rewind target as the CLI's -to takes it: an RFC
// 3339 time, TRIM_HORIZON, LATEST (either in any case) or a sequence
// number. A bad value is an ErrBadRequest saying what to give instead.
func ParseTarget(s string) (Target, error) {
	v := strings.TrimSpace(s)
	switch {
	case v == "":
		return Target{}, badRequest("no rewind target: %s", targetHelp)
	case strings.EqualFold(v, "TRIM_HORIZON"):
		return Target{Kind: TargetTrimHorizon}, nil
	case strings.EqualFold(v, "LATEST"):
		return Target{Kind: TargetLatest}, nil
	case sequenceRE.MatchString(v):
		return Target{Kind: TargetSequence, SequenceNumber: v}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return Target{Kind: TargetTimestamp, Timestamp: t}, nil
	}
	hint := ""
	switch {
	case isDigits(v):
		hint = " (too long for a sequence number, or a leading 0)"
	case len(v) == len("2006-01-02") && isDate(v):
		hint = fmt.Sprintf(" (a date without a time: write %sT00:00:00Z for midnight UTC)", v)
	case isDate(v) && !hasZone(v):
		hint = fmt.Sprintf(" (a time without a zone: add Z for UTC, %sZ, or an offset such as +02:00)", strings.Replace(v, " ", "T", 1))
	case isDate(v) && strings.Contains(v, " "):
		hint = " (separate the date and the time with T, not a space)"
	}
	return Target{}, badRequest("rewind target %q is not understood%s: %s", s, hint, targetHelp)
}

// String is the target as ParseTarget reads it (a timestamp in RFC 3339
// with nanoseconds when it has them).
func (t Target) String() string {
	switch t.Kind {
	case TargetTimestamp:
		return t.Timestamp.Format(time.RFC3339Nano)
	case TargetTrimHorizon:
		return "TRIM_HORIZON"
	case TargetLatest:
		return "LATEST"
	case TargetSequence:
		return t.SequenceNumber
	}
	return string(t.Kind)
}

// Validate checks a Target that did not come from ParseTarget (a decoded
// request): an ErrBadRequest saying what is wrong, or nil.
func (t Target) Validate() error {
	switch t.Kind {
	case TargetTimestamp:
		if t.Timestamp.IsZero() {
			return badRequest("rewind target kind %q needs a timestamp", t.Kind)
		}
	case TargetSequence:
		if !sequenceRE.MatchString(t.SequenceNumber) {
			return badRequest("rewind target sequence number %q is not a Kinesis sequence number (decimal digits, no leading 0)", t.SequenceNumber)
		}
	case TargetTrimHorizon, TargetLatest:
	default:
		return badRequest("rewind target kind %q is not one of timestamp, trim_horizon, latest, sequence", t.Kind)
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isDate reports whether s starts like an RFC 3339 date (YYYY-MM-DD).
func isDate(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	return isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:10])
}

// hasZone reports whether the time after the date ends with Z or an
// offset.
func hasZone(s string) bool {
	rest := s[10:]
	return strings.HasSuffix(strings.ToUpper(rest), "Z") || strings.ContainsAny(rest, "+-")
}

// RewindRequest asks to move the checkpoints of a stream (one shard, or
// every shard) to a target.
type RewindRequest struct {
	// Stream is the stream block's label. Required.
	Stream string `json:"stream"`
	// Shard is one shard id; "" for every shard of the stream.
	Shard string `json:"shard,omitempty"`
	// To is where the shards restart.
	To Target `json:"to"`
	// DryRun changes nothing: the result says what would change.
	DryRun bool `json:"dry_run"`
}

// RewindResult says, per shard, what a rewind changed (or, for a dry run,
// would change).
type RewindResult struct {
	// Stream is the request's stream.
	Stream string `json:"stream"`
	// DryRun echoes the request: nothing was changed.
	DryRun bool `json:"dry_run"`
	// Shards has one entry per shard considered, by id.
	Shards []ShardRewind `json:"shards"`
}

// ShardRewind is what a rewind does to one shard.
type ShardRewind struct {
	// Shard is the shard id.
	Shard string `json:"shard"`
	// From is the checkpoint before the rewind.
	From Checkpoint `json:"from"`
	// To describes the new position, e.g. "AT_TIMESTAMP
	// 2026-08-21T10:00:00Z", "TRIM_HORIZON", "AT_SEQUENCE_NUMBER 4959...".
	To string `json:"to"`
	// Moves is true when the shard's position changes (in a dry run: would
	// change); false when it is left as it is (Note says why).
	Moves bool `json:"moves"`
	// Applied is true when the checkpoint was written (always false for a
	// dry run).
	Applied bool `json:"applied"`
	// Note says why a shard is left as it is, or anything the operator
	// should know ("the shard ended before that time: unchanged").
	Note string `json:"note,omitempty"`
}

// badRequest is an ErrBadRequest whose message is only the text given.
func badRequest(format string, args ...any) error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}
