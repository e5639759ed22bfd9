// Package demotest tests `make run`, the demo (scripts/run-demo.sh): that its
// DEMO_* settings reach kinesis-host, and that one Ctrl-C stops everything
// it started.
package demotest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
)

const (
	// startBound: make run builds (cached in make test), installs the
	// emulators when missing, starts kinesalite, the producer, the host and
	// its plugins, and the handler logs records. A few seconds when idle.
	startBound = 90 * time.Second
	// stopBound: from the Ctrl-C until make has exited and every process it
	// started is gone. About a second today.
	stopBound = 20 * time.Second
	// wantRecords: handled records seen in the output before the Ctrl-C.
	wantRecords = 20
	// deadEndpoint is the KINESIS_ENDPOINT in make run's environment.
	deadEndpoint = "http://127.0.0.1:1"
)

// recordLine is a line the example handler logs for every record (forwarded
// by the host): "… demo record: … sequence=… shard=…" in any field order.
var recordLine = regexp.MustCompile(`\brecord: .*\bsequence=\S`)

// The roles that must have been running when the Ctrl-C was sent, by a
// substring of their command line.
var roles = map[string]string{
	"emulator":          "kinesalite.js",
	"producer":          "bin/demo-producer",
	"host":              "bin/kinesis-host run",
	"handler plugin":    "kinesis-handler-example",
	"checkpoint plugin": "kinesis-checkpoint-file",
}

// TestMakeRunCtrlC runs `make run` with a non-default DEMO_PORT and
// DEMO_STREAM in a process group of its own, as a terminal would, waits until
// the host has handled records, sends SIGINT to the group (Ctrl-C) and
// checks that make exits as interrupted and every process it started is gone
// within stopBound, and that the port is free again.
//
// KINESIS_ENDPOINT is set to a dead address: the host only sees records when
// the demo hands it its own endpoint. The stream exists only in the demo's
// emulator: the host only sees records when DEMO_STREAM reaches it too.
func TestMakeRunCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make run: builds, starts an emulator, a producer, the host and its plugins")
	}
	if runtime.GOOS != "linux" {
		t.Skip("follows the processes through /proc")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is not in PATH: %v", err)
	}
	root := testenv.RepoRoot()
	port := freePort(t)
	stream := fmt.Sprintf("demotest-%d", os.Getpid())

	// The repository's config.hcl, byte for byte, in a directory of its own:
	// the demo's checkpoints (./data, relative to the config) stay out of the
	// repository, and bin links to the repository's bin so that plugin_dir
	// ("./bin/plugins") still finds what make run builds.
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(root, "config.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.hcl"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bin"), filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(makeBin, "run")
	cmd.Dir = root
	cmd.Env = append(demoEnv(os.Environ()),
		"DEMO_PORT="+strconv.Itoa(port),
		"DEMO_STREAM="+stream,
		"DEMO_CONFIG="+filepath.Join(dir, "config.hcl"),
		"DEMO_LOG_DIR="+filepath.Join(dir, "log"),
		"DEMO_SHARDS=2",
		"DEMO_RATE=50",
		"DEMO_LOG_EVERY=2s",
		"KINESIS_ENDPOINT="+deadEndpoint, // the demo must override it
	)
	// Its own process group, like a terminal's foreground job: the SIGINT
	// below goes to make, the script and whatever stayed in the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newOutput()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw

	start := time.Now()
	if err := startWithDefaultSIGINT(cmd); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go out.read(pr)
	waited := make(chan error, 1)
	var reaped atomic.Bool
	go func() { err := cmd.Wait(); reaped.Store(true); waited <- err }()

	tr := newTracker(cmd.Process.Pid)
	stopTracking := tr.run(100 * time.Millisecond)
	t.Cleanup(func() {
		stopTracking()
		// Only after a failure is anything left: kill what this test
		// started (its group only while its leader is not reaped: after
		// that the pid may lead another test's group).
		if !reaped.Load() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		for _, p := range tr.alive() {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	fail := func(format string, args ...any) {
		t.Helper()
		t.Logf("processes seen:\n%s", tr.describe())
		t.Logf("output of make run (last lines):\n%s", out.tail(150))
		t.Fatalf(format, args...)
	}

	// 1. Wait until the demo runs: records handled, every role up.
	deadline := time.Now().Add(startBound)
	for {
		missing := tr.missing(roles)
		n := out.records()
		if n >= wantRecords && len(missing) == 0 {
			break
		}
		if strings.Contains(out.String(), deadEndpoint+"/") {
			fail("the host uses the KINESIS_ENDPOINT of the environment (%s), not the demo's", deadEndpoint)
		}
		select {
		case err := <-waited:
			fail("make run exited before the demo ran (%v); %d records handled, not running: %v", err, n, missing)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fail("after %v: %d records handled (want %d), not running: %v", startBound, n, wantRecords, missing)
		}
	}
	running := time.Since(start)
	started := tr.snapshot()

	// 2. Ctrl-C: SIGINT to the process group.
	ctrlC := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-time.After(stopBound):
		fail("make run still running %v after SIGINT", stopBound)
	}
	makeExited := time.Since(ctrlC)

	// 3. Every process it started is gone (zombies count as gone: they have
	// exited and only wait to be reaped).
	for left := tr.alive(); len(left) > 0; left = tr.alive() {
		if time.Since(ctrlC) > stopBound {
			fail("%v after SIGINT, still running: %s", stopBound, describe(left))
		}
		time.Sleep(50 * time.Millisecond)
	}
	allGone := time.Since(ctrlC)

	// 4. Exit status: make dies of the SIGINT, as an interrupted command
	// should, so that a calling shell stops too. (Exit status 130, the
	// shell's way of saying the same, is accepted.)
	if !interrupted(waitErr) {
		fail("make run after SIGINT: %v; want death by SIGINT (or exit status 130)", waitErr)
	}

	// 5. The port is free again, and the demo's temporary config is removed.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fail("port %d not free after the demo stopped: %v", port, err)
	}
	l.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, ".run-demo.*")); len(left) > 0 {
		fail("the demo left its temporary config behind: %v", left)
	}
	if strings.Contains(out.String(), deadEndpoint+"/") {
		fail("the host used the KINESIS_ENDPOINT of the environment (%s), not the demo's", deadEndpoint)
	}

	t.Logf("records handled %d s after make run started (incl. build); after SIGINT make exited in %v, all %d processes it started were gone in %v; %v",
		int(running.Seconds()), makeExited.Round(time.Millisecond), len(started), allGone.Round(time.Millisecond), waitErr)
}

