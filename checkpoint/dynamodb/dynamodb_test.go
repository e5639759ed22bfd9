package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/checkpoint/dynamodb"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

// endpoint is the package's fresh dynalite, started by TestMain.
var endpoint string

// sharedTable is created once by TestMain (through create_table).
const sharedTable = "kinesis_checkpoints"

func TestMain(m *testing.M) {
	// Keep the developer's AWS setup out of the tests.
	dir, err := os.MkdirTemp("", "ddbtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
	} {
		os.Setenv(k, v)
	}
	ep, stop, err := testenv.LaunchDynalite()
	if err != nil {
		// A missing emulator is a broken setup, not a reason to pass.
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	endpoint = ep
	s := dynamodb.New()
	if err := s.Configure(context.Background(), config(map[string]any{"create_table": true})); err != nil {
		fmt.Fprintln(os.Stderr, "create the shared table:", err)
		stop()
		os.RemoveAll(dir)
		os.Exit(1)
	}
	_ = s.Close(context.Background())
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// config builds a Config for the package's dynalite with static dummy
// credentials; extra overrides or adds settings (nil values delete them).
func config(extra map[string]any) sdk.Config {
	m := map[string]any{
		"table":             sharedTable,
		"endpoint":          endpoint,
		"access_key_id":     "AKIDTEST",
		"secret_access_key": "test-secret",
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	raw, _ := json.Marshal(m)
	return sdk.Config{App: "test", Name: "ddb", JSON: raw}
}

func open(t testing.TB, extra map[string]any) *dynamodb.Store {
	t.Helper()
	s := dynamodb.New()
	if err := s.Configure(context.Background(), config(extra)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T) sdk.Store { return open(t, nil) }, storetest.Options{SeedSequence: seedSequence()})
}

// seedSequence reads what harlow/kinesis-consumer's store/ddb reads:
// sequence_number.
func seedSequence() func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
	raw := testenv.DynamoClient(endpoint)
	return func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
		out, err := raw.GetItem(ctx, &awsddb.GetItemInput{
			TableName:      aws.String(sharedTable),
			Key:            map[string]types.AttributeValue{"namespace": &types.AttributeValueMemberS{Value: k.App + "-" + k.Stream}, "shard_id": &types.AttributeValueMemberS{Value: k.ShardID}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return "", err
		}
		if v, ok := out.Item["sequence_number"].(*types.AttributeValueMemberS); ok {
			return v.Value, nil
		}
		return "", nil
	}
}

// TestConformanceEventualRead runs the suite with consistent_read = false
// (dynalite is always consistent; this checks the setting is accepted and
// that writes, which always read consistently, stay correct).
func TestConformanceEventualRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return open(t, map[string]any{"consistent_read": false}) })
}

