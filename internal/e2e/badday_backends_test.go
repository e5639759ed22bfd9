package e2e

// Bad days of a checkpoint backend (issue 8): one key that can never be
// written must not stop the other shards' checkpoints (item 4), and a
// backend that black-holes for minutes must not end the host (item 7).
// Identifiers here start with bd.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	goredis "github.com/redis/go-redis/v9"

	"github.com/kinesis-host/kinesis-host/checkpoint/redis"
	"github.com/kinesis-host/kinesis-host/internal/testenv"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

// bdOutageFor is how long the black-hole outage lasts: 5 minutes, as the
// issue asks. KH_OUTAGE (a Go duration, e.g. KH_OUTAGE=30s) shortens it
// while developing.
func bdOutageFor(t testing.TB) time.Duration {
	if v := os.Getenv("KH_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("KH_OUTAGE=%q: want a positive Go duration such as 30s", v)
		}
		return d
	}
	return 5 * time.Minute
}

// bdRecoverWithin is the bound on "writes again after the backend
// answers": the writer retries at most 4 s apart (checkpointBackoff), plus
// slack for one write on a busy machine.
const bdRecoverWithin = 8 * time.Second

// bdBlackHole runs the host on the shipped defaults (call_timeout, the
// restart budget) with its checkpoint backend behind a StallProxy, puts
// 100 records/s over 4 shards, black-holes the backend for bdOutageFor
// (connections held, nothing answered, new connections accepted and
// ignored) and resumes it. The host must stay up, log the outage once when
// it starts and once when it ends (not once per retry), never restart the
// checkpoint plugin as hung, lose nothing, never move a checkpoint
// backwards, and store checkpoints again within bdRecoverWithin.
func bdBlackHole(t *testing.T, plugin string, hostSettings map[string]any, st bkStore, proxy *storetest.StallProxy) {
	outage := bdOutageFor(t)
	e := newEnv(t, 4)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(bkWriteConfig(e, "config", runConfig{out: out}, plugin, hostSettings))
	prod := bkStartProducer(e, 0, 10, 100*time.Millisecond)
	d := newDeliveries(t, out)
	waitFor(t, time.Minute, h, "a stored checkpoint for every shard", func() bool {
		return len(bkSnapshot(t, st, e.shards, 5*time.Second)) == len(e.shards)
	})
	sampler := bkStartSampler(t, st, e.shards, time.Second)
	bkSleep(t, h, 2*time.Second, "before the outage")

	proxy.Stall()
	tDown := time.Now()
	d.poll()
	deliveredBefore := d.distinct()
	bkSleep(t, h, outage, "during the black-hole outage")
	d.poll()
	deliveredDuring := d.distinct() - deliveredBefore
	base := bkSnapshot(t, st, e.shards, 10*time.Second)
	proxy.Resume()
	tUp := time.Now()
	var recovered time.Duration
	waitFor(t, time.Minute, h, "the first checkpoint write after the backend answers again", func() bool {
		recovered = time.Since(tUp)
		return bkAdvanced(st, e.shards, base)
	})
	bkSleep(t, h, 3*time.Second, "after the outage")
	recs := prod.stop(t)
	d.waitAll(2*time.Minute, h, recs)
	want := lastSeqs(recs)
	waitFor(t, time.Minute, h, "the stored checkpoints to reach each shard's last record", func() bool {
		got := bkSnapshot(t, st, e.shards, 5*time.Second)
		for sh, w := range want {
			if got[sh] != w {
				return false
			}
		}
		return true
	})
	samples, fails := sampler.check(t)
	h.stop(time.Minute)
	d.poll()

	checkComplete(t, recs, d.all)
	if red := checkOrder(t, d.all); red != 0 {
		t.Errorf("%d redeliveries: a checkpoint outage must not cause any", red)
	}
	if deliveredDuring == 0 {
		t.Errorf("no record was delivered during the outage: consumption must go on while checkpoints wait")
	}
	if recovered > bdRecoverWithin {
		t.Errorf("the first checkpoint was stored %s after the backend answered again; want within %s", recovered.Round(time.Millisecond), bdRecoverWithin)
	}
	log := h.log()
	starts := strings.Count(log, "checkpoint store unavailable;")
	ends := strings.Count(log, "checkpoint store available again")
	reminders := strings.Count(log, "checkpoint store still unavailable")
	if starts != 1 || ends != 1 {
		t.Errorf("the outage was logged as starting %d and ending %d times; want once each", starts, ends)
	}
	if maxReminders := int(outage/time.Minute) + 1; reminders > maxReminders {
		t.Errorf("%d \"still unavailable\" lines for a %s outage; want at most %d (about one a minute, not one per retry)", reminders, outage, maxReminders)
	}
	if n := bdCount(log, "checkpoint."+bkCheckpointLabel, "plugin failed; it will be restarted"); n != 0 {
		t.Errorf("the checkpoint plugin was restarted %d times during the outage; a stalled backend is not a hung plugin", n)
	}
	t.Logf("%s black-holed for %s (%d records delivered meanwhile); host up throughout; first checkpoint stored %s after the backend answered; %d records, all delivered once; log: %d outage start, %d end, %d reminders; %d samples monotonic (%d failed reads)",
		plugin, tUp.Sub(tDown).Round(time.Second), deliveredDuring, recovered.Round(time.Millisecond), len(recs), starts, ends, reminders, samples, fails)
}

