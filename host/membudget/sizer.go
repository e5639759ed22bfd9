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
	// FirstLimit is the GetRecords Limit of a shard's first call (slow
	// start): a small page arrives, is decoded and is delivered quickly;
	// the Limit then doubles while pages come back full.
	FirstLimit = 256
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
// slow start: the first call asks for FirstLimit records (or max_records,
// when smaller), and the Limit doubles after each page that came back
// full, up to max_records. Before the first page the size of a record is
// unknown and the worst case is reserved (1 MiB records, a 10 MiB page).
//
// A Sizer is used by one goroutine; it has no locks.
type Sizer struct {
	maxRecords int
	limit      int   // the slow-start Limit
	bpr        int64 // page bytes per record observed; 0 = not yet known
}

// NewSizer returns the sizer of a shard read with Limit at most maxRecords
// (at least 1).
func NewSizer(maxRecords int) *Sizer {
	maxRecords = max(maxRecords, 1)
	return &Sizer{maxRecords: maxRecords, limit: min(FirstLimit, maxRecords)}
}

// CurrentLimit is the slow-start Limit the next call asks for when the
// budget allows it.
func (s *Sizer) CurrentLimit() int { return s.limit }

// BytesPerRecord is the observed page bytes per record (0 before the
// first page with records).
func (s *Sizer) BytesPerRecord() int64 { return s.bpr }

// pageEstimate is the memory a page of n records takes, by the observed
// bytes per record, or by the worst case before any was observed. Either
// way no more than Kinesis can return (MaxPageBytes of data).
func (s *Sizer) pageEstimate(n int) int64 {
	per := s.bpr
	if per == 0 {
		per = MaxRecordBytes + RecordOverhead
	}
	return min(int64(n)*per, PageBytes(n, MaxPageBytes))
}

// CallBytes is the reservation for a GetRecords call with Limit n: the
// page's estimate, times the call factor for the response body held while
// it is decoded.
func (s *Sizer) CallBytes(n int) int64 {
	return s.pageEstimate(max(n, 1)) * callNum / callDen
}

// Want returns the reservation to ask the budget of budgetLimit bytes for
// before the next call: hi for a full page at the current Limit, lo the
// least worth calling for (one record's call, or 1/MinShareDivisor of the
// budget, whichever is more, but never more than hi).
func (s *Sizer) Want(budgetLimit int64) (lo, hi int64) {
	hi = s.CallBytes(s.limit)
	lo = min(hi, max(s.CallBytes(1), budgetLimit/MinShareDivisor))
	return lo, hi
}

// Limit returns the GetRecords Limit for a reservation of granted bytes:
// the largest Limit, at most the current slow-start Limit, whose CallBytes
// fit in granted; at least 1 (an oversized reservation granted alone).
func (s *Sizer) Limit(granted int64) int {
	lo, hi := 1, s.limit
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
// full (got ≥ asked at the current Limit, or cut by Kinesis's byte cap)
// doubles the Limit, up to max_records.
func (s *Sizer) Observe(asked, got int, pageBytes int64) {
	if got > 0 {
		obs := (pageBytes + int64(got) - 1) / int64(got)
		switch {
		case s.bpr == 0 || obs > s.bpr:
			s.bpr = obs // bigger records: believed at once
		default:
			s.bpr = (3*s.bpr + obs + 3) / 4 // smaller: slowly
		}
	}
	capped := pageBytes >= PageBytes(got, MaxPageBytes*9/10)
	if got > 0 && asked >= s.limit && (got >= asked || capped) {
		s.limit = min(2*s.limit, s.maxRecords)
	}
}
