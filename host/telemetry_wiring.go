package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinesis-host/kinesis-host/host/telemetry"
)

// The host's side of telemetry: the server's start and stop, and the
// Health the probes ask. Metrics are recorded where things happen (shard.go,
// checkpointer.go, plugin.go, stream.go) through h.metrics, which is never
// nil (a registry costs nothing when no one scrapes it).

// startTelemetry serves the telemetry {} block's endpoint, when there is one.
func (h *Host) startTelemetry(ctx context.Context) error {
	tc := h.conf().Telemetry
	if !tc.Enabled {
		return nil
	}
	srv, err := telemetry.Start(ctx, telemetry.Config{Listen: tc.Listen, PPROF: tc.PPROF, Metrics: h.metrics, Logger: h.log.Named("telemetry")}, hostHealth{h})
	if err != nil {
		return fmt.Errorf("telemetry {} at %s: %w", tc.Range, err)
	}
	h.telemetry = srv
	h.log.Info("telemetry: serving /metrics, /livez, /readyz, /debug/vars", "listen", srv.Addr(), "pprof", tc.PPROF)
	return nil
}

func (h *Host) stopTelemetry() {
	if h.telemetry == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.telemetry.Close(ctx)
}

// hostHealth answers /livez and /readyz.
type hostHealth struct{ h *Host }

// Live: the control loop ticked recently.
func (hh hostHealth) Live() error { return hh.h.heartbeat.Check() }

// Ready: config loaded (it is, the host runs), every plugin up, every
// checkpoint store answering. A host that owns no shard is still ready.
func (hh hostHealth) Ready(ctx context.Context) []telemetry.Check {
	h := hh.h
	checks := []telemetry.Check{{Name: "config"}}
	for _, p := range h.sortedProcs() {
		c := telemetry.Check{Name: "plugin:" + p.block().Name}
		p.mu.Lock()
		switch {
		case p.fatal != nil:
			c.Err = p.fatal
		case p.cur == nil:
			c.Err = errors.New("not running (starting or restarting)")
		case !p.outageSince.IsZero():
			c.Err = fmt.Errorf("its backend is unavailable since %s: %v", p.outageSince.Format(time.RFC3339), p.outageErr)
		}
		p.mu.Unlock()
		checks = append(checks, c)
	}
	h.mu.Lock()
	cps := make(map[string]*checkpointer, len(h.checkpoints))
	for name, c := range h.checkpoints {
		cps[name] = c
	}
	h.mu.Unlock()
	for name, c := range cps {
		chk := telemetry.Check{Name: "checkpoint:" + name}
		c.mu.Lock()
		if c.outageErr != nil {
			chk.Err = fmt.Errorf("unreachable since %s: %v", c.outageSince.Format(time.RFC3339), c.outageErr)
		}
		c.mu.Unlock()
		checks = append(checks, chk)
	}
	return checks
}
