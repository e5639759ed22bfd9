app        = "demo"            # checkpoints are keyed by (app, stream, shard)
plugin_dir = "./bin/plugins"   # relative to this file
kinesis {
  region   = "us-east-1"
  endpoint = "http://127.0.0.1:4567"
}
stream "demo" {
  handler        = "example"
  checkpoint     = "local"
  start_position = "TRIM_HORIZON"
  max_records    = 10000
  poll_interval  = "250ms"
}
handler "example" {
  plugin = "example"           # -> <plugin_dir>/kinesis-handler-example
  config { prefix = "demo" }
}
checkpoint "local" {
  plugin = "file"
  config { path = "./data/checkpoints.db" }
}
