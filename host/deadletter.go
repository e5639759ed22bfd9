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

// fileSink appends JSON lines and fsyncs each one.
type fileSink struct {
	mu sync.Mutex
	f  *os.File
}

func openFileSink(path string) (*fileSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dead_letter file %s: %w", path, err)
	}
	return &fileSink{f: f}, nil
}

func (s *fileSink) Put(ctx context.Context, d *DeadLetter) error {
	line, err := json.Marshal(d)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return s.f.Sync()
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
