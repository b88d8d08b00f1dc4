package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Refusal is a file a source found but leaves alone, and why.
type Refusal struct {
	Source string
	// Name is the file's name as found, any bytes.
	Name   string
	Reason string
	// Since is when the source first reported it with this reason.
	Since time.Time
}

// SetRefusal records that source leaves the file called name alone, for
// reason. A refusal already recorded with the same reason keeps its time.
func (l *Ledger) SetRefusal(ctx context.Context, source, name, reason string) error {
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := l.txStmt(ctx, tx, `INSERT INTO refusals (source, name, reason, since) VALUES (?, ?, ?, ?)
			ON CONFLICT (source, name) DO UPDATE SET reason = excluded.reason, since = excluded.since
			WHERE reason != excluded.reason`)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, source, []byte(name), reason, ms(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: record refusal: %w", err)
	}
	return nil
}

// ClearRefusal forgets the refusal of the file called name by source.
func (l *Ledger) ClearRefusal(ctx context.Context, source, name string) error {
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := l.txStmt(ctx, tx, `DELETE FROM refusals WHERE source = ? AND name = ?`)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, source, []byte(name))
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: clear refusal: %w", err)
	}
	return nil
}

// ClearRefusals forgets every refusal, as a hub does when it starts: its
// sources report again what they find.
func (l *Ledger) ClearRefusals(ctx context.Context) error {
	err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return l.txExec(ctx, tx, `DELETE FROM refusals`)
	})
	if err != nil {
		return fmt.Errorf("ledger: clear refusals: %w", err)
	}
	return nil
}

// Refusals returns up to n refusals, by source and name.
func (l *Ledger) Refusals(ctx context.Context, n int) ([]Refusal, error) {
	st, err := l.prepared(ctx, `SELECT source, name, reason, since FROM refusals ORDER BY source, name LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("ledger: refusals: %w", err)
	}
	rows, err := st.QueryContext(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: refusals: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		var name []byte
		var since int64
		if err := rows.Scan(&r.Source, &name, &r.Reason, &since); err != nil {
			return nil, fmt.Errorf("ledger: refusals: %w", err)
		}
		r.Name, r.Since = string(name), fromMS(since)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: refusals: %w", err)
	}
	return out, nil
}
