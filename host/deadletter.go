package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-host/kinesis-host/shared"
)

// DeadLetter is one record a handler kept failing, as written to a
// dead-letter target: the whole record, where it came from, and why it
// failed. One JSON object per line in a dead-letter file; the data of a
// dead-letter stream record.
type DeadLetter struct {
	App               string    `json:"app"`
	Stream            string    `json:"stream"`
	ShardID           string    `json:"shard_id"`
	SequenceNumber    string    `json:"sequence_number"`
	SubSequenceNumber int64     `json:"sub_sequence_number,omitempty"`
	PartitionKey      string    `json:"partition_key"`
	Data              []byte    `json:"data"` // base64 in JSON
	ArrivalTimestamp  time.Time `json:"approximate_arrival_timestamp"`
	Handler           string    `json:"handler"`
	ErrorCode         string    `json:"error_code"`
	Error             string    `json:"error"`
	Attempts          int       `json:"attempts"`
	DeadLetteredAt    time.Time `json:"dead_lettered_at"`
}

// deadLetterSink stores dead letters durably before the checkpoint moves
// past them.
type deadLetterSink interface {
	Put(ctx context.Context, d *DeadLetter) error
	Close() error
}

// fileSink appends JSON lines and fsyncs each one. Every successful Put
// has written one whole line ending in '\n' and fsync'd it, so bytes after
// the file's last '\n' can only be a write that never succeeded (a crash
// mid-write): its record was not acknowledged and is delivered again.
type fileSink struct {
	mu   sync.Mutex
	path string
	f    *os.File
	// needNL: the file does not end with '\n' (a line cut short by a crash,
	// or a failed write that could not be undone); the next Put starts with
	// '\n' so the cut line stays on its own and the new one is whole.
	needNL bool
}

// openFileSink opens (or creates) the dead-letter file at path. The file
// holds record data: it is created 0600 (its folder 0700), never opened
// through a symbolic link (someone who can write to the folder could point
// one at another file), and an existing file must be a regular file owned
// by this user that no one else can read or write. A new file's folder is
// fsync'd so the file itself survives a crash.
func openFileSink(path string) (*fileSink, error) {
	dir := filepath.Dir(path)
	missing := missingDirs(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	for _, d := range missing {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return nil, fmt.Errorf("dead_letter file %s: fsync folder %s: %w", path, filepath.Dir(d), err)
		}
	}
	f, created, err := openPrivateAppend(path)
	if err != nil {
		return nil, err
	}
	s := &fileSink{path: path, f: f}
	if created {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("dead_letter file %s: fsync folder %s: %w", path, dir, err)
		}
		return s, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	if fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
			f.Close()
			return nil, fmt.Errorf("dead_letter file %s: reading its last line: %w", path, err)
		}
		s.needNL = last[0] != '\n'
	}
	return s, nil
}

// missingDirs lists dir and those of its parents that do not exist yet,
// deepest last.
func missingDirs(dir string) []string {
	var out []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		out = append([]string{d}, out...)
	}
	return out
}

// Put appends d as one line and fsyncs it. A write or fsync that fails is
// undone (the file is cut back to where it was) so a retry never leaves
// half a line glued to the next one.
func (s *fileSink) Put(ctx context.Context, d *DeadLetter) error {
	line, err := json.Marshal(d)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.needNL {
		line = append([]byte{'\n'}, line...)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("dead_letter file %s: %w", s.path, err)
	}
	_, err = s.f.Write(line)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if terr := s.f.Truncate(fi.Size()); terr != nil {
			s.needNL = true
		}
		return fmt.Errorf("dead_letter file %s: %w", s.path, err)
	}
	s.needNL = false
	return nil
}

func (s *fileSink) Close() error { return s.f.Close() }

// KinesisPutter is the call a dead-letter stream needs; *kinesis.Client
// has it.
type KinesisPutter interface {
	PutRecord(ctx context.Context, in *kinesis.PutRecordInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// streamSink puts each dead letter (as JSON) into another Kinesis stream,
// keeping the record's partition key.
type streamSink struct {
	api    KinesisPutter
	stream string
}

func (s *streamSink) Put(ctx context.Context, d *DeadLetter) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if len(data) > 1<<20 {
		return fmt.Errorf("dead letter of %d bytes exceeds the 1 MiB Kinesis record limit; use a dead_letter file for this handler", len(data))
	}
	pk := d.PartitionKey
	if pk == "" {
		pk = d.ShardID
	}
	_, err = s.api.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.stream), PartitionKey: aws.String(pk), Data: data})
	return err
}

func (s *streamSink) Close() error { return nil }

func openDeadLetterSink(cfg *DeadLetterConfig, api KinesisAPI) (deadLetterSink, error) {
	switch {
	case cfg == nil:
		return nil, nil
	case cfg.File != "":
		return openFileSink(cfg.File)
	case cfg.Stream != "":
		p, ok := api.(KinesisPutter)
		if !ok {
			return nil, errors.New("dead_letter stream: the Kinesis client in use cannot PutRecord")
		}
		return &streamSink{api: p, stream: cfg.Stream}, nil
	}
	return nil, nil
}

func newDeadLetter(app, stream, shard, handler string, r shared.Record, e *shared.Error, attempts int) *DeadLetter {
	return &DeadLetter{
		App: app, Stream: stream, ShardID: shard, SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber,
		PartitionKey: r.PartitionKey, Data: r.Data, ArrivalTimestamp: r.ApproximateArrivalTimestamp, Handler: handler,
		ErrorCode: string(e.Code), Error: e.Message, Attempts: attempts, DeadLetteredAt: time.Now().UTC(),
	}
}
