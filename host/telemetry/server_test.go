package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeHealth is a Health whose answers the test sets.
type fakeHealth struct {
	live   error
	checks []Check
	block  chan struct{} // when non-nil, Ready waits for it or ctx
}

func (h *fakeHealth) Live() error { return h.live }

func (h *fakeHealth) Ready(ctx context.Context) []Check {
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
		}
	}
	return h.checks
}

// testServer serves newMux over httptest.
func testServer(t *testing.T, cfg Config, h Health) (*httptest.Server, *Metrics) {
	t.Helper()
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics("test")
	}
	if h == nil {
		h = nopHealth{}
	}
	srv := httptest.NewServer(newMux(cfg, h))
	t.Cleanup(srv.Close)
	return srv, cfg.Metrics
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	srv, m := testServer(t, Config{}, nil)
	recordEveryEvent(m)

	code, hdr, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	// The exposition parses, and has every family with the right type.
	// Legacy validation: every name must also be a classic Prometheus name.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	for name, want := range wantFamilies {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("/metrics lacks %s", name)
			continue
		}
		if mf.GetType() != want.typ {
			t.Errorf("/metrics: %s has type %v, want %v", name, mf.GetType(), want.typ)
		}
	}
	for _, line := range []string{
		`kinesis_host_records_total{handler="orders-h",shard="shardId-000",stream="orders"} 15`,
		`kinesis_host_batches_total{handler="orders-h",result="ok",stream="orders"} 1`,
		`kinesis_host_shard_lag_seconds{shard="shardId-000",stream="orders"} 1.5`,
		`kinesis_host_plugin_restarts_total{plugin="orders-h",reason="crash"} 1`,
		`# TYPE kinesis_host_handler_duration_seconds histogram`,
		`kinesis_host_handler_duration_seconds_bucket{handler="orders-h",stream="orders",le="30"} 3`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks line %q", line)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("/metrics lacks the Go collector")
	}

	// OpenMetrics when asked for.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics Content-Type = %q", ct)
	}

	// HEAD works; other methods do not.
	if code, _, body := do(t, http.MethodHead, srv.URL+"/metrics"); code != http.StatusOK || body != "" {
		t.Errorf("HEAD /metrics: %d %q", code, body)
	}
	if code, hdr, _ := do(t, http.MethodPost, srv.URL+"/metrics"); code != http.StatusMethodNotAllowed || !strings.Contains(hdr.Get("Allow"), "GET") {
		t.Errorf("POST /metrics: %d Allow=%q", code, hdr.Get("Allow"))
	}
}

func TestLivez(t *testing.T) {
	h := &fakeHealth{}
	srv, _ := testServer(t, Config{}, h)

	if code, hdr, body := get(t, srv.URL+"/livez"); code != 200 || body != "ok" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("/livez: %d %q %v", code, body, hdr)
	}
	if code, _, body := get(t, srv.URL+"/livez?verbose"); code != 200 || body != "[+]control-loop ok\nlivez check passed\n" {
		t.Errorf("/livez?verbose: %d %q", code, body)
	}
	h.live = errors.New("no tick for 45s (last at 12:00:00)")
	for _, url := range []string{"/livez", "/livez?verbose"} {
		code, _, body := get(t, srv.URL+url)
		if code != 503 || body != "[-]control-loop failed: no tick for 45s (last at 12:00:00)\nlivez check failed\n" {
			t.Errorf("%s failing: %d %q", url, code, body)
		}
	}
	if code, _, _ := do(t, http.MethodHead, srv.URL+"/livez"); code != 503 {
		t.Errorf("HEAD /livez failing: %d", code)
	}
}

