package host

import "errors"

// Errors returned by Host.Run and by plugin discovery. Test with errors.Is.
var (
	// ErrHandlerFailed: a handler returned ScanStatus.Error (or a batch
	// Error). The scan stopped without checkpointing the failing record; the
	// wrapped error carries the handler's text.
	ErrHandlerFailed = errors.New("handler failed a record")

	// ErrRestartBudgetExhausted: a plugin crashed or hung more often than
	// its restart {} block allows (max_restarts within window).
	ErrRestartBudgetExhausted = errors.New("plugin restart budget exhausted")

	// ErrPluginNotFound: no executable at the path a handler or checkpoint
	// block resolves to.
	ErrPluginNotFound = errors.New("plugin binary not found")

	// ErrPluginNotExecutable: the plugin file exists but cannot be run.
	ErrPluginNotExecutable = errors.New("plugin binary is not executable")

	// ErrChecksumMismatch: the plugin binary's sha256 differs from the
	// sha256 attribute in config.hcl; it was not run.
	ErrChecksumMismatch = errors.New("plugin binary sha256 does not match")

	// ErrPluginStart: the plugin could not be started or failed the
	// handshake (wrong kind, wrong protocol, not a kinesis-host plugin).
	ErrPluginStart = errors.New("plugin failed to start")

	// ErrPluginConfig: the plugin rejected its config {} block.
	ErrPluginConfig = errors.New("plugin rejected its config")

	// ErrCorruptRecord: a record carrying the KPL magic could not be
	// de-aggregated, and the handler's on_failure is "stop".
	ErrCorruptRecord = errors.New("corrupt KPL aggregate")

	// ErrCheckpointExpired: a checkpoint is older than the stream's
	// retention and the stream's on_expired_checkpoint is "fail".
	ErrCheckpointExpired = errors.New("checkpoint is no longer in the stream")

	// ErrCheckpointConflict: the checkpoint store rejected a write because
	// another owner holds the shard's lease (CodeConflict). The position was
	// not stored; the wrapped error names the shard(s) and the store's
	// reason.
	ErrCheckpointConflict = errors.New("checkpoint write rejected by the store (conflict)")
	// ErrLeaseLost: this host no longer holds the shard's lease (another
	// host took it, or it could not be renewed in time): the shard stops
	// before its next batch and its checkpoint writes are refused.
	ErrLeaseLost = errors.New("shard lease lost")
	// ErrWorkerIDInUse: another live process runs with this host's
	// explicit lease worker_id.
	ErrWorkerIDInUse = errors.New("lease worker_id in use by another live process")

	// ErrKinesis: a Kinesis call failed in a way retrying cannot fix
	// (access denied, invalid argument, KMS key disabled).
	ErrKinesis = errors.New("kinesis call failed permanently")
)
