package file_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/sdk"
)

func config(t testing.TB, path string, validate bool) sdk.Config {
	raw, err := json.Marshal(map[string]any{"path": path, "timeout": "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	return sdk.Config{App: "test", Name: "file", JSON: raw, ValidateOnly: validate}
}

// TestNoLeases: the file store is single-host; through the plugin
// boundary it says so.
func TestNoLeases(t *testing.T) {
	var s sdk.Store = file.New()
	if _, ok := s.(sdk.LeaseStore); ok {
		t.Fatal("the file store implements sdk.LeaseStore; it must stay single-host")
	}
	if leases, err := sdk.TestStore(t, s).Leases(context.Background()); err != nil || leases {
		t.Fatalf("Info.Leases = %v, %v; want false", leases, err)
	}
}

func wantHeld(t *testing.T, err error, path string) {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || !errors.Is(err, sdk.ErrInvalidConfig) || e.Field != "path" {
		t.Fatalf("Configure = %v; want a ConfigError on path", err)
	}
	for _, want := range []string{"another kinesis-host process", "single-host", "redis, postgres or dynamodb", path} {
		if !strings.Contains(e.Message, want) {
			t.Fatalf("message %q does not say %q", e.Message, want)
		}
	}
}

// TestSecondStoreRefused: two stores (as two hosts would) on one file.
func TestSecondStoreRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	a := file.New()
	if err := a.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file.LockPath(path)); err != nil {
		t.Fatalf("no lock file next to the checkpoint file: %v", err)
	}
	b := file.New()
	start := time.Now()
	wantHeld(t, b.Configure(ctx, config(t, path, false)), path)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("Configure gave up after %v; want it to try for the timeout (300ms)", d)
	}
	// Configuring the same file again in the same store keeps it.
	if err := a.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatalf("reconfiguring the same path: %v", err)
	}
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}
	if err := a.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}
	// Validation neither fails nor takes the lock.
	if err := b.Configure(ctx, config(t, path, true)); err != nil {
		t.Fatalf("validate while another store holds the file: %v", err)
	}
	// Once the first closes, the second gets the file.
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	defer b.Close(ctx)
	if cp, found, err := b.Get(ctx, k); err != nil || !found || cp.SequenceNumber != "5" {
		t.Fatalf("Get = %+v, %v, %v", cp, found, err)
	}
}

// TestValidateKeepsNoLock: validating leaves the file free.
func TestValidateKeepsNoLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "c.db")
	if err := file.New().Configure(ctx, config(t, path, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file.LockPath(path)); err == nil {
		t.Fatal("validate created the lock file")
	}
	s := file.New()
	if err := s.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	if err := file.New().Configure(ctx, config(t, path, true)); err != nil {
		t.Fatal(err)
	}
	s = file.New()
	start := time.Now()
	if err := s.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("Configure after a validate waited %v: validate kept the lock", d)
	}
	_ = s.Close(ctx)
}

// holderEnv makes the test binary a process that holds a checkpoint file
// (TestHolderProcess), as another host's plugin would.
const holderEnv = "KHT_FILE_HOLDER"

func TestHolderProcess(t *testing.T) {
	path := os.Getenv(holderEnv)
	if path == "" {
		return
	}
	s := file.New()
	if err := s.Configure(context.Background(), config(t, path, false)); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until killed
	os.Exit(0)
}

// TestOtherProcess: another process holds the file; when it is killed (a
// plugin restart: the old process dies, the new one starts) the lock is
// free again.
func TestOtherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHolderProcess$")
	cmd.Env = append(os.Environ(), holderEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "holding") {
		_ = cmd.Process.Kill()
		t.Fatalf("holder process: %q", line)
	}
	s := file.New()
	err = s.Configure(ctx, config(t, path, false))
	wantHeld(t, err, path)
	// The holder was started by this test process, which it records as
	// its host: the message names that pid.
	if !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Fatalf("message does not name the holder's host pid %d: %v", os.Getpid(), err)
	}
	if err := s.Configure(ctx, config(t, path, true)); err != nil {
		t.Fatalf("validate while another process holds the file: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := s.Configure(ctx, config(t, path, false)); err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	_ = s.Close(ctx)
}
