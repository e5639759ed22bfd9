package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// ---------------------------------------------------------------------------
// Clients that answer GetRecords with a given response.

// grCanned is an HTTP response to serve.
type grCanned struct {
	status int
	header map[string]string
	body   []byte
}

type grCannedKey struct{}

// grMemHTTP answers every request with the grCanned response in its context,
// without a network: fast enough for fuzzing.
type grMemHTTP struct{}

func (grMemHTTP) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	c := r.Context().Value(grCannedKey{}).(grCanned)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.1")
	for k, v := range c.header {
		h.Set(k, v)
	}
	return &http.Response{
		Status: strconv.Itoa(c.status) + " " + http.StatusText(c.status), StatusCode: c.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)),
		Request: r,
	}, nil
}

func grTestClient(hc kinesis.HTTPClient, endpoint string, fast bool) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   hc,
		Retryer:      aws.NopRetryer{},
	}, func(o *kinesis.Options) {
		if fast {
			WithFastGetRecordsDecoder(o)
		}
	})
}

var (
	grMemSDK  = grTestClient(grMemHTTP{}, "http://kinesis.test", false)
	grMemFast = grTestClient(grMemHTTP{}, "http://kinesis.test", true)
)

// grCall runs GetRecords on c with the response c serves for it
// (for grMemHTTP, cr), reporting a panic instead of panicking. The output's
// ResultMetadata is cleared for comparisons.
func grCall(c *kinesis.Client, cr grCanned) (out *kinesis.GetRecordsOutput, err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			out, err, panicked = nil, nil, p
		}
	}()
	ctx := context.WithValue(context.Background(), grCannedKey{}, cr)
	out, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("iterator")})
	if out != nil {
		out.ResultMetadata = middleware.Metadata{}
	}
	return out, err, nil
}

func grOK(body []byte) grCanned { return grCanned{status: 200, body: body} }

// grSDKDecode is the SDK's own result for a 200 response with body.
func grSDKDecode(body []byte) (*kinesis.GetRecordsOutput, error, any) {
	return grCall(grMemSDK, grOK(body))
}

// ---------------------------------------------------------------------------
// Comparing outputs.

func grSame(a, b *kinesis.GetRecordsOutput) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.ResultMetadata, y.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
	return reflect.DeepEqual(x, y)
}

// grDiff describes the first difference between a and b.
func grDiff(a, b *kinesis.GetRecordsOutput) string {
	if a == nil || b == nil {
		return fmt.Sprintf("fast %v, sdk %v", a != nil, b != nil)
	}
	if (a.Records == nil) != (b.Records == nil) || len(a.Records) != len(b.Records) {
		return fmt.Sprintf("Records: fast nil=%v len=%d, sdk nil=%v len=%d", a.Records == nil, len(a.Records), b.Records == nil, len(b.Records))
	}
	for i := range a.Records {
		if !reflect.DeepEqual(a.Records[i], b.Records[i]) {
			return fmt.Sprintf("record %d:\n fast %s\n sdk  %s", i, grShowRecord(a.Records[i]), grShowRecord(b.Records[i]))
		}
	}
	return fmt.Sprintf("fast: next=%s behind=%s children=%s\nsdk:  next=%s behind=%s children=%s",
		grShowPtr(a.NextShardIterator), grShowPtr(a.MillisBehindLatest), grShowChildren(a.ChildShards),
		grShowPtr(b.NextShardIterator), grShowPtr(b.MillisBehindLatest), grShowChildren(b.ChildShards))
}

func grShowPtr[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", fmt.Sprint(*p))
}

func grShowRecord(r types.Record) string {
	data := "<nil>"
	if r.Data != nil {
		data = fmt.Sprintf("%d bytes %.40x", len(r.Data), r.Data)
	}
	ts := "<nil>"
	if r.ApproximateArrivalTimestamp != nil {
		ts = r.ApproximateArrivalTimestamp.Format(time.RFC3339Nano) + fmt.Sprintf(" (%#v)", *r.ApproximateArrivalTimestamp)
	}
	return fmt.Sprintf("pk=%s seq=%s enc=%q ts=%s data=%s", grShowPtr(r.PartitionKey), grShowPtr(r.SequenceNumber), r.EncryptionType, ts, data)
}

