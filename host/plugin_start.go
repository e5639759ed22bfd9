package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// pluginInstance is one running plugin process.
type pluginInstance struct {
	client  *plugin.Client
	proc    *procRunner
	raw     any // *shared.HandlerClient or *shared.CheckpointClient
	started time.Time
	info    shared.InfoResponse
	sha256  string // of the bytes it was started from
}

// exited is closed when the process has exited and been reaped.
func (i *pluginInstance) exited() <-chan struct{} { return i.proc.exited }

// gone reports whether the process has exited.
func (i *pluginInstance) gone() bool {
	select {
	case <-i.proc.exited:
		return true
	default:
		return i.client.Exited()
	}
}

// binImage is a verified copy of a plugin binary: the bytes that were
// hashed are the bytes that run (a sealed memfd on Linux, a private copy
// elsewhere). A plugin's restarts reuse its image; a hot swap or a reload
// loads a new one.
type binImage struct {
	src  string   // the path it was read from
	sum  string   // hex sha256 of the bytes
	id   [2]int64 // (mtime, size) of the file when it was read
	f    *os.File // Linux: read-only descriptor of the sealed memfd
	copy string   // elsewhere: the private copy
}

func statID(fi os.FileInfo) [2]int64 { return [2]int64{fi.ModTime().UnixNano(), fi.Size()} }

// beforeExec, when set (tests), runs after a binary was verified and
// before it is executed.
var beforeExec func(path string)

// procRunner is go-plugin's runner for one plugin process. It closes
// exited as soon as the process is reaped, so the supervisor notices a
// death at once, and kills through the process handle (a pidfd on Linux),
// never through a pid that may have been reused.
type procRunner struct {
	cmd            *exec.Cmd
	name           string
	stdout, stderr io.ReadCloser
	exited         chan struct{}
	once           sync.Once
	pid            int
}

func newProcRunner(cmd *exec.Cmd, name string) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, name: name, stdout: stdout, stderr: stderr, exited: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.once.Do(func() { close(r.exited) })
	return err
}

// Kill sends SIGKILL through the process handle; after the process was
// reaped it does nothing.
func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.name }
func (r *procRunner) ID() string            { return fmt.Sprint(r.pid) }
func (r *procRunner) Diagnose(context.Context) string {
	return "the plugin exited or wrote something else than the go-plugin handshake to stdout"
}
func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

var _ runner.Runner = (*procRunner)(nil)

// loadVerified checks the binary of b and loads its image, verifying the
// bytes read against b's sha256 pin.
func loadVerified(b *PluginBlock) (*binImage, error) {
	if err := checkFile(b); err != nil {
		return nil, err
	}
	im, err := loadImage(b.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: reading %s: %v", ErrPluginNotExecutable, b.Kind, b.Name, b.Path, err)
	}
	if b.SHA256 != "" && im.sum != strings.ToLower(b.SHA256) {
		im.close()
		return nil, checksumError(b, im.sum)
	}
	return im, nil
}

// launch starts the plugin of block b from image im (loading and verifying
// a fresh one when im is nil), completes the handshake and sends it its
// config. The returned image is the one the process runs.
func (p *pluginProc) launch(ctx context.Context, b *PluginBlock, im *binImage, validateOnly bool) (*pluginInstance, *binImage, error) {
	fresh := im == nil
	if fresh {
		var err error
		if im, err = loadVerified(b); err != nil {
			return nil, nil, err
		}
	}
	inst, err := p.startImage(ctx, b, im, validateOnly)
	if err != nil {
		if fresh {
			im.close()
		}
		return nil, nil, err
	}
	return inst, im, nil
}

