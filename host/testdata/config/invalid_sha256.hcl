app = "sha"

stream "orders" {
  handler    = "a"
  checkpoint = "c"
}

handler "a" {
  sha256 = "abc123"
}

handler "b" {
  sha256 = "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}

checkpoint "c" {
  sha256 = 12345
}
