package host

// This file loads and validates the host's HCL configuration file.
//
// Loading happens in stages, and every problem found in a stage is reported
// at once as an hcl.Diagnostic with a file:line position:
//
//  1. parse (HCL syntax errors stop here);
//  2. decode the host schema (unknown arguments and blocks get HCL's own
//     "Unsupported argument" diagnostics, with did-you-mean);
//  3. evaluate and check every attribute (types, enums, durations, sizes,
//     ranges), filling in defaults from cfgDefaults;
//  4. cross-references: a stream's handler/checkpoint must name a declared
//     block; blocks that no stream uses get a warning.
//
// Plugin-owned config {} blocks are only evaluated and turned into JSON here;
// checking them against the plugin's schema is the plugin's job
// (PluginBlock.DiagForField points its errors at the right line).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// DefaultCheckpointName is the checkpoint a stream uses when it names none
// (no checkpoint argument, or checkpoint = ""). If no checkpoint block has
// this label, the loader adds an implicit one (PluginBlock.Implicit): plugin
// "file" with config {"path": "<Dir>/data/checkpoints.db"}. A stream may also
// name it explicitly (checkpoint = "default"), with the same effect.
const DefaultCheckpointName = "default"

// cfgDefaults is the default of every optional setting, and the only place
// defaults are defined: cfgNewConfig, cfgNewStream and cfgNewPluginBlock copy
// them, and the loader overwrites a default only when the file sets the
// attribute to a valid, non-null value.
var cfgDefaults = struct {
	PluginDir       string // plugin_dir, relative to Config.Dir
	LogLevel        string // log_level
	ShutdownTimeout time.Duration

	StartPosition       string // start_position
	MaxRecords          int32  // max_records (GetRecords Limit)
	BatchMaxRecords     int    // batch_max_records
	BatchMaxBytes       int64  // batch_max_bytes
	PollInterval        time.Duration
	ShardSyncInterval   time.Duration
	OnExpiredCheckpoint string // on_expired_checkpoint

	HandlerCallTimeout    time.Duration // call_timeout in handler blocks
	CheckpointCallTimeout time.Duration // call_timeout in checkpoint blocks
	Restart               RestartPolicy // restart {} block (and its absence)
	Failure               FailurePolicy // on_failure, max_attempts, retry_backoff

	ImplicitCheckpointPlugin string // plugin of the implicit "default" checkpoint
	ImplicitCheckpointPath   string // its config path, relative to Config.Dir
}{
	PluginDir:       filepath.Join("bin", "plugins"),
	LogLevel:        "info",
	ShutdownTimeout: 30 * time.Second,

	StartPosition:       StartLatest,
	MaxRecords:          10000,
	BatchMaxRecords:     1000,
	BatchMaxBytes:       4 << 20,
	PollInterval:        time.Second,
	ShardSyncInterval:   30 * time.Second,
	OnExpiredCheckpoint: ExpiredTrimHorizon,

	HandlerCallTimeout:    30 * time.Second,
	CheckpointCallTimeout: 10 * time.Second,
	Restart: RestartPolicy{
		MaxRestarts: 5,
		Window:      10 * time.Minute,
		Backoff:     time.Second,
		MaxBackoff:  time.Minute,
		OnExhausted: OnExhaustedExit,
	},
	Failure: FailurePolicy{OnFailure: OnFailureStop, MaxAttempts: 1, RetryBackoff: time.Second},

	ImplicitCheckpointPlugin: "file",
	ImplicitCheckpointPath:   filepath.Join("data", "checkpoints.db"),
}

// Limits enforced on numeric settings.
const (
	cfgMaxRecordsMax      = 10000    // Kinesis GetRecords Limit maximum
	cfgBatchMaxRecordsMax = 10000    // a batch never exceeds one GetRecords response
	cfgBatchMaxBytesMin   = 64 << 10 // 64 KiB
	cfgBatchMaxBytesMax   = 64 << 20 // 64 MiB
	cfgPollIntervalMin    = 200 * time.Millisecond
	cfgShardSyncMin       = time.Second
)

// Values of StreamConfig.StartPosition.
const (
	StartLatest      = "LATEST"       // only records written after the shard is first read
	StartTrimHorizon = "TRIM_HORIZON" // the oldest record still retained
	StartAtTimestamp = "AT_TIMESTAMP" // the first record at or after StartTimestamp
)

