package host

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

const configTestdata = "testdata/config"

// configDiagStrings renders diags as "file:line: summary" (warnings as
// "file:line: warning: summary"), file being the base name.
func configDiagStrings(diags hcl.Diagnostics) []string {
	out := make([]string, 0, len(diags))
	for _, d := range diags {
		pos := "-"
		if d.Subject != nil {
			pos = fmt.Sprintf("%s:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
		}
		sev := ""
		if d.Severity == hcl.DiagWarning {
			sev = "warning: "
		}
		out = append(out, fmt.Sprintf("%s: %s%s", pos, sev, d.Summary))
	}
	return out
}

func compareConfigDiags(t *testing.T, diags hcl.Diagnostics, want []string) {
	t.Helper()
	got := configDiagStrings(diags)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics mismatch\ngot:\n  %s\nwant:\n  %s\nfull:\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), configDiagsText(diags))
	}
}

func configDiagsText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s\n", d.Error())
	}
	return b.String()
}

// configUnsetenv unsets name for the duration of the test.
func configUnsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // registers the restore
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func configTestDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(configTestdata)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// configRangeLines maps names of the ranges in cfg to their start lines, for
// checking that diagnostics will point at the right place.
func configRangeLines(cfg *Config) map[string]int {
	m := map[string]int{"kinesis": cfg.Kinesis.Range.Start.Line}
	for _, s := range cfg.Streams {
		p := "stream[" + s.Name + "]."
		m[p+"def"] = s.DefRange.Start.Line
		m[p+"handler"] = s.HandlerRange.Start.Line
		m[p+"checkpoint"] = s.CheckpointRange.Start.Line
	}
	for kind, blocks := range map[string]map[string]*PluginBlock{"handler": cfg.Handlers, "checkpoint": cfg.Checkpoints} {
		for name, b := range blocks {
			p := kind + "[" + name + "]."
			m[p+"def"] = b.DefRange.Start.Line
			m[p+"plugin"] = b.PluginRange.Start.Line
			m[p+"config"] = b.ConfigRange.Start.Line
			m[p+"lease"] = b.Lease.Range.Start.Line
			for attr, r := range b.ConfigAttrs {
				m[p+"attr."+attr] = r.Start.Line
			}
		}
	}
	return m
}

// configWithoutRanges returns a deep copy of cfg with every hcl.Range and
// ConfigAttrs cleared (they are checked with configRangeLines), and Config
// JSON re-indented canonically.
func configWithoutRanges(t *testing.T, cfg *Config) *Config {
	t.Helper()
	c := *cfg
	c.Kinesis.Range = hcl.Range{}
	c.Streams = nil
	for _, s := range cfg.Streams {
		sc := *s
		sc.DefRange, sc.HandlerRange, sc.CheckpointRange = hcl.Range{}, hcl.Range{}, hcl.Range{}
		c.Streams = append(c.Streams, &sc)
	}
	strip := func(in map[string]*PluginBlock) map[string]*PluginBlock {
		out := map[string]*PluginBlock{}
		for k, b := range in {
			bc := *b
			bc.DefRange, bc.PluginRange, bc.ConfigRange, bc.Lease.Range = hcl.Range{}, hcl.Range{}, hcl.Range{}, hcl.Range{}
			bc.ConfigAttrs = nil
			if !json.Valid(bc.Config) {
				t.Errorf("%s %q: Config is not valid JSON: %s", b.Kind, k, bc.Config)
			}
			out[k] = &bc
		}
		return out
	}
	c.Handlers = strip(cfg.Handlers)
	c.Checkpoints = strip(cfg.Checkpoints)
	return &c
}

