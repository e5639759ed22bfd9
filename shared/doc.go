// Package shared is the contract between the kinesis-host process and its
// plugins: the go-plugin handshake, the versioned plugin sets, the wire
// types that cross the net/rpc boundary, and the RPC client and server
// stubs for both plugin kinds (record handlers and checkpoint stores).
//
// Plugin authors do not import this package; they use package sdk, which
// adapts their Handler or Store to the server stubs here. The host uses the
// client stubs.
//
// Rules that keep the boundary boring:
//
//   - Wire types are concrete structs of basic types, []byte and time.Time.
//     No interfaces, no maps of any, no error values: gob cannot carry them
//     reliably (go-plugin#148).
//   - Errors that mean something to the other side travel inside the
//     response as *Error, a code plus a message. The Go error returned by
//     an RPC method is reserved for transport and framework failures.
//   - net/rpc has no context. Every client method takes a ctx and returns
//     when it ends; the reply of an abandoned call is discarded. A plugin
//     that ignores its deadline is the supervisor's problem (it kills it).
//   - One RPC per batch: HandleBatch carries a whole GetRecords page (capped
//     by count and bytes), Set carries every pending checkpoint at once.
//
// Versioning: ProtocolVersion 1 is served through go-plugin's
// VersionedPlugins, so a later protocol (for example gRPC as version 2) can
// be added beside it without breaking plugins built against version 1.
package shared
