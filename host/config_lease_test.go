package host

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// configLeaseSrc is a config whose checkpoint block "c" uses plugin and, when
// body is not nil, has a lease block holding body's lines. The lease block
// header is on line 9, so body[i] is on line 10+i.
func configLeaseSrc(plugin string, body []string) string {
	var b strings.Builder
	b.WriteString("app = \"a\"\n" + // 1
		"stream \"s\" {\n" + // 2
		"  handler    = \"h\"\n" + // 3
		"  checkpoint = \"c\"\n" + // 4
		"}\n" + // 5
		"handler \"h\" {}\n" + // 6
		"checkpoint \"c\" {\n" + // 7
		fmt.Sprintf("  plugin = %q\n", plugin)) // 8
	if body != nil {
		b.WriteString("  lease {\n") // 9
		for _, l := range body {
			b.WriteString("    " + l + "\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func TestConfigLeaseValid(t *testing.T) {
	t.Setenv("KH_TEST_WORKER_ID", "pod-7.orders:eu-west-1@node/3_a")
	configUnsetenv(t, "KH_TEST_WORKER_UNSET")
	long := strings.Repeat("w", 128)
	tests := []struct {
		name      string
		plugin    string
		body      []string // nil: no lease block
		want      LeaseConfig
		wantLine  int
		wantDiags []string
	}{
		{
			name: "absent", plugin: "redis",
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond},
			wantLine: 7, // the checkpoint block
		},
		{
			name: "empty", plugin: "postgres", body: []string{},
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "duration derives renew", plugin: "dynamodb", body: []string{`duration = "30s"`},
			want:     LeaseConfig{Duration: 30 * time.Second, RenewInterval: 10 * time.Second, PollInterval: 500 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "short duration derives poll", plugin: "redis", body: []string{`duration = "2s"`},
			want:     LeaseConfig{Duration: 2 * time.Second, RenewInterval: 2 * time.Second / 3, PollInterval: 100 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "minimum duration", plugin: "redis", body: []string{`duration = "200ms"`},
			want:     LeaseConfig{Duration: 200 * time.Millisecond, RenewInterval: 200 * time.Millisecond / 3, PollInterval: 10 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "explicit renew keeps derived poll", plugin: "redis", body: []string{`renew_interval = "5s"`},
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 5 * time.Second, PollInterval: 500 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "everything", plugin: "redis",
			body: []string{
				`duration       = "20s"`,
				`renew_interval = "10s"`, // exactly half
				`poll_interval  = "10s"`, // exactly half
				`worker_id      = "host-a.prod:1@eu/2_x"`,
				`max_shards     = 8`,
			},
			want: LeaseConfig{Duration: 20 * time.Second, RenewInterval: 10 * time.Second, PollInterval: 10 * time.Second,
				WorkerID: "host-a.prod:1@eu/2_x", MaxShards: 8},
			wantLine: 9,
		},
		{
			name: "worker_id from env", plugin: "redis",
			body:     []string{`worker_id = env("KH_TEST_WORKER_ID")`, `max_shards = 0`},
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond, WorkerID: "pod-7.orders:eu-west-1@node/3_a"},
			wantLine: 9,
		},
		{
			name: "empty worker_id is the default", plugin: "redis",
			body:     []string{`worker_id = env("KH_TEST_WORKER_UNSET", "")`},
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond},
			wantLine: 9,
		},
		{
			name: "longest worker_id", plugin: "redis", body: []string{`worker_id = "` + long + `"`},
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond, WorkerID: long},
			wantLine: 9,
		},
		{
			name: "file store warns", plugin: "file", body: []string{`duration = "30s"`},
			want:      LeaseConfig{Duration: 30 * time.Second, RenewInterval: 10 * time.Second, PollInterval: 500 * time.Millisecond},
			wantLine:  9,
			wantDiags: []string{"lease.hcl:9: warning: Unused lease block"},
		},
		{
			name: "memory store warns", plugin: "memory", body: []string{},
			want:      LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond},
			wantLine:  9,
			wantDiags: []string{"lease.hcl:9: warning: Unused lease block"},
		},
		{
			name: "file store without lease block", plugin: "file",
			want:     LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: 500 * time.Millisecond},
			wantLine: 7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := ParseConfig([]byte(configLeaseSrc(tt.plugin, tt.body)), "lease.hcl", "/srv")
			compareConfigDiags(t, diags, tt.wantDiags)
			if cfg == nil {
				t.Fatal("cfg is nil")
			}
			got := cfg.Checkpoints["c"].Lease
			if got.Range.Start.Line != tt.wantLine || got.Range.Filename != "lease.hcl" {
				t.Errorf("Range = %v, want line %d", got.Range, tt.wantLine)
			}
			got.Range = tt.want.Range
			if got != tt.want {
				t.Errorf("Lease =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			if h := cfg.Handlers["h"].Lease; h != (LeaseConfig{}) {
				t.Errorf("handler Lease = %+v, want zero", h)
			}
			for _, d := range diags {
				if strings.Contains(tt.name, "warns") && !strings.Contains(d.Detail, "single-host") {
					t.Errorf("warning detail %q", d.Detail)
				}
			}
		})
	}
}

