# Only what is required: everything else takes its default, and the stream
# uses the implicit "default" checkpoint.
app = "minimal"

stream "orders" {
  handler = "orders"
}

handler "orders" {}
