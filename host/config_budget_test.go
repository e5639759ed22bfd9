package host

import (
	"strings"
	"testing"
)

// max_buffered_bytes: default, a number of bytes or a size string, and a
// value below one page's worth refused with a diagnostic that says what to
// set.
func TestConfigMaxBufferedBytes(t *testing.T) {
	base := "app = \"mem\"\nstream \"s\" {\n  handler = \"h\"\n}\nhandler \"h\" {}\n"
	for _, c := range []struct {
		line    string
		want    int64
		wantErr string
	}{
		{"", 256 << 20, ""},
		{"max_buffered_bytes = 10485760", 10 << 20, ""},
		{`max_buffered_bytes = "1GiB"`, 1 << 30, ""},
		{`max_buffered_bytes = "64MB"`, 64_000_000, ""},
		{"max_buffered_bytes = 1048576", 0, `inline.hcl:1,1-29: Invalid max_buffered_bytes; max_buffered_bytes is 1MiB, below the minimum of 10MiB`},
		{`max_buffered_bytes = "9MiB"`, 0, `Set max_buffered_bytes = "10MiB" or more, or remove it to use the default of 256MiB`},
		{`max_buffered_bytes = "lots"`, 0, "Invalid max_buffered_bytes"},
		{`max_buffered_bytes = -5`, 0, "Invalid max_buffered_bytes"},
	} {
		cfg, _, diags := ParseConfig([]byte(c.line+"\n"+base), "inline.hcl", "/srv/app")
		text := configDiagsText(diags)
		if c.wantErr != "" {
			if !diags.HasErrors() || !strings.Contains(text, c.wantErr) {
				t.Errorf("%q: diagnostics %q, want %q", c.line, text, c.wantErr)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%q: %s", c.line, text)
			continue
		}
		if cfg.MaxBufferedBytes != c.want {
			t.Errorf("%q: MaxBufferedBytes = %d, want %d", c.line, cfg.MaxBufferedBytes, c.want)
		}
	}
}