func TestReadyz(t *testing.T) {
	h := &fakeHealth{checks: []Check{
		{Name: "config"},
		{Name: "plugin:orders"},
		{Name: "checkpoint:redis"},
	}}
	srv, _ := testServer(t, Config{}, h)

	if code, _, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ok" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	want := "[+]config ok\n[+]plugin:orders ok\n[+]checkpoint:redis ok\nreadyz check passed\n"
	if code, _, body := get(t, srv.URL+"/readyz?verbose=1"); code != 200 || body != want {
		t.Errorf("/readyz?verbose: %d %q, want %q", code, body, want)
	}

	h.checks[2].Err = errors.New("dial tcp 127.0.0.1:6379: connection refused\n(retrying)")
	want = "[+]config ok\n[+]plugin:orders ok\n[-]checkpoint:redis failed: dial tcp 127.0.0.1:6379: connection refused (retrying)\nreadyz check failed\n"
	for _, url := range []string{"/readyz", "/readyz?verbose"} {
		if code, _, body := get(t, srv.URL+url); code != 503 || body != want {
			t.Errorf("%s failing: %d %q, want %q", url, code, body, want)
		}
	}
	// ?exclude leaves a failing check out.
	code, _, body := get(t, srv.URL+"/readyz?exclude=checkpoint:redis&verbose")
	if code != 200 || !strings.Contains(body, "[+]checkpoint:redis excluded: ok") {
		t.Errorf("/readyz?exclude: %d %q", code, body)
	}

	// A host that owns no shard reports no check for it, and is ready.
	h.checks = nil
	if code, _, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ok" {
		t.Errorf("/readyz with no checks: %d %q", code, body)
	}
}

func TestReadyzTimeout(t *testing.T) {
	old := readyTimeout
	readyTimeout = 50 * time.Millisecond
	t.Cleanup(func() { readyTimeout = old })

	h := &fakeHealth{block: make(chan struct{})}
	defer close(h.block)
	srv, _ := testServer(t, Config{}, h)
	code, _, body := get(t, srv.URL+"/readyz")
	if code != 503 || !strings.HasPrefix(body, "[-]ready failed: the host did not answer within 50ms") {
		t.Errorf("/readyz with a stuck Health: %d %q", code, body)
	}
}

func TestDebugVars(t *testing.T) {
	srv, m := testServer(t, Config{}, nil)
	m.Batch("orders", "s0", "h", 4, 40, 0, ResultOK)
	m.Checkpointed("orders", 1)

	code, hdr, body := get(t, srv.URL+"/debug/vars")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("/debug/vars: %d %v", code, hdr)
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &vars); err != nil {
		t.Fatalf("/debug/vars is not JSON: %v\n%s", err, body)
	}
	for _, k := range []string{"cmdline", "memstats", ExpvarCounters, ExpvarStreams} {
		if _, ok := vars[k]; !ok {
			t.Errorf("/debug/vars lacks %q", k)
		}
	}
	var counters map[string]int64
	if err := json.Unmarshal(vars[ExpvarCounters], &counters); err != nil || counters["records"] != 4 || counters["checkpoints"] != 1 {
		t.Errorf("counters = %s (%v)", vars[ExpvarCounters], err)
	}
	if !strings.Contains(string(vars[ExpvarStreams]), `"orders":{"checkpoints":1,"records":4}`) {
		t.Errorf("streams = %s", vars[ExpvarStreams])
	}
}

func TestPprofOff(t *testing.T) {
	srv, _ := testServer(t, Config{PPROF: false}, nil)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
		code, _, body := get(t, srv.URL+p)
		if code != 404 || !strings.Contains(body, "pprof = true") {
			t.Errorf("%s with pprof off: %d %q", p, code, body)
		}
	}
	if _, _, body := get(t, srv.URL+"/"); strings.Contains(body, "pprof") {
		t.Errorf("the index lists pprof while it is off: %q", body)
	}
}

func TestPprofOn(t *testing.T) {
	srv, _ := testServer(t, Config{PPROF: true}, nil)
	code, _, body := get(t, srv.URL+"/debug/pprof/")
	if code != 200 || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
		t.Errorf("/debug/pprof/: %d %.200q", code, body)
	}
	for _, p := range []string{"/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap?debug=1", "/debug/pprof/symbol"} {
		if code, _, body := get(t, srv.URL+p); code != 200 || body == "" {
			t.Errorf("%s: %d %.100q", p, code, body)
		}
	}
	if _, _, body := get(t, srv.URL+"/"); !strings.Contains(body, "/debug/pprof/") {
		t.Errorf("the index does not list pprof: %q", body)
	}
}

