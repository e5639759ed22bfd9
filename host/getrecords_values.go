package host

// Value parsing of the fast GetRecords decoder (getrecords_decode.go):
// numbers and timestamps as smithy-go reads them, ChildShards, hash key
// ranges and string lists, skipping unknown members, and the unquoting and
// small helpers the scanner and build use.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithytime "github.com/aws/smithy-go/time"
)

// numberToken scans a JSON number as smithy-go does.
func (d *grDecoder) numberToken() ([]byte, error) {
	b := d.b
	i := d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	ds := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == ds {
		return nil, d.errAt("unexpected token")
	}
	if b[ds] == '0' && i-ds > 1 {
		return nil, d.errAt("leading zeros not allowed")
	}
	if i < len(b) && b[i] == '.' {
		i++
		ds = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == ds {
			return nil, d.errAt("no digits after decimal point")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		ds = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == ds {
			return nil, d.errAt("no digits after exponent")
		}
	}
	tok := b[d.i:i]
	d.i = i
	return tok, nil
}

// int64Value reads an integer value (after the null check) as smithy-go's
// ReadInt64 does.
func (d *grDecoder) int64Value() (int64, error) {
	switch d.b[d.i] {
	case '"', '{', '[', 't', 'f', 'n':
		return 0, d.errAt("expected a number")
	}
	tok, err := d.numberToken()
	if err != nil {
		return 0, err
	}
	n, ok := grParseInt(tok)
	if !ok {
		return 0, d.errAt("invalid int")
	}
	return n, nil
}

// grParseInt is smithy-go's integer parser, quirks included (digits after a
// value of exactly -2^63 are ignored), so that results agree.
func grParseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	const cutoff = math.MaxUint64/10 + 1
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n >= cutoff {
			return 0, false
		}
		nn := n*10 + uint64(c-'0')
		if nn < n {
			return 0, false
		}
		n = nn
		if n > uint64(math.MaxInt64) {
			if neg && n == uint64(math.MaxInt64)+1 {
				return math.MinInt64, true
			}
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// timeValue reads an epoch-seconds timestamp (after the null check) as
// smithy-go's ReadTime does.
func (d *grDecoder) timeValue() (time.Time, error) {
	var f float64
	switch d.b[d.i] {
	case '"':
		s, err := d.stringValue()
		if err != nil {
			return time.Time{}, err
		}
		switch {
		case strings.EqualFold(s, "NaN"):
			return time.Time{}, errGRWouldPanic
		case strings.EqualFold(s, "Infinity"):
			f = math.Inf(1)
		case strings.EqualFold(s, "-Infinity"):
			f = math.Inf(-1)
		default:
			return time.Time{}, d.errAt("unexpected string value for a timestamp")
		}
	case '{', '[', 't', 'f', 'n':
		return time.Time{}, d.errAt("expected a number")
	default:
		tok, err := d.numberToken()
		if err != nil {
			return time.Time{}, err
		}
		if n, ok := grParseInt(tok); ok {
			f = float64(n)
		} else if v, ok := grParseDecimal(tok); ok {
			f = v
		} else {
			// tok is not kept: ParseFloat's error (which would keep it)
			// is dropped.
			v, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
			if err != nil {
				return time.Time{}, d.errAt("invalid timestamp")
			}
			f = v
		}
	}
	return grEpochSeconds(f), nil
}

// grPow10 are the powers of ten a float64 holds exactly.
var grPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// grParseDecimal is strconv.ParseFloat's exact fast path for a number token
// without exponent and with at most 15 digits: the digits as an integer
// divided by a power of ten, both exact, so the quotient is the correctly
// rounded value ParseFloat returns. ok is false for anything else.
func grParseDecimal(tok []byte) (float64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 16 { // 15 digits and a point
		return 0, false
	}
	var m uint64
	frac := -1
	for i, c := range tok {
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
		case c == '.' && frac < 0:
			frac = len(tok) - i - 1
		default:
			return 0, false
		}
	}
	if frac < 0 || len(tok)-1 > 15 {
		return 0, false
	}
	f := float64(m) / grPow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// grEpochSeconds is smithytime.ParseEpochSeconds without big.Float when the
// result is the same: the SDK rounds f×1000 to 53 bits (as a float64
// multiplication does while the product is a normal number) and truncates
// it toward zero to an int64.
func grEpochSeconds(f float64) time.Time {
	p := f * 1e3
	if p > -(1<<62) && p < 1<<62 { // also false for NaN and ±Inf
		return time.Unix(0, int64(p)*1e6).UTC()
	}
	return smithytime.ParseEpochSeconds(f)
}

// childShards reads the ChildShards list (after the null check).
func (d *grDecoder) childShards() ([]types.ChildShard, error) {
	cs := make([]types.ChildShard, 0)
	items, err := d.listOpen()
	if err != nil || !items {
		return cs, err
	}
	for {
		switch d.b[d.i] {
		case '{':
			var c types.ChildShard
			if err := d.childShard(&c); err != nil {
				return nil, err
			}
			cs = append(cs, c)
		case 'n':
			if !d.null() {
				return nil, d.errAt("invalid literal")
			}
			cs = append(cs, types.ChildShard{})
		default:
			return nil, d.errAt("expected a child shard")
		}
		more, err := d.listNext()
		if err != nil {
			return nil, err
		}
		if !more {
			return cs, nil
		}
	}
}

func (d *grDecoder) childShard(c *types.ChildShard) error {
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
		case "ShardId":
			if d.null() {
				continue
			}
			s, err := d.stringValue()
			if err != nil {
				return err
			}
			c.ShardId = &s
		case "ParentShards":
			if d.null() {
				continue
			}
			ps, err := d.stringList()
			if err != nil {
				return err
			}
			c.ParentShards = ps
		case "HashKeyRange":
			if d.null() {
				continue
			}
			h, err := d.hashKeyRange()
			if err != nil {
				return err
			}
			c.HashKeyRange = h
		default:
			if err := d.skip(grDepthChild); err != nil {
				return err
			}
		}
	}
}

