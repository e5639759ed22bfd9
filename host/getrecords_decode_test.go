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
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
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
// Generating GetRecords bodies: valid for the SDK, with the variations
// the fast decoder must get right.

type grGen struct {
	r *rand.Rand
	b []byte
	// fallback is set when the body has a shape the fast decoder leaves to
	// the SDK (a repeated Data or Records member).
	fallback bool
	bigData  int // if > 0, one record has this much data
}

func (g *grGen) chance(n int) bool { return g.r.IntN(n) == 0 }

func (g *grGen) ws() {
	if g.chance(5) {
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			g.b = append(g.b, " \n\t\r"[g.r.IntN(4)])
		}
	}
}

func (g *grGen) raw(s string) { g.b = append(g.b, s...) }

// str writes s as a JSON string, escaping what must be and, now and then,
// what may be.
func (g *grGen) str(s string, escapes bool) {
	g.b = append(g.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		optional := escapes && g.chance(8)
		switch {
		case c == '"' || c == '\\':
			g.b = append(g.b, '\\', c)
			i++
			continue
		case c < 0x20:
			if esc := map[byte]byte{'\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'}[c]; esc != 0 && g.chance(2) {
				g.b = append(g.b, '\\', esc)
			} else {
				g.b = fmt.Appendf(g.b, `\u%04x`, c)
			}
			i++
			continue
		case optional && c == '/':
			g.b = append(g.b, '\\', '/')
			i++
			continue
		case optional:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				g.b = append(g.b, c) // raw invalid UTF-8
				i++
				continue
			}
			if r > 0xFFFF {
				r -= 0x10000
				g.b = fmt.Appendf(g.b, `\u%04X\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				g.b = fmt.Appendf(g.b, `\u%04x`, r)
			}
			i += size
			continue
		}
		g.b = append(g.b, c)
		i++
	}
	g.b = append(g.b, '"')
}

// key writes a member name, sometimes with escapes, and the colon.
func (g *grGen) key(name string) {
	g.ws()
	g.str(name, g.chance(25))
	g.ws()
	g.raw(":")
	g.ws()
}

var grPKAlphabet = []string{"a", "Z", "0", "-", "_", "/", "é", "日本", "😀", `"`, `\`, "\n", "\x01", "\u2028", " ", "\xff", "\xc3"}

func (g *grGen) text(max int) string {
	var s strings.Builder
	for n := g.r.IntN(max + 1); n > 0; n-- {
		if g.chance(3) {
			s.WriteString(grPKAlphabet[g.r.IntN(len(grPKAlphabet))])
		} else {
			s.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[g.r.IntN(36)])
		}
	}
	return s.String()
}

// value writes an arbitrary JSON value (for unknown members).
func (g *grGen) value(depth int) {
	g.ws()
	switch k := g.r.IntN(9); {
	case k == 0 && depth < 4:
		g.raw("{")
		for i, n := 0, g.r.IntN(4); i < n; i++ {
			if i > 0 {
				g.raw(",")
			}
			g.key(g.text(6))
			g.value(depth + 1)
		}
		g.ws()
		g.raw("}")
	case k == 1 && depth < 4:
		g.raw("[")
		for i, n := 0, g.r.IntN(4); i < n; i++ {
			if i > 0 {
				g.raw(",")
			}
			g.value(depth + 1)
		}
		g.ws()
		g.raw("]")
	case k == 2:
		g.raw([]string{"true", "false", "null"}[g.r.IntN(3)])
	case k == 3:
		g.raw([]string{"0", "-0", "12", "-3.25", "1e10", "2.5E-3", "6.02e+23", "123456789012345678901234567890"}[g.r.IntN(8)])
	default:
		g.str(g.text(12)+`"}]{[,:`, true)
	}
	g.ws()
}

var grTimestamps = []string{
	"1700000000.123", "1700000000", "1700000000.1", "1.700000000123E9", "1.7e9", "-1.25", "0", "-0",
	"0.0005", "-0.0005", "1e300", "-1e300", "9223372036854775807", "-9223372036854775808",
	"-92233720368547758080", "1700000000.123456789", `"Infinity"`, `"-infinity"`, `"INFINITY"`,
	"1e-320", "4.9e-324", "9223372036854775.807", "-9223372036854775.808", "9223372036854.775807",
}

func (g *grGen) timestamp() {
	switch g.r.IntN(4) {
	case 0:
		g.raw(grTimestamps[g.r.IntN(len(grTimestamps))])
	case 1:
		f := 1e9 + g.r.Float64()*1e9
		g.raw(strconv.FormatFloat(f, 'g', -1, 64))
	default:
		ms := 1_600_000_000_000 + g.r.Int64N(200_000_000_000)
		g.raw(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64))
	}
}

func (g *grGen) data() {
	n := g.r.IntN(40)
	switch g.r.IntN(6) {
	case 0:
		n = g.r.IntN(4)
	case 1:
		n = g.r.IntN(2048)
	}
	if g.bigData > 0 {
		n, g.bigData = g.bigData, 0
	}
	d := make([]byte, n)
	for i := range d {
		d[i] = byte(g.r.Uint32())
	}
	s := base64.StdEncoding.EncodeToString(d)
	if g.chance(30) {
		// Escapes in base64: \/ for '/', \u0041 and friends.
		g.str(s, true)
		return
	}
	g.raw(`"` + s + `"`)
}

func (g *grGen) record() {
	if g.chance(40) {
		g.ws()
		g.raw("null")
		g.ws()
		return
	}
	type member struct {
		name string
		val  func()
	}
	var ms []member
	if !g.chance(30) {
		ms = append(ms, member{"Data", func() {
			if g.chance(30) {
				g.raw("null")
			} else {
				g.data()
			}
		}})
	}
	str := func(name string, s func() string) {
		if g.chance(30) {
			return
		}
		ms = append(ms, member{name, func() {
			if g.chance(40) {
				g.raw("null")
			} else {
				g.str(s(), true)
			}
		}})
	}
	str("PartitionKey", func() string { return g.text(20) })
	str("SequenceNumber", func() string { return fmt.Sprintf("4959%052d", g.r.Int64N(1e18)) })
	str("EncryptionType", func() string { return []string{"NONE", "NONE", "KMS", "", "OTHER", g.text(4)}[g.r.IntN(6)] })
	if !g.chance(30) {
		ms = append(ms, member{"ApproximateArrivalTimestamp", func() {
			if g.chance(40) {
				g.raw("null")
			} else {
				g.timestamp()
			}
		}})
	}
	for n := g.r.IntN(3); n > 0 && g.chance(3); n-- {
		name := []string{"Unknown", "data", "partitionKey", "Records", "ChildShards", g.text(8)}[g.r.IntN(6)]
		ms = append(ms, member{name, func() { g.value(0) }})
	}
	if g.chance(40) && len(ms) > 0 { // a repeated member: the SDK keeps the last
		m := ms[g.r.IntN(len(ms))]
		if m.name == "Data" {
			g.fallback = true
		}
		ms = append(ms, m)
	}
	g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	g.ws()
	g.raw("{")
	for i, m := range ms {
		if i > 0 {
			g.raw(",")
		}
		g.key(m.name)
		m.val()
		g.ws()
	}
	g.raw("}")
	g.ws()
}

func (g *grGen) childShards() {
	g.raw("[")
	for i, n := 0, g.r.IntN(4); i < n; i++ {
		if i > 0 {
			g.raw(",")
		}
		g.ws()
		if g.chance(8) {
			g.raw("null")
			continue
		}
		g.raw("{")
		first := true
		sep := func() {
			if !first {
				g.raw(",")
			}
			first = false
		}
		if !g.chance(8) {
			sep()
			g.key("ShardId")
			g.str(fmt.Sprintf("shardId-%012d", g.r.IntN(100)), true)
		}
		if !g.chance(8) {
			sep()
			g.key("ParentShards")
			if g.chance(10) {
				g.raw("null")
			} else {
				g.raw("[")
				for j, m := 0, g.r.IntN(3); j < m; j++ {
					if j > 0 {
						g.raw(",")
					}
					g.ws()
					if g.chance(8) {
						g.raw("null")
					} else {
						g.str(fmt.Sprintf("shardId-%012d", g.r.IntN(100)), true)
					}
					g.ws()
				}
				g.raw("]")
			}
		}
		if !g.chance(8) {
			sep()
			g.key("HashKeyRange")
			if g.chance(10) {
				g.raw("null")
			} else {
				g.raw("{")
				hf := true
				for _, k := range []string{"StartingHashKey", "EndingHashKey", "Other"} {
					if g.chance(6) {
						continue
					}
					if !hf {
						g.raw(",")
					}
					hf = false
					g.key(k)
					if k == "Other" {
						g.value(0)
					} else if g.chance(10) {
						g.raw("null")
					} else {
						g.str(strconv.FormatUint(g.r.Uint64(), 10)+"000000000000000000", true)
					}
				}
				g.raw("}")
			}
		}
		if g.chance(4) {
			sep()
			g.key("Extra")
			g.value(0)
		}
		g.raw("}")
		g.ws()
	}
	g.raw("]")
}

// body generates a GetRecords response with up to maxRecords records.
func (g *grGen) body(maxRecords int) []byte {
	g.b = g.b[:0]
	type member struct {
		name string
		val  func()
	}
	var ms []member
	if !g.chance(15) {
		n := g.r.IntN(maxRecords + 1)
		ms = append(ms, member{"Records", func() {
			if g.chance(20) {
				g.raw("null")
				return
			}
			g.raw("[")
			for i := 0; i < n; i++ {
				if i > 0 {
					g.raw(",")
				}
				g.record()
			}
			g.ws()
			g.raw("]")
		}})
	}
	if !g.chance(6) {
		ms = append(ms, member{"NextShardIterator", func() {
			if g.chance(10) {
				g.raw("null")
			} else {
				g.str("AAAAAAAAAAH"+g.text(30), true)
			}
		}})
	}
	if !g.chance(6) {
		ms = append(ms, member{"MillisBehindLatest", func() {
			g.raw([]string{"0", "0", "12345", "null", "-1", "9223372036854775807", "-9223372036854775808"}[g.r.IntN(7)])
		}})
	}
	if g.chance(3) {
		ms = append(ms, member{"ChildShards", func() {
			if g.chance(10) {
				g.raw("null")
			} else {
				g.childShards()
			}
		}})
	}
	for n := g.r.IntN(3); n > 0 && g.chance(3); n-- {
		name := []string{"Unknown", "records", "NextShardIteratorX", g.text(8)}[g.r.IntN(4)]
		ms = append(ms, member{name, func() { g.value(0) }})
	}
	if g.chance(30) && len(ms) > 0 {
		m := ms[g.r.IntN(len(ms))]
		if m.name == "Records" {
			g.fallback = true
		}
		ms = append(ms, m)
	}
	g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	g.ws()
	g.raw("{")
	for i, m := range ms {
		if i > 0 {
			g.raw(",")
		}
		g.key(m.name)
		m.val()
		g.ws()
	}
	g.raw("}")
	if g.chance(10) {
		g.raw([]string{" \n", "garbage", "{}", "]"}[g.r.IntN(4)]) // ignored by the SDK
	}
	return g.b
}

// ---------------------------------------------------------------------------
// (1) Differential tests.

// grCheckAgainstSDK decodes body with the fast decoder, with a client using
// it and with the SDK, and requires the same results.
func grCheckAgainstSDK(t *testing.T, body []byte, mayFallback bool) {
	t.Helper()
	want, werr, wpanic := grSDKDecode(body)
	if wpanic != nil || werr != nil {
		t.Fatalf("SDK rejects the generated body: %v %v\n%.2000s", wpanic, werr, body)
	}
	got, err := decodeGetRecords(body)
	switch {
	case err == nil:
		if !grSame(got, want) {
			t.Fatalf("decodeGetRecords differs from the SDK: %s\nbody: %.3000s", grDiff(got, want), body)
		}
	case mayFallback && errors.Is(err, errGRFallback):
	default:
		t.Fatalf("decodeGetRecords: %v\nbody: %.3000s", err, body)
	}
	got, err, p := grCall(grMemFast, grOK(body))
	if p != nil || err != nil {
		t.Fatalf("client with the fast decoder: %v %v", p, err)
	}
	if !grSame(got, want) {
		t.Fatalf("client with the fast decoder differs from the SDK: %s\nbody: %.3000s", grDiff(got, want), body)
	}
}

func TestGetRecordsDecodeDifferential(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	g := &grGen{r: rand.New(rand.NewPCG(1, 2))}
	fallbacks := 0
	for i := 0; i < n; i++ {
		g.fallback = false
		body := g.body([]int{0, 1, 3, 20, 200}[i%5])
		grCheckAgainstSDK(t, body, g.fallback)
		if g.fallback {
			fallbacks++
		}
	}
	t.Logf("%d bodies, %d with a shape left to the SDK", n, fallbacks)
}

// TestGetRecordsDecodeDifferentialHTTP compares a client with the fast
// decoder and one without over real HTTP (httptest), including 1 MiB
// records and a 10,000-record body.
func TestGetRecordsDecodeDifferentialHTTP(t *testing.T) {
	var cur atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b := *cur.Load()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	// readOnlyBodyClient, as the host: without it, aws-sdk-go-v2#2737 now
	// and then kills a connection while a large body is read.
	sdk := grTestClient(readOnlyBodyClient{srv.Client()}, srv.URL, false)
	fast := grTestClient(readOnlyBodyClient{srv.Client()}, srv.URL, true)
	ctx := context.Background()
	g := &grGen{r: rand.New(rand.NewPCG(3, 4))}
	bodies := [][]byte{
		grBenchBody(10000, 1024),
		grBenchBody(1000, 100),
		[]byte(`{"Records":[],"NextShardIterator":"x","MillisBehindLatest":0}`),
		[]byte(`{"Records":[{"Data":"","PartitionKey":"","SequenceNumber":"1"}],"MillisBehindLatest":0}`),
	}
	for i := 0; i < 60; i++ {
		if i%10 == 0 {
			g.bigData = 1 << 20
		}
		bodies = append(bodies, bytes.Clone(g.body([]int{0, 2, 50}[i%3])))
	}
	for i, body := range bodies {
		cur.Store(&body)
		want, werr := sdk.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
		got, err := fast.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
		if werr != nil || err != nil {
			t.Fatalf("body %d: sdk %v, fast %v", i, werr, err)
		}
		if !grSame(got, want) {
			t.Fatalf("body %d: %s", i, grDiff(got, want))
		}
	}
}

// TestGetRecordsDecodeCases: hand-written bodies, valid and not.
func TestGetRecordsDecodeCases(t *testing.T) {
	for _, body := range grDecodeCases {
		b := []byte(body)
		want, werr, wpanic := grSDKDecode(b)
		got, err := decodeGetRecords(b)
		switch {
		case errors.Is(err, errGRWouldPanic):
			if wpanic == nil {
				t.Errorf("%s: errGRWouldPanic but the SDK does not panic (%v)", body, werr)
			}
		case wpanic != nil:
			t.Errorf("%s: the SDK panics (%v), the fast decoder says %v", body, wpanic, err)
		case err == nil && werr != nil:
			t.Errorf("%s: the fast decoder accepts, the SDK says %v", body, werr)
		case err == nil && !grSame(got, want):
			t.Errorf("%s: %s", body, grDiff(got, want))
		case err != nil && werr == nil && !errors.Is(err, errGRFallback):
			t.Errorf("%s: the SDK accepts, the fast decoder says %v", body, err)
		}
		// Through the client: the same output or error message.
		fout, ferr, fpanic := grCall(grMemFast, grOK(b))
		if fpanic != nil {
			t.Errorf("%s: the fast client panics: %v", body, fpanic)
			continue
		}
		if wpanic != nil {
			if ferr == nil {
				t.Errorf("%s: the SDK panics, the fast client gives no error", body)
			}
			continue
		}
		if (ferr == nil) != (werr == nil) || ferr != nil && ferr.Error() != werr.Error() {
			t.Errorf("%s: fast client error %v, SDK %v", body, ferr, werr)
		}
		if !grSame(fout, want) {
			t.Errorf("%s: fast client: %s", body, grDiff(fout, want))
		}
	}
}

var grDecodeCases = []string{
	``,
	` `,
	`null`,
	`{}`,
	`{} trailing`,
	`[]`,
	`"x"`,
	`{"Records":null}`,
	`{"Records":[]}`,
	`{"Records":[null]}`,
	`{"Records":[{}]}`,
	`{"Records":[{"Data":null,"PartitionKey":null}]}`,
	`{"Records":[{"Data":""}]}`,
	`{"Records":[{"Data":"QQ=="},{"Data":"QkM="},{"Data":"REVG"}]}`,
	`{"Records":[{"Data":"QR=="}]}`,
	`{"Records":[{"Data":"Q==="}]}`,
	`{"Records":[{"Data":"QQ"}]}`,
	`{"Records":[{"Data":"QQ==\n"}]}`,
	`{"Records":[{"Data":"QQ==\\n"}]}`,
	`{"Records":[{"Data":"QQ\\n=="}]}`,
	`{"Records":[{"Data":"QUJD\\nREVG"}]}`,
	`{"Records":[{"Data":"QUJD\\r\\nREVG\\n"}]}`,
	`{"Records":[{"Data":"QUJD\nREVG"}]}`,
	`{"Records":[{"Data":"QUJD\u0001EVG"}]}`,
	`{"Records":[{"Data":"\\u0051Q=="}]}`,
	`{"Records":[{"Data":"a\/b="}]}`,
	`{"Records":[{"Data":"a\\/b="}]}`,
	`{"Records":[{"Data":"QQ==\\"}]}`,
	`{"Records":[{"Data":"QQ==\\\\"}]}`,
	`{"Records":[{"Data":"QQ=="`,
	`{"Records":[{"Data":"QQ==`,
	`{"Records":[{"Data":5}]}`,
	`{"Records":[{"Data":"é="}]}`,
	`{"Records":[{"Data":"QQ==","Data":"Qg=="}]}`,
	`{"Records":[{"Data":"!!!!","Data":"Qg=="}]}`,
	`{"Records":[{"Data":"QQ=="}],"Records":[{"Data":"Qg=="}]}`,
	`{"Records":[{"Data":"QQ=="}],"Records":null}`,
	`{"Records":null,"Records":[{"Data":"QQ=="}]}`,
	`{"Records":{}}`,
	`{"Records":[1]}`,
	`{"Records":[[]]}`,
	`{"Records":[{}],}`,
	`{"Records":[{},]}`,
	`{"Records":[{} {}]}`,
	`{"Records":[{"PartitionKey":"a","PartitionKey":"b"}]}`,
	`{"Records":[{"PartitionKey":"a\u00e9\ud83d\ude00"}]}`,
	`{"Records":[{"PartitionKey":"\ud800"}]}`,
	`{"Records":[{"PartitionKey":"\ud800\u0041"}]}`,
	`{"Records":[{"PartitionKey":"\udc00\ud800"}]}`,
	"{\"Records\":[{\"PartitionKey\":\"\xff\xfe\"}]}",
	"{\"Records\":[{\"PartitionKey\":\"\xff\\n\"}]}",
	"{\"Records\":[{\"PartitionKey\":\"\x7f\"}]}",
	`{"Records":[{"PartitionKey":"\'"}]}`,
	`{"Records":[{"PartitionKey":"\x"}]}`,
	`{"Records":[{"PartitionKey":"\u12"}]}`,
	`{"Records":[{"PartitionKey":"\u12G4"}]}`,
	`{"Records":[{"PartitionKey":5}]}`,
	`{"Records":[{"PartitionKey":true}]}`,
	`{"Records":[{"Partition\u004bey":"k","\u0044ata":"QQ=="}]}`,
	`{"Records":[{"partitionkey":"k"}]}`,
	`{"Records":[{"EncryptionType":"NONE"},{"EncryptionType":"KMS"},{"EncryptionType":""},{"EncryptionType":"X"},{"EncryptionType":"N\u004fNE"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1700000000.123}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1.7e9}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":-0.0005}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1e300}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1e400}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1e-400}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":-92233720368547758080}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":92233720368547758080}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":9223372036854775.807}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":4611686018427387.904}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":-4611686018427387.904}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"Infinity"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"-INFINITY"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"NaN"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"nan"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"1700000000"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"2024-01-01T00:00:00Z"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":true}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":{}}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":01}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1.}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":.5}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":-}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1e}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":+1}]}`,
	`{"MillisBehindLatest":0}`,
	`{"MillisBehindLatest":-0}`,
	`{"MillisBehindLatest":null}`,
	`{"MillisBehindLatest":1.0}`,
	`{"MillisBehindLatest":1e3}`,
	`{"MillisBehindLatest":"5"}`,
	`{"MillisBehindLatest":9223372036854775808}`,
	`{"MillisBehindLatest":-9223372036854775808}`,
	`{"MillisBehindLatest":-92233720368547758089}`,
	`{"MillisBehindLatest":true}`,
	`{"NextShardIterator":""}`,
	`{"NextShardIterator":"a\"b"}`,
	`{"NextShardIterator":1}`,
	`{"ChildShards":[]}`,
	`{"ChildShards":null}`,
	`{"ChildShards":[null,{}]}`,
	`{"ChildShards":[{"ShardId":"s1","ParentShards":["p1",null],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"1"}}]}`,
	`{"ChildShards":[{"ParentShards":[],"HashKeyRange":{}}]}`,
	`{"ChildShards":[{"ParentShards":null,"HashKeyRange":null,"ShardId":null}]}`,
	`{"ChildShards":[{"ParentShards":[1]}]}`,
	`{"ChildShards":[{"HashKeyRange":[]}]}`,
	`{"ChildShards":[{"HashKeyRange":{"X":[1,{"a":[]}],"StartingHashKey":"5"}}]}`,
	`{"ChildShards":{}}`,
	`{"Unknown":{"a":[1,2,{"b":"}]"}],"c":null},"Records":[]}`,
	`{"Unknown":[1,]}`,
	`{"Unknown":{"a":1,}}`,
	`{"Unknown":{"a" 1}}`,
	`{"Unknown":[1 2]}`,
	`{"Unknown":tru}`,
	`{"Unknown":nul}`,
	`{"Unknown":truex}`,
	`{"Unknown":"\u00"}`,
	`{"Unknown":-01}`,
	`{"Unknown":1,"Records":[{"Data":"QQ=="}]} {"Records":[]}`,
	`{"Records":[]}]]]`,
	`{"Records":[],}`,
	`{,"Records":[]}`,
	`{"Records" []}`,
	`{"Records":[]`,
	`{"Records":[`,
	`{"Records":`,
	`{"Records"`,
	`{`,
	"{\f}",
	"\xef\xbb\xbf{}",
	` {"Records" : [ { "Data" : "QQ==" , "PartitionKey" : "k" } ] , "MillisBehindLatest" : 0 } `,
	"{\"Records\":[{\"Data\":\"QQ==\"}],\n\"NextShardIterator\":\"it\",\t\"MillisBehindLatest\":\r7}",
	`{"Records":[{"Data":"QQ==","X":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}]}`,
	`{"Records":[{"Data":"QQ==","X":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]}`,
	"{\"Records\":[{\"Data\":\"QUJD\nREVG\"}]}",       // raw line break: invalid JSON
	"{\"Records\":[{\"Data\":\"QUJD\r\n\r\nREVG\"}]}", // base64 would skip it
	`{"X":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"X":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"X":` + strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999) + `}`,
	`{"X":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`,
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
