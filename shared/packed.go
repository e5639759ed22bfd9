package shared

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// WireVersion is the newest batch wire format this build writes and reads.
// A handler plugin advertises the newest format it reads in
// InfoResponse.WireVersion, and the host sends a batch in the newest format
// both sides know:
//
//   - 0 (WireRecords): BatchRequest.Records, gob's encoding of a slice of
//     Record structs. Every plugin reads it; plugins built before packed
//     batches advertise nothing (gob decodes the missing field as 0).
//   - 1 (WirePacked): BatchRequest.Packed, the records laid out in one
//     buffer by AppendPacked (see there for the layout) and read back with
//     ReadPacked, without an allocation per record on either side.
//
// A plugin that reads format n reads every older format too: a new plugin
// started by an old host gets Records and works unchanged.
const WireVersion = WirePacked

// The batch wire formats (see WireVersion).
const (
	// WireRecords is the gob-encoded BatchRequest.Records form, the only
	// one plugins built before packed batches understand.
	WireRecords = 0
	// WirePacked is the BatchRequest.Packed form (AppendPacked, ReadPacked).
	WirePacked = 1
)

// packedFormat is the first byte of a packed batch: the layout version
// inside the Packed buffer, so a later layout can be told apart from this
// one even if it is sent in the same field.
const packedFormat = 1

// minPackedHeader is the smallest encoding of one record's header (five
// one-byte varints); it bounds the record count a buffer can claim, so a
// malformed count never makes the reader allocate more than the buffer
// could describe.
const minPackedHeader = 5

// ErrMalformedPacked is wrapped by every error ReadPacked returns: the
// buffer is not a packed batch this build can read.
var ErrMalformedPacked = errors.New("malformed packed batch")

// uvarintLen is the length of v encoded by binary.AppendUvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// zigzag maps a signed value to an unsigned one with small magnitudes
// small (the encoding binary.AppendVarint uses).
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// arrival encodes a record's ApproximateArrivalTimestamp: 0 for the zero
// Time, otherwise 1 + the zigzag of its Unix nanoseconds.
func arrival(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return zigzag(t.UnixNano()) + 1
}

// PackedSize is the exact length AppendPacked adds for recs.
func PackedSize(recs []Record) int {
	n := 1 + uvarintLen(uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		n += uvarintLen(uint64(len(r.Data))) + uvarintLen(uint64(len(r.PartitionKey))) +
			uvarintLen(uint64(len(r.SequenceNumber))) + uvarintLen(zigzag(r.SubSequenceNumber)) +
			uvarintLen(arrival(r.ApproximateArrivalTimestamp)) +
			len(r.PartitionKey) + len(r.SequenceNumber) + len(r.Data)
	}
	return n
}

// AppendPacked appends recs to dst in the packed batch layout and returns
// the extended buffer. It grows dst at most once (to PackedSize) and
// allocates nothing when dst has room, whatever the number of records: the
// host encodes each batch into a reused buffer.
//
// The layout, every integer an unsigned LEB128 varint (binary.AppendUvarint):
//
//	format byte (1)
//	count
//	count × header: len(Data), len(PartitionKey), len(SequenceNumber),
//	                zigzag(SubSequenceNumber),
//	                arrival (0 = zero Time, else 1 + zigzag(UnixNano))
//	strings: PartitionKey then SequenceNumber of each record, in order
//	data:    Data of each record, in order
//
// The buffer ends exactly after the last record's data. Strings come
// before data so the reader can copy all of them with one allocation and
// hand out Data slices that cannot reach them. An arrival time outside the
// range of UnixNano (years 1678 to 2262) does not round-trip; its location
// is not kept (ReadPacked returns UTC) and neither is a monotonic reading.
func AppendPacked(dst []byte, recs []Record) []byte {
	if need := PackedSize(recs); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, packedFormat)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
		dst = binary.AppendUvarint(dst, uint64(len(r.PartitionKey)))
		dst = binary.AppendUvarint(dst, uint64(len(r.SequenceNumber)))
		dst = binary.AppendUvarint(dst, zigzag(r.SubSequenceNumber))
		dst = binary.AppendUvarint(dst, arrival(r.ApproximateArrivalTimestamp))
	}
	for i := range recs {
		dst = append(dst, recs[i].PartitionKey...)
		dst = append(dst, recs[i].SequenceNumber...)
	}
	for i := range recs {
		dst = append(dst, recs[i].Data...)
	}
	return dst
}

