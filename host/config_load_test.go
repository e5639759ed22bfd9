package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func TestLoadConfigPathResolution(t *testing.T) {
	// A relative path: Path and Dir become absolute, diagnostics keep the
	// path as given.
	cfg, _, diags := LoadConfig(filepath.Join(configTestdata, "valid_minimal.hcl"))
	if diags.HasErrors() {
		t.Fatal(configDiagsText(diags))
	}
	if !filepath.IsAbs(cfg.Path) || !filepath.IsAbs(cfg.Dir) || filepath.Dir(cfg.Path) != cfg.Dir {
		t.Errorf("Path=%q Dir=%q", cfg.Path, cfg.Dir)
	}

	// plugin_dir and path = resolve against the file's directory, not the
	// working directory.
	dir := t.TempDir()
	src := `
app        = "paths"
plugin_dir = "../shared/plugins"
stream "s" {
  handler = "h"
}
handler "h" {
  path = "bin/my-handler"
}
checkpoint "c" {}
`
	p := filepath.Join(dir, "conf.hcl")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, files, diags := LoadConfig(p)
	compareConfigDiags(t, diags, []string{"conf.hcl:10: warning: Unused checkpoint"})
	if cfg == nil {
		t.Fatal("nil cfg")
	}
	if _, ok := files[p]; !ok {
		t.Errorf("files keys: %v", slices.Collect(maps.Keys(files)))
	}
	wantPD := filepath.Join(filepath.Dir(dir), "shared", "plugins")
	if cfg.PluginDir != wantPD {
		t.Errorf("PluginDir = %q, want %q", cfg.PluginDir, wantPD)
	}
	if got, want := cfg.Handlers["h"].Path, filepath.Join(dir, "bin", "my-handler"); got != want {
		t.Errorf("handler path = %q, want %q", got, want)
	}
	if got, want := cfg.Checkpoints["c"].Path, filepath.Join(wantPD, "kinesis-checkpoint-c"); got != want {
		t.Errorf("checkpoint path = %q, want %q", got, want)
	}
	if got, want := string(cfg.Checkpoints[DefaultCheckpointName].Config),
		mustConfigJSON(map[string]string{"path": filepath.Join(dir, "data", "checkpoints.db")}); got != want {
		t.Errorf("implicit checkpoint config = %s, want %s", got, want)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	cfg, files, diags := LoadConfig(filepath.Join(t.TempDir(), "nope.hcl"))
	if cfg != nil || files == nil || !diags.HasErrors() {
		t.Fatalf("cfg=%v files=%v diags=%v", cfg, files, diags)
	}
	if diags[0].Summary != "Cannot read config file" {
		t.Errorf("summary %q", diags[0].Summary)
	}
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, files, diags); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Cannot read config file") {
		t.Errorf("output %q", buf.String())
	}
}

func TestParseConfigInMemory(t *testing.T) {
	src := []byte("app = \"mem\"\nstream \"s\" {\n  handler = \"h\"\n}\nhandler \"h\" {}\n")
	cfg, files, diags := ParseConfig(src, "inline.hcl", "/srv/app")
	if diags.HasErrors() {
		t.Fatal(configDiagsText(diags))
	}
	if cfg.Path != "" || cfg.Dir != filepath.Clean("/srv/app") {
		t.Errorf("Path=%q Dir=%q", cfg.Path, cfg.Dir)
	}
	if cfg.PluginDir != filepath.Join("/srv/app", "bin", "plugins") {
		t.Errorf("PluginDir=%q", cfg.PluginDir)
	}
	if _, ok := files["inline.hcl"]; !ok {
		t.Errorf("files has no inline.hcl")
	}

	// An empty dir means the working directory.
	cfg, _, _ = ParseConfig(src, "inline.hcl", "")
	wd, _ := os.Getwd()
	if cfg == nil || cfg.Dir != wd {
		t.Errorf("Dir = %v, want %q", cfg, wd)
	}
}

func TestConfigEnvFunction(t *testing.T) {
	t.Setenv("KH_TEST_EMPTY", "")
	t.Setenv("KH_TEST_SET", "from-env")
	configUnsetenv(t, "KH_TEST_NOT_SET")
	for _, tt := range []struct{ expr, want string }{
		{`env("KH_TEST_SET")`, "from-env"},
		{`env("KH_TEST_SET", "dflt")`, "from-env"},
		{`env("KH_TEST_NOT_SET", "dflt")`, "dflt"},
		{`env("KH_TEST_EMPTY", "dflt")`, ""}, // set to "" counts as set
		{`"x-${env("KH_TEST_SET")}-y"`, "x-from-env-y"},
	} {
		src := fmt.Sprintf("app = \"a\"\nstream \"s\" {\n  handler = \"h\"\n}\nhandler \"h\" {\n  config {\n    v = %s\n  }\n}\n", tt.expr)
		cfg, _, diags := ParseConfig([]byte(src), "env.hcl", "/")
		if diags.HasErrors() {
			t.Errorf("%s: %s", tt.expr, configDiagsText(diags))
			continue
		}
		if got, want := string(cfg.Handlers["h"].Config), mustConfigJSON(map[string]string{"v": tt.want}); got != want {
			t.Errorf("%s: config %s, want %s", tt.expr, got, want)
		}
	}

	// An unset variable without default: the error is at the call site and
	// names the variable.
	src := "app = \"a\"\nstream \"s\" {\n  handler = \"h\"\n  checkpoint = \"c-${env(\"KH_TEST_NOT_SET\")}\"\n}\nhandler \"h\" {}\n"
	_, _, diags := ParseConfig([]byte(src), "env.hcl", "/")
	compareConfigDiags(t, diags, []string{"env.hcl:4: Error in function call"})
	if d := diags[0]; d.Subject.Start.Column != 21 || !strings.Contains(d.Detail, "KH_TEST_NOT_SET is not set") {
		t.Errorf("subject %v detail %q", d.Subject, d.Detail)
	}
}