// putSeedItem writes an item exactly as harlow/kinesis-consumer's
// store/ddb does: namespace, shard_id and sequence_number, all strings.
func putSeedItem(t *testing.T, ctx context.Context, c *awsddb.Client, app, stream, shard, seq string) {
	t.Helper()
	_, err := c.PutItem(ctx, &awsddb.PutItemInput{
		TableName: aws.String(sharedTable),
		Item: map[string]types.AttributeValue{
			"namespace":       &types.AttributeValueMemberS{Value: app + "-" + stream},
			"shard_id":        &types.AttributeValueMemberS{Value: shard},
			"sequence_number": &types.AttributeValueMemberS{Value: seq},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, ctx context.Context, c *awsddb.Client, app, stream, shard string) map[string]types.AttributeValue {
	t.Helper()
	out, err := c.GetItem(ctx, &awsddb.GetItemInput{
		TableName: aws.String(sharedTable),
		Key: map[string]types.AttributeValue{
			"namespace": &types.AttributeValueMemberS{Value: app + "-" + stream},
			"shard_id":  &types.AttributeValueMemberS{Value: shard},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func wantGet(t *testing.T, ctx context.Context, s sdk.Store, k sdk.CheckpointKey, want sdk.Checkpoint) {
	t.Helper()
	got, found, err := s.Get(ctx, k)
	if err != nil || !found || got != want {
		t.Fatalf("Get(%v) = %+v, found=%v, err=%v; want %+v", k, got, found, err, want)
	}
}

// TestSeedItemPickup: a checkpoint written in the seed's layout is read,
// is not moved backwards and is moved forward, directly and through the
// plugin boundary.
func TestSeedItemPickup(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	const (
		app    = "seedapp"
		stream = "orders"
		seq    = "49590338271490256608559692538361571095921575989136588898"
		lower  = "49590338271490256608559692538361571095921575989136588897"
		higher = "49590338271490256608559692538361571095921575989136588899"
	)
	for _, variant := range []string{"direct", "plugin"} {
		t.Run(variant, func(t *testing.T) {
			var s sdk.Store = open(t, nil)
			if variant == "plugin" {
				s = sdk.TestStore(t, s)
			}
			shard := "shardId-000000000001-" + variant
			k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: shard}
			putSeedItem(t, ctx, raw, app, stream, shard, seq)
			wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: seq})

			// Backwards (also by length, which string order would get wrong).
			for _, back := range []string{lower, "9", seq} {
				if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: back}); err != nil {
					t.Fatal(err)
				}
				wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: seq})
			}
			if _, ok := getRaw(t, ctx, raw, app, stream, shard)["position"]; ok {
				t.Fatal("a no-op write converted the seed item")
			}
			// Forward: the item is converted and keeps sequence_number as a string.
			if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: higher, SubSequenceNumber: 2}); err != nil {
				t.Fatal(err)
			}
			wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: higher, SubSequenceNumber: 2})
			item := getRaw(t, ctx, raw, app, stream, shard)
			if v, ok := item["sequence_number"].(*types.AttributeValueMemberS); !ok || v.Value != higher {
				t.Fatalf("sequence_number = %#v, want the string %s", item["sequence_number"], higher)
			}
			if _, ok := item["position"]; !ok {
				t.Fatal("converted item has no position")
			}
			if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: seq}); err != nil {
				t.Fatal(err)
			}
			wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: higher, SubSequenceNumber: 2})
		})
	}

	// A seed item with a shorter number than the new one: numeric, not
	// string, comparison ("10" > "9").
	t.Run("shorter", func(t *testing.T) {
		s := open(t, nil)
		k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: "shardId-short"}
		putSeedItem(t, ctx, raw, app, stream, k.ShardID, "9")
		if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "10"}); err != nil {
			t.Fatal(err)
		}
		wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: "10"})
	})

	// Shard end over a seed item.
	t.Run("shard end", func(t *testing.T) {
		s := open(t, nil)
		k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: "shardId-end"}
		putSeedItem(t, ctx, raw, app, stream, k.ShardID, seq)
		if err := s.Set(ctx, k, sdk.Checkpoint{ShardEnd: true}); err != nil {
			t.Fatal(err)
		}
		// The seed's sequence_number is kept (seed readers still see it).
		wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: seq, ShardEnd: true})
	})
}

// TestSeedItemRacingWriters: writers racing over a seed item (the
// read-compare-write fallback) still leave the maximum.
func TestSeedItemRacingWriters(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	s := open(t, nil)
	const app, stream = "seedrace", "orders"
	for round := 0; round < 5; round++ {
		shard := fmt.Sprintf("shardId-%d", round)
		k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: shard}
		putSeedItem(t, ctx, raw, app, stream, shard, "5000")
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Values both below and above the seed's 5000, different lengths.
				seq := fmt.Sprint(w*317 + round)
				if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: seq, Owner: fmt.Sprint("w", w)}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Set writes the position only; the (empty) lease stays.
		want := sdk.Checkpoint{SequenceNumber: fmt.Sprint(31*317 + round)}
		wantGet(t, ctx, s, k, want)
	}
}

