package transform

import (
	"crypto/sha256"
	"errors"

	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// PlanKind is what an item of the input is.
type PlanKind uint8

const (
	KindPlan     PlanKind = iota // a plan: accepted, or rejected (Plan.Rejected)
	KindFiltered                 // a row the mapping's filters leave out
	KindBadRow                   // a row that is not a plan: unreadable, or the wrong width
)

// Plan is one item of the input as the converter finished it: a plan, a
// row that is not a plan, or a row a filter left out. An OnPlan hook
// (WithOnPlan) is handed each in input order, once its findings are
// reported and its record written. Its slices and Values are valid only
// during the call.
type Plan struct {
	Kind PlanKind
	// Number is a plan's number in the file, from 1, as findings give it
	// (Finding.Record); 0 for rows that are not plans.
	Number int
	// First and Last are the source lines the item spans.
	First, Last int
	// Rows are its source rows as read (decoded to UTF-8, without the
	// final line break), and RowLines the first source line of each: the
	// rows of a long layout's plan need not be consecutive lines.
	Rows     [][]byte
	RowLines []int
	// Findings are the item's findings as reported. Which plans of an
	// assignment are not sent (D1-D4) is decided at the end of the file;
	// those findings go to Outputs.Findings only.
	Findings []finding.Finding
	// Rejected is the verdict: an error finding refuses the item. An
	// accepted plan may still not be sent (D1-D4).
	Rejected bool
	// Values are a plan's values as mapped and computed, before the rules
	// checked them (the rules read them and do not change them), for
	// rejected plans too; nil for rows that are not plans.
	Values *record.JobPlan
	// JSON is the record written for an accepted plan, without the line
	// break.
	JSON []byte
}

// ErrEndInput, returned by an OnPlan hook, ends the conversion after the
// item it was handed, as if the input ended there: nothing after it is
// read or reported, duplicates are decided among the plans handed over,
// and Convert returns no error for it.
var ErrEndInput = errors.New("end of input requested")

// WithOnPlan calls fn with each item of the input, in input order, from
// the goroutine that called Convert. An error from fn other than
// ErrEndInput stops the conversion, which returns it.
func WithOnPlan(fn func(*Plan) error) Option {
	return func(c *converter) { c.onPlan = fn }
}

// WithOnHeader calls fn with the input's column names once they are read
// (CSV; never for JSON, whose records name their own values).
func WithOnHeader(fn func(columns []string)) Option {
	return func(c *converter) { c.onHeader = fn }
}

// Written describes what a conversion wrote to Outputs.Records, for a
// caller that passes the records on (the hub queues them for delivery).
// It is filled only when Convert succeeds.
type Written struct {
	// Records are the records in the order written, superseded and
	// duplicate plans left out as from the output.
	Records []WrittenRecord
	// SHA256 is the hash of all the bytes written to Outputs.Records.
	SHA256 [sha256.Size]byte

	arena []byte // backs the records' Canonical
}

// WrittenRecord is one record written, with what a deliverer needs of it.
type WrittenRecord struct {
	Assignment string // assignment_number
	Effective  string // effective_date, YYYY-MM-DD
	// Canonical is the record in canonical form (record.AppendCanonicalJSON):
	// keys sorted, as record destinations are sent it.
	Canonical []byte
	// SHA256 is the hash of Canonical: the record's idempotency key.
	SHA256 [sha256.Size]byte
}

// WithWritten fills w with each record written and the hash of the
// records output. The canonical form and its hash are worked out beside
// the record, by the workers that build it.
func WithWritten(w *Written) Option {
	return func(c *converter) { c.written = w }
}

// Written keeps canonical records in blocks that start small, for the
// hub's many small files, and double up to arenaMax, for bulk loads.
const (
	arenaFirst = 16 << 10
	arenaMax   = 1 << 20
)

func (w *Written) add(res *planResult) {
	if cap(w.arena)-len(w.arena) < len(res.canonical) {
		size := min(max(arenaFirst, 2*cap(w.arena)), arenaMax)
		w.arena = make([]byte, 0, max(size, len(res.canonical)))
	}
	start := len(w.arena)
	w.arena = append(w.arena, res.canonical...)
	w.Records = append(w.Records, WrittenRecord{
		Assignment: res.assignment, Effective: res.effective,
		Canonical: w.arena[start:len(w.arena):len(w.arena)], SHA256: res.key,
	})
}

// drop leaves out the records of plans dedup decided not to send, as
// compact does: the k-th record written is the plan of spooled's k-th
// member.
func (w *Written) drop(spooled, dropped bitset) {
	kept := w.Records[:0]
	next := uint32(0)
	for _, r := range w.Records {
		for !spooled.has(next) {
			next++
		}
		if !dropped.has(next) {
			kept = append(kept, r)
		}
		next++
	}
	clear(w.Records[len(kept):])
	w.Records = kept
}
