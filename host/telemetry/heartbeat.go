package telemetry

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Heartbeat is a ready-made source for Health.Live: the host's control
// loop calls Beat on every tick (and at least every maxSilence / 3, for
// example from a ticker case in its select), and Live returns Check. Safe
// for concurrent use; the zero value is not usable, use NewHeartbeat.
type Heartbeat struct {
	maxSilence time.Duration
	last       atomic.Int64 // UnixNano of the last Beat
	now        func() time.Time
}

// NewHeartbeat returns a Heartbeat that counts as beating (so a host that
// has just started is live) and fails Check once maxSilence passes
// without a Beat.
func NewHeartbeat(maxSilence time.Duration) *Heartbeat {
	h := &Heartbeat{maxSilence: maxSilence, now: time.Now}
	h.Beat()
	return h
}

// Beat records that the loop is alive now.
func (h *Heartbeat) Beat() { h.last.Store(h.now().UnixNano()) }

// Check returns nil while the last Beat is at most maxSilence old, else
// an error saying how long the loop has been silent.
func (h *Heartbeat) Check() error {
	last := time.Unix(0, h.last.Load())
	if silent := h.now().Sub(last); silent > h.maxSilence {
		return fmt.Errorf("the control loop has not ticked for %s (last at %s; allowed %s): it is stuck; a restart is needed, and a goroutine dump (SIGQUIT, or /debug/pprof/goroutine?debug=2 with pprof = true) shows where",
			silent.Round(time.Millisecond), last.UTC().Format(time.RFC3339), h.maxSilence)
	}
	return nil
}
