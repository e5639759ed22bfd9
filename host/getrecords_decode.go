package host

// A fast decoder for GetRecords responses.
//
// Most of a polling consumer's CPU goes into the SDK's GetRecords response
// handling: reading a body of several MB into a fresh, doubling buffer, then
// decoding it with smithy-go's generic JSON deserializer, which unquotes
// every base64 Data string byte by byte before decoding it into its own
// allocation. [AddFastGetRecordsDecoder] replaces that step, for GetRecords
// only, with a purpose-built one:
//
//   - the body is read into a pooled buffer pre-sized from Content-Length;
//   - a hand-written scanner for exactly the GetRecords response shape finds
//     each field (base64 strings are crossed with bytes.IndexByte, other
//     strings eight bytes at a time);
//   - all records' Data are base64-decoded (grDecodeBase64 in base64.go:
//     AVX2 through segmentio/asm, about 5 times encoding/base64 from 1 KiB
//     up) into one exactly-sized buffer per response, pooled (arena.go;
//     each record's Data is a slice of it whose capacity is its length,
//     so an append never writes into a neighbour), and partition
//     keys, sequence numbers, timestamps and the pointers to them come from a
//     few per-response slabs: about ten allocations per response instead of
//     several per record.
//
// The output is the SDK's, field for field: the same pointers set (and left
// nil), the same nil versus empty slices, timestamps computed as
// smithy-go's epoch-seconds parser computes them, string escapes and
// unknown members handled as smithy-go handles them. Anything else (a
// status other than 200, a transport error, a body the fast decoder rejects
// or does not handle, such as invalid JSON or a duplicated Records member) goes
// to the SDK's own deserializer, which then gives exactly the result and
// error it would have given without this option. The one deliberate
// difference: a timestamp of "NaN" makes smithy-go panic (big.NewFloat(NaN));
// here it is a *smithy.DeserializationError.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/tracing"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// grDeserializerID is the ID of the SDK middleware that turns an operation's
// HTTP response into its output (and its error responses into typed
// errors). The replacement keeps the ID, so the stack looks the same.
const grDeserializerID = "OperationDeserializer"

// WithFastGetRecordsDecoder is a kinesis.Options function (for kinesis.New,
// kinesis.NewFromConfig or a single call) that installs
// [AddFastGetRecordsDecoder].
func WithFastGetRecordsDecoder(o *kinesis.Options) {
	// Full slice expression: never append into an array shared with the
	// aws.Config or client the options were copied from.
	o.APIOptions = append(o.APIOptions[:len(o.APIOptions):len(o.APIOptions)], AddFastGetRecordsDecoder)
}

// AddFastGetRecordsDecoder is an APIOptions entry of kinesis.Options: on the
// GetRecords operation's stack it swaps the SDK's OperationDeserializer
// middleware for the fast decoder (see the comment at the top of
// getrecords_decode.go); other operations are left alone. Installing it more
// than once is harmless.
func AddFastGetRecordsDecoder(stack *middleware.Stack) error {
	if stack.ID() != "GetRecords" {
		return nil
	}
	cur, ok := stack.Deserialize.Get(grDeserializerID)
	if !ok {
		return nil // nothing to replace: leave the SDK as it is
	}
	if _, done := cur.(*fastGetRecordsDeserializer); done {
		return nil
	}
	_, err := stack.Deserialize.Swap(grDeserializerID, &fastGetRecordsDeserializer{sdk: cur})
	return err
}

// fastGetRecordsDeserializer decodes successful GetRecords responses itself
// and hands everything else to the SDK's deserializer, sdk.
type fastGetRecordsDeserializer struct {
	sdk middleware.DeserializeMiddleware
}

func (*fastGetRecordsDeserializer) ID() string { return grDeserializerID }

