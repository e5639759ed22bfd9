// Command bench is the throughput benchmark of kinesis-host (`make bench`):
// one run prints a markdown table of records/s, CPU seconds per million
// records, peak resident memory and time to the first record for the real
// kinesis-host binary with a null handler plugin and the memory, file and
// Redis checkpoint stores, beside two baselines measured in the same run
// on the same data:
//
//   - sdk: the raw aws-sdk-go-v2 GetRecords loop (stock client, counting
//     records), paced like the host;
//   - in-process: the host's own fetch path calling a Go handler in the
//     same process (host.ConsumeInProcess: no RPC, no plugins), which
//     stands in for an in-process consumer library such as
//     harlow/kinesis-consumer.
//
// Every row reads a fake Kinesis (host/kinesisfake over TLS and HTTP/2,
// the real SDK client talking to it) that runs in a helper process of its
// own, and every consumer runs as a process of its own too, so each row's
// figures are the consumer's alone: CPU is the user plus system time of
// the consumer process from wait4 (for the host that includes the plugins
// it reaped), peak RSS is VmHWM (host rows: the host's plus every plugin's,
// summed, sampled just before SIGTERM; baselines: ru_maxrss).
//
// Every consumer reads at most 5 GetRecords per second per shard with
// Limit 10000, so rows of 1 and 4 shards are bound by that pacing (at most
// 50,000 records/s per shard) and differ mostly in CPU; the 64-shard rows
// are bound by CPU.
//
// Usage:
//
//	go run ./internal/bench [-quick] [-bin bin] [-out file] [-checkpoints memory,file,redis] [-repeat 3]
//	                        [-data 4x50000x1024,...] [-modes sdk,in-process,host] [-pprof dir]
//
// Every row runs -repeat times (default 3; 1 with -quick), the modes taking
// turns, and each figure is the median of its runs.
//
// BENCH_QUICK=1 in the environment is the same as -quick (a small matrix
// for iterating). Without -bin, the host and the plugins it needs are
// built into a temporary directory; `make bench` passes -bin bin after
// `make build`.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Helper roles: the benchmark runs copies of its own binary as the fake
// Kinesis and as the baseline consumers, told what to be by these
// environment variables.
const (
	roleEnv = "KINESIS_BENCH_ROLE"
	argsEnv = "KINESIS_BENCH_ARGS"

	roleFake   = "fake"
	roleSDK    = "sdk"
	roleInProc = "in-process"
)

// roleCommand returns a command running this binary as role with args,
// in the environment env plus the role's variables.
func roleCommand(role string, args any, env []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	buf, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(slices.Clip(env), roleEnv+"="+role, argsEnv+"="+string(buf))
	return cmd, nil
}

// runRole runs the helper role named in the environment, if any, and
// reports whether there was one. The process must exit afterwards.
func runRole() (bool, error) {
	role := os.Getenv(roleEnv)
	if role == "" {
		return false, nil
	}
	raw := []byte(os.Getenv(argsEnv))
	switch role {
	case roleFake:
		var a fakeArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return true, err
		}
		return true, runFake(a)
	case roleSDK, roleInProc:
		var a consumerArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return true, err
		}
		if role == roleSDK {
			return true, runSDK(a)
		}
		return true, runInProc(a)
	}
	return true, fmt.Errorf("unknown %s %q", roleEnv, role)
}

func main() {
	if ok, err := runRole(); ok {
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Getenv(roleEnv), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	var o options
	flag.BoolVar(&o.Quick, "quick", os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0", "a small matrix, for iterating (also BENCH_QUICK=1)")
	flag.StringVar(&o.Bin, "bin", "", "directory holding kinesis-host and plugins/ (kinesis-handler-null, kinesis-checkpoint-*); empty: build them into a temporary directory")
	flag.StringVar(&o.Out, "out", "", "also write the tables to this file")
	cps := flag.String("checkpoints", "memory,file,redis", "checkpoint stores of the host rows")
	modes := flag.String("modes", "sdk,in-process,host", "which consumers to run")
	data := flag.String("data", "", "data sets as SHARDSxRECORDSxBYTES, comma-separated (default: the full matrix, or the quick one)")
	flag.StringVar(&o.Redis, "redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis address for the redis checkpoint rows")
	flag.StringVar(&o.PProf, "pprof", "", "write CPU profiles of every host row into this directory: host-*.pprof (the host's telemetry endpoint) and handler-*.pprof (the null handler plugin)")
	flag.BoolVar(&o.FakeStockJSON, "fake-stock-json", false, "the fake Kinesis answers GetRecords through its own encoding/json encoder (slower: it takes CPU from the consumers)")
	flag.IntVar(&o.Repeat, "repeat", 0, "runs of every row (medians are reported); default 3, or 1 with -quick")
	flag.StringVar(&o.Heap, "heap", "", "write the host's heap profile (debug=1 text) at its largest in-use heap, sampled every 200 ms, into this directory: heap-*.txt")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (configs, host logs, reports)")
	flag.Parse()
	if o.Repeat <= 0 {
		o.Repeat = 3
		if o.Quick {
			o.Repeat = 1
		}
	}
	if o.PProf != "" {
		abs, err := filepath.Abs(o.PProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		o.PProf = abs
	}
	if o.Heap != "" {
		abs, err := filepath.Abs(o.Heap)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		o.Heap = abs
	}
	o.Checkpoints = splitList(*cps)
	o.Modes = splitList(*modes)
	if *data != "" {
		ds, err := parseData(*data)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		o.Data = ds
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		killChildren()
		os.Exit(130)
	}()
	err := run(o, os.Stdout, os.Stderr)
	killChildren()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseData reads "4x50000x1024,64x5000x1024".
func parseData(s string) ([]dataset, error) {
	var out []dataset
	for _, f := range splitList(s) {
		p := strings.Split(f, "x")
		if len(p) != 3 {
			return nil, fmt.Errorf("data set %q: want SHARDSxRECORDSxBYTES", f)
		}
		var n [3]int
		for i := range p {
			v, err := strconv.Atoi(p[i])
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("data set %q: %q is not a positive number", f, p[i])
			}
			n[i] = v
		}
		out = append(out, dataset{Shards: n[0], PerShard: n[1], Size: n[2]})
	}
	if len(out) == 0 {
		return nil, errors.New("no data set")
	}
	return out, nil
}
