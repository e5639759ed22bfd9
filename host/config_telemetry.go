package host

// The telemetry {} block: where the metrics, health and profiling endpoint
// listens (package host/telemetry serves it).

import (
	"net"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// telemetry reads a telemetry {} block into t. The block's presence turns
// the endpoint on; listen defaults to cfgDefaults.TelemetryListen.
func (l *configLoader) telemetry(t *TelemetryConfig, b *hcl.Block) {
	c := l.content(b.Body, cfgTelemetrySchema)
	t.Enabled = true
	t.Range = b.DefRange
	t.Listen = cfgDefaults.TelemetryListen

	if v, st := l.boolean(c.attrs["pprof"]); st == cfgSet {
		t.PPROF = v
	}
	a := c.attrs["listen"]
	v, st := l.str(a)
	if st != cfgSet {
		return
	}
	addr := strings.TrimSpace(v)
	if msg := cfgCheckListen(addr); msg != "" {
		l.errorf(a.Range, "Invalid listen", "%s", msg)
		return
	}
	t.Listen = addr
	if host, _, _ := net.SplitHostPort(addr); !cfgIsLoopbackHost(host) {
		what := "/metrics, /livez, /readyz and /debug/vars are"
		if t.PPROF {
			what = "/metrics, /livez, /readyz, /debug/vars and /debug/pprof/ (CPU and heap profiles, the command line) are"
		}
		where := "on " + strconv.Quote(host)
		if cfgIsUnspecifiedHost(host) {
			where = "on every network interface"
		}
		l.warnf(a.Range, "Telemetry reachable from other machines",
			"listen = %q listens %s, not only on loopback: %s served without authentication to anyone who can reach this port. Keep it if a Prometheus on another machine scrapes this host over a trusted network (or a firewall limits the port); otherwise use %q, reachable from this machine only.",
			addr, where, what, cfgDefaults.TelemetryListen)
	}
}

// cfgCheckListen returns why addr is not a valid telemetry listen address,
// or "".
func cfgCheckListen(addr string) string {
	const form = `listen must be host:port with a numeric port, such as "127.0.0.1:9108" (this machine only), "[::1]:9108" or "0.0.0.0:9108" (every interface)`
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		hint := ""
		if _, perr := strconv.ParseUint(addr, 10, 16); perr == nil {
			hint = ` A bare port is not enough: write "127.0.0.1:` + addr + `" to listen on this machine only.`
		} else if strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[") {
			hint = ` An IPv6 address goes in brackets: "[::1]:9108".`
		}
		return form + "; got " + strconv.Quote(addr) + "." + hint
	}
	if port == "" {
		return form + "; got " + strconv.Quote(addr) + ", which has no port. Add one, such as \"" + net.JoinHostPort(host, "9108") + "\"."
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return form + "; got port " + strconv.Quote(port) + ", which is not a number from 0 to 65535. Use a free port, such as 9108."
	}
	if strings.ContainsAny(host, " \t/") {
		return form + "; got host " + strconv.Quote(host) + ". Use an IP address or a host name, without a scheme or path."
	}
	return ""
}

// cfgIsLoopbackHost reports whether host (from a host:port) is reachable
// from this machine only: a loopback IP or "localhost".
func cfgIsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i] // an IPv6 zone
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cfgIsUnspecifiedHost reports whether host listens on every interface:
// empty, 0.0.0.0 or ::.
func cfgIsUnspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