func TestIndexAndUnknownPaths(t *testing.T) {
	srv, _ := testServer(t, Config{}, nil)
	code, _, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Errorf("/: %d", code)
	}
	for _, p := range []string{"/metrics", "/livez", "/readyz", "/debug/vars"} {
		if !strings.Contains(body, p) {
			t.Errorf("the index lacks %s: %q", p, body)
		}
	}
	for _, p := range []string{"/nope", "/metricsx", "/debug/", "/healthz"} {
		if code, _, _ := get(t, srv.URL+p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

func TestStartAndClose(t *testing.T) {
	m := NewMetrics("")
	h := &fakeHealth{}
	s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Metrics: m}, h)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
		t.Fatalf("Addr() = %q: want the port it got", addr)
	}
	m.Batch("s", "a", "h", 1, 1, 0, ResultOK)
	if code, _, body := get(t, "http://"+addr+"/metrics"); code != 200 || !strings.Contains(body, "kinesis_host_records_total") {
		t.Errorf("/metrics over Start: %d", code)
	}
	if code, _, _ := get(t, "http://"+addr+"/livez"); code != 200 {
		t.Errorf("/livez over Start: %d", code)
	}

	// A second server on the same address fails, saying where and how to fix.
	_, err = Start(context.Background(), Config{Listen: addr, Metrics: m}, nil)
	if !errors.Is(err, ErrListen) {
		t.Fatalf("second Start on %s: %v, want ErrListen", addr, err)
	}
	for _, want := range []string{addr, "in use", "another port", "telemetry { listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("port-in-use error lacks %q: %v", want, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/livez"); err == nil {
		t.Error("the server still answers after Close")
	}
	var nilServer *Server
	if err := nilServer.Close(ctx); err != nil || nilServer.Addr() != "" {
		t.Errorf("nil *Server: Close %v Addr %q", err, nilServer.Addr())
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(context.Background(), Config{Listen: "127.0.0.1:0"}, nil); !errors.Is(err, ErrNoMetrics) {
		t.Errorf("Start without Metrics: %v", err)
	}
	// 192.0.2.1 (TEST-NET-1) is never an address of this machine.
	_, err := Start(context.Background(), Config{Listen: "192.0.2.1:9108", Metrics: NewMetrics("")}, nil)
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), "192.0.2.1:9108") || !strings.Contains(err.Error(), "telemetry { listen") {
		t.Errorf("Start on a foreign address: %v", err)
	}
	_, err = Start(context.Background(), Config{Listen: "nonsense", Metrics: NewMetrics("")}, nil)
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("Start on a malformed address: %v", err)
	}
}

// TestCloseWaitsForRequests: Close lets an in-flight request finish, and
// gives up (closing the connection) when its ctx ends first.
func TestCloseWaitsForRequests(t *testing.T) {
	old := readyTimeout
	readyTimeout = time.Minute
	t.Cleanup(func() { readyTimeout = old })

	h := &fakeHealth{block: make(chan struct{})}
	s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", Metrics: NewMetrics("")}, h)
	if err != nil {
		t.Fatal(err)
	}
	var answered atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err == nil {
			resp.Body.Close()
			answered.Store(int32(resp.StatusCode))
		}
	}()
	time.Sleep(100 * time.Millisecond) // the request is in Ready

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck request: %v, want DeadlineExceeded", err)
	}
	close(h.block)
	<-done
	if answered.Load() == 200 {
		t.Error("the stuck request was answered 200 after a forced close")
	}
}

func TestHeartbeat(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	h := NewHeartbeat(30 * time.Second)
	h.now = func() time.Time { return now }
	h.Beat()
	if err := h.Check(); err != nil {
		t.Fatalf("fresh heartbeat: %v", err)
	}
	now = now.Add(30 * time.Second)
	if err := h.Check(); err != nil {
		t.Errorf("at exactly maxSilence: %v", err)
	}
	now = now.Add(time.Second)
	err := h.Check()
	if err == nil || !strings.Contains(err.Error(), "not ticked for 31s") || !strings.Contains(err.Error(), "12:00:00Z") {
		t.Errorf("silent heartbeat: %v", err)
	}
	h.Beat()
	if err := h.Check(); err != nil {
		t.Errorf("after a new beat: %v", err)
	}
	if err := NewHeartbeat(time.Minute).Check(); err != nil {
		t.Errorf("a new heartbeat counts as beating: %v", err)
	}
}
