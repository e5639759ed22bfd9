package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/kinesis-host/kinesis-host/shared"
)

func testLetter(seq string) *DeadLetter {
	return newDeadLetter("app", "s", "shardId-0", "h", shared.Record{SequenceNumber: seq, PartitionKey: "k", Data: []byte("d-" + seq)},
		&shared.Error{Code: shared.CodeHandler, Message: "poison"}, 1)
}

// TestDeadLetterFileIsPrivate: a new dead-letter file (and its new
// folders) is created 0600 (0700) and what Put wrote reads back.
func TestDeadLetterFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "dlq.jsonl")
	s, err := openFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), testLetter("1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("file mode %v (%v), want -rw-------", fi.Mode(), err)
	}
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("folder %s mode %v (%v), want 0700", d, fi.Mode(), err)
		}
	}
	var rep ReplayReport
	letters, err := readDeadLetters(path, &rep, hclog.NewNullLogger())
	if err != nil || len(letters) != 1 || letters[0].SequenceNumber != "1" {
		t.Fatalf("read back %+v, %v", letters, err)
	}
}

// TestDeadLetterFileRefusesLinksAndStrangers: a symbolic link placed where
// the dead-letter file goes (to an existing file or to a path that does not
// exist yet), a FIFO, a file others can read or write, and a file of
// another user are refused with an error that says what to do; the link's
// target is neither written nor created. Before the fix the file was
// opened through the link.
func TestDeadLetterFileRefusesLinksAndStrangers(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.jsonl")
	notYet := filepath.Join(dir, "created-elsewhere")
	if err := os.Symlink(notYet, dangling); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.jsonl")
	if err := os.WriteFile(open, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	writable := filepath.Join(dir, "writable.jsonl")
	if err := os.WriteFile(writable, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(writable, 0o622); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		link:     {"symbolic link", "remove the link"},
		dangling: {"symbolic link"},
		fifo:     {"not a regular file"},
		open:     {"mode 0644", "chmod 600 " + open},
		writable: {"mode 0622", "chmod 600"},
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(dir, "other.jsonl")
		if err := os.WriteFile(other, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[other] = []string{"belongs to user id 65534"}
	}
	for path, wants := range cases {
		s, err := openFileSink(path)
		if err == nil {
			_ = s.Put(context.Background(), testLetter("1"))
			s.Close()
			t.Errorf("%s: opened, want it refused", filepath.Base(path))
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", filepath.Base(path), err, w)
			}
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the link's target was written: %q", b)
	}
	if _, err := os.Lstat(notYet); !os.IsNotExist(err) {
		t.Fatalf("the dangling link's target was created (%v)", err)
	}
}

// TestDeadLetterAfterCutShortLine: when the file ends with a line a crash
// cut short, the next dead letter starts on a line of its own, so it is
// whole and replayable (before the fix it was glued to the fragment and
// lost to replay); replay reports the fragment as a failure naming it.
func TestDeadLetterAfterCutShortLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dlq.jsonl")
	s, err := openFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), testLetter("1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash in the middle of the second write.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"app":"app","stream":"s","shard_id":"shardId-0","sequ`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var rep ReplayReport
	if letters, err := readDeadLetters(path, &rep, hclog.NewNullLogger()); err != nil || len(letters) != 1 || rep.CutShortLine != 2 || rep.Failed != 0 {
		t.Fatalf("before the restart: %d letters, %+v, %v; want 1 letter and line 2 cut short", len(letters), rep, err)
	}
	// The restarted host appends the record again (it was never
	// acknowledged) and one more.
	s, err = openFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []string{"2", "3"} {
		if err := s.Put(context.Background(), testLetter(seq)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rep = ReplayReport{}
	letters, err := readDeadLetters(path, &rep, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, l := range letters {
		seqs = append(seqs, l.SequenceNumber)
	}
	if strings.Join(seqs, ",") != "1,2,3" {
		t.Fatalf("dead letters %v, want 1,2,3", seqs)
	}
	if rep.Failed != 1 || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0], path+":2 is a dead letter cut short") {
		t.Fatalf("report %+v: want the fragment on line 2 reported", rep)
	}
}