// demoEnv is env without the settings the test sets itself, and without the
// outer make's flags (make test runs go test: its jobserver is not ours).
func demoEnv(env []string) []string {
	var keep []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DEMO_"), k == "KINESIS_ENDPOINT",
			k == "MAKEFLAGS", k == "MFLAGS", k == "MAKELEVEL", k == "MAKEOVERRIDES", k == "GNUMAKEFLAGS":
			continue
		}
		keep = append(keep, kv)
	}
	return keep
}

// startWithDefaultSIGINT starts cmd with SIGINT at its default disposition.
// A test binary started with SIGINT ignored (a background job of a
// non-interactive shell, as in some CI runners) would pass that on, and a
// shell cannot trap a signal that was ignored when it started: the script
// would never see the Ctrl-C. While a channel is registered for SIGINT the
// Go runtime handles it, and a forked child starts with the default.
func startWithDefaultSIGINT(cmd *exec.Cmd) error {
	if signal.Ignored(syscall.SIGINT) {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT)
		defer signal.Stop(c) // ignored again, as before
	}
	return cmd.Start()
}

func interrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ((ws.Signaled() && ws.Signal() == syscall.SIGINT) || (ws.Exited() && ws.ExitStatus() == 130))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if port == 4567 {
		t.Fatal("got the demo's default port as a free port; run again")
	}
	return port
}

// output collects the combined output of make run.
type output struct {
	mu      sync.Mutex
	lines   []string
	nRecord int
}

func newOutput() *output { return &output{} }

