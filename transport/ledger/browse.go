package ledger

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// FileQuery selects a page of files for Files.
type FileQuery struct {
	// State, if set, keeps the files in that state only.
	State FileState
	// Before, if not 0, keeps the files older than it (smaller ids);
	// After, if not 0, the files newer than it. At most one is set.
	Before, After int64
	// Limit is the page's size; it must be positive.
	Limit int
}

// FilePage is one page of files, newest first.
type FilePage struct {
	Files []FileRecord
	// Older and Newer report whether files of the query's state lie
	// beyond the page's last and first file.
	Older, Newer bool
}

// Files returns one page of files, newest first: the Limit newest of
// q.State (every state if empty), or, with Before, the Limit newest
// older than it, or, with After, the Limit oldest newer than it. Each
// query is a range of the primary key or of the files_state index, so a
// page costs the same however long the history is.
func (l *Ledger) Files(ctx context.Context, q FileQuery) (*FilePage, error) {
	if q.Limit <= 0 || (q.Before != 0 && q.After != 0) || q.Before < 0 || q.After < 0 {
		return nil, fmt.Errorf("ledger: files: bad query %+v", q)
	}
	query, args := filesQuery(q)
	st, err := l.prepared(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("ledger: files: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: files: %w", err)
	}
	defer rows.Close()
	page := &FilePage{}
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: files: %w", err)
		}
		page.Files = append(page.Files, *f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: files: %w", err)
	}
	if q.After != 0 {
		slices.Reverse(page.Files) // read oldest first
	}
	// Whether there is more on either side: one index seek each.
	newer, older := false, false
	var newerThan, olderThan int64
	if n := len(page.Files); n > 0 {
		newer, older = true, true
		newerThan, olderThan = page.Files[0].ID, page.Files[n-1].ID
	} else {
		// An empty page: what lies on the far side of its cursor.
		newer, newerThan = q.Before != 0, q.Before-1
		older, olderThan = q.After != 0, q.After+1
	}
	if newer {
		if page.Newer, err = l.filesBeyond(ctx, q.State, ">", newerThan); err != nil {
			return nil, err
		}
	}
	if older {
		if page.Older, err = l.filesBeyond(ctx, q.State, "<", olderThan); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// filesQuery is the query of Files and its arguments.
func filesQuery(q FileQuery) (string, []any) {
	var where []string
	var args []any
	if q.State != "" {
		where, args = append(where, "state = ?"), append(args, q.State)
	}
	order := "DESC"
	switch {
	case q.After != 0:
		where, args, order = append(where, "id > ?"), append(args, q.After), "ASC"
	case q.Before != 0:
		where, args = append(where, "id < ?"), append(args, q.Before)
	default:
		// The newest page is the page before the end: a search of the
		// same range as every other page.
		where, args = append(where, "id < ?"), append(args, int64(math.MaxInt64))
	}
	query := `SELECT ` + fileColumns + ` FROM files`
	for i, w := range where {
		if i == 0 {
			query += " WHERE " + w
		} else {
			query += " AND " + w
		}
	}
	return query + " ORDER BY id " + order + " LIMIT ?", append(args, q.Limit)
}

// beyondQuery is the query of filesBeyond; op is "<" or ">".
func beyondQuery(state FileState, op string) string {
	if state == "" {
		return `SELECT EXISTS (SELECT 1 FROM files WHERE id ` + op + ` ?)`
	}
	return `SELECT EXISTS (SELECT 1 FROM files WHERE state = ? AND id ` + op + ` ?)`
}

// filesBeyond reports whether a file of state (any if empty) has an id
// beyond id in the direction of op ("<" or ">").
func (l *Ledger) filesBeyond(ctx context.Context, state FileState, op string, id int64) (bool, error) {
	st, err := l.prepared(ctx, beyondQuery(state, op))
	if err != nil {
		return false, fmt.Errorf("ledger: files: %w", err)
	}
	args := []any{id}
	if state != "" {
		args = []any{state, id}
	}
	var yes bool
	if err := st.QueryRowContext(ctx, args...).Scan(&yes); err != nil {
		return false, fmt.Errorf("ledger: files: %w", err)
	}
	return yes, nil
}

// Rejected counts the destination's rejected deliveries (an index
// range): those waiting for an operator's `deliveries retry`.
func (l *Ledger) Rejected(ctx context.Context, destination string) (int, error) {
	st, err := l.prepared(ctx, rejectedQuery)
	if err != nil {
		return 0, fmt.Errorf("ledger: rejected for %s: %w", destination, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, destination).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: rejected for %s: %w", destination, err)
	}
	return n, nil
}

const rejectedQuery = `SELECT COUNT(*) FROM deliveries WHERE destination = ? AND state = 'rejected'`

// Ping reports whether the ledger answers: it reads its schema version
// from the database file. Its errors are for operators (/readyz says
// "ledger: not answering: " before them).
func (l *Ledger) Ping(ctx context.Context) error {
	st, err := l.prepared(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	var v int
	if err := st.QueryRowContext(ctx).Scan(&v); err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if v != len(migrations) {
		return fmt.Errorf("schema version %d, this program's is %d", v, len(migrations))
	}
	return nil
}
