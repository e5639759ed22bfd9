# A checkpoint block labeled "default" replaces the implicit one.
app        = "explicit-default"
plugin_dir = "/usr/lib/kinesis-host/plugins"

stream "orders" {
  handler = "orders"
}

handler "orders" {}

checkpoint "default" {
  plugin = "redis"
  config {
    addr = "127.0.0.1:6379"
  }
}