func (m *fastGetRecordsDeserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp == nil || resp.Response == nil || resp.StatusCode != 200 || resp.Body == nil {
		// Errors and typed API errors: the SDK's business. The body is
		// still unread.
		return m.sdk.HandleDeserialize(ctx, in, grResult{out, md, err})
	}

	_, span := tracing.StartSpan(ctx, grDeserializerID)
	defer span.End()

	// The body is held in the memory budget while it is read and decoded
	// (it sits next to the decoded Data until then).
	arena := pageArenaFrom(ctx)
	bodyLen := int64(grMinBodyBuf)
	if resp.ContentLength >= 0 && resp.ContentLength < grMaxPresizeBody {
		bodyLen = resp.ContentLength + 1
	}
	defer arena.releaseBody(arena.holdBody(bodyLen))

	bufp := grGetBody(int(bodyLen))
	body, rerr := grReadBody(resp.Body, resp.ContentLength, *bufp)
	// As the SDK does: drain (nothing is left) and close, so the
	// connection can be reused.
	smithyhttp.CloseResponseBody(ctx, resp, false, rerr)
	if rerr != nil {
		grPutBody(bufp, body)
		return out, md, &smithy.DeserializationError{Err: rerr}
	}

	res, derr := decodeGetRecordsInto(body, arena)
	if derr == nil {
		// Nothing in res points into body.
		grPutBody(bufp, body)
		out.Result = res
		return out, md, nil
	}
	if errors.Is(derr, errGRWouldPanic) {
		grPutBody(bufp, body)
		return out, md, &smithy.DeserializationError{Err: derr}
	}
	// Let the SDK decode the bytes: the same output or error as without
	// this option. body is not returned to the pool, as the SDK's error
	// might keep a piece of it.
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return m.sdk.HandleDeserialize(ctx, in, grResult{out, md, nil})
}

// grResult is a DeserializeHandler that returns a result already
// obtained: the "next" of the SDK's deserializer when it is called after
// the request was sent.
type grResult struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
	err error
}

func (r grResult) HandleDeserialize(context.Context, middleware.DeserializeInput) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	return r.out, r.md, r.err
}

// Body buffers. A GetRecords body is up to about 14 MB; buffers from
// arenaMinPooled to arenaMaxPooled come from the size-classed pools of the
// page arenas (arena.go), so a buffer is reused for a body of its size
// class (never a big one kept for a small body, nor a small one dropped for
// a big body), and the pools hold no more than the bodies read at once.
const (
	grMaxPresizeBody = 32 << 20 // don't trust a larger Content-Length for pre-sizing
	grMinBodyBuf     = 64 << 10
)

// grGetBody returns an empty buffer with room for n bytes (in *p), pooled
// when n is in the pooled range.
func grGetBody(n int) *[]byte {
	if n < arenaMinPooled || n > arenaMaxPooled {
		b := make([]byte, 0, n)
		return &b
	}
	class, size := arenaClass(n)
	p, _ := arenaPools[class].Get().(*[]byte)
	if p == nil || cap(*p) < size {
		b := make([]byte, size)
		p = &b
	}
	*p = (*p)[:0]
	return p
}

// grPutBody gives back a body buffer obtained from grGetBody, b being what
// it became (grReadBody grows it when the body is longer than announced):
// to the pool of its size class when its capacity is a class size, else to
// the GC. Nothing may refer to b any more.
func grPutBody(p *[]byte, b []byte) {
	c := cap(b)
	if c < arenaMinPooled || c > arenaMaxPooled {
		return
	}
	class, size := arenaClass(c)
	if size != c {
		return
	}
	*p = b[:c]
	arenaPools[class].Put(p)
}