// bdCount counts log lines containing every one of parts.
func bdCount(log string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestBackendBlackHole black-holes Redis, PostgreSQL and DynamoDB for 5
// minutes each (see bdBlackHole). The three run at the same time: their
// subtests are started from goroutines (t.Run may be called concurrently),
// so go test's -parallel limit (GOMAXPROCS, 2 on a small CI machine) does
// not serialize them and the whole test takes about one outage.
func TestBackendBlackHole(t *testing.T) {
	t.Parallel()
	runs := map[string]func(t *testing.T){
		// Redis: the shared server, behind our own proxy.
		"redis": func(t *testing.T) {
			addr := testenv.RedisAddr()
			proxy := storetest.NewStallProxy(t, addr)
			prefix := bkRedisPrefix(t, addr)
			bdBlackHole(t, "redis",
				map[string]any{"address": proxy.Addr, "key_prefix": prefix},
				bkOpenStore(t, "redis", map[string]any{"address": addr, "key_prefix": prefix}), proxy)
		},
		// PostgreSQL: the shared server, behind our own proxy.
		"postgres": func(t *testing.T) {
			proxy := storetest.NewStallProxy(t, bkPGServer(t))
			table := bkPGTable(t)
			st := bkOpenStore(t, "postgres", map[string]any{"connection": testenv.PostgresDSN(), "table": table, "create_table": true})
			bdBlackHole(t, "postgres",
				map[string]any{"connection": bkPGDSNVia(t, proxy.Addr), "table": table, "create_table": true}, st, proxy)
		},
		// DynamoDB: a dynalite of our own, behind our own proxy.
		"dynamodb": func(t *testing.T) {
			ep := testenv.StartDynalite(t)
			u, err := url.Parse(ep)
			if err != nil {
				t.Fatal(err)
			}
			proxy := storetest.NewStallProxy(t, u.Host)
			settings := func(endpoint string) map[string]any {
				return map[string]any{"table": "bd_e2e", "region": "us-east-1", "endpoint": endpoint,
					"create_table": true, "access_key_id": "e2e", "secret_access_key": "e2e-secret"}
			}
			st := bkOpenStore(t, "dynamodb", settings(ep)) // creates the table
			bdBlackHole(t, "dynamodb", settings("http://"+proxy.Addr), st, proxy)
		},
	}
	var wg sync.WaitGroup
	for name, run := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); t.Run(name, run) }()
	}
	wg.Wait()
}

