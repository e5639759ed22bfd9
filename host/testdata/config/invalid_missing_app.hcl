plugin_dir = "./plugins"

stream "orders" {
  handler = "orders"
}

handler "orders" {}