// Values of StreamConfig.Consumer.
const (
	ConsumerPolling = "polling"
	ConsumerEFO     = "efo"
)

// Values of StreamConfig.OnExpiredCheckpoint.
const (
	ExpiredTrimHorizon = "trim_horizon"
	ExpiredFail        = "fail"
)

// Values of FailurePolicy.OnFailure.
const (
	OnFailureStop       = "stop"
	OnFailureSkip       = "skip"
	OnFailureDeadLetter = "dead_letter"
)

// Values of RestartPolicy.OnExhausted.
const (
	OnExhaustedExit     = "exit"     // stop the host (non-zero exit) when the restart budget is spent
	OnExhaustedContinue = "continue" // mark the plugin failed, stop its shards, keep the rest running
)

var (
	cfgLogLevels           = []string{"trace", "debug", "info", "warn", "error"}
	cfgStartPositions      = []string{StartLatest, StartTrimHorizon, StartAtTimestamp}
	cfgOnExhausted         = []string{OnExhaustedExit, OnExhaustedContinue}
	cfgOnFailure           = []string{OnFailureStop, OnFailureSkip, OnFailureDeadLetter}
	cfgOnExpiredCheckpoint = []string{ExpiredTrimHorizon, ExpiredFail}
	cfgConsumers           = []string{ConsumerPolling, ConsumerEFO}
	cfgConsumerNameRE      = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

	cfgPluginNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	// Kinesis stream names: 1-128 characters of [a-zA-Z0-9_.-].
	cfgStreamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	cfgSizeRE       = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)
	cfgSHA256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Config is the decoded, validated host configuration. LoadConfig returns it
// only when the file has no errors, so every field holds a usable value:
// defaults are filled in and paths are absolute.
type Config struct {
	// Path is the absolute path of the config file ("" for ParseConfig, which
	// has no file).
	Path string
	// Dir is the absolute directory that relative paths resolve against: the
	// config file's directory for LoadConfig, the dir argument for ParseConfig.
	Dir string
	// App (app, required) names this consumer application; checkpoints are
	// keyed by (app, stream, shard).
	App string
	// PluginDir (plugin_dir) is the absolute directory holding plugin
	// executables; relative values resolve against Dir. Default
	// "<Dir>/bin/plugins".
	PluginDir string
	// LogLevel (log_level) is one of trace, debug, info, warn, error.
	// Default "info".
	LogLevel string
	// ShutdownTimeout (shutdown_timeout, a duration string) is how long
	// in-flight batches may take to finish on SIGTERM. Default 30s; must be
	// positive.
	ShutdownTimeout time.Duration
	// Kinesis holds the optional kinesis {} block.
	Kinesis KinesisConfig
	// Streams are the stream blocks, in file order; there is at least one.
	Streams []*StreamConfig
	// Handlers are the handler "label" {} blocks by label.
	Handlers map[string]*PluginBlock
	// Checkpoints are the checkpoint "label" {} blocks by label. It also holds
	// the implicit DefaultCheckpointName block when a stream uses it and the
	// file declares no block with that label.
	Checkpoints map[string]*PluginBlock
}

