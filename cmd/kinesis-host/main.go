// Command kinesis-host runs Kinesis consumers whose record handlers and
// checkpoint stores are plugins, configured by an HCL file.
//
//	kinesis-host run      [-config config.hcl]   consume until SIGINT/SIGTERM
//	kinesis-host validate [-config config.hcl]   check the file and every plugin, exit 0 or 1
//	kinesis-host plugins  [-config config.hcl]   list the plugins the file resolves to
//	kinesis-host replay   [-config config.hcl] -from dead-letter.jsonl   send dead letters through their handler again
//	kinesis-host status   [-config config.hcl] [-json]          the running host's streams and shards
//	kinesis-host pause    [-config config.hcl] -stream S [-shard ID]
//	kinesis-host resume   [-config config.hcl] -stream S [-shard ID]
//	kinesis-host rewind   [-config config.hcl] -stream S [-shard ID] -to T [-apply]
//	kinesis-host version
//
// status, pause, resume and rewind (control.go) talk to the running host
// through its control socket (package host/control).
//
// This file is wiring only: flags, signals and exit codes. Everything else
// lives in package host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `kinesis-host consumes Amazon Kinesis streams with plugin handlers.

Usage:
  kinesis-host run      [-config config.hcl]   consume until SIGINT/SIGTERM (a second signal stops at once)
  kinesis-host validate [-config config.hcl]   check config.hcl and every plugin; exit 0 or 1
  kinesis-host plugins  [-config config.hcl]   list the plugins config.hcl resolves to
  kinesis-host replay   [-config config.hcl] -from dead-letter.jsonl
                                               send dead-lettered records through their handler again
  kinesis-host status   [-config config.hcl] [-json]
                                               the running host: streams, shards (state, checkpoint, lag), plugins
  kinesis-host pause    [-config config.hcl] -stream S [-shard ID]
  kinesis-host resume   [-config config.hcl] -stream S [-shard ID]
                                               stop / restart fetching and delivering; positions are kept
  kinesis-host rewind   [-config config.hcl] -stream S [-shard ID] -to <RFC 3339 time|TRIM_HORIZON|LATEST|sequence> [-apply]
                                               move checkpoints (a dry run unless -apply)
  kinesis-host version
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "kinesis-host %s (sdk %s, plugin protocol %d)\n", version, sdk.Version, shared.ProtocolVersion)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "status", "pause", "resume", "rewind":
		return runControl(cmd, rest, stdout, stderr)
	case "run", "validate", "plugins", "replay":
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.hcl", "path of the HCL configuration file")
	from := fs.String("from", "", "replay: the dead-letter file (JSON lines) to replay")
	progress := fs.Duration("progress", 30*time.Second, "run: how often to log one progress line (records/s, lag per stream); 0 turns it off")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if cmd == "replay" && *from == "" {
		fmt.Fprintln(stderr, "replay needs -from <dead-letter file>: the file named in a handler's dead_letter { file = ... } block")
		return 2
	}
	if cmd == "validate" || cmd == "plugins" {
		return validate(cmd, *path, stdout, stderr)
	}
	cfg, files, diags := host.LoadConfig(*path)
	if len(diags) > 0 {
		_ = host.WriteDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "%s has errors; nothing was started.\n", *path)
		return 1
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if cmd == "replay" {
		return replay(cfg, *from, log, stdout)
	}
	if *progress <= 0 {
		*progress = -1
	}
	return runHost(*path, cfg, files, log, stderr, *progress)
}

// replay runs `replay`. SIGINT or SIGTERM stop it between batches (also
// during a backoff) and what was done so far is reported; exit 1 unless
// every dead letter was handled.
func replay(cfg *host.Config, from string, log hclog.Logger, stdout io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := host.Replay(ctx, cfg, from, log.Named("replay"))
	for _, f := range rep.Failures {
		fmt.Fprintln(stdout, "FAILED", f)
	}
	if rep.CutShortLine > 0 {
		fmt.Fprintf(stdout, "line %d of %s was cut short (the host stopped while writing it) and was not replayed; its record was delivered again by the host\n", rep.CutShortLine, from)
	}
	if err != nil {
		log.Error("replay failed", "error", err)
		if rep.Total > 0 {
			fmt.Fprintf(stdout, "replay stopped after %d of %d dead letter(s): %d handled, %d failed\n", rep.Handled+rep.Failed, rep.Total, rep.Handled, rep.Failed)
		}
		return 1
	}
	fmt.Fprintf(stdout, "replayed %d dead letter(s): %d handled, %d failed\n", rep.Total, rep.Handled, rep.Failed)
	if rep.Failed > 0 {
		return 1
	}
	return 0
}

