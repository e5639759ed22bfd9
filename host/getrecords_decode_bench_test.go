package host

// Benchmarks of the fast GetRecords decoder against the SDK's, and a
// concurrency test of its pooled decoder and buffers.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ---------------------------------------------------------------------------
// Benchmarks.

// grBenchBody is a GetRecords response as Kinesis (and the fake) writes it.
func grBenchBody(records, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(records), uint64(size)))
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	data := make([]byte, size)
	for i := 0; i < records; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, `{"SequenceNumber":"49%036d%018d","ApproximateArrivalTimestamp":%.3f,"Data":"%s","PartitionKey":"partition-key-%d","EncryptionType":"NONE"}`,
			i, 1, 1.7e9+float64(i)/1000, base64.StdEncoding.EncodeToString(data), r.IntN(1000))
	}
	b.WriteString(`],"NextShardIterator":"AAAAAAAAAAHSywljv0zEgPX4NyKdZ5wryMzP9yALs8NeKbUjp1IxtZs1Sp+KEd9I6AJ9ZG4lNR1EMi+9Md/nHvtLyxpfhEzYvkTZ4D9DQVz/mBYWRO6OTZRKnW9gd+efGN2aHFdkH1rJl4BL9Wyrk+ghYG22D2T1Da2EyNSH1+LAbK33gQweTJADBdyMwlo5r6PqcP2dzhg=","MillisBehindLatest":0}`)
	return b.Bytes()
}

// grNetBody is a response body as net/http hands it over: Read only, at most
// 16 KiB at a time.
type grNetBody struct{ r *bytes.Reader }

func (b *grNetBody) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	return b.r.Read(p)
}
func (b *grNetBody) Close() error { return nil }

// grSDKDeserializer captures the SDK's GetRecords OperationDeserializer.
func grSDKDeserializer(tb testing.TB) middleware.DeserializeMiddleware {
	var m middleware.DeserializeMiddleware
	capture := func(o *kinesis.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			m, _ = stack.Deserialize.Get(grDeserializerID)
			return nil
		})
	}
	ctx := context.WithValue(context.Background(), grCannedKey{}, grOK([]byte(`{}`)))
	if _, err := grMemSDK.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("x")}, capture); err != nil {
		tb.Fatal(err)
	}
	if m == nil {
		tb.Fatal("no OperationDeserializer")
	}
	return m
}

var grBenchShapes = []struct {
	name          string
	records, size int
}{
	{"10000x1KiB", 10000, 1024},
	{"1000x100B", 1000, 100},
}

// grBenchDeserialize runs a GetRecords deserializer (the SDK's or the fast
// one) on a body, as the client does after the response headers arrive.
func grBenchDeserialize(b *testing.B, fast bool) {
	sdk := grSDKDeserializer(b)
	var m middleware.DeserializeMiddleware = sdk
	if fast {
		m = &fastGetRecordsDeserializer{sdk: sdk}
	}
	ctx := context.Background()
	for _, s := range grBenchShapes {
		body := grBenchBody(s.records, s.size)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				resp := &smithyhttp.Response{Response: &http.Response{StatusCode: 200, Header: http.Header{},
					Body: &grNetBody{bytes.NewReader(body)}, ContentLength: int64(len(body))}}
				out, _, err := m.HandleDeserialize(ctx, middleware.DeserializeInput{}, grResult{out: middleware.DeserializeOutput{RawResponse: resp}})
				if err != nil {
					b.Fatal(err)
				}
				if n := len(out.Result.(*kinesis.GetRecordsOutput).Records); n != s.records {
					b.Fatalf("%d records", n)
				}
			}
			b.ReportMetric(float64(s.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkGetRecordsDecodeSDK(b *testing.B)  { grBenchDeserialize(b, false) }
func BenchmarkGetRecordsDecodeFast(b *testing.B) { grBenchDeserialize(b, true) }

// BenchmarkGetRecordsClient: whole GetRecords calls over loopback HTTP.
func BenchmarkGetRecordsClient(b *testing.B) {
	for _, s := range grBenchShapes {
		body := grBenchBody(s.records, s.size)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}))
		for _, mode := range []string{"SDK", "Fast"} {
			b.Run(s.name+"/"+mode, func(b *testing.B) {
				c := grTestClient(readOnlyBodyClient{newHTTPClient()}, srv.URL, mode == "Fast")
				ctx := context.Background()
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
					if err != nil {
						b.Fatal(err)
					}
					if len(out.Records) != s.records {
						b.Fatalf("%d records", len(out.Records))
					}
				}
				b.ReportMetric(float64(s.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
		srv.Close()
	}
}

// Keep the test's concurrency honest: the pooled decoder and buffers.
func TestGetRecordsDecodeConcurrent(t *testing.T) {
	bodies := [][]byte{grBenchBody(500, 300), grBenchBody(50, 5000), grBenchBody(0, 0)}
	want := make([]*kinesis.GetRecordsOutput, len(bodies))
	for i, b := range bodies {
		out, err, _ := grSDKDecode(b)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				k := (w + i) % len(bodies)
				got, err, p := grCall(grMemFast, grOK(bodies[k]))
				if err != nil || p != nil {
					t.Error(err, p)
					return
				}
				if !grSame(got, want[k]) {
					t.Errorf("body %d: %s", k, grDiff(got, want[k]))
					return
				}
			}
		}()
	}
	wg.Wait()
}
