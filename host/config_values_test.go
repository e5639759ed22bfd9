package host

import (
	"testing"
)

func TestParseConfigSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4MiB", 4 << 20, true},
		{"4mib", 4 << 20, true},
		{"512KiB", 512 << 10, true},
		{"1MB", 1_000_000, true},
		{"1.5 MB", 1_500_000, true},
		{"65536", 65536, true},
		{"65536B", 65536, true},
		{"2GiB", 2 << 30, true},
		{" 1 KB ", 1000, true},
		{"0.5B", 0, false},
		{"4 megs", 0, false},
		{"MiB", 0, false},
		{"-1MiB", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{"99999999999999999999999GiB", 1<<63 - 1, true}, // saturates; the range check rejects it
	} {
		got, err := cfgParseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("cfgParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestClosestConfigName(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cands []string
		want  string
	}{
		{"exmaple", []string{"example", "other"}, "example"},
		{"Orders", []string{"orders"}, "orders"},
		{"zzz", []string{"example"}, ""},
		{"ab", []string{"cd"}, ""}, // distance 2 on a 2-letter name is not "close"
		{"TRIM_HORIZONN", cfgStartPositions, "TRIM_HORIZON"},
	} {
		if got := cfgClosestName(tt.name, tt.cands); got != tt.want {
			t.Errorf("cfgClosestName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