// KinesisConfig is the optional kinesis {} block: how to reach Kinesis.
// Empty strings mean "use the AWS SDK's default resolution" (environment,
// shared config files, instance metadata).
type KinesisConfig struct {
	// Region (region) is the AWS region, e.g. "us-east-1".
	Region string
	// Endpoint (endpoint) overrides the service URL, e.g. a local emulator
	// "http://127.0.0.1:4567". Must be an http or https URL with a host.
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken (access_key_id,
	// secret_access_key, session_token) are optional static credentials; the
	// default credential chain is used otherwise. The first two must be set
	// together (an empty string counts as unset, so
	// env("AWS_ACCESS_KEY_ID", "") is a valid way to make them optional), and
	// session_token requires both.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Range is the kinesis block's header, zero when the block is absent.
	Range hcl.Range
}

// StreamConfig is one stream "name" {} block: a Kinesis stream to consume and
// the plugins that process and checkpoint it.
type StreamConfig struct {
	// Name is the block label: the Kinesis stream name (1-128 characters of
	// letters, digits, "_", "." and "-").
	Name string
	// Handler (handler, required) names a handler block.
	Handler string
	// Checkpoint (checkpoint) names a checkpoint block; when absent or "" it
	// is DefaultCheckpointName.
	Checkpoint string
	// StartPosition (start_position) is where a shard without a checkpoint
	// starts: LATEST (default), TRIM_HORIZON or AT_TIMESTAMP.
	StartPosition string
	// StartTimestamp (start_timestamp, RFC 3339) is required when
	// StartPosition is AT_TIMESTAMP and rejected otherwise.
	StartTimestamp time.Time
	// MaxRecords (max_records) is the GetRecords Limit, 1..10000. Default 10000.
	MaxRecords int32
	// BatchMaxRecords (batch_max_records) caps the records passed to one
	// handler call, 1..10000. Default 1000.
	BatchMaxRecords int
	// BatchMaxBytes (batch_max_bytes) caps the record data bytes passed to one
	// handler call: a size string ("4MiB", "512KiB", "1MB"; units B, KB, KiB,
	// MB, MiB, GB, GiB, case-insensitive) or a number of bytes. 64KiB..64MiB,
	// default 4MiB.
	BatchMaxBytes int64
	// PollInterval (poll_interval) is the wait between GetRecords calls when
	// the shard is caught up. Default 1s, minimum 200ms (Kinesis allows 5
	// GetRecords calls per second per shard).
	PollInterval time.Duration
	// ShardSyncInterval (shard_sync_interval) is how often ListShards looks
	// for new shards. Default 30s, minimum 1s.
	ShardSyncInterval time.Duration
	// Consumer (consumer) is how records are read: "polling" (default:
	// GetRecords, shared 2 MB/s per shard) or "efo" (enhanced fan-out:
	// SubscribeToShard over HTTP/2, a dedicated 2 MB/s per shard and
	// consumer).
	Consumer string
	// ConsumerName (consumer_name) is the registered stream consumer used
	// with "efo"; it is created when missing and never deregistered by the
	// host. Default: the app name.
	ConsumerName string
	// Deaggregate (deaggregate) unpacks KPL-aggregated records into their
	// user records and checkpoints at (sequence, sub-sequence). Default false.
	Deaggregate bool
	// OnExpiredCheckpoint (on_expired_checkpoint) is what happens when a
	// shard's checkpoint is no longer in the stream (older than retention,
	// or the stream was re-created): "trim_horizon" (default: logged as an
	// error, the shard restarts at the oldest record) or "fail" (the host
	// stops with ErrCheckpointExpired).
	OnExpiredCheckpoint string
	// DefRange is the block header. HandlerRange and CheckpointRange are the
	// handler = / checkpoint = attributes, or DefRange when absent.
	DefRange, HandlerRange, CheckpointRange hcl.Range
}

// PluginKind says which interface a plugin implements; it is also part of
// the default executable name, kinesis-<kind>-<plugin>.
type PluginKind string

// Plugin kinds.
const (
	KindHandler    PluginKind = "handler"
	KindCheckpoint PluginKind = "checkpoint"
)

// PluginBlock is one handler "label" {} or checkpoint "label" {} block.
type PluginBlock struct {
	// Kind is KindHandler or KindCheckpoint.
	Kind PluginKind
	// Name is the block label, the name streams refer to.
	Name string
	// Plugin (plugin) is the plugin name, [a-z0-9_-]+; it defaults to the
	// label.
	Plugin string
	// Path is the absolute path of the plugin executable: path = (relative
	// values resolve against Config.Dir) when set, otherwise
	// <PluginDir>/kinesis-<kind>-<plugin>. The loader does not check that the
	// file exists.
	Path string
	// SHA256 (sha256) is the optional expected SHA-256 of the executable, 64
	// hex characters (upper case is accepted and stored lower case).
	SHA256 string
	// CallTimeout (call_timeout) bounds every call to the plugin. Default 30s
	// for handlers, 10s for checkpoints; must be positive.
	CallTimeout time.Duration
	// Restart is the optional restart {} block.
	Restart RestartPolicy
	// Failure is the failure policy (handler blocks only).
	Failure FailurePolicy
	// Config is the plugin-owned config {} block's attributes as a JSON
	// object with sorted keys ("{}" when the block is absent). Strings,
	// numbers, bools, null, lists/tuples/sets (arrays) and maps/objects are
	// supported; numbers are encoded as int64 when whole, float64 otherwise.
	Config []byte
	// ConfigAttrs maps each config attribute name to the attribute's range,
	// to point plugin-reported errors at a line (see DiagForField).
	ConfigAttrs map[string]hcl.Range
	// DefRange is the block header. PluginRange is the path = attribute if
	// set, else plugin =, else DefRange. ConfigRange is the config block's
	// header, or DefRange when there is none. For the implicit checkpoint all
	// three are the header of the first stream that uses it.
	DefRange, PluginRange, ConfigRange hcl.Range
	// Implicit is true for the implicit DefaultCheckpointName checkpoint,
	// which has no block in the file.
	Implicit bool
}

// DiagForField returns an error diagnostic pointing at the config attribute
// named field, so that errors a plugin reports about its config (for example
// from its Configure call) show the right line. A nested field such as
// "tls.cert" or "servers[0]" points at its top-level attribute. When field
// names no attribute the diagnostic points at the config block, or at the
// plugin block when there is no config block.
func (p *PluginBlock) DiagForField(field, summary, detail string) *hcl.Diagnostic {
	rng := p.ConfigRange
	if rng == (hcl.Range{}) {
		rng = p.DefRange
	}
	if r, ok := p.ConfigAttrs[field]; ok {
		rng = r
	} else if i := strings.IndexAny(field, ".["); i > 0 {
		if r, ok := p.ConfigAttrs[field[:i]]; ok {
			rng = r
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  rng.Ptr(),
	}
}

// FailurePolicy says what happens to a record its handler keeps failing
// (handler blocks only).
type FailurePolicy struct {
	// OnFailure (on_failure) after MaxAttempts failed deliveries: "stop"
	// (default, harlow's behaviour: the scan stops, the host exits 1),
	// "skip" (logged and counted, the checkpoint moves past it) or
	// "dead_letter" (the whole record, its error and attempt count are
	// written to DeadLetter before the checkpoint moves past it).
	OnFailure string
	// MaxAttempts (max_attempts) is how many times a failing record is
	// delivered before OnFailure applies. Default 1.
	MaxAttempts int
	// RetryBackoff (retry_backoff) is the wait before the second attempt,
	// doubling after each further one (capped at 1 minute). Default 1s.
	RetryBackoff time.Duration
	// DeadLetter is the dead_letter {} block, required for "dead_letter".
	DeadLetter *DeadLetterConfig
}

// DeadLetterConfig is a handler's dead_letter {} block: exactly one target.
type DeadLetterConfig struct {
	// File (file) is a JSON-lines file on local disk, fsync'd per write;
	// relative to the config file's folder.
	File string
	// Stream (stream) is another Kinesis stream (same kinesis {} settings);
	// the record keeps its partition key and data, with the failure in an
	// envelope.
	Stream string
	Range  hcl.Range
}

// RestartPolicy is a plugin's optional restart {} block: how the supervisor
// restarts a plugin that crashed or hung.
type RestartPolicy struct {
	// MaxRestarts (max_restarts) is how many restarts are allowed within
	// Window before the budget is exhausted; 0 means never restart. Default 5.
	MaxRestarts int
	// Window (window) is the sliding window MaxRestarts counts over. Default
	// 10m; must be positive.
	Window time.Duration
	// Backoff (backoff) is the delay before the first restart; it doubles
	// (with jitter) up to MaxBackoff. Default 1s; must be positive.
	Backoff time.Duration
	// MaxBackoff (max_backoff) caps the delay. Default 1m; must be at least
	// Backoff.
	MaxBackoff time.Duration
	// OnExhausted (on_exhausted) is what happens when the budget is spent:
	// "exit" (default) or "continue".
	OnExhausted string
}

func cfgNewConfig(dir string) *Config {
	return &Config{
		Dir:             dir,
		PluginDir:       filepath.Join(dir, cfgDefaults.PluginDir),
		LogLevel:        cfgDefaults.LogLevel,
		ShutdownTimeout: cfgDefaults.ShutdownTimeout,
		Handlers:        map[string]*PluginBlock{},
		Checkpoints:     map[string]*PluginBlock{},
	}
}

func cfgNewStream(name string) *StreamConfig {
	return &StreamConfig{
		Name:                name,
		Checkpoint:          DefaultCheckpointName,
		StartPosition:       cfgDefaults.StartPosition,
		MaxRecords:          cfgDefaults.MaxRecords,
		BatchMaxRecords:     cfgDefaults.BatchMaxRecords,
		BatchMaxBytes:       cfgDefaults.BatchMaxBytes,
		PollInterval:        cfgDefaults.PollInterval,
		ShardSyncInterval:   cfgDefaults.ShardSyncInterval,
		OnExpiredCheckpoint: cfgDefaults.OnExpiredCheckpoint,
		Consumer:            ConsumerPolling,
	}
}

func cfgNewPluginBlock(kind PluginKind, name, pluginDir string) *PluginBlock {
	p := &PluginBlock{
		Kind:        kind,
		Name:        name,
		Plugin:      name,
		Restart:     cfgDefaults.Restart,
		Failure:     cfgDefaults.Failure,
		Config:      []byte("{}"),
		ConfigAttrs: map[string]hcl.Range{},
		CallTimeout: cfgDefaults.HandlerCallTimeout,
	}
	if kind == KindCheckpoint {
		p.CallTimeout = cfgDefaults.CheckpointCallTimeout
	}
	p.Path = cfgPluginPath(pluginDir, kind, p.Plugin)
	return p
}

// cfgNewImplicitCheckpoint returns the DefaultCheckpointName checkpoint used
// when the file declares none; rng is the first stream using it.
func cfgNewImplicitCheckpoint(cfg *Config, rng hcl.Range) *PluginBlock {
	p := cfgNewPluginBlock(KindCheckpoint, DefaultCheckpointName, cfg.PluginDir)
	p.Plugin = cfgDefaults.ImplicitCheckpointPlugin
	p.Path = cfgPluginPath(cfg.PluginDir, KindCheckpoint, p.Plugin)
	p.Config, _ = json.Marshal(map[string]string{
		"path": filepath.Join(cfg.Dir, cfgDefaults.ImplicitCheckpointPath),
	})
	p.DefRange, p.PluginRange, p.ConfigRange = rng, rng, rng
	p.Implicit = true
	return p
}

func cfgPluginPath(pluginDir string, kind PluginKind, plugin string) string {
	return filepath.Join(pluginDir, "kinesis-"+string(kind)+"-"+plugin)
}

// LoadConfig reads, decodes and validates the HCL file at path. It returns
// every problem at once as diagnostics with file:line (diagnostics use path
// as given). cfg is nil when diags has errors; warnings (such as a plugin
// block no stream uses) come with a non-nil cfg. files is the parsed source,
// for WriteDiagnostics; it is never nil (empty when the file can't be read).
func LoadConfig(path string) (cfg *Config, files map[string]*hcl.File, diags hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, map[string]*hcl.File{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read config file",
			Detail:   fmt.Sprintf("%v. Check the path given to kinesis-host.", err),
		}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, map[string]*hcl.File{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot resolve config file path",
			Detail:   err.Error(),
		}}
	}
	cfg, files, diags = ParseConfig(src, path, filepath.Dir(abs))
	if cfg != nil {
		cfg.Path = abs
	}
	return cfg, files, diags
}