// validate runs `validate` and `plugins`: every problem at once, exit 0 or 1.
func validate(cmd, path string, stdout, stderr io.Writer) int {
	log := newLogger("warn", host.LogFormatText, stderr)
	cfg, files, diags, reports := host.ValidateFile(context.Background(), path, log.Named("validate"))
	if cmd == "plugins" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tPROTOCOL\tSDK\tSHA256\tPATH\tSTATUS")
		for _, r := range reports {
			status := "ok"
			if r.Err != nil {
				status = "error"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Protocol, r.SDKVersion, r.SHA256, r.Path, status)
		}
		tw.Flush()
	}
	if len(diags) > 0 {
		_ = host.WriteDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "%s is not valid.\n", path)
		return 1
	}
	if cmd == "validate" {
		fmt.Fprintf(stdout, "%s is valid: %d stream(s), every plugin started and accepted its config.\n", path, len(cfg.Streams))
		printLeases(stdout, reports)
	}
	return 0
}

// printLeases shows, read-only, the leases of every stream kept in a
// shared checkpoint store.
func printLeases(w io.Writer, reports []host.PluginReport) {
	for _, r := range reports {
		for _, sl := range r.Leases {
			fmt.Fprintf(w, "\nleases of stream %q in checkpoint %q (shared by several hosts):\n", sl.Stream, r.Name)
			if sl.Err != nil {
				fmt.Fprintf(w, "  cannot list them: %v\n", sl.Err)
				continue
			}
			if len(sl.Rows) == 0 {
				fmt.Fprintln(w, "  none yet (no host has run this stream against this store)")
				continue
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  SHARD\tOWNER\tCOUNTER\tCHECKPOINT")
			for _, row := range sl.Rows {
				owner, pos := row.Checkpoint.Owner, row.Checkpoint.SequenceNumber
				if owner == "" {
					owner = "-"
				}
				switch {
				case row.Checkpoint.ShardEnd:
					pos = "SHARD_END"
				case pos == "":
					pos = "-"
				case row.Checkpoint.SubSequenceNumber > 0:
					pos += fmt.Sprintf("/%d", row.Checkpoint.SubSequenceNumber)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", row.ShardID, owner, row.Checkpoint.LeaseCounter, pos)
			}
			tw.Flush()
		}
	}
}

func runHost(path string, cfg *host.Config, files map[string]*hcl.File, log hclog.Logger, stderr io.Writer, progress time.Duration) int {
	setMemoryLimit(cfg)
	h, err := host.New(cfg, host.Options{Logger: log, StatsInterval: progress})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	go func() {
		for n := 0; ; {
			select {
			case s := <-sigs:
				if n == 0 {
					log.Info("signal received: draining (send it again to stop at once)", "signal", s.String())
					h.Drain()
				} else {
					log.Warn("second signal: stopping without waiting for in-flight batches", "signal", s.String())
					h.Stop()
				}
				n++
			case <-hups:
				// In the background, so a long reload (draining a stream)
				// never delays a SIGTERM; the host applies reloads in order.
				go reload(h, path, log, stderr)
			case <-h.Closed():
				return
			}
		}
	}()
	err = h.Run(context.Background())
	if err == nil {
		return 0
	}
	var ce *host.PluginConfigError
	if errors.As(err, &ce) {
		_ = host.WriteDiagnostics(stderr, files, hcl.Diagnostics{ce.Block.DiagForField(ce.Field(), "Invalid plugin config", ce.Err.Error())})
	}
	log.Error("kinesis-host stopped with an error", "error", err)
	return 1
}

// reload is SIGHUP: re-read the config file; a valid one takes effect for
// the blocks that changed (and replaced plugin binaries are swapped), an
// invalid one is refused with its diagnostics and the running config
// carries on.
func reload(h *host.Host, path string, log hclog.Logger, stderr io.Writer) {
	log.Info("SIGHUP: reloading", "config", path)
	cfg, files, diags := host.LoadConfig(path)
	if len(diags) > 0 {
		_ = host.WriteDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		log.Error("reload refused: the config has errors; the running configuration carries on", "config", path)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setMemoryLimit(cfg)
	if err := h.Reload(ctx, cfg); err != nil {
		log.Error("reload", "error", err)
	}
	h.SwapChangedBinaries()
}
