package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// recordsPerFile is how many deliveries each file of the backup tests
// queues in the transaction that marks it processed.
const recordsPerFile = 5

// writeFiles claims and finishes files one after another until ctx ends,
// as a hub does, counting the finished ones in done.
func writeFiles(ctx context.Context, l *ledger.Ledger, done *atomic.Int64) error {
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return nil
		}
		name := fmt.Sprintf("export-%06d.csv", i)
		id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: name, Size: 100, ModTime: time.Now(), SHA256: "sha-" + name})
		if err != nil {
			return err
		}
		recs := make([]ledger.Record, recordsPerFile)
		for j := range recs {
			recs[j] = rec(fmt.Sprintf("%08d", i*recordsPerFile+j), "2026-04-01", j+2, `7.5, "padding": "`+strings.Repeat("x", 200)+`"`)
		}
		if _, err := l.FinishFile(context.WithoutCancel(ctx), id, ledger.FileOutcome{State: ledger.FileProcessed, ReportPath: "/r/" + name},
			[]ledger.Queue{{Destination: "esr", Records: recs}}); err != nil {
			return err
		}
		done.Add(1)
	}
}

// TestBackupWhileTheHubWrites takes backups while a writer claims and
// finishes files as the hub does, and checks each copy: it opens as a
// ledger, passes integrity_check, holds no half of a transaction (every
// processed file has all its deliveries, every claimed file none), and
// every row in it is the source's row of the same id.
func TestBackupWhileTheHubWrites(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	var done atomic.Int64
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		writeErr = writeFiles(ctx, l, &done)
	}()
	stopWriter := func() {
		cancel()
		wg.Wait()
		if writeErr != nil {
			t.Fatalf("writer: %v", writeErr)
		}
	}
	defer stopWriter()

	// Enough rows that a copy takes a while.
	deadline := time.Now().Add(60 * time.Second)
	for done.Load() < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d files written in a minute", done.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	backups := t.TempDir()
	var copies []string
	for attempt := 0; ; attempt++ {
		dst := filepath.Join(backups, fmt.Sprintf("ledger-%d.db", attempt))
		before := done.Load()
		res, err := ledger.Backup(t.Context(), dir, dst)
		if err != nil {
			t.Fatal(err)
		}
		after := done.Load()
		if res.SchemaVersion != ledger.SchemaVersion || res.Files == 0 || res.Deliveries == 0 || res.Path != dst {
			t.Fatalf("backup %+v", res)
		}
		copies = append(copies, dst)
		if after > before {
			t.Logf("backup %d: %d files, %d deliveries, %d bytes, while %d files were written", attempt, res.Files, res.Deliveries, res.Bytes, after-before)
			break
		}
		if attempt == 50 {
			t.Fatal("the writer committed nothing during 50 backups")
		}
	}
	stopWriter()
	for _, c := range copies {
		checkBackup(t, dir, c)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(backups, ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left beside the backups: %v", leftovers)
	}
}

