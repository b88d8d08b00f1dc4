package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
)

// BackupResult describes a backup Backup wrote.
type BackupResult struct {
	Path          string
	SchemaVersion int
	Files         int   // rows of files in the copy
	Deliveries    int   // rows of deliveries in the copy
	Bytes         int64 // size of the copy
}

// Backup writes a consistent copy of the ledger in dir to dst, while a
// hub may go on writing to it: SQLite's VACUUM INTO copies what one read
// transaction sees (in WAL mode a reader does not stop the writer, and
// the writer does not change what the reader sees), so the copy holds
// every transaction committed before it began and none after. The copy
// is written beside dst under a temporary name, checked (integrity_check)
// and only then flushed and renamed to dst, replacing a file there. It
// opens the ledger without upgrading its schema: any version is copied
// as it is.
func Backup(ctx context.Context, dir, dst string) (BackupResult, error) {
	src := filepath.Join(dir, FileName)
	if _, err := os.Stat(src); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return BackupResult{}, fmt.Errorf("ledger backup: no ledger in %s (is this the hub's state folder?)", dir)
		}
		return BackupResult{}, fmt.Errorf("ledger backup: %w", err)
	}
	if same, err := samePath(src, dst); err != nil || same {
		if err == nil {
			err = errors.New("the backup cannot replace the ledger itself")
		}
		return BackupResult{}, fmt.Errorf("ledger backup: %w", err)
	}
	db, err := openPlain(src, false)
	if err != nil {
		return BackupResult{}, fmt.Errorf("ledger backup: %w", err)
	}
	defer db.Close()

	out, err := atomicfile.Create(dst)
	if err != nil {
		return BackupResult{}, fmt.Errorf("ledger backup: %w", err)
	}
	defer out.Abort()
	// VACUUM INTO writes a new database into an empty file; the
	// temporary file is that.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out.Name()); err != nil {
		return BackupResult{}, fmt.Errorf("ledger backup: copy %s: %w", src, err)
	}
	res, err := checkCopy(ctx, out.Name())
	if err != nil {
		return BackupResult{}, fmt.Errorf("ledger backup: the copy does not check out: %w", err)
	}
	if err := out.Commit(); err != nil {
		return BackupResult{}, fmt.Errorf("ledger backup: %w", err)
	}
	res.Path = dst
	return res, nil
}

// checkCopy opens the copy at path read-only, runs SQLite's
// integrity_check and counts its rows.
func checkCopy(ctx context.Context, path string) (BackupResult, error) {
	db, err := openPlain(path, true)
	if err != nil {
		return BackupResult{}, err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil {
		return BackupResult{}, err
	}
	if ok != "ok" {
		return BackupResult{}, fmt.Errorf("integrity_check: %s", ok)
	}
	var res BackupResult
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_version', 'files', 'deliveries')`).Scan(&tables); err != nil {
		return BackupResult{}, err
	}
	if tables != 3 {
		return BackupResult{}, errors.New("the database holds no ledger yet (a hub that is creating it has not finished; back it up again in a moment)")
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&res.SchemaVersion); err != nil {
		return BackupResult{}, err
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM files), (SELECT COUNT(*) FROM deliveries)`).Scan(&res.Files, &res.Deliveries); err != nil {
		return BackupResult{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return BackupResult{}, err
	}
	res.Bytes = st.Size()
	return res, nil
}

// openPlain opens the database file at path as it is: no migration, no
// change of journal mode.
func openPlain(path string, readOnly bool) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	if readOnly {
		q.Set("mode", "ro") // SQLite's own URI parameter
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, db.Ping()
}

// samePath reports whether a and b name one file (b need not exist).
func samePath(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
