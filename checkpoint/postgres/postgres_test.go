package postgres_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kinesis-host/kinesis-host/checkpoint/postgres"
	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/sdk/storetest"
)

// The tests use the Postgres at PG_DSN (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) and never
// skip: CI provides the server. Every test works in its own tables, named
// kht_test_<random>, dropped when the test ends.

const defaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func pgDSN() string {
	if d := os.Getenv("PG_DSN"); d != "" {
		return d
	}
	return defaultDSN
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
)

func admin(t testing.TB) *sql.DB {
	t.Helper()
	adminOnce.Do(func() {
		db, err := sql.Open("postgres", pgDSN())
		if err == nil {
			err = db.Ping()
		}
		if err != nil {
			t.Fatalf("cannot use the Postgres at PG_DSN=%s: %v", pgDSN(), err)
		}
		adminDB = db
	})
	if adminDB == nil {
		t.Fatal("no Postgres (see the first failure)")
	}
	return adminDB
}

func exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := admin(t).Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// tableName returns a fresh table name that is dropped when the test ends.
func tableName(t testing.TB) string {
	name := "kht_test_" + storetest.RunID()
	t.Cleanup(func() { _, _ = admin(t).Exec(`DROP TABLE IF EXISTS ` + pq.QuoteIdentifier(name) + ` CASCADE`) })
	return name
}

func configure(t testing.TB, s *postgres.Store, settings map[string]any) error {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	return s.Configure(context.Background(), sdk.Config{App: "test", Name: "pg", JSON: raw})
}

func openTable(t testing.TB, settings map[string]any) *postgres.Store {
	t.Helper()
	s := postgres.New()
	if err := configure(t, s, settings); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func open(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	admin(t)
	name := tableName(t)
	return openTable(t, map[string]any{"connection": pgDSN(), "table": name, "create_table": true}), name
}

func assertConfigError(t testing.TB, err error, field string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("got %v; want an sdk.ConfigError on %q", err, field)
	}
	if e.Field != field {
		t.Fatalf("ConfigError names %q (%v); want %q", e.Field, err, field)
	}
	return e
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	var tables []string
	storetest.RunWith(t, func(t *testing.T) sdk.Store {
		s, name := open(t)
		mu.Lock()
		tables = append(tables, name)
		mu.Unlock()
		return s
	}, storetest.Options{
		// What harlow/kinesis-consumer's store/postgres reads.
		SeedSequence: func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, name := range tables {
				var v string
				err := admin(t).QueryRowContext(ctx, `SELECT sequence_number::text FROM `+pq.QuoteIdentifier(name)+
					` WHERE namespace = $1 AND shard_id = $2`, postgres.Namespace(k), k.ShardID).Scan(&v)
				if err == nil {
					return v, nil
				}
				if !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "does not exist") {
					return "", err
				}
			}
			return "", nil
		},
	})
}

const seedDDL = `CREATE TABLE %s (
	namespace text NOT NULL,
	shard_id text NOT NULL,
	sequence_number numeric NOT NULL,
	CONSTRAINT %s PRIMARY KEY (namespace, shard_id)
)`