// checkBackup checks the copy at path against the ledger in dir.
func checkBackup(t *testing.T, dir, path string) {
	t.Helper()
	restored := t.TempDir()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, ledger.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.OpenExisting(t.Context(), restored)
	if err != nil {
		t.Fatalf("the backup does not open as a ledger: %v", err)
	}
	st, err := l.Stats(t.Context())
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	processed, claimed := st.Files[ledger.FileProcessed], st.Files[ledger.FileClaimed]
	if processed == 0 || claimed > 1 {
		t.Errorf("backup holds %d processed and %d claimed files; the writer has at most one claimed at a time", processed, claimed)
	}
	if len(st.Destinations) != 1 || st.Destinations[0].Counts[ledger.Pending] != processed*recordsPerFile {
		t.Errorf("backup holds %+v deliveries for %d processed files, want %d each", st.Destinations, processed, recordsPerFile)
	}

	src, cp := sqlOpen(t, filepath.Join(dir, ledger.FileName)), sqlOpen(t, filepath.Join(restored, ledger.FileName))
	for _, q := range []string{
		`SELECT COUNT(*) FROM files f WHERE (SELECT COUNT(*) FROM deliveries d WHERE d.file_id = f.id) !=
			CASE f.state WHEN 'processed' THEN ` + fmt.Sprint(recordsPerFile) + ` ELSE 0 END`,
	} {
		var n int
		if err := cp.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d files of the backup have a part of their deliveries (%v)", n, err)
		}
	}
	// Rows never change once a file is processed: the copy's must be the
	// source's, and its ids the first ones.
	for _, table := range []struct{ name, where string }{
		{"files", "state = 'processed'"},
		{"deliveries", "1"},
	} {
		got := rows(t, cp, `SELECT * FROM `+table.name+` WHERE `+table.where+` ORDER BY id`)
		want := rows(t, src, `SELECT * FROM `+table.name+` WHERE `+table.where+` ORDER BY id LIMIT ?`, len(got))
		if len(got) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the backup's %d rows are not the source's first %d", table.name, len(got), len(want))
		}
	}
}

func sqlOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rows returns each row of query as one line of text.
func rows(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rs, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.Backup(t.Context(), dir, filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "no ledger in") {
		t.Errorf("backup of a folder without a ledger: %v", err)
	}
	l := open(t, dir)
	l.Close()
	if _, err := ledger.Backup(t.Context(), dir, filepath.Join(dir, ledger.FileName)); err == nil {
		t.Error("a backup replaced the ledger itself")
	}
	if _, err := ledger.Backup(t.Context(), dir, filepath.Join(t.TempDir(), "no", "such", "folder", "b.db")); err == nil {
		t.Error("a backup into a missing folder succeeded")
	}
}

// TestSchemaVersions: the hub (Open) upgrades an older ledger; the other
// commands (OpenExisting) refuse both an older and a newer one, naming
// the versions; Open refuses a newer one.
func TestSchemaVersions(t *testing.T) {
	setVersion := func(t *testing.T, dir string, v int) {
		db := sqlOpen(t, filepath.Join(dir, ledger.FileName))
		if _, err := db.Exec(`DELETE FROM schema_version`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	t.Run("newer", func(t *testing.T) {
		dir := t.TempDir()
		open(t, dir).Close()
		setVersion(t, dir, ledger.SchemaVersion+1)
		for name, openFn := range map[string]func(context.Context, string) (*ledger.Ledger, error){"Open": ledger.Open, "OpenExisting": ledger.OpenExisting} {
			l, err := openFn(t.Context(), dir)
			if err == nil {
				l.Close()
				t.Fatalf("%s opened a ledger of a newer schema", name)
			}
			var se *ledger.SchemaError
			if !errors.Is(err, ledger.ErrNewerSchema) || !errors.As(err, &se) || se.Have != ledger.SchemaVersion+1 || se.Want != ledger.SchemaVersion {
				t.Errorf("%s: %v", name, err)
			}
			if !strings.Contains(err.Error(), "newer version of jobplan-hub") || !strings.Contains(err.Error(), "restore a backup") {
				t.Errorf("%s: the error does not say what to do: %v", name, err)
			}
		}
	})
}

// TestBackupOfAnEmptyDatabaseSaysSo: a ledger.db that holds no ledger yet
// (a hub creating it) is not passed off as a backup.
func TestBackupOfAnEmptyDatabaseSaysSo(t *testing.T) {
	dir := t.TempDir()
	db := sqlOpen(t, filepath.Join(dir, ledger.FileName))
	if _, err := db.Exec(`CREATE TABLE unrelated (x)`); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "b.db")
	if _, err := ledger.Backup(t.Context(), dir, dst); err == nil || !strings.Contains(err.Error(), "holds no ledger yet") {
		t.Errorf("backup of a database without a ledger: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left %s: %v", dst, err)
	}
}
