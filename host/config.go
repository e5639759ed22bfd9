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
//
// This file holds the types, their defaults and the entry points; the loader
// core is in config_load.go, plugin blocks in config_plugin.go, kinesis and
// stream blocks in config_stream.go, the telemetry block in
// config_telemetry.go, and attribute evaluation in config_values.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
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
	LogFormat       string // log_format
	ShutdownTimeout time.Duration
	// MaxBufferedBytes (max_buffered_bytes): memory for fetched records not
	// yet acknowledged, across all shards.
	MaxBufferedBytes int64

	TelemetryListen string // listen in the telemetry {} block

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

	// The lease {} block of checkpoint blocks (see cfgDefaultLease: the
	// defaults of renew_interval and poll_interval depend on duration).
	LeaseDuration      time.Duration // duration
	LeaseRenewDivisor  time.Duration // renew_interval = duration / LeaseRenewDivisor
	LeasePollInterval  time.Duration // poll_interval, ...
	LeasePollDivisor   time.Duration // ... or duration / LeasePollDivisor when that is shorter
	LeaseSingleHostFor []string      // checkpoint plugins that never share a store: lease {} has no effect
}{
	PluginDir:        filepath.Join("bin", "plugins"),
	LogLevel:         "info",
	LogFormat:        LogFormatText,
	ShutdownTimeout:  30 * time.Second,
	MaxBufferedBytes: 256 << 20,

	TelemetryListen: "127.0.0.1:9108",

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

	LeaseDuration:      10 * time.Second,
	LeaseRenewDivisor:  3,
	LeasePollInterval:  500 * time.Millisecond,
	LeasePollDivisor:   20,
	LeaseSingleHostFor: []string{"file", "memory"},
}

