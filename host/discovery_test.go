package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinesis-host/kinesis-host/host"
)

// Plugin discovery refuses a missing file, a file that is not executable,
// a binary of the wrong kind and a program that is not a plugin at all,
// each with a message that names the file and the fix.
func TestPluginDiscoveryErrors(t *testing.T) {
	dir := t.TempDir()
	noExec := filepath.Join(dir, "kinesis-handler-noexec")
	raw, err := os.ReadFile(filepath.Join(bins.PluginDir, "kinesis-handler-recorder"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noExec, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	notPlugin := filepath.Join(dir, "kinesis-handler-notplugin")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, block string
		want        []string
	}{
		{"missing", `plugin = "nosuch"`, []string{"kinesis-handler-nosuch does not exist", "make build"}},
		{"not executable", fmt.Sprintf(`path = %q`, noExec), []string{noExec, "not executable", "chmod +x"}},
		{"wrong kind", fmt.Sprintf(`path = %q`, filepath.Join(bins.PluginDir, "kinesis-checkpoint-file")), []string{"is not a handler plugin", "checkpoint plugin", "sdk.Serve"}},
		{"not a plugin", fmt.Sprintf(`path = %q`, notPlugin), []string{notPlugin, "kinesis-host plugin", "stdout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf(`app = "d"
plugin_dir = %q
stream "s" {
  handler    = "h"
  checkpoint = "m"
}
handler "h" {
  %s
}
checkpoint "m" { plugin = "file" }
`, bins.PluginDir, tc.block)
			path := filepath.Join(t.TempDir(), "config.hcl")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, files, diags, _ := host.ValidateFile(context.Background(), path, nil)
			var b strings.Builder
			_ = host.WriteDiagnostics(&b, files, diags)
			out := strings.Join(strings.Fields(b.String()), " ") // undo the diagnostic's line wrapping
			if !diags.HasErrors() || !strings.Contains(out, "line 8") {
				t.Fatalf("want an error at the handler block (line 8):\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("diagnostic lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
