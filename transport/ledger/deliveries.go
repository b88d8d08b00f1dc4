package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Record is one output record to deliver (a delivery of KindRecord).
type Record struct {
	AssignmentNumber string
	EffectiveDate    time.Time // only the date is kept
	Line             int       // line (or record number) in the input file
	Payload          []byte    // JSON; stored and sent in canonical form
	// Key, when the caller has worked it out, is the record's idempotency
	// key (see Key): Payload is then canonical already (Canonical) and
	// stored as it is, and neither is worked out again.
	Key string
}

// EnqueueResult counts what Enqueue did.
type EnqueueResult struct {
	// Enqueued counts newly inserted deliveries. Some of them may already
	// be superseded by a later record in the same call.
	Enqueued int
	// Duplicates counts records whose key was already queued or sent for
	// this destination, including repeats within the call.
	Duplicates int
	// Superseded counts pending deliveries, old or new, that this call
	// replaced with a newer plan for the same assignment.
	Superseded int
}

// Delivery is one record, or one whole file, queued for one destination.
type Delivery struct {
	ID          int64
	Destination string
	Kind        DeliveryKind
	Key         string // idempotency key
	// AssignmentNumber and EffectiveDate are a record's; a file delivery
	// has neither ("" and the zero time).
	AssignmentNumber string
	EffectiveDate    time.Time
	// FileID is the input file the delivery came from; Line is a record's
	// line in that file's records (0 for a file delivery).
	FileID        int64
	Line          int
	Payload       []byte
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// RemoteID is the receiver's id for the record, if its answer gave one.
	RemoteID string
}

// deliveryColumns are what scanDelivery reads; the kind as a flag, which
// costs nothing to read.
const deliveryColumns = `id, destination, kind = 'file', idempotency_key, assignment_number, effective_date, file_id,
	record_line, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at, remote_id`

func scanDelivery(row interface{ Scan(...any) error }) (*Delivery, error) {
	var d Delivery
	var date string
	var next, created, updated int64
	var file bool
	err := row.Scan(&d.ID, &d.Destination, &file, &d.Key, &d.AssignmentNumber, &date, &d.FileID,
		&d.Line, &d.Payload, &d.State, &d.Attempts, &next, &d.LastError, &created, &updated, &d.RemoteID)
	if err != nil {
		return nil, err
	}
	d.Kind = KindRecord
	if file {
		d.Kind = KindFile
	}
	if d.EffectiveDate, err = parseDate(date); err != nil {
		return nil, fmt.Errorf("delivery %d: effective date: %w", d.ID, err)
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMS(next), fromMS(created), fromMS(updated)
	return &d, nil
}

// EnqueueFile queues a whole file's records for one destination in a single
// transaction: Enqueue with a Queue of records.
func (l *Ledger) EnqueueFile(ctx context.Context, fileID int64, destination string, records []Record) (EnqueueResult, error) {
	return l.Enqueue(ctx, fileID, Queue{Destination: destination, Records: records})
}

// Enqueue queues what file fileID gives one destination (q) in a single
// transaction: either all of it is recorded or none.
//
// A delivery whose key is already known for the destination, in any
// state, is counted as a duplicate and not queued again. Of the pending
// records for one assignment, only the newest plan stays pending (latest
// effective date; for equal dates, the one queued last) and the others
// become superseded, whichever order they arrived in; likewise, of the
// pending file deliveries of one input file only the one queued last
// stays pending. Delivered records are never touched: ESR keeps
// effective-dated history.
func (l *Ledger) Enqueue(ctx context.Context, fileID int64, q Queue) (EnqueueResult, error) {
	// Canonicalise outside the transaction so the write lock is held only
	// for the inserts.
	prep, err := prepareQueue(q)
	if err != nil {
		return EnqueueResult{}, err
	}
	var res EnqueueResult
	err = l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		res, err = l.enqueueTx(ctx, tx, fileID, q.Destination, prep, ms(time.Now()))
		return err
	})
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("ledger: enqueue file %d for %s: %w", fileID, q.Destination, err)
	}
	return res, nil
}

