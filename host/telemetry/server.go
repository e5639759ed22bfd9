package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// Health is what the host tells the health endpoints. The host implements
// it; both methods are called on every probe, concurrently, so they should
// answer from state the host keeps up to date rather than do I/O.
type Health interface {
	// Live is the liveness check (/livez): nil while the host's control
	// loop is ticking, else an error saying since when it has not (a
	// deadlock, a stuck loop), a state only a restart fixes. It must not
	// fail for conditions a restart does not fix (Kinesis unreachable, a
	// plugin crash-looping): those belong in Ready, or a liveness probe
	// would restart a host that is waiting correctly.
	Live() error
	// Ready returns the readiness checks (/readyz), each named, with a nil
	// Err when passing: for example "config" (loaded), "plugin:<name>"
	// (each plugin's process up and configured) and "checkpoint:<name>"
	// (each store reachable at its last call). A host that owns no shard
	// (every lease is held elsewhere) is still ready: report no check for
	// that. ctx ends when the probe gives up, after 5 seconds; a Ready
	// that has not answered by then fails the probe.
	Ready(ctx context.Context) []Check
}

// Check is one named readiness check; Err is nil when it passes, else the
// reason shown after "failed: ".
type Check struct {
	// Name is short and stable ("plugin:orders"): probes can leave a check
	// out with ?exclude=<name>. It must not contain a newline.
	Name string
	// Err is nil when the check passes.
	Err error
}

// LiveCheckName is the name of the single /livez check, backed by
// Health.Live.
const LiveCheckName = "control-loop"

// readyTimeout bounds one /readyz probe: a Health.Ready that has not
// answered by then fails the probe (503, "[-]ready failed: ..."). A
// variable for tests.
var readyTimeout = 5 * time.Second

// Config says where and what the telemetry endpoint serves (the host
// builds it from its telemetry {} block).
type Config struct {
	// Listen is the TCP address, host:port ("127.0.0.1:9108"); port 0
	// picks a free port (see Server.Addr).
	Listen string
	// PPROF serves net/http/pprof at /debug/pprof/ when true; otherwise
	// /debug/pprof/ answers 404 saying how to turn it on.
	PPROF bool
	// Metrics is served at /metrics and /debug/vars. Required.
	Metrics *Metrics
	// Logger receives errors of the HTTP server after it started (nil:
	// discarded).
	Logger hclog.Logger
}

// Server is the running telemetry endpoint: Prometheus metrics at
// /metrics, Kubernetes-style health at /livez and /readyz, expvar at
// /debug/vars and, with Config.PPROF, Go's profiler at /debug/pprof/.
// Every endpoint answers GET and HEAD; there is no authentication, which
// is why the host listens on loopback unless the operator names another
// address.
type Server struct {
	srv       *http.Server
	ln        net.Listener
	log       hclog.Logger
	served    chan struct{} // closed when Serve returned
	closeOnce sync.Once
	closeErr  error
}

// Start listens on cfg.Listen and serves in the background until Close.
// ctx bounds only the start (resolving and binding the address); it does
// not stop the server. health may be nil: both probes then pass. An
// address that cannot be bound is reported with what to change in the
// telemetry {} block (errors.Is(err, ErrListen)).
func Start(ctx context.Context, cfg Config, health Health) (*Server, error) {
	if cfg.Metrics == nil {
		return nil, ErrNoMetrics
	}
	if health == nil {
		health = nopHealth{}
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, listenError(cfg.Listen, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           newMux(cfg, health),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			// No WriteTimeout: /debug/pprof/profile and /trace stream for
			// as long as ?seconds= asks.
			ErrorLog: log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		},
		ln:     ln,
		log:    log,
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("telemetry endpoint stopped serving", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on, with the port it got
// when Config.Listen asked for port 0. "" for a nil *Server.
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server gracefully: it stops accepting connections and
// waits for in-flight requests (a running CPU profile, a scrape) until ctx
// ends, then closes the connections still open and returns ctx's error.
// Further calls return the first call's result; a nil *Server returns nil.
func (s *Server) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		err := s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
		<-s.served
		s.closeErr = err
	})
	return s.closeErr
}