// PackedReader reads the records of a packed batch in order. ReadPacked
// has checked the whole buffer, so Next cannot fail.
//
// Record.Data of every record it returns is a slice of the buffer given to
// ReadPacked (capacity capped at its length, so appending to it copies and
// never overwrites the next record); the strings are substrings of one
// copy of the batch's string section, made by ReadPacked.
type PackedReader struct {
	hdr  []byte // the headers not read yet
	strs string // every partition key and sequence number
	data []byte // every record's data
	n    int    // the record count
	left int    // records not read yet
}

// ReadPacked checks buf, a batch laid out by AppendPacked, and returns a
// reader of its records. It allocates once (the string section; nothing
// when it is empty) whatever the number of records, and never reads
// outside buf: any malformed buffer (wrong format byte, a count or length
// larger than what follows, bytes left over) is an error wrapping
// ErrMalformedPacked.
func ReadPacked(buf []byte) (PackedReader, error) {
	if len(buf) == 0 {
		return PackedReader{}, fmt.Errorf("%w: empty", ErrMalformedPacked)
	}
	if buf[0] != packedFormat {
		return PackedReader{}, fmt.Errorf("%w: format %d, this build reads format %d", ErrMalformedPacked, buf[0], packedFormat)
	}
	p := buf[1:]
	count, k := binary.Uvarint(p)
	if k <= 0 {
		return PackedReader{}, fmt.Errorf("%w: bad record count", ErrMalformedPacked)
	}
	p = p[k:]
	if count > uint64(len(p)/minPackedHeader) {
		return PackedReader{}, fmt.Errorf("%w: %d records claimed in %d bytes", ErrMalformedPacked, count, len(p))
	}
	hdr := p
	// Both sums stay below len(buf) (each length is checked against what
	// is left before it is added), so they cannot overflow.
	var strLen, dataLen uint64
	limit := uint64(len(p))
	for i := uint64(0); i < count; i++ {
		var f [5]uint64
		for j := range f {
			v, k := binary.Uvarint(p)
			if k <= 0 {
				return PackedReader{}, fmt.Errorf("%w: record %d: bad header", ErrMalformedPacked, i)
			}
			f[j] = v
			p = p[k:]
		}
		if f[0] > limit || f[1] > limit || f[2] > limit {
			return PackedReader{}, fmt.Errorf("%w: record %d: length beyond the buffer", ErrMalformedPacked, i)
		}
		dataLen += f[0]
		strLen += f[1] + f[2]
		if dataLen > limit || strLen > limit {
			return PackedReader{}, fmt.Errorf("%w: record %d: lengths beyond the buffer", ErrMalformedPacked, i)
		}
	}
	hdrLen := len(hdr) - len(p)
	if strLen+dataLen != uint64(len(p)) {
		return PackedReader{}, fmt.Errorf("%w: headers describe %d bytes of strings and data, %d follow", ErrMalformedPacked, strLen+dataLen, len(p))
	}
	data := p[strLen:]
	return PackedReader{
		hdr:  hdr[:hdrLen],
		strs: string(p[:strLen]),
		data: data[:len(data):len(data)],
		n:    int(count),
		left: int(count),
	}, nil
}

// Len is the number of records in the batch.
func (r *PackedReader) Len() int { return r.n }

// Next fills rec with the next record and reports whether there was one.
// It allocates nothing. Data is nil for an empty payload, as gob would
// deliver it.
func (r *PackedReader) Next(rec *Record) bool {
	if r.left == 0 {
		return false
	}
	r.left--
	var f [5]uint64
	for j := range f {
		v, k := binary.Uvarint(r.hdr)
		f[j] = v
		r.hdr = r.hdr[k:]
	}
	pk, seq := int(f[1]), int(f[2])
	rec.PartitionKey = r.strs[:pk]
	rec.SequenceNumber = r.strs[pk : pk+seq]
	r.strs = r.strs[pk+seq:]
	d := int(f[0])
	if d == 0 {
		rec.Data = nil
	} else {
		rec.Data = r.data[:d:d]
	}
	r.data = r.data[d:]
	rec.SubSequenceNumber = unzigzag(f[3])
	if f[4] == 0 {
		rec.ApproximateArrivalTimestamp = time.Time{}
	} else {
		rec.ApproximateArrivalTimestamp = time.Unix(0, unzigzag(f[4]-1)).UTC()
	}
	return true
}
