# kinesis-host configuration. `kinesis-host validate -config config.hcl` checks
# this file and every plugin it names; `make run` runs it against a local
# Kinesis emulator with a demo producer.

app        = "demo"            # checkpoints are keyed by (app, stream, shard)
plugin_dir = "./bin/plugins"   # relative to this file
log_level  = "info"            # trace | debug | info | warn | error
# shutdown_timeout = "30s"     # how long in-flight batches may take after SIGTERM

kinesis {                      # optional: the AWS default credential chain and region otherwise
  region   = "us-east-1"
  endpoint = env("KINESIS_ENDPOINT", "http://127.0.0.1:4567")   # a local emulator; remove for AWS
  # Emulators accept any credentials; remove these two lines for AWS.
  access_key_id     = env("AWS_ACCESS_KEY_ID", "local")
  secret_access_key = env("AWS_SECRET_ACCESS_KEY", "local")
}

stream "demo" {                # label: the Kinesis stream name; one block per stream
  handler        = "example"   # names a handler block
  checkpoint     = "local"     # names a checkpoint block (default: the embedded file store)
  start_position = "TRIM_HORIZON"   # LATEST (default) | TRIM_HORIZON | AT_TIMESTAMP (+ start_timestamp)
  max_records    = 10000       # GetRecords limit per call (1..10000)
  poll_interval  = "250ms"     # wait between reads when caught up (min 200ms: 5 reads/s/shard)
  # batch_max_records = 1000   # cap per handler call (one RPC per batch)
  # batch_max_bytes   = "4MiB" # cap per handler call
  # shard_sync_interval = "30s" # how often new shards are looked for
}

handler "example" {
  plugin = "example"           # → <plugin_dir>/kinesis-handler-example (defaults to the label)
  # sha256     = "…"           # refuse the binary unless its sha256 matches
  # call_timeout = "30s"       # a batch taking longer kills and restarts the plugin
  # restart { max_restarts = 5, window = "10m", backoff = "1s", max_backoff = "1m" }
  config {                     # handed to the plugin
    prefix    = "demo"
    max_bytes = 200
  }
}

checkpoint "local" {
  plugin = "file"              # → <plugin_dir>/kinesis-checkpoint-file
  config { path = "./data/checkpoints.db" }
}

# Several hosts: name a shared store (redis, postgres, dynamodb) as the stream's
# checkpoint and start this same file on every machine; the hosts share the
# shards through leases kept in the store. file and memory are single-host.
# The lease {} block is optional; the values below are the defaults:
# checkpoint "shared" {
#   plugin = "redis"
#   config { address = env("REDIS_ADDR", "127.0.0.1:6379") }
#   lease {
#     duration       = "10s"   # a host silent this long loses its shards (min 200ms, for tests; keep seconds)
#     renew_interval = "3.3s"  # default duration/3; at most duration/2
#     poll_interval  = "500ms" # look for unowned or expired shards and rebalance; at most duration/2
#     worker_id      = env("WORKER_ID", "")   # "": unique per process; a fixed id takes its leases back at once after a restart
#     max_shards     = 0       # the most shards this host holds; 0: no cap
#   }
# }
