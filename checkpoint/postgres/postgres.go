// Package postgres is a checkpoint store kept in a PostgreSQL table,
// compatible with harlow/kinesis-consumer's store/postgres table, so users
// who migrate keep their progress.
//
// Settings (config {} block):
//
//	connection   = env("PG_DSN")       # required: postgres:// URL or key=value DSN
//	table        = "kinesis_consumer"  # or "schema.table"; quoted, never pasted into SQL
//	create_table = false               # create the table / add missing columns
//
// # Table
//
// The seed's columns and key, plus four columns for what the seed could not
// record:
//
//	CREATE TABLE kinesis_consumer (
//	    namespace           text    NOT NULL,            -- "<app>-<stream>"
//	    shard_id            text    NOT NULL,
//	    sequence_number     numeric NOT NULL,            -- exact for 128 digits
//	    sub_sequence_number bigint  NOT NULL DEFAULT 0,  -- KPL sub-record
//	    shard_end           boolean NOT NULL DEFAULT false,
//	    owner               text    NOT NULL DEFAULT '', -- lease owner, '' for none
//	    lease_counter       bigint  NOT NULL DEFAULT 0,  -- lease counter
//	    PRIMARY KEY (namespace, shard_id)
//	);
//
// namespace is "<app>-<stream>" exactly as in the seed, so names containing
// "-" can collide (app "a-b" with stream "c" and app "a" with stream "b-c");
// give such apps their own table.
//
// A seed table has only the first three columns. With create_table = true
// the missing columns are added (ALTER TABLE ... ADD COLUMN IF NOT EXISTS,
// with defaults, so the seed's rows and any seed-era writer keep working);
// with create_table = false Configure fails with a ConfigError that gives
// the exact ALTER TABLE to run. The store never runs without the shard_end
// column: a closed shard that cannot be recorded would be rescanned.
//
// The lease of a shard (see Leases below) lives in the same row, in owner
// and lease_counter. A row that holds a lease but no position yet (a shard
// taken but not checkpointed, or a host's worker row, whose shard_id
// starts with "kinesis-host-worker:") has sequence_number -1 and
// shard_end false; Get reports no checkpoint for it. Seed readers read
// only sequence_number of their own shards: they are unaffected by the
// lease columns, and see -1 only for a shard that a host has leased but
// never checkpointed (a seed reader and a host should not consume one
// stream at once anyway).
//
// Configure (unless validating only) connects, then checks the table's
// shape: the columns and their types, a primary key (or unique index) on
// exactly (namespace, shard_id), no other NOT NULL column without a
// default, and SELECT/INSERT/UPDATE privileges (DELETE too, for leases:
// without it Configure logs a warning and only lease deletes fail). Each problem is a
// ConfigError naming the setting and the fix. The connection string's
// password never appears in a message.
//
// # Writes
//
// Set and SetBatch are one statement each,
//
//	INSERT ... SELECT ... FROM unnest(...) ORDER BY namespace, shard_id
//	ON CONFLICT (namespace, shard_id) DO UPDATE SET ...
//	WHERE NOT stored.shard_end AND (new.shard_end OR
//	      (new.sequence_number, new.sub_sequence_number) > (stored.sequence_number, stored.sub_sequence_number))
//
// so the comparison happens in the database, on the row it locks, and two
// writers racing can never move a checkpoint backwards. numeric compares
// sequence numbers exactly. Rows are written in key order so concurrent
// batches cannot deadlock; duplicate keys in one batch are merged first
// (the furthest position wins).
//
// Set writes the position columns only; the lease columns keep what is
// stored (a new row gets their defaults).
//
// SHARD_END is the shard_end column; sequence_number keeps the last
// sequence number read, so seed readers still see a plain number. A
// ShardEnd write without a sequence number keeps the stored one; on a shard
// with no row yet it stores sequence_number = -1, which Get reports as an
// empty sequence number.
//
// # Leases
//
// The store implements sdk.LeaseStore, so several hosts can share it.
// UpdateLeases runs a whole batch as one statement (one round trip; a
// batch naming a row twice takes one more per repetition, so that a row's
// updates apply in order): each update is a DELETE, an UPDATE or an
// INSERT ... ON CONFLICT DO UPDATE whose WHERE compares the stored owner
// and lease_counter with the expected ones (an absent row counts as no owner
// and 0: only an update expecting that may insert it), and that sets
// owner, lease_counter + 1 and, forward only as in Set, the position. The
// database checks and writes each row under its row lock, so a stale host
// can never overwrite a newer lease or checkpoint. Lease statements on one
// namespace take a transaction-scoped advisory lock first and so run one
// at a time, which keeps overlapping batches of racing hosts from
// deadlocking. ListLeases is one SELECT of the stream's namespace (one
// round trip).
//
// A rewind (sdk.LeaseUpdate.Rewind, `kinesis-host rewind -apply`) goes
// through the same statement and the same WHERE on owner and
// lease_counter: its position columns are set exactly (sequence_number,
// what seed readers read, included), backwards too, or cleared to
// sequence_number -1, sub_sequence_number 0, shard_end false.
//
// Any failure of the server or the path to it at run time (server down,
// connection terminated, failover, a stall) is returned as sdk.Unavailable
// so the host retries; a broken pooled connection is retried once at once
// on a fresh one. When the database refuses a batch because of one row (a
// trigger, a constraint), the rows are written one by one so that only that
// row fails (a plain error naming it) and the others are stored. The pool
// holds at most 8 connections.
//
// Every socket read and write has a deadline (half of what Configure was
// given, which the sdk sets to half of the host's call_timeout), because
// lib/pq does not interrupt a read blocked on a stalled server; a stalled
// server therefore fails a call well before the host would count the plugin
// as hung. Configure answers sdk.Unavailable when the server cannot be
// reached or is not accepting connections (the host retries it), and a
// ConfigError for wrong settings.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// DefaultTable is used when the config block names no table.
const DefaultTable = "kinesis_consumer"

