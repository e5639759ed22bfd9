package main

// A faster GetRecords answer for the fake Kinesis helper. The Front's own
// answer goes through encoding/json, which in a benchmark costs the fake
// about as much CPU as the consumer under test spends decoding it, on the
// same cores. fastGetRecords reads the same records through the Fake's Go
// API and writes the same JSON 1.1 body by hand (base64 straight into a
// reused buffer). Everything else, and every GetRecords call that fails or
// reaches a shard's end (ChildShards), is left to the Front.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// fastGetRecords wraps a Front.
type fastGetRecords struct {
	f     *kinesisfake.Fake
	front http.Handler
}

var grBufs = sync.Pool{New: func() any { return new([]byte) }}

func (h *fastGetRecords) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "Kinesis_20131202.GetRecords" {
		h.front.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	// Past this point the Front answers anything unusual from the same body.
	fallback := func() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.front.ServeHTTP(w, r)
	}
	var req struct {
		ShardIterator, StreamARN *string
		Limit                    *int32
	}
	if json.Unmarshal(body, &req) != nil {
		fallback()
		return
	}
	out, err := h.f.GetRecords(r.Context(), &kinesis.GetRecordsInput{ShardIterator: req.ShardIterator, StreamARN: req.StreamARN, Limit: req.Limit})
	if err != nil || len(out.ChildShards) > 0 || (out.NextShardIterator != nil && !jsonSafe(*out.NextShardIterator)) {
		fallback()
		return
	}
	for i := range out.Records {
		if !jsonSafe(*out.Records[i].PartitionKey) {
			fallback()
			return
		}
	}
	bp := grBufs.Get().(*[]byte)
	defer grBufs.Put(bp)
	size := 256
	if out.NextShardIterator != nil {
		size += len(*out.NextShardIterator)
	}
	for i := range out.Records {
		rec := &out.Records[i]
		size += 96 + len(*rec.SequenceNumber) + base64.StdEncoding.EncodedLen(len(rec.Data)) + len(*rec.PartitionKey)
	}
	b := slices.Grow((*bp)[:0], size) // one allocation at most, not one per doubling
	b = append(b, `{"Records":[`...)
	for i := range out.Records {
		rec := &out.Records[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"SequenceNumber":"`...)
		b = append(b, *rec.SequenceNumber...)
		b = append(b, `","ApproximateArrivalTimestamp":`...)
		b = strconv.AppendFloat(b, float64(rec.ApproximateArrivalTimestamp.UnixMilli())/1000, 'f', 3, 64)
		b = append(b, `,"Data":"`...)
		b = base64.StdEncoding.AppendEncode(b, rec.Data)
		b = append(b, `","PartitionKey":"`...)
		b = append(b, *rec.PartitionKey...)
		b = append(b, `"}`...)
	}
	b = append(b, ']')
	if out.NextShardIterator != nil {
		b = append(b, `,"NextShardIterator":"`...)
		b = append(b, *out.NextShardIterator...)
		b = append(b, '"')
	}
	if out.MillisBehindLatest != nil {
		b = append(b, `,"MillisBehindLatest":`...)
		b = strconv.AppendInt(b, *out.MillisBehindLatest, 10)
	}
	b = append(b, '}')
	*bp = b
	w.Header().Set("X-Amzn-Requestid", "kinesis-bench")
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// jsonSafe reports whether s can go between JSON quotes as it is.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