func TestSeedTablePickedUp(t *testing.T) {
	name := tableName(t)
	q := pq.QuoteIdentifier(name)
	exec(t, fmt.Sprintf(seedDDL, q, pq.QuoteIdentifier(name+"_pkey")))
	const seedSeq = "49590338271490256608559692538361571095921575989136588898"
	// Rows as harlow/kinesis-consumer's store/postgres writes them.
	exec(t, `INSERT INTO `+q+` (namespace, shard_id, sequence_number) VALUES ($1, $2, $3)`, "orders-app-orders", "shardId-000000000003", seedSeq)

	// create_table = false on a seed table: a ConfigError with the exact fix.
	err := configure(t, postgres.New(), map[string]any{"connection": pgDSN(), "table": name})
	e := assertConfigError(t, err, "table")
	alter := e.Message[strings.Index(e.Message, "ALTER TABLE"):]
	alter = alter[:strings.Index(alter, ";")]
	if !strings.Contains(alter, "ADD COLUMN IF NOT EXISTS shard_end boolean NOT NULL DEFAULT false") {
		t.Fatalf("message does not give the ALTER TABLE to run: %s", e.Message)
	}
	// Running exactly that statement makes the table usable.
	exec(t, alter)
	s := openTable(t, map[string]any{"connection": pgDSN(), "table": name})

	key := sdk.CheckpointKey{App: "orders-app", Stream: "orders", ShardID: "shardId-000000000003"}
	ctx := context.Background()
	for _, st := range []sdk.Store{s, sdk.TestStore(t, s)} {
		cp, found, err := st.Get(ctx, key)
		if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: seedSeq}) {
			t.Fatalf("Get of a seed row = %+v, %v, %v; want {%s}", cp, found, err, seedSeq)
		}
	}
	// Conditional like ours.
	if err := s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: "9" + seedSeq[2:]}); err != nil {
		t.Fatal(err)
	}
	if cp, _, _ := s.Get(ctx, key); cp.SequenceNumber != seedSeq {
		t.Fatalf("a lower write moved the seed row to %s", cp.SequenceNumber)
	}
	next := "49590338271490256608559692538361571095921575989136588899"
	if err := s.Set(ctx, key, sdk.Checkpoint{SequenceNumber: next, ShardEnd: true}); err != nil {
		t.Fatal(err)
	}
	// A seed reader still reads a plain number.
	var raw string
	if err := admin(t).QueryRow(`SELECT sequence_number::text FROM ` + q + ` WHERE namespace = 'orders-app-orders'`).Scan(&raw); err != nil || raw != next {
		t.Fatalf("sequence_number = %q, %v", raw, err)
	}
	// The seed's own (unconditional) upsert still works on the upgraded table.
	exec(t, `INSERT INTO `+q+` (namespace, shard_id, sequence_number) VALUES ('x-y', 'z', 5)
		ON CONFLICT (namespace, shard_id) DO UPDATE SET sequence_number = EXCLUDED.sequence_number`)
	if cp, found, err := s.Get(ctx, sdk.CheckpointKey{App: "x", Stream: "y", ShardID: "z"}); err != nil || !found || cp.SequenceNumber != "5" {
		t.Fatalf("Get of a seed-written row = %+v, %v, %v", cp, found, err)
	}
}

func TestCreateTableUpgradesSeedTable(t *testing.T) {
	name := tableName(t)
	q := pq.QuoteIdentifier(name)
	exec(t, fmt.Sprintf(seedDDL, q, pq.QuoteIdentifier(name+"_pkey")))
	exec(t, `INSERT INTO `+q+` VALUES ('app-stream', 'shard-1', 12345678901234567890123456789012345678901234567890)`)
	s := openTable(t, map[string]any{"connection": pgDSN(), "table": name, "create_table": true})
	cp, found, err := s.Get(context.Background(), sdk.CheckpointKey{App: "app", Stream: "stream", ShardID: "shard-1"})
	if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: "12345678901234567890123456789012345678901234567890"}) {
		t.Fatalf("Get = %+v, %v, %v", cp, found, err)
	}
	// Configuring again (another host starting) changes nothing.
	openTable(t, map[string]any{"connection": pgDSN(), "table": name, "create_table": true})
}

