// Package sdk is what a kinesis-host plugin imports. There are two kinds of
// plugin, each a small program whose main is one call:
//
// A record handler receives the records of a Kinesis stream, one batch per
// call (a GetRecords page, capped by count and bytes), shard by shard and in
// order within a shard:
//
//	func main() {
//		sdk.Serve(sdk.HandlerFunc(func(ctx context.Context, r *sdk.Record) sdk.ScanStatus {
//			sdk.Logger().Info("record", "shard", r.ShardID, "seq", r.SequenceNumber)
//			return sdk.ScanStatus{}
//		}))
//	}
//
// Build it as kinesis-handler-<name> into the host's plugin_dir and name it
// in config.hcl. HandlerFunc keeps the per-record callback of
// harlow/kinesis-consumer (ScanStatus with StopScan, SkipCheckpoint and
// Error) while the host still makes one RPC per batch. Authors who want the
// whole batch implement Handler and return a BatchResult (partial
// acknowledgement included).
//
// A checkpoint store keeps one position per (app, stream, shard); implement
// Store and call ServeCheckpoint. A store that several hosts can share
// also implements LeaseStore: the shard's lease (owner and counter) lives
// in the same row and every lease write is one conditional write on it.
// Check a store with sdk/storetest (Run, and RunLeases for a LeaseStore).
// The built-in file, memory, Redis, DynamoDB and Postgres stores are
// written exactly this way; Redis, DynamoDB and Postgres have leases.
//
// Rules for plugins:
//
//   - Never write to stdout: the first line on stdout is the go-plugin
//     handshake. Serve sends the standard log and slog packages to stderr;
//     use Logger() for structured logs, which the host shows under the
//     plugin's name.
//   - A plugin's optional config {} block arrives through Configure (see
//     Configurer and Config.Decode) before the first batch, after every
//     restart.
//   - HandleBatch runs concurrently for different shards. Calls for one
//     shard never overlap.
//   - Record.Data is only valid during the call: copy it to keep it. The
//     host sends each batch as one buffer and the sdk hands out slices of
//     it rather than a copy per record, so a kept Data pins the batch's
//     buffer and may be overwritten by a later batch in a future sdk. The
//     strings of a Record may be kept.
//   - A plugin may crash: the host restarts it and delivers the batch that
//     was not acknowledged again. Handlers must tolerate redelivery
//     (at-least-once).
//
// TestHandler and TestStore run a plugin in-process through the real RPC
// boundary for unit tests.
package sdk

// Version is the version of this sdk, reported to the host.
const Version = "0.1.0"
