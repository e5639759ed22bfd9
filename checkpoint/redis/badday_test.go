package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-host/kinesis-host/checkpoint/redis"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
	"github.com/kinesis-host/kinesis-host/shared"
)

// A key of the wrong type (issue 8 item 4) fails alone, with an error that
// names the keys to fix and is not "unavailable" (retrying it cannot
// help); the other writes of the same batch are stored.
func TestWrongTypeKeyFailsAlone(t *testing.T) {
	s, prefix := open(t)
	raw := rawClient(t)
	ctx := context.Background()
	bad := sdk.CheckpointKey{App: "poison", Stream: "s", ShardID: "shard-bad"}
	good := sdk.CheckpointKey{App: "poison", Stream: "s", ShardID: "shard-good"}
	mainKey, metaKey := redis.Keys(prefix, bad)
	if err := raw.HSet(ctx, mainKey, "oops", "1").Err(); err != nil { // a hash where a string belongs
		t.Fatal(err)
	}
	errs := s.SetBatch(ctx, []sdk.CheckpointUpdate{
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "10"}},
		{Key: good, Checkpoint: sdk.Checkpoint{SequenceNumber: "20"}},
	})
	if errs[1] != nil {
		t.Fatalf("the healthy key failed beside the wrong-type key: %v", errs[1])
	}
	if errs[0] == nil || errors.Is(errs[0], sdk.ErrUnavailable) || !strings.Contains(errs[0].Error(), "WRONGTYPE") ||
		!strings.Contains(errs[0].Error(), mainKey) || !strings.Contains(errs[0].Error(), metaKey) {
		t.Fatalf("wrong-type key: err = %v; want a non-retryable error naming %s and %s", errs[0], mainKey, metaKey)
	}
	if cp, found, err := s.Get(ctx, good); err != nil || !found || cp.SequenceNumber != "20" {
		t.Fatalf("Get(good) = %+v, %v, %v", cp, found, err)
	}
	// Through the plugin boundary: a per-key code that is not unavailable.
	res := sdk.NewCheckpointServer(s).Set(ctx, &shared.CheckpointSetRequest{Updates: []sdk.CheckpointUpdate{
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "11"}},
		{Key: good, Checkpoint: sdk.Checkpoint{SequenceNumber: "21"}},
	}})
	if res.Results[1].Code != "" || res.Results[0].Code == "" || res.Results[0].Code == shared.CodeUnavailable {
		t.Fatalf("plugin Set results %+v; want the bad key failing with a non-unavailable code and the good one ok", res.Results)
	}
	// Get of that key is an error too, never "no checkpoint".
	if _, found, err := s.Get(ctx, bad); err == nil || found || errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Get(bad) = found %v, err %v; want a non-retryable error", found, err)
	}
	// Fixed (deleted), the key is written again.
	raw.Del(ctx, mainKey, metaKey)
	if err := s.Set(ctx, bad, sdk.Checkpoint{SequenceNumber: "12"}); err != nil {
		t.Fatalf("Set after the key was deleted: %v", err)
	}
}

// A Redis that stalls (issue 8 item 7: SIGSTOP, a black-holing network)
// is answered "unavailable" well inside the host's call timeout, from Get,
// Set and Configure, and the store works again once the server answers.
func TestStalledServerAnswersUnavailable(t *testing.T) {
	proxy := storetest.NewStallProxy(t, redisAddr())
	prefix := "kht-test-" + storetest.RunID() + ":"
	t.Cleanup(func() { deletePrefix(t, prefix) })
	settings, _ := json.Marshal(map[string]any{"address": proxy.Addr, "key_prefix": prefix})
	s := redis.New()
	if err := s.Configure(context.Background(), sdk.Config{App: "test", Name: "redis", JSON: settings}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	k := sdk.CheckpointKey{App: "stall", Stream: "s", ShardID: "shard-0"}
	if err := s.Set(context.Background(), k, sdk.Checkpoint{SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}

	proxy.Stall()
	const callTimeout = 4 * time.Second
	storetest.AssertAnswersWhileStalled(t, s, k, callTimeout)
	storetest.AssertConfigureWhileStalled(t, redis.New(), settings, callTimeout)
	proxy.Resume()

	storetest.AssertRecovers(t, s, k, sdk.Checkpoint{SequenceNumber: "6"}, 30*time.Second)
}
