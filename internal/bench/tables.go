package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
)

// writeTables prints the matrix (one markdown table), then a breakdown of
// each row's CPU and memory by process, then notes on the run.
func writeTables(w io.Writer, rs []*result, fakes []string, run string) {
	base := map[dataset]*result{}
	for _, r := range rs {
		if r.Mode == roleInProc && r.Err == nil {
			base[r.Data] = r
		}
	}
	runs := 1
	for _, r := range rs {
		runs = max(runs, r.Runs)
	}
	fmt.Fprintf(w, "## kinesis-host throughput (GOOS=%s, %d CPUs, GetRecords paced at 5/s/shard, Limit %d; medians of %d runs)\n\n",
		runtime.GOOS, runtime.NumCPU(), maxRecords, runs)
	fmt.Fprintln(w, "| mode | shards | size | checkpoint | records | rec/s | CPU-s per 1M rec | peak RSS MiB | first record ms | CPU/rec vs in-process | rec/s vs in-process |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %d | FAILED: %v | | | | | |\n", r.Mode, r.Data.Shards, sizeName(r.Data.Size), r.Checkpoint,
				r.Data.total(), oneLine(r.Err.Error()))
			continue
		}
		cpuRatio, rateRatio := math.NaN(), math.NaN()
		if b := base[r.Data]; b != nil {
			cpuRatio = ratio(r.cpuPerM(), b.cpuPerM())
			rateRatio = ratio(r.perSec(), b.perSec())
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %.0f | %.2f | %.1f | %.0f | %s | %s |\n",
			r.Mode, r.Data.Shards, sizeName(r.Data.Size), r.Checkpoint, r.Records, r.perSec(), r.cpuPerM(), mib(r.RSS), ms(r.First),
			fmtRatio(cpuRatio), fmtRatio(rateRatio))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Where the CPU and memory went")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | data | checkpoint | scan s | all shards started s | CPU s | CPU s to first record | host process CPU s | handler plugin CPU s | store plugin CPU s | RSS MiB host / handler / store | GetRecords calls | note |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
	for _, r := range rs {
		if r.Err != nil {
			continue
		}
		own, hcpu, scpu, rss, calls := "", "", "", fmt.Sprintf("%.1f", mib(r.RSS)), ""
		if r.Mode == "host" {
			own = fmt.Sprintf("%.2f", (r.CPU - r.CPUHandler - r.CPUStore).Seconds())
			hcpu = fmt.Sprintf("%.2f", r.CPUHandler.Seconds())
			scpu = fmt.Sprintf("%.2f", r.CPUStore.Seconds())
			rss = fmt.Sprintf("%.1f / %.1f / %.1f", mib(r.RSSHost), mib(r.RSSHandler), mib(r.RSSStore))
		}
		if r.Calls > 0 {
			calls = fmt.Sprint(r.Calls)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s |\n",
			r.Mode, r.Data, r.Checkpoint, r.Scan.Seconds(), r.Ramp.Seconds(), r.CPU.Seconds(), r.CPUFirst.Seconds(), own, hcpu, scpu, rss, calls, r.Note)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Notes:")
	fmt.Fprintln(w, "- rec/s: records / (last record − scan start); scan start is the first ShardStarted (host: the handler plugin's, after")
	fmt.Fprintln(w, "  checkpoint reads, leases and GetShardIterator; baselines: after GetShardIterator). first record ms: process start to")
	fmt.Fprintln(w, "  the handler's first record, so it includes process start, plugin starts, checkpoint reads and the first GetRecords.")
	fmt.Fprintln(w, "- all shards started: scan start to the last ShardStarted. With the redis store the host takes shard leases, and a")
	fmt.Fprintln(w, "  host that finds no other worker takes them gradually at first (one per lease poll), which the redis rows' rec/s include.")
	fmt.Fprintln(w, "- CPU: user + system seconds of the consumer process for its whole life (start-up and shutdown included), from wait4;")
	fmt.Fprintln(w, "  a host's figure includes its plugins (reaped children). The per-plugin split is sampled from /proc just before")
	fmt.Fprintln(w, "  SIGTERM (10 ms resolution; the plugins' shutdown is in \"host process\").")
	fmt.Fprintln(w, "- CPU s to first record: what start-up cost (process and plugin starts, checkpoint reads, the first GetRecords")
	fmt.Fprintln(w, "  and its decoding); host rows sample /proc when the handler's first-record marker appears (±10 ms).")
	fmt.Fprintln(w, "- peak RSS: host rows sum VmHWM of the host, the handler plugin and the store plugin; baselines: ru_maxrss.")
	fmt.Fprintln(w, "- sdk: stock aws-sdk-go-v2 client and retryer, counting records. in-process: host.ConsumeInProcess (the host's client,")
	fmt.Fprintln(w, "  GetRecords decoder, batching and the sdk's handler server, no RPC) with an in-memory checkpoint map. Ratios divide")
	fmt.Fprintln(w, "  by the in-process row of the same data.")
	fmt.Fprintln(w, "- With at most 5 GetRecords/s/shard of 10,000 records, 1 and 4 shards cannot pass 50,000 rec/s per shard: those rows")
	fmt.Fprintln(w, "  compare CPU; the 64-shard rows are CPU-bound. The fake Kinesis runs in its own process on the same CPUs:")
	for _, f := range fakes {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	fmt.Fprintf(w, "- whole run: %s\n", run)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '|' {
			b[i] = ' '
		}
	}
	if len(b) > 200 {
		b = append(b[:200], "…"...)
	}
	return string(b)
}
