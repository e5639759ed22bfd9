package testenv

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %q: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "kinesalite.js")); err != nil {
		t.Fatalf("RepoRoot() = %q has no scripts/kinesalite.js: %v", root, err)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("REDIS_ADDR", "")
	t.Setenv("PG_DSN", "")
	if got := RedisAddr(); got != "127.0.0.1:6379" {
		t.Errorf("RedisAddr() = %q", got)
	}
	if got := PostgresDSN(); got != "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" {
		t.Errorf("PostgresDSN() = %q", got)
	}
	t.Setenv("REDIS_ADDR", "127.0.0.1:16379")
	t.Setenv("PG_DSN", "postgres://x@127.0.0.1:15432/db")
	if got := RedisAddr(); got != "127.0.0.1:16379" {
		t.Errorf("RedisAddr() with env = %q", got)
	}
	if got := PostgresDSN(); got != "postgres://x@127.0.0.1:15432/db" {
		t.Errorf("PostgresDSN() with env = %q", got)
	}
}

// roundTrip creates a 2-shard stream, puts a record and reads it back.
func roundTrip(t *testing.T, endpoint string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kc := KinesisClient(endpoint)

	const stream = "testenv-stream"
	if err := CreateStream(ctx, kc, stream, 2); err != nil {
		t.Fatal(err)
	}
	// Creating it again is not an error.
	if err := CreateStream(ctx, kc, stream, 2); err != nil {
		t.Fatalf("second CreateStream: %v", err)
	}
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if len(shards.Shards) != 2 {
		t.Fatalf("got %d shards, want 2", len(shards.Shards))
	}

	data := []byte(`{"n":1,"msg":"hello"}`)
	put, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String(stream),
		PartitionKey: aws.String("pk-1"),
		Data:         data,
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(stream),
		ShardId:           put.ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	iter := it.ShardIterator
	for i := 0; i < 20 && iter != nil; i++ {
		got, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Records {
			if aws.ToString(r.SequenceNumber) == aws.ToString(put.SequenceNumber) {
				if !bytes.Equal(r.Data, data) || aws.ToString(r.PartitionKey) != "pk-1" {
					t.Fatalf("record = %q key %q, want %q key pk-1", r.Data, aws.ToString(r.PartitionKey), data)
				}
				return
			}
		}
		iter = got.NextShardIterator
	}
	t.Fatalf("record %s not found on %s", aws.ToString(put.SequenceNumber), aws.ToString(put.ShardId))
}

func TestKinesalite(t *testing.T) {
	ep := StartKinesalite(t)
	roundTrip(t, ep)
}

func TestKinesisMock(t *testing.T) {
	ep := StartKinesisMock(t)
	roundTrip(t, ep)
}

func TestDynalite(t *testing.T) {
	ep := StartDynalite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dc := DynamoClient(ep)

	const table = "testenv-table"
	_, err := dc.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, err := dc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Table.TableStatus == ddbtypes.TableStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	_, err = dc.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			"pk":  &ddbtypes.AttributeValueMemberS{Value: "shard-0001"},
			"seq": &ddbtypes.AttributeValueMemberS{Value: "42"},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same conditional put now fails.
	_, err = dc.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(table),
		Item:                map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "shard-0001"}},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second conditional put: err = %v, want ConditionalCheckFailedException", err)
	}

	got, err := dc.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "shard-0001"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, ok := got.Item["seq"].(*ddbtypes.AttributeValueMemberS)
	if !ok || seq.Value != "42" {
		t.Fatalf("GetItem = %#v, want seq 42", got.Item)
	}
}

// TestLaunchStop checks the TestMain variant: stop ends the process, and
// calling it twice is fine.
func TestLaunchStop(t *testing.T) {
	ep, stop, err := LaunchKinesalite()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Post(ep, "application/x-amz-json-1.1", bytes.NewReader([]byte("{}")))
	if err != nil {
		stop()
		t.Fatalf("endpoint %s does not answer: %v", ep, err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	stop()
	stop()
	if _, err := client.Post(ep, "application/x-amz-json-1.1", bytes.NewReader([]byte("{}"))); err == nil {
		t.Fatalf("endpoint %s still answers after stop", ep)
	}
}

// TestMissingEmulatorFails checks the message a developer without the
// emulators installed sees.
func TestMissingEmulatorFails(t *testing.T) {
	err := checkInstalled(t.TempDir(), "kinesalite", "kinesalite/package.json")
	if err == nil {
		t.Fatal("checkInstalled on an empty dir succeeded")
	}
	if !bytes.Contains([]byte(err.Error()), []byte("make test")) ||
		!bytes.Contains([]byte(err.Error()), []byte("scripts/install-emulators.sh")) {
		t.Fatalf("message does not say how to install: %v", err)
	}
}
