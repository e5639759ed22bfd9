package host

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/shared"
)

// ReplayReport is the outcome of Replay.
type ReplayReport struct {
	Total    int      // dead letters read
	Handled  int      // acknowledged by the handler this time
	Failed   int      // failed again (or not reached after a StopScan)
	Failures []string // one line per failure: stream, shard, sequence, error
}

// Replay sends the records of a dead-letter file back through the handler
// of the stream each came from (as configured in cfg now), in file order,
// one batch per run of consecutive records of the same shard. Checkpoints
// are not touched. A record that fails again is reported and the replay
// goes on with the next.
func Replay(ctx context.Context, cfg *Config, path string, log hclog.Logger) (ReplayReport, error) {
	var rep ReplayReport
	if log == nil {
		log = hclog.NewNullLogger()
	}
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	var letters []DeadLetter
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var d DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return rep, fmt.Errorf("replay: %s:%d is not a dead-letter record: %v", path, line, err)
		}
		letters = append(letters, d)
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("replay: %s: %w", path, err)
	}
	rep.Total = len(letters)

	streams := map[string]*StreamConfig{}
	for _, s := range cfg.Streams {
		streams[s.Name] = s
	}
	procs := map[string]*pluginProc{}
	defer func() {
		for _, p := range procs {
			p.stop(3 * time.Second)
		}
	}()
	fail := func(d DeadLetter, why string) {
		rep.Failed++
		rep.Failures = append(rep.Failures, fmt.Sprintf("stream %s shard %s sequence %s: %s", d.Stream, d.ShardID, d.SequenceNumber, why))
	}
	for i := 0; i < len(letters); {
		d := letters[i]
		j := i + 1
		for j < len(letters) && letters[j].Stream == d.Stream && letters[j].ShardID == d.ShardID {
			j++
		}
		group := letters[i:j]
		i = j
		s := streams[d.Stream]
		if s == nil {
			for _, x := range group {
				fail(x, "stream is not in the config; add its stream block to replay it")
			}
			continue
		}
		p := procs[s.Handler]
		if p == nil {
			p = newPluginProc(cfg.Handlers[s.Handler], cfg.App, cfg.Dir, log)
			procs[s.Handler] = p
		}
		recs := make([]shared.Record, len(group))
		for k, x := range group {
			recs[k] = shared.Record{Data: x.Data, PartitionKey: x.PartitionKey, SequenceNumber: x.SequenceNumber,
				SubSequenceNumber: x.SubSequenceNumber, ApproximateArrivalTimestamp: x.ArrivalTimestamp}
		}
		for len(recs) > 0 {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			inst, release, err := p.acquire(ctx)
			if err != nil {
				return rep, err
			}
			cctx, cancel := context.WithTimeout(ctx, p.block().CallTimeout)
			resp, err := inst.raw.(*shared.HandlerClient).HandleBatch(cctx, &shared.BatchRequest{
				Stream: d.Stream, ShardID: d.ShardID, Records: recs, Attempt: group[len(group)-len(recs)].Attempts + 1})
			cancel()
			release()
			if err != nil {
				p.fail(inst, err)
				continue
			}
			out := decideBatch(recs, resp)
			rep.Handled += out.done
			recs = recs[out.done:]
			switch {
			case out.invalid:
				return rep, fmt.Errorf("replay: %v", shared.FromWire(out.fail))
			case out.fail != nil:
				fail(group[len(group)-len(recs)], shared.FromWire(out.fail).Error())
				recs = recs[1:]
			case out.stop:
				for _, x := range group[len(group)-len(recs):] {
					fail(x, "not replayed: the handler asked to stop (StopScan)")
				}
				return rep, nil
			}
		}
	}
	return rep, nil
}
