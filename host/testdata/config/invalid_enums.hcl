app       = "enums"
log_level = "verbose"

stream "orders" {
  handler        = "orders"
  start_position = "TRIM_HORIZONN"
}

stream "payments" {
  handler        = "orders"
  start_position = "latest"
}

handler "orders" {
  restart {
    on_exhausted = "retry"
  }
}
