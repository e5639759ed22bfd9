app = "refs"

stream "orders" {
  handler    = "exmaple"
  checkpoint = "redsi"
}

stream "payments" {
  handler    = "zzz"
  checkpoint = "dynamo"
}

handler "example" {}

handler "other" {}

checkpoint "redis" {}