func TestCreateTableConcurrently(t *testing.T) {
	name := tableName(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := postgres.New()
			errs[i] = configure(t, s, map[string]any{"connection": pgDSN(), "table": name, "create_table": true})
			_ = s.Close(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestQuotedTableNames(t *testing.T) {
	schema := "kht_test_schema_" + storetest.RunID()
	exec(t, `CREATE SCHEMA `+pq.QuoteIdentifier(schema))
	t.Cleanup(func() { _, _ = admin(t).Exec(`DROP SCHEMA IF EXISTS ` + pq.QuoteIdentifier(schema) + ` CASCADE`) })
	ctx := context.Background()
	for _, table := range []string{`Mixed Case`, `we"ird; DROP TABLE x; --`, `kinesis_consumer`} {
		s := openTable(t, map[string]any{"connection": pgDSN(), "table": schema + "." + table, "create_table": true})
		k := sdk.CheckpointKey{App: "a", Stream: "b", ShardID: "c"}
		if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "42"}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := admin(t).QueryRow(`SELECT count(*) FROM ` + pq.QuoteIdentifier(schema) + `.` + pq.QuoteIdentifier(table)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("table %q: count = %d, %v", table, n, err)
		}
	}
	// The seed's unquoted, mixed-case name: a hint about case folding.
	err := configure(t, postgres.New(), map[string]any{"connection": pgDSN(), "table": schema + ".Kinesis_Consumer"})
	if e := assertConfigError(t, err, "table"); !strings.Contains(e.Message, "case-sensitive") {
		t.Fatalf("no case hint: %s", e.Message)
	}
}

func TestSettingsValidation(t *testing.T) {
	const pw = "hunter2-S3cret"
	for _, tc := range []struct {
		name  string
		s     map[string]any
		field string
	}{
		{"no connection", map[string]any{}, "connection"},
		{"blank connection", map[string]any{"connection": "  "}, "connection"},
		{"bad url port", map[string]any{"connection": "postgres://app:" + pw + "@db.example:notaport/x"}, "connection"},
		{"bad url", map[string]any{"connection": "postgres://app:" + pw + "@db example/%zz"}, "connection"},
		{"bad key=value", map[string]any{"connection": "host=localhost password='" + pw}, "connection"},
		{"bad key=value 2", map[string]any{"connection": "host=localhost password=" + pw + " connect_timeout=5s"}, "connection"},
		{"bad table", map[string]any{"connection": pgDSN(), "table": "a.b.c"}, "table"},
		{"empty table part", map[string]any{"connection": pgDSN(), "table": "a."}, "table"},
		{"create_table type", map[string]any{"connection": pgDSN(), "create_table": "yes"}, "create_table"},
		{"unknown", map[string]any{"connection": pgDSN(), "dsn": "x"}, "dsn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.s)
			err := postgres.New().Configure(context.Background(), sdk.Config{JSON: raw, ValidateOnly: true})
			assertConfigError(t, err, tc.field)
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the error echoes the password: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	const pw = "Sw0rdfish-secret"
	start := time.Now()
	err := configure(t, postgres.New(), map[string]any{"connection": "postgres://app:" + pw + "@" + addr + "/db?sslmode=disable"})
	// Unreachable is not a bad config: the host retries it (issue 8 item 7).
	if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("got %v; want sdk.ErrUnavailable", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "check host, port") {
		t.Fatalf("message %q should name %s, say what to check, and not show the password", err, addr)
	}
	t.Log(err)
}

func TestBadCredentials(t *testing.T) {
	// The shared test server trusts local connections, so a wrong password
	// is simulated by a server that asks for one and rejects it, as
	// Postgres does. It is the real client (lib/pq) on our side.
	const pw = "correct-horse-WRONG"
	srv := fakeAuthServer(t)
	for _, dsn := range []string{
		"postgres://app:" + pw + "@" + srv.addr + "/db?sslmode=disable",
		"host=127.0.0.1 port=" + srv.port + " user=app dbname=db sslmode=disable password='" + pw + "'",
	} {
		err := configure(t, postgres.New(), map[string]any{"connection": dsn})
		e := assertConfigError(t, err, "connection")
		if strings.Contains(fmt.Sprintf("%v %#v", err, e), pw) {
			t.Fatalf("the error echoes the password: %v", err)
		}
		if !strings.Contains(e.Message, "password") || !strings.Contains(e.Message, `"app"`) {
			t.Fatalf("message should say the user and password were rejected: %s", e.Message)
		}
		if got := srv.lastPassword(); got != pw {
			t.Fatalf("server received password %q", got)
		}
		t.Log(err)
	}

	// A role that does not exist, on the real server.
	err := configure(t, postgres.New(), map[string]any{"connection": withUser(t, pgDSN(), "kht_no_such_role", pw)})
	e := assertConfigError(t, err, "connection")
	if strings.Contains(err.Error(), pw) || !strings.Contains(e.Message, "kht_no_such_role") {
		t.Fatalf("message: %v", err)
	}
	// A database that does not exist.
	err = configure(t, postgres.New(), map[string]any{"connection": withDB(t, pgDSN(), "kht_no_such_db")})
	if e := assertConfigError(t, err, "connection"); !strings.Contains(e.Message, "kht_no_such_db") {
		t.Fatalf("message: %v", err)
	}
}

func TestMissingTable(t *testing.T) {
	name := tableName(t)
	err := configure(t, postgres.New(), map[string]any{"connection": pgDSN(), "table": name})
	e := assertConfigError(t, err, "table")
	for _, want := range []string{`table "` + name + `" does not exist`, "CREATE TABLE " + pq.QuoteIdentifier(name), "create_table = true"} {
		if !strings.Contains(e.Message, want) {
			t.Fatalf("message lacks %q:\n%s", want, e.Message)
		}
	}
	// The DDL in the message works as is.
	ddl := e.Message[strings.Index(e.Message, "CREATE TABLE"):]
	exec(t, ddl[:strings.Index(ddl, ";")])
	openTable(t, map[string]any{"connection": pgDSN(), "table": name})
}

func TestWrongShape(t *testing.T) {
	for _, tc := range []struct {
		name, ddl, want string
	}{
		{"text sequence", `(namespace text, shard_id text, sequence_number text, PRIMARY KEY (namespace, shard_id))`, "sequence_number is text"},
		{"small numeric", `(namespace text, shard_id text, sequence_number numeric(65,0), PRIMARY KEY (namespace, shard_id))`, "too small"},
		{"no key", `(namespace text NOT NULL, shard_id text NOT NULL, sequence_number numeric NOT NULL)`, "primary key"},
		{"key on namespace only", `(namespace text PRIMARY KEY, shard_id text, sequence_number numeric)`, "primary key"},
		{"no shard_id", `(namespace text PRIMARY KEY, sequence_number numeric)`, "no shard_id column"},
		{"int namespace", `(namespace int, shard_id text, sequence_number numeric, PRIMARY KEY (namespace, shard_id))`, "namespace is integer"},
		{"bad shard_end", `(namespace text, shard_id text, sequence_number numeric, sub_sequence_number bigint, shard_end text, owner text, lease_counter bigint, PRIMARY KEY (namespace, shard_id))`, "shard_end is text"},
		{"extra not null", `(namespace text, shard_id text, sequence_number numeric, sub_sequence_number bigint, shard_end boolean, owner text, lease_counter bigint, tenant text NOT NULL, PRIMARY KEY (namespace, shard_id))`, "tenant is NOT NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tableName(t)
			exec(t, `CREATE TABLE `+pq.QuoteIdentifier(name)+` `+tc.ddl)
			for _, create := range []bool{false, true} {
				err := configure(t, postgres.New(), map[string]any{"connection": pgDSN(), "table": name, "create_table": create})
				e := assertConfigError(t, err, "table")
				if !strings.Contains(e.Message, tc.want) {
					t.Fatalf("create_table=%v: message lacks %q: %s", create, tc.want, e.Message)
				}
			}
		})
	}
	t.Run("view", func(t *testing.T) {
		name := tableName(t)
		exec(t, `CREATE VIEW `+pq.QuoteIdentifier(name)+` AS SELECT 'a'::text AS namespace, 'b'::text AS shard_id, 1::numeric AS sequence_number`)
		t.Cleanup(func() { _, _ = admin(t).Exec(`DROP VIEW IF EXISTS ` + pq.QuoteIdentifier(name)) })
		assertConfigError(t, configure(t, postgres.New(), map[string]any{"connection": pgDSN(), "table": name}), "table")
	})
}

func TestNoPrivileges(t *testing.T) {
	_, name := open(t)
	role := "kht_test_role_" + storetest.RunID()
	exec(t, `CREATE ROLE `+pq.QuoteIdentifier(role)+` LOGIN`)
	t.Cleanup(func() {
		// DROP OWNED also revokes the grants that would block DROP ROLE.
		_, _ = admin(t).Exec(`DROP OWNED BY ` + pq.QuoteIdentifier(role))
		if _, err := admin(t).Exec(`DROP ROLE IF EXISTS ` + pq.QuoteIdentifier(role)); err != nil {
			t.Errorf("dropping role %s: %v", role, err)
		}
	})
	err := configure(t, postgres.New(), map[string]any{"connection": withUser(t, pgDSN(), role, ""), "table": name})
	if e := assertConfigError(t, err, "connection"); !strings.Contains(e.Message, "GRANT SELECT, INSERT, UPDATE") {
		t.Fatalf("message: %v", err)
	}
	exec(t, `GRANT SELECT, INSERT, UPDATE ON `+pq.QuoteIdentifier(name)+` TO `+pq.QuoteIdentifier(role))
	s := openTable(t, map[string]any{"connection": withUser(t, pgDSN(), role, ""), "table": name})
	if err := s.Set(context.Background(), sdk.CheckpointKey{App: "a", Stream: "b", ShardID: "c"}, sdk.Checkpoint{SequenceNumber: "1"}); err != nil {
		t.Fatal(err)
	}
	// Without DELETE, leases work but for deletes, which say what to grant.
	ctx := context.Background()
	w := sdk.CheckpointKey{App: "a", Stream: "b", ShardID: sdk.WorkerRowPrefix + "w"}
	errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{
		{Key: sdk.CheckpointKey{App: "a", Stream: "b", ShardID: "c"}, Owner: "h"},
		{Key: w, Owner: "w"},
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("lease takes without DELETE: %v", errs)
	}
	if errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: w, ExpectOwner: "w", ExpectCounter: 1, Delete: true}}); errs[0] == nil ||
		errors.Is(errs[0], sdk.ErrConflict) || errors.Is(errs[0], sdk.ErrUnavailable) || !strings.Contains(errs[0].Error(), "GRANT") {
		t.Fatalf("a lease delete without DELETE privilege = %v; want a plain error saying what to grant", errs[0])
	}
	if rows, err := s.ListLeases(ctx, "a", "b"); err != nil || len(rows) != 2 {
		t.Fatalf("ListLeases = %+v, %v; want 2 rows", rows, err)
	}
}

