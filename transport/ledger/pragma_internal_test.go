package ledger

import "testing"

func TestConnectionsAreDurable(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Hold one connection so the pool must open another: every pooled
	// connection, not just the first, needs the settings.
	busy, err := l.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var mode string
	var sync, timeout, fk int
	row := l.db.QueryRowContext(t.Context(), `SELECT * FROM pragma_journal_mode, pragma_synchronous, pragma_busy_timeout, pragma_foreign_keys`)
	if err := row.Scan(&mode, &sync, &timeout, &fk); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || timeout != int(busyTimeout.Milliseconds()) || fk != 1 {
		t.Errorf("journal_mode=%s synchronous=%d busy_timeout=%d foreign_keys=%d; want wal, 2 (FULL), %d, 1",
			mode, sync, timeout, fk, busyTimeout.Milliseconds())
	}
}
