app = "labels"

stream {
  handler = "h"
}

stream "a" "b" {
  handler = "h"
}

stream "orders/v1" {
  handler = "h"
}

handler "h" {
  config "x" {
    a = 1
  }
}
