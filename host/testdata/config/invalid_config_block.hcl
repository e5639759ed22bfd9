app = "config"

stream "orders" {
  handler = "h"
}

handler "h" {
  config {
    a = 1
    nested {
      b = 2
    }
    inf = 1/0
    big = 1e400
  }
  config {
    c = 3
  }
}