// preparedDelivery is a delivery ready to insert: its canonical payload
// and key, and a record's assignment, date and line.
type preparedDelivery struct {
	kind       DeliveryKind
	key, date  string
	assignment string
	line       int
	payload    []byte
}

// prepareQueue checks q and canonicalises its payloads.
func prepareQueue(q Queue) ([]preparedDelivery, error) {
	if q.Destination == "" {
		return nil, errors.New("ledger: enqueue: no destination")
	}
	prep := make([]preparedDelivery, 0, len(q.Records)+1)
	for _, r := range q.Records {
		if r.AssignmentNumber == "" || r.EffectiveDate.IsZero() {
			return nil, fmt.Errorf("ledger: enqueue: record at line %d: assignment number and effective date are required", r.Line)
		}
		p := preparedDelivery{kind: KindRecord, key: r.Key, payload: r.Payload}
		var err error
		if r.Key == "" {
			p, err = prepare(KindRecord, r.Payload)
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: enqueue: record at line %d: %w", r.Line, err)
		}
		p.assignment, p.date, p.line = r.AssignmentNumber, r.EffectiveDate.Format(dateLayout), r.Line
		prep = append(prep, p)
	}
	if q.File != nil {
		p, err := prepare(KindFile, q.File)
		if err != nil {
			return nil, fmt.Errorf("ledger: enqueue: file delivery: %w", err)
		}
		prep = append(prep, p)
	}
	return prep, nil
}

// prepare canonicalises a payload and computes its key.
func prepare(kind DeliveryKind, payload []byte) (preparedDelivery, error) {
	c, err := Canonical(payload)
	if err != nil {
		return preparedDelivery{}, err
	}
	sum := sha256.Sum256(c) // Key of a payload already canonical
	return preparedDelivery{kind: kind, key: hex.EncodeToString(sum[:]), payload: c}, nil
}

// enqueueTx is Enqueue inside tx.
func (l *Ledger) enqueueTx(ctx context.Context, tx *sql.Tx, fileID int64, destination string, prep []preparedDelivery, now int64) (EnqueueResult, error) {
	var res EnqueueResult
	ins, err := l.txStmt(ctx, tx, enqueueSQL)
	if err != nil {
		return res, err
	}
	touched := make(map[string]bool) // assignments with a new record
	fileQueued := false
	for _, p := range prep {
		out, err := ins.ExecContext(ctx, destination, p.kind, p.key, p.assignment, p.date,
			fileID, p.line, p.payload, now, now)
		if err != nil {
			if p.kind == KindFile {
				return res, fmt.Errorf("file delivery: %w", err)
			}
			return res, fmt.Errorf("record at line %d: %w", p.line, err)
		}
		n, err := out.RowsAffected()
		if err != nil {
			return res, err
		}
		if n == 0 {
			res.Duplicates++
			continue
		}
		res.Enqueued++
		if p.kind == KindFile {
			fileQueued = true
		} else {
			touched[p.assignment] = true
		}
	}
	for _, a := range sortedKeys(touched) {
		n, err := l.supersede(ctx, tx, destination, a, now)
		if err != nil {
			return res, err
		}
		res.Superseded += n
	}
	if fileQueued {
		n, err := l.supersedeFile(ctx, tx, destination, fileID, now)
		if err != nil {
			return res, err
		}
		res.Superseded += n
	}
	return res, nil
}

const enqueueSQL = `INSERT INTO deliveries
	(destination, kind, idempotency_key, assignment_number, effective_date, file_id, record_line,
	 payload, state, next_attempt_at, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
	ON CONFLICT (destination, idempotency_key) DO NOTHING`