func TestConfigWriteDiagnostics(t *testing.T) {
	_, files, diags := LoadConfig(filepath.Join(configTestdata, "invalid_enums.hcl"))
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, files, diags); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: Invalid start_position",
		`on testdata/config/invalid_enums.hcl line 6, in stream "orders":`,
		`   6:   start_position = "TRIM_HORIZONN"`,
		`start_position must be one of LATEST, TRIM_HORIZON, AT_TIMESTAMP; got "TRIM_HORIZONN".`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("color codes written to a non-terminal")
	}
}

func TestConfigDiagForField(t *testing.T) {
	dir := configTestDir(t)
	t.Setenv("KH_TEST_REGION", "r")
	t.Setenv("KH_TEST_KEY_ID", "k")
	t.Setenv("KH_TEST_SECRET", "s")
	cfg, _, diags := LoadConfig(filepath.Join(configTestdata, "valid_full.hcl"))
	if diags.HasErrors() {
		t.Fatal(configDiagsText(diags))
	}
	orders := cfg.Handlers["orders"]
	for _, tt := range []struct {
		field string
		line  int
	}{
		{"greeting", 50},
		{"limits.max", 58},
		{"tags[1]", 56},
		{"unknown", 49}, // the config block
	} {
		d := orders.DiagForField(tt.field, "Bad value", "fix it")
		if d.Severity != hcl.DiagError || d.Summary != "Bad value" || d.Detail != "fix it" {
			t.Errorf("%s: %+v", tt.field, d)
		}
		if d.Subject == nil || d.Subject.Start.Line != tt.line || d.Subject.Filename != filepath.Join(configTestdata, "valid_full.hcl") {
			t.Errorf("%s: subject %v, want line %d", tt.field, d.Subject, tt.line)
		}
	}
	// No config block: the plugin block.
	if d := cfg.Handlers["audit-log"].DiagForField("x", "s", "d"); d.Subject.Start.Line != 63 {
		t.Errorf("audit-log: subject %v", d.Subject)
	}
	// The implicit checkpoint: the stream that uses it.
	if d := cfg.Checkpoints[DefaultCheckpointName].DiagForField("path", "s", "d"); d.Subject.Start.Line != 26 {
		t.Errorf("implicit: subject %v", d.Subject)
	}
	_ = dir
}

// TestConfigFunctionPanicTrimmed: cty recovers a panic inside (1/0) % 2 and
// reports it with a goroutine dump; the loader keeps only the message.
func TestConfigFunctionPanicTrimmed(t *testing.T) {
	src := "app = \"a\"\nstream \"s\" {\n  handler = \"h\"\n  max_records = (1/0) % 2\n}\nhandler \"h\" {}\n"
	_, _, diags := ParseConfig([]byte(src), "p.hcl", "/")
	if !diags.HasErrors() {
		t.Fatal("no error")
	}
	for _, d := range diags {
		if strings.Contains(d.Detail, "goroutine") {
			t.Errorf("detail has a stack dump: %q", d.Detail)
		}
	}
}

// FuzzParseConfig checks that no input makes the loader panic, and that a
// config returned without errors is internally consistent.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(configTestdata, "*.hcl"))
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(configLeaseSrc("redis", []string{`duration = "30s"`, `renew_interval = "5s"`, `poll_interval = "2s"`, `worker_id = "w-1"`, `max_shards = 2`})))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, files, diags := ParseConfig(src, "fuzz.hcl", "/fuzz")
		if files == nil {
			t.Fatal("nil files")
		}
		var buf bytes.Buffer
		if err := WriteDiagnostics(&buf, files, diags); err != nil {
			t.Fatal(err)
		}
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatal("cfg returned with errors")
			}
			return
		}
		if cfg == nil || cfg.App == "" || len(cfg.Streams) == 0 {
			t.Fatalf("no errors but cfg = %+v", cfg)
		}
		for _, s := range cfg.Streams {
			if cfg.Handlers[s.Handler] == nil || cfg.Checkpoints[s.Checkpoint] == nil {
				t.Fatalf("stream %q references missing blocks", s.Name)
			}
			if s.MaxRecords < 1 || s.BatchMaxBytes < 64<<10 || s.PollInterval < 200*time.Millisecond {
				t.Fatalf("stream %+v out of range", s)
			}
		}
		for _, m := range []map[string]*PluginBlock{cfg.Handlers, cfg.Checkpoints} {
			for _, b := range m {
				if !json.Valid(b.Config) || !filepath.IsAbs(b.Path) || b.CallTimeout <= 0 {
					t.Fatalf("plugin block %+v", b)
				}
				if lc := b.Lease; b.Kind == KindCheckpoint && (lc.Duration < 200*time.Millisecond ||
					lc.RenewInterval <= 0 || lc.RenewInterval > lc.Duration/2 ||
					lc.PollInterval <= 0 || lc.PollInterval > lc.Duration/2 || lc.MaxShards < 0 ||
					len(lc.WorkerID) > 128 || strings.Contains(lc.WorkerID, "#")) {
					t.Fatalf("lease settings %+v", lc)
				}
			}
		}
	})
}
