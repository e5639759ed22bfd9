app      = "unknown"
loglevel = "info"

stream "orders" {
  handlr        = "h"
  handler       = "h"
  poll_intervall = "1s"
}

handlers "h" {}

handler "h" {
  plugin = "h"
  config = { a = 1 }
  restart {
    max_restart = 3
  }
}

kinesis {
  regoin = "us-east-1"
}