// grReadBody reads r to EOF into buf (reused when large enough). With a
// Content-Length the buffer is sized once (plus one byte to see EOF without
// growing); without one it grows as append does.
func grReadBody(r io.Reader, contentLength int64, buf []byte) ([]byte, error) {
	want := grMinBodyBuf
	if contentLength >= 0 && contentLength < grMaxPresizeBody {
		want = int(contentLength) + 1
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// Errors of the fast decoder. Any error makes the middleware fall back to
// the SDK's deserializer, except errGRWouldPanic.
var (
	// errGRFallback: valid input the fast decoder leaves to the SDK.
	errGRFallback = errors.New("getrecords: response shape left to the SDK deserializer")
	// errGRWouldPanic: input on which smithy-go panics.
	errGRWouldPanic = errors.New("getrecords: ApproximateArrivalTimestamp is NaN")
)

type grSyntaxError struct {
	off int
	msg string
}

func (e *grSyntaxError) Error() string {
	return fmt.Sprintf("getrecords: %s at offset %d", e.msg, e.off)
}

// grMaxDepth is smithy-go's (and encoding/json's) nesting limit.
const grMaxDepth = 10_000

// Nesting depths of the containers of the response, for grMaxDepth.
const (
	grDepthTop      = 1 // the response object
	grDepthRecord   = 3 // a record (in Records)
	grDepthChild    = 3 // a child shard (in ChildShards)
	grDepthHashKeys = 4 // a child shard's HashKeyRange
)

// grStr is a string member: a raw slice of the body (no escapes), or an
// unquoted copy.
type grStr struct {
	start, end int32
	kind       uint8 // grAbsent, grRaw or grOwn
	own        string
}

const (
	grAbsent uint8 = iota
	grRaw
	grOwn
)

// grRecord is a record found by the scanner, before the output is built.
type grRecord struct {
	pk, seq, enc grStr
	ts           time.Time
	hasTS        bool
	null         bool  // the list item was null: a zero types.Record
	dataKind     uint8 // grAbsent, grRaw (base64 at start:end) or grOwn (decoded in dataOwn)
	dataStart    int32
	dataEnd      int32
	dataOwn      []byte
}

// grDecoder scans one response body. Pooled: recs is reused.
type grDecoder struct {
	b     []byte
	i     int
	recs  []grRecord
	stack []byte // open containers while skipping a value
	dirty bool   // recs hold pointers (grOwn strings or dataOwn)
	arena *pageArena
}

var grDecoders = sync.Pool{New: func() any { return new(grDecoder) }}

// decodeGetRecords decodes a GetRecords response body as the SDK would. The
// output does not refer to body. An error means the SDK's deserializer
// should decide (see errGRFallback and errGRWouldPanic).
func decodeGetRecords(body []byte) (*kinesis.GetRecordsOutput, error) {
	return decodeGetRecordsInto(body, nil)
}

// decodeGetRecordsInto is decodeGetRecords with the records' Data decoded
// into a buffer of arena (see arena.go), which then owns it; a nil arena
// allocates it.
func decodeGetRecordsInto(body []byte, arena *pageArena) (*kinesis.GetRecordsOutput, error) {
	if len(body) >= math.MaxInt32 {
		return nil, errGRFallback
	}
	d := grDecoders.Get().(*grDecoder)
	d.b, d.i, d.arena = body, 0, arena
	out, err := d.decode()
	d.arena = nil
	if d.dirty {
		clear(d.recs)
		d.dirty = false
	}
	d.b = nil
	if cap(d.recs) > 1<<16 {
		d.recs = nil
	} else {
		d.recs = d.recs[:0]
	}
	grDecoders.Put(d)
	return out, err
}

func (d *grDecoder) errAt(msg string) error { return &grSyntaxError{off: d.i, msg: msg} }

func (d *grDecoder) decode() (*kinesis.GetRecordsOutput, error) {
	out := &kinesis.GetRecordsOutput{}
	if len(d.b) == 0 {
		return out, nil // as the SDK: an empty body is an empty output
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		// Includes a top-level null, which the SDK rejects too (EOF).
		return nil, d.errAt("expected '{'")
	}
	d.i++
	records := false
	for first := true; ; first = false {
		key, done, err := d.member(first)
		if err != nil {
			return nil, err
		}
		if done {
			break // anything after the response object is ignored, as by the SDK
		}
		switch key {
		case "Records":
			if d.null() {
				continue
			}
			if records {
				return nil, errGRFallback // the SDK keeps the last; rare enough
			}
			if err := d.records(); err != nil {
				return nil, err
			}
			records = true
		case "NextShardIterator":
			if d.null() {
				continue
			}
			s, err := d.stringValue()
			if err != nil {
				return nil, err
			}
			out.NextShardIterator = &s
		case "MillisBehindLatest":
			if d.null() {
				continue
			}
			n, err := d.int64Value()
			if err != nil {
				return nil, err
			}
			out.MillisBehindLatest = &n
		case "ChildShards":
			if d.null() {
				continue
			}
			cs, err := d.childShards()
			if err != nil {
				return nil, err
			}
			out.ChildShards = cs
		default:
			if err := d.skip(grDepthTop); err != nil {
				return nil, err
			}
		}
	}
	if records {
		recs, err := d.build()
		if err != nil {
			return nil, err
		}
		out.Records = recs
	}
	return out, nil
}

// ws skips JSON whitespace.
func (d *grDecoder) ws() {
	b, i := d.b, d.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	d.i = i
}

// member reads the next member name of an object whose '{' (first) or
// previous value has been read, and the ':' after it, leaving d.i on the
// value. done is true at the closing '}', which is consumed. The name is
// unquoted if it has escapes; otherwise it points into the body and must
// not be kept.
func (d *grDecoder) member(first bool) (name string, done bool, err error) {
	d.ws()
	if d.i >= len(d.b) {
		return "", false, d.errAt("unexpected end of JSON input")
	}
	c := d.b[d.i]
	if c == '}' {
		d.i++
		return "", true, nil
	}
	if !first {
		if c != ',' {
			return "", false, d.errAt("expected ',' or '}'")
		}
		d.i++
		d.ws()
		if d.i >= len(d.b) {
			return "", false, d.errAt("unexpected end of JSON input")
		}
		c = d.b[d.i]
	}
	if c != '"' {
		return "", false, d.errAt("expected a member name")
	}
	s, e, esc, err := d.str()
	if err != nil {
		return "", false, err
	}
	if esc {
		name, err = grUnquote(d.b[s-1 : e+1])
		if err != nil {
			return "", false, err
		}
	} else if e > s {
		name = unsafe.String(&d.b[s], e-s)
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return "", false, d.errAt("expected ':'")
	}
	d.i++
	d.ws()
	if d.i >= len(d.b) {
		return "", false, d.errAt("unexpected end of JSON input")
	}
	return name, false, nil
}

// null consumes a null value if there is one at d.i (a member value, so
// d.i < len(d.b)). An invalid literal starting with 'n' is left for the
// caller to reject.
func (d *grDecoder) null() bool {
	if d.b[d.i] == 'n' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// listNext is called after a list item: it consumes ',' (more: true) or
// ']' (more: false).
func (d *grDecoder) listNext() (more bool, err error) {
	d.ws()
	if d.i >= len(d.b) {
		return false, d.errAt("unexpected end of JSON input")
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		d.ws()
		if d.i >= len(d.b) {
			return false, d.errAt("unexpected end of JSON input")
		}
		return true, nil
	case ']':
		d.i++
		return false, nil
	}
	return false, d.errAt("expected ',' or ']'")
}

// listOpen consumes '[' and reports whether the list has items (d.i then
// on the first one) or was empty (the ']' consumed).
func (d *grDecoder) listOpen() (items bool, err error) {
	if d.b[d.i] != '[' {
		return false, d.errAt("expected '['")
	}
	d.i++
	d.ws()
	if d.i >= len(d.b) {
		return false, d.errAt("unexpected end of JSON input")
	}
	if d.b[d.i] == ']' {
		d.i++
		return false, nil
	}
	return true, nil
}

// str scans the string starting at d.i (a '"') and returns the bounds of
// its content and whether it has escapes. It validates like smithy-go:
// no control characters, only JSON escapes.
func (d *grDecoder) str() (start, end int, escaped bool, err error) {
	b := d.b
	i := d.i + 1
	start = i
	for {
		// Eight bytes at a time to the first '"', '\\' or control
		// character, then byte by byte near the end of the body.
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			if m := grHasLess(v, 0x20) | grHasByte(v, '"') | grHasByte(v, '\\'); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && !grStrStop[b[i]] {
			i++
		}
		if i >= len(b) {
			d.i = i
			return 0, 0, false, d.errAt("unterminated string")
		}
		switch c := b[i]; c {
		case '"':
			d.i = i + 1
			return start, i, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				d.i = i
				return 0, 0, false, d.errAt("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !grIsHex(b[i+2]) || !grIsHex(b[i+3]) || !grIsHex(b[i+4]) || !grIsHex(b[i+5]) {
					d.i = i
					return 0, 0, false, d.errAt("invalid unicode escape")
				}
				i += 6
			default:
				d.i = i
				return 0, 0, false, d.errAt("invalid escape")
			}
		default:
			d.i = i
			return 0, 0, false, d.errAt("control character in string")
		}
	}
}

// SWAR byte tests: the lowest byte flagged in the result (and possibly
// bytes above it) matches. Bytes at or above 0x80 never match grHasLess.
const (
	grSwarLo = 0x0101010101010101
	grSwarHi = 0x8080808080808080
)

func grHasLess(v uint64, n byte) uint64 { return (v - grSwarLo*uint64(n)) & ^v & grSwarHi }

func grHasByte(v uint64, c byte) uint64 {
	x := v ^ grSwarLo*uint64(c)
	return (x - grSwarLo) & ^x & grSwarHi
}

// grStrStop marks the bytes that end a run of plain string content.
var grStrStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func grIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// strMember reads a string member value (after the null check) as a
// grStr.
func (d *grDecoder) strMember(r *grStr) error {
	if d.b[d.i] != '"' {
		return d.errAt("expected a string")
	}
	s, e, esc, err := d.str()
	if err != nil {
		return err
	}
	if !esc {
		*r = grStr{start: int32(s), end: int32(e), kind: grRaw}
		return nil
	}
	u, err := grUnquote(d.b[s-1 : e+1])
	if err != nil {
		return err
	}
	*r = grStr{kind: grOwn, own: u}
	d.dirty = true
	return nil
}

// stringValue reads a string value (after the null check) as a new string.
func (d *grDecoder) stringValue() (string, error) {
	if d.b[d.i] != '"' {
		return "", d.errAt("expected a string")
	}
	s, e, esc, err := d.str()
	if err != nil {
		return "", err
	}
	if esc {
		return grUnquote(d.b[s-1 : e+1])
	}
	return string(d.b[s:e]), nil
}

// records reads the Records list (after the null check) into d.recs.
func (d *grDecoder) records() error {
	items, err := d.listOpen()
	if err != nil || !items {
		return err
	}
	for {
		switch d.b[d.i] {
		case '{':
			d.recs = append(d.recs, grRecord{})
			if err := d.record(&d.recs[len(d.recs)-1]); err != nil {
				return err
			}
		case 'n':
			if !d.null() {
				return d.errAt("invalid literal")
			}
			d.recs = append(d.recs, grRecord{null: true})
		default:
			return d.errAt("expected a record")
		}
		more, err := d.listNext()
		if err != nil || !more {
			return err
		}
	}
}

// record reads one record object.
func (d *grDecoder) record(r *grRecord) error {
	d.i++ // '{'
	for first := true; ; first = false {
		key, done, err := d.member(first)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		switch key {
		case "Data":
			if d.null() {
				continue
			}
			if r.dataKind != grAbsent {
				return errGRFallback // a second Data: the SDK keeps the last
			}
			if err := d.data(r); err != nil {
				return err
			}
		case "PartitionKey":
			if d.null() {
				continue
			}
			if err := d.strMember(&r.pk); err != nil {
				return err
			}
		case "SequenceNumber":
			if d.null() {
				continue
			}
			if err := d.strMember(&r.seq); err != nil {
				return err
			}
		case "ApproximateArrivalTimestamp":
			if d.null() {
				continue
			}
			t, err := d.timeValue()
			if err != nil {
				return err
			}
			r.ts, r.hasTS = t, true
		case "EncryptionType":
			if d.null() {
				continue
			}
			if err := d.strMember(&r.enc); err != nil {
				return err
			}
		default:
			if err := d.skip(grDepthRecord); err != nil {
				return err
			}
		}
	}
}

// data reads a Data value (after the null check). Without escapes, only
// its bounds are kept: it is validated and decoded by build. With escapes
// it is unquoted and decoded now, as the SDK does.
func (d *grDecoder) data(r *grRecord) error {
	b := d.b
	if b[d.i] != '"' {
		return d.errAt("expected a string")
	}
	s := d.i + 1
	if q := bytes.IndexByte(b[s:], '"'); q >= 0 && bytes.IndexByte(b[s:s+q], '\\') < 0 {
		// Control characters are caught by the base64 decoder (and its
		// length check, for the '\r' and '\n' it skips).
		r.dataKind, r.dataStart, r.dataEnd = grRaw, int32(s), int32(s+q)
		d.i = s + q + 1
		return nil
	}
	s, e, _, err := d.str()
	if err != nil {
		return err
	}
	u, err := grUnquote(b[s-1 : e+1])
	if err != nil {
		return err
	}
	v, err := base64.StdEncoding.DecodeString(u)
	if err != nil {
		return fmt.Errorf("decode base64 blob: %w", err)
	}
	r.dataKind, r.dataOwn = grOwn, v
	d.dirty = true
	return nil
}
