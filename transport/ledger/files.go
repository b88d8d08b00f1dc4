package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FileInfo describes an input file as it was claimed.
type FileInfo struct {
	Source  string // configured source name
	Name    string // base name as dropped
	Size    int64
	ModTime time.Time
	SHA256  string // lowercase hex of the content
}

// FileRecord is a file as the ledger knows it.
type FileRecord struct {
	ID int64
	FileInfo
	State      FileState
	Reason     string
	ReportPath string
	// Reports are all the file's reports as given to MarkFile.
	Reports   []string
	ClaimedAt time.Time
	UpdatedAt time.Time
}

const fileColumns = `id, source, name, size, mtime, sha256, state, reason, report_path, reports, claimed_at, updated_at`

func scanFile(row interface{ Scan(...any) error }) (*FileRecord, error) {
	var f FileRecord
	var mtime, claimed, updated int64
	var reports string
	err := row.Scan(&f.ID, &f.Source, &f.Name, &f.Size, &mtime, &f.SHA256,
		&f.State, &f.Reason, &f.ReportPath, &reports, &claimed, &updated)
	if err != nil {
		return nil, err
	}
	if reports != "" {
		if err := json.Unmarshal([]byte(reports), &f.Reports); err != nil {
			return nil, fmt.Errorf("file %d: reports: %w", f.ID, err)
		}
	}
	f.ModTime, f.ClaimedAt, f.UpdatedAt = fromMS(mtime), fromMS(claimed), fromMS(updated)
	return &f, nil
}

// FileSeen returns the ledger's record of a file with this content hash,
// or nil if there is none. When the content was seen more than once, a
// processed record is preferred, then the most recent.
func (l *Ledger) FileSeen(ctx context.Context, sha256 string) (*FileRecord, error) {
	st, err := l.prepared(ctx, `SELECT `+fileColumns+` FROM files WHERE sha256 = ?
		ORDER BY state = 'processed' DESC, id DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("ledger: file seen: %w", err)
	}
	f, err := scanFile(st.QueryRowContext(ctx, sha256))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: file seen: %w", err)
	}
	return f, nil
}

// File returns the file with the given id, or ErrNotFound.
func (l *Ledger) File(ctx context.Context, id int64) (*FileRecord, error) {
	st, err := l.prepared(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("ledger: file %d: %w", id, err)
	}
	f, err := scanFile(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ledger: file %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: file %d: %w", id, err)
	}
	return f, nil
}

// ClaimFile records a newly claimed file and returns its id.
func (l *Ledger) ClaimFile(ctx context.Context, f FileInfo) (int64, error) {
	if f.Name == "" || f.SHA256 == "" {
		return 0, errors.New("ledger: claim file: name and sha256 are required")
	}
	now := ms(time.Now())
	var id int64
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := l.txStmt(ctx, tx, `INSERT INTO files
			(source, name, size, mtime, sha256, state, claimed_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx,
			f.Source, f.Name, f.Size, ms(f.ModTime), f.SHA256, FileClaimed, now, now)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: claim file %s: %w", f.Name, err)
	}
	return id, nil
}

// MarkFile records what became of a file: processed or quarantined, with a
// reason (for quarantine), the path of its report and, optionally, all its
// reports.
func (l *Ledger) MarkFile(ctx context.Context, id int64, state FileState, reason, reportPath string, reports ...string) error {
	_, err := l.FinishFile(ctx, id, FileOutcome{State: state, Reason: reason, ReportPath: reportPath, Reports: reports}, nil)
	return err
}

// FileOutcome is what became of a file (see MarkFile).
type FileOutcome struct {
	State      FileState
	Reason     string
	ReportPath string
	Reports    []string
}

// Queue is one destination's share of a file's outputs: its records, one
// delivery each (a record destination), or the whole file as one delivery
// (a destination that takes files).
type Queue struct {
	Destination string
	Records     []Record
	// File, if not nil, is queued as one delivery of KindFile: JSON that
	// tells the destination's dispatcher which staged file to put (the
	// ledger only keeps it). Its key, like a record's, is the hash of its
	// canonical form, so the same output of the same input is put once.
	File []byte
}

// FinishFile queues the file's outputs for each destination, as Enqueue
// does, and records its outcome, as MarkFile does, in one
// transaction: a crash leaves both done or neither. It returns what was
// queued, one result per queue.
func (l *Ledger) FinishFile(ctx context.Context, id int64, o FileOutcome, queues []Queue) ([]EnqueueResult, error) {
	switch o.State {
	case FileClaimed, FileProcessed, FileQuarantined:
	default:
		return nil, fmt.Errorf("ledger: mark file %d: unknown state %q", id, o.State)
	}
	var list string
	if len(o.Reports) > 0 {
		b, err := json.Marshal(o.Reports)
		if err != nil {
			return nil, fmt.Errorf("ledger: mark file %d: %w", id, err)
		}
		list = string(b)
	}
	preps := make([][]preparedDelivery, len(queues))
	for i, q := range queues {
		var err error
		if preps[i], err = prepareQueue(q); err != nil {
			return nil, err
		}
	}
	var results []EnqueueResult
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := ms(time.Now())
		results = make([]EnqueueResult, len(queues))
		for i, q := range queues {
			res, err := l.enqueueTx(ctx, tx, id, q.Destination, preps[i], now)
			if err != nil {
				return fmt.Errorf("enqueue for %s: %w", q.Destination, err)
			}
			results[i] = res
		}
		st, err := l.txStmt(ctx, tx, `UPDATE files SET state = ?, reason = ?, report_path = ?, reports = ?, updated_at = ?
			WHERE id = ?`)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, o.State, o.Reason, o.ReportPath, list, now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: finish file %d: %w", id, err)
	}
	return results, nil
}

// DropClaim removes the claim of a file whose conversion was thrown away
// (it changed while it was read), so that content that never was a whole
// file leaves no trace. Only a claim with nothing queued is removed; it
// reports whether one was.
func (l *Ledger) DropClaim(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := l.txStmt(ctx, tx, `DELETE FROM files WHERE id = ? AND state = ?
			AND NOT EXISTS (SELECT 1 FROM deliveries WHERE file_id = ?)`)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, id, FileClaimed, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ledger: drop claim of file %d: %w", id, err)
	}
	return n > 0, nil
}

// RecentFiles returns the latest n files, newest first.
func (l *Ledger) RecentFiles(ctx context.Context, n int) ([]FileRecord, error) {
	st, err := l.prepared(ctx, `SELECT `+fileColumns+` FROM files ORDER BY id DESC LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("ledger: recent files: %w", err)
	}
	rows, err := st.QueryContext(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: recent files: %w", err)
	}
	defer rows.Close()
	var out []FileRecord
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: recent files: %w", err)
		}
		out = append(out, *f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: recent files: %w", err)
	}
	return out, nil
}
