package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// writeLedgerAt writes a ledger into dir as schema version v left it (the
// first v migrations), then runs extra (rows in that version's tables).
func writeLedgerAt(t *testing.T, dir string, v int, extra ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{`PRAGMA journal_mode = WAL`, `CREATE TABLE schema_version (version INTEGER NOT NULL)`}
	for _, m := range migrations[:v] {
		stmts = append(stmts, m...)
	}
	stmts = append(stmts, fmt.Sprintf(`INSERT INTO schema_version (version) VALUES (%d)`, v))
	for _, q := range append(stmts, extra...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestOlderLedgerIsUpgradedByTheHubOnly builds a ledger as the previous
// schema version left it (every migration but the last): the commands
// beside the hub (OpenExisting) refuse it, naming both versions; the hub
// (Open) upgrades it, after which OpenExisting opens it.
func TestOlderLedgerIsUpgradedByTheHubOnly(t *testing.T) {
	dir := t.TempDir()
	older := len(migrations) - 1
	writeLedgerAt(t, dir, older)

	l, err := OpenExisting(t.Context(), dir)
	var se *SchemaError
	if err == nil {
		l.Close()
		t.Fatal("OpenExisting opened an older ledger")
	}
	if !errors.Is(err, ErrOlderSchema) || !errors.As(err, &se) || se.Have != older || se.Want != SchemaVersion {
		t.Fatalf("OpenExisting of an older ledger: %v", err)
	}
	if l, err = Open(t.Context(), dir); err != nil {
		t.Fatalf("Open did not upgrade an older ledger: %v", err)
	}
	l.Close()
	if l, err = OpenExisting(t.Context(), dir); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	defer l.Close()
	v, err := version(t.Context(), l.db)
	if err != nil || v != SchemaVersion {
		t.Errorf("version after the upgrade %d (%v), want %d", v, err, SchemaVersion)
	}
}