// TestSeedItemInterleavings forces the races the fallback for seed items
// must survive: another writer converts the item, or deletes it, between
// our steps.
func TestSeedItemInterleavings(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	p := newFaultProxy(t)
	a := open(t, map[string]any{"endpoint": p.srv.URL}) // through the proxy
	b := open(t, nil)                                   // straight to dynalite
	const app, stream = "interleave", "s"
	cases := []struct {
		name  string
		op    string // before our n-th call of op ...
		n     int
		other func(k sdk.CheckpointKey) error // ... the other writer does this
		want  string
	}{
		// Our conditional write fails on the seed item; before we read it, B
		// converts it to an earlier position than ours: we must write again.
		{"converted earlier before read", "GetItem", 1, func(k sdk.CheckpointKey) error {
			return b.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "200"})
		}, "300"},
		{"converted later before read", "GetItem", 1, func(k sdk.CheckpointKey) error {
			return b.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "400"})
		}, "400"},
		// We read the seed item and write guarded by its old value; B
		// converts it first, so our guard fails and we try again.
		{"converted earlier before guarded write", "UpdateItem", 2, func(k sdk.CheckpointKey) error {
			return b.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "200"})
		}, "300"},
		{"converted later before guarded write", "UpdateItem", 2, func(k sdk.CheckpointKey) error {
			return b.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "1000"})
		}, "1000"},
		// The item disappears between our steps.
		{"deleted before read", "GetItem", 1, func(k sdk.CheckpointKey) error {
			_, err := raw.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String(sharedTable), Key: map[string]types.AttributeValue{
				"namespace": &types.AttributeValueMemberS{Value: app + "-" + stream},
				"shard_id":  &types.AttributeValueMemberS{Value: k.ShardID},
			}})
			return err
		}, "300"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := sdk.CheckpointKey{App: app, Stream: stream, ShardID: fmt.Sprint("shard-", i)}
			putSeedItem(t, ctx, raw, app, stream, k.ShardID, "100")
			var calls atomic.Int64
			var fired atomic.Bool
			errc := make(chan error, 1)
			hook := func(op string) {
				if op == c.op && calls.Add(1) == int64(c.n) {
					fired.Store(true)
					errc <- c.other(k)
				}
			}
			p.before.Store(&hook)
			defer p.before.Store(nil)
			if err := a.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "300"}); err != nil {
				t.Fatal(err)
			}
			if !fired.Load() {
				t.Fatalf("the interleaving did not happen (%d %s calls)", calls.Load(), c.op)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			wantGet(t, ctx, b, k, sdk.Checkpoint{SequenceNumber: c.want})
		})
	}
}

func wantConfigError(t *testing.T, err error, field string, contains ...string) {
	t.Helper()
	var se *sdk.Error
	if !errors.As(err, &se) || !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("err = %v (%T); want a ConfigError on %q", err, err, field)
	}
	if se.Field != field {
		t.Fatalf("ConfigError on %q (%v); want on %q", se.Field, err, field)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Fatalf("message %q does not contain %q", err, c)
		}
	}
	if strings.Contains(err.Error(), "test-secret") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("message %q contains the secret key", err)
	}
}

func TestMissingTable(t *testing.T) {
	s := dynamodb.New()
	err := s.Configure(ctxT(t), config(map[string]any{"table": "no_such_table"}))
	wantConfigError(t, err, "table", `table "no_such_table" does not exist in `+endpoint,
		"partition key namespace (S), sort key shard_id (S)", "create_table = true")
	// Through the plugin boundary, the field survives too.
	c := sdk.TestStore(t, dynamodb.New())
	err = c.Configure(ctxT(t), map[string]any{"table": "no_such_table", "endpoint": endpoint, "access_key_id": "a", "secret_access_key": "b"})
	wantConfigError(t, err, "table", "does not exist")
}

