package main

// The host rows: the real kinesis-host binary, a generated config.hcl,
// the null handler plugin and one checkpoint store.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hostConfig writes the config.hcl of one host row and returns its path.
func hostConfig(bins binaries, d dataset, fk *fakeProc, cp, dir, app, runID, redisAddr, telemetry, handlerProfile string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "app        = %q\n", app)
	fmt.Fprintf(&b, "plugin_dir = %q\n", bins.PluginDir)
	fmt.Fprintf(&b, "log_level  = \"info\"\n\n")
	fmt.Fprintf(&b, "kinesis {\n  region = \"us-east-1\"\n  endpoint = %q\n  access_key_id = \"bench\"\n  secret_access_key = \"bench\"\n}\n\n", fk.URL)
	fmt.Fprintf(&b, "stream %q {\n  handler = \"null\"\n  checkpoint = \"cp\"\n  start_position = \"TRIM_HORIZON\"\n  max_records = %d\n  poll_interval = %q\n}\n\n",
		streamName, maxRecords, pollInterval.String())
	profile := ""
	if handlerProfile != "" {
		profile = fmt.Sprintf("    cpu_profile = %q\n", handlerProfile)
	}
	fmt.Fprintf(&b, "handler \"null\" {\n  plugin = \"null\"\n  config {\n    out = %q\n    expect = %d\n%s  }\n}\n\n",
		filepath.Join(dir, "null.json"), d.total(), profile)
	switch cp {
	case "memory":
		fmt.Fprintf(&b, "checkpoint \"cp\" {\n  plugin = \"memory\"\n}\n")
	case "file":
		fmt.Fprintf(&b, "checkpoint \"cp\" {\n  plugin = \"file\"\n  config { path = %q }\n}\n", filepath.Join(dir, "checkpoints.db"))
	case "redis":
		fmt.Fprintf(&b, "checkpoint \"cp\" {\n  plugin = \"redis\"\n  config {\n    address = %q\n    key_prefix = %q\n  }\n}\n",
			redisAddr, redisPrefix(runID))
	}
	if telemetry != "" {
		fmt.Fprintf(&b, "\ntelemetry {\n  listen = %q\n  pprof = true\n}\n", telemetry)
	}
	path := filepath.Join(dir, "config.hcl")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// runHostRow runs kinesis-host over the fake's data with checkpoint store
