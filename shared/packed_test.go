package shared

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// unpackAll reads every record of a packed batch.
func unpackAll(t testing.TB, buf []byte) ([]Record, error) {
	rd, err := ReadPacked(buf)
	if err != nil {
		return nil, err
	}
	out := make([]Record, rd.Len())
	for i := range out {
		if !rd.Next(&out[i]) {
			t.Fatalf("Next returned false at %d of %d", i, rd.Len())
		}
	}
	var extra Record
	if rd.Next(&extra) {
		t.Fatalf("Next returned a record past Len %d", rd.Len())
	}
	return out, nil
}

func sameRecord(a, b Record) bool {
	return bytes.Equal(a.Data, b.Data) && a.PartitionKey == b.PartitionKey && a.SequenceNumber == b.SequenceNumber &&
		a.SubSequenceNumber == b.SubSequenceNumber && a.ApproximateArrivalTimestamp.Equal(b.ApproximateArrivalTimestamp) &&
		a.ApproximateArrivalTimestamp.IsZero() == b.ApproximateArrivalTimestamp.IsZero()
}

func TestPackedRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 5, 23, 1, 2, 345678901, time.UTC)
	big := bytes.Repeat([]byte{0xab}, 1<<20)
	cases := map[string][]Record{
		"empty batch": nil,
		"one plain":   {{Data: []byte("hello"), PartitionKey: "pk", SequenceNumber: "49590338271490256608559692538361571095921575989136588898", ApproximateArrivalTimestamp: now}},
		"zero values": {{}},
		"empty data and keys": {
			{SequenceNumber: "1"}, {PartitionKey: "k"}, {Data: []byte{}}, {Data: []byte{0}},
		},
		"kpl sub-sequences": {
			{Data: []byte("a"), PartitionKey: "x", SequenceNumber: "7", SubSequenceNumber: 0, ApproximateArrivalTimestamp: now},
			{Data: []byte("b"), PartitionKey: "y", SequenceNumber: "7", SubSequenceNumber: 1, ApproximateArrivalTimestamp: now},
			{Data: []byte("c"), PartitionKey: "z", SequenceNumber: "7", SubSequenceNumber: math.MaxInt64, ApproximateArrivalTimestamp: now},
			{Data: []byte("d"), PartitionKey: "w", SequenceNumber: "7", SubSequenceNumber: -1, ApproximateArrivalTimestamp: now},
		},
		"times": {
			{ApproximateArrivalTimestamp: time.Unix(0, 0).UTC()},
			{ApproximateArrivalTimestamp: time.Unix(0, 1).UTC()},
			{ApproximateArrivalTimestamp: time.Unix(0, -1).UTC()},
			{ApproximateArrivalTimestamp: time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC)},
			{ApproximateArrivalTimestamp: time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)},
			{ApproximateArrivalTimestamp: now.In(time.FixedZone("x", 3600))},
		},
		"large payload and unicode keys": {
			{Data: big, PartitionKey: strings.Repeat("é", 128), SequenceNumber: strings.Repeat("9", 128)},
			{Data: []byte("after"), PartitionKey: "\x00", SequenceNumber: "2"},
		},
	}
	many := make([]Record, 1000)
	for i := range many {
		many[i] = Record{Data: bytes.Repeat([]byte{byte(i)}, i%300), PartitionKey: fmt.Sprint("pk-", i), SequenceNumber: fmt.Sprint(1e12 + float64(i)),
			SubSequenceNumber: int64(i % 7), ApproximateArrivalTimestamp: now.Add(time.Duration(i) * time.Millisecond)}
	}
	cases["1000 records"] = many
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			buf := AppendPacked(prefix, recs)
			if !bytes.HasPrefix(buf, []byte("prefix")) {
				t.Fatal("AppendPacked lost what dst held")
			}
			if got, want := len(buf)-len(prefix), PackedSize(recs); got != want {
				t.Fatalf("AppendPacked wrote %d bytes, PackedSize says %d", got, want)
			}
			got, err := unpackAll(t, buf[len(prefix):])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs) {
				t.Fatalf("got %d records, want %d", len(got), len(recs))
			}
			for i := range recs {
				if !sameRecord(got[i], recs[i]) {
					t.Fatalf("record %d: got %+v, want %+v", i, got[i], recs[i])
				}
				if len(got[i].Data) == 0 && got[i].Data != nil {
					t.Fatalf("record %d: empty Data is not nil", i)
				}
				if cap(got[i].Data) != len(got[i].Data) {
					t.Fatalf("record %d: Data capacity %d reaches past its length %d", i, cap(got[i].Data), len(got[i].Data))
				}
				if loc := got[i].ApproximateArrivalTimestamp.Location(); !got[i].ApproximateArrivalTimestamp.IsZero() && loc != time.UTC {
					t.Fatalf("record %d: location %v, want UTC", i, loc)
				}
			}
		})
	}
}

