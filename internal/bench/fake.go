package main

// The fake Kinesis helper process: host/kinesisfake filled with one data
// set and served over TLS with HTTP/2 (kinesisfake.NewServer), in its own
// process so that no consumer's CPU or memory figures include it.

import (
	"bufio"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// streamName is the stream every data set is put into.
const streamName = "bench"

// dataset is what the fake holds: shards × perShard records of size bytes.
type dataset struct {
	Shards   int `json:"shards"`
	PerShard int `json:"per_shard"`
	Size     int `json:"size"`
}

// total is the number of records in the data set.
func (d dataset) total() int64 { return int64(d.Shards) * int64(d.PerShard) }

func (d dataset) String() string {
	return fmt.Sprintf("%d × %d × %s", d.Shards, d.PerShard, sizeName(d.Size))
}

// sizeName prints a record size as the tables do: 100 B, 1 KiB.
func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// fakeArgs are the fake helper's arguments (KINESIS_BENCH_ARGS, JSON).
type fakeArgs struct {
	Data dataset `json:"data"`
	Dir  string  `json:"dir"` // where the CA certificate is written
	// StockJSON answers GetRecords with the Front's own encoding/json
	// encoder instead of fastGetRecords.
	StockJSON bool `json:"stock_json"`
}

// runFake is the fake helper's main: fill the fake, serve it, print
// "READY <url> <ca file> <put seconds>" on stdout, and serve until stdin
// is closed (the benchmark closes it, or dies).
func runFake(a fakeArgs) error {
	if path := os.Getenv("KINESIS_BENCH_FAKE_PROFILE"); path != "" {
		// A CPU profile of the fake itself, for looking into the harness.
		pf, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
		defer pprof.StopCPUProfile()
	}
	f := kinesisfake.New()
	if err := f.CreateStream(streamName, a.Data.Shards); err != nil {
		return err
	}
	t0 := time.Now()
	// Incompressible data, different for every record: a random pool read
	// at a moving offset.
	pool := make([]byte, 1<<20+a.Data.Size)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(pool)
	off := 0
	for _, sh := range f.Shards(streamName) {
		id := *sh.ShardId
		for i := range a.Data.PerShard {
			data := pool[off : off+a.Data.Size]
			off = (off + 4099) % (1 << 20)
			if _, err := f.PutRecordToShard(streamName, id, fmt.Sprintf("pk-%d", i), data); err != nil {
				return err
			}
		}
	}
	put := time.Since(t0)
	// As kinesisfake.NewServer does (TLS, HTTP/2), with the fast
	// GetRecords answer in front of the Front.
	fr := f.Handler()
	var h http.Handler = &fastGetRecords{f: f, front: fr}
	if a.StockJSON {
		h = fr
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ConnContext = fr.ConnContext
	srv.StartTLS()
	defer func() {
		fr.Close()
		srv.Close()
	}()
	ca := filepath.Join(a.Dir, "fake-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		return err
	}
	fmt.Printf("READY %s %s %.3f\n", srv.URL, ca, put.Seconds())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// fakeProc is a running fake helper.
type fakeProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	URL   string
	CA    string
	Put   time.Duration // how long filling the fake took
}

// startFake starts a fake helper holding d and waits until it serves.
func startFake(d dataset, dir string, stockJSON bool) (*fakeProc, error) {
	cmd, err := roleCommand(roleFake, fakeArgs{Data: d, Dir: dir, StockJSON: stockJSON}, os.Environ())
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startChild(cmd); err != nil {
		return nil, err
	}
	p := &fakeProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 4 || f[0] != "READY" {
		p.stop()
		return nil, fmt.Errorf("fake Kinesis did not start (%q, %v)", line, err)
	}
	p.URL, p.CA = f[1], f[2]
	var secs float64
	_, _ = fmt.Sscan(f[3], &secs)
	p.Put = time.Duration(secs * float64(time.Second))
	return p, nil
}

// stop ends the fake helper and returns the CPU time it used.
func (p *fakeProc) stop() time.Duration {
	_ = p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	forgetChild(p.cmd)
	return cpuOf(p.cmd.ProcessState)
}

// awsEnv is the environment every consumer runs with: the fake's
// certificate trusted (AWS_CA_BUNDLE) and nothing read from the user's
// AWS configuration.
func awsEnv(ca string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "AWS_CA_BUNDLE="+ca, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1")
}

var errIncomplete = errors.New("not every record arrived")
