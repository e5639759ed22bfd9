app = "nohandler"

stream "orders" {
  checkpoint = "default"
}

handler "orders" {}
