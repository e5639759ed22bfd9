package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// How long an emulator may take to start answering. Node starts in well
// under a second, but `go test ./...` runs several packages at once on two
// cores, each with its own emulators.
const startTimeout = 60 * time.Second

// installHint is appended to every "not installed" failure.
const installHint = "run `make test` (or scripts/install-emulators.sh) to install the emulators into .tools/node"

// StartKinesalite starts a fresh in-memory kinesalite (scripts/kinesalite.js)
// on a free 127.0.0.1 port, waits until it answers and returns its endpoint,
// http://127.0.0.1:PORT. The process is stopped in t.Cleanup. Streams leave
// CREATING/UPDATING/DELETING after 50 ms; the shard limit is 100.
func StartKinesalite(t testing.TB) string {
	t.Helper()
	start := time.Now()
	ep, stop, err := LaunchKinesalite()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("testenv: kinesalite at %s (started in %s)", ep, time.Since(start).Round(time.Millisecond))
	t.Cleanup(stop)
	return ep
}

// StartDynalite starts a fresh in-memory dynalite (scripts/dynalite.js) on a
// free 127.0.0.1 port and returns its endpoint; stopped in t.Cleanup.
func StartDynalite(t testing.TB) string {
	t.Helper()
	start := time.Now()
	ep, stop, err := LaunchDynalite()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("testenv: dynalite at %s (started in %s)", ep, time.Since(start).Round(time.Millisecond))
	t.Cleanup(stop)
	return ep
}

// StartKinesisMock starts a fresh kinesis-local (kinesis-mock) on free
// 127.0.0.1 ports and returns the endpoint of its plain-HTTP port; stopped in
// t.Cleanup. Extra environment settings (KEY=VALUE, e.g.
// "SHARD_LIMIT=20", "INITIALIZE_STREAMS=s1:2") override the defaults, which
// make every stream operation take 50 ms and log at WARN.
func StartKinesisMock(t testing.TB, env ...string) string {
	t.Helper()
	start := time.Now()
	ep, stop, err := LaunchKinesisMock(env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("testenv: kinesis-local at %s (started in %s)", ep, time.Since(start).Round(time.Millisecond))
	t.Cleanup(stop)
	return ep
}

// LaunchKinesalite is StartKinesalite for TestMain: the caller must call stop
// (it is idempotent and waits until the process is gone).
func LaunchKinesalite() (endpoint string, stop func(), err error) {
	return launchLite("kinesalite", "kinesalite.js", "kinesalite/package.json")
}

// LaunchDynalite is StartDynalite for TestMain; the caller must call stop.
func LaunchDynalite() (endpoint string, stop func(), err error) {
	return launchLite("dynalite", "dynalite.js", "dynalite/package.json")
}

var listeningURL = regexp.MustCompile(`listening (http://127\.0\.0\.1:\d+)`)

func launchLite(name, script, marker string) (string, func(), error) {
	root, err := safeRoot()
	if err != nil {
		return "", nil, err
	}
	if err := checkInstalled(root, name, marker); err != nil {
		return "", nil, err
	}
	p, err := startNode(name, root,
		[]string{filepath.Join(root, "scripts", script), "0", "--exit-on-stdin-eof"}, nil,
		func(line string) (string, bool) {
			if m := listeningURL.FindStringSubmatch(line); m != nil {
				return m[1], true
			}
			return "", false
		})
	if err != nil {
		return "", nil, err
	}
	return p.endpoint, p.stop, nil
}

// LaunchKinesisMock is StartKinesisMock for TestMain; the caller must call stop.
func LaunchKinesisMock(env ...string) (endpoint string, stop func(), err error) {
	root, err := safeRoot()
	if err != nil {
		return "", nil, err
	}
	const name = "kinesis-local"
	if err := checkInstalled(root, name, "kinesis-local/main.js"); err != nil {
		return "", nil, err
	}
	pkg := filepath.Join(root, ".tools", "node", "node_modules", "kinesis-local")
	// kinesis-mock takes its ports from the environment and reports nothing
	// we can tell apart, so pick the plain port here (the TLS port is 0:
	// any free port). Retry in case another process grabs it meanwhile.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		base := []string{
			"KINESIS_MOCK_CERT_PATH=" + filepath.Join(pkg, "server.json"),
			"KINESIS_MOCK_PLAIN_PORT=" + strconv.Itoa(port),
			"KINESIS_MOCK_TLS_PORT=0",
			"KINESIS_LOCAL_EXIT_ON_STDIN_EOF=1",
			"LOG_LEVEL=WARN",
			"CREATE_STREAM_DURATION=50ms",
			"DELETE_STREAM_DURATION=50ms",
			"SPLIT_SHARD_DURATION=50ms",
			"MERGE_SHARDS_DURATION=50ms",
			"UPDATE_SHARD_COUNT_DURATION=50ms",
			"REGISTER_STREAM_CONSUMER_DURATION=50ms",
			"DEREGISTER_STREAM_CONSUMER_DURATION=50ms",
			"START_STREAM_ENCRYPTION_DURATION=50ms",
			"STOP_STREAM_ENCRYPTION_DURATION=50ms",
		}
		want := "listening 127.0.0.1:" + strconv.Itoa(port)
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		p, err := startNode(name, root,
			[]string{"-r", filepath.Join(root, "scripts", "kinesis-local-loopback.js"), filepath.Join(pkg, "main.js")},
			append(base, env...),
			func(line string) (string, bool) {
				if strings.Contains(line, want) {
					return url, true
				}
				return "", false
			})
		if err == nil {
			return p.endpoint, p.stop, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "EADDRINUSE") && !strings.Contains(err.Error(), "ddress already in use") {
			break
		}
	}
	return "", nil, lastErr
}

