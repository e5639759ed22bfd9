app = "numbers"

stream "a" {
  handler           = "h"
  max_records       = 0
  batch_max_records = 10001
}

stream "b" {
  handler           = "h"
  max_records       = 1.5
  batch_max_records = "many"
}

stream "c" {
  handler     = "h"
  max_records = 1e400
}

handler "h" {}
