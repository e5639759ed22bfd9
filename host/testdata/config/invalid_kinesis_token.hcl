app = "kinesis"

kinesis {
  access_key_id     = ""
  secret_access_key = ""
  session_token     = "tok"
}

stream "orders" {
  handler = "h"
}

handler "h" {}
