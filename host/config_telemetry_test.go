package host

import (
	"strings"
	"testing"
)

// configTelemetrySrc is a minimal valid config with top holding top-level
// lines (from line 2) and, when body is not nil, a telemetry block holding
// body's lines. With top empty the block header is on line 7 and body[i]
// is on line 8+i.
func configTelemetrySrc(top []string, body []string) string {
	var b strings.Builder
	b.WriteString("app = \"a\"\n") // 1
	for _, l := range top {
		b.WriteString(l + "\n")
	}
	b.WriteString("stream \"s\" {\n" + // 2
		"  handler = \"h\"\n" + // 3
		"}\n" + // 4
		"handler \"h\" {}\n" + // 5
		"\n") // 6
	if body != nil {
		b.WriteString("telemetry {\n") // 7
		for _, l := range body {
			b.WriteString("  " + l + "\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func TestConfigTelemetry(t *testing.T) {
	t.Setenv("KH_TEST_TELEMETRY_LISTEN", "127.0.0.1:9200")
	tests := []struct {
		name      string
		body      []string // nil: no telemetry block
		want      TelemetryConfig
		wantLine  int // of Range
		wantDiags []string
	}{
		{name: "absent: off", want: TelemetryConfig{}},
		{
			name: "empty block: on with the loopback default", body: []string{},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:9108"}, wantLine: 7,
		},
		{
			name: "explicit loopback and pprof", body: []string{`listen = "127.0.0.1:9200"`, `pprof = true`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:9200", PPROF: true}, wantLine: 7,
		},
		{
			name: "other loopback address", body: []string{`listen = "127.0.0.2:9108"`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.2:9108"}, wantLine: 7,
		},
		{
			name: "IPv6 loopback", body: []string{`listen = "[::1]:9108"`},
			want: TelemetryConfig{Enabled: true, Listen: "[::1]:9108"}, wantLine: 7,
		},
		{
			name: "localhost", body: []string{`listen = "LocalHost:9108"`},
			want: TelemetryConfig{Enabled: true, Listen: "LocalHost:9108"}, wantLine: 7,
		},
		{
			name: "port 0 picks a free port", body: []string{`listen = "127.0.0.1:0"`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:0"}, wantLine: 7,
		},
		{
			name: "surrounding spaces are trimmed", body: []string{`listen = " 127.0.0.1:9108 "`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:9108"}, wantLine: 7,
		},
		{
			name: "from env()", body: []string{`listen = env("KH_TEST_TELEMETRY_LISTEN", "127.0.0.1:9108")`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:9200"}, wantLine: 7,
		},
		{
			name: "null keeps the default", body: []string{`listen = null`, `pprof = null`},
			want: TelemetryConfig{Enabled: true, Listen: "127.0.0.1:9108"}, wantLine: 7,
		},
		{
			name: "every interface: allowed with a warning", body: []string{`listen = "0.0.0.0:9108"`},
			want:      TelemetryConfig{Enabled: true, Listen: "0.0.0.0:9108"},
			wantLine:  7,
			wantDiags: []string{"test.hcl:8: warning: Telemetry reachable from other machines"},
		},
		{
			name: "empty host: allowed with a warning", body: []string{`pprof = true`, `listen = ":9108"`},
			want:      TelemetryConfig{Enabled: true, Listen: ":9108", PPROF: true},
			wantLine:  7,
			wantDiags: []string{"test.hcl:9: warning: Telemetry reachable from other machines"},
		},
		{
			name: "private address: allowed with a warning", body: []string{`listen = "10.1.2.3:9108"`},
			want:      TelemetryConfig{Enabled: true, Listen: "10.1.2.3:9108"},
			wantLine:  7,
			wantDiags: []string{"test.hcl:8: warning: Telemetry reachable from other machines"},
		},
		{
			name: "host name: allowed with a warning", body: []string{`listen = "metrics.internal:9108"`},
			want:      TelemetryConfig{Enabled: true, Listen: "metrics.internal:9108"},
			wantLine:  7,
			wantDiags: []string{"test.hcl:8: warning: Telemetry reachable from other machines"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := ParseConfig([]byte(configTelemetrySrc(nil, tt.body)), "test.hcl", t.TempDir())
			compareConfigDiags(t, diags, tt.wantDiags)
			if cfg == nil {
				t.Fatal("no config")
			}
			got := cfg.Telemetry
			if got.Range.Start.Line != tt.wantLine {
				t.Errorf("Range line = %d, want %d", got.Range.Start.Line, tt.wantLine)
			}
			got.Range = tt.want.Range
			if got != tt.want {
				t.Errorf("Telemetry = %+v, want %+v", got, tt.want)
			}
			if cfg.LogFormat != "text" {
				t.Errorf("LogFormat = %q, want the default \"text\"", cfg.LogFormat)
			}
		})
	}
}

func TestConfigTelemetryWarningText(t *testing.T) {
	for _, tc := range []struct {
		body []string
		want []string
		not  []string
	}{
		{
			body: []string{`listen = "0.0.0.0:9108"`},
			want: []string{"every network interface", "/metrics", "without authentication", `"127.0.0.1:9108"`},
			not:  []string{"pprof"},
		},
		{
			body: []string{`listen = "10.0.0.5:9108"`, `pprof = true`},
			want: []string{`on "10.0.0.5"`, "/debug/pprof/", "profiles"},
		},
	} {
		_, _, diags := ParseConfig([]byte(configTelemetrySrc(nil, tc.body)), "test.hcl", t.TempDir())
		if len(diags) != 1 {
			t.Fatalf("%v: want one warning, got:\n%s", tc.body, configDiagsText(diags))
		}
		for _, w := range tc.want {
			if !strings.Contains(diags[0].Detail, w) {
				t.Errorf("%v: warning lacks %q: %s", tc.body, w, diags[0].Detail)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(diags[0].Detail, w) {
				t.Errorf("%v: warning mentions %q: %s", tc.body, w, diags[0].Detail)
			}
		}
	}
}

func TestConfigTelemetryInvalid(t *testing.T) {
	configUnsetenv(t, "KH_TEST_TELEMETRY_UNSET")
	tests := []struct {
		name       string
		top        []string
		body       []string
		wantDiags  []string
		wantDetail string // in the first diagnostic
	}{
		{
			name: "bare port", body: []string{`listen = "9108"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: `write "127.0.0.1:9108"`,
		},
		{
			name: "no port", body: []string{`listen = "127.0.0.1"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "host:port",
		},
		{
			name: "empty port", body: []string{`listen = "127.0.0.1:"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: `"127.0.0.1:9108"`,
		},
		{
			name: "named port", body: []string{`listen = "127.0.0.1:http"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "not a number from 0 to 65535",
		},
		{
			name: "port out of range", body: []string{`listen = "127.0.0.1:70000"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "not a number from 0 to 65535",
		},
		{
			name: "IPv6 without brackets", body: []string{`listen = "::1:9108"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "brackets",
		},
		{
			name: "a URL", body: []string{`listen = "http://127.0.0.1:9108"`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "host:port",
		},
		{
			name: "empty", body: []string{`listen = ""`},
			wantDiags:  []string{"test.hcl:8: Invalid listen"},
			wantDetail: "host:port",
		},
		{
			name: "pprof not a bool", body: []string{`pprof = "yes please"`},
			wantDiags:  []string{"test.hcl:8: Incorrect attribute value type"},
			wantDetail: "bool",
		},
		{
			name: "listen not a string", body: []string{`listen = ["127.0.0.1:9108"]`},
			wantDiags: []string{"test.hcl:8: Incorrect attribute value type"},
		},
		{
			name: "unknown argument", body: []string{`port = 9108`},
			wantDiags: []string{"test.hcl:8: Unsupported argument"},
		},
		{
			name: "unset env", body: []string{`listen = env("KH_TEST_TELEMETRY_UNSET")`},
			wantDiags:  []string{"test.hcl:8: Error in function call"},
			wantDetail: "KH_TEST_TELEMETRY_UNSET",
		},
		{
			name: "two errors at once", body: []string{`listen = "9108"`, `pprof = 3`},
			wantDiags: []string{"test.hcl:8: Invalid listen", "test.hcl:9: Incorrect attribute value type"},
		},
		{
			name: "log_format unknown", top: []string{`log_format = "JSON"`},
			wantDiags:  []string{"test.hcl:2: Invalid log_format"},
			wantDetail: "text, json",
		},
		{
			name: "log_format not a string", top: []string{`log_format = ["json"]`},
			wantDiags: []string{"test.hcl:2: Incorrect attribute value type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := ParseConfig([]byte(configTelemetrySrc(tt.top, tt.body)), "test.hcl", t.TempDir())
			compareConfigDiags(t, diags, tt.wantDiags)
			if cfg != nil {
				t.Errorf("got a config despite errors")
			}
			if tt.wantDetail != "" && len(diags) > 0 && !strings.Contains(diags[0].Detail, tt.wantDetail) {
				t.Errorf("detail %q lacks %q", diags[0].Detail, tt.wantDetail)
			}
		})
	}
}

func TestConfigTelemetryDuplicateBlock(t *testing.T) {
	src := configTelemetrySrc(nil, []string{}) + "telemetry {\n  pprof = true\n}\n"
	_, _, diags := ParseConfig([]byte(src), "test.hcl", t.TempDir())
	compareConfigDiags(t, diags, []string{"test.hcl:9: Duplicate telemetry block"})
}

func TestConfigTelemetryBlockLabel(t *testing.T) {
	src := configTelemetrySrc(nil, nil) + "telemetry \"x\" {}\n"
	_, _, diags := ParseConfig([]byte(src), "test.hcl", t.TempDir())
	if !diags.HasErrors() {
		t.Fatalf("a labeled telemetry block was accepted")
	}
}

func TestConfigLogFormat(t *testing.T) {
	for _, tc := range []struct {
		top  []string
		want string
	}{
		{nil, "text"},
		{[]string{`log_format = "text"`}, "text"},
		{[]string{`log_format = "json"`}, "json"},
		{[]string{`log_format = null`}, "text"},
	} {
		cfg, _, diags := ParseConfig([]byte(configTelemetrySrc(tc.top, nil)), "test.hcl", t.TempDir())
		compareConfigDiags(t, diags, nil)
		if cfg == nil {
			t.Fatalf("%v: no config", tc.top)
		}
		if cfg.LogFormat != tc.want {
			t.Errorf("%v: LogFormat = %q, want %q", tc.top, cfg.LogFormat, tc.want)
		}
		if cfg.Telemetry.Enabled {
			t.Errorf("%v: telemetry enabled without a block", tc.top)
		}
	}
}
