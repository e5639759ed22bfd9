package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/lib/pq"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// leaseForward is the forward-only rule of a lease update's position, for
// the UPDATE (new position in u) and the upsert (in EXCLUDED): a finished
// shard never moves; ShardEnd moves anything else; a sequence number (-1:
// none) moves a position behind it.
func leaseForward(seq, sub, fin string) string {
	return `(NOT COALESCE(c.shard_end, false) AND (` + fin + ` OR (` + seq + ` >= 0 AND (` + seq + `, ` + sub + `) > (c.sequence_number, COALESCE(c.sub_sequence_number, 0)))))`
}

// leasePosition sets the position columns when fwd holds; a ShardEnd
// without a sequence number (-1) keeps the stored sequence number and
// sub-sequence number. When rw (a rewind) holds, the columns are set to
// exactly seq (-1: none), sub and fin instead, backwards too.
func leasePosition(rw, fwd, seq, sub, fin string) string {
	return `sequence_number = CASE WHEN ` + rw + ` THEN ` + seq + ` WHEN ` + fwd + ` AND ` + seq + ` >= 0 THEN ` + seq + ` ELSE c.sequence_number END,
    sub_sequence_number = CASE WHEN ` + rw + ` THEN ` + sub + ` WHEN ` + fwd + ` AND ` + seq + ` >= 0 THEN ` + sub + ` ELSE COALESCE(c.sub_sequence_number, 0) END,
    shard_end = CASE WHEN ` + rw + ` THEN ` + fin + ` WHEN ` + fwd + ` THEN ` + fin + ` ELSE COALESCE(c.shard_end, false) END`
}

