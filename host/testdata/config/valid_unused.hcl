app = "unused"

stream "orders" {
  handler    = "orders"
  checkpoint = "local"
}

handler "orders" {}

handler "spare" {
  plugin = "example"
}

checkpoint "local" {
  plugin = "file"
}

checkpoint "redis" {}
