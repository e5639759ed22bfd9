app = "syntax"

stream "orders" {
  handler = "h"

handler "h" {}
