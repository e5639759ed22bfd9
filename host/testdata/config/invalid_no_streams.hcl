app = "nostreams"

handler "orders" {}
