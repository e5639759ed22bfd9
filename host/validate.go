package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// ValidateFile is `kinesis-host validate`: it loads the file at path and
// reports every problem at once — configuration errors, plugin binaries that
// are missing, not executable or fail their sha256 — and, when the file
// itself is valid, starts every plugin to check its config (Validate).
// cfg is nil when there are errors.
func ValidateFile(ctx context.Context, path string, log hclog.Logger) (cfg *Config, files map[string]*hcl.File, diags hcl.Diagnostics, reports []PluginReport) {
	src, err := os.ReadFile(path)
	if err != nil {
		_, files, diags = LoadConfig(path)
		return nil, files, diags, nil
	}
	abs, _ := filepath.Abs(path)
	cfg, files, diags = parseConfigPartial(src, path, filepath.Dir(abs))
	if cfg == nil {
		return nil, files, diags, nil
	}
	cfg.Path = abs
	if diags.HasErrors() {
		for _, b := range sortedBlocks(cfg) {
			if b.Path == "" {
				continue
			}
			if err := checkBinary(b); err != nil {
				diags = append(diags, pluginDiag(b, err))
			}
		}
		cfgSortDiagnostics(diags)
		return nil, files, diags, nil
	}
	pd, reports := Validate(ctx, cfg, log)
	return cfg, files, append(diags, pd...), reports
}

// PluginReport describes one plugin binary as `kinesis-host plugins` and
// `validate` see it.
type PluginReport struct {
	Kind       PluginKind
	Name       string // block label
	Path       string
	SHA256     string
	Protocol   int    // negotiated protocol version, 0 when it did not start
	SDKVersion string // the sdk the plugin was built with
	Err        error
	// Leases: for a checkpoint store shared by several hosts, the stored
	// rows of each stream that uses it, read-only (validate lists them).
	Leases []StreamLeases
}

// StreamLeases is one stream's rows in a shared checkpoint store: each
// shard's checkpoint, lease owner and counter, and the hosts' worker rows.
type StreamLeases struct {
	Stream string
	Rows   []shared.LeaseRow // sorted by shard id
	Err    error             // the listing failed
}

// Validate runs every check short of consuming: each handler and
// checkpoint block's binary is resolved, verified (sha256), started, and
// sent its config {} with ValidateOnly set. Problems come back as
// diagnostics pointing at the block or the config attribute at fault.
func Validate(ctx context.Context, cfg *Config, log hclog.Logger) (hcl.Diagnostics, []PluginReport) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var diags hcl.Diagnostics
	var reports []PluginReport
	for _, b := range sortedBlocks(cfg) {
		rep := PluginReport{Kind: b.Kind, Name: b.Name, Path: b.Path}
		rep.SHA256, _ = fileSHA256(b.Path)
		p := newPluginProc(b, cfg.App, cfg.Dir, log)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		inst, im, err := p.launch(cctx, b, nil, true)
		cancel()
		p.cancel()
		if err == nil {
			rep.SHA256 = im.sum
			rep.Protocol = inst.client.NegotiatedVersion()
			rep.SDKVersion = inst.info.SDKVersion
			if cl, ok := inst.raw.(*shared.CheckpointClient); ok && inst.info.Leases {
				rep.Leases = listLeases(ctx, cl, cfg, b)
			}
			stopClient(inst, 3*time.Second)
			im.close()
		}
		rep.Err = err
		reports = append(reports, rep)
		if err != nil {
			diags = append(diags, pluginDiag(b, err))
		}
	}
	return diags, reports
}

func pluginDiag(b *PluginBlock, err error) *hcl.Diagnostic {
	var ce *PluginConfigError
	if errors.As(err, &ce) {
		if errors.Is(ce.Err, sdk.ErrUnavailable) {
			// At the attribute the store names (its address), else the block.
			d := b.DiagForField(ce.Field(), fmt.Sprintf("%s plugin's backend is unreachable", b.Kind),
				ce.Error()+"\nStart the backend or fix its address in the config {} block; `run` waits for it, `validate` reports it.")
			if ce.Field() == "" {
				d.Subject = b.DefRange.Ptr()
			}
			return d
		}
		return b.DiagForField(ce.Field(), fmt.Sprintf("Invalid %s plugin config", b.Kind), ce.Err.Error())
	}
	rng := b.PluginRange
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Unusable %s plugin", b.Kind),
		Detail:   err.Error(),
		Subject:  &rng,
	}
}

// sortedBlocks lists the handler and checkpoint blocks streams use.
func sortedBlocks(cfg *Config) []*PluginBlock {
	seen := map[*PluginBlock]bool{}
	var out []*PluginBlock
	add := func(b *PluginBlock) {
		if b != nil && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	for _, s := range cfg.Streams {
		add(cfg.Checkpoints[s.Checkpoint])
		add(cfg.Handlers[s.Handler])
	}
	var rest []*PluginBlock
	for _, b := range cfg.Handlers {
		if !seen[b] {
			rest = append(rest, b)
		}
	}
	for _, b := range cfg.Checkpoints {
		if !seen[b] && !b.Implicit {
			rest = append(rest, b)
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		return rest[i].Kind+PluginKind(rest[i].Name) < rest[j].Kind+PluginKind(rest[j].Name)
	})
	for _, b := range rest {
		add(b)
	}
	return out
}

// listLeases reads the rows of every stream stored in checkpoint block b.
func listLeases(ctx context.Context, cl *shared.CheckpointClient, cfg *Config, b *PluginBlock) []StreamLeases {
	var out []StreamLeases
	for _, st := range cfg.Streams {
		if cfg.Checkpoints[st.Checkpoint] != b {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, b.CallTimeout)
		rows, err := cl.ListLeases(cctx, cfg.App, st.Name)
		cancel()
		sort.Slice(rows, func(i, j int) bool { return rows[i].ShardID < rows[j].ShardID })
		out = append(out, StreamLeases{Stream: st.Name, Rows: rows, Err: err})
	}
	return out
}
