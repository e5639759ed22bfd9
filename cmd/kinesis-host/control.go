package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kinesis-host/kinesis-host/host"
	"github.com/kinesis-host/kinesis-host/host/control"
)

// Exit codes of the control commands (status, pause, resume, rewind).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// How long each control command waits for the host's answer.
var controlTimeouts = map[string]time.Duration{
	"status": 15 * time.Second,
	"pause":  30 * time.Second,
	"resume": 30 * time.Second,
	"rewind": 2 * time.Minute,
}

const controlUsage = `Usage:
  kinesis-host status [-config config.hcl] [-json]
  kinesis-host pause  [-config config.hcl] -stream S [-shard ID]
  kinesis-host resume [-config config.hcl] -stream S [-shard ID]
  kinesis-host rewind [-config config.hcl] -stream S [-shard ID] -to <time|TRIM_HORIZON|LATEST|sequence> [-apply]

They talk to the host started with "kinesis-host run" on the same config file,
through its control socket <config folder>/data/kinesis-host.sock. With no
host running on that file, rewind reads Kinesis and writes the checkpoint
store itself.
Exit codes: 0 done, 1 error, 2 bad usage.
`

// controlFlags are the flags of the control commands; each command
// registers the ones it takes.
type controlFlags struct {
	config, stream, shard, to string
	json, apply               bool
}

// runControl runs status, pause, resume and rewind: it finds the socket of
// the host running with -config, sends one request and prints the answer.
func runControl(cmd string, args []string, stdout, stderr io.Writer) int {
	var f controlFlags
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, controlUsage, "\nFlags of ", cmd, ":\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "config", "config.hcl", "the config file the host runs with; its control socket is <config folder>/data/kinesis-host.sock")
	if cmd == "status" {
		fs.BoolVar(&f.json, "json", false, "print the status as JSON (for scripts) instead of tables")
	} else {
		fs.StringVar(&f.stream, "stream", "", "the stream (its stream block's label); required")
		fs.StringVar(&f.shard, "shard", "", "one shard id (as status shows it); default: every shard of the stream")
	}
	if cmd == "rewind" {
		fs.StringVar(&f.to, "to", "", "where to restart: an RFC 3339 time (2026-08-21T10:00:00Z), TRIM_HORIZON, LATEST, or a sequence number; required")
		fs.BoolVar(&f.apply, "apply", false, "move the checkpoints; without it, only print what would change (dry run)")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q: every value goes with a flag (-stream S, -shard ID, ...)\n", cmd, fs.Arg(0))
		return exitUsage
	}
	var target control.Target
	if cmd != "status" {
		if f.stream == "" {
			fmt.Fprintf(stderr, "%s needs -stream S: the stream's label in the config (kinesis-host status lists them)\n", cmd)
			return exitUsage
		}
		if f.shard != "" && strings.TrimSpace(f.shard) == "" {
			fmt.Fprintf(stderr, "%s: -shard is blank: give a shard id, or leave -shard out for every shard\n", cmd)
			return exitUsage
		}
	}
	if cmd == "rewind" {
		if f.to == "" {
			fmt.Fprintln(stderr, "rewind needs -to: an RFC 3339 time such as 2026-08-21T10:00:00Z, TRIM_HORIZON, LATEST, or a sequence number")
			return exitUsage
		}
		t, err := parseRewindTarget(f.to, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "kinesis-host rewind: %v\n", err)
			return exitUsage
		}
		target = t
	}

	sock, err := socketFor(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, controlTimeouts[cmd])
	defer cancel()

	c, err := control.Dial(ctx, sock)
	if err == nil {
		switch cmd {
		case "status":
			err = printStatus(ctx, c, f.json, stdout)
		case "pause", "resume":
			err = pauseResume(ctx, c, cmd, f, stdout)
		case "rewind":
			err = rewind(ctx, c.Rewind, false, f, target, stdout)
		}
	}
	if errors.Is(err, control.ErrNotRunning) && cmd == "rewind" {
		// No host runs with this config: rewind through the store.
		return rewindStopped(ctx, f, target, stdout, stderr)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "kinesis-host %s: %v\n", cmd, err)
	switch {
	case errors.Is(err, control.ErrNotRunning):
		fmt.Fprintf(stderr, "Start it with: kinesis-host run -config %s (or pass -config with the file the host runs with).\n", f.config)
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "The host did not answer within %s; its log may say why.\n", controlTimeouts[cmd])
	case errors.Is(err, control.ErrNoSuchStream), errors.Is(err, control.ErrNoSuchShard):
		fmt.Fprintf(stderr, "kinesis-host status -config %s lists the streams and shards.\n", f.config)
	}
	return exitError
}