// supersede keeps only the newest pending plan for an assignment pending.
// Besides not sending stale plans, this means a destination never has two
// pending records for one assignment that could race each other. (Only
// records have an assignment, so the kind need not be asked: the index
// then covers the update's search.)
func (l *Ledger) supersede(ctx context.Context, tx *sql.Tx, destination, assignment string, now int64) (int, error) {
	if assignment == "" {
		return 0, errors.New("supersede: no assignment")
	}
	n, err := l.txCount(ctx, tx, `UPDATE deliveries SET state = 'superseded', updated_at = ?
		WHERE destination = ? AND assignment_number = ? AND state = 'pending'
		  AND id <> (SELECT id FROM deliveries
		             WHERE destination = ? AND assignment_number = ? AND state = 'pending'
		             ORDER BY effective_date DESC, id DESC LIMIT 1)`,
		now, destination, assignment, destination, assignment)
	if err != nil {
		return 0, fmt.Errorf("supersede %s: %w", assignment, err)
	}
	return n, nil
}

// supersedeFile keeps only the file delivery of file fileID queued last
// pending: the output of the same input processed again (after a
// restart) replaces an older one not yet put.
func (l *Ledger) supersedeFile(ctx context.Context, tx *sql.Tx, destination string, fileID, now int64) (int, error) {
	n, err := l.txCount(ctx, tx, `UPDATE deliveries SET state = 'superseded', updated_at = ?
		WHERE destination = ? AND file_id = ? AND state = 'pending' AND kind = 'file'
		  AND id <> (SELECT MAX(id) FROM deliveries
		             WHERE destination = ? AND file_id = ? AND state = 'pending' AND kind = 'file')`,
		now, destination, fileID, destination, fileID)
	if err != nil {
		return 0, fmt.Errorf("supersede file %d: %w", fileID, err)
	}
	return n, nil
}

// txCount runs a prepared statement in tx and returns the rows it changed.
func (l *Ledger) txCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	st, err := l.txStmt(ctx, tx, query)
	if err != nil {
		return 0, err
	}
	out, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	n, err := out.RowsAffected()
	return int(n), err
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const (
	dueSQL = `SELECT ` + deliveryColumns + ` FROM deliveries
	WHERE destination = ? AND state = 'pending' AND next_attempt_at <= ?
	ORDER BY next_attempt_at, id LIMIT ?`
	dueExceptSQL = `SELECT ` + deliveryColumns + ` FROM deliveries
	WHERE destination = ? AND state = 'pending' AND next_attempt_at <= ?
	  AND id NOT IN (SELECT value FROM json_each(?))
	ORDER BY next_attempt_at, id LIMIT ?`
)

