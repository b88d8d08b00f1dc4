package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsStorageFull reports whether err, or an error it wraps, says that a
// write failed for want of space: SQLite's SQLITE_FULL ("database or disk
// is full"), or ENOSPC or EDQUOT from the file system. It goes by the
// error codes, never the text. The hub pauses on such errors until it can
// write again, rather than give up.
func IsStorageFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// probeBytes is how much CheckWritable asks the database to find room
// for: a little more than the largest record the hub usually writes.
const probeBytes = 64 << 10

// CheckWritable reports whether the ledger can grow: it writes probeBytes
// into a scratch table in a write transaction and rolls it back, so that
// the database is left as it was. A full database (SQLITE_FULL) fails it
// whether or not the space would have come from the disk; whether the
// disk itself has room is for the caller to check with a file of its own.
func (l *Ledger) CheckWritable(ctx context.Context) error {
	select {
	case l.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.writer }()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: check writable: %w", err)
	}
	defer tx.Rollback() // the point: nothing of the probe stays
	if err := l.applyPageLimit(ctx, tx); err != nil {
		return err
	}
	for _, stmt := range []string{`CREATE TABLE writable_probe (b BLOB)`, `INSERT INTO writable_probe VALUES (zeroblob(?))`} {
		if _, err := tx.ExecContext(ctx, stmt, probeBytes); err != nil {
			return fmt.Errorf("ledger: check writable: %w", err)
		}
	}
	return nil
}

// maxPageCount is SQLite's largest max_page_count, the limit lifted.
const maxPageCount = 4294967294

// LimitGrowth caps the database at its present size plus pages pages for
// every later write (SQLite's max_page_count, applied in each write
// transaction, so on every pooled connection): a write that needs more
// room fails with a real SQLITE_FULL, as on a full disk. LiftLimit takes
// the cap away. They are for tests of what the hub does when its disk
// fills up; a hub never calls them.
func (l *Ledger) LimitGrowth(ctx context.Context, pages int64) error {
	var n int64
	if err := l.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&n); err != nil {
		return fmt.Errorf("ledger: page count: %w", err)
	}
	l.pageLimit.Store(n + pages)
	return nil
}

// LiftLimit undoes LimitGrowth.
func (l *Ledger) LiftLimit() {
	if l.pageLimit.Load() != 0 {
		l.pageLimit.Store(maxPageCount)
	}
}

// applyPageLimit sets the connection of tx to the limit of LimitGrowth, if
// one was ever set.
func (l *Ledger) applyPageLimit(ctx context.Context, tx *sql.Tx) error {
	n := l.pageLimit.Load()
	if n == 0 {
		return nil
	}
	// PRAGMA takes no bound parameters.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, n)); err != nil {
		return fmt.Errorf("ledger: page limit: %w", err)
	}
	return nil
}
