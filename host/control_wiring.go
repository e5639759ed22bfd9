package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesis-host/kinesis-host/host/control"
	"github.com/kinesis-host/kinesis-host/host/lease"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// The host's side of the control socket (`kinesis-host status`, pause,
// resume, rewind): per-shard state kept as things happen, the pause set
// (host-wide, so it survives a reload), and the control.Host methods.

// shardStat is what `status` shows of one shard. Written by the stream
// runner and the shard's worker, read by Status.
type shardStat struct {
	running, ended, caughtUp, paused, held atomic.Bool
	lagMs                                  atomic.Int64 // -1 unknown
	lastBatch                              atomic.Int64 // unix nanos, 0 never
	records                                atomic.Int64
	mu                                     sync.Mutex
	start                                  *shared.Checkpoint // the checkpoint the worker started from
	owner, errText                         string
}

// stat returns the shard's stat, created on first use.
func (h *Host) stat(stream, shard string) *shardStat {
	key := [2]string{stream, shard}
	if v, ok := h.shardStats.Load(key); ok {
		return v.(*shardStat)
	}
	st := &shardStat{}
	st.lagMs.Store(-1)
	v, _ := h.shardStats.LoadOrStore(key, st)
	return v.(*shardStat)
}

// isPaused reports whether an operator paused the shard (or its stream).
func (h *Host) isPaused(stream, shard string) bool {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	p := h.paused[stream]
	return p != nil && (p[""] || p[shard])
}

// waitWhilePaused blocks while the shard is paused (false when ctx ended).
func (w *shardWorker) waitWhilePaused(ctx context.Context) bool {
	h := w.s.h
	if !h.isPaused(w.s.cfg.Name, w.id) {
		return true
	}
	w.stat.paused.Store(true)
	defer w.stat.paused.Store(false)
	w.log.Info("shard paused by an operator; its position is kept (kinesis-host resume goes on)")
	for h.isPaused(w.s.cfg.Name, w.id) {
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return false
		}
	}
	w.log.Info("shard resumed")
	return true
}

// startControl serves the control socket in the config's data directory.
// Another host already serving there (several hosts of a shared store run
// from one folder) is not fatal: this host runs without a socket.
func (h *Host) startControl(ctx context.Context) {
	path := control.SocketPath(control.DataDir(h.conf().Dir))
	srv, err := control.Serve(ctx, path, controlHost{h}, h.log.Named("control"))
	if err != nil {
		if errors.Is(err, control.ErrAlreadyRunning) {
			h.log.Warn("control socket not served: another kinesis-host serves this data directory; `kinesis-host status` reaches that one", "error", err)
		} else {
			h.log.Warn("control socket not served; status, pause, resume and rewind are unavailable", "path", path, "error", err)
		}
		return
	}
	h.control = srv
}

func (h *Host) stopControl() {
	if h.control == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.control.Close(ctx)
}

// controlHost implements control.Host.
type controlHost struct{ h *Host }

