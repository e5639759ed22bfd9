package host

// The loader core: the host schema, decoding bodies against it, the
// configLoader and its diagnostics, and the top-level load with its
// cross-references between streams and plugin blocks.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Host schema. Bodies are decoded with hcl.Body.Content against these
// schemas, which gives HCL's own diagnostics for unknown arguments and blocks
// ("Unsupported argument", with a did-you-mean suggestion) and for wrong
// label counts. Attribute values are evaluated by configLoader so that each
// gets exactly one diagnostic naming the attribute. (gohcl is not used: its
// package imports hclwrite, whose go-cmp dependency is not in go.sum.)
var (
	cfgFileSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "app"}, {Name: "plugin_dir"}, {Name: "log_level"}, {Name: "log_format"}, {Name: "shutdown_timeout"},
			{Name: "max_buffered_bytes"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "kinesis"},
			{Type: "telemetry"},
			{Type: "stream", LabelNames: []string{"name"}},
			{Type: string(KindHandler), LabelNames: []string{"name"}},
			{Type: string(KindCheckpoint), LabelNames: []string{"name"}},
		},
	}
	cfgKinesisSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "region"}, {Name: "endpoint"},
			{Name: "access_key_id"}, {Name: "secret_access_key"}, {Name: "session_token"},
		},
	}
	cfgTelemetrySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "listen"}, {Name: "pprof"}},
	}
	cfgStreamSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "handler"}, {Name: "checkpoint"},
			{Name: "start_position"}, {Name: "start_timestamp"},
			{Name: "max_records"}, {Name: "batch_max_records"}, {Name: "batch_max_bytes"},
			{Name: "poll_interval"}, {Name: "shard_sync_interval"},
			{Name: "deaggregate"}, {Name: "on_expired_checkpoint"},
			{Name: "consumer"}, {Name: "consumer_name"},
		},
	}
	cfgPluginSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "plugin"}, {Name: "path"}, {Name: "sha256"}, {Name: "call_timeout"},
		},
		// lease is only valid in checkpoint blocks; handler blocks accept it
		// here to say where it belongs (configLoader.leaseBlock).
		Blocks: []hcl.BlockHeaderSchema{{Type: "restart"}, {Type: "config"}, {Type: "lease"}},
	}
	// Handler blocks take the plugin attributes plus the failure policy.
	cfgHandlerSchema = &hcl.BodySchema{
		Attributes: append(append([]hcl.AttributeSchema{}, cfgPluginSchema.Attributes...),
			hcl.AttributeSchema{Name: "on_failure"}, hcl.AttributeSchema{Name: "max_attempts"}, hcl.AttributeSchema{Name: "retry_backoff"}),
		Blocks: append(append([]hcl.BlockHeaderSchema{}, cfgPluginSchema.Blocks...), hcl.BlockHeaderSchema{Type: "dead_letter"}),
	}
	cfgDeadLetterSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "file"}, {Name: "stream"}},
	}
	cfgLeaseSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "duration"}, {Name: "renew_interval"}, {Name: "poll_interval"}, {Name: "worker_id"}, {Name: "max_shards"},
		},
	}
	cfgRestartSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "max_restarts"}, {Name: "window"}, {Name: "backoff"}, {Name: "max_backoff"}, {Name: "on_exhausted"},
		},
	}
)

// cfgContent is a body decoded against a schema.
type cfgContent struct {
	attrs  hcl.Attributes
	blocks map[string]hcl.Blocks
}

// content decodes body against schema, recording diagnostics.
func (l *configLoader) content(body hcl.Body, schema *hcl.BodySchema) cfgContent {
	if body == nil {
		return cfgContent{attrs: hcl.Attributes{}, blocks: map[string]hcl.Blocks{}}
	}
	c, diags := body.Content(schema)
	l.diags = append(l.diags, diags...)
	if c == nil {
		return cfgContent{attrs: hcl.Attributes{}, blocks: map[string]hcl.Blocks{}}
	}
	return cfgContent{attrs: c.Attributes, blocks: c.Blocks.ByType()}
}

// single returns the only block of type typ (nil if none), reporting extra ones.
func (l *configLoader) single(c cfgContent, typ string) *hcl.Block {
	blocks := c.blocks[typ]
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		l.errorf(b.DefRange, "Duplicate "+typ+" block",
			"Only one %s block is allowed here. Another was defined at %s; merge them into one.", typ, blocks[0].DefRange)
	}
	return blocks[0]
}

// configLoader turns the decoded schema into a Config, collecting diagnostics.
type configLoader struct {
	ctx   *hcl.EvalContext
	dir   string // Config.Dir, absolute
	diags hcl.Diagnostics
}

// cfgValueState says what evaluating an attribute produced.
type cfgValueState int

const (
	cfgUnset   cfgValueState = iota // absent or null: keep the default
	cfgInvalid                      // an error diagnostic was recorded
	cfgSet                          // a valid value
)