func grShowChildren(cs []types.ChildShard) string {
	if cs == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("[")
	for _, c := range cs {
		fmt.Fprintf(&b, "{id=%s parents=%#v", grShowPtr(c.ShardId), c.ParentShards)
		if c.HashKeyRange != nil {
			fmt.Fprintf(&b, " range=%s..%s", grShowPtr(c.HashKeyRange.StartingHashKey), grShowPtr(c.HashKeyRange.EndingHashKey))
		}
		b.WriteString("}")
	}
	return b.String() + "]"
}

// ---------------------------------------------------------------------------
// (2) Error responses keep the SDK's typed errors.

func TestGetRecordsDecodeErrorResponses(t *testing.T) {
	type check func(error) bool
	is := func(target any) check {
		return func(err error) bool { return errors.As(err, target) }
	}
	respErr := func(status int) check {
		return func(err error) bool {
			var re *smithyhttp.ResponseError
			return errors.As(err, &re) && re.HTTPStatusCode() == status
		}
	}
	apiCode := func(code string) check {
		return func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == code
		}
	}
	deser := func(err error) bool {
		var de *smithy.DeserializationError
		return errors.As(err, &de)
	}
	cases := []struct {
		name  string
		resp  grCanned
		check check
		class errClass
	}{
		{"expired iterator", grCanned{400, map[string]string{"X-Amzn-Errortype": "ExpiredIteratorException"},
			[]byte(`{"__type":"ExpiredIteratorException","message":"Iterator expired."}`)},
			is(new(*types.ExpiredIteratorException)), errExpired},
		{"expired iterator, no header", grCanned{400, nil,
			[]byte(`{"__type":"com.amazonaws.kinesis#ExpiredIteratorException","message":"Iterator expired."}`)},
			is(new(*types.ExpiredIteratorException)), errExpired},
		{"throttled", grCanned{400, map[string]string{"X-Amzn-Errortype": "ProvisionedThroughputExceededException"},
			[]byte(`{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard."}`)},
			is(new(*types.ProvisionedThroughputExceededException)), errRetry},
		{"internal failure", grCanned{500, map[string]string{"X-Amzn-Errortype": "InternalFailure"},
			[]byte(`{"__type":"InternalFailure","message":"oops"}`)}, apiCode("InternalFailure"), errRetry},
		{"500 html", grCanned{500, nil, []byte(`<html><body>Internal Server Error</body></html>`)}, respErr(500), errRetry},
		{"503 empty", grCanned{503, nil, nil}, respErr(503), errRetry},
		{"200 html", grCanned{200, nil, []byte(`<html>not json</html>`)}, deser, errFatal},
		{"200 truncated", grCanned{200, nil, []byte(`{"Records":[{"Data":"QQ==","PartitionKey":"k"`)}, deser, errFatal},
		{"200 bad base64", grCanned{200, nil, []byte(`{"Records":[{"Data":"Q!=="}]}`)}, deser, errFatal},
		{"200 NaN timestamp", grCanned{200, nil, []byte(`{"Records":[{"Data":"QQ==","ApproximateArrivalTimestamp":"NaN"}]}`)}, deser, errFatal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ferr, fp := grCall(grMemFast, c.resp)
			_, serr, sp := grCall(grMemSDK, c.resp)
			if fp != nil {
				t.Fatalf("fast client panics: %v", fp)
			}
			if ferr == nil || !c.check(ferr) {
				t.Fatalf("fast client: %T %v", ferr, ferr)
			}
			if got := classify(ferr); got != c.class {
				t.Errorf("classify = %v, want %v (%v)", got, c.class, ferr)
			}
			if sp != nil {
				return // the SDK panics on a NaN timestamp; the fast decoder returns an error
			}
			if serr == nil || ferr.Error() != serr.Error() {
				t.Errorf("fast client: %v\nSDK:         %v", ferr, serr)
			}
		})
	}

	// The same over real HTTP, against the fake's error responses.
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	f.FailNext(kinesisfake.OpGetRecords, 1, kinesisfake.Throttle)
	srv := kinesisfake.NewServer(f)
	defer srv.Close()
	client := srv.KinesisClient(WithFastGetRecordsDecoder)
	ctx := context.Background()
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	var thr *types.ProvisionedThroughputExceededException
	if !errors.As(err, &thr) {
		t.Fatalf("throttled GetRecords: %T %v", err, err)
	}
	_, err = client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("bogus")})
	var ia *types.InvalidArgumentException
	if !errors.As(err, &ia) {
		t.Fatalf("GetRecords with a bad iterator: %T %v", err, err)
	}
}

