package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

// options are the benchmark's flags.
type options struct {
	Quick       bool
	Bin         string
	Out         string
	Checkpoints []string
	Modes       []string
	Data        []dataset
	Redis       string
	PProf       string
	// Heap: directory for the host's heap profile at its largest in-use heap.
	Heap string
	Keep bool
	// Repeat runs every row this many times and reports medians.
	Repeat int
	// FakeStockJSON: the fake answers GetRecords with encoding/json.
	FakeStockJSON bool
}

// The data sets of the full matrix: the three reference rows (4 ×
// 50,000 × 1 KiB, 4 × 200,000 × 100 B, 64 × 5,000 × 1 KiB: one 5 MB page
// per shard) and their neighbours, so every shard count meets both record
// sizes, and 1,000 shards with a backlog of 500 KiB each (memory must stay
// within the budget whatever the shard count).
var fullData = []dataset{
	{1, 100000, 100}, {1, 50000, 1024},
	{4, 200000, 100}, {4, 50000, 1024},
	{64, 5000, 100}, {64, 5000, 1024},
	{1000, 500, 1024},
}

// quickData is the -quick matrix: the same shapes, a tenth of the records
// or less.
var quickData = []dataset{
	{1, 10000, 100}, {4, 5000, 1024}, {64, 500, 1024},
}

// binaries are the executables the host rows run.
type binaries struct {
	Host      string
	PluginDir string
}

// result is one row of the matrix.
type result struct {
	Mode       string // sdk, in-process, host
	Data       dataset
	Checkpoint string
	Records    int64
	Scan       time.Duration // scan start to the last record
	Ramp       time.Duration // scan start to the last shard's start
	First      time.Duration // process start to the first record
	CPU        time.Duration // the consumer's process, with its plugins
	CPUFirst   time.Duration // CPU used by the time the first record arrived
	RSS        int64         // peak RSS in bytes: host + plugins (summed) or the baseline's
	// Host rows: what the plugins used by the time the last record arrived
	// (sampled from /proc just before SIGTERM) and the host's own peak.
	CPUHandler, CPUStore time.Duration
	RSSHost, RSSHandler  int64
	RSSStore             int64
	Calls                int64 // GetRecords calls (baselines)
	Note                 string
	Err                  error
	Runs                 int // how many runs the figures are the median of
}

func (r *result) perSec() float64 {
	if r.Scan <= 0 {
		return 0
	}
	return float64(r.Records) / r.Scan.Seconds()
}

// cpuPerM is CPU seconds per million records.
func (r *result) cpuPerM() float64 {
	if r.Records == 0 {
		return 0
	}
	return r.CPU.Seconds() / float64(r.Records) * 1e6
}

func (r *result) label() string {
	if r.Mode == "host" {
		return "host/" + r.Checkpoint
	}
	return r.Mode
}

// run runs the matrix and prints the tables to out, progress to log.
func run(o options, out, log io.Writer) error {
	_, err := runMatrix(o, out, log)
	return err
}