// stringList reads a list of strings (null items are "").
func (d *grDecoder) stringList() ([]string, error) {
	l := make([]string, 0)
	items, err := d.listOpen()
	if err != nil || !items {
		return l, err
	}
	for {
		if d.null() {
			l = append(l, "")
		} else {
			s, err := d.stringValue()
			if err != nil {
				return nil, err
			}
			l = append(l, s)
		}
		more, err := d.listNext()
		if err != nil {
			return nil, err
		}
		if !more {
			return l, nil
		}
	}
}

func (d *grDecoder) hashKeyRange() (*types.HashKeyRange, error) {
	if d.b[d.i] != '{' {
		return nil, d.errAt("expected '{'")
	}
	d.i++
	h := &types.HashKeyRange{}
	for first := true; ; first = false {
		key, done, err := d.member(first)
		if err != nil {
			return nil, err
		}
		if done {
			return h, nil
		}
		switch key {
		case "StartingHashKey", "EndingHashKey":
			if d.null() {
				continue
			}
			s, err := d.stringValue()
			if err != nil {
				return nil, err
			}
			if key == "StartingHashKey" {
				h.StartingHashKey = &s
			} else {
				h.EndingHashKey = &s
			}
		default:
			if err := d.skip(grDepthHashKeys); err != nil {
				return nil, err
			}
		}
	}
}

// skip validates and skips one JSON value at d.i, the value of a member of
// an object at nesting depth depth.
func (d *grDecoder) skip(depth int) error {
	b := d.b
	st := d.stack[:0]
	defer func() { d.stack = st[:0] }()
	for {
		// d.i is on a value (whitespace skipped, not at the end).
		switch c := b[d.i]; c {
		case '"':
			if _, _, _, err := d.str(); err != nil {
				return err
			}
		case '{', '[':
			st = append(st, c)
			if depth+len(st) > grMaxDepth {
				return d.errAt("exceeded max nesting depth")
			}
			d.i++
			d.ws()
			if d.i >= len(b) {
				return d.errAt("unexpected end of JSON input")
			}
			if c == '[' {
				if b[d.i] == ']' {
					d.i++
					st = st[:len(st)-1]
					break // closed: fall to "after a value"
				}
				continue // on the first item
			}
			if b[d.i] == '}' {
				d.i++
				st = st[:len(st)-1]
				break
			}
			if err := d.key(); err != nil {
				return err
			}
			continue
		case 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			if _, err := d.numberToken(); err != nil {
				return err
			}
		}
		// After a value: close containers or move to the next item.
		for {
			if len(st) == 0 {
				return nil
			}
			d.ws()
			if d.i >= len(b) {
				return d.errAt("unexpected end of JSON input")
			}
			top := st[len(st)-1]
			c := b[d.i]
			if c == ',' {
				d.i++
				d.ws()
				if d.i >= len(b) {
					return d.errAt("unexpected end of JSON input")
				}
				if top == '{' {
					if err := d.key(); err != nil {
						return err
					}
				}
				break // on the next value
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				d.i++
				st = st[:len(st)-1]
				continue
			}
			return d.errAt("unexpected token")
		}
	}
}