// ParseConfig is LoadConfig for in-memory source: filename is used in
// diagnostics and as the key in files, dir is the directory relative paths
// resolve against ("" means the working directory). Config.Path is "".
func ParseConfig(src []byte, filename, dir string) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	cfg, files, diags := parseConfigPartial(src, filename, dir)
	if diags.HasErrors() {
		return nil, files, diags
	}
	return cfg, files, diags
}

// parseConfigPartial is ParseConfig that also returns what could be decoded
// when there are errors (nil only when the file does not parse), so that
// `validate` can check plugin binaries too and report every problem at once.
func parseConfigPartial(src []byte, filename, dir string) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	file, diags := parser.ParseHCL(src, filename)
	files := parser.Files()
	if files == nil {
		files = map[string]*hcl.File{}
	}
	if diags.HasErrors() || file == nil || file.Body == nil {
		return nil, files, diags
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, files, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot resolve config directory",
			Detail:   err.Error(),
		})
	}

	l := &configLoader{ctx: cfgNewEvalContext(), dir: absDir}
	cfg := l.load(file.Body)
	diags = append(diags, l.diags...)
	for _, d := range diags {
		// cty turns a panic inside a function (e.g. "(1/0) % 2") into an
		// error whose text includes a goroutine dump; keep only the message.
		if i := strings.Index(d.Detail, "\ngoroutine "); i >= 0 && strings.Contains(d.Detail, "panic in function implementation") {
			d.Detail = strings.TrimSpace(d.Detail[:i]) + "."
		}
	}
	cfgSortDiagnostics(diags)
	return cfg, files, diags
}

