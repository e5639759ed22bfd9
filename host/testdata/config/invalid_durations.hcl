app              = "durations"
shutdown_timeout = "-1s"

stream "orders" {
  handler             = "orders"
  poll_interval       = "fast"
  shard_sync_interval = "500ms"
}

stream "payments" {
  handler       = "orders"
  poll_interval = "100ms"
}

stream "audit" {
  handler       = "orders"
  poll_interval = 1
}

handler "orders" {
  call_timeout = "0s"
}