// TestBackendsTerminated kills the store's server connections under it
// (as a failover or an admin would): calls keep working, or fail with
// sdk.ErrUnavailable, and never report "no checkpoint" for a stored one.
func TestBackendsTerminated(t *testing.T) {
	name := tableName(t)
	app := "kht-test-" + storetest.RunID()
	s := openTable(t, map[string]any{"connection": withParam(t, pgDSN(), "application_name", app), "table": name, "create_table": true})
	c := sdk.TestStore(t, s)
	ctx := context.Background()
	k := sdk.CheckpointKey{App: "a", Stream: "b", ShardID: "c"}
	failures := 0
	for i := 1; i <= 30; i++ {
		// Make sure several pooled connections exist, then kill them all.
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); _, _, _ = s.Get(ctx, k) }()
		}
		wg.Wait()
		var killed int
		if err := admin(t).QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatal("no backend to terminate: application_name not set?")
		}
		var st sdk.Store = s
		if i%2 == 0 {
			st = c
		}
		if err := st.Set(ctx, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(i)}); err != nil {
			storetest.AssertUnavailable(t, err)
			failures++
		}
		cp, found, err := st.Get(ctx, k)
		if err != nil {
			storetest.AssertUnavailable(t, err)
			failures++
			continue
		}
		if !found || cp.SequenceNumber == "" {
			t.Fatalf("round %d: Get = %+v, found=%v after a terminated connection", i, cp, found)
		}
	}
	if failures > 0 {
		t.Logf("%d calls failed with sdk.ErrUnavailable (retried by the host)", failures)
	}
	storetest.AssertRecovers(t, c, k, sdk.Checkpoint{SequenceNumber: "1000"}, 10*time.Second)
}

