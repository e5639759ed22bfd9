package host

// Attribute values: the env() function, evaluation and the typed readers
// (str, enum, duration, integer, size, timestamp, bool), the JSON encoding
// of config {} values, and name suggestions.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// cfgNewEvalContext returns the evaluation context for config files:
// no variables, one function, env(name [, default]).
func cfgNewEvalContext() *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{"env": cfgEnvFunc},
	}
}

// cfgEnvFunc is env(name [, default]): the value of environment variable
// name; default when it is unset; an error at the call site naming the
// variable when it is unset and there is no default. A variable set to ""
// counts as set.
var cfgEnvFunc = function.New(&function.Spec{
	Description: "Returns the value of an environment variable, or the default when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "default", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, function.NewArgErrorf(2, "env takes one or two arguments: env(name) or env(name, default)")
		}
		name := args[0].AsString()
		if name == "" {
			return cty.NilVal, function.NewArgErrorf(0, "the environment variable name must not be empty")
		}
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return cty.NilVal, fmt.Errorf("environment variable %s is not set; set it before starting kinesis-host, or give a default as the second argument: env(%q, \"...\")", name, name)
	},
})

// eval evaluates an attribute's expression. It returns cfgUnset for an
// absent or null attribute and cfgInvalid when evaluation failed (the
// diagnostics are recorded).
func (l *configLoader) eval(a *hcl.Attribute) (cty.Value, cfgValueState) {
	if a == nil || a.Expr == nil {
		return cty.NilVal, cfgUnset
	}
	v, diags := a.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	switch {
	case diags.HasErrors():
		return cty.NilVal, cfgInvalid
	case v.IsNull():
		return cty.NilVal, cfgUnset
	case !v.IsWhollyKnown():
		return cty.NilVal, cfgInvalid // only after an error; no variables are unknown
	}
	v, _ = v.Unmark()
	return v, cfgSet
}

func (l *configLoader) typeError(a *hcl.Attribute, want string) {
	l.errorf(a.Range, "Incorrect attribute value type",
		"Inappropriate value for attribute %q: %s required.", a.Name, want)
}

// str evaluates a string attribute. Numbers and bools are converted, as HCL
// does (a number is formatted without going through its decimal expansion).
func (l *configLoader) str(a *hcl.Attribute) (string, cfgValueState) {
	v, st := l.eval(a)
	if st != cfgSet {
		return "", st
	}
	if v.Type() == cty.Number {
		s, err := cfgFormatNumber(v.AsBigFloat())
		if err != nil {
			l.errorf(a.Range, "Incorrect attribute value type",
				"Inappropriate value for attribute %q: %v.", a.Name, err)
			return "", cfgInvalid
		}
		return s, cfgSet
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil || sv.IsNull() || !sv.IsKnown() {
		l.typeError(a, "string")
		return "", cfgInvalid
	}
	return sv.AsString(), cfgSet
}

// enum evaluates a string attribute that must be one of allowed.
func (l *configLoader) enum(a *hcl.Attribute, allowed []string) (string, cfgValueState) {
	s, st := l.str(a)
	if st != cfgSet {
		return "", st
	}
	for _, a := range allowed {
		if s == a {
			return s, cfgSet
		}
	}
	hint := ""
	if c := cfgClosestName(s, allowed); c != "" {
		hint = fmt.Sprintf(" Did you mean %q?", c)
	}
	l.errorf(a.Range, "Invalid "+a.Name, "%s must be one of %s; got %q.%s", a.Name, strings.Join(allowed, ", "), s, hint)
	return "", cfgInvalid
}

// duration evaluates a duration string such as "250ms". It must be at least
// min, or positive when min is 0; why explains min in the message.
func (l *configLoader) duration(a *hcl.Attribute, min time.Duration, why string) (time.Duration, cfgValueState) {
	s, st := l.str(a)
	if st != cfgSet {
		return 0, st
	}
	name, rng := a.Name, a.Range
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		l.errorf(rng, "Invalid "+name,
			`%s must be a duration such as "250ms", "30s", "5m" or "1h30m" (units ns, us, ms, s, m, h); got %q.`, name, s)
		return 0, cfgInvalid
	case min == 0 && d <= 0:
		l.errorf(rng, "Invalid "+name, "%s must be greater than zero; got %q.", name, s)
		return 0, cfgInvalid
	case d < min:
		l.errorf(rng, "Invalid "+name, "%s must be at least %s%s; got %q.", name, min, why, s)
		return 0, cfgInvalid
	}
	return d, cfgSet
}

