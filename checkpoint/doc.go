// Package checkpoint holds the built-in checkpoint stores. Each store is a
// plain package implementing sdk.Store (usable in-process and in tests),
// and each is also built as a plugin binary from checkpoint/cmd/, written
// against package sdk exactly as a third-party backend would be:
//
//	checkpoint/file      embedded bbolt file, fsync'd; the default; single-host (a file lock)
//	checkpoint/memory    in memory, for tests; keeps nothing
//	checkpoint/redis     Redis, seed key layout, Lua-conditional writes; leases
//	checkpoint/postgres  PostgreSQL, seed table layout, conditional upsert; leases
//	checkpoint/dynamodb  DynamoDB, seed table layout, ConditionExpression; leases
//
// Every store passes the same conformance suite (sdk/storetest). Redis,
// PostgreSQL and DynamoDB also implement sdk.LeaseStore, so several hosts
// can share them: each keeps a shard's lease (owner, counter) in the
// shard's own row, where seed readers do not look, and passes
// storetest.RunLeases. The memory store implements it too, for tests of
// the lease protocol (no two hosts can share one plugin's memory).
package checkpoint