// TestServerGoesAway puts a TCP proxy between the store and Postgres and
// takes it down: every call fails with sdk.ErrUnavailable; when it comes
// back on the same port, the store recovers by itself.
func TestServerGoesAway(t *testing.T) {
	name := tableName(t)
	p := startProxy(t, hostPort(t, pgDSN()))
	s := openTable(t, map[string]any{"connection": withHost(t, pgDSN(), p.addr), "table": name, "create_table": true})
	c := sdk.TestStore(t, s)
	ctx := context.Background()
	k := sdk.CheckpointKey{App: "a", Stream: "b", ShardID: "c"}
	if err := s.Set(ctx, k, sdk.Checkpoint{SequenceNumber: "100"}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		p.stop()
		storetest.AssertDown(t, s, k)
		storetest.AssertDown(t, c, k)
		p.start(t)
		storetest.AssertRecovers(t, s, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(200 + round)}, 15*time.Second)
		storetest.AssertRecovers(t, c, k, sdk.Checkpoint{SequenceNumber: fmt.Sprint(300 + round)}, 15*time.Second)
	}
	if cp, _, err := s.Get(ctx, k); err != nil || cp.SequenceNumber != "301" {
		t.Fatalf("Get = %+v, %v", cp, err)
	}
}

func BenchmarkSet(b *testing.B) {
	s, _ := open(b)
	storetest.Bench(b, s)
}

// ---- helpers ----