// startImage runs one process of im and configures it.
func (p *pluginProc) startImage(ctx context.Context, b *PluginBlock, im *binImage, validateOnly bool) (*pluginInstance, error) {
	if beforeExec != nil {
		beforeExec(b.Path)
	}
	var pr *procRunner
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.HostPluginSets(),
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			cmd := im.command()
			cmd.Dir = p.dir
			cmd.Env, cmd.Stdin = spec.Env, spec.Stdin
			setParentDeathSignal(cmd)
			var err error
			pr, err = newProcRunner(cmd, b.Path)
			return pr, err
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           p.log,
		Managed:          true,
		StartTimeout:     15 * time.Second,
		SyncStdout:       logWriter{p.log, "stdout"},
		SyncStderr:       logWriter{p.log, "stderr"},
	}
	client, err := spawn(cfg)
	var rpcClient plugin.ClientProtocol
	if err == nil {
		rpcClient, err = client.Client()
	}
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%w: %s: %v\nCheck that the file is a kinesis-host plugin built for %s/%s whose main calls sdk.Serve or sdk.ServeCheckpoint, and that it writes nothing to stdout before serving (run it by hand: it should say it is a plugin)",
			ErrPluginStart, p, err, runtime.GOOS, runtime.GOARCH)
	}
	inst := &pluginInstance{client: client, proc: pr, started: time.Now(), sha256: im.sum}
	name := shared.HandlerPluginName
	if b.Kind == KindCheckpoint {
		name = shared.CheckpointPluginName
	}
	raw, err := rpcClient.Dispense(name)
	if err != nil {
		hardKill(inst)
		hint := "rebuild it against this version of the sdk"
		if strings.Contains(err.Error(), "unknown plugin") {
			other := "checkpoint"
			if b.Kind == KindCheckpoint {
				other = "handler"
			}
			hint = fmt.Sprintf("it is probably a %s plugin: a %s binary must call sdk.%s", other, b.Kind,
				map[PluginKind]string{KindHandler: "Serve", KindCheckpoint: "ServeCheckpoint"}[b.Kind])
		}
		return nil, fmt.Errorf("%w: %s is not a %s plugin (%v); %s", ErrPluginStart, p, b.Kind, err, hint)
	}
	inst.raw = raw
	cctx, cancel := context.WithTimeout(ctx, b.CallTimeout)
	defer cancel()
	req := shared.ConfigureRequest{App: p.app, Name: b.Name, Config: b.Config, ValidateOnly: validateOnly}
	var cerr error
	switch c := raw.(type) {
	case *shared.HandlerClient:
		inst.info, _ = c.Info(cctx)
		cerr = c.Configure(cctx, req)
	case *shared.CheckpointClient:
		inst.info, _ = c.Info(cctx)
		cerr = c.Configure(cctx, req)
	}
	if cerr != nil {
		hardKill(inst)
		return nil, &PluginConfigError{Block: b, Err: cerr}
	}
	return inst, nil
}

// hardKill kills the process through its handle and releases the client.
func hardKill(inst *pluginInstance) {
	if inst.proc != nil {
		_ = inst.proc.Kill(context.Background())
	}
	inst.client.Kill()
}

// stopClient asks the plugin to quit and kills it if it has not within d
// (a frozen plugin never answers go-plugin's polite Kill).
func stopClient(inst *pluginInstance, d time.Duration) {
	done := make(chan struct{})
	go func() { inst.client.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		hardKill(inst)
	}
}

// PluginConfigError is a plugin's rejection of its config {} block. Field
// names the attribute at fault when the plugin said which.
type PluginConfigError struct {
	Block *PluginBlock
	Err   error
}

func (e *PluginConfigError) Error() string {
	if errors.Is(e.Err, sdk.ErrUnavailable) {
		return fmt.Sprintf("%s %q could not reach its backend: %v", e.Block.Kind, e.Block.Name, e.Err)
	}
	return fmt.Sprintf("%s %q rejected its config: %v", e.Block.Kind, e.Block.Name, e.Err)
}

// Unwrap returns both ErrPluginConfig and the plugin's own error.
func (e *PluginConfigError) Unwrap() []error { return []error{ErrPluginConfig, e.Err} }

// Field is the config attribute at fault, or "".
func (e *PluginConfigError) Field() string {
	var we *shared.Error
	if errors.As(e.Err, &we) {
		return we.Field
	}
	return ""
}

// checkFile checks that the plugin file exists and is an executable
// regular file.
func checkFile(b *PluginBlock) error {
	fi, err := os.Stat(b.Path)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %s does not exist; build it (make build) or fix plugin/path in the %s block (a %s plugin named %q must be at <plugin_dir>/kinesis-%s-%s)",
			ErrPluginNotFound, b.Kind, b.Name, b.Path, b.Kind, b.Kind, b.Plugin, b.Kind, b.Plugin)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s %q: %s is not a regular file", ErrPluginNotExecutable, b.Kind, b.Name, b.Path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s %q: %s is not executable; run: chmod +x %s", ErrPluginNotExecutable, b.Kind, b.Name, b.Path, b.Path)
	}
	return nil
}

// checkBinary verifies the plugin file (validate's diagnostics; starts
// verify the bytes they execute, see loadVerified).
func checkBinary(b *PluginBlock) error {
	if err := checkFile(b); err != nil {
		return err
	}
	if b.SHA256 != "" {
		sum, err := fileSHA256(b.Path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrPluginNotExecutable, b.Path, err)
		}
		if sum != strings.ToLower(b.SHA256) {
			return checksumError(b, sum)
		}
	}
	return nil
}

func checksumError(b *PluginBlock, sum string) error {
	return fmt.Errorf("%w: %s %q: %s\n  expected sha256 %s (config.hcl)\n  actual   sha256 %s\nIf you rebuilt or upgraded the plugin on purpose, update sha256 in the %s block; otherwise do not run this file",
		ErrChecksumMismatch, b.Kind, b.Name, b.Path, strings.ToLower(b.SHA256), sum, b.Kind)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// logWriter sends raw plugin output (anything not written through its
// logger) into the host log under the plugin's name.
type logWriter struct {
	log    hclog.Logger
	stream string
}

func (w logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" {
			w.log.Info(line, "stream", w.stream)
		}
	}
	return len(b), nil
}

// binaryID is (modification time, size) of a file, zero when unreadable.
func binaryID(path string) [2]int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return [2]int64{}
	}
	return statID(fi)
}