func TestCreateTable(t *testing.T) {
	ctx := ctxT(t)
	table := "created_" + storetest.RunID()
	s := open(t, map[string]any{"table": table, "create_table": true})
	out, err := testenv.DynamoClient(endpoint).DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		t.Fatalf("status %s after Configure", out.Table.TableStatus)
	}
	if out.Table.BillingModeSummary == nil || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("billing mode %+v, want PAY_PER_REQUEST", out.Table.BillingModeSummary)
	}
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "1"}); err != nil {
		t.Fatal(err)
	}
	wantGet(t, ctx, s, k, sdk.Checkpoint{SequenceNumber: "1"})
	// Configuring again with create_table on an existing table is fine.
	open(t, map[string]any{"table": table, "create_table": true})
}

func TestWrongShape(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	shapes := map[string]struct {
		attrs []types.AttributeDefinition
		keys  []types.KeySchemaElement
		desc  string
	}{
		"hash_only": {
			attrs: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			keys:  []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			desc:  "partition key id (S)",
		},
		"number_key": {
			attrs: []types.AttributeDefinition{
				{AttributeName: aws.String("namespace"), AttributeType: types.ScalarAttributeTypeN},
				{AttributeName: aws.String("shard_id"), AttributeType: types.ScalarAttributeTypeS},
			},
			keys: []types.KeySchemaElement{
				{AttributeName: aws.String("namespace"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("shard_id"), KeyType: types.KeyTypeRange},
			},
			desc: "partition key namespace (N), sort key shard_id (S)",
		},
		"swapped": {
			attrs: []types.AttributeDefinition{
				{AttributeName: aws.String("namespace"), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String("shard_id"), AttributeType: types.ScalarAttributeTypeS},
			},
			keys: []types.KeySchemaElement{
				{AttributeName: aws.String("shard_id"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("namespace"), KeyType: types.KeyTypeRange},
			},
			desc: "partition key shard_id (S), sort key namespace (S)",
		},
	}
	for name, sh := range shapes {
		t.Run(name, func(t *testing.T) {
			table := "wrong_" + name
			_, err := raw.CreateTable(ctx, &awsddb.CreateTableInput{
				TableName: aws.String(table), AttributeDefinitions: sh.attrs, KeySchema: sh.keys,
				BillingMode: types.BillingModePayPerRequest,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, create := range []bool{false, true} {
				err = dynamodb.New().Configure(ctx, config(map[string]any{"table": table, "create_table": create}))
				wantConfigError(t, err, "table", sh.desc, "partition key namespace (S) and sort key shard_id (S)")
			}
		})
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableEndpoint(t *testing.T) {
	ep := "http://" + closedPort(t)
	start := time.Now()
	err := dynamodb.New().Configure(ctxT(t), config(map[string]any{"endpoint": ep}))
	wantUnavailable(t, err, "cannot reach DynamoDB at "+ep)
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Configure took %v to report an unreachable endpoint", d)
	}
	// validate reaches the table too (read-only), so it reports the same.
	cfg := config(map[string]any{"endpoint": ep})
	cfg.ValidateOnly = true
	wantUnavailable(t, dynamodb.New().Configure(ctxT(t), cfg), "cannot reach DynamoDB at "+ep)
}

// wantUnavailable: an unreachable backend is not a configuration problem
// (the host retries it), and the message says where and what to check.
func wantUnavailable(t *testing.T, err error, contains ...string) {
	t.Helper()
	if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("err = %v (%T); want sdk.ErrUnavailable", err, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Fatalf("error %q does not contain %q", err, c)
		}
	}
}

// TestNotDynamoDB: an endpoint that answers HTTP but is not DynamoDB.
func TestNotDynamoDB(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>nothing here</html>", http.StatusNotFound)
	}))
	defer srv.Close()
	err := dynamodb.New().Configure(ctxT(t), config(map[string]any{"endpoint": srv.URL}))
	wantConfigError(t, err, "endpoint", srv.URL)
}

func TestBadCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-ErrorType", "UnrecognizedClientException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#UnrecognizedClientException","message":"The security token included in the request is invalid."}`)
	}))
	defer srv.Close()
	err := dynamodb.New().Configure(ctxT(t), config(map[string]any{"endpoint": srv.URL, "secret_access_key": "s3cr3t"}))
	wantConfigError(t, err, "access_key_id", "rejected the credentials", "secret_access_key")
}

func TestAccessDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User is not authorized to perform: dynamodb:DescribeTable"}`)
	}))
	defer srv.Close()
	err := dynamodb.New().Configure(ctxT(t), config(map[string]any{"endpoint": srv.URL}))
	wantConfigError(t, err, "table", "dynamodb:DescribeTable", "UpdateItem")
}

// TestNoCredentials: no static keys and nothing in the default chain.
func TestNoCredentials(t *testing.T) {
	start := time.Now()
	err := dynamodb.New().Configure(ctxT(t), config(map[string]any{"access_key_id": nil, "secret_access_key": nil}))
	wantConfigError(t, err, "access_key_id", "no usable AWS credentials", "access_key_id and secret_access_key")
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestBadSettings(t *testing.T) {
	cases := []struct {
		extra map[string]any
		field string
	}{
		{map[string]any{"table": "x"}, "table"},
		{map[string]any{"table": "has space"}, "table"},
		{map[string]any{"endpoint": "127.0.0.1:8000"}, "endpoint"},
		{map[string]any{"endpoint": "ftp://127.0.0.1:8000"}, "endpoint"},
		{map[string]any{"secret_access_key": nil}, "secret_access_key"},
		{map[string]any{"access_key_id": nil}, "access_key_id"},
		{map[string]any{"create_table": "yes"}, "create_table"},
		{map[string]any{"consistent_read": 1}, "consistent_read"},
		{map[string]any{"tabel": "x"}, "tabel"},
		{map[string]any{"region": "us east 1"}, "region"},
	}
	for _, c := range cases {
		for _, validate := range []bool{true, false} {
			cfg := config(c.extra)
			cfg.ValidateOnly = validate
			err := dynamodb.New().Configure(ctxT(t), cfg)
			wantConfigError(t, err, c.field)
		}
	}
}

func TestRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	// No endpoint and no region anywhere: a ConfigError, even when validating.
	cfg := config(map[string]any{"endpoint": nil})
	cfg.ValidateOnly = true
	wantConfigError(t, dynamodb.New().Configure(ctxT(t), cfg), "region", "AWS_REGION")
	// With an endpoint, us-east-1 is assumed.
	open(t, nil)
	// A region from the environment is used with AWS (validate with
	// create_table checks settings and credentials without calling AWS).
	t.Setenv("AWS_REGION", "eu-west-1")
	cfg = config(map[string]any{"endpoint": nil, "create_table": true})
	cfg.ValidateOnly = true
	if err := dynamodb.New().Configure(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
}

// faultProxy sits between the store and dynalite and fails data-plane
// calls on demand.
type faultProxy struct {
	srv  *httptest.Server
	mode atomic.Value // "", "500", "throttle", "drop"
	hits atomic.Int64
	// before, when set, runs before a request is forwarded, with its
	// operation name ("UpdateItem", ...).
	before atomic.Pointer[func(op string)]
}

func newFaultProxy(t *testing.T) *faultProxy {
	u, _ := url.Parse(endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultProxy{}
	p.mode.Store("")
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		mode := p.mode.Load().(string)
		if strings.HasSuffix(target, ".DescribeTable") && mode != "drop" {
			mode = ""
		}
		if mode != "" {
			p.hits.Add(1)
		}
		switch mode {
		case "500":
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"__type":"com.amazon.coral.service#InternalFailure","message":"injected"}`)
		case "throttle":
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`)
		case "drop":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			if f := p.before.Load(); f != nil {
				(*f)(target[strings.LastIndex(target, ".")+1:])
			}
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestBackendFailures: 5xx, throttling and a dropped connection are
// sdk.Unavailable (never "no checkpoint"), and the store recovers by itself.
func TestBackendFailures(t *testing.T) {
	p := newFaultProxy(t)
	s := open(t, map[string]any{"endpoint": p.srv.URL})
	ctx := ctxT(t)
	k := sdk.CheckpointKey{App: "faults", Stream: "s", ShardID: "shardId-0"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "100"}); err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"direct", "plugin"} {
		var st sdk.Store = s
		if variant == "plugin" {
			st = sdk.TestStore(t, s)
		}
		for _, mode := range []string{"500", "throttle", "drop"} {
			t.Run(variant+"/"+mode, func(t *testing.T) {
				p.mode.Store(mode)
				p.hits.Store(0)
				storetest.AssertDown(t, st, k)
				// An unknown key must fail too, not read as "no checkpoint".
				_, found, err := st.Get(ctx, sdk.CheckpointKey{App: "faults", Stream: "s", ShardID: "never-written"})
				storetest.AssertUnavailable(t, err)
				if found {
					t.Fatal("found=true with an error")
				}
				if mode != "drop" && p.hits.Load() < 2 {
					t.Fatalf("the SDK did not retry (%d calls)", p.hits.Load())
				}
				p.mode.Store("")
				storetest.AssertRecovers(t, st, k, sdk.Checkpoint{SequenceNumber: "101"}, 30*time.Second)
				wantGet(t, ctx, st, k, sdk.Checkpoint{SequenceNumber: "101"})
				// Nothing written while down moved it backwards ("1", "2").
				if err := st.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "100"}); err != nil {
					t.Fatal(err)
				}
				wantGet(t, ctx, st, k, sdk.Checkpoint{SequenceNumber: "101"})
			})
		}
	}
}