// integer evaluates a whole number in [min, max].
func (l *configLoader) integer(a *hcl.Attribute, min, max int64) (int64, cfgValueState) {
	v, st := l.eval(a)
	if st != cfgSet {
		return 0, st
	}
	name, rng := a.Name, a.Range
	nv, err := convert.Convert(v, cty.Number)
	if err != nil || nv.IsNull() || !nv.IsKnown() {
		l.typeError(a, "number")
		return 0, cfgInvalid
	}
	f := nv.AsBigFloat()
	if !f.IsInt() {
		l.errorf(rng, "Invalid "+name, "%s must be a whole number between %d and %d; got %s.", name, min, max, cfgDescribeNumber(f))
		return 0, cfgInvalid
	}
	if f.Cmp(new(big.Float).SetInt64(min)) < 0 || f.Cmp(new(big.Float).SetInt64(max)) > 0 {
		l.errorf(rng, "Invalid "+name, "%s must be between %d and %d; got %s.", name, min, max, cfgDescribeNumber(f))
		return 0, cfgInvalid
	}
	n, _ := f.Int64()
	return n, cfgSet
}

func cfgDescribeNumber(f *big.Float) string {
	if s, err := cfgFormatNumber(f); err == nil {
		return s
	}
	return "a number too large to use"
}

// size evaluates a byte size, a number of bytes or a string such as "4MiB",
// in [min, max].
func (l *configLoader) size(a *hcl.Attribute, min, max int64) (int64, cfgValueState) {
	v, st := l.eval(a)
	if st != cfgSet {
		return 0, st
	}
	name, rng := a.Name, a.Range
	var n int64
	var got string
	if v.Type() == cty.Number {
		f := v.AsBigFloat()
		got = cfgDescribeNumber(f)
		if !f.IsInt() {
			l.errorf(rng, "Invalid "+name, "%s must be a whole number of bytes or a size such as \"4MiB\"; got %s.", name, got)
			return 0, cfgInvalid
		}
		if f.Cmp(new(big.Float).SetInt64(math.MaxInt64)) > 0 || f.Sign() < 0 {
			n = -1 // out of range either way
		} else {
			n, _ = f.Int64()
		}
	} else {
		s, st := l.str(a)
		if st != cfgSet {
			return 0, st
		}
		got = strconv.Quote(s)
		var err error
		if n, err = cfgParseSize(s); err != nil {
			l.errorf(rng, "Invalid "+name,
				`%s must be a size such as "4MiB", "512KiB" or "1MB" (units B, KB, KiB, MB, MiB, GB, GiB) or a number of bytes; got %s: %v.`, name, got, err)
			return 0, cfgInvalid
		}
	}
	if n < min || n > max {
		l.errorf(rng, "Invalid "+name, "%s must be between %s and %s; got %s.", name, cfgFormatSize(min), cfgFormatSize(max), got)
		return 0, cfgInvalid
	}
	return n, cfgSet
}

var cfgSizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "kib": 1 << 10,
	"mb": 1000 * 1000, "mib": 1 << 20,
	"gb": 1000 * 1000 * 1000, "gib": 1 << 30,
}

