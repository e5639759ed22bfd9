package host_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinesis-host/kinesis-host/host"
)

// testHCL describes the config.hcl of a one-stream test host: stream "s"
// read by one handler block and checkpointed in one checkpoint block. Every
// host test renders its config through it, so the shape lives in one place.
type testHCL struct {
	// Stream holds extra lines for the stream block. start_position =
	// "TRIM_HORIZON" and poll_interval = "200ms" are added unless it sets
	// them (a line that only mentions start_position, such as a comment,
	// keeps the shipped default).
	Stream string
	// Handler is the handler block's label (default "rec") and Plugin its
	// plugin (default "recorder").
	Handler, Plugin string
	// HandlerBlock holds extra lines for the handler block (path, restart,
	// failure policy, dead_letter...).
	HandlerBlock string
	// HandlerConfig holds the lines inside the handler's config {} block.
	HandlerConfig string
	// Checkpoint is the checkpoint block's body; default the file store at
	// <dir>/cp.db.
	Checkpoint string
	// Top holds extra top-level lines (a telemetry {} block...).
	Top string
}

// render returns the HCL source; dir holds the default checkpoint file.
func (c testHCL) render(dir string) string {
	stream := c.Stream
	if !strings.Contains(stream, "start_position") {
		stream += "\n  start_position = \"TRIM_HORIZON\""
	}
	if !strings.Contains(stream, "poll_interval") {
		stream += "\n  poll_interval = \"200ms\""
	}
	if c.Handler == "" {
		c.Handler = "rec"
	}
	if c.Plugin == "" {
		c.Plugin = "recorder"
	}
	if c.Checkpoint == "" {
		c.Checkpoint = fmt.Sprintf("plugin = \"file\"\n  config { path = %q }", filepath.Join(dir, "cp.db"))
	}
	return fmt.Sprintf(`
app        = "test"
plugin_dir = %q
shutdown_timeout = "10s"
%s
stream "s" {
  handler        = %q
  checkpoint     = "cp"
  %s
}
handler %q {
  plugin = %q
  %s
  config {
    %s
  }
}
checkpoint "cp" {
  %s
}
`, bins.PluginDir, c.Top, c.Handler, stream, c.Handler, c.Plugin, c.HandlerBlock, c.HandlerConfig, c.Checkpoint)
}

// recorderConfig is the recorder's config {} lines: out plus extra.
func recorderConfig(out, extra string) string {
	return fmt.Sprintf("out = %q\n    %s", out, extra)
}

// parseTestConfig parses src as <dir>/test.hcl, failing the test with the
// diagnostics when it is invalid.
func parseTestConfig(t testing.TB, dir, src string) *host.Config {
	t.Helper()
	cfg, files, diags := host.ParseConfig([]byte(src), filepath.Join(dir, "test.hcl"), dir)
	if diags.HasErrors() {
		var b strings.Builder
		_ = host.WriteDiagnostics(&b, files, diags)
		t.Fatalf("config: %s", b.String())
	}
	return cfg
}