// A body cut short (Content-Length larger than what is sent) is an error,
// classified as the SDK's.
func TestGetRecordsDecodeTruncatedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write([]byte(`{"Records":[{"Data":"QQ==",`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection is dropped
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, fast := range []bool{false, true} {
		c := grTestClient(readOnlyBodyClient{srv.Client()}, srv.URL, fast)
		_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
		if err == nil {
			t.Fatalf("fast=%v: no error", fast)
		}
		if classify(err) != errRetry {
			t.Errorf("fast=%v: classify(%v) = %v, want errRetry", fast, err, classify(err))
		}
	}
}

// Other operations are left to the SDK, and installing twice is harmless.
func TestGetRecordsDecodeOptionScope(t *testing.T) {
	var ops []string
	spy := func(stack *middleware.Stack) error {
		m, _ := stack.Deserialize.Get(grDeserializerID)
		_, fast := m.(*fastGetRecordsDeserializer)
		ops = append(ops, fmt.Sprintf("%s:%v", stack.ID(), fast))
		return nil
	}
	c := grTestClient(grMemHTTP{}, "http://kinesis.test", true)
	ctx := context.WithValue(context.Background(), grCannedKey{}, grOK([]byte(`{"Records":[],"ShardIterator":"x","Shards":[]}`)))
	opt := func(o *kinesis.Options) {
		WithFastGetRecordsDecoder(o)
		o.APIOptions = append(o.APIOptions, spy)
	}
	if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("x")}, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")}, opt); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GetRecords:true", "ListShards:false"}; !reflect.DeepEqual(ops, want) {
		t.Fatalf("ops = %v, want %v", ops, want)
	}
}

// ---------------------------------------------------------------------------
// (3) End to end: the host's client (NewKinesisClient) against the fake's
// HTTP/2 TLS front reads everything, as the SDK does.

func TestGetRecordsFastEndToEnd(t *testing.T) {
	clk := kinesisfake.NewClock(time.Date(2024, 1, 1, 0, 0, 0, 123_000_000, time.UTC))
	f := kinesisfake.New()
	f.Now = clk.Now
	if err := f.CreateStream("s", 3); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	put := func(n int) {
		for i := 0; i < n; i++ {
			size := []int{0, 1, 2, 3, 100, 1024, r.IntN(64 << 10)}[r.IntN(7)]
			if i == n/2 {
				size = 1<<20 - 100 // the largest record, with its partition key
			}
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			pk := fmt.Sprintf("key-%d-é日本😀\"\\/%c", r.IntN(1000), rune(1+r.IntN(31)))
			if _, _, err := f.PutRecord("s", pk, data); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Duration(r.IntN(5000)) * time.Microsecond)
		}
	}
	put(400)
	shards := f.Shards("s")
	mid := grMidHashKey(*shards[0].HashKeyRange.StartingHashKey, *shards[0].HashKeyRange.EndingHashKey)
	if err := f.SplitShard("s", *shards[0].ShardId, mid); err != nil {
		t.Fatal(err)
	}
	put(200)

	srv := kinesisfake.NewServer(f)
	defer srv.Close()

	// The host's client, trusting the test server's certificate.
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", ca)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	hostClient, err := NewKinesisClient(ctx, KinesisConfig{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	sdk := srv.KinesisClient()

	all, err := listAllShards(ctx, hostClient, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d shards, want 5", len(all))
	}
	contiguous, children, total := false, 0, 0
	for _, sh := range all {
		it, err := hostClient.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		var got []types.Record
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatal("too many pages")
			}
			in := &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(1 + r.IntN(60)))}
			a, err := hostClient.GetRecords(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := sdk.GetRecords(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if !grSame(a, b) {
				t.Fatalf("shard %s page %d: %s", *sh.ShardId, pages, grDiff(a, b))
			}
			for i := 1; i < len(a.Records); i++ {
				p, q := a.Records[i-1].Data, a.Records[i].Data
				if len(p) > 0 && len(q) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))+uintptr(len(p)) == uintptr(unsafe.Pointer(unsafe.SliceData(q))) {
					contiguous = true // Data slices of one buffer: the fast decoder ran
				}
				if cap(p) != len(p) {
					t.Fatalf("record Data has spare capacity %d > %d", cap(p), len(p))
				}
			}
			got = append(got, a.Records...)
			children += len(a.ChildShards)
			if a.NextShardIterator == nil || len(a.Records) == 0 && aws.ToInt64(a.MillisBehindLatest) == 0 {
				break
			}
			iter = a.NextShardIterator
		}
		want := f.Records("s", *sh.ShardId)
		if len(got) != len(want) {
			t.Fatalf("shard %s: %d records, want %d", *sh.ShardId, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !bytes.Equal(g.Data, w.Data) || *g.PartitionKey != *w.PartitionKey || *g.SequenceNumber != *w.SequenceNumber ||
				g.ApproximateArrivalTimestamp.Sub(*w.ApproximateArrivalTimestamp).Abs() > time.Millisecond {
				t.Fatalf("shard %s record %d: got %s, want %s", *sh.ShardId, i, grShowRecord(g), grShowRecord(w))
			}
		}
		total += len(got)
	}
	if total != 600 {
		t.Fatalf("read %d records, want 600", total)
	}
	if children != 2 {
		t.Fatalf("%d child shards seen, want 2 (the split parent's)", children)
	}
	if !contiguous {
		t.Fatal("the host's client did not use the fast GetRecords decoder")
	}
}

