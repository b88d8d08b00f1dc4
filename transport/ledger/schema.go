package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations[i] brings the schema from version i to version i+1. Released
// entries are never edited; changes go in a new entry.
var migrations = [][]string{
	{
		`CREATE TABLE files (
			id          INTEGER PRIMARY KEY,
			source      TEXT    NOT NULL,
			name        TEXT    NOT NULL,
			size        INTEGER NOT NULL,
			mtime       INTEGER NOT NULL,
			sha256      TEXT    NOT NULL,
			state       TEXT    NOT NULL CHECK (state IN ('claimed', 'processed', 'quarantined')),
			reason      TEXT    NOT NULL DEFAULT '',
			report_path TEXT    NOT NULL DEFAULT '',
			claimed_at  INTEGER NOT NULL,
			updated_at  INTEGER NOT NULL
		)`,
		`CREATE INDEX files_sha256 ON files (sha256)`,
		`CREATE TABLE deliveries (
			id                INTEGER PRIMARY KEY,
			destination       TEXT    NOT NULL,
			idempotency_key   TEXT    NOT NULL,
			assignment_number TEXT    NOT NULL,
			effective_date    TEXT    NOT NULL,
			file_id           INTEGER NOT NULL REFERENCES files (id),
			record_line       INTEGER NOT NULL,
			payload           BLOB    NOT NULL,
			state             TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'duplicate', 'rejected', 'superseded')),
			attempts          INTEGER NOT NULL DEFAULT 0,
			next_attempt_at   INTEGER NOT NULL DEFAULT 0,
			last_error        TEXT    NOT NULL DEFAULT '',
			created_at        INTEGER NOT NULL,
			updated_at        INTEGER NOT NULL,
			UNIQUE (destination, idempotency_key)
		)`,
		`CREATE INDEX deliveries_due ON deliveries (destination, state, next_attempt_at)`,
		`CREATE INDEX deliveries_assignment ON deliveries (destination, assignment_number, state)`,
		`CREATE INDEX deliveries_file ON deliveries (file_id)`,
	},
	{
		// Every report of a finished file, so that a restart repeats its
		// acknowledgement exactly (JSON array of paths).
		`ALTER TABLE files ADD COLUMN reports TEXT NOT NULL DEFAULT ''`,
	},
	{
		// When Prune emptied the file's delivered payloads (0: never).
		`ALTER TABLE files ADD COLUMN pruned_at INTEGER NOT NULL DEFAULT 0`,
	},
	{
		// Files a source found but leaves alone (hostile names, symbolic
		// links, ready markers without their file, files a server still
		// lists after they were archived), for status and the status
		// page. The name is kept as the bytes found.
		`CREATE TABLE refusals (
			source     TEXT    NOT NULL,
			name       BLOB    NOT NULL,
			reason     TEXT    NOT NULL,
			since      INTEGER NOT NULL,
			PRIMARY KEY (source, name)
		)`,
	},
	{
		// What each destination's breaker last knew of it (see
		// SetHealth), so that status shows an outage and a restarted
		// hub probes before it sends.
		`CREATE TABLE destination_health (
			destination   TEXT    PRIMARY KEY,
			available     INTEGER NOT NULL,
			since         INTEGER NOT NULL,
			probes        INTEGER NOT NULL DEFAULT 0,
			next_probe_at INTEGER NOT NULL DEFAULT 0,
			last_error    TEXT    NOT NULL DEFAULT '',
			updated_at    INTEGER NOT NULL
		)`,
	},
	{
		// The receiver's own id for a delivered record, read from its
		// answer (an esr_api destination's response_id).
		`ALTER TABLE deliveries ADD COLUMN remote_id TEXT NOT NULL DEFAULT ''`,
	},
	{
		// The status page lists the files of one state a page at a time,
		// newest first (see Files): the index holds the id (the rowid)
		// after the state.
		`CREATE INDEX files_state ON files (state)`,
	},
	{
		// What a delivery carries (DeliveryKind): one record, or a whole
		// file for a destination that takes files. File deliveries were
		// queued before as records of assignment "file:<file id>" with
		// the date they were queued; they have neither.
		`ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'record' CHECK (kind IN ('record', 'file'))`,
		`UPDATE deliveries SET kind = 'file', assignment_number = '', effective_date = ''
			WHERE assignment_number = 'file:' || file_id`,
	},
}

// SchemaVersion is the version of the ledger's schema this program
// writes: a ledger at an older version is brought up to it when the hub
// opens it (Open), and one at a newer version, written by a newer
// jobplan-hub, is refused.
var SchemaVersion = len(migrations)

// ErrNewerSchema means the ledger was written by a newer version of
// jobplan-hub, whose schema this one does not know.
var ErrNewerSchema = errors.New("written by a newer version of jobplan-hub")

// ErrOlderSchema means the ledger is at an older schema version than this
// program's, and was opened by a command that does not upgrade it
// (OpenExisting).
var ErrOlderSchema = errors.New("at an older schema version")

// SchemaError says which schema version a ledger is at and which this
// program uses; it wraps ErrNewerSchema or ErrOlderSchema.
type SchemaError struct {
	Have, Want int
}

func (e *SchemaError) Error() string {
	if e.Have > e.Want {
		return fmt.Sprintf("the ledger is at schema version %d, %v (this one knows versions up to %d): "+
			"run that version, or restore a backup of the ledger taken before the upgrade", e.Have, ErrNewerSchema, e.Want)
	}
	return fmt.Sprintf("the ledger is %v (%d) than this jobplan-hub's (%d): "+
		"start the hub (run or watch) with this version once to upgrade it", ErrOlderSchema, e.Have, e.Want)
}

func (e *SchemaError) Unwrap() error {
	if e.Have > e.Want {
		return ErrNewerSchema
	}
	return ErrOlderSchema
}

// version reads the schema version of the ledger (0: none yet).
func version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

// migrate applies the migrations the database has not seen yet. Each runs
// in its own transaction together with the version bump, so a crash leaves
// the schema at a known version.
func (l *Ledger) migrate(ctx context.Context) error {
	if _, err := l.db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for {
		done := false
		err := l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			// Read the version inside the write transaction so two processes
			// opening a new ledger at once cannot both apply a migration.
			v, err := version(ctx, tx)
			if err != nil {
				return err
			}
			if v > len(migrations) {
				return &SchemaError{Have: v, Want: len(migrations)}
			}
			if v == len(migrations) {
				done = true
				return nil
			}
			for _, stmt := range migrations[v] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("to version %d: %w", v+1, err)
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v+1)
			return err
		})
		var se *SchemaError
		if errors.As(err, &se) {
			return se // says all there is to say
		}
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if done {
			return nil
		}
	}
}
