package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/shared"
)

// ReplayReport is the outcome of Replay.
type ReplayReport struct {
	Total    int      // dead letters read (malformed lines included)
	Handled  int      // acknowledged by the handler this time
	Failed   int      // failed again, not reached after a StopScan, or a malformed line
	Failures []string // one line per failure: stream, shard, sequence (or file:line), error
	// CutShortLine is the line number of a last line that was cut short (a
	// crash while the host was writing it), which was not replayed; 0 when
	// the file ends with a whole line.
	CutShortLine int
}

// replayMaxDeclines is how many answers in a row that acknowledge nothing
// and report no error Replay accepts for one run of records before it
// reports them as not replayed (they stay in the file). Between those
// answers it backs off from the handler's retry_backoff, doubling.
const replayMaxDeclines = 5

// Replay sends the records of a dead-letter file back through the handler
// of the stream each came from (as configured in cfg now), in file order,
// one batch per run of consecutive records of the same shard. Checkpoints
// are not touched and the file is not changed. A record that fails again
// is reported and the replay goes on with the next.
//
// A last line cut short (the host crashed while writing it; such a record
// was never acknowledged, so it was delivered again) is left out with a
// warning. Any other line that is not a dead letter is reported as a
// failure, with its line number, and the rest is replayed. A handler that
// acknowledges none of a batch without an error gets it again after a
// backoff, at most replayMaxDeclines times.
func Replay(ctx context.Context, cfg *Config, path string, log hclog.Logger) (ReplayReport, error) {
	var rep ReplayReport
	if log == nil {
		log = hclog.NewNullLogger()
	}
	letters, err := readDeadLetters(path, &rep, log)
	if err != nil {
		return rep, err
	}

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
		declines := 0
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
			if out.done > 0 {
				declines = 0
			}
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
				for _, x := range letters[i:] {
					fail(x, "not replayed: the handler asked to stop (StopScan)")
				}
				return rep, nil
			case out.done == 0 && len(recs) > 0:
				// Nothing acknowledged, nothing failed: the handler declined.
				declines++
				if declines >= replayMaxDeclines {
					for _, x := range group[len(group)-len(recs):] {
						fail(x, fmt.Sprintf("not replayed: the handler acknowledged none of %d record(s) %d times in a row without an error (they stay in the file; replay it again later)", len(recs), declines))
					}
					recs = nil
					break
				}
				wait := backoffDelay(p.block().Failure.RetryBackoff, time.Minute, declines)
				log.Warn("handler acknowledged none of the batch and reported no error; delivering it again",
					"stream", d.Stream, "shard", d.ShardID, "records", len(recs), "declined", declines, "of", replayMaxDeclines, "retry_in", wait)
				if err := sleepCtx(ctx, wait); err != nil {
					return rep, err
				}
			}
		}
	}
	return rep, nil
}

// readDeadLetters reads the dead-letter file at path. Blank lines are
// ignored. A last line without its end of line that does not parse was cut
// short by a crash: it is left out and reported in rep.CutShortLine with a
// warning. Any other line that is not a dead letter is counted in rep as a
// failure naming path:line (never dropped silently); a file with no dead
// letter at all is an error.
func readDeadLetters(path string, rep *ReplayReport, log hclog.Logger) ([]DeadLetter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	var letters []DeadLetter
	var firstBad error
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("replay: %s: %w", path, rerr)
		}
		whole := rerr == nil
		if text := bytes.TrimSpace(b); len(text) > 0 {
			d, perr := parseDeadLetter(text)
			switch {
			case perr == nil:
				letters = append(letters, d)
			case !whole:
				rep.CutShortLine = line
				log.Warn("the dead-letter file's last line was cut short (the host stopped while writing it); it is not replayed. Its record was never acknowledged, so it was delivered again",
					"file", path, "line", line, "error", perr.Error(), "replaying", len(letters))
			default:
				why := fmt.Sprintf("%s:%d is not a dead-letter record (%v); it is not replayed: repair or remove the line", path, line, perr)
				if strings.Contains(perr.Error(), "unexpected end of JSON input") {
					why = fmt.Sprintf("%s:%d is a dead letter cut short (the host stopped while writing it; its record was never acknowledged, so it was delivered again and written again later); remove the line", path, line)
				}
				log.Warn("malformed line in the dead-letter file; it is not replayed", "file", path, "line", line, "error", perr.Error())
				rep.Total++
				rep.Failed++
				rep.Failures = append(rep.Failures, why)
				if firstBad == nil {
					firstBad = errors.New(why)
				}
			}
		}
		if !whole {
			break
		}
	}
	if len(letters) == 0 && firstBad != nil {
		return nil, fmt.Errorf("replay: %s has no dead-letter record: is it the file named in a handler's dead_letter { file = ... }? First problem: %w", path, firstBad)
	}
	rep.Total += len(letters)
	return letters, nil
}

// parseDeadLetter decodes one line and checks it names its record.
func parseDeadLetter(b []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := json.Unmarshal(b, &d); err != nil {
		return d, err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"stream", d.Stream}, {"shard_id", d.ShardID}, {"sequence_number", d.SequenceNumber}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return d, fmt.Errorf("no %s", strings.Join(missing, ", "))
	}
	return d, nil
}