// grMidHashKey is the hash key halfway between two decimal hash keys.
func grMidHashKey(a, b string) string {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	return x.Add(x, y).Rsh(x, 1).String()
}

// ---------------------------------------------------------------------------
// (4) Fuzzing: no panics, and the SDK's output whenever the fast decoder
// gives one.

func FuzzDecodeGetRecords(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`,
		`{"Records":[{"Data":"QQ==","PartitionKey":"k","SequenceNumber":"1","ApproximateArrivalTimestamp":1700000000.123,"EncryptionType":"NONE"}],"NextShardIterator":"it","MillisBehindLatest":0}`,
		`{"Records":[null,{"Data":"a\/b=","PartitionKey":"\u00e9\ud83d\ude00","X":[1,{"y":"}"}]}],"ChildShards":[{"ShardId":"s","ParentShards":["p",null],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"}}]}`,
		`{"Records":[{"ApproximateArrivalTimestamp":"Infinity","Data":""}],"MillisBehindLatest":-92233720368547758080}`,
	} {
		f.Add([]byte(s))
	}
	g := &grGen{r: rand.New(rand.NewPCG(7, 8))}
	for i := 0; i < 4; i++ {
		f.Add(bytes.Clone(g.body(3)))
	}
	f.Fuzz(grCheckAnyBody)
}

// grCheckAnyBody checks a body that may be anything: the fast decoder must not
// panic, must agree with the SDK whenever it gives an output, and may refuse
// only what the SDK refuses (or leaves to it, errGRFallback); the client with
// the fast decoder gives the SDK's output or error message.
func grCheckAnyBody(t *testing.T, body []byte) {
	got, err := decodeGetRecords(body)
	want, werr, wpanic := grSDKDecode(body)
	switch {
	case errors.Is(err, errGRWouldPanic):
		if wpanic == nil {
			t.Fatalf("errGRWouldPanic, but the SDK does not panic (%v)\nbody: %.2000q", werr, body)
		}
	case err == nil:
		if wpanic != nil || werr != nil {
			t.Fatalf("fast decoder accepts, the SDK does not: %v %v\nbody: %.2000q", wpanic, werr, body)
		}
		if !grSame(got, want) {
			t.Fatalf("%s\nbody: %.2000q", grDiff(got, want), body)
		}
	case wpanic == nil && werr == nil && !errors.Is(err, errGRFallback):
		t.Fatalf("the SDK accepts, the fast decoder says %v\nbody: %.2000q", err, body)
	}
	fout, ferr, fpanic := grCall(grMemFast, grOK(body))
	if fpanic != nil {
		t.Fatalf("fast client panics: %v", fpanic)
	}
	if wpanic != nil {
		if ferr == nil {
			t.Fatal("the SDK panics, the fast client gives no error")
		}
		return
	}
	if (ferr == nil) != (werr == nil) || ferr != nil && ferr.Error() != werr.Error() {
		t.Fatalf("fast client error %v, SDK %v\nbody: %.2000q", ferr, werr, body)
	}
	if !grSame(fout, want) {
		t.Fatalf("fast client: %s", grDiff(fout, want))
	}
}

// TestGetRecordsDecodeMutated: generated bodies with a few bytes changed,
// cut or repeated (a structure-aware complement to the fuzzer).
func TestGetRecordsDecodeMutated(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	g := &grGen{r: rand.New(rand.NewPCG(15, 16))}
	r := g.r
	tokens := []string{`"`, `\`, `\u`, "{", "}", "[", "]", ",", ":", "null", "=", "\n", " ", "\x00", "\xff", "-", ".", "e", "0", `"Data"`, `"Records"`}
	for i := 0; i < n; i++ {
		body := bytes.Clone(g.body([]int{0, 1, 2, 4}[i%4]))
		for k := 1 + r.IntN(3); k > 0 && len(body) > 0; k-- {
			p := r.IntN(len(body))
			switch r.IntN(4) {
			case 0:
				body[p] = byte(r.Uint32())
			case 1:
				body = append(body[:p:p], append([]byte(tokens[r.IntN(len(tokens))]), body[p:]...)...)
			case 2:
				q := p + r.IntN(min(8, len(body)-p)+1)
				body = append(body[:p:p], body[q:]...)
			default:
				body = body[:p]
			}
		}
		grCheckAnyBody(t, body)
	}
}

// The timestamp shortcut agrees with smithy-go's big.Float computation.
func TestGetRecordsDecodeEpochSeconds(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	vals := []float64{0, 1, -1, 0.0005, -0.0005, 0.001, 1700000000.123, 1e300, -1e300, 4611686018427387.904, 4611686018427387.903, -4611686018427387.904,
		9223372036854775.807, 1e-320, 5e-324}
	for i := 0; i < 200000; i++ {
		switch i % 4 {
		case 0:
			vals = append(vals, float64(1_600_000_000_000+r.Int64N(200_000_000_000))/1000)
		case 1:
			vals = append(vals, (r.Float64()-0.5)*1e13)
		case 2:
			vals = append(vals, (r.Float64()-0.5)*float64(int64(1)<<r.IntN(64)))
		default:
			vals = append(vals, float64(r.Int64N(1<<53))/float64(int64(1)<<r.IntN(40)))
		}
	}
	for _, v := range vals {
		got, want := grEpochSeconds(v), smithytime.ParseEpochSeconds(v)
		if got != want {
			t.Fatalf("grEpochSeconds(%v) = %v, smithy-go %v", v, got, want)
		}
	}
}

// grParseDecimal agrees with strconv.ParseFloat, bit for bit, where it
// answers.
func TestGetRecordsDecodeParseDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	answered := 0
	for i := 0; i < 300000; i++ {
		var b []byte
		if r.IntN(2) == 0 {
			b = append(b, '-')
		}
		ip, fp := 1+r.IntN(12), r.IntN(8)
		for j := 0; j < ip; j++ {
			b = append(b, byte('0'+r.IntN(10)))
		}
		if ip > 1 && r.IntN(4) > 0 && b[len(b)-ip] == '0' {
			b[len(b)-ip] = '1' // no leading zero, mostly
		}
		if fp > 0 || r.IntN(2) == 0 {
			b = append(b, '.')
			for j := 0; j < fp; j++ {
				b = append(b, byte('0'+r.IntN(10)))
			}
		}
		got, ok := grParseDecimal(b)
		if !ok {
			continue
		}
		answered++
		want, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("grParseDecimal(%s) = %v, ParseFloat %v %v", b, got, want, err)
		}
	}
	if answered < 100000 {
		t.Fatalf("grParseDecimal answered only %d times", answered)
	}
}

// grDecodeBase64 is base64.StdEncoding.Decode: same bytes, same errors.
func TestGetRecordsDecodeBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		d := make([]byte, r.IntN(200))
		for j := range d {
			d[j] = byte(r.Uint32())
		}
		src := []byte(base64.StdEncoding.EncodeToString(d))
		if i%2 == 1 && len(src) > 0 { // damage it
			for k := 1 + r.IntN(2); k > 0 && len(src) > 0; k-- {
				p := r.IntN(len(src))
				switch r.IntN(3) {
				case 0:
					src[p] = "=\r\n!A\x00\xff"[r.IntN(7)]
				case 1:
					src = append(src[:p], append([]byte("\r\n"), src[p:]...)...)
				default:
					src = src[:p]
				}
			}
		}
		want := make([]byte, base64.StdEncoding.DecodedLen(len(src))+8)
		got := make([]byte, len(want))
		wn, werr := base64.StdEncoding.Decode(want, src)
		gn, gerr := grDecodeBase64(got, src)
		if (werr == nil) != (gerr == nil) || werr == nil && !bytes.Equal(got[:gn], want[:wn]) {
			t.Fatalf("%q: grDecodeBase64 = %x, %v; base64 = %x, %v", src, got[:gn], gerr, want[:wn], werr)
		}
	}
}
