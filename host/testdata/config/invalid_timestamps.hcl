app = "timestamps"

stream "a" {
  handler        = "h"
  start_position = "AT_TIMESTAMP"
}

stream "b" {
  handler         = "h"
  start_timestamp = "2024-05-01T12:00:00Z"
}

stream "c" {
  handler         = "h"
  start_position  = "AT_TIMESTAMP"
  start_timestamp = "yesterday"
}

stream "d" {
  handler         = "h"
  start_position  = "TRIM_HORIZON"
  start_timestamp = "2024-05-01"
}

handler "h" {}
