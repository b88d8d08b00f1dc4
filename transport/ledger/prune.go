package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// pruneChunk bounds the files pruned in one transaction, so that the hub's
// own writes never wait long behind a prune.
const pruneChunk = 200

// Prunable returns the ids of files finished (processed or quarantined)
// before before, not pruned yet, with no delivery pending or rejected (a
// rejected one may yet be retried, and needs its file's outputs).
func (l *Ledger) Prunable(ctx context.Context, before time.Time) ([]int64, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id FROM files
		WHERE state IN ('processed', 'quarantined') AND updated_at < ? AND pruned_at = 0
		  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.file_id = files.id AND d.state IN ('pending', 'rejected'))
		ORDER BY id`, ms(before))
	if err != nil {
		return nil, fmt.Errorf("ledger: prunable files: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("ledger: prunable files: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: prunable files: %w", err)
	}
	return ids, nil
}

// Prune forgets the bulk of the given files' records: the payloads of
// their delivered, duplicate and superseded deliveries are emptied. Their
// idempotency keys stay, so a record sent before is still recognised and
// not sent again, and so do the file rows, so content processed before is
// still recognised. A file with a delivery pending or rejected (since
// Prunable) is left alone. It returns the files pruned and the payloads
// emptied.
func (l *Ledger) Prune(ctx context.Context, ids []int64) (pruned []int64, payloads int, err error) {
	for start := 0; start < len(ids); start += pruneChunk {
		chunk := ids[start:min(start+pruneChunk, len(ids))]
		var done []int64
		emptied := 0
		err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			done, emptied = done[:0], 0
			now := ms(time.Now())
			for _, id := range chunk {
				var pending int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE file_id = ? AND state IN ('pending', 'rejected')`, id).Scan(&pending); err != nil {
					return err
				}
				if pending > 0 {
					continue
				}
				res, err := tx.ExecContext(ctx, `UPDATE deliveries SET payload = x''
					WHERE file_id = ? AND state IN ('delivered', 'duplicate', 'superseded') AND length(payload) > 0`, id)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE files SET pruned_at = ? WHERE id = ?`, now, id); err != nil {
					return err
				}
				emptied += int(n)
				done = append(done, id)
			}
			return nil
		})
		if err != nil {
			return pruned, payloads, fmt.Errorf("ledger: prune: %w", err)
		}
		pruned, payloads = append(pruned, done...), payloads+emptied
	}
	return pruned, payloads, nil
}

// PrunedAmong returns which of ids are files already pruned, so that a
// prune cut short before removing their outputs can finish the job.
func (l *Ledger) PrunedAmong(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := l.db.QueryContext(ctx, `SELECT id FROM files
		WHERE pruned_at != 0 AND id IN (SELECT value FROM json_each(?)) ORDER BY id`, string(list))
	if err != nil {
		return nil, fmt.Errorf("ledger: pruned files: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("ledger: pruned files: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: pruned files: %w", err)
	}
	return out, nil
}