const (
	maxOpenConns   = 8
	connectTimeout = 10 * time.Second
	// configureTimeout bounds the whole of Configure's checks.
	configureTimeout = 20 * time.Second
)

// Settings is the store's config {} block.
type Settings struct {
	Connection  string `json:"connection"`
	Table       string `json:"table"`
	CreateTable bool   `json:"create_table"`
}

// Store is the PostgreSQL-backed sdk.Store. Use New, then Configure.
type Store struct {
	mu       sync.RWMutex
	db       *sql.DB
	get      *sql.Stmt
	upsert   *sql.Stmt
	lease    *sql.Stmt // leaseSQL without deletes
	leaseDel *sql.Stmt // leaseSQL with deletes
	list     *sql.Stmt // listSQL
	where    string    // "table at host:port/db" for messages
	table    string    // quoted, for messages
	red      redactor
}

// New returns an unconfigured store.
func New() *Store { return &Store{} }

// table is a parsed table name.
type table struct {
	name   string // as configured
	quoted string // safe to put into SQL
}

func parseTable(name string) (table, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return table{}, sdk.ConfigError("table", "must be a table name or schema.table; got %q", name)
	}
	q := make([]string, len(parts))
	for i, p := range parts {
		if p == "" || strings.ContainsRune(p, 0) {
			return table{}, sdk.ConfigError("table", "must be a table name or schema.table; got %q", name)
		}
		q[i] = pq.QuoteIdentifier(p)
	}
	return table{name: name, quoted: strings.Join(q, ".")}, nil
}

// DDL returns the CREATE TABLE statement for a table name (already quoted
// with pq.QuoteIdentifier per part).
func DDL(quoted string) string {
	return "CREATE TABLE " + quoted + ` (
    namespace           text    NOT NULL,
    shard_id            text    NOT NULL,
    sequence_number     numeric NOT NULL,
    sub_sequence_number bigint  NOT NULL DEFAULT 0,
    shard_end           boolean NOT NULL DEFAULT false,
    owner               text    NOT NULL DEFAULT '',
    lease_counter       bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, shard_id)
)`
}

// extraColumns are the columns the seed's table lacks, with their DDL.
var extraColumns = []struct{ name, typ, ddl string }{
	{"sub_sequence_number", "int8", "bigint NOT NULL DEFAULT 0"},
	{"shard_end", "bool", "boolean NOT NULL DEFAULT false"},
	{"owner", "text", "text NOT NULL DEFAULT ''"},
	{"lease_counter", "int8", "bigint NOT NULL DEFAULT 0"},
}

