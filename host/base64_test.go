package host

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	asmbase64 "github.com/segmentio/asm/base64"
)

// grB64Decoders are the decoders held to base64.StdEncoding.Decode: the
// one build uses (AVX2 or scalar, as this machine has it) and the scalar
// one on its own, so that both are tested on machines with AVX2.
var grB64Decoders = []struct {
	name string
	f    func(dst, src []byte) (int, error)
}{
	{"grDecodeBase64", grDecodeBase64},
	{"grDecodeBase64Scalar", grDecodeBase64Scalar},
}

// grB64Check decodes src with each decoder into a buffer of exactly
// DecodedLen(len(src)) bytes followed by guard bytes, and fails unless n,
// the bytes decoded and the error are base64.StdEncoding.Decode's and the
// guard bytes are untouched.
func grB64Check(t testing.TB, src []byte) {
	t.Helper()
	size := base64.StdEncoding.DecodedLen(len(src))
	want := make([]byte, size)
	wn, werr := base64.StdEncoding.Decode(want, src)
	const guard = 64
	for _, d := range grB64Decoders {
		buf := make([]byte, size+guard)
		for i := range buf {
			buf[i] = 0xa5
		}
		gn, gerr := d.f(buf[:size:size], src)
		if gn != wn || !bytes.Equal(buf[:gn], want[:wn]) || gerr != werr {
			t.Fatalf("%s(%q) = %d %x, %v; base64: %d %x, %v", d.name, src, gn, buf[:gn], gerr, wn, want[:wn], werr)
		}
		if g := buf[size:]; bytes.Count(g, []byte{0xa5}) != guard {
			t.Fatalf("%s(%q) wrote past DecodedLen: %x", d.name, src, g)
		}
	}
}

// grB64Encoded is the standard encoding of n pseudo-random bytes.
func grB64Encoded(r *rand.Rand, n int) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = byte(r.Uint32())
	}
	return []byte(base64.StdEncoding.EncodeToString(d))
}

// Edge cases: padding, line breaks, bad bytes, where the SIMD blocks start
// and end.
func TestBase64Cases(t *testing.T) {
	long := strings.Repeat("QUJD", 40) // 160 characters, no padding
	cases := []string{
		"", "=", "==", "===", "====", "Q", "QQ", "QQ=", "QQ==", "QQ===", "QUI", "QUI=", "QUJD",
		"QR==", "QUJ=", // non-zero trailing bits: accepted, as by Decode (not Strict)
		"QQ==QUJD", "QUI=QUJD", "=QUJD", "Q===", "QQ=A",
		"\n", "\r\n", "\r\n\r\n", "QU\nJD", "QUJD\r\n", "\r\nQUJD", "QQ\n==", "QQ=\n=", "QQ==\n",
		"QUJD\x00", "QUJ\x00", "QU-_", "QU+/", "\xffUJD", "QUJ\x80",
		long, long + "QQ==", long + "QUI=", long + "QQ", long + "Q", long + "=",
		long[:44], long[:44] + "QQ==", long[:48], long[:48] + "QUI=", long[:45] + "QQ==",
		long[:32] + "\n" + long[:32], long[:31] + "\r\n" + long[:33], long[:64] + "\r\n",
		long[:32] + "=" + long[:31], long[:100] + "QQ==" + long[:32], long[:63] + "!" + long,
		long[:64] + "QQ==" + "QQ==", long + "\n\n\n\nQQ==",
		strings.Repeat("////", 40), strings.Repeat("++++", 40), strings.Repeat("AAAA", 40), strings.Repeat("zzzz", 40),
		strings.Repeat("0123456789+/", 16) + "AA==",
		long[:76] + "QQ==", long[:76] + "QQ", long[:80], long[:112] + "QUI=", long[:112] + "=" + long[:23],
		long[:100] + "\n" + long[:11] + "QQ==", long[:80] + "QQ==" + long[:32], long[:132] + "Q===",
	}
	for _, c := range cases {
		grB64Check(t, []byte(c))
	}
}

// Every byte value at every position of valid input of several lengths
// around the SIMD decoder's block size, grB64MinAVX2 and the split
// between the SIMD and the scalar decoder.
func TestBase64EveryByte(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 30, 32, 33, 34, 35, 36, 48, 49, 50, 58, 59, 60, 72, 73, 74, 100, 101, 102} {
		valid := grB64Encoded(r, n)
		src := make([]byte, len(valid))
		for p := range valid {
			for c := 0; c < 256; c++ {
				copy(src, valid)
				src[p] = byte(c)
				grB64Check(t, src)
			}
		}
	}
}

// Every encoded length from 0 to 300 (and every length those are cut
// to), intact and damaged: a byte changed, line breaks added, cut short.
func TestBase64Lengths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 225; n++ { // encoded lengths 0..300
		valid := grB64Encoded(r, n)
		grB64Check(t, valid)
		for k := 0; k <= len(valid); k++ {
			grB64Check(t, valid[:k])
		}
		for i := 0; i < 20 && len(valid) > 0; i++ {
			src := bytes.Clone(valid)
			p := r.IntN(len(src))
			switch i % 4 {
			case 0:
				src[p] = "=\r\n!A\x00\xff-_"[r.IntN(9)]
			case 1:
				src = append(src[:p], append([]byte("\r\n"), src[p:]...)...)
			case 2:
				src = append(src[:p], append([]byte("\n"), src[p:]...)...)
			default:
				src = append(src[:p], src[p+1:]...)
			}
			grB64Check(t, src)
		}
	}
}

// FuzzBase64: grDecodeBase64 (and the scalar decoder) against
// base64.StdEncoding.Decode: same n, same bytes, same error.
func FuzzBase64(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 3, 33, 34, 35, 36, 100, 200, 1024} {
		f.Add(grB64Encoded(r, n))
	}
	for _, s := range []string{"QQ==QUJD", "QU\r\nJD", "QQ=\n=", "QUJD\x00", "QU-_",
		strings.Repeat("QUJD", 12) + "\n" + strings.Repeat("QUJD", 12) + "QQ==",
		strings.Repeat("QUJD", 16) + "=" + strings.Repeat("QUJD", 16)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		grB64Check(t, src)
	})
}

// BenchmarkBase64 decodes one record's Data of 100 B, 1 KiB and 64 KiB:
// std is encoding/base64, scalar grDecodeBase64Scalar (used without AVX2),
// ours grDecodeBase64, lib github.com/segmentio/asm/base64 alone. MB/s
// are of base64 characters.
func BenchmarkBase64(b *testing.B) {
	decoders := []struct {
		name string
		f    func(dst, src []byte) (int, error)
	}{
		{"std", base64.StdEncoding.Decode},
		{"scalar", grDecodeBase64Scalar},
		{"ours", grDecodeBase64},
		{"lib", asmbase64.StdEncoding.Decode},
	}
	sizes := []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}
	r := rand.New(rand.NewPCG(9, 10))
	for _, d := range decoders {
		for _, s := range sizes {
			src := grB64Encoded(r, s.n)
			dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
			b.Run(fmt.Sprintf("%s/%s", d.name, s.name), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					if n, err := d.f(dst, src); n != s.n || err != nil {
						b.Fatal(n, err)
					}
				}
			})
		}
	}
}
