package ledger

import (
	"context"
	"fmt"
	"time"
)

// recentErrors is how many recent errors Stats reports per destination.
const recentErrors = 5

// Stats summarises the ledger for status output and metrics.
type Stats struct {
	Files        map[FileState]int
	Destinations []DestinationStats // sorted by destination
}

// DestinationStats summarises one destination's deliveries.
type DestinationStats struct {
	Destination string
	Counts      map[DeliveryState]int
	// NextAttemptAt is the earliest pending attempt; zero if none pending.
	NextAttemptAt time.Time
	// RecentErrors are the latest failures of deliveries that are still
	// pending or were rejected, newest first.
	RecentErrors []DeliveryError
	// Health is what the dispatcher last recorded of the destination as
	// a whole (SetHealth); nil if nothing was.
	Health *Health
	// RecentRemoteIDs are the latest delivered records for which the
	// receiver gave its own id, newest first.
	RecentRemoteIDs []RemoteID
}

// RemoteID is the receiver's id for one delivered record.
type RemoteID struct {
	ID               int64
	AssignmentNumber string
	EffectiveDate    time.Time
	RemoteID         string
	At               time.Time
}

// DeliveryError is a delivery's most recent failure.
type DeliveryError struct {
	ID   int64
	Kind DeliveryKind
	Key  string
	// AssignmentNumber is a record's ("" for a file delivery); FileID is
	// the input file the delivery came from.
	AssignmentNumber string
	FileID           int64
	State            DeliveryState
	Attempts         int
	Error            string
	At               time.Time
}

// Stats counts files by state and, per destination, deliveries by state,
// with the most recent errors.
func (l *Ledger) Stats(ctx context.Context) (*Stats, error) {
	files, err := l.FileCounts(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stats{Files: files}
	rows, err := l.db.QueryContext(ctx, `SELECT destination, state, COUNT(*),
		MIN(CASE WHEN state = 'pending' THEN next_attempt_at END)
		FROM deliveries GROUP BY destination, state ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("ledger: stats: %w", err)
	}
	for rows.Next() {
		var dest string
		var st DeliveryState
		var n int
		var next *int64
		if err := rows.Scan(&dest, &st, &n, &next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: stats: %w", err)
		}
		if len(s.Destinations) == 0 || s.Destinations[len(s.Destinations)-1].Destination != dest {
			s.Destinations = append(s.Destinations, DestinationStats{Destination: dest, Counts: make(map[DeliveryState]int)})
		}
		ds := &s.Destinations[len(s.Destinations)-1]
		ds.Counts[st] = n
		if next != nil {
			ds.NextAttemptAt = fromMS(*next)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: stats: %w", err)
	}

	for i := range s.Destinations {
		ds := &s.Destinations[i]
		if ds.RecentErrors, err = l.recentErrors(ctx, ds.Destination); err != nil {
			return nil, fmt.Errorf("ledger: stats: %w", err)
		}
		if ds.RecentRemoteIDs, err = l.recentRemoteIDs(ctx, ds.Destination); err != nil {
			return nil, fmt.Errorf("ledger: stats: %w", err)
		}
		h, ok, err := l.Health(ctx, ds.Destination)
		if err != nil {
			return nil, fmt.Errorf("ledger: stats: %w", err)
		}
		if ok {
			ds.Health = &h
		}
	}
	return s, nil
}

func (l *Ledger) recentErrors(ctx context.Context, destination string) ([]DeliveryError, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, kind, idempotency_key, assignment_number, file_id, state, attempts, last_error, updated_at
		FROM deliveries
		WHERE destination = ? AND state IN ('pending', 'rejected') AND last_error <> ''
		ORDER BY updated_at DESC, id DESC LIMIT ?`, destination, recentErrors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeliveryError
	for rows.Next() {
		var e DeliveryError
		var at int64
		if err := rows.Scan(&e.ID, &e.Kind, &e.Key, &e.AssignmentNumber, &e.FileID, &e.State, &e.Attempts, &e.Error, &at); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (l *Ledger) recentRemoteIDs(ctx context.Context, destination string) ([]RemoteID, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, assignment_number, effective_date, remote_id, updated_at
		FROM deliveries
		WHERE destination = ? AND state IN ('delivered', 'duplicate') AND remote_id <> ''
		ORDER BY updated_at DESC, id DESC LIMIT ?`, destination, recentErrors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RemoteID
	for rows.Next() {
		var r RemoteID
		var date string
		var at int64
		if err := rows.Scan(&r.ID, &r.AssignmentNumber, &date, &r.RemoteID, &at); err != nil {
			return nil, err
		}
		if r.EffectiveDate, err = parseDate(date); err != nil {
			return nil, fmt.Errorf("delivery %d: effective date: %w", r.ID, err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Pending counts the destination's pending deliveries. It reads only
// those (an index range), however large the ledger has grown.
func (l *Ledger) Pending(ctx context.Context, destination string) (int, error) {
	st, err := l.prepared(ctx, `SELECT COUNT(*) FROM deliveries WHERE destination = ? AND state = 'pending'`)
	if err != nil {
		return 0, fmt.Errorf("ledger: pending for %s: %w", destination, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, destination).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: pending for %s: %w", destination, err)
	}
	return n, nil
}

// FileCounts counts files by state: the files part of Stats, without the
// deliveries (which grow by one row a record and destination).
func (l *Ledger) FileCounts(ctx context.Context) (map[FileState]int, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM files GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("ledger: file counts: %w", err)
	}
	defer rows.Close()
	counts := make(map[FileState]int)
	for rows.Next() {
		var st FileState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("ledger: file counts: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: file counts: %w", err)
	}
	return counts, nil
}

// Retrying counts the destination's pending deliveries that have failed
// at least once.
func (l *Ledger) Retrying(ctx context.Context, destination string) (int, error) {
	st, err := l.prepared(ctx, `SELECT COUNT(*) FROM deliveries WHERE destination = ? AND state = 'pending' AND attempts > 0`)
	if err != nil {
		return 0, fmt.Errorf("ledger: retrying for %s: %w", destination, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, destination).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: retrying for %s: %w", destination, err)
	}
	return n, nil
}

// Destinations lists, sorted, the destinations that have deliveries in
// the ledger.
func (l *Ledger) Destinations(ctx context.Context) ([]string, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT DISTINCT destination FROM deliveries ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("ledger: destinations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("ledger: destinations: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: destinations: %w", err)
	}
	return out, nil
}