func alterStatement(quoted string, missing []string) string {
	var adds []string
	for _, c := range extraColumns {
		if slices.Contains(missing, c.name) {
			adds = append(adds, "ADD COLUMN IF NOT EXISTS "+c.name+" "+c.ddl)
		}
	}
	return "ALTER TABLE " + quoted + " " + strings.Join(adds, ", ")
}

// Configure implements sdk.Configurer.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	var st Settings
	if err := cfg.Decode(&st); err != nil {
		return err
	}
	if strings.TrimSpace(st.Connection) == "" {
		return sdk.ConfigError("connection", "is required: a postgres:// URL or a key=value connection string, for example connection = env(\"PG_DSN\")")
	}
	red := newRedactor(st.Connection)
	if st.Table == "" {
		st.Table = DefaultTable
	}
	tbl, err := parseTable(st.Table)
	if err != nil {
		return err
	}
	pcfg, err := pq.NewConfig(st.Connection)
	if err != nil {
		return sdk.ConfigError("connection", "is not a valid postgres:// URL or key=value connection string: %s", red.clean(err.Error()))
	}
	red.add(pcfg.Password)
	if pcfg.ConnectTimeout <= 0 {
		pcfg.ConnectTimeout = connectTimeout
	}
	if pcfg.ApplicationName == "" {
		pcfg.ApplicationName = "kinesis-host"
	}
	connector, err := pq.NewConnectorConfig(pcfg)
	if err != nil {
		return sdk.ConfigError("connection", "%s", red.clean(err.Error()))
	}
	// lib/pq does not interrupt a read blocked on a stalled server when
	// ctx ends; every socket read and write gets its own deadline instead.
	connector.Dialer(deadlineDialer{io: ioTimeout(ctx)})
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)

	server := serverName(pcfg)
	ctx, cancel := context.WithTimeout(ctx, configureTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return connectError(ctx, err, pcfg, server, red)
	}
	if cfg.ValidateOnly {
		// validate: connect and check the table, change nothing. With
		// create_table the table may legitimately not exist yet.
		var err error
		if !st.CreateTable {
			err = prepareTable(ctx, db, tbl, false, red)
		}
		if err != nil {
			_ = db.Close()
			return err
		}
		// Kept for read-only calls (validate lists the leases): only the
		// listing is prepared; a table that does not exist yet (with
		// create_table) has nothing to list.
		list, perr := db.PrepareContext(ctx, listSQL(tbl.quoted))
		if perr != nil {
			_ = db.Close()
			return nil
		}
		s.mu.Lock()
		old := s.db
		s.db, s.list, s.red, s.table = db, list, red, tbl.quoted
		s.where = fmt.Sprintf("table %s at %s", tbl.name, server)
		s.mu.Unlock()
		if old != nil {
			_ = old.Close()
		}
		return nil
	}
	if err := prepareTable(ctx, db, tbl, st.CreateTable, red); err != nil {
		_ = db.Close()
		return err
	}
	get, err := db.PrepareContext(ctx, getSQL(tbl.quoted))
	if err != nil {
		_ = db.Close()
		if unreachable(ctx, err) {
			return sdk.Unavailable(fmt.Errorf("preparing the checkpoint query on %s at %s: %s", tbl.name, server, red.clean(err.Error())))
		}
		return sdk.ConfigError("table", "cannot prepare the checkpoint query on %s: %s", tbl.name, red.clean(err.Error()))
	}
	stmts := map[string]*sql.Stmt{}
	for _, q := range []struct{ name, sql string }{
		{"checkpoint upsert", upsertSQL(tbl.quoted)},
		{"lease update", leaseSQL(tbl.quoted, false)},
		{"lease delete", leaseSQL(tbl.quoted, true)},
		{"lease listing", listSQL(tbl.quoted)},
	} {
		stmt, err := db.PrepareContext(ctx, q.sql)
		if err != nil {
			_ = db.Close()
			if unreachable(ctx, err) {
				return sdk.Unavailable(fmt.Errorf("preparing the %s on %s at %s: %s", q.name, tbl.name, server, red.clean(err.Error())))
			}
			return sdk.ConfigError("table", "cannot prepare the %s on %s: %s", q.name, tbl.name, red.clean(err.Error()))
		}
		stmts[q.name] = stmt
	}
	warnNoDelete(ctx, db, tbl, cfg.Name)
	s.mu.Lock()
	old := s.db
	s.db, s.get, s.red = db, get, red
	s.upsert, s.lease, s.leaseDel, s.list = stmts["checkpoint upsert"], stmts["lease update"], stmts["lease delete"], stmts["lease listing"]
	s.table = tbl.quoted
	s.where = fmt.Sprintf("table %s at %s", tbl.name, server)
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func serverName(c pq.Config) string {
	host := c.Host
	if c.Hostaddr.IsValid() {
		host = c.Hostaddr.String()
	}
	db := c.Database
	if db == "" {
		db = c.User
	}
	return fmt.Sprintf("%s/%s", net.JoinHostPort(host, strconv.Itoa(int(c.Port))), db)
}

