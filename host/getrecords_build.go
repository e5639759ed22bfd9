package host

// Building the output records of the fast GetRecords decoder
// (getrecords_decode.go) from what its scanner found, with the Data buffer
// from the page arena (arena.go) when there is one.

import (
	"errors"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// build makes the output records from d.recs: one buffer for all raw
// Data (from d.arena's pools when there is one: not zeroed, every byte a
// record's Data covers is written here), one for all raw strings, and
// slabs for the string and time pointers.
func (d *grDecoder) build() ([]types.Record, error) {
	recs := d.recs
	out := make([]types.Record, len(recs))
	var dataLen, strLen, nStr, nTS int
	rawData := false
	for i := range recs {
		r := &recs[i]
		if r.dataKind == grRaw {
			n, ok := grBase64Len(d.b[r.dataStart:r.dataEnd])
			if !ok {
				return nil, errors.New("getrecords: invalid base64 Data")
			}
			dataLen += n
			rawData = true
		}
		for _, s := range [...]*grStr{&r.pk, &r.seq} {
			if s.kind != grAbsent {
				nStr++
			}
			if s.kind == grRaw {
				strLen += int(s.end - s.start)
			}
		}
		if r.enc.kind == grRaw && grEncryptionType(d.b[r.enc.start:r.enc.end]) == "" {
			strLen += int(r.enc.end - r.enc.start)
		}
		if r.hasTS {
			nTS++
		}
	}
	var data []byte
	if rawData {
		// Slack: base64.Decode may write a few bytes past a record's
		// end (into the next one, decoded after it, or here).
		data = d.arena.alloc(dataLen + 8)
	}
	strBuf := make([]byte, 0, strLen)
	strs := make([]string, nStr)
	times := make([]time.Time, nTS)
	str := func(s *grStr) string {
		if s.kind == grOwn {
			return s.own
		}
		if s.end == s.start {
			return ""
		}
		o := len(strBuf)
		strBuf = append(strBuf, d.b[s.start:s.end]...)
		return unsafe.String(&strBuf[o], int(s.end-s.start))
	}
	off := 0
	for i := range recs {
		r, rec := &recs[i], &out[i]
		if r.null {
			continue
		}
		switch r.dataKind {
		case grRaw:
			src := d.b[r.dataStart:r.dataEnd]
			n, _ := grBase64Len(src)
			m, err := grDecodeBase64(data[off:], src)
			if err != nil || m != n {
				return nil, errors.New("getrecords: invalid base64 Data")
			}
			rec.Data = data[off : off+n : off+n]
			off += n
		case grOwn:
			rec.Data = r.dataOwn
		}
		if r.pk.kind != grAbsent {
			strs[0] = str(&r.pk)
			rec.PartitionKey = &strs[0]
			strs = strs[1:]
		}
		if r.seq.kind != grAbsent {
			strs[0] = str(&r.seq)
			rec.SequenceNumber = &strs[0]
			strs = strs[1:]
		}
		switch r.enc.kind {
		case grRaw:
			if e := grEncryptionType(d.b[r.enc.start:r.enc.end]); e != "" {
				rec.EncryptionType = e
			} else {
				rec.EncryptionType = types.EncryptionType(str(&r.enc))
			}
		case grOwn:
			rec.EncryptionType = types.EncryptionType(r.enc.own)
		}
		if r.hasTS {
			times[0] = r.ts
			rec.ApproximateArrivalTimestamp = &times[0]
			times = times[1:]
		}
	}
	return out, nil
}
