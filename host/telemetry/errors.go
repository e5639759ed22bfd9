package telemetry

import "errors"

// ErrListen is returned by Start (wrapped, with the address, the cause and
// what to change in the telemetry {} block) when the listen address cannot
// be bound: the port is in use, privileged, or the address is not this
// machine's.
var ErrListen = errors.New("telemetry: cannot listen")

// ErrNoMetrics is returned by Start when Config.Metrics is nil: create one
// with NewMetrics, pass it to Start, and hand the same *Metrics to the code
// that records events.
var ErrNoMetrics = errors.New("telemetry: Config.Metrics is nil; create one with NewMetrics and pass the same *Metrics to Start and to the code that records events")
