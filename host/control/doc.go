// Package control is kinesis-host's local control socket: what the
// `kinesis-host status`, `pause`, `resume` and `rewind` commands talk to
// while a host runs.
//
// # Where
//
// A unix socket, never a TCP port, in the host's data directory:
// SocketPath(DataDir(<config file's folder>)), that is
// "<config folder>/data/kinesis-host.sock", next to the implicit file
// checkpoint store's checkpoints.db. The socket is mode 0600 in a folder of
// the host's user, so only that user (and root) can connect; the commands
// find it from the -config they are given, as `run` does.
//
// One host per data directory: Serve holds a lock file next to the socket
// (kinesis-host.sock.lock) and refuses to start, with ErrAlreadyRunning
// and the other host's pid, while another host serves the same socket. A
// socket left by a host that was killed is removed by the next one.
//
// # Protocol
//
// One request per connection: the client connects, writes one JSON object
// (a Request), and reads one JSON object (a Response); the host then
// closes the connection. Both carry "version" (ProtocolVersion, now 1):
//
//	→ {"version":1,"op":"status"}
//	← {"version":1,"status":{"version":"v1.4.0","pid":4242,"streams":[...], ...}}
//
//	→ {"version":1,"op":"pause","stream":"orders","shard":"shardId-000000000001"}
//	← {"version":1}
//
//	→ {"version":1,"op":"rewind","rewind":{"stream":"orders","to":{"kind":"timestamp","timestamp":"2026-08-21T10:00:00Z"},"dry_run":true}}
//	← {"version":1,"rewind":{"stream":"orders","dry_run":true,"shards":[{"shard":"shardId-000000000000","from":{"sequence_number":"4959..."},"to":"AT_TIMESTAMP 2026-08-21T10:00:00Z","moves":true,"applied":false}]}}
//
//	→ {"version":1,"op":"pause","stream":"nope"}
//	← {"version":1,"error":{"code":"no_such_stream","message":"no such stream: \"nope\"; this host runs orders"}}
//
// The ops are ping (answers the host's pid; used to tell a live host from
// a stale socket), status, pause, resume and rewind. An error crosses as
// {"code", "message"}: the codes (CodeNoSuchStream, CodeNoSuchShard,
// CodeNotRunning, CodeBadRequest, CodeTimeout, CodeProtocol, CodeFailed)
// come back from the Client as an *Error that errors.Is matches against
// the sentinel of its code (ErrNoSuchStream, ...).
//
// A request must arrive within 10 s of connecting and be at most 1 MiB;
// fields the host does not know are refused (so an option an older host
// would not honour is never ignored silently), while a client ignores
// response fields it does not know. A client that closes its connection
// cancels the request's context in the host; the host caps one request at
// 5 minutes.
//
// # Sides
//
// The host implements Host and calls Serve; the CLI calls Dial and the
// Client's methods, which have the Host's signatures.
package control
