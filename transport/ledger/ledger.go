// Package ledger is the hub's durable state: which input files were seen and
// what became of them, and the queue of records waiting to be delivered to
// each destination.
//
// The ledger is an embedded SQLite database (modernc.org/sqlite, pure Go) in
// a state directory, in WAL mode with synchronous=FULL so that a committed
// change survives a power cut. Every change of state is one transaction.
//
// Records are deduplicated per destination by an idempotency key, the
// SHA-256 of the record's canonical JSON (see Key). The same key is sent to
// the receiver, so a record that is delivered twice after a crash is
// recognised there too. A consequence: if a plan changes from A to B and
// back to exactly A, the second A is a duplicate and is not sent again; in
// practice a revert carries a new effective date and so a new key.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's file name inside the state directory.
const FileName = "ledger.db"

// busyTimeout is how long a writer waits for another connection's write
// transaction before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// dateLayout is how effective dates are stored; ISO dates sort as text.
const dateLayout = "2006-01-02"

// ErrNotFound is returned when a file or delivery id does not exist.
var ErrNotFound = errors.New("not found")

// FileState is where an input file is in its life.
type FileState string

// File states.
const (
	FileClaimed     FileState = "claimed"
	FileProcessed   FileState = "processed"
	FileQuarantined FileState = "quarantined"
)

// DeliveryKind is what a delivery carries.
type DeliveryKind string

// Delivery kinds.
const (
	// KindRecord is one record (a plan), with its assignment number and
	// effective date: what a record destination (the ESR API) takes.
	KindRecord DeliveryKind = "record"
	// KindFile is a whole file of one input's accepted records, for a
	// destination that takes files (an outbox folder, an SFTP server). It
	// has no assignment number or effective date; its payload says which
	// staged file it is, in the words of whoever queued it.
	KindFile DeliveryKind = "file"
)

// DeliveryState is where a record is on its way to a destination.
type DeliveryState string

// Delivery states.
const (
	// Pending records wait for (another) delivery attempt.
	Pending DeliveryState = "pending"
	// Delivered records were accepted by the destination.
	Delivered DeliveryState = "delivered"
	// Duplicate records were reported by the destination as already held
	// (for the HTTP API: 409 Conflict).
	Duplicate DeliveryState = "duplicate"
	// Rejected records were refused for good; `deliveries retry` requeues
	// them.
	Rejected DeliveryState = "rejected"
	// Superseded records were replaced by a newer plan for the same
	// assignment before they were sent.
	Superseded DeliveryState = "superseded"
)

// maxConns bounds the connection pool. Connections are kept open between
// uses: opening one costs far more than a query (file, WAL index, pragmas).
const maxConns = 8

// Ledger is an open ledger database. It is safe for concurrent use.
type Ledger struct {
	db *sql.DB

	// writer is held by whoever commits (a one-slot semaphore): SQLite
	// allows one writer at a time, and waiting here is a queue, whereas
	// waiting in SQLite's busy handler is a sleep-and-poll loop of
	// milliseconds. Unlike a mutex it lets a caller whose change someone
	// else committed return at once.
	writer chan struct{}

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // see prepared

	queue   writeQueue   // changes waiting for the next commit (see tx)
	commits atomic.Int64 // transactions committed or rolled back by tx
	// pageLimit is the max_page_count of every write transaction; 0:
	// never set (see LimitGrowth).
	pageLimit atomic.Int64
}

// Open opens (creating if needed) the ledger in dir and brings its schema up
// to date; a ledger written by a newer jobplan-hub is refused with a
// *SchemaError. The hub opens its ledger so.
func Open(ctx context.Context, dir string) (*Ledger, error) {
	return open(ctx, dir, true)
}

// OpenExisting opens the ledger in dir for a command beside the hub
// (status, prune, deliveries retry): the ledger must exist and be at this
// program's schema version (a *SchemaError otherwise). It neither creates
// nor upgrades one, so that a newer binary run beside an older hub does
// not change the ledger under it.
func OpenExisting(ctx context.Context, dir string) (*Ledger, error) {
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no ledger in %s (is this the hub's state folder?)", dir)
		}
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return open(ctx, dir, false)
}

func open(ctx context.Context, dir string, upgrade bool) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if strings.Contains(path, "?") {
		// The driver would take everything after '?' as options.
		return nil, fmt.Errorf("ledger: state directory %q must not contain '?'", dir)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Write transactions take the write lock at BEGIN. A deferred
	// transaction that upgrades from read to write in WAL mode fails with
	// SQLITE_BUSY at once, without waiting for busy_timeout.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	l := &Ledger{db: db, stmts: make(map[string]*sql.Stmt), writer: make(chan struct{}, 1)}
	if err := l.init(ctx, upgrade); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	return l, nil
}

func (l *Ledger) init(ctx context.Context, upgrade bool) error {
	var mode string
	if err := l.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	if !upgrade {
		v, err := version(ctx, l.db)
		if err != nil {
			return err
		}
		if v != len(migrations) {
			return &SchemaError{Have: v, Want: len(migrations)}
		}
		return nil
	}
	return l.migrate(ctx)
}

