package ledger

import "testing"

// TestMigrationGivesFileDeliveriesTheirKind opens a ledger left by a hub
// of schema version 7, in which a file delivery posed as a record of
// assignment "file:<file id>" with the date it was queued: it becomes a
// delivery of kind file, with neither, its key and state kept; records
// stay records.
func TestMigrationGivesFileDeliveriesTheirKind(t *testing.T) {
	dir := t.TempDir()
	const v7 = 7 // the last version without a delivery kind
	writeLedgerAt(t, dir, v7,
		`INSERT INTO files (id, source, name, size, mtime, sha256, state, claimed_at, updated_at)
			VALUES (7, 'drop', 'a.csv', 10, 0, 'sum', 'processed', 0, 0)`,
		`INSERT INTO deliveries (destination, idempotency_key, assignment_number, effective_date, file_id, record_line,
			payload, state, created_at, updated_at) VALUES
			('outbox', 'k-file', 'file:7', '2026-04-02', 7, 0, '{"file_id":7,"kind":"file"}', 'delivered', 0, 0),
			('outbox', 'k-file-again', 'file:7', '2026-04-03', 7, 0, '{"file_id":7,"kind":"file","name":"x"}', 'pending', 0, 0),
			('esr', 'k-rec', '10000001', '2026-04-01', 7, 1, '{"assignment_number":"10000001"}', 'pending', 0, 0)`)

	l, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := map[string]struct {
		kind       DeliveryKind
		assignment string
		date       string
		state      DeliveryState
	}{
		"k-file":       {KindFile, "", "", Delivered},
		"k-file-again": {KindFile, "", "", Pending},
		"k-rec":        {KindRecord, "10000001", "2026-04-01", Pending},
	}
	for id := int64(1); id <= 3; id++ {
		d, err := l.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[d.Key]
		date := ""
		if !d.EffectiveDate.IsZero() {
			date = d.EffectiveDate.Format(dateLayout)
		}
		if !ok || d.Kind != w.kind || d.AssignmentNumber != w.assignment || date != w.date || d.State != w.state || d.FileID != 7 {
			t.Errorf("delivery %d after the migration: %+v, want %+v", id, d, w)
		}
	}
	var v int
	if err := l.db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("schema version %d (%v), want %d", v, err, len(migrations))
	}
	// Kinds are checked.
	if _, err := l.db.Exec(`UPDATE deliveries SET kind = 'plan' WHERE id = 1`); err == nil {
		t.Error("a delivery took the kind 'plan'")
	}
}
