package membudget

// Sizes the reservations are computed with.
const (
	// MaxRecordBytes is the most data one Kinesis record holds (1 MiB).
	MaxRecordBytes = 1 << 20
	// MaxPageBytes is the most record data one GetRecords response holds
	// (10 MiB).
	MaxPageBytes = 10 << 20
	// RecordOverhead is the memory a fetched record takes besides its data,
	// partition key and sequence number: the SDK's record, the host's wire
	// record, their pointers and timestamps.
	RecordOverhead = 256
	// FirstPageBytes is the page size a shard's reads start from (slow
	// start): small pages arrive, are decoded and are delivered quickly;
	// the size then grows SlowStartGrowth-fold while pages come back full.
	// Before the size of the shard's records is known, the first page is
	// one record.
	FirstPageBytes = 1 << 20
	// SlowStartGrowth is the factor the page size aimed at grows by after
	// a full page. Not 2: a shard makes at most 5 calls a second, so every
	// step of the ramp costs 200 ms of a shard that is behind (doubling
	// from 1 MiB to a full page took a second, and halved the records/s of
	// a host reading 4 shards from their start).
	SlowStartGrowth = 8
	// MinPageBytes is the least page size aimed at: a shard whose pages
	// come back short (caught up) aims at twice its last page, not less
	// than this, so that many idle shards polling do not each reserve
	// room for a full page.
	MinPageBytes = 64 << 10
	// MinShareDivisor: a reader waits until it can reserve at least
	// 1/MinShareDivisor of the budget (or all it wants, when less), so that
	// under contention calls stay worth making instead of shrinking to a
	// few records each.
	MinShareDivisor = 16
)

// callFactor (num/den) is how much more than the decoded page a GetRecords
// call holds while it is in flight: the response body (base64 data is 4/3
// of the data, plus the JSON around it) is held while the page is decoded.
const callNum, callDen = 5, 2

// PageBytes is what a page of records holding dataBytes of data, partition
// keys and sequence numbers costs in memory.
func PageBytes(records int, dataBytes int64) int64 {
	return dataBytes + int64(records)*RecordOverhead
}

// Sizer is one shard reader's read-size logic: how many bytes to reserve
// before a GetRecords call, and what Limit the reservation allows. It
// learns the shard's bytes per record from the pages it fetched (their
// PageBytes; an increase is taken at once, a decrease slowly) and runs a
// slow start in bytes: it aims at pages of FirstPageBytes, and grows the
// aim SlowStartGrowth-fold (and to at least twice the page) after each
// page that came back full; the Limit is the aim divided by the bytes per
// record, between 1 and max_records. Before the first page the size of a
// record is unknown and the worst case (1 MiB records) is assumed: while
// the budget is contended the first call asks for one record (reserving
// room for one of 1 MiB), so that records flow at once; while at most half
// of the budget would be in use, it asks for max_records at once
// (reserving room for a full 10 MiB page), so that a host reading a few
// shards does not pay the ramp.
//
// A Sizer is used by one goroutine; it has no locks.
type Sizer struct {
	maxRecords int
	target     int64 // the slow-start page size aimed at
	bpr        int64 // page bytes per record observed; 0 = not yet known
	whole      bool  // bpr unknown and the budget uncontended: ask for max_records
}

// NewSizer returns the sizer of a shard read with Limit at most maxRecords
// (at least 1).
func NewSizer(maxRecords int) *Sizer {
	return &Sizer{maxRecords: max(maxRecords, 1), target: FirstPageBytes}
}

// perRecord is the page bytes a record is estimated at.
func (s *Sizer) perRecord() int64 {
	if s.bpr == 0 {
		return MaxRecordBytes + RecordOverhead
	}
	return s.bpr
}

// CurrentLimit is the Limit the next call asks for when the budget allows
// it: the slow-start page size over the bytes per record.
func (s *Sizer) CurrentLimit() int {
	if s.bpr == 0 && s.whole {
		return s.maxRecords
	}
	return int(min(max(s.target/s.perRecord(), 1), int64(s.maxRecords)))
}

// BytesPerRecord is the observed page bytes per record (0 before the
// first page with records).
func (s *Sizer) BytesPerRecord() int64 { return s.bpr }

// pageEstimate is the memory a page of n records takes, by the observed
// bytes per record, or by the worst case before any was observed. Either
// way no more than Kinesis can return (MaxPageBytes of data).
func (s *Sizer) pageEstimate(n int) int64 {
	return min(int64(n)*s.perRecord(), PageBytes(n, MaxPageBytes))
}

// CallBytes is the reservation for a GetRecords call with Limit n: the
// page's estimate, times the call factor for the response body held while
// it is decoded.
func (s *Sizer) CallBytes(n int) int64 {
	return s.pageEstimate(max(n, 1)) * callNum / callDen
}

// Want returns the reservation to ask the budget of budgetLimit bytes, of
// which held are in use, for before the next call: hi for a full page at
// the current Limit, lo the least worth calling for (one record's call, or
// 1/MinShareDivisor of the budget, whichever is more, but never more than
// hi). A caller that sees others waiting for the budget passes held =
// budgetLimit (contended).
func (s *Sizer) Want(budgetLimit, held int64) (lo, hi int64) {
	if s.bpr == 0 {
		s.whole = held+s.pageEstimate(s.maxRecords)*callNum/callDen <= budgetLimit/2
	}
	hi = s.CallBytes(s.CurrentLimit())
	lo = min(hi, max(s.CallBytes(1), budgetLimit/MinShareDivisor))
	return lo, hi
}

// Limit returns the GetRecords Limit for a reservation of granted bytes:
// the largest Limit, at most CurrentLimit, whose CallBytes fit in granted;
// at least 1 (an oversized reservation granted alone).
func (s *Sizer) Limit(granted int64) int {
	lo, hi := 1, s.CurrentLimit()
	if s.CallBytes(hi) <= granted {
		return hi
	}
	for lo < hi { // largest n in [1, limit] with CallBytes(n) <= granted
		mid := (lo + hi + 1) / 2
		if s.CallBytes(mid) <= granted {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Observe takes in a page: asked is the Limit of the call, got the
// records it returned and pageBytes their PageBytes. A page that came back
// full (got ≥ asked when asked was CurrentLimit, or cut by Kinesis's byte
// cap) grows the page size aimed at (up to what max_records of the shard's
// records need); a short page (the shard is caught up) sets it to twice
// that page, at least MinPageBytes.
func (s *Sizer) Observe(asked, got int, pageBytes int64) {
	grow := got > 0 && asked >= s.CurrentLimit() &&
		(got >= asked || pageBytes >= PageBytes(got, MaxPageBytes*9/10))
	if got > 0 {
		obs := (pageBytes + int64(got) - 1) / int64(got)
		switch {
		case s.bpr == 0 || obs > s.bpr:
			s.bpr = obs // bigger records: believed at once
		default:
			s.bpr = (3*s.bpr + obs + 3) / 4 // smaller: slowly
		}
	}
	switch {
	case grow:
		if s.target < PageBytes(s.maxRecords, MaxPageBytes) {
			s.target = max(s.target*SlowStartGrowth, 2*pageBytes)
		}
	case got < asked:
		s.target = max(2*pageBytes, MinPageBytes)
	}
}
