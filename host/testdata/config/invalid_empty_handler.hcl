app = "empty"

stream "orders" {
  handler = ""
}

stream "payments" {
  handler = env("KH_TEST_EMPTY_HANDLER", "")
}

handler "orders" {}
