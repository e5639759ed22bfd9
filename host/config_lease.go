package host

// The lease {} block of checkpoint blocks: how hosts sharing a checkpoint
// store (redis, postgres, dynamodb) coordinate shard leases.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// leaseBlock reads the lease {} block of plugin block p: into p.Lease for
// a checkpoint block, an error for a handler block.
func (l *configLoader) leaseBlock(p *PluginBlock, c cfgContent) {
	if p.Kind != KindCheckpoint {
		for _, b := range c.blocks["lease"] {
			l.errorf(b.TypeRange, "Unsupported block type",
				"Blocks of type \"lease\" are not expected here. lease {} belongs in a checkpoint block: it tunes how hosts sharing a checkpoint store coordinate shard leases. Move it into the checkpoint block named by the streams that use handler %q (their checkpoint = \"...\"), or remove it.",
				p.Name)
		}
		return
	}
	b := l.single(c, "lease")
	if b == nil {
		return
	}
	l.lease(&p.Lease, b)
	if slices.Contains(cfgDefaults.LeaseSingleHostFor, p.Plugin) {
		l.warnf(b.DefRange, "Unused lease block",
			"The %q checkpoint store is single-host: it is never shared, so this lease block has no effect. To run several hosts on the same streams, use a shared store (plugin = \"redis\", \"postgres\" or \"dynamodb\"); otherwise remove this block.",
			p.Plugin)
	}
}

// lease reads a lease {} block into lc, which holds the defaults. The
// defaults of renew_interval and poll_interval follow the final duration.
func (l *configLoader) lease(lc *LeaseConfig, b *hcl.Block) {
	c := l.content(b.Body, cfgLeaseSchema)
	lc.Range = b.DefRange

	durAttr := c.attrs["duration"]
	dur, durSt := l.duration(durAttr, cfgLeaseDurationMin,
		fmt.Sprintf(" (a floor for tests that scale time down; in production keep it in seconds, such as the default %q)", cfgDefaults.LeaseDuration.String()))
	if durSt == cfgSet {
		lc.Duration = dur
	}
	def := cfgDefaultLease(lc.Duration)
	durWhat := fmt.Sprintf("the default duration (%s)", lc.Duration)
	if durSt == cfgSet {
		durWhat = fmt.Sprintf("duration (%s)", lc.Duration)
	}

	// A setting that must be at most half the duration: checked only when
	// the duration itself is valid.
	half := func(name, why string) time.Duration {
		a := c.attrs[name]
		d, st := l.duration(a, 0, "")
		if st != cfgSet {
			return 0
		}
		if durSt != cfgInvalid && d > lc.Duration/2 {
			l.errorf(a.Range, "Invalid "+name,
				"%s (%s) must be at most half of %s, %s; set %s to %s or less, or raise duration.",
				name, d, durWhat, why, name, lc.Duration/2)
			return 0
		}
		return d
	}
	lc.RenewInterval = def.RenewInterval
	if d := half("renew_interval", "so that a lease is renewed at least twice before another host may take it"); d > 0 {
		lc.RenewInterval = d
	}
	lc.PollInterval = def.PollInterval
	if d := half("poll_interval", "so that an expired lease is noticed well within a lease duration"); d > 0 {
		lc.PollInterval = d
	}

	if a := c.attrs["worker_id"]; a != nil {
		if id, st := l.str(a); st == cfgSet {
			if msg := cfgCheckWorkerID(id); msg != "" {
				l.errorf(a.Range, "Invalid worker_id", "%s", msg)
			} else {
				lc.WorkerID = id
			}
		}
	}
	if n, st := l.integer(c.attrs["max_shards"], 0, math.MaxInt32); st == cfgSet {
		lc.MaxShards = int(n)
	}
}

// cfgCheckWorkerID returns why id is not a valid worker_id, or "". The empty
// string is valid: it asks for the default, unique per process.
func cfgCheckWorkerID(id string) string {
	allowed := "worker_id may contain only ASCII letters, digits and the characters"
	for _, r := range cfgWorkerIDChars {
		allowed += fmt.Sprintf(" %q", r)
	}
	if n := len([]rune(id)); n > cfgWorkerIDMaxLen {
		return fmt.Sprintf("worker_id must be at most %d characters; got %d.", cfgWorkerIDMaxLen, n)
	}
	for i, r := range []rune(id) {
		ok := r < 0x80 && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune(cfgWorkerIDChars, r))
		if ok {
			continue
		}
		var why string
		switch {
		case r == '#':
			why = " ('#' separates the worker id from the per-process incarnation in a lease owner)"
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			why = " (no spaces)"
		}
		return fmt.Sprintf("%s%s; got %q, whose character %d is %q. Remove or replace it (for example with \"-\").",
			allowed, why, id, i+1, r)
	}
	return ""
}
