app = "restart"

stream "orders" {
  handler    = "a"
  checkpoint = "c"
}

handler "a" {
  restart {
    max_restarts = -1
    window       = "0s"
    backoff      = "5s"
    max_backoff  = "1s"
    on_exhausted = "Exit"
  }
}

checkpoint "c" {
  restart {
    backoff = "2m"
  }
  restart {
    window = "1h"
  }
}
