package host

// Handler and checkpoint blocks: plugin, path, sha256, call_timeout, the
// restart {} block, the failure policy with its dead_letter {} block, and
// the plugin-owned config {} block.

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// pluginBlocks decodes the blocks of one kind into into, reporting duplicate
// labels, and returns the labels in file order.
func (l *configLoader) pluginBlocks(kind PluginKind, blocks hcl.Blocks, pluginDir string, into map[string]*PluginBlock) []string {
	var order []string
	for _, b := range blocks {
		if len(b.Labels) != 1 {
			continue // HCL has reported the label problem
		}
		name := b.Labels[0]
		if prev, dup := into[name]; dup {
			l.errorf(b.DefRange, "Duplicate "+string(kind),
				"A %s block labeled %q was already declared at %s. Labels must be unique; rename or remove one of them.",
				kind, name, prev.DefRange)
			continue
		}
		into[name] = l.pluginBlock(kind, b, pluginDir)
		order = append(order, name)
	}
	return order
}

func (l *configLoader) pluginBlock(kind PluginKind, b *hcl.Block, pluginDir string) *PluginBlock {
	schema := cfgPluginSchema
	if kind == KindHandler {
		schema = cfgHandlerSchema
	}
	c := l.content(b.Body, schema)
	p := cfgNewPluginBlock(kind, b.Labels[0], pluginDir)
	p.DefRange, p.PluginRange, p.ConfigRange = b.DefRange, b.DefRange, b.DefRange
	if kind == KindCheckpoint {
		p.Lease.Range = b.DefRange
	}

	pluginAttr, pathAttr := c.attrs["plugin"], c.attrs["path"]
	plugin, pluginSt := l.str(pluginAttr)
	if pluginSt == cfgSet {
		p.Plugin = plugin
		p.PluginRange = pluginAttr.Range
		if !cfgPluginNameRE.MatchString(plugin) {
			l.errorf(pluginAttr.Range, "Invalid plugin name",
				"Plugin names may contain only lower-case letters, digits, \"_\" and \"-\" (the executable is %s); got %q.",
				filepath.ToSlash(cfgPluginPath("<plugin_dir>", kind, "<plugin>")), plugin)
		}
	}
	switch path, pathSt := l.str(pathAttr); {
	case pathSt == cfgSet && path == "":
		l.errorf(pathAttr.Range, "Invalid path",
			"path must not be empty; give the plugin executable's path (relative paths resolve against the config file's directory), or remove path to use %s.",
			filepath.ToSlash(cfgPluginPath("<plugin_dir>", kind, "<plugin>")))
	case pathSt == cfgSet:
		p.Path = cfgResolvePath(l.dir, path)
		p.PluginRange = pathAttr.Range
	case pathSt == cfgUnset && pluginSt == cfgUnset && !cfgPluginNameRE.MatchString(p.Name):
		rng := b.DefRange
		if len(b.LabelRanges) > 0 {
			rng = b.LabelRanges[0]
		}
		l.errorf(rng, "Invalid plugin name",
			"Without a plugin argument the label is the plugin name, and plugin names may contain only lower-case letters, digits, \"_\" and \"-\"; got %q. Add plugin = \"<name>\" (the executable is %s), or path = \"...\".",
			p.Name, filepath.ToSlash(cfgPluginPath("<plugin_dir>", kind, "<name>")))
	case pathSt == cfgUnset:
		p.Path = cfgPluginPath(pluginDir, kind, p.Plugin)
	}

	if sum, st := l.str(c.attrs["sha256"]); st == cfgSet {
		lower := strings.ToLower(strings.TrimSpace(sum))
		if cfgSHA256RE.MatchString(lower) {
			p.SHA256 = lower
		} else {
			why := fmt.Sprintf("got %d characters", len(sum))
			if len(lower) == 64 {
				why = "it contains characters other than 0-9 and a-f"
			}
			l.errorf(c.attrs["sha256"].Range, "Invalid sha256",
				"sha256 must be the SHA-256 of the plugin executable as 64 hexadecimal characters (the first field printed by \"sha256sum <file>\"); %s.", why)
		}
	}
	if d, st := l.duration(c.attrs["call_timeout"], 0, ""); st == cfgSet {
		p.CallTimeout = d
	}
	if rb := l.single(c, "restart"); rb != nil {
		l.restart(&p.Restart, rb)
	}
	if cb := l.single(c, "config"); cb != nil {
		p.ConfigRange = cb.DefRange
		p.Config = l.pluginConfig(cb.Body, p.ConfigAttrs)
	}
	l.leaseBlock(p, c)
	if kind == KindHandler {
		l.failurePolicy(&p.Failure, c, b)
	}
	return p
}

