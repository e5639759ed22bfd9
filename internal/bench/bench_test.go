package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's helper processes
// (the fake Kinesis and the baselines re-run the running executable).
func TestMain(m *testing.M) {
	if ok, err := runRole(); ok {
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Getenv(roleEnv), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs one tiny row of every mode (1 shard × 2,000 × 100 B, the
// host with the memory store) through the whole harness and checks that
// the figures are sane: every record counted, positive rates and CPU
// times, plausible memory, a first record within seconds, and a table
// with every row and finite ratios.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kinesis-host and runs it: not in -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the harness reads /proc and wait4 rusage")
	}
	d := dataset{Shards: 1, PerShard: 2000, Size: 100}
	var out, log strings.Builder
	o := options{Data: []dataset{d}, Modes: []string{roleSDK, roleInProc, "host"}, Checkpoints: []string{"memory"}}
	start := time.Now()
	res, err := runMatrix(o, &out, &log)
	t.Logf("took %s\n%s%s", time.Since(start).Round(time.Millisecond), log.String(), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d rows, want 3", len(res))
	}
	for _, r := range res {
		switch {
		case r.Err != nil:
			t.Errorf("%s: %v", r.label(), r.Err)
		case r.Records != d.total():
			t.Errorf("%s: %d records, want %d", r.label(), r.Records, d.total())
		case r.perSec() <= 0 || math.IsInf(r.perSec(), 0):
			t.Errorf("%s: %v records/s", r.label(), r.perSec())
		case r.CPU <= 0 || r.CPU > time.Minute:
			t.Errorf("%s: CPU %s", r.label(), r.CPU)
		case r.RSS < 4<<20 || r.RSS > 4<<30:
			t.Errorf("%s: peak RSS %d bytes", r.label(), r.RSS)
		case r.First <= 0 || r.First > 30*time.Second:
			t.Errorf("%s: first record after %s", r.label(), r.First)
		case r.Scan <= 0 || r.Scan > 30*time.Second:
			t.Errorf("%s: scan took %s", r.label(), r.Scan)
		}
		if r.Mode == "host" && (r.RSSHost == 0 || r.RSSHandler == 0 || r.RSSStore == 0) {
			t.Errorf("host: RSS host %d, handler %d, store %d: a process was not found", r.RSSHost, r.RSSHandler, r.RSSStore)
		}
	}
	table := out.String()
	for _, want := range []string{"| sdk | 1 | 100 B |", "| in-process | 1 | 100 B | map |", "| host | 1 | 100 B | memory |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table has no row %q", want)
		}
	}
	if strings.Contains(table, "NaN") || strings.Contains(table, "FAILED") {
		t.Errorf("table has a NaN or a failed row")
	}
}

// TestParseData checks the -data syntax.
func TestParseData(t *testing.T) {
	ds, err := parseData("4x50000x1024, 64x5000x100")
	if err != nil || len(ds) != 2 || ds[0] != (dataset{4, 50000, 1024}) || ds[1] != (dataset{64, 5000, 100}) {
		t.Fatalf("got %v, %v", ds, err)
	}
	for _, bad := range []string{"", "4x5", "4x0x100", "ax1x1"} {
		if _, err := parseData(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := sizeName(1024) + "," + sizeName(100); got != "1 KiB,100 B" {
		t.Errorf("sizeName: %s", got)
	}
}