func safeRoot() (root string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return RepoRoot(), nil
}

func checkInstalled(root, name, marker string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("testenv: cannot start %s: node is not in PATH; install Node.js >= 18, then %s", name, installHint)
	}
	p := filepath.Join(root, ".tools", "node", "node_modules", filepath.FromSlash(marker))
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("testenv: %s is not installed (%s missing); %s", name, p, installHint)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// nodeProc is one emulator process, in its own process group.
type nodeProc struct {
	name     string
	endpoint string
	cmd      *exec.Cmd
	stdin    io.WriteCloser // closing it makes the scripts exit
	out      *tailBuffer
	done     chan struct{} // closed once the process has exited
	waitErr  error
	stopOnce sync.Once
	stopping atomic.Bool // stop was called: an exit is expected
}

// startNode runs node with args in root, scans its combined output with
// ready until it yields the endpoint, then waits until the endpoint answers
// HTTP. On any failure the process is killed and the error carries the tail
// of its output.
func startNode(name, root string, args, env []string, ready func(line string) (string, bool)) (*nodeProc, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("testenv: cannot start %s: node is not in PATH; %s", name, installHint)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	pw.Close()

	p := &nodeProc{name: name, cmd: cmd, stdin: stdin, out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
		if !p.stopping.Load() {
			// A test whose emulator died sees "connection refused" on
			// every call: say here what happened to it.
			fmt.Fprintf(os.Stderr, "testenv: %s (pid %d) exited on its own: %v; its last output:\n%s\n",
				name, cmd.Process.Pid, p.waitErr, p.out.String())
		}
	}()

	verbose := os.Getenv("TESTENV_VERBOSE") != ""
	readyCh := make(chan string, 1)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.out.WriteLine(line)
			if verbose {
				fmt.Fprintf(os.Stderr, "[%s %d] %s\n", name, cmd.Process.Pid, line)
			}
			if !found {
				if ep, ok := ready(line); ok {
					found = true
					readyCh <- ep
				}
			}
		}
		// Keep draining until EOF so the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
	}()

	deadline := time.Now().Add(startTimeout)
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case ep := <-readyCh:
		p.endpoint = ep
	case <-p.done:
		return nil, p.failure("exited before listening")
	case <-timer.C:
		p.stop()
		return nil, p.failure(fmt.Sprintf("did not report listening within %s", startTimeout))
	}
	if err := p.waitAnswers(deadline); err != nil {
		p.stop()
		return nil, p.failure(err.Error())
	}
	return p, nil
}

// waitAnswers polls the endpoint until any HTTP response comes back.
func (p *nodeProc) waitAnswers(deadline time.Time) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited while starting")
		default:
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint+"/", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cancel()
			return nil
		}
		cancel()
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("did not answer HTTP at %s: %v", p.endpoint, lastErr)
}

func (p *nodeProc) failure(what string) error {
	// Give the output reader a moment to catch the last lines.
	select {
	case <-p.done:
	case <-time.After(200 * time.Millisecond):
	}
	time.Sleep(20 * time.Millisecond)
	msg := fmt.Sprintf("testenv: %s (node %s) %s", p.name, strings.Join(p.cmd.Args[1:], " "), what)
	if isClosed(p.done) && p.waitErr != nil {
		msg += " (" + p.waitErr.Error() + ")"
	}
	out := strings.TrimSpace(p.out.String())
	if out != "" {
		msg += "\noutput:\n" + out
	}
	if strings.Contains(out, "MODULE_NOT_FOUND") || strings.Contains(out, "not installed") {
		msg += "\n" + installHint
	}
	return errors.New(msg)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stop terminates the process group: SIGTERM, then SIGKILL after a grace
// period (kinesis-mock may ignore SIGTERM under load). Idempotent.
func (p *nodeProc) stop() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		pid := p.cmd.Process.Pid
		if !isClosed(p.done) {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				select {
				case <-p.done:
				case <-time.After(5 * time.Second):
				}
			}
			// Anything left in the group (there should be nothing). Only
			// here: once the process was reaped before stop, its pid may
			// lead another test's process group by now.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = p.stdin.Close()
	})
}

// tailBuffer keeps roughly the last max bytes of output lines.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
	if b.buf.Len() > 2*b.max {
		keep := b.buf.Bytes()[b.buf.Len()-b.max:]
		if i := bytes.IndexByte(keep, '\n'); i >= 0 {
			keep = keep[i+1:]
		}
		nb := append([]byte(nil), keep...)
		b.buf.Reset()
		b.buf.Write(nb)
	}
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