func compareConfig(t *testing.T, got, want *Config) {
	t.Helper()
	g := configWithoutRanges(t, got)
	if g.Path != want.Path || g.Dir != want.Dir || g.App != want.App || g.PluginDir != want.PluginDir ||
		g.LogLevel != want.LogLevel || g.ShutdownTimeout != want.ShutdownTimeout {
		t.Errorf("top level:\ngot  Path=%q Dir=%q App=%q PluginDir=%q LogLevel=%q ShutdownTimeout=%v\nwant Path=%q Dir=%q App=%q PluginDir=%q LogLevel=%q ShutdownTimeout=%v",
			g.Path, g.Dir, g.App, g.PluginDir, g.LogLevel, g.ShutdownTimeout,
			want.Path, want.Dir, want.App, want.PluginDir, want.LogLevel, want.ShutdownTimeout)
	}
	if g.Kinesis != want.Kinesis {
		t.Errorf("kinesis:\ngot  %+v\nwant %+v", g.Kinesis, want.Kinesis)
	}
	if len(g.Streams) != len(want.Streams) {
		t.Errorf("got %d streams, want %d", len(g.Streams), len(want.Streams))
	}
	for i := range min(len(g.Streams), len(want.Streams)) {
		gs, ws := *g.Streams[i], *want.Streams[i]
		if !gs.StartTimestamp.Equal(ws.StartTimestamp) {
			t.Errorf("stream %d StartTimestamp = %v, want %v", i, gs.StartTimestamp, ws.StartTimestamp)
		}
		gs.StartTimestamp, ws.StartTimestamp = time.Time{}, time.Time{}
		if gs != ws {
			t.Errorf("stream %d:\ngot  %+v\nwant %+v", i, gs, ws)
		}
	}
	for kind, pair := range map[string][2]map[string]*PluginBlock{
		"handler":    {g.Handlers, want.Handlers},
		"checkpoint": {g.Checkpoints, want.Checkpoints},
	} {
		gm, wm := pair[0], pair[1]
		for name, wb := range wm {
			gb, ok := gm[name]
			if !ok {
				t.Errorf("%s %q missing", kind, name)
				continue
			}
			if !reflect.DeepEqual(gb, wb) {
				t.Errorf("%s %q:\ngot  %+v\n     config %s\nwant %+v\n     config %s", kind, name, *gb, gb.Config, *wb, wb.Config)
			}
		}
		for name := range gm {
			if _, ok := wm[name]; !ok {
				t.Errorf("unexpected %s %q", kind, name)
			}
		}
	}
}

// configDefaultStream is a stream with every default, as the tests expect
// them (written out rather than taken from cfgDefaults, so that a changed
// default is noticed).
func configDefaultStream(name, handler, checkpoint string) *StreamConfig {
	return &StreamConfig{
		Name:                name,
		Handler:             handler,
		Checkpoint:          checkpoint,
		StartPosition:       "LATEST",
		MaxRecords:          10000,
		BatchMaxRecords:     1000,
		BatchMaxBytes:       4 << 20,
		PollInterval:        time.Second,
		ShardSyncInterval:   30 * time.Second,
		OnExpiredCheckpoint: "trim_horizon",
		Consumer:            "polling",
	}
}

var configDefaultRestart = RestartPolicy{
	MaxRestarts: 5,
	Window:      10 * time.Minute,
	Backoff:     time.Second,
	MaxBackoff:  time.Minute,
	OnExhausted: "exit",
}

// configDefaultLease is a checkpoint block's lease settings without a
// lease {} block.
var configDefaultLease = LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond}

func configPlugin(kind PluginKind, name, plugin, path, configJSON string) *PluginBlock {
	timeout := 30 * time.Second
	var lease LeaseConfig
	if kind == KindCheckpoint {
		timeout = 10 * time.Second
		lease = configDefaultLease
	}
	return &PluginBlock{
		Kind:        kind,
		Name:        name,
		Plugin:      plugin,
		Path:        path,
		CallTimeout: timeout,
		Restart:     configDefaultRestart,
		Failure:     FailurePolicy{OnFailure: "stop", MaxAttempts: 1, RetryBackoff: time.Second},
		Lease:       lease,
		Config:      []byte(configJSON),
	}
}

func configImplicitCheckpoint(dir, pluginDir string) *PluginBlock {
	p := configPlugin(KindCheckpoint, "default", "file", filepath.Join(pluginDir, "kinesis-checkpoint-file"),
		mustConfigJSON(map[string]string{"path": filepath.Join(dir, "data", "checkpoints.db")}))
	p.Implicit = true
	return p
}

func mustConfigJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestConfigValidFiles(t *testing.T) {
	dir := configTestDir(t)
	tests := []struct {
		file      string
		setenv    map[string]string
		unsetenv  []string
		want      func() *Config
		wantDiags []string
		lines     map[string]int // subset of configRangeLines
	}{
		{
			file: "valid_sample.hcl",
			want: func() *Config {
				pd := filepath.Join(dir, "bin", "plugins")
				s := configDefaultStream("demo", "example", "local")
				s.StartPosition = "TRIM_HORIZON"
				s.PollInterval = 250 * time.Millisecond
				return &Config{
					Path: filepath.Join(dir, "valid_sample.hcl"), Dir: dir, App: "demo", PluginDir: pd,
					LogLevel: "info", ShutdownTimeout: 30 * time.Second,
					Kinesis: KinesisConfig{Region: "us-east-1", Endpoint: "http://127.0.0.1:4567"},
					Streams: []*StreamConfig{s},
					Handlers: map[string]*PluginBlock{
						"example": configPlugin(KindHandler, "example", "example",
							filepath.Join(pd, "kinesis-handler-example"), `{"prefix":"demo"}`),
					},
					Checkpoints: map[string]*PluginBlock{
						// Paths inside config {} belong to the plugin and are passed verbatim.
						"local": configPlugin(KindCheckpoint, "local", "file",
							filepath.Join(pd, "kinesis-checkpoint-file"), `{"path":"./data/checkpoints.db"}`),
					},
				}
			},
			lines: map[string]int{
				"kinesis":                      3,
				"stream[demo].def":             7,
				"stream[demo].handler":         8,
				"stream[demo].checkpoint":      9,
				"handler[example].def":         14,
				"handler[example].plugin":      15,
				"handler[example].config":      16,
				"handler[example].attr.prefix": 16,
				"checkpoint[local].plugin":     19,
				"checkpoint[local].attr.path":  20,
				"checkpoint[local].lease":      18, // no lease block: the checkpoint block
			},
		},
		{
			file: "valid_minimal.hcl",
			want: func() *Config {
				pd := filepath.Join(dir, "bin", "plugins")
				return &Config{
					Path: filepath.Join(dir, "valid_minimal.hcl"), Dir: dir, App: "minimal", PluginDir: pd,
					LogLevel: "info", ShutdownTimeout: 30 * time.Second,
					Streams: []*StreamConfig{configDefaultStream("orders", "orders", DefaultCheckpointName)},
					Handlers: map[string]*PluginBlock{
						"orders": configPlugin(KindHandler, "orders", "orders", filepath.Join(pd, "kinesis-handler-orders"), `{}`),
					},
					Checkpoints: map[string]*PluginBlock{"default": configImplicitCheckpoint(dir, pd)},
				}
			},
			lines: map[string]int{
				"kinesis":                    0,
				"stream[orders].def":         5,
				"stream[orders].handler":     6,
				"stream[orders].checkpoint":  5, // absent: the block header
				"handler[orders].plugin":     9, // absent: the block header
				"handler[orders].config":     9,
				"checkpoint[default].def":    5, // implicit: the first stream using it
				"checkpoint[default].plugin": 5,
				"checkpoint[default].config": 5,
				"checkpoint[default].lease":  5,
				"handler[orders].lease":      0, // handlers have no lease settings
			},
		},
		{
			file: "valid_full.hcl",
			setenv: map[string]string{
				"KH_TEST_REGION": "eu-central-1",
				"KH_TEST_KEY_ID": "AKIDTEST",
				"KH_TEST_SECRET": "SECRET",
				"KH_TEST_HOME":   "/home/test",
			},
			unsetenv: []string{"KH_TEST_APP", "KH_TEST_REDIS_ADDR"},
			want: func() *Config {
				pd := filepath.Join(dir, "plugins")
				s1 := configDefaultStream("orders-v2.events_1", "orders", "redis")
				s1.StartPosition = "AT_TIMESTAMP"
				s1.StartTimestamp = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
				s1.MaxRecords = 500
				s1.BatchMaxRecords = 200
				s1.BatchMaxBytes = 512 << 10
				s1.PollInterval = 200 * time.Millisecond
				s1.ShardSyncInterval = time.Minute
				s2 := configDefaultStream("payments", "orders", DefaultCheckpointName)
				s2.BatchMaxBytes = 1 << 20
				s3 := configDefaultStream("audit", "audit-log", DefaultCheckpointName)
				s3.BatchMaxBytes = 1_500_000

				orders := configPlugin(KindHandler, "orders", "orders_v2", filepath.Join(pd, "kinesis-handler-orders_v2"),
					`{"big":9007199254740993,"count":3,"enabled":true,"greeting":"hi <there> & \"friends\"","home":"/home/test",`+
						`"limits":{"max":10,"name":"x"},"mixed":[1,"two",false],"nothing":null,"ratio":0.25,"tags":["a","b"]}`)
				orders.SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
				orders.CallTimeout = time.Minute
				orders.Restart = RestartPolicy{MaxRestarts: 0, Window: time.Hour, Backoff: 2 * time.Minute, MaxBackoff: 5 * time.Minute, OnExhausted: "continue"}
				audit := configPlugin(KindHandler, "audit-log", "audit-log", filepath.Join(filepath.Dir(dir), "tools", "audit"), `{}`)
				audit.Restart.Backoff = 10 * time.Millisecond
				redis := configPlugin(KindCheckpoint, "redis", "redis", "/opt/kinesis/redis-checkpoint", `{"addr":"127.0.0.1:6379","db":2}`)

				return &Config{
					Path: filepath.Join(dir, "valid_full.hcl"), Dir: dir, App: "fallback-app", PluginDir: pd,
					LogLevel: "debug", ShutdownTimeout: 45 * time.Second,
					Kinesis: KinesisConfig{
						Region: "eu-central-1", Endpoint: "https://kinesis.example.test",
						AccessKeyID: "AKIDTEST", SecretAccessKey: "SECRET", SessionToken: "token-AKIDTEST",
					},
					Streams:     []*StreamConfig{s1, s2, s3},
					Handlers:    map[string]*PluginBlock{"orders": orders, "audit-log": audit},
					Checkpoints: map[string]*PluginBlock{"redis": redis, "default": configImplicitCheckpoint(dir, pd)},
				}
			},
			lines: map[string]int{
				"kinesis":                               6,
				"stream[orders-v2.events_1].def":        14,
				"stream[orders-v2.events_1].handler":    15,
				"stream[orders-v2.events_1].checkpoint": 16,
				"stream[payments].checkpoint":           28, // checkpoint = "" still points at the attribute
				"stream[audit].checkpoint":              34,
				"handler[orders].plugin":                39,
				"handler[orders].config":                49,
				"handler[orders].attr.greeting":         50,
				"handler[orders].attr.home":             59,
				"handler[audit-log].plugin":             64, // path = wins
				"handler[audit-log].config":             63,
				"checkpoint[redis].plugin":              71,
				"checkpoint[redis].attr.db":             74,
				"checkpoint[default].def":               26, // first stream using it: payments
			},
		},
		{
			file: "valid_unused.hcl",
			want: func() *Config {
				pd := filepath.Join(dir, "bin", "plugins")
				return &Config{
					Path: filepath.Join(dir, "valid_unused.hcl"), Dir: dir, App: "unused", PluginDir: pd,
					LogLevel: "info", ShutdownTimeout: 30 * time.Second,
					Streams: []*StreamConfig{configDefaultStream("orders", "orders", "local")},
					Handlers: map[string]*PluginBlock{
						"orders": configPlugin(KindHandler, "orders", "orders", filepath.Join(pd, "kinesis-handler-orders"), `{}`),
						"spare":  configPlugin(KindHandler, "spare", "example", filepath.Join(pd, "kinesis-handler-example"), `{}`),
					},
					Checkpoints: map[string]*PluginBlock{
						"local": configPlugin(KindCheckpoint, "local", "file", filepath.Join(pd, "kinesis-checkpoint-file"), `{}`),
						"redis": configPlugin(KindCheckpoint, "redis", "redis", filepath.Join(pd, "kinesis-checkpoint-redis"), `{}`),
					},
				}
			},
			wantDiags: []string{
				"valid_unused.hcl:10: warning: Unused handler",
				"valid_unused.hcl:18: warning: Unused checkpoint",
			},
		},
		{
			file: "valid_default_block.hcl",
			want: func() *Config {
				pd := "/usr/lib/kinesis-host/plugins"
				return &Config{
					Path: filepath.Join(dir, "valid_default_block.hcl"), Dir: dir, App: "explicit-default", PluginDir: pd,
					LogLevel: "info", ShutdownTimeout: 30 * time.Second,
					Streams: []*StreamConfig{configDefaultStream("orders", "orders", DefaultCheckpointName)},
					Handlers: map[string]*PluginBlock{
						"orders": configPlugin(KindHandler, "orders", "orders", filepath.Join(pd, "kinesis-handler-orders"), `{}`),
					},
					Checkpoints: map[string]*PluginBlock{
						"default": configPlugin(KindCheckpoint, "default", "redis", filepath.Join(pd, "kinesis-checkpoint-redis"), `{"addr":"127.0.0.1:6379"}`),
					},
				}
			},
			lines: map[string]int{"checkpoint[default].def": 11},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".hcl"), func(t *testing.T) {
			for k, v := range tt.setenv {
				t.Setenv(k, v)
			}
			for _, k := range tt.unsetenv {
				configUnsetenv(t, k)
			}
			cfg, files, diags := LoadConfig(filepath.Join(configTestdata, tt.file))
			compareConfigDiags(t, diags, tt.wantDiags)
			if len(files) != 1 {
				t.Errorf("files has %d entries, want 1", len(files))
			}
			if cfg == nil {
				t.Fatal("cfg is nil")
			}
			compareConfig(t, cfg, tt.want())
			lines := configRangeLines(cfg)
			for k, want := range tt.lines {
				if got, ok := lines[k]; !ok || got != want {
					t.Errorf("range %s: line %d (present %v), want %d", k, got, ok, want)
				}
			}
		})
	}
}