func parseDSN(t testing.TB, dsn string) pq.Config {
	t.Helper()
	c, err := pq.NewConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kv renders a pq.Config's essentials as a key=value DSN with overrides.
func kv(t testing.TB, dsn string, override map[string]string) string {
	t.Helper()
	c := parseDSN(t, dsn)
	m := map[string]string{
		"host": c.Host, "port": fmt.Sprint(c.Port), "user": c.User, "dbname": c.Database,
		"password": c.Password, "sslmode": string(c.SSLMode),
	}
	for k, v := range override {
		m[k] = v
	}
	var parts []string
	for k, v := range m {
		if v != "" {
			parts = append(parts, k+"='"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)+"'")
		}
	}
	return strings.Join(parts, " ")
}

func withUser(t testing.TB, dsn, user, pw string) string {
	return kv(t, dsn, map[string]string{"user": user, "password": pw})
}
func withDB(t testing.TB, dsn, db string) string { return kv(t, dsn, map[string]string{"dbname": db}) }
func withParam(t testing.TB, dsn, k, v string) string {
	return kv(t, dsn, map[string]string{k: v})
}
func withHost(t testing.TB, dsn, addr string) string {
	h, p, _ := net.SplitHostPort(addr)
	return kv(t, dsn, map[string]string{"host": h, "port": p})
}
func hostPort(t testing.TB, dsn string) string {
	c := parseDSN(t, dsn)
	return net.JoinHostPort(c.Host, fmt.Sprint(c.Port))
}

// proxy is a TCP proxy that can be taken down and brought back on the
// same port.
type proxy struct {
	addr, upstream string
	mu             sync.Mutex
	l              net.Listener
	conns          map[net.Conn]bool
}

func startProxy(t testing.TB, upstream string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), upstream: upstream, conns: map[net.Conn]bool{}}
	p.serve(l)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(t testing.TB) {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.serve(l)
}

func (p *proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
			go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// fakeAuth is a minimal server speaking the start of the Postgres protocol:
// it asks for a cleartext password and rejects it with SQLSTATE 28P01, as
// a real server with password authentication does.
type fakeAuth struct {
	addr, port string
	mu         sync.Mutex
	pw         string
}

func (f *fakeAuth) lastPassword() string { f.mu.Lock(); defer f.mu.Unlock(); return f.pw }

func fakeAuthServer(t testing.TB) *fakeAuth {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeAuth{addr: l.Addr().String()}
	_, f.port, _ = net.SplitHostPort(f.addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.handle(c)
		}
	}()
	return f
}

func (f *fakeAuth) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var user string
	for {
		var n int32
		if binary.Read(c, binary.BigEndian, &n) != nil || n < 8 || n > 10000 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(body[:4])
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest
			_, _ = c.Write([]byte{'N'})
			continue
		}
		fields := strings.Split(string(body[4:]), "\x00")
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] == "user" {
				user = fields[i+1]
			}
		}
		break
	}
	// AuthenticationCleartextPassword
	_, _ = c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3})
	var typ byte
	var n int32
	if binary.Read(c, binary.BigEndian, &typ) != nil || typ != 'p' || binary.Read(c, binary.BigEndian, &n) != nil || n < 4 || n > 10000 {
		return
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(c, body); err != nil {
		return
	}
	f.mu.Lock()
	f.pw = strings.TrimRight(string(body), "\x00")
	f.mu.Unlock()
	msg := []byte("SFATAL\x00VFATAL\x00C28P01\x00Mpassword authentication failed for user \"" + user + "\"\x00\x00")
	out := append([]byte{'E', 0, 0, 0, 0}, msg...)
	binary.BigEndian.PutUint32(out[1:5], uint32(len(msg)+4))
	_, _ = c.Write(out)
}

func TestLeases(t *testing.T) {
	var mu sync.Mutex
	var tables []string
	storetest.RunLeasesWith(t, func(t *testing.T) sdk.Store {
		s, name := open(t)
		mu.Lock()
		tables = append(tables, name)
		mu.Unlock()
		return s
	}, storetest.Options{
		// What harlow/kinesis-consumer's store/postgres reads.
		SeedSequence: func(ctx context.Context, k sdk.CheckpointKey) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, name := range tables {
				var v string
				err := admin(t).QueryRowContext(ctx, `SELECT sequence_number::text FROM `+pq.QuoteIdentifier(name)+
					` WHERE namespace = $1 AND shard_id = $2`, postgres.Namespace(k), k.ShardID).Scan(&v)
				if err == nil {
					return v, nil
				}
				if !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "does not exist") {
					return "", err
				}
			}
			return "", nil
		},
	})
}

