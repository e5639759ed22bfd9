package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/checkpoint/dynamodb"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
	"github.com/kinesis-host/kinesis-host/shared"
)

// An item with an attribute of the wrong type (issue 8 item 4) fails
// alone, with an error that names the item and is not "unavailable"; the
// other writes of the same batch are stored.
func TestWrongTypeItemFailsAlone(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	s := open(t, nil)
	app := "poison" + storetest.RunID()
	bad := sdk.CheckpointKey{App: app, Stream: "s", ShardID: "shard-bad"}
	good := sdk.CheckpointKey{App: app, Stream: "s", ShardID: "shard-good"}
	if _, err := raw.PutItem(ctx, &awsddb.PutItemInput{
		TableName: aws.String(sharedTable),
		Item: map[string]types.AttributeValue{
			"namespace":       &types.AttributeValueMemberS{Value: app + "-s"},
			"shard_id":        &types.AttributeValueMemberS{Value: "shard-bad"},
			"sequence_number": &types.AttributeValueMemberS{Value: "5"},
			"position":        &types.AttributeValueMemberN{Value: "5"}, // must be a string
		},
	}); err != nil {
		t.Fatal(err)
	}
	errs := s.SetBatch(ctx, []sdk.CheckpointUpdate{
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "10"}},
		{Key: good, Checkpoint: sdk.Checkpoint{SequenceNumber: "20"}},
	})
	if errs[1] != nil {
		t.Fatalf("the healthy key failed beside the wrong-type item: %v", errs[1])
	}
	if errs[0] == nil || errors.Is(errs[0], sdk.ErrUnavailable) || !strings.Contains(errs[0].Error(), `shard_id="shard-bad"`) {
		t.Fatalf("wrong-type item: err = %v; want a non-retryable error naming the item", errs[0])
	}
	wantGet(t, ctx, s, good, sdk.Checkpoint{SequenceNumber: "20"})
	res := sdk.NewCheckpointServer(s).Set(ctx, &shared.CheckpointSetRequest{Updates: []sdk.CheckpointUpdate{
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "11"}},
		{Key: good, Checkpoint: sdk.Checkpoint{SequenceNumber: "21"}},
	}})
	if res.Results[1].Code != "" || res.Results[0].Code == "" || res.Results[0].Code == shared.CodeUnavailable {
		t.Fatalf("plugin Set results %+v; want the bad item failing with a non-unavailable code and the good one ok", res.Results)
	}
}

// SHARD_END keeps sequence_number (issue 8 item 6): seed readers know
// nothing of shard_end and still see the shard's last position.
func TestShardEndKeepsSequenceNumber(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	s := open(t, nil)
	app := "end" + storetest.RunID()
	k := sdk.CheckpointKey{App: app, Stream: "s", ShardID: "shardId-0"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "4711", SubSequenceNumber: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, k, sdk.Checkpoint{ShardEnd: true}); err != nil {
		t.Fatal(err)
	}
	item := getRaw(t, ctx, raw, app, "s", "shardId-0")
	if v, ok := item["sequence_number"].(*types.AttributeValueMemberS); !ok || v.Value != "4711" {
		t.Fatalf("after SHARD_END the item's sequence_number is %#v; want \"4711\" kept", item["sequence_number"])
	}
	if v, ok := item["shard_end"].(*types.AttributeValueMemberBOOL); !ok || !v.Value {
		t.Fatalf("after SHARD_END the item's shard_end is %#v", item["shard_end"])
	}
	wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: "4711", SubSequenceNumber: 2, ShardEnd: true})
}

// A DynamoDB endpoint that stalls (issue 8 item 7) is answered
// "unavailable" well inside the host's call timeout, from Get, Set and
// Configure, and the store works again once the endpoint answers.
func TestStalledEndpointAnswersUnavailable(t *testing.T) {
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.NewStallProxy(t, u.Host)
	ep := "http://" + proxy.Addr
	s := open(t, map[string]any{"endpoint": ep})
	k := sdk.CheckpointKey{App: "stall" + storetest.RunID(), Stream: "s", ShardID: "shardId-0"}
	if err := s.Set(context.Background(), k, sdk.Checkpoint{SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	const callTimeout = 4 * time.Second
	storetest.AssertAnswersWhileStalled(t, s, k, callTimeout)
	raw, _ := json.Marshal(map[string]any{"table": sharedTable, "endpoint": ep, "access_key_id": "AKIDTEST", "secret_access_key": "test-secret"})
	storetest.AssertConfigureWhileStalled(t, dynamodb.New(), raw, callTimeout)
	proxy.Resume()
	storetest.AssertRecovers(t, s, k, sdk.Checkpoint{SequenceNumber: "6"}, 30*time.Second)
}
