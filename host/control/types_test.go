package control

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		in   string
		want Target
		str  string
	}{
		{"TRIM_HORIZON", Target{Kind: TargetTrimHorizon}, "TRIM_HORIZON"},
		{"trim_horizon", Target{Kind: TargetTrimHorizon}, "TRIM_HORIZON"},
		{" LATEST ", Target{Kind: TargetLatest}, "LATEST"},
		{"0", Target{Kind: TargetSequence, SequenceNumber: "0"}, "0"},
		{"49590338271490256608559692538361571095921575989136588898", Target{Kind: TargetSequence, SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}, "49590338271490256608559692538361571095921575989136588898"},
		{"2026-08-21T10:00:00Z", Target{Kind: TargetTimestamp, Timestamp: ts("2026-08-21T10:00:00Z")}, "2026-08-21T10:00:00Z"},
		{"2026-08-21T12:00:00.5+02:00", Target{Kind: TargetTimestamp, Timestamp: ts("2026-08-21T12:00:00.5+02:00")}, "2026-08-21T12:00:00.5+02:00"},
	} {
		got, err := ParseTarget(tc.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if got.Kind != tc.want.Kind || !got.Timestamp.Equal(tc.want.Timestamp) || got.SequenceNumber != tc.want.SequenceNumber {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.str {
			t.Errorf("String() = %q, want %q", got.String(), tc.str)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("Validate(%q): %v", tc.in, err)
		}
	}
	for _, tc := range []struct{ in, says string }{
		{"", "no rewind target"},
		{"yesterday", "not understood: give an RFC 3339 time"},
		{"2026-08-21", "2026-08-21T00:00:00Z"},
		{"2026-08-21T10:00:00", "without a zone: add Z for UTC, 2026-08-21T10:00:00Z"},
		{"2026-08-21 10:00:00", "without a zone: add Z for UTC, 2026-08-21T10:00:00Z"},
		{"2026-08-21 10:00:00Z", "with T, not a space"},
		{"012", "leading 0"},
		{"2026-13-45T10:00:00Z", "not understood"},
		{"-5m", "not understood"},
	} {
		_, err := ParseTarget(tc.in)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseTarget(%q) = %v, want a bad request saying %q", tc.in, err, tc.says)
		}
	}
}

func TestCheckpointString(t *testing.T) {
	for _, tc := range []struct {
		c    Checkpoint
		want string
	}{
		{Checkpoint{}, "none"},
		{Checkpoint{ShardEnd: true}, "SHARD_END"},
		{Checkpoint{SequenceNumber: "123"}, "123"},
		{Checkpoint{SequenceNumber: "123", SubSequenceNumber: 4}, "123/4"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.c, got, tc.want)
		}
	}
	if !(Checkpoint{}).IsZero() || (Checkpoint{ShardEnd: true}).IsZero() {
		t.Error("IsZero")
	}
}

func TestPaths(t *testing.T) {
	if got := SocketPath(DataDir("/srv/orders")); got != "/srv/orders/data/kinesis-host.sock" {
		t.Errorf("SocketPath = %q", got)
	}
}
