// Package checkpoint holds the built-in checkpoint stores. Each store is a
// plain package implementing sdk.Store (usable in-process and in tests),
// and each is also built as a plugin binary from checkpoint/cmd/, written
// against package sdk exactly as a third-party backend would be:
//
//	checkpoint/file      embedded bbolt file, fsync'd; the default
//	checkpoint/memory    in memory, for tests; keeps nothing
//	checkpoint/redis     Redis, seed key layout, Lua-conditional writes
//	checkpoint/postgres  PostgreSQL, seed table layout, conditional upsert
//	checkpoint/dynamodb  DynamoDB, seed table layout, ConditionExpression
//
// Every store passes the same conformance suite (sdk/storetest).
package checkpoint
