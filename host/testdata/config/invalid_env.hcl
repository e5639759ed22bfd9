app = env("KH_TEST_UNSET_APP")

kinesis {
  region = env("KH_TEST_UNSET_REGION")
}

stream "orders" {
  handler       = "h"
  poll_interval = env("KH_TEST_UNSET_POLL", "soon")
}

handler "h" {
  config {
    addr  = env("KH_TEST_UNSET_ADDR")
    other = env()
    third = env("A", "b", "c")
    dir   = path.root
    fn    = upper("x")
  }
}