// listenError explains why addr could not be bound and what to change.
func listenError(addr string, err error) error {
	var fix string
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		fix = "another process already listens there (another kinesis-host, or another exporter). Stop it, or give this host another port in the config: telemetry { listen = \"127.0.0.1:9109\" }"
	case errors.Is(err, syscall.EACCES):
		fix = "ports below 1024 need privileges. Use a higher port in telemetry { listen = ... }, such as 9108"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		fix = "that address is not one of this machine's. Use 127.0.0.1 (this machine only), an address of one of its interfaces, or 0.0.0.0 (every interface) in telemetry { listen = ... }"
	case errors.As(err, &dnsErr):
		fix = "the host name does not resolve. Use an IP address in telemetry { listen = ... }, such as \"127.0.0.1:9108\""
	default:
		fix = "check telemetry { listen = ... } in the config: it must be host:port of this machine, such as \"127.0.0.1:9108\""
	}
	return fmt.Errorf("%w on %s: %v: %s", ErrListen, addr, err, fix)
}

type nopHealth struct{}

func (nopHealth) Live() error                   { return nil }
func (nopHealth) Ready(context.Context) []Check { return nil }

// newMux routes the endpoints.
func newMux(cfg Config, health Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", cfg.Metrics.Handler())
	mux.Handle("GET /livez", checksHandler("livez", func(context.Context) []Check {
		return []Check{{Name: LiveCheckName, Err: health.Live()}}
	}))
	timeout := readyTimeout
	mux.Handle("GET /readyz", checksHandler("readyz", func(ctx context.Context) []Check {
		return readyChecks(ctx, health, timeout)
	}))
	mux.Handle("GET /debug/vars", varsHandler(cfg.Metrics))
	if cfg.PPROF {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, block, mutex, threadcreate
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	} else {
		mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, _ *http.Request) {
			plain(w, http.StatusNotFound, "pprof is off: set pprof = true in the telemetry {} block of the config and restart kinesis-host to serve Go's profiler here.\n")
		})
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		var b strings.Builder
		b.WriteString("kinesis-host telemetry\n\n" +
			"/metrics      Prometheus metrics\n" +
			"/livez        liveness (?verbose lists the checks)\n" +
			"/readyz       readiness (?verbose lists the checks)\n" +
			"/debug/vars   expvar counters (JSON)\n")
		if cfg.PPROF {
			b.WriteString("/debug/pprof/ Go profiler\n")
		}
		plain(w, http.StatusOK, b.String())
	})
	return mux
}

// readyChecks runs health.Ready bounded by timeout; a Ready that does not
// answer in time is one failing check.
func readyChecks(ctx context.Context, health Health, timeout time.Duration) []Check {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan []Check, 1)
	go func() { ch <- health.Ready(ctx) }()
	select {
	case checks := <-ch:
		return checks
	case <-ctx.Done():
		return []Check{{Name: "ready", Err: fmt.Errorf("the host did not answer within %s: %w", timeout, ctx.Err())}}
	}
}

// checksHandler serves a Kubernetes-style health endpoint: 200 and "ok"
// when every check passes, 503 listing the checks when one fails; with
// ?verbose every check is listed as "[+]name ok" or
// "[-]name failed: reason", then "<name> check passed|failed".
// ?exclude=<check> (repeatable) leaves a check out.
func checksHandler(name string, run func(context.Context) []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		_, verbose := q["verbose"]
		excluded := map[string]bool{}
		for _, e := range q["exclude"] {
			excluded[strings.TrimSpace(e)] = true
		}
		var b strings.Builder
		failed := false
		for _, c := range run(r.Context()) {
			if excluded[c.Name] {
				fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.Name)
				continue
			}
			if c.Err != nil {
				failed = true
				reason := strings.ReplaceAll(c.Err.Error(), "\n", " ")
				fmt.Fprintf(&b, "[-]%s failed: %s\n", c.Name, reason)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
			}
		}
		switch {
		case failed:
			fmt.Fprintf(&b, "%s check failed\n", name)
			plain(w, http.StatusServiceUnavailable, b.String())
		case verbose:
			fmt.Fprintf(&b, "%s check passed\n", name)
			plain(w, http.StatusOK, b.String())
		default:
			plain(w, http.StatusOK, "ok")
		}
	})
}

// plain writes a text/plain answer that is never cached.
func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
