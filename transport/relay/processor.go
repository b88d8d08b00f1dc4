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
	// Process reads the input from in.Content and writes its outputs into
	// dir. Problems with the content are not errors: they are reported in
	// Output (Failed and Reason), and the file is quarantined. An error
	// means the conversion could not run at all (disk full,
	// cancellation); the hub leaves the file claimed and tries again.
	Process(ctx context.Context, in Input, dir string) (Output, error)
}

// Input is one file for a Processor.
type Input struct {
	Name    string    // the name to convert it as: its outputs are named after it
	Content io.Reader // the content, from its first byte
	Size    int64     // bytes, if known
	// SHA256 is the lowercase hex SHA-256 of the content, which the hub
	// worked out before it claimed the file: the processor need not hash
	// the content again. (The hub checks that what the processor read is
	// as long as what it hashed.)
	SHA256 string
}

// Output is what a Processor produced for one input.
type Output struct {
	// Records is the path of the accepted records, one JSON object per
	// line. It is empty when the file failed.
	Records string
	// RecordsSHA256 is the lowercase hex SHA-256 of the Records file, and
	// Plans its records, in its order, each with what the ledger needs of
	// it: the hub queues them as they are, without reading the file back.
	// Both are required with Records.
	RecordsSHA256 string
	Plans         []Plan
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

// Plan is one accepted record of a processor's output.
type Plan struct {
	AssignmentNumber string
	EffectiveDate    string // YYYY-MM-DD
	// Payload is the record as record destinations are sent it: canonical
	// JSON (ledger.Canonical's form), and Key its idempotency key, the
	// lowercase hex SHA-256 of Payload (ledger.Key).
	Payload []byte
	Key     string
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
