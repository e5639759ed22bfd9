package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries are the executables built by BuildBinaries.
type Binaries struct {
	Dir       string // root: Dir/kinesis-host
	Host      string // Dir/kinesis-host
	PluginDir string // Dir/plugins: kinesis-handler-* and kinesis-checkpoint-*
}

// BuildBinaries builds the host, the example and test handlers and every
// checkpoint plugin into dir (normally from TestMain, into a temp dir), the
// way `make build` lays them out. The go build cache makes repeat builds
// cheap. With names (such as "kinesis-host", "kinesis-handler-recorder",
// "kinesis-checkpoint-file") only those are built.
func BuildBinaries(dir string, names ...string) (Binaries, error) {
	root, err := safeRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Dir: dir, Host: filepath.Join(dir, "kinesis-host"), PluginDir: filepath.Join(dir, "plugins")}
	if err := os.MkdirAll(b.PluginDir, 0o755); err != nil {
		return b, err
	}
	targets := map[string]string{
		"./cmd/kinesis-host":              b.Host,
		"./plugins/example":               filepath.Join(b.PluginDir, "kinesis-handler-example"),
		"./internal/testplugins/recorder": filepath.Join(b.PluginDir, "kinesis-handler-recorder"),
	}
	cps, _ := filepath.Glob(filepath.Join(root, "checkpoint", "cmd", "kinesis-checkpoint-*"))
	for _, c := range cps {
		targets["./checkpoint/cmd/"+filepath.Base(c)] = filepath.Join(b.PluginDir, filepath.Base(c))
	}
	if len(names) > 0 {
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		for pkg, out := range targets {
			if !want[filepath.Base(out)] {
				delete(targets, pkg)
			}
		}
	}
	return b, GoBuild(root, targets)
}

// GoBuild runs `go build -o out pkg` in the module at root for every
// package → output path in targets, in parallel, and returns the first
// failure with the compiler's output.
func GoBuild(root string, targets map[string]string) error {
	errs := make(chan error, len(targets))
	for pkg, out := range targets {
		go func() {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = root
			if msg, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range targets {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
