package host

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestArenaClass(t *testing.T) {
	for _, c := range []struct{ n, size int }{
		{64 << 10, 64 << 10},
		{64<<10 + 1, 80 << 10},
		{80 << 10, 80 << 10},
		{96<<10 + 1, 112 << 10},
		{112<<10 + 1, 128 << 10},
		{5_000_000, 5 << 20},
		{10<<20 + 8, 12 << 20},
		{32 << 20, 32 << 20},
	} {
		class, size := arenaClass(c.n)
		if size != c.size || size < c.n {
			t.Errorf("arenaClass(%d) size %d, want %d", c.n, size, c.size)
		}
		if c2, s2 := arenaClass(size); c2 != class || s2 != size {
			t.Errorf("arenaClass(%d) = %d, %d; its own size gives %d, %d", c.n, class, size, c2, s2)
		}
	}
	for n := 1 << 16; n < 1<<22; n += 4099 { // slack at most 25 %, never short
		_, size := arenaClass(n)
		if size < n || size > n+n/4+1 {
			t.Fatalf("arenaClass(%d) size %d", n, size)
		}
	}
}

// grTestBody is a GetRecords response body with the given records' data.
func grTestBody(datas [][]byte) []byte {
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i, d := range datas {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Data":%q,"PartitionKey":"k%d","SequenceNumber":"%d","ApproximateArrivalTimestamp":1.7E9}`,
			base64.StdEncoding.EncodeToString(d), i, 1000+i)
	}
	b.WriteString(`],"NextShardIterator":"it","MillisBehindLatest":0}`)
	return []byte(b.String())
}

// Data decoded into an arena lives in the arena's pooled buffer until the
// arena is freed; freed with poison on, the buffer (and anything still
// pointing into it) shows the poison, and the next arena of that size
// class gets the same buffer back. A dropped arena's buffer is not reused.
func TestArenaDecodeFreeReuse(t *testing.T) {
	defer func(old bool) { arenaPoison.Store(old) }(arenaPoison.Swap(true))
	var datas [][]byte
	for i := 0; i < 100; i++ {
		datas = append(datas, bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i))
	}
	body := grTestBody(datas)

	a := new(pageArena)
	out, err := decodeGetRecordsInto(body, a)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out.Records {
		if !bytes.Equal(r.Data, datas[i]) {
			t.Fatalf("record %d: data differs", i)
		}
	}
	if a.bytes() < 100_000 {
		t.Fatalf("arena holds %d bytes; the page's Data was not decoded into it", a.bytes())
	}
	first := &out.Records[0].Data[0]
	r0 := arenaCounts.recycled.Load()
	a.free()
	if arenaCounts.recycled.Load() != r0+1 {
		t.Fatal("free did not count a recycled arena")
	}
	if a.bytes() != 0 {
		t.Fatal("freed arena still holds buffers")
	}
	if out.Records[0].Data[0] != arenaPoisonByte || out.Records[99].Data[5] != arenaPoisonByte {
		t.Fatal("freed buffer not poisoned: records do not alias the arena")
	}

	// The pool hands the buffer out again (sync.Pool may drop it under GC;
	// only a hit is checked).
	b := new(pageArena)
	out2, err := decodeGetRecordsInto(body, b)
	if err != nil {
		t.Fatal(err)
	}
	if &out2.Records[0].Data[0] == first {
		t.Log("buffer reused from the pool")
	}
	for i, r := range out2.Records {
		if !bytes.Equal(r.Data, datas[i]) {
			t.Fatalf("reused buffer: record %d data differs", i)
		}
	}
	b.drop()
	if out2.Records[0].Data[0] == arenaPoisonByte {
		t.Fatal("dropped arena was poisoned")
	}

	// Without an arena: plain allocation, nothing owned.
	var none *pageArena
	if _, err := decodeGetRecordsInto(body, none); err != nil {
		t.Fatal(err)
	}
	none.free()
	none.drop()
}