// TestLeaseLayout checks where the lease lives in a table upgraded from the
// seed's, and that seed readers are unaffected.
func TestLeaseLayout(t *testing.T) {
	name := tableName(t)
	q := pq.QuoteIdentifier(name)
	exec(t, fmt.Sprintf(seedDDL, q, pq.QuoteIdentifier(name+"_pkey")))
	exec(t, `INSERT INTO `+q+` (namespace, shard_id, sequence_number) VALUES ('app-orders', 'shardId-0', 100), ('app-ordersx', 'shardId-1', 7), ('app-x-orders', 'shardId-2', 7)`)
	s := openTable(t, map[string]any{"connection": pgDSN(), "table": name, "create_table": true})
	ctx := context.Background()
	key := func(shard string) sdk.CheckpointKey {
		return sdk.CheckpointKey{App: "app", Stream: "orders", ShardID: shard}
	}
	raw := func(shard string) (seq string, end bool, owner string, counter int64) {
		t.Helper()
		err := admin(t).QueryRow(`SELECT sequence_number::text, shard_end, owner, lease_counter FROM `+q+` WHERE namespace = 'app-orders' AND shard_id = $1`, shard).
			Scan(&seq, &end, &owner, &counter)
		if err != nil {
			t.Fatalf("reading row %s: %v", shard, err)
		}
		return
	}

	rows, err := s.ListLeases(ctx, "app", "orders")
	if err != nil || len(rows) != 1 || rows[0] != (sdk.LeaseRow{ShardID: "shardId-0", Checkpoint: sdk.Checkpoint{SequenceNumber: "100"}}) {
		t.Fatalf("ListLeases of a seed table = %+v, %v; want the one seed row of the namespace", rows, err)
	}
	errs := s.UpdateLeases(ctx, []sdk.LeaseUpdate{
		{Key: key("shardId-0"), Owner: "h1"},
		{Key: key("shardId-5"), Owner: "h1"},
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	// The seed reader's column is untouched by a take.
	if seq, end, owner, n := raw("shardId-0"); seq != "100" || end || owner != "h1" || n != 1 {
		t.Fatalf("taken seed row = %s %v %q %d", seq, end, owner, n)
	}
	// A lease without a position is sequence_number -1, not found by Get.
	if seq, end, owner, n := raw("shardId-5"); seq != "-1" || end || owner != "h1" || n != 1 {
		t.Fatalf("lease-only row = %s %v %q %d; want -1 false h1 1", seq, end, owner, n)
	}
	if cp, found, err := s.Get(ctx, key("shardId-5")); err != nil || found {
		t.Fatalf("Get of a lease-only row = %+v, %v, %v; want not found", cp, found, err)
	}
	// A checkpoint through the lease is a plain number for seed readers.
	errs = s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 1, Owner: "h1",
		Checkpoint: &sdk.Checkpoint{SequenceNumber: "150", SubSequenceNumber: 3}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if seq, _, _, n := raw("shardId-0"); seq != "150" || n != 2 {
		t.Fatalf("after a lease checkpoint the row = %s at counter %d", seq, n)
	}
	// The seed's own unconditional upsert keeps the lease columns.
	exec(t, `INSERT INTO `+q+` (namespace, shard_id, sequence_number) VALUES ('app-orders', 'shardId-0', 160)
		ON CONFLICT (namespace, shard_id) DO UPDATE SET sequence_number = EXCLUDED.sequence_number`)
	errs = s.UpdateLeases(ctx, []sdk.LeaseUpdate{{Key: key("shardId-0"), ExpectOwner: "h1", ExpectCounter: 1, Owner: "h2"}})
	if !errors.Is(errs[0], sdk.ErrConflict) || !strings.Contains(errs[0].Error(), `"h1" at counter 2`) {
		t.Fatalf("a stale take = %v; want a conflict naming h1 at counter 2", errs[0])
	}
	if cp, _, err := s.Get(ctx, key("shardId-0")); err != nil || cp != (sdk.Checkpoint{SequenceNumber: "160", SubSequenceNumber: 3, Owner: "h1", LeaseCounter: 2}) {
		t.Fatalf("Get = %+v, %v", cp, err)
	}
}
