app              = env("KH_TEST_APP", "fallback-app")
plugin_dir       = "plugins"
log_level        = "debug"
shutdown_timeout = "45s"

kinesis {
  region            = env("KH_TEST_REGION")
  endpoint          = "https://kinesis.example.test"
  access_key_id     = env("KH_TEST_KEY_ID")
  secret_access_key = env("KH_TEST_SECRET")
  session_token     = "token-${env("KH_TEST_KEY_ID")}"
}

stream "orders-v2.events_1" {
  handler             = "orders"
  checkpoint          = "redis"
  start_position      = "AT_TIMESTAMP"
  start_timestamp     = "2024-05-01T14:00:00+02:00"
  max_records         = 500
  batch_max_records   = 200
  batch_max_bytes     = "512KiB"
  poll_interval       = "200ms"
  shard_sync_interval = "1m"
}

stream "payments" {
  handler         = "orders"
  checkpoint      = ""
  batch_max_bytes = 1048576
}

stream "audit" {
  handler         = "audit-log"
  checkpoint      = "default"
  batch_max_bytes = "1.5 MB"
}

handler "orders" {
  plugin       = "orders_v2"
  sha256       = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
  call_timeout = "1m"
  restart {
    max_restarts = 0
    window       = "1h"
    backoff      = "2m"
    max_backoff  = "5m"
    on_exhausted = "continue"
  }
  config {
    greeting = "hi <there> & \"friends\""
    count    = 3
    ratio    = 0.25
    big      = 9007199254740993
    enabled  = true
    nothing  = null
    tags     = ["a", "b"]
    mixed    = [1, "two", false]
    limits   = { max = 10, name = "x" }
    home     = env("KH_TEST_HOME", "/default/home")
  }
}

handler "audit-log" {
  path = "../tools/audit"
  restart {
    backoff = "10ms"
  }
}

checkpoint "redis" {
  path = "/opt/kinesis/redis-checkpoint"
  config {
    addr = env("KH_TEST_REDIS_ADDR", "127.0.0.1:6379")
    db   = 2
  }
}