// Close closes the database.
func (l *Ledger) Close() error {
	l.stmtMu.Lock()
	for _, s := range l.stmts {
		s.Close()
	}
	clear(l.stmts)
	l.stmtMu.Unlock()
	return l.db.Close()
}

// prepared returns the prepared statement for query, preparing it on first
// use. The hub runs a handful of statements thousands of times, and SQLite
// spends more time parsing them than running them.
func (l *Ledger) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if s := l.stmts[query]; s != nil {
		return s, nil
	}
	s, err := l.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	l.stmts[query] = s
	return s, nil
}

// txStmt returns the prepared statement for query bound to tx.
func (l *Ledger) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s, err := l.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, s), nil
}

// write is one change waiting for a commit.
type write struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	err  error         // fn's result, or the commit's; set before done closes
	done chan struct{} // closed once committed or failed
}

// writeQueue holds the changes that arrived while a commit was running.
type writeQueue struct {
	mu     sync.Mutex
	writes []*write
}

// txExec runs a prepared statement without arguments in tx.
func (l *Ledger) txExec(ctx context.Context, tx *sql.Tx, query string) error {
	st, err := l.txStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx)
	return err
}

// tx runs fn in a write transaction and returns once its change is
// committed and synced, or undone.
//
// Changes that arrive while another commit is running share the next one
// (group commit): each runs inside its own savepoint, so one that fails is
// undone alone, and all of them cost one sync to disk. fn therefore runs
// under a context of the ledger's, not ctx, so that one caller giving up
// mid-statement cannot interrupt the others; fn is skipped if ctx has
// ended before its turn. fn must leave results outside the transaction
// only for its caller, who sees them when tx returns nil.
func (l *Ledger) tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan struct{})}
	l.queue.mu.Lock()
	l.queue.writes = append(l.queue.writes, w)
	l.queue.mu.Unlock()

	// Not ctx: once queued, the change may be in a commit under way, and
	// the caller must learn how that ended.
	select {
	case <-w.done: // committed (or failed) in another caller's batch
		return w.err
	case l.writer <- struct{}{}:
	}
	defer func() { <-l.writer }()
	select {
	case <-w.done: // committed while we waited for the writer
		return w.err
	default:
	}
	l.queue.mu.Lock()
	batch := l.queue.writes // holds w
	l.queue.writes = nil
	l.queue.mu.Unlock()
	l.commit(batch)
	return w.err
}

// commit runs a batch of changes in one transaction. The caller holds
// the writer. Every change's done is closed, even if a change panics.
func (l *Ledger) commit(batch []*write) {
	ctx := context.Background() // see tx; busy_timeout bounds the wait
	l.commits.Add(1)
	err := errors.New("ledger: commit did not finish")
	defer func() {
		for _, w := range batch {
			if err != nil && w.err == nil {
				w.err = err
			}
			close(w.done)
		}
	}()
	err = l.txLocked(ctx, func(tx *sql.Tx) error {
		if len(batch) == 1 {
			w := batch[0]
			if w.err = w.ctx.Err(); w.err != nil {
				return w.err
			}
			w.err = w.fn(ctx, tx)
			return w.err
		}
		for _, w := range batch {
			if w.err = w.ctx.Err(); w.err != nil {
				continue
			}
			if err := l.txExec(ctx, tx, `SAVEPOINT change`); err != nil {
				return err
			}
			if w.err = w.fn(ctx, tx); w.err != nil {
				if IsStorageFull(w.err) {
					// SQLite may have undone the whole transaction
					// (its savepoints too): none of the batch commits.
					return w.err
				}
				if err := l.txExec(ctx, tx, `ROLLBACK TO change`); err != nil {
					return fmt.Errorf("%w (and undoing it failed: %v)", w.err, err)
				}
			}
			if err := l.txExec(ctx, tx, `RELEASE change`); err != nil {
				return err
			}
		}
		return nil
	})
}

// txLocked runs fn in one transaction and commits if fn returns nil. The
// caller holds the writer.
func (l *Ledger) txLocked(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := l.applyPageLimit(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Timestamps are stored as Unix milliseconds: compact, sortable and
// readable with SQLite's datetime(x/1000, 'unixepoch').
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// parseDate reads a stored effective date; "" (a file delivery's) is the
// zero time.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(dateLayout, s)
}

// Key returns the idempotency key of a record: the lowercase hex SHA-256 of
// its canonical JSON.
func Key(payload []byte) (string, error) {
	c, err := Canonical(payload)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// Canonical returns payload as canonical JSON: object keys sorted, no
// insignificant white space, numbers kept exactly as written, no HTML
// escaping. Two encodings of the same record therefore get the same key.
func Canonical(payload []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // float64 would round large or precise numbers
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("canonical json: trailing data after the record")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
