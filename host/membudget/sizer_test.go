package membudget

import "testing"

const mib = 1 << 20

func TestSizerWant(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxRecords int
		bpr        int64 // 0: unknown
		limit      int   // slow-start limit (0: the first)
		budget     int64
		wantLo     int64
		wantHi     int64
	}{
		// Unknown record size: the worst case, a 10 MiB page (times the
		// call factor for the body).
		{"first call, default budget", 10000, 0, 0, 256 * mib, 16 * mib, PageBytes(FirstLimit, MaxPageBytes) * 5 / 2},
		{"first call, small budget", 10000, 0, 0, 10 * mib, (MaxRecordBytes + RecordOverhead) * 5 / 2, PageBytes(FirstLimit, MaxPageBytes) * 5 / 2},
		{"first call, max_records 2", 2, 0, 0, 256 * mib, 2 * (MaxRecordBytes + RecordOverhead) * 5 / 2, 2 * (MaxRecordBytes + RecordOverhead) * 5 / 2},
		// Known: 1 KiB records.
		{"known, 512 records", 10000, 1280, 512, 256 * mib, 512 * 1280 * 5 / 2, 512 * 1280 * 5 / 2},
		{"known, full limit", 10000, 1280, 10000, 256 * mib, 16 * mib, 10000 * 1280 * 5 / 2},
		{"known, capped by the page limit", 10000, 100 << 10, 10000, 256 * mib, 16 * mib, PageBytes(10000, MaxPageBytes) * 5 / 2},
	} {
		s := NewSizer(c.maxRecords)
		s.bpr = c.bpr
		if c.limit > 0 {
			s.limit = c.limit
		}
		lo, hi := s.Want(c.budget)
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
		limit   int
		granted int64
		want    int
	}{
		{"everything granted", 1000, 256, 256 * 1000 * 5 / 2, 256},
		{"more than needed", 1000, 256, 1 << 40, 256},
		{"half granted", 1000, 256, 128 * 1000 * 5 / 2, 128},
		{"just under one record", 1000, 256, 2499, 1},
		{"nothing useful (oversized alone)", 1000, 256, 1, 1},
		{"unknown size, 10 MiB", 0, 256, 10 * mib, 3},
		{"unknown size, full worst case", 0, 256, PageBytes(256, MaxPageBytes) * 5 / 2, 256},
	} {
		s := NewSizer(10000)
		s.bpr, s.limit = c.bpr, c.limit
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
	for _, c := range []struct {
		name       string
		maxRecords int
		steps      []obs
	}{
		{"slow start doubles on full pages", 10000, []obs{
			{256, 256, 256 * 1280, 512, 1280},
			{512, 512, 512 * 1280, 1024, 1280},
			{1024, 1024, 1024 * 1280, 2048, 1280},
			{2048, 2048, 2048 * 1280, 4096, 1280},
			{4096, 4096, 4096 * 1280, 8192, 1280},
			{8192, 8192, 8192 * 1280, 10000, 1280},
			{10000, 10000, 10000 * 1280, 10000, 1280},
		}},
		{"a short page keeps the limit", 10000, []obs{
			{256, 10, 10 * 1280, 256, 1280},
			{256, 0, 0, 256, 1280},
		}},
		{"a budget-shortened call does not grow the limit", 10000, []obs{
			{100, 100, 100 * 1280, 256, 1280},
		}},
		{"a page cut by the byte cap counts as full", 10000, []obs{
			{256, 100, PageBytes(100, MaxPageBytes), 512, (PageBytes(100, MaxPageBytes) + 99) / 100},
		}},
		{"bigger records at once, smaller slowly", 10000, []obs{
			{256, 10, 10 * 1000, 256, 1000},
			{256, 10, 10 * 5000, 256, 5000},
			{256, 10, 10 * 1000, 256, (3*5000 + 1000 + 3) / 4},
		}},
		{"max_records below the first limit", 100, []obs{
			{100, 100, 100 * 1280, 100, 1280},
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
