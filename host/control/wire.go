package control

import (
	"path/filepath"
	"time"
)

// ProtocolVersion is the control protocol this package speaks. It changes
// when a request or response changes incompatibly; fields added to a
// Response do not change it (clients ignore fields they do not know), a
// field added to a Request does (hosts refuse fields they do not know, so
// an option an old host would ignore is never dropped silently).
const ProtocolVersion = 1

// SocketName is the file name of the control socket in the data directory.
const SocketName = "kinesis-host.sock"

// DataDir is the data directory of a host whose config file is in
// configDir: "<configDir>/data", the folder where the implicit file
// checkpoint store keeps checkpoints.db (and where config.hcl's example
// file store does). The host and the CLI both derive the socket path from
// it, so `kinesis-host status -config config.hcl` finds the host started
// with `kinesis-host run -config config.hcl`.
func DataDir(configDir string) string { return filepath.Join(configDir, "data") }

// SocketPath is the control socket of the host whose data directory is
// dataDir: "<dataDir>/kinesis-host.sock".
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Op is what a Request asks for.
type Op string

// The operations of protocol version 1.
const (
	// OpPing answers a Hello; Dial and Serve use it to tell a live host
	// from a stale socket.
	OpPing Op = "ping"
	// OpStatus answers a Status.
	OpStatus Op = "status"
	// OpPause pauses Request.Stream (and Request.Shard when set).
	OpPause Op = "pause"
	// OpResume resumes Request.Stream (and Request.Shard when set).
	OpResume Op = "resume"
	// OpRewind rewinds as Request.Rewind says and answers a RewindResult.
	OpRewind Op = "rewind"
)

// Request is the one JSON object a client writes on a new connection.
type Request struct {
	// Version is ProtocolVersion of the client; a host refuses another
	// version with CodeProtocol.
	Version int `json:"version"`
	// Op is the operation.
	Op Op `json:"op"`
	// Stream is the stream of OpPause and OpResume.
	Stream string `json:"stream,omitempty"`
	// Shard is the shard of OpPause and OpResume; "" for every shard.
	Shard string `json:"shard,omitempty"`
	// Rewind is the request of OpRewind.
	Rewind *RewindRequest `json:"rewind,omitempty"`
}

// Response is the one JSON object the host writes back before it closes
// the connection: Error, or the field of the request's Op (none for
// OpPause and OpResume).
type Response struct {
	// Version is ProtocolVersion of the host.
	Version int `json:"version"`
	// Error is set when the request failed.
	Error *Error `json:"error,omitempty"`
	// Hello answers OpPing.
	Hello *Hello `json:"hello,omitempty"`
	// Status answers OpStatus.
	Status *Status `json:"status,omitempty"`
	// Rewind answers OpRewind.
	Rewind *RewindResult `json:"rewind,omitempty"`
}

// Hello answers OpPing: who listens at the socket.
type Hello struct {
	// PID is the host's process id.
	PID int `json:"pid"`
}

// Limits of the protocol.
const (
	// MaxRequestBytes is the largest request a host reads.
	MaxRequestBytes = 1 << 20
	// MaxResponseBytes is the largest response a client reads (a status of
	// tens of thousands of shards fits).
	MaxResponseBytes = 256 << 20
)

// Server-side timeouts; variables for tests.
var (
	// requestReadTimeout bounds the wait for a connection's request.
	requestReadTimeout = 10 * time.Second
	// requestTimeout caps one Host call, whatever the client's deadline.
	requestTimeout = 5 * time.Minute
	// probeTimeout bounds the ping Serve sends to a socket it finds.
	probeTimeout = 2 * time.Second
)
