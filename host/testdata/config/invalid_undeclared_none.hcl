app = "refs"

stream "orders" {
  handler    = "orders"
  checkpoint = "redis"
}