// failurePolicy reads on_failure, max_attempts, retry_backoff and the
// dead_letter {} block of a handler block.
func (l *configLoader) failurePolicy(f *FailurePolicy, c cfgContent, b *hcl.Block) {
	onAttr := c.attrs["on_failure"]
	if v, st := l.enum(onAttr, cfgOnFailure); st == cfgSet {
		f.OnFailure = v
	}
	if n, st := l.integer(c.attrs["max_attempts"], 1, math.MaxInt32); st == cfgSet {
		f.MaxAttempts = int(n)
	}
	if d, st := l.duration(c.attrs["retry_backoff"], 0, ""); st == cfgSet {
		f.RetryBackoff = d
	}
	dl := l.single(c, "dead_letter")
	if dl != nil {
		dc := l.content(dl.Body, cfgDeadLetterSchema)
		f.DeadLetter = &DeadLetterConfig{Range: dl.DefRange}
		file, fileSt := l.str(dc.attrs["file"])
		stream, streamSt := l.str(dc.attrs["stream"])
		switch {
		case fileSt == cfgSet && streamSt == cfgSet:
			l.errorf(dl.DefRange, "Ambiguous dead_letter",
				"A dead_letter block names one target: file = \"<path>\" (JSON lines) or stream = \"<Kinesis stream>\", not both.")
		case fileSt == cfgSet && file != "":
			f.DeadLetter.File = cfgResolvePath(l.dir, file)
		case streamSt == cfgSet && stream != "":
			f.DeadLetter.Stream = stream
			if !cfgStreamNameRE.MatchString(stream) {
				l.errorf(dc.attrs["stream"].Range, "Invalid dead_letter stream", "stream must be a Kinesis stream name; got %q.", stream)
			}
		case fileSt != cfgInvalid && streamSt != cfgInvalid:
			l.errorf(dl.DefRange, "Missing dead_letter target",
				"Set file = \"./data/dead-letter.jsonl\" (JSON lines on local disk) or stream = \"<Kinesis stream>\".")
		}
	}
	if f.OnFailure == OnFailureDeadLetter && dl == nil {
		rng := b.DefRange
		if onAttr != nil {
			rng = onAttr.Range
		}
		l.errorf(rng, "Missing dead_letter block",
			"on_failure = \"dead_letter\" needs a dead_letter { file = \"...\" } or dead_letter { stream = \"...\" } block in this handler block.")
	}
	if dl != nil && f.OnFailure != OnFailureDeadLetter {
		l.warnf(dl.DefRange, "Unused dead_letter block",
			"This dead_letter block is only used with on_failure = \"dead_letter\"; on_failure is %q.", f.OnFailure)
	}
}

func (l *configLoader) restart(r *RestartPolicy, b *hcl.Block) {
	c := l.content(b.Body, cfgRestartSchema)
	if n, st := l.integer(c.attrs["max_restarts"], 0, math.MaxInt32); st == cfgSet {
		r.MaxRestarts = int(n)
	}
	if d, st := l.duration(c.attrs["window"], 0, ""); st == cfgSet {
		r.Window = d
	}
	backoff, backoffSt := l.duration(c.attrs["backoff"], 0, "")
	if backoffSt == cfgSet {
		r.Backoff = backoff
	}
	maxBackoff, maxSt := l.duration(c.attrs["max_backoff"], 0, "")
	if maxSt == cfgSet {
		r.MaxBackoff = maxBackoff
	}
	if backoffSt != cfgInvalid && maxSt != cfgInvalid && r.MaxBackoff < r.Backoff {
		if maxSt == cfgSet {
			l.errorf(c.attrs["max_backoff"].Range, "Invalid max_backoff",
				"max_backoff (%s) must be at least backoff (%s); raise max_backoff or lower backoff.", r.MaxBackoff, r.Backoff)
		} else {
			l.errorf(c.attrs["backoff"].Range, "Invalid backoff",
				"backoff (%s) is larger than the default max_backoff (%s); set max_backoff as well, or lower backoff.", r.Backoff, r.MaxBackoff)
		}
	}
	if v, st := l.enum(c.attrs["on_exhausted"], cfgOnExhausted); st == cfgSet {
		r.OnExhausted = v
	}
}

// pluginConfig evaluates a config {} body's attributes into a JSON object
// and records each attribute's range in attrs.
func (l *configLoader) pluginConfig(body hcl.Body, attrs map[string]hcl.Range) []byte {
	hattrs, diags := body.JustAttributes()
	l.diags = append(l.diags, diags...)
	names := make([]string, 0, len(hattrs))
	for name, a := range hattrs {
		if a == nil {
			continue
		}
		names = append(names, name)
		attrs[name] = a.Range
	}
	sort.Strings(names)

	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, name := range names {
		a := hattrs[name]
		v, vdiags := a.Expr.Value(l.ctx)
		l.diags = append(l.diags, vdiags...)
		if vdiags.HasErrors() {
			continue
		}
		var vb bytes.Buffer
		if err := cfgWriteJSON(&vb, v); err != nil {
			l.errorf(a.Range, "Invalid config value",
				"The value of %q cannot be passed to the plugin: %v.", name, err)
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		cfgWriteJSONString(&buf, name)
		buf.WriteByte(':')
		buf.Write(vb.Bytes())
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
