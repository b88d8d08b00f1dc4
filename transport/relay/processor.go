package relay

import (
	"context"
	"io"
	"time"
)

// Processor converts one input file into a directory of outputs. The hub
// calls it with a fresh, empty directory per file under its state
// directory; cmd/jobplan-hub wires an adapter around transform/outdir, so
// that transport never imports transform.
type Processor interface {
	// Process reads the input called name (size bytes, if known) from r and
	// writes its outputs into dir. Problems with the content are not
	// errors: they are reported in Output (Failed and Reason), and the
	// file is quarantined. An error means the conversion could not run at
	// all (disk full, cancellation); the hub leaves the file claimed and
	// tries again.
	Process(ctx context.Context, name string, r io.Reader, size int64, dir string) (Output, error)
}

// Output is what a Processor produced for one input.
type Output struct {
	// Records is the path of the accepted records, one JSON object per
	// line, each with "assignment_number" and "effective_date"
	// (YYYY-MM-DD). It is empty when the file failed.
	Records string
	// Report is the path of the main report (the one a later "already
	// processed" report points to).
	Report string
	// Reports are the paths to keep beside the archived or quarantined
	// input, Report among them.
	Reports []string
	// Failed is set when the file could not be processed at all; Reason
	// then says why in one line, without any value from the file (no
	// personal data): it is logged, kept in the ledger, shown on the
	// status page and written beside the quarantined file. The report
	// holds the detail.
	Failed bool
	Reason string
	// Counts are the file's records by outcome, for metrics. Processors
	// that do not count leave them zero.
	Counts RecordCounts
}

// RecordCounts counts one file's records (plans) by outcome. Each plan
// built has one outcome, so they add up to the plans built.
type RecordCounts struct {
	// Accepted plans passed validation and are sent; Rejected ones failed.
	Accepted, Rejected int
	// Duplicates repeated an earlier plan of the file; Superseded were
	// replaced by a newer plan for the same assignment in the file.
	Duplicates, Superseded int
	// HeldBack are accepted plans not sent because a later plan of their
	// assignment in the file was refused (finding D4).
	HeldBack int
	// Warnings counts the findings of severity warning (about plans
	// accepted or not).
	Warnings int
}

// logAttrs are the counts as the "file processed" log line gives them.
func (c RecordCounts) logAttrs() []any {
	return []any{"accepted", c.Accepted, "rejected", c.Rejected, "warnings", c.Warnings, "held_back", c.HeldBack,
		"duplicates", c.Duplicates, "superseded", c.Superseded}
}

// Skipped describes an input whose exact content was processed before.
type Skipped struct {
	Name   string // base name of the new drop
	SHA256 string // its content hash, shared with the earlier file
	// EarlierID, EarlierName, EarlierAt and EarlierReport describe the
	// earlier file as the ledger knows it.
	EarlierID     int64
	EarlierName   string
	EarlierAt     time.Time
	EarlierReport string
}

// SkipReporter is an optional interface of a Processor that writes the
// report for a skipped input in its own report format. It returns the
// report's path inside dir. Without it the hub writes a small JSON report
// itself.
type SkipReporter interface {
	ReportSkipped(ctx context.Context, s Skipped, dir string) (string, error)
}

// Hasher is an optional interface of an Item that already knows the
// lowercase hex SHA-256 of its content (the SFTP source hashes while it
// downloads). Items without it are read once to hash them.
type Hasher interface {
	SHA256() string
}