// Due returns up to limit pending deliveries for destination whose next
// attempt is due at now, the longest-waiting first, leaving out the ids in
// except (a dispatcher's deliveries in flight, which are still pending).
func (l *Ledger) Due(ctx context.Context, destination string, now time.Time, limit int, except ...int64) ([]Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	query, args := dueSQL, []any{destination, ms(now), limit}
	if len(except) > 0 {
		ids, err := json.Marshal(except)
		if err != nil {
			return nil, fmt.Errorf("ledger: due for %s: %w", destination, err)
		}
		query, args = dueExceptSQL, []any{destination, ms(now), string(ids), limit}
	}
	st, err := l.prepared(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("ledger: due for %s: %w", destination, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: due for %s: %w", destination, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: due for %s: %w", destination, err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: due for %s: %w", destination, err)
	}
	return out, nil
}

// NextAttempt returns the earliest next-attempt time of the destination's
// pending deliveries; ok is false when nothing is pending.
func (l *Ledger) NextAttempt(ctx context.Context, destination string) (at time.Time, ok bool, err error) {
	var v sql.NullInt64
	st, err := l.prepared(ctx, `SELECT MIN(next_attempt_at) FROM deliveries
		WHERE destination = ? AND state = 'pending'`)
	if err == nil {
		err = st.QueryRowContext(ctx, destination).Scan(&v)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ledger: next attempt for %s: %w", destination, err)
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(v.Int64), true, nil
}

// MakeDue makes every pending delivery of destination that waits beyond
// now due at now, and returns how many it moved: the destination answers
// again after an outage, and what waited for it is sent at once rather
// than at the end of each record's backoff.
func (l *Ledger) MakeDue(ctx context.Context, destination string, now time.Time) (int, error) {
	var n int64
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?
			WHERE destination = ? AND state = 'pending' AND next_attempt_at > ?`, ms(now), destination, ms(now))
		if err != nil {
			return err
		}
		n, err = out.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: make due for %s: %w", destination, err)
	}
	return int(n), nil
}

// Delivery returns the delivery with the given id, or ErrNotFound.
func (l *Ledger) Delivery(ctx context.Context, id int64) (*Delivery, error) {
	d, err := scanDelivery(l.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ledger: delivery %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: delivery %d: %w", id, err)
	}
	return d, nil
}

// MarkDelivered records that the destination accepted the delivery.
func (l *Ledger) MarkDelivered(ctx context.Context, id int64) error {
	return l.Finish(ctx, id, Final{State: Delivered})
}

// MarkDuplicate records that the destination already had the record.
func (l *Ledger) MarkDuplicate(ctx context.Context, id int64) error {
	return l.Finish(ctx, id, Final{State: Duplicate})
}

// MarkRejected records that the destination refused the record for good.
func (l *Ledger) MarkRejected(ctx context.Context, id int64, reason string) error {
	return l.Finish(ctx, id, Final{State: Rejected, Reason: reason})
}

// Final is the last outcome of a delivery, for Finish.
type Final struct {
	// State is Delivered, Duplicate or Rejected.
	State DeliveryState
	// Requests is how many attempts the outcome took (requests the
	// receiver may have seen), added to the delivery's attempts; zero
	// counts as one.
	Requests int
	// Reason is why a delivery was rejected.
	Reason string
	// RemoteID is the receiver's id for a delivered record, if it gave one.
	RemoteID string
}

// Finish moves a delivery to a final state. A superseded delivery may
// still finish: it was superseded while its attempt was in flight, and
// what the destination did with it is the truth worth keeping. Finishing
// an already finished delivery changes nothing.
func (l *Ledger) Finish(ctx context.Context, id int64, f Final) error {
	switch f.State {
	case Delivered, Duplicate, Rejected:
	default:
		return fmt.Errorf("ledger: mark delivery %d: %q is not a final state", id, f.State)
	}
	if err := l.mark(ctx, markOp{id: id, state: f.State, requests: max(f.Requests, 1), lastErr: f.Reason, remoteID: f.RemoteID}); err != nil {
		return fmt.Errorf("ledger: mark delivery %d %s: %w", id, f.State, err)
	}
	return nil
}

// MarkRetry records a failed attempt and when to try again. It does nothing
// to a delivery that is no longer pending (superseded meanwhile).
func (l *Ledger) MarkRetry(ctx context.Context, id int64, attempts int, nextAt time.Time, lastErr string) error {
	op := markOp{id: id, attempts: attempts, nextAt: ms(nextAt), lastErr: lastErr}
	if err := l.mark(ctx, op); err != nil {
		return fmt.Errorf("ledger: mark delivery %d for retry: %w", id, err)
	}
	return nil
}

// markOp is one delivery outcome.
type markOp struct {
	id       int64
	state    DeliveryState // final state; "" records a retry
	requests int           // for a final state: attempts to add
	attempts int           // for a retry
	nextAt   int64         // for a retry
	lastErr  string
	remoteID string // for a final state
}

// mark records one outcome. Outcomes of concurrent deliveries share
// commits (see tx), which is what lets a destination take hundreds of
// records a second with every outcome synced to disk.
func (l *Ledger) mark(ctx context.Context, o markOp) error {
	return l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var out sql.Result
		now := ms(time.Now())
		if o.state != "" {
			st, err := l.txStmt(ctx, tx, finishSQL)
			if err != nil {
				return err
			}
			if out, err = st.ExecContext(ctx, o.state, o.requests, o.lastErr, o.remoteID, now, o.id); err != nil {
				return err
			}
		} else {
			st, err := l.txStmt(ctx, tx, retrySQL)
			if err != nil {
				return err
			}
			if out, err = st.ExecContext(ctx, o.attempts, o.nextAt, o.lastErr, now, o.id); err != nil {
				return err
			}
		}
		return existsIfUnchanged(ctx, tx, out, o.id)
	})
}

const (
	finishSQL = `UPDATE deliveries
		SET state = ?, attempts = attempts + ?, last_error = ?, remote_id = ?, updated_at = ?
		WHERE id = ? AND state IN ('pending', 'superseded')`
	retrySQL = `UPDATE deliveries
		SET attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
		WHERE id = ? AND state = 'pending'`
)

// existsIfUnchanged turns "no row updated" into ErrNotFound when the id
// does not exist, and into success when the row exists in another state.
func existsIfUnchanged(ctx context.Context, tx *sql.Tx, out sql.Result, id int64) error {
	n, err := out.RowsAffected()
	if err != nil || n > 0 {
		return err
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// RequeueFilter narrows Requeue. Zero fields match everything.
type RequeueFilter struct {
	IDs    []int64
	FileID int64
	// AssignmentNumber matches records only: a file delivery has none.
	AssignmentNumber string
}

// Requeue moves the destination's rejected deliveries that match filter
// back to pending, due at once with the attempt count reset, and returns
// how many moved. A requeued record that is older than another pending
// plan for its assignment is superseded straight away, and so is a
// requeued file delivery older than another pending one of its file.
func (l *Ledger) Requeue(ctx context.Context, destination string, filter RequeueFilter) (int, error) {
	// A payload emptied by Prune (a delivery superseded while in flight,
	// pruned, then refused) cannot be sent again.
	where := []string{"destination = ?", "state = 'rejected'", "length(payload) > 0"}
	args := []any{destination}
	if len(filter.IDs) > 0 {
		where = append(where, "id IN (?"+strings.Repeat(", ?", len(filter.IDs)-1)+")")
		for _, id := range filter.IDs {
			args = append(args, id)
		}
	}
	if filter.FileID != 0 {
		where = append(where, "file_id = ?")
		args = append(args, filter.FileID)
	}
	if filter.AssignmentNumber != "" {
		where = append(where, "assignment_number = ?")
		args = append(args, filter.AssignmentNumber)
	}
	cond := strings.Join(where, " AND ")

	var moved int
	now := ms(time.Now())
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT kind, assignment_number, file_id FROM deliveries WHERE `+cond, args...)
		if err != nil {
			return err
		}
		touched := make(map[string]bool)
		var files []int64
		for rows.Next() {
			var kind DeliveryKind
			var a string
			var file int64
			if err := rows.Scan(&kind, &a, &file); err != nil {
				rows.Close()
				return err
			}
			if kind == KindFile {
				files = append(files, file)
			} else {
				touched[a] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		out, err := tx.ExecContext(ctx, `UPDATE deliveries
			SET state = 'pending', attempts = 0, next_attempt_at = 0, updated_at = ?
			WHERE `+cond, append([]any{now}, args...)...)
		if err != nil {
			return err
		}
		n, err := out.RowsAffected()
		if err != nil {
			return err
		}
		moved = int(n)
		for _, a := range sortedKeys(touched) {
			if _, err := l.supersede(ctx, tx, destination, a, now); err != nil {
				return err
			}
		}
		for _, f := range files {
			if _, err := l.supersedeFile(ctx, tx, destination, f, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: requeue for %s: %w", destination, err)
	}
	return moved, nil
}