// cfgParseSize parses "4MiB", "1.5 MB", "65536" and the like into bytes.
func cfgParseSize(s string) (int64, error) {
	m := cfgSizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("not a size")
	}
	unit, ok := cfgSizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", m[2])
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("not a size")
	}
	num.Mul(num, new(big.Rat).SetInt64(unit))
	if !num.IsInt() {
		return 0, fmt.Errorf("not a whole number of bytes")
	}
	if !num.Num().IsInt64() {
		return math.MaxInt64, nil // far out of range; the caller reports it
	}
	return num.Num().Int64(), nil
}

// cfgFormatSize formats n bytes with the largest binary unit that divides it.
func cfgFormatSize(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// timestamp evaluates an RFC 3339 time string.
func (l *configLoader) timestamp(a *hcl.Attribute) (time.Time, cfgValueState) {
	s, st := l.str(a)
	if st != cfgSet {
		return time.Time{}, st
	}
	name, rng := a.Name, a.Range
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		l.errorf(rng, "Invalid "+name,
			`%s must be an RFC 3339 time such as "2024-05-01T12:00:00Z" or "2024-05-01T14:00:00+02:00"; got %q.`, name, s)
		return time.Time{}, cfgInvalid
	}
	return t, cfgSet
}

// boolean evaluates a bool attribute.
func (l *configLoader) boolean(a *hcl.Attribute) (bool, cfgValueState) {
	v, st := l.eval(a)
	if st != cfgSet {
		return false, st
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil || bv.IsNull() || !bv.IsKnown() {
		l.typeError(a, "bool (true or false)")
		return false, cfgInvalid
	}
	return bv.True(), cfgSet
}

// cfgWriteJSON writes v as JSON. Object and map keys come out sorted.
func cfgWriteJSON(buf *bytes.Buffer, v cty.Value) error {
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return fmt.Errorf("the value is not known")
	}
	if v.IsNull() {
		buf.WriteString("null")
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		cfgWriteJSONString(buf, v.AsString())
	case ty == cty.Bool:
		buf.WriteString(strconv.FormatBool(v.True()))
	case ty == cty.Number:
		s, err := cfgFormatNumber(v.AsBigFloat())
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		buf.WriteByte('[')
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := cfgWriteJSON(buf, ev); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case ty.IsMapType() || ty.IsObjectType():
		buf.WriteByte('{')
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			k, ev := it.Element()
			if i > 0 {
				buf.WriteByte(',')
			}
			cfgWriteJSONString(buf, k.AsString())
			buf.WriteByte(':')
			if err := cfgWriteJSON(buf, ev); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("values of type %s are not supported", ty.FriendlyName())
	}
	return nil
}

// cfgFormatNumber formats f as a JSON number: exactly when it is a whole
// number that fits int64, otherwise as the nearest float64. It never formats
// the big.Float itself, whose exponent can be huge.
func cfgFormatNumber(f *big.Float) (string, error) {
	if f.IsInf() {
		return "", fmt.Errorf("infinity cannot be represented in JSON")
	}
	if f.IsInt() {
		if i, acc := f.Int64(); acc == big.Exact {
			return strconv.FormatInt(i, 10), nil
		}
	}
	x, _ := f.Float64()
	if math.IsInf(x, 0) {
		return "", fmt.Errorf("the number is too large")
	}
	return strconv.FormatFloat(x, 'g', -1, 64), nil
}

func cfgWriteJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // strings always encode
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// cfgResolvePath makes p absolute, relative to dir.
func cfgResolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// cfgClosestName returns the candidate closest to name (case-insensitive
// equality, or an edit distance of at most 2 and less than half of name's
// length), or "" when none is close.
func cfgClosestName(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
		d := cfgEditDistance(strings.ToLower(name), strings.ToLower(c))
		if d < bestDist && d*2 < len([]rune(name)) {
			best, bestDist = c, d
		}
	}
	return best
}

// cfgEditDistance is the Levenshtein distance between a and b, in runes.
func cfgEditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 256 || len(rb) > 256 {
		return math.MaxInt32 // not worth comparing; never "close"
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