func connectError(ctx context.Context, err error, c pq.Config, server string, red redactor) error {
	msg := red.clean(err.Error())
	var pe *pq.Error
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return sdk.ConfigError("connection", "the host name of Postgres at %s does not exist (%s); fix host in connection", server, msg)
	}
	if errors.As(err, &pe) {
		switch {
		case unreachable(ctx, err):
			return sdk.UnavailableAt("connection", fmt.Errorf("Postgres at %s is not accepting connections now: %s; retrying", server, msg))
		case pe.Code == "28P01" || pe.Code == "28000":
			return sdk.ConfigError("connection", "Postgres at %s rejected user %q: %s; check the user and password in connection (and pg_hba.conf on the server)", server, c.User, msg)
		case pe.Code == "3D000":
			return sdk.ConfigError("connection", "database %q does not exist on %s; fix the database name in connection or create it", c.Database, server)
		case pe.Code == "53300":
			return sdk.ConfigError("connection", "Postgres at %s has no free connections (%s); raise max_connections or lower the load", server, msg)
		}
		return sdk.ConfigError("connection", "Postgres at %s refused the connection: %s", server, msg)
	}
	if strings.Contains(msg, "SSL is not enabled on the server") {
		return sdk.ConfigError("connection", "Postgres at %s does not offer TLS; add sslmode=disable to connection (only on a trusted network) or enable ssl on the server", server)
	}
	if strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:") || strings.Contains(msg, "x509") {
		return sdk.ConfigError("connection", "TLS to Postgres at %s failed: %s; check sslmode, sslrootcert and the server certificate in connection", server, msg)
	}
	// Unreachable or stalled: not a configuration problem by itself; the
	// host retries Configure with backoff.
	return sdk.UnavailableAt("connection", fmt.Errorf("cannot reach Postgres at %s: %s; if this persists, check host, port and database in connection and that the server is running and reachable", server, msg))
}

// unreachable reports a failure of the server or the path to it (a
// connection refused, reset or timed out, a server starting up or shutting
// down, ctx's deadline), as opposed to an answer about the request.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code.Class() {
		case "08", "53", "57", "58", "40":
			return true
		}
		return false
	}
	return retryable(err)
}

// ioTimeout bounds one socket read or write: half of what is left of
// ctx (Configure's, which the sdk sets to half of call_timeout), so that a
// stalled server fails a call well inside the host's call_timeout.
func ioTimeout(ctx context.Context) time.Duration {
	d := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl) / 2
	}
	return min(max(d, 500*time.Millisecond), 10*time.Second)
}

// deadlineDialer dials connections whose every Read and Write has a
// deadline of io from its start.
type deadlineDialer struct {
	d  net.Dialer
	io time.Duration
}

func (d deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, io: d.io}, nil
}

type deadlineConn struct {
	net.Conn
	io time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.io))
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.io))
	return c.Conn.Write(b)
}

type column struct {
	typ        string // pg_type.typname
	format     string // format_type()
	typmod     int
	notNull    bool
	hasDefault bool
}

type shape struct {
	exists   bool
	relkind  string
	columns  map[string]column
	keyed    bool // unique index on exactly (namespace, shard_id)
	canRead  bool
	canWrite bool
}

