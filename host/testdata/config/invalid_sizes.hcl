app = "sizes"

stream "a" {
  handler         = "h"
  batch_max_bytes = "4 megs"
}

stream "b" {
  handler         = "h"
  batch_max_bytes = "1KiB"
}

stream "c" {
  handler         = "h"
  batch_max_bytes = 1e9
}

stream "d" {
  handler         = "h"
  batch_max_bytes = "4XB"
}

stream "e" {
  handler         = "h"
  batch_max_bytes = 100000.5
}

stream "f" {
  handler         = "h"
  batch_max_bytes = "1.0000001KiB"
}

handler "h" {}