// TestConfigLeaseImplicit: the implicit default checkpoint has the default
// lease settings, positioned at the first stream using it.
func TestConfigLeaseImplicit(t *testing.T) {
	src := "app = \"a\"\nstream \"s\" {\n  handler = \"h\"\n}\nhandler \"h\" {}\n"
	cfg, _, diags := ParseConfig([]byte(src), "implicit.hcl", "/srv")
	if diags.HasErrors() {
		t.Fatal(configDiagsText(diags))
	}
	got := cfg.Checkpoints[DefaultCheckpointName].Lease
	if got.Range.Start.Line != 2 {
		t.Errorf("Range = %v, want line 2", got.Range)
	}
	got.Range = configDefaultLease.Range
	if got != configDefaultLease {
		t.Errorf("Lease = %+v, want %+v", got, configDefaultLease)
	}
}

func TestConfigLeaseInvalid(t *testing.T) {
	configUnsetenv(t, "KH_TEST_WORKER_UNSET")
	tests := []struct {
		name    string
		body    []string
		want    []string
		details map[int][]string // diagnostic index -> substrings of its Detail
	}{
		{
			name:    "duration below the floor",
			body:    []string{`duration = "100ms"`},
			want:    []string{"lease.hcl:10: Invalid duration"},
			details: map[int][]string{0: {"at least 200ms", "tests that scale time down", "in production keep it in seconds", `got "100ms"`}},
		},
		{
			name:    "duration zero",
			body:    []string{`duration = "0s"`},
			want:    []string{"lease.hcl:10: Invalid duration"},
			details: map[int][]string{0: {"at least 200ms"}},
		},
		{
			name:    "duration negative",
			body:    []string{`duration = "-5s"`},
			want:    []string{"lease.hcl:10: Invalid duration"},
			details: map[int][]string{0: {"at least 200ms"}},
		},
		{
			name:    "duration not a duration",
			body:    []string{`duration = "10"`},
			want:    []string{"lease.hcl:10: Invalid duration"},
			details: map[int][]string{0: {`"30s"`, `got "10"`}},
		},
		{
			name:    "renew over half the default duration",
			body:    []string{`renew_interval = "6s"`},
			want:    []string{"lease.hcl:10: Invalid renew_interval"},
			details: map[int][]string{0: {"renew_interval (6s) must be at most half of the default duration (10s)", "renewed at least twice", "set renew_interval to 5s or less, or raise duration"}},
		},
		{
			name:    "renew over half the duration",
			body:    []string{`duration = "30s"`, `renew_interval = "16s"`},
			want:    []string{"lease.hcl:11: Invalid renew_interval"},
			details: map[int][]string{0: {"at most half of duration (30s)", "15s or less"}},
		},
		{
			name:    "renew zero",
			body:    []string{`renew_interval = "0s"`},
			want:    []string{"lease.hcl:10: Invalid renew_interval"},
			details: map[int][]string{0: {"greater than zero"}},
		},
		{
			name:    "poll zero",
			body:    []string{`poll_interval = "0ms"`},
			want:    []string{"lease.hcl:10: Invalid poll_interval"},
			details: map[int][]string{0: {"greater than zero"}},
		},
		{
			name:    "poll over half the duration",
			body:    []string{`duration = "1s"`, `poll_interval = "501ms"`},
			want:    []string{"lease.hcl:11: Invalid poll_interval"},
			details: map[int][]string{0: {"poll_interval (501ms) must be at most half of duration (1s)", "500ms or less"}},
		},
		{
			// An invalid duration is reported alone: the intervals are not
			// checked against a duration that isn't one.
			name: "invalid duration skips the half checks",
			body: []string{`duration = "soon"`, `renew_interval = "1h"`, `poll_interval = "1h"`},
			want: []string{"lease.hcl:10: Invalid duration"},
		},
		{
			name:    "worker_id with #",
			body:    []string{`worker_id = "host#1"`},
			want:    []string{"lease.hcl:10: Invalid worker_id"},
			details: map[int][]string{0: {`got "host#1", whose character 5 is '#'`, "incarnation", `the characters '.' '_' ':' '@' '/' '-'`}},
		},
		{
			name:    "worker_id with a space",
			body:    []string{`worker_id = "my host"`},
			want:    []string{"lease.hcl:10: Invalid worker_id"},
			details: map[int][]string{0: {"character 3 is ' '", "no spaces"}},
		},
		{
			name:    "worker_id not ASCII",
			body:    []string{`worker_id = "hóst"`},
			want:    []string{"lease.hcl:10: Invalid worker_id"},
			details: map[int][]string{0: {"character 2 is 'ó'"}},
		},
		{
			name:    "worker_id too long",
			body:    []string{`worker_id = "` + strings.Repeat("w", 129) + `"`},
			want:    []string{"lease.hcl:10: Invalid worker_id"},
			details: map[int][]string{0: {"at most 128 characters; got 129"}},
		},
		{
			name:    "worker_id from an unset variable",
			body:    []string{`worker_id = env("KH_TEST_WORKER_UNSET")`},
			want:    []string{"lease.hcl:10: Error in function call"},
			details: map[int][]string{0: {"KH_TEST_WORKER_UNSET is not set"}},
		},
		{
			name:    "max_shards negative",
			body:    []string{`max_shards = -1`},
			want:    []string{"lease.hcl:10: Invalid max_shards"},
			details: map[int][]string{0: {"between 0 and"}},
		},
		{
			name:    "max_shards fraction",
			body:    []string{`max_shards = 1.5`},
			want:    []string{"lease.hcl:10: Invalid max_shards"},
			details: map[int][]string{0: {"whole number"}},
		},
		{
			name: "max_shards not a number",
			body: []string{`max_shards = "many"`},
			want: []string{"lease.hcl:10: Incorrect attribute value type"},
		},
		{
			name:    "unknown attribute",
			body:    []string{`durration = "10s"`},
			want:    []string{"lease.hcl:10: Unsupported argument"},
			details: map[int][]string{0: {`Did you mean "duration"?`}},
		},
		{
			name: "everything at once",
			body: []string{`duration = "50ms"`, `renew_interval = "0s"`, `worker_id = "a#b"`, `max_shards = -3`},
			want: []string{
				"lease.hcl:10: Invalid duration",
				"lease.hcl:11: Invalid renew_interval",
				"lease.hcl:12: Invalid worker_id",
				"lease.hcl:13: Invalid max_shards",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, diags := ParseConfig([]byte(configLeaseSrc("redis", tt.body)), "lease.hcl", "/srv")
			if cfg != nil {
				t.Errorf("cfg returned with errors")
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
		})
	}
}

// TestConfigLeaseMisplaced: a second lease block, and lease blocks outside
// checkpoint blocks.
func TestConfigLeaseMisplaced(t *testing.T) {
	src := `app = "a"
stream "s" {
  handler    = "h"
  checkpoint = "c"
}
handler "h" {
  lease {
    duration = "30s"
  }
}
checkpoint "c" {
  plugin = "redis"
  lease {}
  lease { worker_id = "x" }
}
`
	cfg, _, diags := ParseConfig([]byte(src), "misplaced.hcl", "/srv")
	if cfg != nil {
		t.Errorf("cfg returned with errors")
	}
	compareConfigDiags(t, diags, []string{
		"misplaced.hcl:7: Unsupported block type",
		"misplaced.hcl:14: Duplicate lease block",
	})
	if len(diags) > 0 {
		for _, want := range []string{`Blocks of type "lease" are not expected here.`, "lease {} belongs in a checkpoint block", `handler "h"`} {
			if !strings.Contains(diags[0].Detail, want) {
				t.Errorf("detail %q lacks %q", diags[0].Detail, want)
			}
		}
	}
}

// TestConfigLeaseChangeIsAChange: reload restarts a checkpoint block whose
// lease settings changed.
func TestConfigLeaseChangeIsAChange(t *testing.T) {
	load := func(body []string) *PluginBlock {
		t.Helper()
		cfg, _, diags := ParseConfig([]byte(configLeaseSrc("redis", body)), "lease.hcl", "/srv")
		if diags.HasErrors() {
			t.Fatal(configDiagsText(diags))
		}
		return cfg.Checkpoints["c"]
	}
	base := load([]string{`duration = "30s"`})
	if !samePlugin(base, load([]string{`duration = "30s"`})) {
		t.Errorf("the same block is a change")
	}
	for _, body := range [][]string{
		{`duration = "20s"`},
		{`duration = "30s"`, `renew_interval = "5s"`},
		{`duration = "30s"`, `poll_interval = "2s"`},
		{`duration = "30s"`, `worker_id = "w1"`},
		{`duration = "30s"`, `max_shards = 4`},
	} {
		if samePlugin(base, load(body)) {
			t.Errorf("lease { %s } is not a change from duration = 30s", strings.Join(body, "; "))
		}
	}
}