// runMatrix runs the matrix, prints the tables to out and progress to
// log, and returns the rows. The error says whether any row failed (the
// rows are returned anyway) or the run could not start.
func runMatrix(o options, out, log io.Writer) ([]*result, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("the benchmark reads /proc and wait4 rusage: Linux only")
	}
	data := o.Data
	if len(data) == 0 {
		data = fullData
		if o.Quick {
			data = quickData
		}
	}
	for _, m := range o.Modes {
		if m != roleSDK && m != roleInProc && m != "host" {
			return nil, fmt.Errorf("unknown mode %q (sdk, in-process, host)", m)
		}
	}
	for _, c := range o.Checkpoints {
		if c != "memory" && c != "file" && c != "redis" {
			return nil, fmt.Errorf("unknown checkpoint %q (memory, file, redis)", c)
		}
	}
	dir, err := os.MkdirTemp("", "kinesis-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintln(log, "bench: work directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	runID := filepath.Base(dir)

	var bins binaries
	if slices.Contains(o.Modes, "host") {
		if bins, err = getBinaries(o.Bin, filepath.Join(dir, "bin"), log); err != nil {
			return nil, err
		}
	}
	var rdb *redis.Client
	if slices.Contains(o.Modes, "host") && slices.Contains(o.Checkpoints, "redis") {
		rdb = redis.NewClient(&redis.Options{Addr: o.Redis})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("redis checkpoint rows need Redis at %s (make services starts one): %w", o.Redis, err)
		}
		defer cleanRedis(rdb, redisPrefix(runID))
	}

	fmt.Fprintf(log, "bench: %d data sets × (%s); host checkpoints: %s\n", len(data), strings.Join(o.Modes, ", "), strings.Join(o.Checkpoints, ", "))
	var (
		results []*result
		fakes   []string
	)
	var fatal error
	t0, load0 := time.Now(), loadAvg()
	for di, d := range data {
		ddir := filepath.Join(dir, fmt.Sprintf("data%d", di))
		if err := os.MkdirAll(ddir, 0o755); err != nil {
			return nil, err
		}
		fk, err := startFake(d, ddir, o.FakeStockJSON)
		if err != nil {
			fatal = fmt.Errorf("%s: %w", d, err)
			break
		}
		fmt.Fprintf(log, "bench: %s: fake Kinesis filled in %s\n", d, fk.Put.Round(time.Millisecond))
		// Every repetition runs every mode once, so that a change in the
		// machine's load touches every mode alike.
		var labels []string
		runs := map[string][]*result{}
		for rep := 1; rep <= max(o.Repeat, 1); rep++ {
			rdir := filepath.Join(ddir, fmt.Sprintf("rep%d", rep))
			var got []*result
			for _, m := range o.Modes {
				switch m {
				case "host":
					for _, cp := range o.Checkpoints {
						app := fmt.Sprintf("bench-d%d-r%d-%s", di, rep, cp)
						got = append(got, runHostRow(bins, d, fk, cp, filepath.Join(rdir, "host-"+cp), app, runID, o))
					}
				default:
					got = append(got, runBaselineRow(m, d, fk, rdir))
				}
			}
			for _, r := range got {
				if r.Err != nil {
					fmt.Fprintf(log, "bench: %s %s (run %d): FAILED: %v\n", d, r.label(), rep, r.Err)
				} else {
					fmt.Fprintf(log, "bench: %s %-12s %9.0f rec/s  %6.2f CPU-s/1M  %6.1f MiB  first %5.0f ms  (run %d)\n",
						d, r.label(), r.perSec(), r.cpuPerM(), mib(r.RSS), ms(r.First), rep)
				}
				if runs[r.label()] == nil {
					labels = append(labels, r.label())
				}
				runs[r.label()] = append(runs[r.label()], r)
			}
		}
		var rows []*result
		for _, l := range labels {
			rows = append(rows, median(runs[l]))
		}
		fakeCPU := fk.stop()
		fakes = append(fakes, fmt.Sprintf("%s: fake Kinesis filled in %.2f s, used %.2f CPU-s serving every row", d, fk.Put.Seconds(), fakeCPU.Seconds()))
		results = append(results, rows...)
	}
	var b strings.Builder
	writeTables(&b, results, fakes, fmt.Sprintf("%s; load average (1 min) %s at the start, %s at the end",
		time.Since(t0).Round(time.Second), load0, loadAvg()))
	fmt.Fprint(out, b.String())
	if o.Out != "" {
		if err := os.WriteFile(o.Out, []byte(b.String()), 0o644); err != nil {
			return results, err
		}
	}
	if fatal != nil {
		return results, fatal
	}
	for _, r := range results {
		if r.Err != nil {
			return results, fmt.Errorf("%d row(s) failed (first: %s %s: %v)", countFailed(results), r.Data, r.label(), r.Err)
		}
	}
	return results, nil
}

// loadAvg is the 1-minute load average, for the notes: the machine's other
// work shares the CPUs with every row.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// median merges the runs of one row: each figure is the median of its
// runs' (the middle one, or the mean of the two middle ones), taken on
// its own. A row with a failed run is that failure.
func median(rs []*result) *result {
	for _, r := range rs {
		if r.Err != nil {
			return r
		}
	}
	m := *rs[0]
	m.Runs = len(rs)
	dur := func(f func(*result) *time.Duration) {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = *f(r)
		}
		slices.Sort(v)
		*f(&m) = (v[(len(v)-1)/2] + v[len(v)/2]) / 2
	}
	num := func(f func(*result) *int64) {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = *f(r)
		}
		slices.Sort(v)
		*f(&m) = (v[(len(v)-1)/2] + v[len(v)/2]) / 2
	}
	dur(func(r *result) *time.Duration { return &r.Scan })
	dur(func(r *result) *time.Duration { return &r.Ramp })
	dur(func(r *result) *time.Duration { return &r.First })
	dur(func(r *result) *time.Duration { return &r.CPU })
	dur(func(r *result) *time.Duration { return &r.CPUFirst })
	dur(func(r *result) *time.Duration { return &r.CPUHandler })
	dur(func(r *result) *time.Duration { return &r.CPUStore })
	num(func(r *result) *int64 { return &r.RSS })
	num(func(r *result) *int64 { return &r.RSSHost })
	num(func(r *result) *int64 { return &r.RSSHandler })
	num(func(r *result) *int64 { return &r.RSSStore })
	num(func(r *result) *int64 { return &r.Calls })
	var notes []string
	for _, r := range rs {
		if r.Note != "" && !slices.Contains(notes, r.Note) {
			notes = append(notes, r.Note)
		}
	}
	m.Note = strings.Join(notes, "; ")
	return &m
}

