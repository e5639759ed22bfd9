package dynamodb_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

func TestLeases(t *testing.T) {
	storetest.RunLeasesWith(t, func(t *testing.T) sdk.Store { return open(t, nil) }, storetest.Options{SeedSequence: seedSequence()})
}

// TestLeaseLayout checks where the lease lives in an item and that seed
// items and seed readers are unaffected.
func TestLeaseLayout(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	s := open(t, nil)
	const app, stream = "leaselayout", "orders"
	key := func(shard string) sdk.CheckpointKey {
		return sdk.CheckpointKey{App: app, Stream: stream, ShardID: shard}
	}
	putSeedItem(t, ctx, raw, app, stream, "shardId-0", "100")
	putSeedItem(t, ctx, raw, app, stream+"x", "shardId-1", "7")
	putSeedItem(t, ctx, raw, app+"x", stream, "shardId-2", "7")

	rows, err := s.ListLeases(ctx, app, stream)
	if err != nil || len(rows) != 1 || rows[0] != (sdk.LeaseRow{ShardID: "shardId-0", Checkpoint: sdk.Checkpoint{SequenceNumber: "100"}}) {
		t.Fatalf("ListLeases over a seed item = %+v, %v; want the one seed item of the namespace", rows, err)
	}
	// A take of a seed item (no owner, no lease_counter) leaves its
	// sequence_number alone.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), Owner: "h1"}, {Key: key("shardId-5"), Owner: "h1"}}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	item := getRaw(t, ctx, raw, app, stream, "shardId-0")
	if v, ok := item["sequence_number"].(*types.AttributeValueMemberS); !ok || v.Value != "100" {
		t.Fatalf("after a take sequence_number = %#v, want the seed's \"100\"", item["sequence_number"])
	}
	if _, ok := item["position"]; ok {
		t.Fatal("a take without a checkpoint converted the seed item")
	}
	if v, ok := item["owner"].(*types.AttributeValueMemberS); !ok || v.Value != "h1" {
		t.Fatalf("owner = %#v", item["owner"])
	}
	if v, ok := item["lease_counter"].(*types.AttributeValueMemberN); !ok || v.Value != "1" {
		t.Fatalf("lease_counter = %#v", item["lease_counter"])
	}
	// A lease without a position has no sequence_number: seed readers see
	// no checkpoint.
	item = getRaw(t, ctx, raw, app, stream, "shardId-5")
	if _, ok := item["sequence_number"]; ok {
		t.Fatalf("a lease without a position wrote sequence_number: %v", item)
	}
	// A checkpoint through the lease on the seed item: forward only, as a
	// string for seed readers.
	errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{
		{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 1, Owner: "h1", Checkpoint: &sdk.Checkpoint{SequenceNumber: "99"}},
		{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 2, Owner: "h1", Checkpoint: &sdk.Checkpoint{SequenceNumber: "150"}},
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	item = getRaw(t, ctx, raw, app, stream, "shardId-0")
	if v, ok := item["sequence_number"].(*types.AttributeValueMemberS); !ok || v.Value != "150" {
		t.Fatalf("after a lease checkpoint sequence_number = %#v, want \"150\"", item["sequence_number"])
	}
	wantGet(t, ctx, s, key("shardId-0"), sdk.Checkpoint{SequenceNumber: "150", Owner: "h1", LeaseCounter: 3})
	// Release removes the owner attribute.
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 3}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, ok := getRaw(t, ctx, raw, app, stream, "shardId-0")["owner"]; ok {
		t.Fatal("a release left the owner attribute")
	}
	// A seed item holds no lease: expecting one is a conflict.
	putSeedItem(t, ctx, raw, app, stream, "shardId-seed", "1")
	errs = s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-seed"), ExpectOwner: "x", ExpectCounter: 1, Owner: "h"}})
	if !errors.Is(errs[0], sdk.ErrConflict) || !strings.Contains(errs[0].Error(), `held by "" at counter 0`) {
		t.Fatalf("a take of a seed item expecting a lease = %v; want a conflict naming no owner and counter 0", errs[0])
	}
	// A lease attribute of the wrong type is an error naming the item.
	if _, err := raw.UpdateItem(ctx, &awsddb.UpdateItemInput{
		TableName: aws.String(sharedTable),
		Key: map[string]types.AttributeValue{
			"namespace": &types.AttributeValueMemberS{Value: app + "-" + stream},
			"shard_id":  &types.AttributeValueMemberS{Value: "shardId-seed"},
		},
		UpdateExpression:          aws.String("SET lease_counter = :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "x"}},
	}); err != nil {
		t.Fatal(err)
	}
	errs = s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-seed"), Owner: "h"}})
	if errs[0] == nil || errors.Is(errs[0], sdk.ErrConflict) || errors.Is(errs[0], sdk.ErrUnavailable) || !strings.Contains(errs[0].Error(), `shard_id="shardId-seed"`) {
		t.Fatalf("a take of an item with a bad lease_counter = %v; want a plain error naming the item", errs[0])
	}
	// One unreadable item is reported on its own row; it does not hide the
	// others.
	rows, err = s.ListLeases(ctx, app, stream)
	if err != nil {
		t.Fatalf("ListLeases over an item with a bad lease_counter: %v; want the rows, that one with its error", err)
	}
	var bad *sdk.LeaseRow
	for i := range rows {
		if rows[i].ShardID == "shardId-seed" {
			bad = &rows[i]
		}
	}
	if bad == nil || bad.Err == nil || !strings.Contains(bad.Err.Error(), `shard_id="shardId-seed"`) {
		t.Fatalf("ListLeases over an item with a bad lease_counter: row %+v; want its error naming the item", bad)
	}
}

// allOldProxy forwards to dynalite and adds to each
// ConditionalCheckFailedException the item the condition failed on, as
// DynamoDB does with ReturnValuesOnConditionCheckFailure = ALL_OLD
// (dynalite does not). It counts the GetItem calls of the store.
type allOldProxy struct {
	srv    *httptest.Server
	gets   atomic.Int64
	writes atomic.Int64
}

func newAllOldProxy(t *testing.T) *allOldProxy {
	p := &allOldProxy{}
	forward := func(r *http.Request, target string, body []byte) (int, []byte, error) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		for _, h := range []string{"Authorization", "X-Amz-Date", "Content-Type"} {
			req.Header.Set(h, r.Header.Get(h))
		}
		req.Header.Set("X-Amz-Target", target)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		body, _ := io.ReadAll(r.Body)
		op := target[strings.LastIndex(target, ".")+1:]
		switch op {
		case "GetItem":
			p.gets.Add(1)
		case "UpdateItem", "DeleteItem":
			p.writes.Add(1)
		}
		code, out, err := forward(r, target, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if (op == "UpdateItem" || op == "DeleteItem") && bytes.Contains(out, []byte("ConditionalCheckFailedException")) {
			var in struct {
				TableName string
				Key       json.RawMessage
			}
			_ = json.Unmarshal(body, &in)
			get, _ := json.Marshal(map[string]any{"TableName": in.TableName, "Key": in.Key, "ConsistentRead": true})
			if _, got, err := forward(r, "DynamoDB_20120810.GetItem", get); err == nil {
				var item struct{ Item json.RawMessage }
				_ = json.Unmarshal(got, &item)
				var e map[string]any
				if json.Unmarshal(out, &e) == nil && len(item.Item) > 0 {
					e["Item"] = item.Item
					out, _ = json.Marshal(e)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Requestid", "allold")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
		w.WriteHeader(code)
		_, _ = w.Write(out)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestLeaseUsesFailedItem: with DynamoDB's ALL_OLD answer to a failed
// condition, a conflict costs one write and no read, and a renew whose
// position is not forward costs two writes and no read.
func TestLeaseUsesFailedItem(t *testing.T) {
	ctx := ctxT(t)
	p := newAllOldProxy(t)
	s := open(t, map[string]any{"endpoint": p.srv.URL})
	k := sdk.CheckpointKey{App: "allold", Stream: "s", ShardID: "shardId-0"}
	pos := func(seq string) *sdk.Checkpoint { return &sdk.Checkpoint{SequenceNumber: seq} }
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{
		{Key: k, Owner: "h1", Checkpoint: pos("100")},
	}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	for _, c := range []struct {
		name         string
		u            sdk.LeaseUpdate
		conflict     bool
		writes, gets int64
	}{
		{"conflict", sdk.LeaseUpdate{Key: k, ExpectOwner: "h0", ExpectCounter: 1, Owner: "h2"}, true, 1, 0},
		{"conflict with a checkpoint", sdk.LeaseUpdate{Key: k, ExpectOwner: "h0", ExpectCounter: 1, Owner: "h2", Checkpoint: pos("200")}, true, 1, 0},
		{"conflict of a delete", sdk.LeaseUpdate{Key: k, ExpectOwner: "h0", ExpectCounter: 1, Delete: true}, true, 1, 0},
		{"renew at the stored position", sdk.LeaseUpdate{Key: k, ExpectOwner: "h1", ExpectCounter: 1, Owner: "h1", Checkpoint: pos("100")}, false, 2, 0},
		{"renew behind the stored position", sdk.LeaseUpdate{Key: k, ExpectOwner: "h1", ExpectCounter: 2, Owner: "h1", Checkpoint: pos("50")}, false, 2, 0},
		{"renew forward", sdk.LeaseUpdate{Key: k, ExpectOwner: "h1", ExpectCounter: 3, Owner: "h1", Checkpoint: pos("101")}, false, 1, 0},
	} {
		p.gets.Store(0)
		p.writes.Store(0)
		err := s.UpdateLeases(ctx, []sdk.LeaseUpdate{c.u})[0]
		if c.conflict != errors.Is(err, sdk.ErrConflict) || (!c.conflict && err != nil) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.conflict && !strings.Contains(err.Error(), `"h1" at counter`) {
			t.Fatalf("%s: the conflict does not name the stored lease: %v", c.name, err)
		}
		if p.writes.Load() != c.writes || p.gets.Load() != c.gets {
			t.Fatalf("%s: %d writes and %d reads; want %d and %d", c.name, p.writes.Load(), p.gets.Load(), c.writes, c.gets)
		}
	}
	wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: "101", Owner: "h1", LeaseCounter: 4})
}

// TestLeaseInterleavings forces the races a lease write with a position
// must survive: between its failed first write (on a seed item, or at the
// stored position) and its next write, another writer changes the item.
func TestLeaseInterleavings(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	p := newFaultProxy(t)
	a := open(t, map[string]any{"endpoint": p.srv.URL}) // through the proxy
	b := open(t, nil)                                   // straight to dynalite
	const app, stream = "leaseinterleave", "s"
	seed := func(t *testing.T, k sdk.CheckpointKey) sdk.LeaseUpdate {
		putSeedItem(t, ctx, raw, app, stream, k.ShardID, "100")
		return sdk.LeaseUpdate{Key: k, Owner: "h", Checkpoint: &sdk.Checkpoint{SequenceNumber: "300"}}
	}
	leased := func(t *testing.T, k sdk.CheckpointKey) sdk.LeaseUpdate {
		if errs := b.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: k, Owner: "h", Checkpoint: &sdk.Checkpoint{SequenceNumber: "100"}}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		return sdk.LeaseUpdate{Key: k, ExpectOwner: "h", ExpectCounter: 1, Owner: "h", Checkpoint: &sdk.Checkpoint{SequenceNumber: "100"}}
	}
	set := func(seq string) func(sdk.CheckpointKey) error {
		return func(k sdk.CheckpointKey) error { return b.Set(ctx, k, sdk.Checkpoint{SequenceNumber: seq}) }
	}
	cases := []struct {
		name     string
		setup    func(t *testing.T, k sdk.CheckpointKey) sdk.LeaseUpdate
		other    func(k sdk.CheckpointKey) error // runs before our second write
		conflict bool
		want     sdk.Checkpoint
	}{
		// A take with a checkpoint of a seed item: the first write fails
		// (the item has no position), the second is guarded by the seed's
		// sequence_number, which a plain Set changes first.
		{"seed converted behind ours", seed, set("150"), false, sdk.Checkpoint{SequenceNumber: "300", Owner: "h", LeaseCounter: 1}},
		{"seed converted past ours", seed, set("500"), false, sdk.Checkpoint{SequenceNumber: "500", Owner: "h", LeaseCounter: 1}},
		{"seed taken by another", seed, func(k sdk.CheckpointKey) error {
			return b.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: k, Owner: "other"}})[0]
		}, true, sdk.Checkpoint{SequenceNumber: "100", Owner: "other", LeaseCounter: 1}},
		// A renew at the stored position: the second write (lease only) is
		// guarded by the stored position, which a plain Set moves first.
		{"position moved", leased, set("500"), false, sdk.Checkpoint{SequenceNumber: "500", Owner: "h", LeaseCounter: 2}},
		{"lease taken", leased, func(k sdk.CheckpointKey) error {
			return b.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: k, ExpectOwner: "h", ExpectCounter: 1, Owner: "other"}})[0]
		}, true, sdk.Checkpoint{SequenceNumber: "100", Owner: "other", LeaseCounter: 2}},
		{"item deleted", leased, func(k sdk.CheckpointKey) error {
			return b.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: k, ExpectOwner: "h", ExpectCounter: 1, Delete: true}})[0]
		}, true, sdk.Checkpoint{}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: fmt.Sprint("shard-", i)}
			u := c.setup(t, k)
			var calls atomic.Int64
			var fired atomic.Bool
			errc := make(chan error, 1)
			hook := func(op string) {
				if op == "UpdateItem" && calls.Add(1) == 2 {
					fired.Store(true)
					errc <- c.other(k)
				}
			}
			p.before.Store(&hook)
			defer p.before.Store(nil)
			err := a.UpdateLeases(ctx, []sdk.LeaseUpdate{u})[0]
			if !fired.Load() {
				t.Fatalf("the interleaving did not happen (%d UpdateItem calls)", calls.Load())
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if c.conflict != errors.Is(err, sdk.ErrConflict) || (!c.conflict && err != nil) {
				t.Fatalf("UpdateLeases = %v; want conflict %v", err, c.conflict)
			}
			if c.want == (sdk.Checkpoint{}) {
				rows, err := b.ListLeases(ctx, app, stream)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.ShardID == k.ShardID {
						t.Fatalf("after the delete ListLeases has %+v", r)
					}
				}
				return
			}
			wantGet(t, ctx, b, k, c.want)
		})
	}
}