// bdPoisoned runs the host with 4 shards while records flow; once every
// shard has a checkpoint, poison makes one shard's stored checkpoint
// unwritable (a wrong type). The other shards' checkpoints must keep
// moving to their last records, the failing key must be logged with its
// shard and retried on its own, and once cure fixes it, it is written too.
func bdPoisoned(t *testing.T, plugin string, settings map[string]any, poison, cure func(shard string)) {
	e := newEnv(t, 4)
	st := bkOpenStore(t, plugin, settings)
	out := filepath.Join(e.dir, "deliveries.jsonl")
	h := e.startHost(bkWriteConfig(e, "config", runConfig{out: out}, plugin, settings))
	prod := bkStartProducer(e, 0, 10, 100*time.Millisecond)
	d := newDeliveries(t, out)
	waitFor(t, time.Minute, h, "a stored checkpoint for every shard", func() bool {
		return len(bkSnapshot(t, st, e.shards, 5*time.Second)) == len(e.shards)
	})
	bad := e.shards[0]
	poison(bad)
	bkSleep(t, h, 4*time.Second, "with a poisoned key")
	recs := prod.stop(t)
	var others []*rec
	for _, r := range recs {
		if r.shard != bad {
			others = append(others, r)
		}
	}
	// The other shards go on. (With leases the poisoned shard stops once
	// its lease can no longer be renewed: no host can prove it holds it.)
	d.waitAll(time.Minute, h, others)
	want := lastSeqs(recs)
	waitFor(t, time.Minute, h, "every other shard's stored checkpoint at its last record", func() bool {
		for _, sh := range e.shards[1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cp, found, err := st.Get(ctx, bkKey(sh))
			cancel()
			if err != nil || !found || cp.SequenceNumber != want[sh] {
				return false
			}
		}
		return true
	})
	log := h.log()
	if n := bdCount(log, "checkpoint write failed for this shard", "shard="+bad); n < 1 {
		t.Errorf("the host log does not name the failing key's shard %s", bad)
	}
	if n := bdCount(log, "checkpoint write failed for this shard"); n > 1 {
		t.Errorf("the failing key was logged %d times; want once (then about once a minute)", n)
	}
	cure(bad)
	d.waitAll(time.Minute, h, recs)
	waitFor(t, time.Minute, h, "the cured shard's checkpoint at its last record", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cp, found, err := st.Get(ctx, bkKey(bad))
		return err == nil && found && cp.SequenceNumber == want[bad]
	})
	h.stop(time.Minute)
	d.poll()
	checkComplete(t, recs, d.all)
	checkOrder(t, d.all)
	// Deleting the poisoned row (the cure) also deletes its lease and its
	// stored position: the host, which can no longer prove it holds the
	// shard, takes it again and reads it from the stored position, so that
	// shard may be delivered again (at least once); no other shard is.
	red, byShard := lsDuplicates(d.all)
	if red != byShard[bad] {
		t.Errorf("%d redeliveries outside the poisoned shard (per shard: %v)", red-byShard[bad], byShard)
	}
	if !strings.Contains(h.log(), "checkpoint write succeeded again") {
		t.Errorf("the host log does not say the key recovered")
	}
	t.Logf("%s: shard %s unwritable for a while; the other %d shards' checkpoints reached their last records; %d records, %d delivered again (all in the cured shard)",
		plugin, bad, len(e.shards)-1, len(recs), red)
}

// TestRedisWrongTypeKey: one shard's checkpoint key holds a hash where the
// store expects a string (a real Redis answers WRONGTYPE to every write).
func TestRedisWrongTypeKey(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr()
	prefix := bkRedisPrefix(t, addr)
	c := goredis.NewClient(&goredis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	keys := func(shard string) (string, string) { return redis.Keys(prefix, bkKey(shard)) }
	bdPoisoned(t, "redis", map[string]any{"address": addr, "key_prefix": prefix},
		func(shard string) {
			main, meta := keys(shard)
			ctx := context.Background()
			if err := c.Del(ctx, main, meta).Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.HSet(ctx, main, "corrupt", "1").Err(); err != nil {
				t.Fatal(err)
			}
		},
		func(shard string) {
			main, meta := keys(shard)
			if err := c.Del(context.Background(), main, meta).Err(); err != nil {
				t.Fatal(err)
			}
		})
}

// TestDynamoDBWrongTypeItem: one shard's item has a position attribute of
// type N where the store keeps a string (every conditional write fails).
func TestDynamoDBWrongTypeItem(t *testing.T) {
	t.Parallel()
	ep := testenv.StartDynalite(t)
	table := "bd_poison"
	settings := map[string]any{"table": table, "region": "us-east-1", "endpoint": ep,
		"create_table": true, "access_key_id": "e2e", "secret_access_key": "e2e-secret"}
	raw := testenv.DynamoClient(ep)
	key := func(shard string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"namespace": &types.AttributeValueMemberS{Value: appName + "-" + streamName},
			"shard_id":  &types.AttributeValueMemberS{Value: shard},
		}
	}
	bdPoisoned(t, "dynamodb", settings,
		func(shard string) {
			item := key(shard)
			item["sequence_number"] = &types.AttributeValueMemberS{Value: "1"}
			item["position"] = &types.AttributeValueMemberN{Value: "1"}
			if _, err := raw.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				t.Fatal(fmt.Errorf("poison: %w", err))
			}
		},
		func(shard string) {
			if _, err := raw.DeleteItem(context.Background(), &awsddb.DeleteItemInput{TableName: aws.String(table), Key: key(shard)}); err != nil {
				t.Fatal(fmt.Errorf("cure: %w", err))
			}
		})
}
