package membudget

import "testing"

const mib = 1 << 20

// worstRecord is the page bytes of a record of unknown size.
const worstRecord = MaxRecordBytes + RecordOverhead

func TestSizerWantAndCurrentLimit(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxRecords int
		bpr        int64 // 0: unknown
		target     int64 // 0: the first
		budget     int64
		wantLimit  int
		wantLo     int64
		wantHi     int64
	}{
		// Unknown record size: one record, reserved as 1 MiB (times the
		// call factor for the body).
		{"first call", 10000, 0, 0, 256 * mib, 1, worstRecord * 5 / 2, worstRecord * 5 / 2},
		{"first call, small budget", 10000, 0, 0, 10 * mib, 1, worstRecord * 5 / 2, worstRecord * 5 / 2},
		// Known: 1280 bytes per record.
		{"known, 1 MiB aim", 10000, 1280, 1 * mib, 256 * mib, 819, 819 * 1280 * 5 / 2, 819 * 1280 * 5 / 2},
		{"known, 16 MiB aim, lo is a share of the budget", 10000, 1280, 16 * mib, 256 * mib, 10000, 16 * mib, 10000 * 1280 * 5 / 2},
		{"known, max_records caps", 500, 1280, 16 * mib, 256 * mib, 500, 500 * 1280 * 5 / 2, 500 * 1280 * 5 / 2},
		{"known, big records: the page cap", 10000, 100 << 10, 64 * mib, 256 * mib, 655, 16 * mib, PageBytes(655, MaxPageBytes) * 5 / 2},
		{"records bigger than the aim: one", 10000, 2 * mib, 1 * mib, 256 * mib, 1, 2 * mib * 5 / 2, 2 * mib * 5 / 2},
	} {
		s := NewSizer(c.maxRecords)
		s.bpr = c.bpr
		if c.target > 0 {
			s.target = c.target
		}
		if got := s.CurrentLimit(); got != c.wantLimit {
			t.Errorf("%s: CurrentLimit = %d, want %d", c.name, got, c.wantLimit)
		}
		lo, hi := s.Want(c.budget, c.budget)
		if lo != c.wantLo || hi != c.wantHi {
			t.Errorf("%s: Want = (%d, %d), want (%d, %d)", c.name, lo, hi, c.wantLo, c.wantHi)
		}
		if lo > hi {
			t.Errorf("%s: lo %d > hi %d", c.name, lo, hi)
		}
	}
}

func TestSizerLimit(t *testing.T) {
	for _, c := range []struct {
		name    string
		bpr     int64
		target  int64
		granted int64
		want    int
	}{
		{"everything granted", 1000, 256000, 256 * 1000 * 5 / 2, 256},
		{"more than needed", 1000, 256000, 1 << 40, 256},
		{"half granted", 1000, 256000, 128 * 1000 * 5 / 2, 128},
		{"just under one record", 1000, 256000, 2499, 1},
		{"nothing useful (oversized alone)", 1000, 256000, 1, 1},
		{"unknown size", 0, FirstPageBytes, 100 * mib, 1},
	} {
		s := NewSizer(10000)
		s.bpr, s.target = c.bpr, c.target
		if got := s.Limit(c.granted); got != c.want {
			t.Errorf("%s: Limit(%d) = %d, want %d", c.name, c.granted, got, c.want)
		}
	}
}

