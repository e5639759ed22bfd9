app = "kinesis"

kinesis {
  endpoint      = "127.0.0.1:4567"
  access_key_id = "AKIAEXAMPLE"
}

stream "orders" {
  handler = "h"
}

handler "h" {}