func (c controlHost) stream(name string) (*StreamConfig, error) {
	for _, s := range c.h.conf().Streams {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: no stream %q in the running configuration (see kinesis-host status)", control.ErrNoSuchStream, name)
}

func (c controlHost) knownShard(stream, shard string) error {
	if shard == "" {
		return nil
	}
	if _, ok := c.h.shardStats.Load([2]string{stream, shard}); !ok {
		return fmt.Errorf("%w: stream %s has no shard %q that this host knows (see kinesis-host status)", control.ErrNoSuchShard, stream, shard)
	}
	return nil
}

// Status implements control.Host.
func (c controlHost) Status(ctx context.Context) (control.Status, error) {
	h := c.h
	out := control.Status{Version: sdk.Version, PID: os.Getpid(), UptimeSeconds: time.Since(h.started).Seconds()}
	pids := map[string][2]int{}
	for _, p := range h.sortedProcs() {
		b := p.block()
		ps := control.PluginStatus{Name: b.Name, Kind: string(b.Kind)}
		p.mu.Lock()
		if p.cur != nil && p.cur.proc != nil {
			ps.PID, ps.Up = p.cur.proc.pid, true
		}
		ps.Restarts = p.restarts
		p.mu.Unlock()
		out.Plugins = append(out.Plugins, ps)
		if b.Kind == KindHandler {
			pids[b.Name] = [2]int{ps.PID, ps.Restarts}
		}
	}
	for _, s := range h.conf().Streams {
		ss := control.StreamStatus{Name: s.Name, Handler: s.Handler, Checkpoint: s.Checkpoint, Paused: h.isPaused(s.Name, "")}
		cp := h.checkpoints[s.Checkpoint]
		h.shardStats.Range(func(k, v any) bool {
			key := k.([2]string)
			if key[0] != s.Name {
				return true
			}
			st := v.(*shardStat)
			sh := control.ShardStatus{ID: key[1], LagSeconds: control.LagUnknown, RecordsDelivered: st.records.Load()}
			if ns := st.lastBatch.Load(); ns > 0 {
				sh.LastBatch = time.Unix(0, ns)
			}
			st.mu.Lock()
			sh.Owner, sh.Error = st.owner, st.errText
			st.mu.Unlock()
			switch {
			case st.ended.Load():
				sh.State = control.StateEnded
			case st.paused.Load() || (st.running.Load() && h.isPaused(s.Name, key[1])):
				sh.State = control.StatePaused
			case sh.Error != "":
				sh.State = control.StateFailing
			case st.running.Load() && st.caughtUp.Load():
				sh.State = control.StateCaughtUp
			case st.running.Load():
				sh.State = control.StateReading
			case sh.Owner != "" || st.held.Load():
				sh.State = control.StateNotOwned
			default:
				sh.State = control.StateWaitingForParents
			}
			if st.running.Load() {
				if ms := st.lagMs.Load(); ms >= 0 {
					sh.LagSeconds = float64(ms) / 1000
				}
				pp := pids[s.Handler]
				sh.PluginPID, sh.PluginRestarts = pp[0], pp[1]
			}
			sh.Checkpoint = h.position(cp, s.Name, key[1], st)
			ss.Shards = append(ss.Shards, sh)
			return true
		})
		sort.Slice(ss.Shards, func(i, j int) bool { return ss.Shards[i].ID < ss.Shards[j].ID })
		out.Streams = append(out.Streams, ss)
	}
	if id := h.workerID.Load(); id != nil {
		out.WorkerID = *id
	}
	return out, nil
}

// Pause implements control.Host.
func (c controlHost) Pause(ctx context.Context, stream, shard string) error {
	return c.setPaused(stream, shard, true)
}

// Resume implements control.Host.
func (c controlHost) Resume(ctx context.Context, stream, shard string) error {
	return c.setPaused(stream, shard, false)
}

func (c controlHost) setPaused(stream, shard string, on bool) error {
	if _, err := c.stream(stream); err != nil {
		return err
	}
	if err := c.knownShard(stream, shard); err != nil {
		return err
	}
	h := c.h
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if h.paused == nil {
		h.paused = map[string]map[string]bool{}
	}
	p := h.paused[stream]
	if p == nil {
		p = map[string]bool{}
		h.paused[stream] = p
	}
	switch {
	case on:
		p[shard] = true
	case shard == "":
		delete(h.paused, stream) // the whole stream, and shards paused on their own
	default:
		delete(p, shard)
	}
	what := "shard " + shard
	if shard == "" {
		what = "every shard"
	}
	h.log.Info(map[bool]string{true: "paused by an operator", false: "resumed by an operator"}[on], "stream", stream, "what", what)
	return nil
}

// position is a shard's checkpoint as far as this host knows it without a
// store call: the latest handed to the checkpointer, else the one its
// worker started from.
func (h *Host) position(cp *checkpointer, stream, shard string, st *shardStat) control.Checkpoint {
	var pos *shared.Checkpoint
	st.mu.Lock()
	pos = st.start
	st.mu.Unlock()
	if cp != nil {
		if latest, ok := cp.peek(shared.CheckpointKey{App: h.conf().App, Stream: stream, ShardID: shard}); ok {
			pos = &latest
		}
	}
	if pos == nil {
		return control.Checkpoint{}
	}
	return control.Checkpoint{SequenceNumber: pos.SequenceNumber, SubSequenceNumber: pos.SubSequenceNumber, ShardEnd: pos.ShardEnd}
}

// setOwners records the lease owners the stream's last lease round saw.
func (s *streamRunner) setOwners(l *streamLeases, shards []ShardInfo) {
	for _, sh := range shards {
		st := s.h.stat(s.cfg.Name, sh.ID)
		owner := lease.WorkerOf(l.core.Row(sh.ID).Owner)
		st.held.Store(l.held[sh.ID])
		st.mu.Lock()
		st.owner = owner
		st.mu.Unlock()
	}
}

// lagSummary is each stream's largest shard lag, "stream=1.2s ...", for
// the progress line ("-" for a stream none of whose shards reported one).
func (h *Host) lagSummary() string {
	worst := map[string]int64{}
	h.shardStats.Range(func(k, v any) bool {
		st := v.(*shardStat)
		stream := k.([2]string)[0]
		if _, ok := worst[stream]; !ok {
			worst[stream] = -1
		}
		if st.running.Load() {
			worst[stream] = max(worst[stream], st.lagMs.Load())
		}
		return true
	})
	var parts []string
	for _, s := range h.conf().Streams {
		ms, ok := worst[s.Name]
		switch {
		case !ok || ms < 0:
			parts = append(parts, s.Name+"=-")
		default:
			parts = append(parts, s.Name+"="+(time.Duration(ms)*time.Millisecond).String())
		}
	}
	return strings.Join(parts, " ")
}