// cp until the null handler has seen every record, then samples memory,
// stops the host with SIGTERM and takes its CPU time from wait4.
//
// app must be unique to the row: a row must never resume from another's
// checkpoints (Redis keys outlive the row; their key_prefix is per run).
func runHostRow(bins binaries, d dataset, fk *fakeProc, cp, dir, app, runID string, o options) *result {
	r := &result{Mode: "host", Data: d, Checkpoint: cp}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Err = err
		return r
	}
	var telemetry, handlerProfile string
	name := fmt.Sprintf("%dx%dx%d-%s-%s.pprof", d.Shards, d.PerShard, d.Size, cp, filepath.Base(filepath.Dir(dir)))
	if o.PProf != "" {
		if err := os.MkdirAll(o.PProf, 0o755); err != nil {
			r.Err = err
			return r
		}
		handlerProfile = filepath.Join(o.PProf, "handler-"+name)
		port, err := freePort()
		if err != nil {
			r.Err = err
			return r
		}
		telemetry = fmt.Sprintf("127.0.0.1:%d", port)
	}
	if o.Heap != "" && telemetry == "" {
		port, err := freePort()
		if err != nil {
			r.Err = err
			return r
		}
		telemetry = fmt.Sprintf("127.0.0.1:%d", port)
	}
	cfg, err := hostConfig(bins, d, fk, cp, dir, app, runID, o.Redis, telemetry, handlerProfile)
	if err != nil {
		r.Err = err
		return r
	}
	logf, err := os.Create(filepath.Join(dir, "host.log"))
	if err != nil {
		r.Err = err
		return r
	}
	defer logf.Close()
	cmd := exec.Command(bins.Host, "run", "-config", cfg)
	cmd.Env = awsEnv(fk.CA)
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := startChild(cmd); err != nil {
		r.Err = err
		return r
	}
	defer forgetChild(cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var profile chan error
	if o.PProf != "" {
		profile = make(chan error, 1)
		secs := max(3, int(rowEstimate(d).Seconds())+1)
		go func() { profile <- fetchProfile(telemetry, secs, filepath.Join(o.PProf, "host-"+name)) }()
	}

	var heapStop chan struct{}
	var heapDone chan error
	if o.Heap != "" {
		heapStop, heapDone = make(chan struct{}), make(chan error, 1)
		hp := filepath.Join(o.Heap, "heap-"+strings.TrimSuffix(name, ".pprof")+".txt")
		go func() { heapDone <- sampleHeap(telemetry, hp, heapStop) }()
	}

	report := filepath.Join(dir, "null.json")
	deadline := time.Now().Add(rowTimeout(d))
	var (
		waitErr error
		hostCPU time.Duration // the host's own CPU time before SIGTERM
	)
	hostDone := false
	sampledFirst := false
	for {
		if _, err := os.Stat(report); err == nil {
			break
		}
		if !sampledFirst {
			if _, err := os.Stat(report + ".first"); err == nil {
				sampledFirst = true
				r.CPUFirst = treeCPU(cmd.Process.Pid)
			}
		}
		select {
		case waitErr = <-exited:
			hostDone = true
		case <-time.After(10 * time.Millisecond):
		}
		if hostDone {
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if !hostDone {
		// Memory and the plugins' CPU just before stopping, while every
		// process still runs.
		pid := cmd.Process.Pid
		r.RSSHost = procStatus(pid, "VmHWM")
		hostCPU = procCPU(pid)
		for _, c := range childPIDs(pid) {
			rss, cpu := procStatus(c, "VmHWM"), procCPU(c)
			if strings.Contains(cmdline(c), "checkpoint") {
				r.RSSStore += rss
				r.CPUStore += cpu
			} else {
				r.RSSHandler += rss
				r.CPUHandler += cpu
			}
		}
		if heapStop != nil {
			close(heapStop)
			if err := <-heapDone; err != nil {
				r.Note = strings.TrimSpace(r.Note + " no heap profile: " + err.Error())
			}
		}
		if profile != nil {
			if err := <-profile; err != nil {
				r.Note = "no profile: " + err.Error()
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case waitErr = <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			waitErr = fmt.Errorf("did not stop within 60 s of SIGTERM (killed): %v", <-exited)
		}
	}
	r.CPU = cpuOf(cmd.ProcessState)
	r.RSS = r.RSSHost + r.RSSHandler + r.RSSStore
	if waitErr != nil {
		r.Err = fmt.Errorf("kinesis-host: %v (log: %s)", waitErr, lastLines(filepath.Join(dir, "host.log"), 5))
		return r
	}
	if hostDone {
		r.Err = fmt.Errorf("kinesis-host exited before the last record (log: %s)", lastLines(filepath.Join(dir, "host.log"), 5))
		return r
	}
	rep, err := readReport(report)
	if err != nil {
		r.Err = fmt.Errorf("%v (log: %s)", err, lastLines(filepath.Join(dir, "host.log"), 5))
		return r
	}
	r.fill(rep, t0, d)
	// wait4 counts the plugins only if the host waited for them: then the
	// total is at least what host and plugins had used before SIGTERM.
	if r.CPU+20*time.Millisecond < hostCPU+r.CPUHandler+r.CPUStore {
		r.Note = strings.TrimSpace(r.Note + fmt.Sprintf(" rusage %.2f s < %.2f s sampled before SIGTERM: plugins not reaped?",
			r.CPU.Seconds(), (hostCPU+r.CPUHandler+r.CPUStore).Seconds()))
	}
	return r
}

// treeCPU is the CPU time a live process and its live children used so
// far (from /proc, 10 ms resolution).
func treeCPU(pid int) time.Duration {
	t := procCPU(pid)
	for _, c := range childPIDs(pid) {
		t += procCPU(c)
	}
	return t
}

// rowEstimate is roughly how long a row takes to read: the pacing of 5
// pages of Limit 10000 per second per shard, at least a second.
func rowEstimate(d dataset) time.Duration {
	pages := (d.PerShard + maxRecords - 1) / maxRecords
	return time.Duration(max(pages, 1)) * minCallGap * 2
}

// fetchProfile saves a CPU profile of secs seconds from the host's
// telemetry endpoint, retrying the connection while the host starts.
func fetchProfile(addr string, secs int, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		defer cancel()
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lastLines is the end of a log file, for error messages.
func lastLines(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// sampleHeap fetches the host's heap profile (debug=1 text: in-use bytes
// as of the last GC in its first line) every 200 ms until stop is closed,
// and writes the one with the most in-use bytes to path.
func sampleHeap(addr, path string, stop <-chan struct{}) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var best []byte
	bestInuse := int64(-1)
	for {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/heap?debug=1", addr))
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			var objs, inuse int64
			if rerr == nil && resp.StatusCode == http.StatusOK {
				if _, err := fmt.Sscanf(string(b), "heap profile: %d: %d", &objs, &inuse); err == nil && inuse > bestInuse {
					best, bestInuse = b, inuse
				}
			}
		}
		select {
		case <-stop:
			if best == nil {
				return fmt.Errorf("no heap profile from %s", addr)
			}
			return os.WriteFile(path, best, 0o644)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