// WriteDiagnostics prints diags with source snippets, wrapped at 100
// columns. It uses color when w is a terminal and NO_COLOR is unset.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	color := false
	if f, ok := w.(*os.File); ok && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			color = true
		}
	}
	return hcl.NewDiagnosticTextWriter(w, files, 100, color).WriteDiagnostics(diags)
}

// cfgSortDiagnostics orders diags by position (file, then offset); diagnostics
// without a position come first. The sort is stable.
func cfgSortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
}

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

// Host schema. Bodies are decoded with hcl.Body.Content against these
// schemas, which gives HCL's own diagnostics for unknown arguments and blocks
// ("Unsupported argument", with a did-you-mean suggestion) and for wrong
// label counts. Attribute values are evaluated by configLoader so that each
// gets exactly one diagnostic naming the attribute. (gohcl is not used: its
// package imports hclwrite, whose go-cmp dependency is not in go.sum.)
var (
	cfgFileSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "app"}, {Name: "plugin_dir"}, {Name: "log_level"}, {Name: "shutdown_timeout"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "kinesis"},
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
		Blocks: []hcl.BlockHeaderSchema{{Type: "restart"}, {Type: "config"}},
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
	if d, st := l.duration(c.attrs["shutdown_timeout"], 0, ""); st == cfgSet {
		cfg.ShutdownTimeout = d
	}
	if kb := l.single(c, "kinesis"); kb != nil {
		l.kinesis(&cfg.Kinesis, kb)
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

func (l *configLoader) kinesis(k *KinesisConfig, b *hcl.Block) {
	c := l.content(b.Body, cfgKinesisSchema)
	k.Range = b.DefRange
	if v, st := l.str(c.attrs["region"]); st == cfgSet {
		k.Region = v
	}
	if v, st := l.str(c.attrs["endpoint"]); st == cfgSet && v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.errorf(c.attrs["endpoint"].Range, "Invalid endpoint",
				"endpoint must be an http:// or https:// URL with a host, such as \"http://127.0.0.1:4567\"; got %q. Remove it to use the AWS default endpoint.", v)
		} else {
			k.Endpoint = v
		}
	}
	keyAttr, secretAttr, tokenAttr := c.attrs["access_key_id"], c.attrs["secret_access_key"], c.attrs["session_token"]
	key, keySt := l.str(keyAttr)
	secret, secretSt := l.str(secretAttr)
	token, tokenSt := l.str(tokenAttr)
	if keySt == cfgInvalid || secretSt == cfgInvalid || tokenSt == cfgInvalid {
		return
	}
	switch {
	case key != "" && secret == "":
		l.errorf(keyAttr.Range, "Missing secret_access_key",
			"access_key_id is set but secret_access_key is not; static credentials need both. Set secret_access_key, or remove access_key_id to use the default AWS credential chain.")
	case key == "" && secret != "":
		l.errorf(secretAttr.Range, "Missing access_key_id",
			"secret_access_key is set but access_key_id is not; static credentials need both. Set access_key_id, or remove secret_access_key to use the default AWS credential chain.")
	case token != "" && key == "":
		l.errorf(tokenAttr.Range, "Missing access keys",
			"session_token is only used with static credentials; set access_key_id and secret_access_key too, or remove session_token.")
	default:
		k.AccessKeyID, k.SecretAccessKey, k.SessionToken = key, secret, token
	}
}

