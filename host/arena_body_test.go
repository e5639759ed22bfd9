package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-host/kinesis-host/host/membudget"
)

// heldWhileRead is a response body that notes the budget's held bytes at
// its first Read.
type heldWhileRead struct {
	r      io.Reader
	budget *membudget.Budget
	held   int64
	read   bool
}

func (b *heldWhileRead) Read(p []byte) (int, error) {
	if !b.read {
		b.read, b.held = true, b.budget.Stats().Held
	}
	return b.r.Read(p)
}

func (b *heldWhileRead) Close() error { return nil }

type bodyProbeHTTP struct{ body *heldWhileRead }

func (c bodyProbeHTTP) Do(r *http.Request) (*http.Response, error) {
	n := int64(c.body.r.(*bytes.Reader).Len())
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.1")
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: c.body, ContentLength: n, Request: r,
	}, nil
}

// A GetRecords response body is held in the page arena's budget while it
// is read and decoded (it sits next to the decoded Data), and given back
// before GetRecords returns; the body buffer goes back to the size-classed
// pools.
func TestArenaBodyHeldInBudget(t *testing.T) {
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 100<<10))
	var js strings.Builder
	js.WriteString(`{"Records":[`)
	for i := range 3 {
		if i > 0 {
			js.WriteString(",")
		}
		fmt.Fprintf(&js, `{"Data":%q,"PartitionKey":"p","SequenceNumber":"%d"}`, data, i+1)
	}
	js.WriteString(`],"NextShardIterator":"next","MillisBehindLatest":0}`)
	raw := []byte(js.String())

	budget := membudget.New(1<<30, membudget.Options{})
	body := &heldWhileRead{r: bytes.NewReader(raw), budget: budget}
	c := grTestClient(bodyProbeHTTP{body}, "http://kinesis.test", true)
	arena := &pageArena{budget: budget}
	out, err := c.GetRecords(withPageArena(context.Background(), arena), &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 3 || len(out.Records[2].Data) != 100<<10 {
		t.Fatalf("got %d records", len(out.Records))
	}
	if want := int64(len(raw)) + 1; body.held != want {
		t.Errorf("held while the body was read: %d, want %d (the body)", body.held, want)
	}
	if h := budget.Stats().Held; h != 0 {
		t.Errorf("held after GetRecords returned: %d, want 0", h)
	}
	if arena.bytes() == 0 {
		t.Error("the page's Data is not in the arena")
	}
	arena.free()
}

// Body buffers come from the size-classed pools and go back only at a
// class size.
func TestArenaBodyBuffers(t *testing.T) {
	p := grGetBody(100 << 10)
	if len(*p) != 0 || cap(*p) != 112<<10 {
		t.Fatalf("grGetBody(100 KiB): len %d cap %d, want 0 and 112 KiB", len(*p), cap(*p))
	}
	grPutBody(p, (*p)[:5])
	if q := grGetBody(10); cap(*q) != 10 {
		t.Fatalf("grGetBody(10): cap %d, want a plain 10-byte buffer", cap(*q))
	}
	grown := append(make([]byte, 0, 112<<10), make([]byte, 113<<10)...)
	grPutBody(new([]byte), grown) // not a class size: dropped, never pooled under a wrong class
}