// Data slices alias the buffer (no copy); the strings do not.
func TestPackedAliasing(t *testing.T) {
	recs := []Record{{Data: []byte("abc"), PartitionKey: "pk", SequenceNumber: "1"}, {Data: []byte("def"), PartitionKey: "pk2", SequenceNumber: "2"}}
	buf := AppendPacked(nil, recs)
	got, err := unpackAll(t, buf)
	if err != nil {
		t.Fatal(err)
	}
	got[0].Data[0] = 'X'
	if !bytes.Contains(buf, []byte("Xbc")) {
		t.Fatal("Data is not a slice of the buffer")
	}
	_ = append(got[0].Data, 'Y') // must copy: capacity ends at the record
	if string(got[1].Data) != "def" {
		t.Fatalf("appending to one record's Data overwrote the next: %q", got[1].Data)
	}
	for i := range buf {
		buf[i] = 0
	}
	if got[1].PartitionKey != "pk2" || got[1].SequenceNumber != "2" {
		t.Fatal("strings change with the buffer")
	}
}

func TestPackedAllocations(t *testing.T) {
	recs := benchRecords(500, 100)
	buf := AppendPacked(nil, recs)
	if n := testing.AllocsPerRun(20, func() { buf = AppendPacked(buf[:0], recs) }); n != 0 {
		t.Errorf("AppendPacked into a buffer with room: %v allocations, want 0", n)
	}
	out := make([]Record, len(recs))
	if n := testing.AllocsPerRun(20, func() {
		rd, err := ReadPacked(buf)
		if err != nil {
			t.Fatal(err)
		}
		for i := range out {
			rd.Next(&out[i])
		}
	}); n > 1 {
		t.Errorf("ReadPacked and 500 Next: %v allocations, want at most 1 (the string section)", n)
	}
}

func TestPackedMalformed(t *testing.T) {
	good := AppendPacked(nil, []Record{{Data: []byte("data"), PartitionKey: "pk", SequenceNumber: "12", ApproximateArrivalTimestamp: time.Unix(1, 0)}})
	huge := binary.AppendUvarint([]byte{packedFormat}, math.MaxUint64)
	lenPastEnd := []byte{packedFormat, 1}
	lenPastEnd = binary.AppendUvarint(lenPastEnd, math.MaxUint64) // data length
	lenPastEnd = append(lenPastEnd, 0, 0, 0, 0)
	sumPastEnd := []byte{packedFormat, 2, 3, 0, 0, 0, 0, 3, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'}
	for name, buf := range map[string][]byte{
		"nil":                 nil,
		"wrong format":        append([]byte{2}, good[1:]...),
		"format 0":            append([]byte{0}, good[1:]...),
		"no count":            {packedFormat},
		"truncated count":     {packedFormat, 0x80},
		"count beyond buffer": huge,
		"count too large":     {packedFormat, 2, 0, 0, 0, 0, 0},
		"truncated header":    good[:4],
		"truncated strings":   good[:len(good)-6],
		"truncated data":      good[:len(good)-1],
		"trailing byte":       append(append([]byte{}, good...), 0),
		"length past end":     lenPastEnd,
		"lengths past end":    sumPastEnd,
		"overlong varint":     {packedFormat, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := unpackAll(t, buf)
			if !errors.Is(err, ErrMalformedPacked) {
				t.Fatalf("got %v, want ErrMalformedPacked", err)
			}
		})
	}
}