func (o *output) read(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		o.mu.Lock()
		o.lines = append(o.lines, line)
		if recordLine.MatchString(line) {
			o.nRecord++
		}
		o.mu.Unlock()
	}
}

func (o *output) records() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.nRecord
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

func (o *output) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lines
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// proc is one process as /proc shows it. (pid, start) names it: a pid may be
// reused once it is gone.
type proc struct {
	pid, ppid, pgid, sid int
	start                uint64 // clock ticks after boot
	state                byte
	cmdline              string
}

type procKey struct {
	pid   int
	start uint64
}

// tracker remembers every process that descends from root, polling /proc,
// so that the ones that get reparented when their parent exits are still
// known.
type tracker struct {
	root int
	mu   sync.Mutex
	seen map[procKey]proc
}

func newTracker(root int) *tracker { return &tracker{root: root, seen: map[procKey]proc{}} }

func (tr *tracker) run(every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			tr.poll()
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

func (tr *tracker) poll() {
	all := readProcs()
	children := map[int][]int{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	// Descendants of the root, and of every process seen before (an orphan
	// adopted by init or a subreaper is still ours, and so are its children).
	queue := []int{tr.root}
	for k := range tr.seen {
		if p, ok := all[k.pid]; ok && p.start == k.start {
			queue = append(queue, k.pid)
		}
	}
	visited := map[int]bool{}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if visited[pid] {
			continue
		}
		visited[pid] = true
		if p, ok := all[pid]; ok {
			k := procKey{p.pid, p.start}
			if old, ok := tr.seen[k]; ok && p.cmdline == "" {
				p.cmdline = old.cmdline
			}
			tr.seen[k] = p
		}
		queue = append(queue, children[pid]...)
	}
	// Anything else still in the demo's process group, or in a session one
	// of its processes started with setsid.
	sessions := map[int]bool{}
	for _, p := range tr.seen {
		if p.sid == p.pid {
			sessions[p.sid] = true
		}
	}
	for _, p := range all {
		if p.pgid == tr.root || sessions[p.sid] {
			tr.seen[procKey{p.pid, p.start}] = p
		}
	}
}

func (tr *tracker) snapshot() []proc {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ps []proc
	for _, p := range tr.seen {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].pid < ps[j].pid })
	return ps
}

// missing: the roles no process seen so far has played.
func (tr *tracker) missing(roles map[string]string) []string {
	var miss []string
	ps := tr.snapshot()
	for role, sub := range roles {
		found := false
		for _, p := range ps {
			if strings.Contains(p.cmdline, sub) {
				found = true
				break
			}
		}
		if !found {
			miss = append(miss, role)
		}
	}
	sort.Strings(miss)
	return miss
}

// alive: the processes seen that still run (not gone, not zombies).
func (tr *tracker) alive() []proc {
	tr.poll()
	all := readProcs()
	var left []proc
	for _, p := range tr.snapshot() {
		if q, ok := all[p.pid]; ok && q.start == p.start && q.state != 'Z' && q.state != 'X' {
			left = append(left, p)
		}
	}
	return left
}

func (tr *tracker) describe() string { return describe(tr.snapshot()) }

func describe(ps []proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  pid %d ppid %d pgid %d sid %d: %s\n", p.pid, p.ppid, p.pgid, p.sid, p.cmdline)
	}
	return b.String()
}

// readProcs reads every process's stat and command line from /proc.
func readProcs() map[int]proc {
	ents, _ := os.ReadDir("/proc")
	all := make(map[int]proc, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp session tty_nr tpgid flags minflt
		// cminflt majflt cmajflt utime stime cutime cstime priority nice
		// num_threads itrealvalue starttime …; comm may hold spaces and ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 20 {
			continue
		}
		p := proc{pid: pid, state: f[0][0]}
		p.ppid, _ = strconv.Atoi(f[1])
		p.pgid, _ = strconv.Atoi(f[2])
		p.sid, _ = strconv.Atoi(f[3])
		p.start, _ = strconv.ParseUint(f[19], 10, 64)
		if cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		}
		all[pid] = p
	}
	return all
}