// leaseSQL applies a batch of lease updates (no row twice) in one
// statement. Each update goes to exactly one of three data-modifying parts,
// each conditional on the stored owner and counter of the row it locks:
// d deletes; m updates a row expected to hold a lease or a counter (it
// must exist); i inserts a row expected to be absent or unleased ("", 0),
// or, when the row exists, updates it ON CONFLICT only if it still holds
// ("", 0). A delete expecting ("", 0) of a row that does not exist
// applies without writing. The result has one row per update: applied,
// and the stored owner and counter for the message of a conflict.
//
// Lease statements on one namespace run one at a time: before it locks
// any row (every part reads u, and u waits for l), a statement takes a
// transaction-scoped advisory lock per namespace, in order. Their parts
// lock rows in no common order, and two batches overlapping on rows (hosts
// racing for the same shards) would otherwise deadlock.
//
// Without deletes, d is left out: PostgreSQL checks the DELETE privilege
// of a statement that has a DELETE even when it deletes nothing, and a
// user without it can still take, renew and checkpoint.
//
//	$1 namespace[], $2 shard_id[], $3 expected owner[], $4 expected
//	counter[], $5 new owner[], $6 delete[], $7 sequence number[] (-1:
//	none), $8 sub-sequence number[], $9 shard end[], $10 rewind[]
//
// A rewind sets the position columns exactly (sequence_number -1, sub 0,
// shard_end false clears them), in the same conditional UPDATE or upsert.
// The upsert's DO UPDATE reads the rewind flag of its row from u (EXCLUDED
// has only the table's columns).
func leaseSQL(t string, deletes bool) string {
	updFwd := leaseForward("u.seq", "u.sub", "u.fin")
	insFwd := leaseForward("EXCLUDED.sequence_number", "EXCLUDED.sub_sequence_number", "EXCLUDED.shard_end")
	insRw := `COALESCE((SELECT x.rw FROM u AS x WHERE x.ns = EXCLUDED.namespace AND x.sh = EXCLUDED.shard_id), false)`
	d, fromD := "", ""
	if deletes {
		d = `, d AS (
  DELETE FROM ` + t + ` AS c USING u
  WHERE u.del AND c.namespace = u.ns AND c.shard_id = u.sh
    AND COALESCE(c.owner, '') = u.eown AND COALESCE(c.lease_counter, 0) = u.ecnt
  RETURNING c.namespace, c.shard_id
)`
		fromD = `
  UNION ALL SELECT namespace, shard_id FROM d`
	}
	return `WITH l AS MATERIALIZED (
  SELECT count(*) AS n FROM (
    SELECT pg_advisory_xact_lock(hashtext(` + pq.QuoteLiteral("kinesis-host-lease:"+t) + `), k)
    FROM (SELECT DISTINCT hashtext(x) AS k FROM unnest($1::text[]) AS x ORDER BY 1) AS o) AS p
), u AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::bool[], $7::numeric[], $8::int8[], $9::bool[], $10::bool[])
    AS u(ns, sh, eown, ecnt, own, del, seq, sub, fin, rw)
  WHERE (SELECT n FROM l) >= 0
)` + d + `, m AS (
  UPDATE ` + t + ` AS c SET
    owner = u.own,
    lease_counter = u.ecnt + 1,
    ` + leasePosition("u.rw", updFwd, "u.seq", "u.sub", "u.fin") + `
  FROM u
  WHERE NOT u.del AND NOT (u.eown = '' AND u.ecnt = 0)
    AND c.namespace = u.ns AND c.shard_id = u.sh
    AND COALESCE(c.owner, '') = u.eown AND COALESCE(c.lease_counter, 0) = u.ecnt
  RETURNING c.namespace, c.shard_id
), i AS (
  INSERT INTO ` + t + ` AS c (namespace, shard_id, sequence_number, sub_sequence_number, shard_end, owner, lease_counter)
  SELECT u.ns, u.sh, u.seq, u.sub, u.fin, u.own, 1 FROM u
  WHERE NOT u.del AND u.eown = '' AND u.ecnt = 0
  ORDER BY u.ns, u.sh
  ON CONFLICT (namespace, shard_id) DO UPDATE SET
    owner = EXCLUDED.owner,
    lease_counter = 1,
    ` + leasePosition(insRw, insFwd, "EXCLUDED.sequence_number", "EXCLUDED.sub_sequence_number", "EXCLUDED.shard_end") + `
  WHERE COALESCE(c.owner, '') = '' AND COALESCE(c.lease_counter, 0) = 0
  RETURNING c.namespace, c.shard_id
), done AS (
  SELECT namespace, shard_id FROM m
  UNION ALL SELECT namespace, shard_id FROM i` + fromD + `
)
SELECT u.ns, u.sh,
  EXISTS (SELECT 1 FROM done WHERE done.namespace = u.ns AND done.shard_id = u.sh)
    OR (u.del AND u.eown = '' AND u.ecnt = 0 AND c.namespace IS NULL),
  COALESCE(c.owner, ''), COALESCE(c.lease_counter, 0)
FROM u LEFT JOIN ` + t + ` AS c ON c.namespace = u.ns AND c.shard_id = u.sh`
}

// listSQL reads every row of a namespace.
func listSQL(t string) string {
	return `SELECT shard_id, sequence_number::text, COALESCE(sub_sequence_number, 0), COALESCE(shard_end, false),
       COALESCE(owner, ''), COALESCE(lease_counter, 0)
FROM ` + t + ` WHERE namespace = $1`
}

// warnNoDelete logs when the user may not DELETE from the table: lease
// deletes (a host's worker row when it leaves) then fail, while
// checkpoints and leases keep working.
func warnNoDelete(ctx context.Context, db *sql.DB, tbl table, name string) {
	var ok sql.NullBool
	err := db.QueryRowContext(ctx, `SELECT has_table_privilege(to_regclass($1)::oid, 'DELETE')`, tbl.quoted).Scan(&ok)
	if err == nil && ok.Valid && !ok.Bool {
		sdk.Logger().Warn("the user in connection may not DELETE from the checkpoint table: hosts cannot remove their worker rows when they leave; GRANT DELETE ON "+tbl.quoted+" TO <user>",
			"checkpoint", name, "table", tbl.name)
	}
}

