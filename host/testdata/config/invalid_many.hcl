# Several unrelated mistakes; all must be reported in one run.
log_level        = "loud"
shutdown_timeout = "forever"

kinesis {
  access_key_id = "AKIAEXAMPLE"
}

stream "orders" {
  handler         = "order"
  start_position  = "AT_TIMESTAMP"
  max_records     = 20000
  batch_max_bytes = "128MiB"
  poll_interval   = "1ms"
}

stream "orders" {
  handler = "orders"
}

handler "orders" {
  sha256 = "nope"
  restart {
    max_restarts = 2.5
  }
}

checkpoint "spare" {}
