// Package telemetry is kinesis-host's operating surface: Prometheus metrics,
// Kubernetes-style health checks, the seed's expvar counters and, on
// request, Go's profiler, served over HTTP by one small server.
//
// # Turning it on
//
// The endpoint is off unless the config file has a telemetry block:
//
//	telemetry {
//	  listen = "127.0.0.1:9108"  # the default: this machine only
//	  pprof  = false             # true serves /debug/pprof/
//	}
//
// A listen address other than loopback (such as "0.0.0.0:9108", so that a
// Prometheus on another machine can scrape) must be written out, and the
// config loader warns that it exposes the endpoint, which has no
// authentication, beyond this machine.
//
// # Endpoints
//
//	/metrics       Prometheus text exposition (OpenMetrics when asked for)
//	/livez         200 "ok" while the host's control loop ticks, else 503
//	/readyz        200 "ok" when config, plugins and checkpoint stores are
//	               fine, else 503 listing the failing checks; a host that
//	               owns no shard (all leases elsewhere) is still ready
//	/debug/vars    expvar JSON: cmdline, memstats and the seed's counters
//	/debug/pprof/  Go's profiler, only with pprof = true
//
// /livez and /readyz follow the Kubernetes API server's conventions:
// machines rely on the status code only; ?verbose lists every check as
// "[+]name ok" or "[-]name failed: reason" followed by "readyz check
// passed" (or failed); a failing probe always lists its checks;
// ?exclude=name leaves a check out. In a Kubernetes pod spec:
//
//	livenessProbe:  {httpGet: {path: /livez,  port: 9108}}
//	readinessProbe: {httpGet: {path: /readyz, port: 9108}}
//
// (with listen = "0.0.0.0:9108", since the kubelet probes the pod's IP).
//
// # Metrics
//
// Every name starts with kinesis_host_. Durations are in seconds, sizes in
// bytes, and counters end in _total. Labels: stream is the stream block's
// label (the Kinesis stream name), shard the shard id, handler and
// checkpoint the handler or checkpoint block's label, plugin the label of
// either kind of block.
//
// Throughput and handler calls:
//
//   - kinesis_host_records_total{stream,shard,handler} (counter): records
//     passed to the handler, counted at every handler call; a record
//     delivered again (after a partial answer, a crash or a retry) counts
//     again, so this is what the handler saw. Records/s:
//     sum by (stream) (rate(kinesis_host_records_total[1m])).
//   - kinesis_host_bytes_total{stream,shard,handler} (counter): the data
//     bytes of those records.
//   - kinesis_host_batches_total{stream,handler,result} (counter): handler
//     calls by result: ok (every record acknowledged), partial (the rest is
//     delivered again), failed (the handler returned an error), crash (the
//     plugin process died during the call), timeout (the call outlived
//     call_timeout and the plugin was killed).
//   - kinesis_host_handler_duration_seconds{stream,handler} (histogram):
//     the duration of one handler call, send to answer; buckets from 1 ms
//     to 30 s. p99: histogram_quantile(0.99, sum by (le, handler)
//     (rate(kinesis_host_handler_duration_seconds_bucket[5m]))).
//   - kinesis_host_records_failed_total{stream,handler,action} (counter):
//     records the handler failed, by what the host did with them: retry
//     (delivered again after a backoff), skip (on_failure = "skip"),
//     dead_letter (written to the dead-letter target), stop (on_failure =
//     "stop": the stream stops).
//
// Lag and freshness (the series of a shard are deleted when it ends or its
// lease moves to another host, so no frozen value lingers):
//
//   - kinesis_host_shard_lag_seconds{stream,shard} (gauge): how far the
//     shard's reader is behind the tip of the shard, from the
//     MillisBehindLatest of the last GetRecords page or EFO event; 0 once
//     caught up. The metric to alert on: max by (stream)
//     (kinesis_host_shard_lag_seconds) > 300.
//   - kinesis_host_shard_iterator_age_seconds{stream,shard} (gauge): how old
//     the last record handled was when it was handled (handling time minus
//     its arrival in Kinesis), as Lambda's IteratorAge. It includes the
//     handler's own time, which lag does not.
//
// Kinesis:
//
//   - kinesis_host_getrecords_total{stream,result} (counter): GetRecords
//     calls by result: ok, throttled, error, expired_iterator.
//   - kinesis_host_throttles_total{stream,api} (counter): throttled Kinesis
//     calls by API ("GetRecords", "ListShards", "SubscribeToShard", ...).
//
// Checkpoints:
//
//   - kinesis_host_checkpoint_writes_total{checkpoint,result} (counter):
//     write calls to a checkpoint store (one call carries every shard due
//     for a write), by result: ok, conflict (the store's condition refused
//     it: another writer, or this host lost the shard's lease), error (the
//     store failed or was unreachable; retried with backoff).
//   - kinesis_host_checkpoint_write_duration_seconds{checkpoint}
//     (histogram): the duration of one write call, whatever its result;
//     buckets from 1 ms to 10 s.
//
// Plugins (each handler and checkpoint store runs as its own process):
//
//   - kinesis_host_plugin_up{plugin} (gauge): 1 while the plugin's process
//     is running and configured, 0 while it is down, restarting, or its
//     restart budget is spent.
//   - kinesis_host_plugin_restarts_total{plugin,reason} (counter): restarts
//     by reason: crash (the process died), hang (a call outlived
//     call_timeout and the process was killed), swap (its binary was
//     replaced on disk), reload (a SIGHUP reload changed its block).
//
// Shards and leases:
//
//   - kinesis_host_shards_owned{stream} (gauge): shards this host reads, or
//     will read once their parents finish.
//   - kinesis_host_leases_held{stream} (gauge): shard leases this host holds
//     in a shared checkpoint store (several hosts on one stream).
//   - kinesis_host_lease_changes_total{stream,reason} (counter): lease
//     changes on this host: taken (an unowned lease), expired_taken
//     (another host's expired lease), handed_off (given up to balance the
//     fleet or on drain), lost (another host took it).
//
// Memory:
//
//   - kinesis_host_buffered_bytes (gauge): bytes held against
//     max_buffered_bytes: records fetched from Kinesis and not yet
//     acknowledged by a handler, and GetRecords responses being read.
//   - kinesis_host_buffer_budget_bytes (gauge): max_buffered_bytes.
//   - kinesis_host_buffer_waits_total (counter): times a shard reader
//     waited for room in the budget before reading on.
//
// Process:
//
//   - kinesis_host_build_info{version,go_version} (gauge, always 1): which
//     build runs.
//   - go_* and process_*: the Go runtime (goroutines, GC, heap) and this
//     process's CPU, memory and file descriptors, from client_golang's
//     collectors. Plugins are separate processes and are not included.
//   - promhttp_metric_handler_requests_total{code}: scrapes of /metrics.
//
// # expvar
//
// /debug/vars keeps the seed's (harlow/kinesis-consumer) counters under the
// name its README used, for the whole host, and adds them per stream:
//
//	"counters": {"checkpoints": 3, "records": 13005},
//	"streams":  {"orders": {"checkpoints": 3, "records": 13005}}
//
// records counts like kinesis_host_records_total; checkpoints counts shard
// positions durably written (Metrics.Checkpointed).
//
// # Using it from the host
//
// The host creates one *Metrics with NewMetrics, calls its event methods
// (Batch, Lag, IteratorAge, ShardGone, CheckpointWrite, Checkpointed,
// GetRecords, Throttle, PluginUp, PluginRestart, RecordFailed,
// ShardsOwned, LeasesHeld, LeaseChange, BufferedBytes, BufferBudget, BufferWait, StreamGone,
// PluginGone) wherever the event happens, and starts the endpoint with
// Start, passing its implementation of Health (NewHeartbeat gives Live a
// ready-made "has the control loop ticked lately" check). Every method is a no-op on a
// nil *Metrics, so a host without a telemetry block passes nil and calls
// them all the same. The per-batch methods cache their series per label
// tuple: after a shard's first batch, Batch costs a read-locked map lookup
// and a few atomic adds, without allocating (see BenchmarkBatch).
package telemetry