// ListLeases implements sdk.LeaseStore: one SELECT of the stream's
// namespace.
func (s *Store) ListLeases(ctx context.Context, app, stream string) ([]sdk.LeaseRow, error) {
	h, err := s.handle()
	if err != nil {
		return nil, err
	}
	ns := Namespace(sdk.CheckpointKey{App: app, Stream: stream})
	var rows []sdk.LeaseRow
	err = withRetry(ctx, func() error {
		rows = rows[:0]
		r, err := h.list.QueryContext(ctx, ns)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var row sdk.LeaseRow
			var seq string
			cp := &row.Checkpoint
			if err := r.Scan(&row.ShardID, &seq, &cp.SubSequenceNumber, &cp.ShardEnd, &cp.Owner, &cp.LeaseCounter); err != nil {
				return err
			}
			if cp.SequenceNumber, err = fromNumeric(seq); err != nil {
				// One unreadable row is reported with its shard; the
				// others are listed.
				rows = append(rows, sdk.LeaseRow{ShardID: row.ShardID,
					Err: shared.ToWire(fmt.Errorf("postgres %s: row namespace %q shard_id %q: %w", h.where, ns, row.ShardID, err))})
				continue
			}
			if cp.SequenceNumber == "" && !cp.ShardEnd {
				cp.SubSequenceNumber = 0
			}
			if cp.SequenceNumber != "" || cp.ShardEnd || cp.Owner != "" || cp.LeaseCounter != 0 {
				rows = append(rows, row)
			}
		}
		return r.Err()
	})
	if err != nil {
		return nil, sdk.Unavailable(fmt.Errorf("postgres %s: list the leases of %s: %s", h.where, ns, h.red.clean(err.Error())))
	}
	return rows, nil
}

func isCode(err error, code pq.ErrorCode) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == code
}

// leaseRow is one update of UpdateLeases in the statement's arrays.
type leaseRow struct {
	i       int // index in updates
	ns, sh  string
	eown    string
	ecnt    int64
	own     string
	del     bool
	seq     string // "-1": no sequence number
	sub     int64
	fin     bool
	rw      bool // rewind: the position exactly (seq "-1", sub 0, fin false clears it)
	applied bool
	stored  sdk.Checkpoint // owner and counter read by the statement
	err     error
}

// UpdateLeases implements sdk.LeaseStore: every update of the batch in one
// statement (leaseSQL), one round trip. A batch that names a row twice
// takes one more statement per repetition, so that a row's updates apply
// in order. When the database refuses a statement because of one row (a
// trigger, a constraint), its updates are applied one by one so that only
// that row fails.
func (s *Store) UpdateLeases(ctx context.Context, updates []sdk.LeaseUpdate) []error {
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
	var rows []*leaseRow
	for i, u := range updates {
		r := &leaseRow{i: i, ns: Namespace(u.Key), sh: u.Key.ShardID, eown: u.ExpectOwner, ecnt: u.ExpectCounter,
			own: u.Owner, del: u.Delete, seq: "-1"}
		r.rw = u.Rewind && !u.Delete
		if cp := u.Checkpoint; cp != nil && !u.Delete {
			if cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
				errs[i] = fmt.Errorf("lease update of %s/%s not applied: invalid sequence number %q: want 1 to 128 decimal digits", u.Key.Stream, u.Key.ShardID, truncate(cp.SequenceNumber))
				continue
			}
			if cp.SequenceNumber != "" {
				r.seq, r.sub = cp.SequenceNumber, cp.SubSequenceNumber
			}
			r.fin = cp.ShardEnd
		}
		rows = append(rows, r)
	}
	for _, wave := range waves(rows) {
		s.applyLeases(ctx, h, wave)
	}
	for _, r := range rows {
		u := updates[r.i]
		switch {
		case r.err != nil:
			errs[r.i] = r.err
		case !r.applied:
			errs[r.i] = sdk.Conflict("lease of %s/%s is held by %q at counter %d, not %q at %d (another host took or renewed it)",
				u.Key.Stream, u.Key.ShardID, r.stored.Owner, r.stored.LeaseCounter, u.ExpectOwner, u.ExpectCounter)
		}
	}
	return errs
}

