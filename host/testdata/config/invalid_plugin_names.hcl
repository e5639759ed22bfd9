app = "names"

stream "orders" {
  handler    = "My Handler"
  checkpoint = "Redis"
}

stream "payments" {
  handler = "ok"
}

handler "My Handler" {}

handler "ok" {
  plugin = "Example!"
}

checkpoint "Redis" {
  path = ""
}