func (l *configLoader) stream(b *hcl.Block) *StreamConfig {
	c := l.content(b.Body, cfgStreamSchema)
	s := cfgNewStream(b.Labels[0])
	s.DefRange, s.HandlerRange, s.CheckpointRange = b.DefRange, b.DefRange, b.DefRange

	if !cfgStreamNameRE.MatchString(s.Name) {
		rng := b.DefRange
		if len(b.LabelRanges) > 0 {
			rng = b.LabelRanges[0]
		}
		l.errorf(rng, "Invalid stream name",
			"The stream label is the Kinesis stream name: 1 to 128 letters, digits, \"_\", \".\" or \"-\"; got %q.", s.Name)
	}
	switch h, st := l.str(c.attrs["handler"]); st {
	case cfgUnset:
		l.errorf(b.DefRange, "Missing handler",
			"Stream %q needs handler = \"<label>\", naming the handler block that processes its records.", s.Name)
	case cfgSet:
		s.Handler, s.HandlerRange = h, c.attrs["handler"].Range
		if h == "" {
			l.errorf(s.HandlerRange, "Missing handler",
				"Stream %q has an empty handler; set it to the label of the handler block that processes its records.", s.Name)
		}
	}
	if cp, st := l.str(c.attrs["checkpoint"]); st == cfgSet {
		s.CheckpointRange = c.attrs["checkpoint"].Range
		if cp != "" {
			s.Checkpoint = cp
		}
	}

	posAttr, tsAttr := c.attrs["start_position"], c.attrs["start_timestamp"]
	pos, posSt := l.enum(posAttr, cfgStartPositions)
	if posSt == cfgSet {
		s.StartPosition = pos
	}
	switch {
	case posSt != cfgInvalid && s.StartPosition != StartAtTimestamp:
		// start_timestamp must be absent; report that rather than its format.
		if _, st := l.str(tsAttr); st == cfgSet {
			l.errorf(tsAttr.Range, "Unexpected start_timestamp",
				"start_timestamp is only used with start_position = %q (start_position is %q); remove start_timestamp or set start_position = %q.",
				StartAtTimestamp, s.StartPosition, StartAtTimestamp)
		}
	default:
		ts, tsSt := l.timestamp(tsAttr)
		switch {
		case tsSt == cfgSet:
			s.StartTimestamp = ts
		case tsSt == cfgUnset && posSt == cfgSet:
			l.errorf(posAttr.Range, "Missing start_timestamp",
				"start_position = %q needs start_timestamp, an RFC 3339 time such as \"2024-05-01T12:00:00Z\".", StartAtTimestamp)
		}
	}

	if n, st := l.integer(c.attrs["max_records"], 1, cfgMaxRecordsMax); st == cfgSet {
		s.MaxRecords = int32(n)
	}
	if n, st := l.integer(c.attrs["batch_max_records"], 1, cfgBatchMaxRecordsMax); st == cfgSet {
		s.BatchMaxRecords = int(n)
	}
	if n, st := l.size(c.attrs["batch_max_bytes"], cfgBatchMaxBytesMin, cfgBatchMaxBytesMax); st == cfgSet {
		s.BatchMaxBytes = n
	}
	if d, st := l.duration(c.attrs["poll_interval"], cfgPollIntervalMin,
		" (Kinesis allows 5 GetRecords calls per second per shard)"); st == cfgSet {
		s.PollInterval = d
	}
	if d, st := l.duration(c.attrs["shard_sync_interval"], cfgShardSyncMin, ""); st == cfgSet {
		s.ShardSyncInterval = d
	}
	if v, st := l.enum(c.attrs["consumer"], cfgConsumers); st == cfgSet {
		s.Consumer = v
	}
	if v, st := l.str(c.attrs["consumer_name"]); st == cfgSet {
		if !cfgConsumerNameRE.MatchString(v) {
			l.errorf(c.attrs["consumer_name"].Range, "Invalid consumer_name",
				"consumer_name must be 1 to 128 letters, digits, \"_\", \".\" or \"-\"; got %q.", v)
		} else {
			s.ConsumerName = v
		}
	}
	if v, st := l.boolean(c.attrs["deaggregate"]); st == cfgSet {
		s.Deaggregate = v
	}
	if v, st := l.enum(c.attrs["on_expired_checkpoint"], cfgOnExpiredCheckpoint); st == cfgSet {
		s.OnExpiredCheckpoint = v
	}
	return s
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