func TestSizerObserve(t *testing.T) {
	type obs struct {
		asked, got int
		bytes      int64
		wantLimit  int
		wantBPR    int64
	}
	const r = 1280 // page bytes of a 1 KiB record
	for _, c := range []struct {
		name       string
		maxRecords int
		steps      []obs
	}{
		{"slow start grows the aim on full pages", 10000, []obs{
			{1, 1, r, 8 * mib / r, r},
			{6553, 6553, 6553 * r, 10000, r},
			{10000, 10000, 10000 * r, 10000, r},
		}},
		{"a short page shrinks the aim to twice its size", 10000, []obs{
			{1, 0, 0, 1, 0},
			{1, 1, r, 8 * MinPageBytes / r, r},
			{409, 300, 300 * r, 600, r},
			{600, 0, 0, MinPageBytes / r, r},
			{51, 51, 51 * r, 8 * MinPageBytes / r, r},
		}},
		{"a budget-shortened call does not grow the aim", 10000, []obs{
			{1, 1, r, 8 * mib / r, r},
			{100, 100, 100 * r, 8 * mib / r, r},
		}},
		{"a page cut by the byte cap counts as full", 10000, []obs{
			{1, 1, 100 << 10, 81, 100 << 10},
			{81, 15, PageBytes(15, MaxPageBytes), 95, (PageBytes(15, MaxPageBytes) + 14) / 15},
		}},
		{"bigger records at once, smaller slowly", 10000, []obs{
			{1, 1, 1000, 8 * mib / 1000, 1000},
			{8388, 10, 10 * 5000, 2 * 10 * 5000 / 5000, 5000},
			{20, 20, 20 * 1000, 8 * 100000 / ((3*5000 + 1000 + 3) / 4), (3*5000 + 1000 + 3) / 4},
		}},
		{"max_records caps the Limit", 100, []obs{
			{1, 1, r, 100, r},
			{100, 100, 100 * r, 100, r},
		}},
	} {
		s := NewSizer(c.maxRecords)
		for i, o := range c.steps {
			s.Observe(o.asked, o.got, o.bytes)
			if s.CurrentLimit() != o.wantLimit || s.BytesPerRecord() != o.wantBPR {
				t.Errorf("%s step %d: limit %d, bytes/record %d; want %d, %d", c.name, i, s.CurrentLimit(), s.BytesPerRecord(), o.wantLimit, o.wantBPR)
			}
		}
	}
}

// The first call, size unknown: a whole page (max_records) while at most
// half the budget would be in use, one record otherwise; a whole page
// that came back full keeps the Limit at max_records.
func TestSizerFirstCallByContention(t *testing.T) {
	whole := PageBytes(10000, MaxPageBytes) * 5 / 2
	for _, c := range []struct {
		name           string
		budget, held   int64
		wantLimit      int
		wantLo, wantHi int64
	}{
		{"idle budget", 256 * mib, 0, 10000, 16 * mib, whole},
		{"a few shards started", 256 * mib, 3 * whole, 10000, 16 * mib, whole},
		{"half in use", 256 * mib, 128*mib - whole + 1, 1, worstRecord * 5 / 2, worstRecord * 5 / 2},
		{"contended", 256 * mib, 256 * mib, 1, worstRecord * 5 / 2, worstRecord * 5 / 2},
		{"small budget", 10 * mib, 0, 1, worstRecord * 5 / 2, worstRecord * 5 / 2},
	} {
		s := NewSizer(10000)
		lo, hi := s.Want(c.budget, c.held)
		if s.CurrentLimit() != c.wantLimit || lo != c.wantLo || hi != c.wantHi {
			t.Errorf("%s: limit %d, Want (%d, %d); want %d, (%d, %d)", c.name, s.CurrentLimit(), lo, hi, c.wantLimit, c.wantLo, c.wantHi)
		}
	}
	s := NewSizer(10000)
	s.Want(256*mib, 0)
	s.Observe(10000, 10000, 10000*1280)
	if s.CurrentLimit() != 10000 {
		t.Errorf("after a whole first page came back full: limit %d, want 10000", s.CurrentLimit())
	}
	lo, hi := s.Want(256*mib, 256*mib) // known size now: contention no longer matters for the Limit
	if s.CurrentLimit() != 10000 || hi != 10000*1280*5/2 || lo != 16*mib {
		t.Errorf("known size under contention: limit %d, Want (%d, %d)", s.CurrentLimit(), lo, hi)
	}
}