func inspect(ctx context.Context, db *sql.DB, tbl table) (shape, error) {
	var sh shape
	var oid sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT to_regclass($1)::oid`, tbl.quoted).Scan(&oid); err != nil {
		return sh, err
	}
	if !oid.Valid {
		return sh, nil
	}
	sh.exists = true
	if err := db.QueryRowContext(ctx, `SELECT relkind::text, has_table_privilege($1::oid, 'SELECT'), has_table_privilege($1::oid, 'INSERT') AND has_table_privilege($1::oid, 'UPDATE') FROM pg_class WHERE oid = $1::oid`,
		oid.Int64).Scan(&sh.relkind, &sh.canRead, &sh.canWrite); err != nil {
		return sh, err
	}
	rows, err := db.QueryContext(ctx, `
SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.atttypmod, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped`, oid.Int64)
	if err != nil {
		return sh, err
	}
	sh.columns = map[string]column{}
	for rows.Next() {
		var name string
		var c column
		if err := rows.Scan(&name, &c.typ, &c.format, &c.typmod, &c.notNull, &c.hasDefault); err != nil {
			rows.Close()
			return sh, err
		}
		sh.columns[name] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sh, err
	}
	rows, err = db.QueryContext(ctx, `
SELECT array_agg(a.attname::text ORDER BY a.attname)
FROM pg_index i
JOIN LATERAL unnest(i.indkey) AS k(attnum) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid`, oid.Int64)
	if err != nil {
		return sh, err
	}
	defer rows.Close()
	for rows.Next() {
		var cols pq.StringArray
		if err := rows.Scan(&cols); err != nil {
			return sh, err
		}
		if len(cols) == 2 && cols[0] == "namespace" && cols[1] == "shard_id" {
			sh.keyed = true
		}
	}
	return sh, rows.Err()
}

func prepareTable(ctx context.Context, db *sql.DB, tbl table, create bool, red redactor) error {
	fail := func(what string, err error) error {
		return sdk.Unavailable(fmt.Errorf("checking table %s: %s: %s", tbl.name, what, red.clean(err.Error())))
	}
	sh, err := inspect(ctx, db, tbl)
	if err != nil {
		return fail("inspect", err)
	}
	if !sh.exists && !create {
		hint := ""
		if strings.ToLower(tbl.name) != tbl.name {
			hint = fmt.Sprintf(" (table names are case-sensitive here; unquoted SQL folds %s to %s)", tbl.name, strings.ToLower(tbl.name))
		}
		return sdk.ConfigError("table", "table %q does not exist%s; create it with:\n%s;\nor set create_table = true", tbl.name, hint, DDL(tbl.quoted))
	}
	if sh.exists {
		// The table's own shape first: never alter a table that would
		// still be unusable.
		if err := checkShape(tbl, sh); err != nil {
			return err
		}
		missing := missingColumns(sh)
		if len(missing) == 0 {
			return nil
		}
		if !create {
			return sdk.ConfigError("table", "table %s lacks the columns %s (a table from harlow/kinesis-consumer?); add them with:\n%s;\nor set create_table = true to add them automatically. Existing rows are kept",
				tbl.name, strings.Join(missing, ", "), alterStatement(tbl.quoted, missing))
		}
	}
	if err := createOrAlter(ctx, db, tbl, red); err != nil {
		return err
	}
	if sh, err = inspect(ctx, db, tbl); err != nil {
		return fail("inspect", err)
	}
	if !sh.exists {
		return sdk.ConfigError("table", "table %s still does not exist after CREATE TABLE (is the schema in search_path?)", tbl.name)
	}
	if err := checkShape(tbl, sh); err != nil {
		return err
	}
	if missing := missingColumns(sh); len(missing) > 0 {
		return sdk.ConfigError("table", "table %s still lacks the columns %s after ALTER TABLE", tbl.name, strings.Join(missing, ", "))
	}
	return nil
}

func missingColumns(sh shape) []string {
	var missing []string
	for _, c := range extraColumns {
		if _, ok := sh.columns[c.name]; !ok {
			missing = append(missing, c.name)
		}
	}
	return missing
}

func createOrAlter(ctx context.Context, db *sql.DB, tbl table, red redactor) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return sdk.Unavailable(fmt.Errorf("creating table %s: %s", tbl.name, red.clean(err.Error())))
	}
	defer func() { _ = tx.Rollback() }()
	// Several hosts starting at once: one creates, the others wait.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "kinesis-host:"+tbl.quoted); err != nil {
		return sdk.Unavailable(fmt.Errorf("creating table %s: %s", tbl.name, red.clean(err.Error())))
	}
	stmts := []string{
		strings.Replace(DDL(tbl.quoted), "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1),
		alterStatement(tbl.quoted, []string{"sub_sequence_number", "shard_end", "owner", "lease_counter"}),
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			if unreachable(ctx, err) {
				return sdk.Unavailable(fmt.Errorf("creating table %s: %s", tbl.name, red.clean(err.Error())))
			}
			return sdk.ConfigError("create_table", "cannot create or upgrade table %s: %s; run this yourself and set create_table = false:\n%s;\n%s;",
				tbl.name, red.clean(err.Error()), stmts[0], stmts[1])
		}
	}
	if err := tx.Commit(); err != nil {
		return sdk.ConfigError("create_table", "cannot create or upgrade table %s: %s", tbl.name, red.clean(err.Error()))
	}
	return nil
}

// checkShape checks everything but the presence of the extra columns.
func checkShape(tbl table, sh shape) error {
	bad := func(format string, args ...any) error {
		return sdk.ConfigError("table", "table %s: %s", tbl.name, fmt.Sprintf(format, args...))
	}
	if sh.relkind != "r" && sh.relkind != "p" {
		return bad("is not a table (relkind %q); point table at a plain table", sh.relkind)
	}
	for _, name := range []string{"namespace", "shard_id"} {
		c, ok := sh.columns[name]
		if !ok {
			return bad("has no %s column; it does not look like a checkpoint table. Expected:\n%s", name, DDL(tbl.quoted))
		}
		if c.typ != "text" && c.typ != "varchar" {
			return bad("column %s is %s; want text: ALTER TABLE %s ALTER COLUMN %s TYPE text", name, c.format, tbl.quoted, name)
		}
	}
	c, ok := sh.columns["sequence_number"]
	if !ok {
		return bad("has no sequence_number column; it does not look like a checkpoint table. Expected:\n%s", DDL(tbl.quoted))
	}
	if c.typ != "numeric" {
		return bad("column sequence_number is %s; want numeric (exact for 128-digit sequence numbers): ALTER TABLE %s ALTER COLUMN sequence_number TYPE numeric USING sequence_number::numeric", c.format, tbl.quoted)
	}
	if c.typmod != -1 {
		precision, scale := ((c.typmod-4)>>16)&0xffff, (c.typmod-4)&0xffff
		if precision < 128 || scale != 0 {
			return bad("column sequence_number is %s, too small for 128-digit sequence numbers: ALTER TABLE %s ALTER COLUMN sequence_number TYPE numeric", c.format, tbl.quoted)
		}
	}
	for _, x := range extraColumns {
		c, present := sh.columns[x.name]
		if !present {
			continue
		}
		ok := c.typ == x.typ || (x.typ == "text" && c.typ == "varchar")
		if !ok {
			return bad("column %s is %s; want %s: ALTER TABLE %s ALTER COLUMN %s TYPE %s", x.name, c.format, strings.Fields(x.ddl)[0], tbl.quoted, x.name, strings.Fields(x.ddl)[0])
		}
	}
	for name, c := range sh.columns {
		switch name {
		case "namespace", "shard_id", "sequence_number", "sub_sequence_number", "shard_end", "owner", "lease_counter":
			continue
		}
		if c.notNull && !c.hasDefault {
			return bad("column %s is NOT NULL without a default, and checkpoint writes do not set it; give it a default or drop NOT NULL", name)
		}
	}
	if !sh.keyed {
		return bad("has no primary key on (namespace, shard_id), which conditional upserts need: ALTER TABLE %s ADD PRIMARY KEY (namespace, shard_id)", tbl.quoted)
	}
	if !sh.canRead || !sh.canWrite {
		return sdk.ConfigError("connection", "the user in connection lacks privileges on table %s; GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO <user> (DELETE lets hosts remove their worker rows)", tbl.name, tbl.quoted)
	}
	return nil
}

func getSQL(t string) string {
	return `SELECT sequence_number::text, COALESCE(sub_sequence_number, 0), COALESCE(shard_end, false),
       COALESCE(owner, ''), COALESCE(lease_counter, 0)
FROM ` + t + ` WHERE namespace = $1 AND shard_id = $2`
}

// upsertSQL is Set's statement: it writes the position only (a new row
// gets the lease columns' defaults, ” and 0).
func upsertSQL(t string) string {
	return `INSERT INTO ` + t + ` AS c (namespace, shard_id, sequence_number, sub_sequence_number, shard_end)
SELECT u.ns, u.sh, u.seq, u.sub, u.fin
FROM unnest($1::text[], $2::text[], $3::numeric[], $4::int8[], $5::bool[])
     AS u(ns, sh, seq, sub, fin)
ORDER BY u.ns, u.sh
ON CONFLICT (namespace, shard_id) DO UPDATE SET
  sequence_number = CASE WHEN EXCLUDED.sequence_number < 0 THEN c.sequence_number ELSE EXCLUDED.sequence_number END,
  sub_sequence_number = CASE WHEN EXCLUDED.sequence_number < 0 THEN COALESCE(c.sub_sequence_number, 0) ELSE EXCLUDED.sub_sequence_number END,
  shard_end = EXCLUDED.shard_end
WHERE NOT COALESCE(c.shard_end, false)
  AND (EXCLUDED.shard_end
       OR (EXCLUDED.sequence_number, EXCLUDED.sub_sequence_number) > (c.sequence_number, COALESCE(c.sub_sequence_number, 0)))`
}

// Namespace is the seed's namespace column value for a key: "<app>-<stream>".
func Namespace(k sdk.CheckpointKey) string { return k.App + "-" + k.Stream }

type handle struct {
	get, upsert, lease, leaseDel, list *sql.Stmt
	where, table                       string
	red                                redactor
}

func (s *Store) handle() (handle, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return handle{}, errors.New("postgres checkpoint store is not configured (no Configure call)")
	}
	return handle{s.get, s.upsert, s.lease, s.leaseDel, s.list, s.where, s.table, s.red}, nil
}

// retryable reports a failure worth one immediate retry on a fresh
// connection: the pooled connection was broken, or the transaction lost a
// deadlock or serialization race.
func retryable(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Code.Class() == "08", pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03",
			pe.Code == "40001", pe.Code == "40P01":
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}

func withRetry(ctx context.Context, fn func() error) error {
	err := fn()
	if err != nil && retryable(err) && ctx.Err() == nil {
		err = fn()
	}
	return err
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	h, err := s.handle()
	if err != nil {
		return sdk.Checkpoint{}, false, err
	}
	var cp sdk.Checkpoint
	var seq string
	err = withRetry(ctx, func() error {
		return h.get.QueryRowContext(ctx, Namespace(key), key.ShardID).Scan(&seq, &cp.SubSequenceNumber, &cp.ShardEnd, &cp.Owner, &cp.LeaseCounter)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return sdk.Checkpoint{}, false, nil
	}
	if err != nil {
		return sdk.Checkpoint{}, false, sdk.Unavailable(fmt.Errorf("postgres %s: read checkpoint %s/%s: %s", h.where, key.Stream, key.ShardID, h.red.clean(err.Error())))
	}
	cp.SequenceNumber, err = fromNumeric(seq)
	if err != nil {
		return sdk.Checkpoint{}, false, fmt.Errorf("postgres %s: checkpoint %s/%s: %w", h.where, key.Stream, key.ShardID, err)
	}
	if cp.SequenceNumber == "" && !cp.ShardEnd {
		return sdk.Checkpoint{}, false, nil // a lease without a position
	}
	return cp, true, nil
}

// fromNumeric turns numeric's text form back into a sequence number; -1
// (no position: a lease alone, or a shard finished before any record was
// checkpointed) is "".
func fromNumeric(v string) (string, error) {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		if strings.Trim(v[i+1:], "0") != "" {
			return "", fmt.Errorf("sequence_number %s is not an integer; fix or delete the row", v)
		}
		v = v[:i]
	}
	if v == "-1" {
		return "", nil
	}
	if strings.HasPrefix(v, "-") {
		return "", fmt.Errorf("sequence_number %s is negative; fix or delete the row", v)
	}
	if !sdk.ValidSequence(v) {
		return "", fmt.Errorf("sequence_number %q is not a sequence number", v)
	}
	return v, nil
}

// Set implements sdk.Store.
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	return s.SetBatch(ctx, []sdk.CheckpointUpdate{{Key: key, Checkpoint: cp}})[0]
}

// SetBatch implements sdk.BatchStore: all updates in one statement.
func (s *Store) SetBatch(ctx context.Context, updates []sdk.CheckpointUpdate) []error {
	errs := make([]error, len(updates))
	if len(updates) == 0 {
		return errs
	}
	h, err := s.handle()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	// Merge duplicate keys (ON CONFLICT may touch a row only once per
	// statement): the furthest position wins, the first of equals.
	type row struct {
		ns, shard string
		cp        sdk.Checkpoint
		idx       []int
	}
	byKey := map[[2]string]*row{}
	var rows []*row
	for i, u := range updates {
		cp := u.Checkpoint
		if cp.SequenceNumber == "" && !cp.ShardEnd {
			continue // an empty position never moves anything
		}
		if cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
			errs[i] = fmt.Errorf("invalid sequence number %q: want 1 to 128 decimal digits", truncate(cp.SequenceNumber))
			continue
		}
		k := [2]string{Namespace(u.Key), u.Key.ShardID}
		r := byKey[k]
		if r == nil {
			r = &row{ns: k[0], shard: k[1], cp: cp}
			byKey[k] = r
			rows = append(rows, r)
		} else if sdk.ComparePosition(cp, r.cp) > 0 {
			r.cp = cp
		}
		r.idx = append(r.idx, i)
	}
	if len(rows) == 0 {
		return errs
	}
	n := len(rows)
	ns, shards, seqs := make([]string, n), make([]string, n), make([]string, n)
	subs := make([]int64, n)
	ends := make([]bool, n)
	for i, r := range rows {
		ns[i], shards[i] = r.ns, r.shard
		seqs[i], subs[i], ends[i] = r.cp.SequenceNumber, r.cp.SubSequenceNumber, r.cp.ShardEnd
		if seqs[i] == "" {
			seqs[i] = "-1" // ShardEnd without a sequence number: keep the stored one
		}
	}
	exec := func(lo, hi int) error {
		return withRetry(ctx, func() error {
			_, err := h.upsert.ExecContext(ctx, pq.Array(ns[lo:hi]), pq.Array(shards[lo:hi]), pq.Array(seqs[lo:hi]), pq.Array(subs[lo:hi]),
				pq.Array(ends[lo:hi]))
			return err
		})
	}
	fail := func(r *row, err error) {
		for _, i := range r.idx {
			errs[i] = err
		}
	}
	err = exec(0, n)
	switch {
	case err == nil:
	case unreachable(ctx, err):
		err = sdk.Unavailable(fmt.Errorf("postgres %s: write %d checkpoints: %s", h.where, n, h.red.clean(err.Error())))
		for _, r := range rows {
			fail(r, err)
		}
	default:
		// The database refused the statement because of some row (a
		// trigger, a constraint, a corrupt value): write the rows one by
		// one so that only the bad ones fail and the others move on.
		for j, r := range rows {
			err := err
			if n > 1 {
				err = exec(j, j+1)
			}
			switch {
			case err == nil:
			case unreachable(ctx, err):
				fail(r, sdk.Unavailable(fmt.Errorf("postgres %s: write checkpoint %s/%s: %s", h.where, r.ns, r.shard, h.red.clean(err.Error()))))
			default:
				fail(r, fmt.Errorf("postgres %s: the database refuses the checkpoint of namespace %q shard_id %q: %s; fix the row (or the trigger or constraint rejecting it) or delete it",
					h.where, r.ns, r.shard, h.red.clean(err.Error())))
			}
		}
	}
	return errs
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Close implements sdk.Closer.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db, s.get, s.upsert, s.lease, s.leaseDel, s.list = nil, nil, nil, nil, nil, nil
	return err
}

// redactor removes secrets (the password, the whole connection string)
// from messages.
type redactor struct{ secrets []string }

var (
	urlPassword = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:([^@/]*)@`)
	kvPassword  = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:\\.|[^'\\])*'|[^\s]+)`)
)

func newRedactor(dsn string) redactor {
	var r redactor
	r.add(dsn)
	if m := urlPassword.FindStringSubmatch(dsn); m != nil {
		r.add(m[1])
		if u, err := url.PathUnescape(m[1]); err == nil {
			r.add(u)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := m[1]
		r.add(v)
		if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
			r.add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v[1 : len(v)-1]))
		}
	}
	r.add(os.Getenv("PGPASSWORD"))
	return r
}

func (r *redactor) add(secret string) {
	if secret != "" && !slices.Contains(r.secrets, secret) {
		r.secrets = append(r.secrets, secret)
		// Longest first, so a password inside the DSN does not leave
		// pieces of the DSN behind.
		slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	}
}

func (r redactor) clean(msg string) string {
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}
