app = "dups"

stream "orders" {
  handler = "orders"
}

stream "orders" {
  handler = "orders"
}

handler "orders" {}

handler "orders" {
  plugin = "other"
}

checkpoint "local" {
  plugin = "file"
}

checkpoint "local" {
  plugin = "redis"
}

kinesis {
  region = "us-east-1"
}

kinesis {
  region = "eu-west-1"
}