// socketFor is the control socket of the host running with the config file
// at config: control.SocketPath(control.DataDir(<its folder>)). The file
// is not parsed, only looked for, so a config with errors still leads to
// its running host.
func socketFor(config string) (string, error) {
	abs, err := filepath.Abs(config)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("config file %s: %v: pass -config with the file the host was started with (kinesis-host run -config ...)", config, errors.Unwrap(err))
	}
	return control.SocketPath(control.DataDir(filepath.Dir(abs))), nil
}

// parseRewindTarget is control.ParseTarget, refusing a time in the future.
func parseRewindTarget(s string, now time.Time) (control.Target, error) {
	t, err := control.ParseTarget(s)
	if err != nil {
		return t, err
	}
	if t.Kind == control.TargetTimestamp && t.Timestamp.After(now) {
		return t, fmt.Errorf("-to %s is in the future (now is %s): give a past time, or LATEST to skip what is unread", s, now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// printStatus prints the host's status as tables, or as JSON.
func printStatus(ctx context.Context, c *control.Client, asJSON bool, w io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeStatus(w, st, time.Now())
	return nil
}

// writeStatus prints st as three tables: plugins, streams, shards; then
// the errors of failing shards.
func writeStatus(w io.Writer, st control.Status, now time.Time) {
	fmt.Fprintf(w, "kinesis-host %s, pid %d", st.Version, st.PID)
	if st.WorkerID != "" {
		fmt.Fprintf(w, ", worker %s", st.WorkerID)
	}
	fmt.Fprintf(w, ", up %s\n", fmtDuration(st.UptimeSeconds))

	if len(st.Plugins) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLUGIN\tKIND\tPID\tUP\tRESTARTS")
		for _, p := range st.Plugins {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", p.Name, p.Kind, pidOrDash(p.PID), yesNo(p.Up), p.Restarts)
		}
		tw.Flush()
	}
	if len(st.Streams) == 0 {
		fmt.Fprintln(w, "\nno streams")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tHANDLER\tCHECKPOINT\tPAUSED\tSHARDS")
	for _, s := range st.Streams {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Name, s.Handler, s.Checkpoint, yesNo(s.Paused), len(s.Shards))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSHARD\tSTATE\tCHECKPOINT\tLAG\tLAST BATCH\tOWNER\tPID/RESTARTS")
	var failing []string
	for _, s := range st.Streams {
		for _, sh := range s.Shards {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%d\n", s.Name, sh.ID, sh.State, shortCheckpoint(sh.Checkpoint),
				fmtLag(sh.LagSeconds), fmtAgo(sh.LastBatch, now), dash(sh.Owner), pidOrDash(sh.PluginPID), sh.PluginRestarts)
			if sh.Error != "" {
				failing = append(failing, fmt.Sprintf("%s %s (%s): %s", s.Name, sh.ID, sh.State, sh.Error))
			}
		}
	}
	tw.Flush()
	if len(failing) > 0 {
		fmt.Fprintln(w)
		for _, f := range failing {
			fmt.Fprintln(w, f)
		}
	}
	fmt.Fprintln(w, "\n(checkpoints shortened to their last digits; -json prints them whole)")
}

// shortCheckpoint keeps the tail of a long sequence number, the part that
// changes as a shard is read.
func shortCheckpoint(c control.Checkpoint) string {
	if c.ShardEnd || c.SequenceNumber == "" {
		return c.String()
	}
	s := c.SequenceNumber
	if len(s) > 12 {
		s = "…" + s[len(s)-10:]
	}
	if c.SubSequenceNumber > 0 {
		s += fmt.Sprintf("/%d", c.SubSequenceNumber)
	}
	return s
}

// fmtDuration prints seconds the way a person reads them: 0.3s, 12s,
// 4m05s, 3h02m, 2d04h.
func fmtDuration(sec float64) string {
	switch d := time.Duration(sec * float64(time.Second)); {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func fmtLag(sec float64) string {
	switch {
	case sec < 0:
		return "-"
	case sec == 0:
		return "0s"
	}
	return fmtDuration(sec)
}

func fmtAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmtDuration(max(now.Sub(t), 0).Seconds()) + " ago"
}

func pidOrDash(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pauseResume runs pause and resume.
func pauseResume(ctx context.Context, c *control.Client, cmd string, f controlFlags, w io.Writer) error {
	do, undo, past := c.Pause, "resume", "paused"
	if cmd == "resume" {
		do, undo, past = c.Resume, "pause", "resumed"
	}
	if err := do(ctx, f.stream, f.shard); err != nil {
		return err
	}
	what := fmt.Sprintf("stream %s, every shard", f.stream)
	if f.shard != "" {
		what = fmt.Sprintf("shard %s of stream %s", f.shard, f.stream)
	}
	switch {
	case cmd == "pause" && f.shard == "":
		what += " (shards found later start paused); positions are kept"
	case cmd == "pause":
		what += "; its position is kept"
	}
	fmt.Fprintf(w, "%s %s.\nUndo with: kinesis-host %s -config %s -stream %s%s\n", past, what, undo, f.config, f.stream, shardFlag(f.shard))
	return nil
}

func shardFlag(shard string) string {
	if shard == "" {
		return ""
	}
	return " -shard " + shard
}

// rewindStopped runs rewind with no host running on f.config: the
// checkpoint store is written directly (host.RewindStopped).
func rewindStopped(ctx context.Context, f controlFlags, to control.Target, stdout, stderr io.Writer) int {
	cfg, files, diags := host.LoadConfig(f.config)
	if len(diags) > 0 {
		_ = host.WriteDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "%s has errors; nothing was changed.\n", f.config)
		return exitError
	}
	fmt.Fprintf(stderr, "No host is running with %s: reading Kinesis and the checkpoint store directly.\n", f.config)
	log := newLogger("warn", cfg.LogFormat, stderr)
	do := func(ctx context.Context, r control.RewindRequest) (control.RewindResult, error) {
		return host.RewindStopped(ctx, cfg, r, host.Options{Logger: log})
	}
	if err := rewind(ctx, do, true, f, to, stdout); err != nil {
		fmt.Fprintf(stderr, "kinesis-host rewind: %v\n", err)
		return exitError
	}
	return exitOK
}

// rewind runs rewind through do (the running host's control socket, or
// the store when stopped): a dry run unless -apply.
func rewind(ctx context.Context, do func(context.Context, control.RewindRequest) (control.RewindResult, error), stopped bool,
	f controlFlags, to control.Target, w io.Writer) error {
	res, err := do(ctx, control.RewindRequest{Stream: f.stream, Shard: f.shard, To: to, DryRun: !f.apply})
	if err != nil && len(res.Shards) == 0 {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tFROM\tTO\tRESULT\tNOTE")
	moved := 0
	for _, s := range res.Shards {
		result := "unchanged"
		switch {
		case s.Applied:
			result = "moved"
			moved++
		case res.DryRun && s.Moves:
			result = "would move"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Shard, s.From, s.To, result, s.Note)
	}
	tw.Flush()
	if res.DryRun {
		fmt.Fprintf(w, "\nDry run: nothing was changed. To apply:\n  kinesis-host rewind -config %s -stream %s%s -to %s -apply\n", f.config, f.stream, shardFlag(f.shard), to)
		return nil
	}
	if stopped {
		fmt.Fprintf(w, "\nMoved %d of %d shard(s) of stream %s; the next host to start reads them from there.\n", moved, len(res.Shards), f.stream)
	} else {
		fmt.Fprintf(w, "\nMoved %d of %d shard(s) of stream %s; the host restarts them from there.\n", moved, len(res.Shards), f.stream)
	}
	return err
}