func countFailed(rs []*result) int {
	n := 0
	for _, r := range rs {
		if r.Err != nil {
			n++
		}
	}
	return n
}

// rowTimeout bounds one row: generous, a wedged consumer is the only
// thing it catches.
func rowTimeout(d dataset) time.Duration {
	return 90*time.Second + time.Duration(d.total()/10000)*time.Second
}

// runBaselineRow runs one baseline helper over the fake's data.
func runBaselineRow(role string, d dataset, fk *fakeProc, dir string) *result {
	r := &result{Mode: role, Data: d, Checkpoint: "-"}
	if role == roleInProc {
		r.Checkpoint = "map"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Err = err
		return r
	}
	out := filepath.Join(dir, role+".json")
	cmd, err := roleCommand(role, consumerArgs{URL: fk.URL, Expect: d.total(), Out: out}, awsEnv(fk.CA))
	if err != nil {
		r.Err = err
		return r
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := startChild(cmd); err != nil {
		r.Err = err
		return r
	}
	defer forgetChild(cmd)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(rowTimeout(d)):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("timed out after %s", rowTimeout(d))
	}
	if err != nil {
		r.Err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
		return r
	}
	r.CPU = cpuOf(cmd.ProcessState)
	r.RSS = maxRSSOf(cmd.ProcessState)
	rep, err := readReport(out)
	if err != nil {
		r.Err = err
		return r
	}
	r.fill(rep, t0, d)
	r.Calls = rep.Calls
	r.CPUFirst = time.Duration(rep.CPUAtFirstNs)
	return r
}

// fill takes a consumer's report into r and checks it is complete.
func (r *result) fill(rep report, t0 time.Time, d dataset) {
	r.Records = rep.Records
	r.Scan = time.Duration(rep.LastNs - rep.ScanStartNs)
	r.Ramp = time.Duration(rep.AllStartedNs - rep.ScanStartNs)
	r.First = time.Duration(rep.FirstNs - t0.UnixNano())
	switch {
	case !rep.Complete || rep.Records < d.total():
		r.Err = fmt.Errorf("%w: %d of %d", errIncomplete, rep.Records, d.total())
	case rep.Bytes < d.total()*int64(d.Size):
		r.Err = fmt.Errorf("%d data bytes arrived, want at least %d", rep.Bytes, d.total()*int64(d.Size))
	case rep.ScanStartNs == 0 || rep.Shards < d.Shards:
		r.Err = fmt.Errorf("%d shards started, want %d", rep.Shards, d.Shards)
	}
}

func readReport(path string) (report, error) {
	var rep report
	buf, err := os.ReadFile(path)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(buf, &rep); err != nil {
		return rep, fmt.Errorf("report %s: %w", path, err)
	}
	return rep, nil
}

// getBinaries finds the host and its plugins in bin, or builds them into
// into when bin is empty.
func getBinaries(bin, into string, log io.Writer) (binaries, error) {
	if bin != "" {
		b := binaries{Host: filepath.Join(bin, "kinesis-host"), PluginDir: filepath.Join(bin, "plugins")}
		for _, p := range []string{b.Host, filepath.Join(b.PluginDir, "kinesis-handler-null")} {
			if _, err := os.Stat(p); err != nil {
				return b, fmt.Errorf("%w (make bench builds it; or leave -bin out to build into a temporary directory)", err)
			}
		}
		abs, err := filepath.Abs(bin)
		if err != nil {
			return b, err
		}
		return binaries{Host: filepath.Join(abs, "kinesis-host"), PluginDir: filepath.Join(abs, "plugins")}, nil
	}
	root, err := repoRoot()
	if err != nil {
		return binaries{}, err
	}
	b := binaries{Host: filepath.Join(into, "kinesis-host"), PluginDir: filepath.Join(into, "plugins")}
	targets := map[string]string{
		"./cmd/kinesis-host":                         b.Host,
		"./internal/testplugins/nullhandler":         filepath.Join(b.PluginDir, "kinesis-handler-null"),
		"./checkpoint/cmd/kinesis-checkpoint-memory": filepath.Join(b.PluginDir, "kinesis-checkpoint-memory"),
		"./checkpoint/cmd/kinesis-checkpoint-file":   filepath.Join(b.PluginDir, "kinesis-checkpoint-file"),
		"./checkpoint/cmd/kinesis-checkpoint-redis":  filepath.Join(b.PluginDir, "kinesis-checkpoint-redis"),
	}
	fmt.Fprintln(log, "bench: building kinesis-host and its plugins into", into)
	return b, testenv.GoBuild(root, targets)
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the kinesis-host module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

func redisPrefix(runID string) string { return "kinesis-bench:" + runID + ":" }

// cleanRedis deletes every key the run's redis rows wrote.
func cleanRedis(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Del(ctx, keys[:n]...)
		keys = keys[n:]
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, or NaN.
func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}
