app       = ["x"]
log_level = 3

stream "orders" {
  handler     = { name = "h" }
  max_records = "lots"
}

handler "h" {
  plugin = ["a"]
  restart {
    max_restarts = "three"
  }
}
