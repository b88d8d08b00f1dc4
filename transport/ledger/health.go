package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Health is what a destination's dispatcher last knew of the destination
// as a whole: available, or unavailable since an outage began (its
// breaker open).
type Health struct {
	Destination string
	Available   bool
	// Since is when the destination became unavailable, or available
	// again.
	Since time.Time
	// Probes counts the failed probes of an outage; NextProbeAt is when
	// the next is due.
	Probes      int
	NextProbeAt time.Time
	// LastError is the outage's latest failure.
	LastError string
	// UpdatedAt is when this was recorded.
	UpdatedAt time.Time
}

// SetHealth records h, replacing what was recorded for its destination.
func (l *Ledger) SetHealth(ctx context.Context, h Health) error {
	if h.Destination == "" {
		return errors.New("ledger: set health: no destination")
	}
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO destination_health
			(destination, available, since, probes, next_probe_at, last_error, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (destination) DO UPDATE SET available = excluded.available, since = excluded.since,
				probes = excluded.probes, next_probe_at = excluded.next_probe_at,
				last_error = excluded.last_error, updated_at = excluded.updated_at`,
			h.Destination, h.Available, ms(h.Since), h.Probes, ms(h.NextProbeAt), h.LastError, ms(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: set health of %s: %w", h.Destination, err)
	}
	return nil
}

// Health returns what was last recorded for destination; ok is false if
// nothing was.
func (l *Ledger) Health(ctx context.Context, destination string) (h Health, ok bool, err error) {
	var since, next, updated int64
	err = l.db.QueryRowContext(ctx, `SELECT destination, available, since, probes, next_probe_at, last_error, updated_at
		FROM destination_health WHERE destination = ?`, destination).
		Scan(&h.Destination, &h.Available, &since, &h.Probes, &next, &h.LastError, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Health{}, false, nil
	}
	if err != nil {
		return Health{}, false, fmt.Errorf("ledger: health of %s: %w", destination, err)
	}
	h.Since, h.NextProbeAt, h.UpdatedAt = fromMS(since), fromMS(next), fromMS(updated)
	return h, true, nil
}
