package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTelemetry scrapes a running host: the record counter equals what
// the handler saw, checkpoint writes are counted, lag falls to 0 once
// caught up, a SIGKILLed handler plugin shows in
// plugin_restarts_total{reason="crash"} and plugin_up goes back to 1, the
// probes answer 200 and the seed's expvar counters are served.
func TestTelemetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	cfg := e.writeConfig("config", runConfig{out: out})
	addr := fmt.Sprintf("127.0.0.1:%d", bkFreePort(t))
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\ntelemetry {\n  listen = %q\n}\n", addr)
	f.Close()
	h := e.startHost(cfg)
	d := newDeliveries(t, out)
	recs := e.put(0, 300)
	d.waitAll(time.Minute, h, recs)

	scrape := func() map[string]float64 {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		defer resp.Body.Close()
		m := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				m[line[:i]] = v
			}
		}
		return m
	}
	sum := func(m map[string]float64, prefix string, must ...string) float64 {
		var s float64
	next:
		for k, v := range m {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			for _, part := range must {
				if !strings.Contains(k, part) {
					continue next
				}
			}
			s += v
		}
		return s
	}
	var m map[string]float64
	waitFor(t, 30*time.Second, h, "lag 0 and the counters to settle", func() bool {
		d.poll()
		m = scrape()
		lagged := false
		for k, v := range m {
			if strings.HasPrefix(k, "kinesis_host_shard_lag_seconds{") && v != 0 {
				lagged = true
			}
		}
		return !lagged && sum(m, "kinesis_host_records_total{") == float64(len(d.all)) &&
			sum(m, "kinesis_host_shard_lag_seconds{") == 0 && sum(m, "kinesis_host_checkpoint_writes_total{", `result="ok"`) > 0
	})
	if got := sum(m, "kinesis_host_batches_total{", `result="ok"`); got < 1 {
		t.Errorf("batches_total{result=ok} = %v", got)
	}
	if n := strings.Count(fmt.Sprint(m), "kinesis_host_shard_lag_seconds{"); n != len(e.shards) {
		t.Errorf("%d lag series, want one per shard (%d)", n, len(e.shards))
	}

	// A SIGKILLed handler plugin: counted as a crash restart, up again.
	pid := bkPluginPID(h.pid(), "kinesis-handler-recorder")
	if pid == 0 {
		t.Fatal("no recorder plugin process")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	more := e.put(300, 50)
	d.waitAll(time.Minute, h, more)
	waitFor(t, 30*time.Second, h, "the crash restart in the metrics", func() bool {
		m = scrape()
		return sum(m, "kinesis_host_plugin_restarts_total{", `plugin="rec"`, `reason="crash"`) == 1 &&
			sum(m, "kinesis_host_plugin_up{", `plugin="rec"`) == 1
	})

	for _, path := range []string{"/livez", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Get("http://" + addr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"records"`) {
		t.Errorf("/debug/vars has no seed records counter: %.300s", body)
	}
	h.stop(30 * time.Second)
	t.Logf("telemetry: %v records counted for %d deliveries; %v checkpoint writes ok; lag 0 when caught up; crash restart counted",
		sum(m, "kinesis_host_records_total{"), len(d.all), sum(m, "kinesis_host_checkpoint_writes_total{", `result="ok"`))
}