// key reads a member name and its ':' while skipping, leaving d.i on the
// value.
func (d *grDecoder) key() error {
	if d.b[d.i] != '"' {
		return d.errAt("expected a member name")
	}
	if _, _, _, err := d.str(); err != nil {
		return err
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return d.errAt("expected ':'")
	}
	d.i++
	d.ws()
	if d.i >= len(d.b) {
		return d.errAt("unexpected end of JSON input")
	}
	return nil
}

func (d *grDecoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.errAt("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// grEncryptionType returns the constant for the usual values (no copy).
func grEncryptionType(b []byte) types.EncryptionType {
	switch string(b) {
	case "NONE":
		return types.EncryptionTypeNone
	case "KMS":
		return types.EncryptionTypeKms
	}
	return ""
}

// grBase64Len is the decoded length of padded standard base64 without line
// breaks, or false if src can't be that.
func grBase64Len(src []byte) (int, bool) {
	n := len(src)
	if n%4 != 0 {
		return 0, false
	}
	if n == 0 {
		return 0, true
	}
	pad := 0
	if src[n-1] == '=' {
		pad++
		if src[n-2] == '=' {
			pad++
		}
	}
	return n/4*3 - pad, true
}

// grUnquote is encoding/json's grUnquoteBytes (as vendored by smithy-go, from
// Go 1.24; BSD licence, The Go Authors) for a validated string token with
// its quotes: escapes decoded, invalid UTF-8 and lone surrogates replaced
// by U+FFFD.
func grUnquote(s []byte) (string, error) {
	t, ok := grUnquoteBytes(s)
	if !ok {
		return "", fmt.Errorf("cannot grUnquote %s", s)
	}
	return string(t), nil
}

func grUnquoteBytes(s []byte) (t []byte, ok bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return
	}
	s = s[1 : len(s)-1]
	r := 0
	for r < len(s) {
		c := s[r]
		if c == '\\' || c == '"' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			r++
			continue
		}
		rr, size := utf8.DecodeRune(s[r:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		r += size
	}
	if r == len(s) {
		return s, true
	}
	b := make([]byte, len(s)+2*utf8.UTFMax)
	w := copy(b, s[0:r])
	for r < len(s) {
		if w >= len(b)-2*utf8.UTFMax {
			nb := make([]byte, (len(b)+utf8.UTFMax)*2)
			copy(nb, b[0:w])
			b = nb
		}
		switch c := s[r]; {
		case c == '\\':
			r++
			if r >= len(s) {
				return
			}
			switch s[r] {
			default:
				return
			case '"', '\\', '/', '\'':
				b[w] = s[r]
				r++
				w++
			case 'b':
				b[w] = '\b'
				r++
				w++
			case 'f':
				b[w] = '\f'
				r++
				w++
			case 'n':
				b[w] = '\n'
				r++
				w++
			case 'r':
				b[w] = '\r'
				r++
				w++
			case 't':
				b[w] = '\t'
				r++
				w++
			case 'u':
				r--
				rr := grGetu4(s[r:])
				if rr < 0 {
					return
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := grGetu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						w += utf8.EncodeRune(b[w:], dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				w += utf8.EncodeRune(b[w:], rr)
			}
		case c == '"', c < ' ':
			return
		case c < utf8.RuneSelf:
			b[w] = c
			r++
			w++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			w += utf8.EncodeRune(b[w:], rr)
		}
	}
	return b[0:w], true
}

func grGetu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