// TestCorruptItem: an item this store cannot read is an error that names
// the item, not "no checkpoint" and not a retryable failure.
func TestCorruptItem(t *testing.T) {
	ctx := ctxT(t)
	raw := testenv.DynamoClient(endpoint)
	putSeedItem(t, ctx, raw, "corrupt", "s", "x", "12ab")
	s := open(t, nil)
	k := sdk.CheckpointKey{App: "corrupt", Stream: "s", ShardID: "x"}
	_, found, err := s.Get(ctx, k)
	if err == nil || found || errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), `shard_id="x"`) {
		t.Fatalf("Get = found %v, err %v; want a non-retryable error naming the item", found, err)
	}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "5"}); err == nil {
		t.Fatal("Set over a corrupt item succeeded")
	}
}

// TestInvalidCheckpoint: the store refuses what it cannot order.
func TestInvalidCheckpoint(t *testing.T) {
	s := open(t, nil)
	k := sdk.CheckpointKey{App: "invalid", Stream: "s", ShardID: "x"}
	for _, cp := range []sdk.Checkpoint{
		{}, {SequenceNumber: "12a"}, {SequenceNumber: strings.Repeat("1", 129)}, {SequenceNumber: "1", SubSequenceNumber: -2}, // -1 (sdk.SubSequenceAt) is a rewound position
	} {
		if err := s.Set(ctxT(t), k, cp); err == nil {
			t.Errorf("Set(%+v) succeeded", cp)
		}
	}
	if _, found, err := s.Get(ctxT(t), k); err != nil || found {
		t.Fatalf("Get = %v, %v", found, err)
	}
}

func TestNotConfigured(t *testing.T) {
	s := dynamodb.New()
	k := sdk.CheckpointKey{App: "a", Stream: "s", ShardID: "x"}
	if _, _, err := s.Get(context.Background(), k); err == nil {
		t.Fatal("Get on an unconfigured store succeeded")
	}
	if err := s.Set(context.Background(), k, sdk.Checkpoint{SequenceNumber: "1"}); err == nil {
		t.Fatal("Set on an unconfigured store succeeded")
	}
}

// BenchmarkSet measures checkpoint writes/s through the plugin boundary
// (sdk.TestStore) against dynalite: single Set and SetBatch of 64 shards.
func BenchmarkSet(b *testing.B) {
	storetest.Bench(b, open(b, nil))
}