// FuzzPacked: any input either reads as a batch that packs back to the
// same bytes, or is an error; never a panic or a read outside the input
// (the input is copied into a slice of exactly its length, and Data
// slices must stay inside it).
func FuzzPacked(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add([]byte{})
	f.Add([]byte{packedFormat, 0})
	f.Add(AppendPacked(nil, nil))
	f.Add(AppendPacked(nil, []Record{{}}))
	f.Add(AppendPacked(nil, []Record{{Data: []byte("x"), PartitionKey: "k", SequenceNumber: "1", SubSequenceNumber: 3, ApproximateArrivalTimestamp: now}}))
	f.Add(AppendPacked(nil, benchRecords(5, 10)))
	f.Add([]byte{packedFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{packedFormat, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(make([]byte, 0, len(in)), in...)
		rd, err := ReadPacked(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformedPacked) {
				t.Fatalf("error %v does not wrap ErrMalformedPacked", err)
			}
			return
		}
		recs := make([]Record, 0, rd.Len())
		var r Record
		for rd.Next(&r) {
			recs = append(recs, r)
		}
		if len(recs) != rd.Len() {
			t.Fatalf("read %d records, Len %d", len(recs), rd.Len())
		}
		for i, r := range recs {
			if cap(r.Data) != len(r.Data) {
				t.Fatalf("record %d: Data capacity past its length", i)
			}
		}
		// A buffer that reads must be the canonical encoding, except for
		// non-minimal varints and arrival times, which the reader accepts
		// but the writer never produces: compare by content.
		again, err := unpackAll(t, AppendPacked(nil, recs))
		if err != nil {
			t.Fatalf("re-encoding a read batch: %v", err)
		}
		for i := range recs {
			if !sameRecord(again[i], recs[i]) {
				t.Fatalf("record %d changed on re-encoding: %+v, then %+v", i, recs[i], again[i])
			}
		}
	})
}

func benchRecords(n, size int) []Record {
	now := time.Now().UTC()
	payload := bytes.Repeat([]byte{'x'}, size)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Data: payload, PartitionKey: fmt.Sprintf("partition-key-%d", i%64),
			SequenceNumber:              fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", i),
			ApproximateArrivalTimestamp: now.Add(time.Duration(i) * time.Millisecond)}
	}
	return recs
}

// BenchmarkBatchWire compares a 500-record batch on the wire, both through
// a gob stream as net/rpc sends it (type descriptors once per connection):
// "gob" is BatchRequest.Records; "packed" is AppendPacked into a reused
// buffer, gob of BatchRequest.Packed, then ReadPacked into a fresh []Record
// as the sdk does.
func BenchmarkBatchWire(b *testing.B) {
	for _, size := range []int{100, 1024} {
		recs := benchRecords(500, size)
		b.Run(fmt.Sprintf("gob/%dB", size), func(b *testing.B) {
			var conn bytes.Buffer
			enc, dec := gob.NewEncoder(&conn), gob.NewDecoder(&conn)
			b.SetBytes(int64(500 * size))
			b.ReportAllocs()
			for b.Loop() {
				if err := enc.Encode(&BatchRequest{Stream: "s", ShardID: "shardId-000000000001", Records: recs}); err != nil {
					b.Fatal(err)
				}
				var got BatchRequest
				if err := dec.Decode(&got); err != nil {
					b.Fatal(err)
				}
				if len(got.Records) != len(recs) {
					b.Fatal("lost records")
				}
			}
		})
		b.Run(fmt.Sprintf("packed/%dB", size), func(b *testing.B) {
			var conn bytes.Buffer
			enc, dec := gob.NewEncoder(&conn), gob.NewDecoder(&conn)
			var buf []byte
			b.SetBytes(int64(500 * size))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendPacked(buf[:0], recs)
				if err := enc.Encode(&BatchRequest{Stream: "s", ShardID: "shardId-000000000001", Packed: buf}); err != nil {
					b.Fatal(err)
				}
				var got BatchRequest
				if err := dec.Decode(&got); err != nil {
					b.Fatal(err)
				}
				rd, err := ReadPacked(got.Packed)
				if err != nil {
					b.Fatal(err)
				}
				out := make([]Record, rd.Len())
				for i := range out {
					rd.Next(&out[i])
				}
				if len(out) != len(recs) {
					b.Fatal("lost records")
				}
			}
		})
	}
}

// BenchmarkAppendPacked is the host's part alone: encoding into a reused
// buffer (no allocation).
func BenchmarkAppendPacked(b *testing.B) {
	recs := benchRecords(500, 1024)
	var buf []byte
	b.SetBytes(500 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPacked(buf[:0], recs)
	}
}