// Limits enforced on numeric settings.
const (
	cfgMaxRecordsMax      = 10000    // Kinesis GetRecords Limit maximum
	cfgBatchMaxRecordsMax = 10000    // a batch never exceeds one GetRecords response
	cfgBatchMaxBytesMin   = 64 << 10 // 64 KiB
	cfgBatchMaxBytesMax   = 64 << 20 // 64 MiB
	cfgPollIntervalMin    = 200 * time.Millisecond
	cfgShardSyncMin       = time.Second
	// cfgLeaseDurationMin is low so that tests can scale time down;
	// production should keep lease durations in seconds.
	cfgLeaseDurationMin = 200 * time.Millisecond
	cfgWorkerIDMaxLen   = 128
	// max_buffered_bytes: one GetRecords page holds up to 10 MB of data, so
	// a budget below that would hold a single page at best.
	cfgMaxBufferedBytesMin = 10 << 20
	cfgMaxBufferedBytesMax = 1 << 40
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

// Values of Config.LogFormat.
const (
	LogFormatText = "text" // hclog's human-readable lines (the default)
	LogFormatJSON = "json" // one JSON object per line, for log shippers
)

// Values of RestartPolicy.OnExhausted.
const (
	OnExhaustedExit     = "exit"     // stop the host (non-zero exit) when the restart budget is spent
	OnExhaustedContinue = "continue" // mark the plugin failed, stop its shards, keep the rest running
)

var (
	cfgLogLevels           = []string{"trace", "debug", "info", "warn", "error"}
	cfgLogFormats          = []string{LogFormatText, LogFormatJSON}
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

// cfgWorkerIDChars are the characters allowed in worker_id besides ASCII
// letters and digits; "#" is not one of them (the host separates the worker
// id from its per-process incarnation with it).
const cfgWorkerIDChars = "._:@/-"

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
	// LogFormat (log_format) is how the host writes its log, and with it
	// the lines its plugins log (they are forwarded through the host's
	// logger): "text" (default, hclog's human-readable lines) or "json" (one
	// JSON object per line, keys sorted, for log shippers). It is read when
	// the logger is created, at start; a reload does not change it.
	LogFormat string
	// ShutdownTimeout (shutdown_timeout, a duration string) is how long
	// in-flight batches may take to finish on SIGTERM. Default 30s; must be
	// positive.
	ShutdownTimeout time.Duration
	// MaxBufferedBytes (max_buffered_bytes, a number of bytes or a size
	// string such as "512MiB") bounds the memory held in records fetched
	// from Kinesis and not yet acknowledged by a handler, summed over every
	// shard of every stream: GetRecords response bodies while they are
	// decoded, decoded pages, and enhanced fan-out events. A shard reader
	// waits for room before its next GetRecords call (readers queue in
	// order, so none starves) and asks for fewer records when room is
	// short; a page is given back when every record of it is acknowledged.
	// One page bigger than its estimate may pass the budget for a while;
	// a page bigger than the whole budget is read alone. Default 256MiB;
	// at least 10MiB (one GetRecords page can hold 10 MB). A reload
	// applies a new value at once.
	MaxBufferedBytes int64
	// Kinesis holds the optional kinesis {} block.
	Kinesis KinesisConfig
	// Telemetry holds the optional telemetry {} block: the HTTP endpoint
	// serving Prometheus metrics, health checks, expvar counters and,
	// when asked for, pprof. Off (Enabled false) when the block is absent.
	Telemetry TelemetryConfig
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

// TelemetryConfig is the optional telemetry {} block:
//
//	telemetry {
//	  listen = "127.0.0.1:9108"  # host:port; the default
//	  pprof  = false             # serve /debug/pprof/ too
//	}
//
// The endpoint serves /metrics (Prometheus), /livez, /readyz, /debug/vars
// (expvar) and, with pprof = true, /debug/pprof/ (package host/telemetry).
type TelemetryConfig struct {
	// Enabled is true when the file has a telemetry block (even an empty
	// one); without it no port is opened and nothing below is used.
	Enabled bool
	// Listen (listen) is the TCP address to serve on, host:port with a
	// numeric port: an IP address, "localhost" or another host name, or
	// an empty host for every interface (":9108"). Default
	// "127.0.0.1:9108", reachable from this machine only. Any other than a
	// loopback address must be written out, and gets a warning: the
	// endpoint has no authentication. Port 0 picks a free port (tests).
	Listen string
	// PPROF (pprof) serves Go's profiler at /debug/pprof/ when true.
	// Default false: profiles reveal the command line and memory contents,
	// and a CPU profile costs throughput while it runs.
	PPROF bool
	// Range is the telemetry block's header, zero when the block is absent.
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
	// Lease is the lease {} block (checkpoint blocks only): how hosts
	// sharing this store coordinate shard leases. Used only when the
	// store supports leases (redis, postgres, dynamodb); defaults when
	// the block is absent.
	Lease LeaseConfig
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

// LeaseConfig tunes multi-host shard leases (a checkpoint block's lease {}).
type LeaseConfig struct {
	// Duration (duration): a lease whose counter another host has watched
	// stay unchanged this long is expired and may be taken. Default 10s;
	// at least 200ms (a floor low enough for tests that scale time down;
	// production should keep seconds).
	Duration time.Duration
	// RenewInterval (renew_interval): how often a host renews the leases it
	// holds (a checkpoint write renews too). Default Duration/3; must be
	// at most Duration/2.
	RenewInterval time.Duration
	// PollInterval (poll_interval): how often a host lists the store's
	// leases to take unowned or expired ones and to balance. Default 500ms,
	// or Duration/20 when that is shorter (so time scaled down in tests
	// keeps production's proportions); at most Duration/2.
	PollInterval time.Duration
	// WorkerID (worker_id): this host's stable identity, 1-128 characters
	// of letters, digits and "._:@/-". Empty (absent, or "" as from
	// env("WORKER_ID", "")): a default unique per process (the host builds
	// it from the host name and a per-process suffix). Set it explicitly to
	// let a restarted host take its own leases back at once; two live
	// processes with the same id are refused.
	WorkerID string
	// MaxShards (max_shards): the most shards this host holds; 0 = no cap.
	MaxShards int
	// Range is the lease block's header (or the checkpoint block's when
	// there is none), for diagnostics.
	Range hcl.Range
}

func cfgNewConfig(dir string) *Config {
	return &Config{
		Dir:              dir,
		PluginDir:        filepath.Join(dir, cfgDefaults.PluginDir),
		LogLevel:         cfgDefaults.LogLevel,
		LogFormat:        cfgDefaults.LogFormat,
		ShutdownTimeout:  cfgDefaults.ShutdownTimeout,
		MaxBufferedBytes: cfgDefaults.MaxBufferedBytes,
		Handlers:         map[string]*PluginBlock{},
		Checkpoints:      map[string]*PluginBlock{},
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
		p.Lease = cfgDefaultLease(cfgDefaults.LeaseDuration)
	}
	p.Path = cfgPluginPath(pluginDir, kind, p.Plugin)
	return p
}

// cfgDefaultLease returns the default lease settings for a lease duration:
// renew_interval and poll_interval default to fractions of the duration
// the file sets (or the default duration).
func cfgDefaultLease(d time.Duration) LeaseConfig {
	return LeaseConfig{
		Duration:      d,
		RenewInterval: d / cfgDefaults.LeaseRenewDivisor,
		PollInterval:  min(cfgDefaults.LeasePollInterval, d/cfgDefaults.LeasePollDivisor),
	}
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
	p.DefRange, p.PluginRange, p.ConfigRange, p.Lease.Range = rng, rng, rng, rng
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
