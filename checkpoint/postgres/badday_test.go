package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kinesis-host/kinesis-host/checkpoint/postgres"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
	"github.com/kinesis-host/kinesis-host/shared"
)

// A row the database refuses (issue 8 item 4: here a trigger rejects one
// shard, as a constraint or a corrupt value would) fails alone, with an
// error naming the row that is not "unavailable"; the other rows of the
// same batch are stored.
func TestRefusedRowFailsAlone(t *testing.T) {
	s, table := open(t)
	fn := table + "_poison"
	exec(t, `CREATE FUNCTION `+pq.QuoteIdentifier(fn)+`() RETURNS trigger AS $$
BEGIN
  IF NEW.shard_id = 'shard-bad' THEN RAISE EXCEPTION 'corrupt checkpoint row %', NEW.shard_id; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql`)
	t.Cleanup(func() { _, _ = admin(t).Exec(`DROP FUNCTION IF EXISTS ` + pq.QuoteIdentifier(fn) + ` CASCADE`) })
	exec(t, `CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON `+pq.QuoteIdentifier(table)+
		` FOR EACH ROW EXECUTE FUNCTION `+pq.QuoteIdentifier(fn)+`()`)

	ctx := context.Background()
	bad := sdk.CheckpointKey{App: "poison", Stream: "s", ShardID: "shard-bad"}
	good1 := sdk.CheckpointKey{App: "poison", Stream: "s", ShardID: "shard-a"}
	good2 := sdk.CheckpointKey{App: "poison", Stream: "s", ShardID: "shard-z"}
	errs := s.SetBatch(ctx, []sdk.CheckpointUpdate{
		{Key: good1, Checkpoint: sdk.Checkpoint{SequenceNumber: "10"}},
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "20"}},
		{Key: good2, Checkpoint: sdk.Checkpoint{SequenceNumber: "30"}},
	})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("healthy rows failed beside the refused one: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || errors.Is(errs[1], sdk.ErrUnavailable) || !strings.Contains(errs[1].Error(), `shard_id "shard-bad"`) ||
		!strings.Contains(errs[1].Error(), "corrupt checkpoint row") {
		t.Fatalf("refused row: err = %v; want a non-retryable error naming the row and the database's reason", errs[1])
	}
	for k, want := range map[sdk.CheckpointKey]string{good1: "10", good2: "30"} {
		if cp, found, err := s.Get(ctx, k); err != nil || !found || cp.SequenceNumber != want {
			t.Fatalf("Get(%s) = %+v, %v, %v; want %s", k.ShardID, cp, found, err, want)
		}
	}
	res := sdk.NewCheckpointServer(s).Set(ctx, &shared.CheckpointSetRequest{Updates: []sdk.CheckpointUpdate{
		{Key: bad, Checkpoint: sdk.Checkpoint{SequenceNumber: "21"}},
		{Key: good1, Checkpoint: sdk.Checkpoint{SequenceNumber: "11"}},
	}})
	if res.Results[1].Code != "" || res.Results[0].Code == "" || res.Results[0].Code == shared.CodeUnavailable {
		t.Fatalf("plugin Set results %+v; want the refused row failing with a non-unavailable code and the other ok", res.Results)
	}
}

// A PostgreSQL that stalls (issue 8 item 7) is answered "unavailable"
// well inside the host's call timeout, from Get, Set and Configure (lib/pq
// alone would wait on the socket forever), and the store works again once
// the server answers.
func TestStalledServerAnswersUnavailable(t *testing.T) {
	_, table := open(t) // creates the table
	u, err := url.Parse(pgDSN())
	if err != nil || u.Scheme != "postgres" {
		t.Fatalf("PG_DSN must be a postgres:// URL for this test: %q", pgDSN())
	}
	upstream := u.Host
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		upstream = net.JoinHostPort(upstream, "5432")
	}
	proxy := storetest.NewStallProxy(t, upstream)
	u.Host = proxy.Addr
	settings := map[string]any{"connection": u.String(), "table": table}
	const callTimeout = 4 * time.Second
	s := postgres.New()
	raw, _ := json.Marshal(settings)
	// Configured as the host does: through the plugin boundary, with the
	// call timeout (the per-I/O deadline derives from it).
	cctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	res := sdk.NewCheckpointServer(s).Configure(cctx, &shared.ConfigureRequest{App: "test", Name: "pg", Config: raw})
	cancel()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	k := sdk.CheckpointKey{App: "stall", Stream: "s", ShardID: "shard-0"}
	if err := s.Set(context.Background(), k, sdk.Checkpoint{SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	storetest.AssertAnswersWhileStalled(t, s, k, callTimeout)
	storetest.AssertConfigureWhileStalled(t, postgres.New(), raw, callTimeout)
	proxy.Resume()
	storetest.AssertRecovers(t, s, k, sdk.Checkpoint{SequenceNumber: "6"}, 30*time.Second)
}
