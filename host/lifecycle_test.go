package host_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/host/kinesisfake"
)

// The handler's lifecycle calls: shard started (with where it starts),
// shard ended (before its children start), shutdown (before the final
// checkpoints); a restart reports the checkpoint it starts after.
func TestLifecycleCalls(t *testing.T) {
	f := kinesisfake.New()
	if err := f.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	parent := *f.Shards("s")[0].ShardId
	for i := 0; i < 5; i++ {
		_, _ = f.PutRecordToShard("s", parent, "k", []byte(rname(i)))
	}
	if err := f.SplitShard("s", parent, "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	var kid string
	for _, s := range f.Shards("s") {
		if s.ParentShardId != nil && kid == "" {
			kid = *s.ShardId
		}
	}
	last, _ := f.PutRecordToShard("s", kid, "k", []byte("child"))
	events := filepath.Join(t.TempDir(), "events.jsonl")
	r := newRig(t, f)
	r.start("", `lifecycle_out = "`+events+`"`, "")
	r.waitDistinct(6, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	r.h.Drain()
	if err := r.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, events)
	want := []string{
		"shard_started " + parent + " TRIM_HORIZON",
		"shard_ended " + parent,
	}
	for _, w := range want {
		if !containsEvent(got, w) {
			t.Errorf("no %q event in %v", w, got)
		}
	}
	if idx(got, "shard_ended "+parent) > idx(got, "shard_started "+kid) {
		t.Errorf("a child started before its parent ended: %v", got)
	}
	if got[len(got)-1] != "shutdown" {
		t.Errorf("last event %q, want shutdown", got[len(got)-1])
	}

	// Restart: the child reports the checkpoint it starts after.
	_ = os.Remove(events)
	r2 := &rig{t: t, fake: f, dir: r.dir, out: r.out, cpPath: r.cpPath}
	r2.start("", `lifecycle_out = "`+events+`"`, "")
	deadline := time.Now().Add(10 * time.Second)
	for !containsEvent(readEvents(t, events), "shard_started "+kid+" AFTER_SEQUENCE_NUMBER "+last) {
		if time.Now().After(deadline) {
			t.Fatalf("restart events %v lack the child's start after %s", readEvents(t, events), last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if containsEvent(readEvents(t, events), "shard_started "+parent) {
		t.Error("a finished parent (SHARD_END) was started again")
	}
	r2.h.Drain()
	_ = r2.wait(15 * time.Second)
}

func readEvents(t *testing.T, path string) []string {
	raw, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(strings.Join([]string{e["event"], e["shard"], e["position"], e["after"]}, " ")))
	}
	return out
}

func containsEvent(evs []string, prefix string) bool { return idx(evs, prefix) >= 0 }

func idx(evs []string, prefix string) int {
	for i, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return i
		}
	}
	return -1
}
