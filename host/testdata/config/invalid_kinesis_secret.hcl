app = "kinesis"

kinesis {
  endpoint          = "ftp://example.test"
  secret_access_key = "s3cr3t"
}

stream "orders" {
  handler = "h"
}

handler "h" {}