// waves splits rows into groups in which no (namespace, shard_id) appears
// twice, keeping the order of each row's updates: wave n holds each row's
// n-th update.
func waves(rows []*leaseRow) [][]*leaseRow {
	var out [][]*leaseRow
	seen := map[[2]string]int{}
	for _, r := range rows {
		k := [2]string{r.ns, r.sh}
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], r)
	}
	return out
}

// applyLeases runs leaseSQL on rows (no row twice) and records each
// outcome in it.
func (s *Store) applyLeases(ctx context.Context, h handle, rows []*leaseRow) {
	err := s.execLeases(ctx, h, rows)
	switch {
	case err == nil:
		return
	case unreachable(ctx, err):
		err = sdk.Unavailable(fmt.Errorf("postgres %s: %d lease updates: %s", h.where, len(rows), h.red.clean(err.Error())))
		for _, r := range rows {
			r.err = err
		}
		return
	}
	// Refused because of some row: apply them one by one so only the bad
	// ones fail.
	for _, r := range rows {
		err := err
		if len(rows) > 1 {
			err = s.execLeases(ctx, h, []*leaseRow{r})
		}
		switch {
		case err == nil:
		case unreachable(ctx, err):
			r.err = sdk.Unavailable(fmt.Errorf("postgres %s: lease update of namespace %q shard_id %q: %s", h.where, r.ns, r.sh, h.red.clean(err.Error())))
		case isCode(err, "42501"):
			r.err = fmt.Errorf("postgres %s: lease update of namespace %q shard_id %q: %s; GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO the user in connection",
				h.where, r.ns, r.sh, h.red.clean(err.Error()), h.table)
		default:
			r.err = fmt.Errorf("postgres %s: the database refuses the lease update of namespace %q shard_id %q: %s; fix the row (or the trigger or constraint rejecting it) or delete it",
				h.where, r.ns, r.sh, h.red.clean(err.Error()))
		}
	}
}

func (s *Store) execLeases(ctx context.Context, h handle, rows []*leaseRow) error {
	n := len(rows)
	ns, sh, eown, own, seq := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ecnt, sub := make([]int64, n), make([]int64, n)
	del, fin, rw := make([]bool, n), make([]bool, n), make([]bool, n)
	byKey := make(map[[2]string]*leaseRow, n)
	for i, r := range rows {
		ns[i], sh[i], eown[i], ecnt[i], own[i], del[i], seq[i], sub[i], fin[i], rw[i] = r.ns, r.sh, r.eown, r.ecnt, r.own, r.del, r.seq, r.sub, r.fin, r.rw
		byKey[[2]string{r.ns, r.sh}] = r
	}
	return withRetry(ctx, func() error {
		for _, r := range rows {
			r.applied, r.stored = false, sdk.Checkpoint{}
		}
		stmt := h.lease
		if slices.Contains(del, true) {
			stmt = h.leaseDel
		}
		res, err := stmt.QueryContext(ctx, pq.Array(ns), pq.Array(sh), pq.Array(eown), pq.Array(ecnt), pq.Array(own),
			pq.Array(del), pq.Array(seq), pq.Array(sub), pq.Array(fin), pq.Array(rw))
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var k [2]string
			var applied bool
			var stored sdk.Checkpoint
			if err := res.Scan(&k[0], &k[1], &applied, &stored.Owner, &stored.LeaseCounter); err != nil {
				return err
			}
			if r := byKey[k]; r != nil {
				r.applied, r.stored = applied, stored
			}
		}
		return res.Err()
	})
}