func TestConfigInvalidFiles(t *testing.T) {
	tests := []struct {
		file    string
		setenv  map[string]string
		unset   []string
		want    []string
		details map[int][]string // diagnostic index -> substrings its Detail must contain
	}{
		{
			file: "invalid_missing_app.hcl",
			want: []string{"invalid_missing_app.hcl:1: Missing app"},
		},
		{
			file: "invalid_empty_app.hcl",
			want: []string{"invalid_empty_app.hcl:1: Invalid app"},
		},
		{
			file: "invalid_no_streams.hcl",
			want: []string{
				"invalid_no_streams.hcl:1: No stream blocks",
				"invalid_no_streams.hcl:3: warning: Unused handler",
			},
		},
		{
			file: "invalid_duplicates.hcl",
			want: []string{
				"invalid_duplicates.hcl:7: Duplicate stream",
				"invalid_duplicates.hcl:13: Duplicate handler",
				"invalid_duplicates.hcl:17: warning: Unused checkpoint",
				"invalid_duplicates.hcl:21: Duplicate checkpoint",
				"invalid_duplicates.hcl:29: Duplicate kinesis block",
			},
			details: map[int][]string{0: {"already declared at", "invalid_duplicates.hcl:3"}},
		},
		{
			file: "invalid_undeclared.hcl",
			want: []string{
				"invalid_undeclared.hcl:4: Reference to undeclared handler",
				"invalid_undeclared.hcl:5: Reference to undeclared checkpoint",
				"invalid_undeclared.hcl:9: Reference to undeclared handler",
				"invalid_undeclared.hcl:10: Reference to undeclared checkpoint",
				"invalid_undeclared.hcl:13: warning: Unused handler",
				"invalid_undeclared.hcl:15: warning: Unused handler",
				"invalid_undeclared.hcl:17: warning: Unused checkpoint",
			},
			details: map[int][]string{
				0: {`Did you mean "example"?`, `Declared handlers: "example", "other".`},
				1: {`Did you mean "redis"?`, `Declared checkpoints: "redis".`},
				2: {`Declared handlers: "example", "other".`},
			},
		},
		{
			file: "invalid_undeclared_none.hcl",
			want: []string{
				"invalid_undeclared_none.hcl:4: Reference to undeclared handler",
				"invalid_undeclared_none.hcl:5: Reference to undeclared checkpoint",
			},
			details: map[int][]string{0: {"declares no handler blocks", `handler "orders" {`}},
		},
		{
			file: "invalid_missing_handler.hcl",
			want: []string{
				"invalid_missing_handler.hcl:3: Missing handler",
				"invalid_missing_handler.hcl:7: warning: Unused handler",
			},
		},
		{
			file:  "invalid_empty_handler.hcl",
			unset: []string{"KH_TEST_EMPTY_HANDLER"},
			want: []string{
				"invalid_empty_handler.hcl:4: Missing handler",
				"invalid_empty_handler.hcl:8: Missing handler",
				"invalid_empty_handler.hcl:11: warning: Unused handler",
			},
		},
		{
			file: "invalid_enums.hcl",
			want: []string{
				"invalid_enums.hcl:2: Invalid log_level",
				"invalid_enums.hcl:6: Invalid start_position",
				"invalid_enums.hcl:11: Invalid start_position",
				"invalid_enums.hcl:16: Invalid on_exhausted",
			},
			details: map[int][]string{
				0: {`log_level must be one of trace, debug, info, warn, error; got "verbose".`},
				1: {`start_position must be one of LATEST, TRIM_HORIZON, AT_TIMESTAMP; got "TRIM_HORIZONN".`, `Did you mean "TRIM_HORIZON"?`},
				2: {`Did you mean "LATEST"?`},
			},
		},
		{
			file: "invalid_durations.hcl",
			want: []string{
				"invalid_durations.hcl:2: Invalid shutdown_timeout",
				"invalid_durations.hcl:6: Invalid poll_interval",
				"invalid_durations.hcl:7: Invalid shard_sync_interval",
				"invalid_durations.hcl:12: Invalid poll_interval",
				"invalid_durations.hcl:17: Invalid poll_interval",
				"invalid_durations.hcl:21: Invalid call_timeout",
			},
			details: map[int][]string{
				1: {`got "fast"`, `"250ms"`},
				2: {"at least 1s"},
				3: {"at least 200ms", "5 GetRecords"},
				4: {`got "1"`},
			},
		},
		{
			file: "invalid_sizes.hcl",
			want: []string{
				"invalid_sizes.hcl:5: Invalid batch_max_bytes",
				"invalid_sizes.hcl:10: Invalid batch_max_bytes",
				"invalid_sizes.hcl:15: Invalid batch_max_bytes",
				"invalid_sizes.hcl:20: Invalid batch_max_bytes",
				"invalid_sizes.hcl:25: Invalid batch_max_bytes",
				"invalid_sizes.hcl:30: Invalid batch_max_bytes",
			},
			details: map[int][]string{
				0: {`unknown unit "megs"`},
				1: {"between 64KiB and 64MiB", `got "1KiB"`},
				2: {"got 1000000000"},
				4: {"whole number of bytes"},
				5: {"not a whole number of bytes"},
			},
		},
		{
			file: "invalid_numbers.hcl",
			want: []string{
				"invalid_numbers.hcl:5: Invalid max_records",
				"invalid_numbers.hcl:6: Invalid batch_max_records",
				"invalid_numbers.hcl:11: Invalid max_records",
				"invalid_numbers.hcl:12: Incorrect attribute value type",
				"invalid_numbers.hcl:17: Invalid max_records",
			},
			details: map[int][]string{
				0: {"max_records must be between 1 and 10000; got 0."},
				2: {"whole number"},
			},
		},
		{
			file: "invalid_timestamps.hcl",
			want: []string{
				"invalid_timestamps.hcl:5: Missing start_timestamp",
				"invalid_timestamps.hcl:10: Unexpected start_timestamp",
				"invalid_timestamps.hcl:16: Invalid start_timestamp",
				"invalid_timestamps.hcl:22: Unexpected start_timestamp",
			},
		},
		{
			file: "invalid_sha256.hcl",
			want: []string{
				"invalid_sha256.hcl:9: Invalid sha256",
				"invalid_sha256.hcl:12: warning: Unused handler",
				"invalid_sha256.hcl:13: Invalid sha256",
				"invalid_sha256.hcl:17: Invalid sha256",
			},
			details: map[int][]string{0: {"got 6 characters"}, 2: {"other than 0-9 and a-f"}},
		},
		{
			file: "invalid_restart.hcl",
			want: []string{
				"invalid_restart.hcl:10: Invalid max_restarts",
				"invalid_restart.hcl:11: Invalid window",
				"invalid_restart.hcl:13: Invalid max_backoff",
				"invalid_restart.hcl:14: Invalid on_exhausted",
				"invalid_restart.hcl:20: Invalid backoff",
				"invalid_restart.hcl:22: Duplicate restart block",
			},
			details: map[int][]string{2: {"at least backoff (5s)"}, 4: {"default max_backoff"}},
		},
		{
			file: "invalid_plugin_names.hcl",
			want: []string{
				"invalid_plugin_names.hcl:12: Invalid plugin name",
				"invalid_plugin_names.hcl:15: Invalid plugin name",
				"invalid_plugin_names.hcl:19: Invalid path",
			},
			details: map[int][]string{0: {`got "My Handler"`, "Add plugin ="}, 1: {`got "Example!"`}},
		},
		{
			file: "invalid_kinesis.hcl",
			want: []string{
				"invalid_kinesis.hcl:4: Invalid endpoint",
				"invalid_kinesis.hcl:5: Missing secret_access_key",
			},
		},
		{
			file: "invalid_kinesis_secret.hcl",
			want: []string{
				"invalid_kinesis_secret.hcl:4: Invalid endpoint",
				"invalid_kinesis_secret.hcl:5: Missing access_key_id",
			},
		},
		{
			file: "invalid_kinesis_token.hcl",
			want: []string{"invalid_kinesis_token.hcl:6: Missing access keys"},
		},
		{
			file: "invalid_unknown.hcl",
			want: []string{
				"invalid_unknown.hcl:2: Unsupported argument",
				"invalid_unknown.hcl:5: Unsupported argument",
				"invalid_unknown.hcl:7: Unsupported argument",
				"invalid_unknown.hcl:10: Unsupported block type",
				"invalid_unknown.hcl:14: Unsupported argument",
				"invalid_unknown.hcl:16: Unsupported argument",
				"invalid_unknown.hcl:21: Unsupported argument",
			},
			details: map[int][]string{
				0: {`Did you mean "log_level"?`},
				2: {`Did you mean "poll_interval"?`},
				3: {`Did you mean "handler"?`},
				4: {`block of type "config"`},
				5: {`Did you mean "max_restarts"?`},
			},
		},
		{
			file:  "invalid_env.hcl",
			unset: []string{"KH_TEST_UNSET_APP", "KH_TEST_UNSET_REGION", "KH_TEST_UNSET_POLL", "KH_TEST_UNSET_ADDR", "A"},
			want: []string{
				"invalid_env.hcl:1: Error in function call",
				"invalid_env.hcl:4: Error in function call",
				"invalid_env.hcl:9: Invalid poll_interval",
				"invalid_env.hcl:14: Error in function call",
				"invalid_env.hcl:15: Not enough function arguments",
				"invalid_env.hcl:16: Invalid function argument",
				"invalid_env.hcl:17: Variables not allowed",
				"invalid_env.hcl:18: Call to unknown function",
			},
			details: map[int][]string{
				0: {"KH_TEST_UNSET_APP is not set", `env("KH_TEST_UNSET_APP", "...")`},
				2: {`got "soon"`},
			},
		},
		{
			file: "invalid_syntax.hcl",
			want: []string{"invalid_syntax.hcl:3: Unclosed configuration block"},
		},
		{
			file: "invalid_labels.hcl",
			want: []string{
				"invalid_labels.hcl:3: Missing name for stream",
				"invalid_labels.hcl:7: Extraneous label for stream",
				"invalid_labels.hcl:11: Invalid stream name",
				"invalid_labels.hcl:16: Extraneous label for config",
			},
		},
		{
			file: "invalid_config_block.hcl",
			want: []string{
				`invalid_config_block.hcl:10: Unexpected "nested" block`,
				"invalid_config_block.hcl:13: Invalid config value",
				"invalid_config_block.hcl:14: Invalid config value",
				"invalid_config_block.hcl:16: Duplicate config block",
			},
			details: map[int][]string{1: {"infinity"}},
		},
		{
			file: "invalid_types.hcl",
			want: []string{
				"invalid_types.hcl:1: Incorrect attribute value type",
				"invalid_types.hcl:2: Invalid log_level",
				"invalid_types.hcl:5: Incorrect attribute value type",
				"invalid_types.hcl:6: Incorrect attribute value type",
				"invalid_types.hcl:9: warning: Unused handler",
				"invalid_types.hcl:10: Incorrect attribute value type",
				"invalid_types.hcl:12: Incorrect attribute value type",
			},
			details: map[int][]string{0: {`"app": string required`}, 3: {`"max_records": number required`}},
		},
		{
			file: "invalid_many.hcl",
			want: []string{
				"invalid_many.hcl:1: Missing app",
				"invalid_many.hcl:2: Invalid log_level",
				"invalid_many.hcl:3: Invalid shutdown_timeout",
				"invalid_many.hcl:6: Missing secret_access_key",
				"invalid_many.hcl:10: Reference to undeclared handler",
				"invalid_many.hcl:11: Missing start_timestamp",
				"invalid_many.hcl:12: Invalid max_records",
				"invalid_many.hcl:13: Invalid batch_max_bytes",
				"invalid_many.hcl:14: Invalid poll_interval",
				"invalid_many.hcl:17: Duplicate stream",
				"invalid_many.hcl:21: warning: Unused handler",
				"invalid_many.hcl:22: Invalid sha256",
				"invalid_many.hcl:24: Invalid max_restarts",
				"invalid_many.hcl:28: warning: Unused checkpoint",
			},
			details: map[int][]string{4: {`Did you mean "orders"?`}},
		},
	}
	if len(tests) < 15 {
		t.Fatalf("only %d invalid cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".hcl"), func(t *testing.T) {
			for k, v := range tt.setenv {
				t.Setenv(k, v)
			}
			for _, k := range tt.unset {
				configUnsetenv(t, k)
			}
			cfg, files, diags := LoadConfig(filepath.Join(configTestdata, tt.file))
			if cfg != nil {
				t.Errorf("cfg = %+v, want nil", cfg)
			}
			if !diags.HasErrors() {
				t.Errorf("no errors")
			}
			if len(files) != 1 {
				t.Errorf("files has %d entries, want 1", len(files))
			}
			compareConfigDiags(t, diags, tt.want)
			for i, subs := range tt.details {
				if i >= len(diags) {
					t.Errorf("no diagnostic %d", i)
					continue
				}
				for _, sub := range subs {
					if !strings.Contains(diags[i].Detail, sub) {
						t.Errorf("diagnostic %d (%s) detail %q lacks %q", i, diags[i].Summary, diags[i].Detail, sub)
					}
				}
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no Subject", d.Summary)
				}
				if d.Severity == hcl.DiagError && strings.TrimSpace(d.Detail) == "" {
					t.Errorf("diagnostic %q has no Detail", d.Summary)
				}
			}
		})
	}
}

// TestConfigTestdataCovered makes sure every testdata file is exercised by a
// table above (or the fuzz seed corpus alone would be all that reads it).
func TestConfigTestdataCovered(t *testing.T) {
	src, err := os.ReadFile("config_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(configTestdata, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		re := regexp.MustCompile(`file:\s+"` + regexp.QuoteMeta(filepath.Base(f)) + `"`)
		if !re.Match(src) {
			t.Errorf("%s is not in a test table", f)
		}
	}
}