func (l *configLoader) errorf(rng hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

func (l *configLoader) warnf(rng hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

func (l *configLoader) load(body hcl.Body) *Config {
	c := l.content(body, cfgFileSchema)
	cfg := cfgNewConfig(l.dir)
	missing := body.MissingItemRange()

	switch app, st := l.str(c.attrs["app"]); {
	case st == cfgUnset:
		l.errorf(missing, "Missing app",
			`The top-level argument app is required: it names this consumer application, and checkpoints are keyed by (app, stream, shard). Add for example app = "orders-consumer".`)
	case st == cfgSet && strings.TrimSpace(app) == "":
		l.errorf(c.attrs["app"].Range, "Invalid app",
			`app must not be empty: it names this consumer application, and checkpoints are keyed by (app, stream, shard).`)
	case st == cfgSet:
		cfg.App = app
	}
	if p, st := l.str(c.attrs["plugin_dir"]); st == cfgSet {
		if p == "" {
			l.errorf(c.attrs["plugin_dir"].Range, "Invalid plugin_dir",
				`plugin_dir must not be empty; remove it to use the default "./%s", or give a directory (relative paths resolve against the config file's directory).`,
				filepath.ToSlash(cfgDefaults.PluginDir))
		} else {
			cfg.PluginDir = cfgResolvePath(l.dir, p)
		}
	}
	if v, st := l.enum(c.attrs["log_level"], cfgLogLevels); st == cfgSet {
		cfg.LogLevel = v
	}
	if v, st := l.enum(c.attrs["log_format"], cfgLogFormats); st == cfgSet {
		cfg.LogFormat = v
	}
	if d, st := l.duration(c.attrs["shutdown_timeout"], 0, ""); st == cfgSet {
		cfg.ShutdownTimeout = d
	}
	if a := c.attrs["max_buffered_bytes"]; a != nil {
		if n, st := l.size(a, 0, cfgMaxBufferedBytesMax); st == cfgSet {
			if n < cfgMaxBufferedBytesMin {
				l.errorf(a.Range, "Invalid max_buffered_bytes",
					`max_buffered_bytes is %s, below the minimum of %s: one GetRecords page can hold 10 MB of records, and the budget must fit at least one. Set max_buffered_bytes = "%s" or more, or remove it to use the default of %s.`,
					cfgFormatSize(n), cfgFormatSize(cfgMaxBufferedBytesMin), cfgFormatSize(cfgMaxBufferedBytesMin), cfgFormatSize(cfgDefaults.MaxBufferedBytes))
			} else {
				cfg.MaxBufferedBytes = n
			}
		}
	}
	if kb := l.single(c, "kinesis"); kb != nil {
		l.kinesis(&cfg.Kinesis, kb)
	}
	if tb := l.single(c, "telemetry"); tb != nil {
		l.telemetry(&cfg.Telemetry, tb)
	}

	// Plugin blocks, then streams, then cross-references.
	handlerOrder := l.pluginBlocks(KindHandler, c.blocks[string(KindHandler)], cfg.PluginDir, cfg.Handlers)
	checkpointOrder := l.pluginBlocks(KindCheckpoint, c.blocks[string(KindCheckpoint)], cfg.PluginDir, cfg.Checkpoints)

	streamDefs := map[string]hcl.Range{}
	for _, b := range c.blocks["stream"] {
		if len(b.Labels) != 1 {
			continue // HCL has reported the label problem
		}
		name := b.Labels[0]
		if prev, dup := streamDefs[name]; dup {
			l.errorf(b.DefRange, "Duplicate stream",
				"A stream block for %q was already declared at %s. Each Kinesis stream is consumed by one stream block; remove or merge one of them.",
				name, prev)
			continue
		}
		streamDefs[name] = b.DefRange
		cfg.Streams = append(cfg.Streams, l.stream(b))
	}
	if len(c.blocks["stream"]) == 0 {
		l.errorf(missing, "No stream blocks",
			`At least one stream block is required, for example:
  stream "orders" {
    handler = "orders"
  }`)
	}

	usedHandlers := map[string]bool{}
	usedCheckpoints := map[string]bool{}
	for _, s := range cfg.Streams {
		if s.Handler != "" {
			if _, ok := cfg.Handlers[s.Handler]; ok {
				usedHandlers[s.Handler] = true
			} else {
				l.undeclared(KindHandler, s.Handler, s.HandlerRange, handlerOrder)
			}
		}
		if _, ok := cfg.Checkpoints[s.Checkpoint]; ok {
			usedCheckpoints[s.Checkpoint] = true
			continue
		}
		if s.Checkpoint == DefaultCheckpointName {
			cfg.Checkpoints[DefaultCheckpointName] = cfgNewImplicitCheckpoint(cfg, s.DefRange)
			usedCheckpoints[DefaultCheckpointName] = true
			continue
		}
		l.undeclared(KindCheckpoint, s.Checkpoint, s.CheckpointRange, checkpointOrder)
	}
	for _, name := range handlerOrder {
		if !usedHandlers[name] {
			l.warnf(cfg.Handlers[name].DefRange, "Unused handler",
				"No stream uses handler %q, so its plugin will not be started. Set handler = %q in a stream block, or remove this block.",
				name, name)
		}
	}
	for _, name := range checkpointOrder {
		if !usedCheckpoints[name] {
			l.warnf(cfg.Checkpoints[name].DefRange, "Unused checkpoint",
				"No stream uses checkpoint %q, so its plugin will not be started. Set checkpoint = %q in a stream block, or remove this block.",
				name, name)
		}
	}
	return cfg
}

// undeclared reports a stream's reference to a block that doesn't exist.
func (l *configLoader) undeclared(kind PluginKind, name string, rng hcl.Range, declared []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "No %s block labeled %q is declared.", kind, name)
	if s := cfgClosestName(name, declared); s != "" {
		fmt.Fprintf(&b, " Did you mean %q?", s)
	}
	if len(declared) == 0 {
		fmt.Fprintf(&b, " This file declares no %s blocks; add one:\n  %s %q {\n    plugin = \"...\"\n  }", kind, kind, name)
	} else {
		quoted := make([]string, len(declared))
		for i, d := range declared {
			quoted[i] = strconv.Quote(d)
		}
		fmt.Fprintf(&b, " Declared %ss: %s.", kind, strings.Join(quoted, ", "))
	}
	if kind == KindCheckpoint {
		fmt.Fprintf(&b, " Omit checkpoint to use the implicit %q checkpoint (a local file).", DefaultCheckpointName)
	}
	l.errorf(rng, "Reference to undeclared "+string(kind), "%s", b.String())
}
