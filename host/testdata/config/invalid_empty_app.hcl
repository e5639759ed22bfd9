app = ""

stream "orders" {
  handler = "orders"
}

handler "orders" {}
