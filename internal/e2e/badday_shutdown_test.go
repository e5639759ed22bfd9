package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// TestShutdownDuringHandlerRetries (issue 8, item 12): SIGTERM while the
// handler fails every delivery of a shard (its next record is poison, so
// every batch fails at it) and the record sits in the failure policy's
// retry loop (on_failure "stop", the default, with attempts left and a
// long retry_backoff). The host must
//
//   - drain without waiting on the retry loop: a record waiting for its
//     next attempt is not an in-flight batch, so the drain never has to
//     abandon work at shutdown_timeout, and the failing record is not
//     delivered again once the host is draining;
//   - exit 0 within shutdown_timeout (plus slack for a busy machine);
//   - lose and skip nothing: the checkpoint stays right before the failing
//     record, and after a restart with a fixed handler it is delivered
//     again, followed by every later record.
//
// "Defaults" keeps the shipped shutdown_timeout (30s), on_failure and
// restart policy; "LongShutdownTimeout" has a retry_backoff short enough
// that the old code delivers the failing record again during the drain.
func TestShutdownDuringHandlerRetries(t *testing.T) {
	cases := []struct {
		name            string
		shutdownTimeout string // "" = default (30s)
		handlerExtra    string
	}{
		{"Defaults", "", "  max_attempts = 5\n  retry_backoff = \"1m\"\n"},
		{"LongShutdownTimeout", "45s", "  max_attempts = 20\n  retry_backoff = \"4s\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shutdown := 30 * time.Second
			if tc.shutdownTimeout != "" {
				d, err := time.ParseDuration(tc.shutdownTimeout)
				if err != nil {
					t.Fatal(err)
				}
				shutdown = d
			}
			const slack = 15 * time.Second // process start/stop on a busy machine, not a product allowance
			e := newEnv(t, 1)
			recs := e.put(0, 30)
			poison := recs[10]

			out := filepath.Join(e.dir, "deliveries-1.jsonl")
			failing := bdsWriteConfig(e, "failing", tc.shutdownTimeout,
				svOneStream("", tc.handlerExtra, map[string]any{"out": out, "fail_data": poison.data}))
			h := e.startHost(failing)
			d := newDeliveries(t, out)
			d.waitAll(time.Minute, h, recs[:10])
			h.svWaitLog(time.Minute, "record failed; delivering it again")
			before := len(h.log())

			t0 := time.Now()
			h.signal(syscall.SIGTERM)
			code := h.wait(shutdown + slack)
			took := time.Since(t0)
			if code != 0 {
				t.Errorf("kinesis-host exited with %d after SIGTERM, want 0 (the failing record still had attempts left; it is simply not acknowledged)", code)
			}
			during := h.log()[before:]
			if strings.Contains(during, "shutdown_timeout reached") {
				t.Errorf("the drain waited until shutdown_timeout (%s; exit %s after SIGTERM) and abandoned the shard: a record waiting in the failure policy's retry loop must end the drain at once, not hold it", shutdown, took.Round(time.Millisecond))
			}
			if n := strings.Count(during, "record failed; delivering it again"); n > 0 {
				t.Errorf("the failing record was delivered again %d time(s) after SIGTERM: a draining host must not keep retrying it", n)
			}
			d.poll()
			if d.byData[poison.data] != 0 {
				t.Fatal("the poison record was recorded as delivered by the failing handler")
			}
			cp := e.checkpoints()[poison.shard]
			if cp == nil || cp.ShardEnd || cp.SequenceNumber != recs[9].seq {
				t.Errorf("checkpoint after the drain: %+v, want %s (the last record before the failing one %s): nothing lost, nothing skipped", cp, recs[9].seq, poison.seq)
			}
			if cp != nil && (cp.ShardEnd || sdk.CompareSequence(cp.SequenceNumber, poison.seq) >= 0) {
				t.Fatalf("checkpoint %+v is at or past the failing record %s: it was skipped", *cp, poison.seq)
			}

			// Restart with the handler fixed: the failing record comes
			// again, then everything after it.
			out2 := filepath.Join(e.dir, "deliveries-2.jsonl")
			fixed := bdsWriteConfig(e, "fixed", tc.shutdownTimeout, svOneStream("", tc.handlerExtra, map[string]any{"out": out2}))
			h2 := e.startHost(fixed)
			d2 := newDeliveries(t, out2)
			d2.waitAll(time.Minute, h2, recs[10:])
			h2.stop(shutdown + slack)
			d2.poll()
			if len(d2.all) == 0 || d2.all[0].Data != poison.data {
				t.Errorf("after the restart the first delivery is %+v, want the failing record %s", d2.all[:min(1, len(d2.all))], poison.seq)
			}
			checkOrder(t, d2.all)
			checkComplete(t, recs, d.all, d2.all)
			e.checkCheckpointsAtEnd(lastSeqs(recs))
		})
	}
}

// bdsWriteConfig writes the svConfig c as <dir>/<name>.hcl, with a
// top-level shutdown_timeout when one is given (else the default).
func bdsWriteConfig(e *env, name, shutdownTimeout string, c svConfig) string {
	e.t.Helper()
	text := e.svText(c)
	if shutdownTimeout != "" {
		text = "shutdown_timeout = \"" + shutdownTimeout + "\"\n" + text
	}
	path := filepath.Join(e.dir, name+".hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}
