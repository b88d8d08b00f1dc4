// Package transform converts one supplier export into ESR job-plan records:
// decode rows, apply the supplier's mapping, validate, drop duplicates, and
// write accepted records, rejected rows and findings. It knows nothing of
// where files come from or go to.
package transform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// FileError means the input cannot be processed at all (not the declared
// format, required columns missing). The file should be quarantined.
type FileError struct {
	Reason string
	Err    error
}

func (e *FileError) Error() string { return e.Reason }
func (e *FileError) Unwrap() error { return e.Err }

// FindingSink receives findings as they are made.
type FindingSink interface {
	Add(finding.Finding) error
}

// Outputs are where a conversion writes. Any may be io.Discard.
type Outputs struct {
	Records  io.Writer // accepted records, one JSON object a line, input order
	Rejected io.Writer // rejected source rows, in the input's own format
	Findings FindingSink
	// SpoolDir holds the temporary file used to drop superseded plans
	// (default os.TempDir()).
	SpoolDir string
}

// Convert reads one input with mapping m. It returns the counts, a
// *FileError when the file cannot be processed, or another error for I/O
// failures and cancellation.
func Convert(ctx context.Context, m *mapping.Mapping, in io.Reader, out Outputs) (report.Counts, error) {
	c := &converter{m: m, out: out}
	err := c.run(ctx, in)
	return c.counts, err
}

type converter struct {
	m       *mapping.Mapping
	out     Outputs
	ap      *mapping.Applier
	rejects decode.RejectWriter
	spool   *bufio.Writer
	counts  report.Counts
	dedup   *dedupIndex

	plan      record.JobPlan
	scratch   record.JobPlan
	pending   []finding.Finding // findings of the plan being built
	rows      [][]byte          // raw rows of the plan being built (grouped layouts)
	firstLine int
	lastLine  int
	groupKey  []byte
	inGroup   bool
	seenKeys  map[uint64]groupSeen // finished groups, to catch non-contiguous rows
	groupHash uint64
	jsonBuf   []byte
	err       error // first output error
}

func (c *converter) run(ctx context.Context, in io.Reader) error {
	var r decode.Reader
	var header []string
	switch {
	case c.m.Format == "csv":
		cr, err := decode.NewCSVReader(in, c.m.CSV)
		if err != nil {
			return fileError(err)
		}
		r, header = cr, cr.Header()
	case c.m.JSON.Lines:
		jr, err := decode.NewJSONLinesReader(in, c.m.JSON)
		if err != nil {
			return fileError(err)
		}
		r = jr
	default:
		jr, err := decode.NewJSONReader(in, c.m.JSON)
		if err != nil {
			return fileError(err)
		}
		r = jr
	}
	ap, err := c.m.Bind(header)
	if err != nil {
		return fileError(err)
	}
	c.ap = ap
	c.rejects = r.NewRejectWriter(c.out.Rejected)
	c.dedup = newDedupIndex()
	if c.m.Grouped() {
		c.seenKeys = map[uint64]groupSeen{}
	}
	spoolFile, err := os.CreateTemp(c.out.SpoolDir, ".records-*.tmp")
	if err != nil {
		return fmt.Errorf("create record spool: %w", err)
	}
	defer func() {
		spoolFile.Close()
		os.Remove(spoolFile.Name())
	}()
	c.spool = bufio.NewWriterSize(spoolFile, 256<<10)

	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *decode.RowError
		if errors.As(err, &rowErr) {
			c.counts.RowsRead++
			c.unreadable(rowErr)
			continue
		}
		if err != nil {
			return fileError(err)
		}
		c.counts.RowsRead++
		c.row(row, len(header))
		if c.err != nil {
			return c.err
		}
	}
	if c.inGroup {
		c.finishPlan()
	}
	if err := c.rejects.Close(); err != nil {
		return fmt.Errorf("write rejected rows: %w", err)
	}
	if c.err != nil {
		return c.err
	}
	if err := c.spool.Flush(); err != nil {
		return fmt.Errorf("write record spool: %w", err)
	}
	return c.copyAccepted(spoolFile)
}

// fileError wraps errors that make a whole file unprocessable.
func fileError(err error) error {
	var fe *decode.FormatError
	var mc *mapping.MissingColumnsError
	switch {
	case errors.As(err, &fe), errors.As(err, &mc), errors.Is(err, decode.ErrUnknownEncoding):
		return &FileError{Reason: "not in the layout the mapping expects: " + err.Error(), Err: err}
	}
	return fmt.Errorf("read input: %w", err)
}

// unreadable reports a row that could not be parsed and rejects it.
func (c *converter) unreadable(e *decode.RowError) {
	if c.inGroup {
		c.finishPlan()
	}
	c.counts.Rejected++
	c.counts.Errors++
	msg := fmt.Sprintf("Row could not be read: %v.", e.Err)
	c.addFinding(finding.Finding{Record: 0, Line: e.Row.Line, EndLine: e.Row.EndLine, Rule: "M09", Severity: finding.Error, Message: msg, Fix: finding.Rules["M09"].Fix})
	c.reject(e.Row.Raw)
}

func (c *converter) row(row *decode.Row, width int) {
	if width > 0 && len(row.Fields) != width {
		if c.inGroup {
			c.finishPlan()
		}
		c.counts.Rejected++
		c.counts.Errors++
		c.addFinding(finding.Finding{Line: row.Line, EndLine: row.EndLine, Rule: "M08", Severity: finding.Error,
			Message: fmt.Sprintf("The row has %d columns but the header has %d.", len(row.Fields), width), Fix: finding.Rules["M08"].Fix})
		c.reject(row.Raw)
		return
	}
	keep, err := c.ap.Keep(row)
	if err != nil {
		c.counts.Rejected++
		c.counts.Errors++
		c.addFinding(finding.Finding{Line: row.Line, EndLine: row.EndLine, Rule: "M06", Severity: finding.Error, Message: err.Error() + ".", Fix: finding.Rules["M06"].Fix})
		c.reject(row.Raw)
		return
	}
	if !keep {
		c.counts.RowsFiltered++
		return
	}
	if !c.m.Grouped() {
		c.startPlan(row)
		c.ap.MapRow(row, &c.plan, c.collect)
		c.ap.AddActivities(row, &c.plan, c.collect)
		c.finishPlan()
		return
	}
	// Long layout: rows with the same group key are one plan.
	c.scratch.Reset()
	var rowFindings []finding.Finding
	c.ap.MapRow(row, &c.scratch, func(f finding.Finding) {
		f.Line, f.EndLine = row.Line, row.EndLine
		rowFindings = append(rowFindings, f)
	})
	key := c.ap.GroupKey(&c.scratch)
	if c.inGroup && string(key) == string(c.groupKey) {
		c.rows = append(c.rows, append([]byte(nil), row.Raw...))
		c.lastLine = row.EndLine
		c.pending = append(c.pending, rowFindings...)
		c.ap.AddActivities(row, &c.plan, c.collectAt(row))
		return
	}
	if c.inGroup {
		c.finishPlan()
	}
	c.startPlan(row)
	c.plan = c.scratch
	c.groupKey = append(c.groupKey[:0], key...)
	c.pending = append(c.pending, rowFindings...)
	h := fnv.New64a()
	h.Write(key)
	c.groupHash = h.Sum64()
	if earlier, seen := c.seenKeys[c.groupHash]; seen {
		c.collect(finding.Finding{Rule: "M10", Severity: finding.Error, Message: fmt.Sprintf("This plan's rows are separated from its rows at lines %d-%d by other plans' rows; neither part is sent, as each alone is an incomplete plan.", earlier.first, earlier.last)})
		if earlier.spooled >= 0 {
			// The first part was accepted before the rest turned up: withdraw it.
			c.dedup.markDropped(uint32(earlier.spooled))
			c.counts.Accepted--
			c.counts.Rejected++
			c.addFinding(finding.Finding{Record: earlier.record, Line: earlier.first, EndLine: earlier.last, Assignment: earlier.assignment, Rule: "M10", Severity: finding.Error,
				Message: fmt.Sprintf("More rows of this plan appear later, at line %d; this part is not sent. Its rows are not in the rejected file: resend the whole plan with its rows together.", row.Line), Fix: finding.Rules["M10"].Fix})
		}
	}
	c.ap.AddActivities(row, &c.plan, c.collectAt(row))
}

func (c *converter) startPlan(row *decode.Row) {
	c.plan.Reset()
	c.pending = c.pending[:0]
	c.rows = c.rows[:0]
	c.firstLine, c.lastLine = row.Line, row.EndLine
	c.inGroup = true
	if c.m.Grouped() {
		c.rows = append(c.rows, append([]byte(nil), row.Raw...))
	} else {
		c.rows = append(c.rows, row.Raw) // used before the next row is read
	}
}

// collect gathers a finding for the plan being built.
func (c *converter) collect(f finding.Finding) { c.pending = append(c.pending, f) }

func (c *converter) collectAt(row *decode.Row) func(finding.Finding) {
	return func(f finding.Finding) {
		f.Line, f.EndLine = row.Line, row.EndLine
		c.pending = append(c.pending, f)
	}
}

// finishPlan computes, validates and either accepts or rejects the plan.
func (c *converter) finishPlan() {
	c.inGroup = false
	c.counts.PlansBuilt++
	p := &c.plan
	c.ap.Compute(p, c.collect)
	// A value that could not be read already rejects the plan; checking the
	// rules on what is left would only report consequences of that error.
	rejected := c.hasError()
	if !rejected {
		c.m.Validator.Check(p, c.collect)
		rejected = c.hasError()
	}
	recNo := c.counts.PlansBuilt
	asg := p.Text(recordAssignment)
	emit := func() {
		for _, f := range c.pending {
			f.Record = recNo
			f.Assignment = asg
			if f.Line == 0 {
				f.Line, f.EndLine = c.firstLine, c.lastLine
			}
			if f.Column == "" && f.Field != "" {
				if id, ok := record.Lookup(f.Field); ok {
					f.Column = c.m.SourceOf(id)
				}
			}
			c.addFinding(f)
		}
	}
	if rejected {
		c.counts.Rejected++
		c.remember(recNo, asg, false)
		emit()
		for _, raw := range c.rows {
			c.reject(raw)
		}
		return
	}
	c.jsonBuf = p.AppendJSON(c.jsonBuf[:0])
	verdict := c.dedup.offer(p, c.jsonBuf, c.firstLine, c.m.KeepAllPlans)
	switch verdict.kind {
	case dupIdentical:
		c.counts.Duplicates++
		c.collect(finding.Finding{Rule: "D1", Severity: finding.Warning, Field: "assignment_number", Value: asg,
			Message: fmt.Sprintf("This plan is identical to the plan at line %d and is sent once.", verdict.otherLine), Fix: finding.Rules["D1"].Fix})
	case dupOlder:
		c.counts.Superseded++
		c.collect(finding.Finding{Rule: "D2", Severity: finding.Warning, Field: "effective_date", Value: p.Text(recordEffective),
			Message: fmt.Sprintf("A later plan for this assignment (line %d, effective %s) replaces this one, which is not sent.", verdict.otherLine, verdict.otherDate), Fix: finding.Rules["D2"].Fix})
	case dupNewer, dupConflict:
		c.counts.Superseded++
		rule, msg := "D2", fmt.Sprintf("This plan replaces the earlier plan at line %d (effective %s), which is not sent.", verdict.otherLine, verdict.otherDate)
		if verdict.kind == dupConflict {
			rule, msg = "D3", fmt.Sprintf("The plan at line %d has the same effective date but different values; this later row is sent instead.", verdict.otherLine)
		}
		c.collect(finding.Finding{Rule: rule, Severity: finding.Warning, Field: "effective_date", Value: p.Text(recordEffective), Message: msg, Fix: finding.Rules[rule].Fix})
	}
	if verdict.spool {
		c.counts.Accepted++
		c.jsonBuf = append(c.jsonBuf, '\n')
		if _, err := c.spool.Write(c.jsonBuf); err != nil && c.err == nil {
			c.err = fmt.Errorf("write record spool: %w", err)
		}
	}
	if verdict.kind == dupNewer || verdict.kind == dupConflict {
		c.counts.Accepted-- // the earlier plan it replaces is dropped
	}
	c.remember(recNo, asg, verdict.spool)
	emit()
}

// groupSeen remembers a finished group of a long layout.
type groupSeen struct {
	record      int
	first, last int
	assignment  string
	spooled     int64 // position in the spool, -1 when not accepted
}

// remember notes a finished group so that later rows of it are caught.
func (c *converter) remember(recNo int, asg string, spooled bool) {
	if c.seenKeys == nil {
		return
	}
	g := groupSeen{record: recNo, first: c.firstLine, last: c.lastLine, assignment: asg, spooled: -1}
	if spooled {
		g.spooled = int64(c.dedup.spooled) - 1
	}
	c.seenKeys[c.groupHash] = g
}

func (c *converter) hasError() bool {
	for i := range c.pending {
		if c.pending[i].Severity == finding.Error {
			return true
		}
	}
	return false
}

const (
	recordAssignment = record.AssignmentNumber
	recordEffective  = record.EffectiveDate
)

func (c *converter) reject(raw []byte) {
	if err := c.rejects.WriteRow(raw); err != nil && c.err == nil {
		c.err = fmt.Errorf("write rejected rows: %w", err)
	}
}

func (c *converter) addFinding(f finding.Finding) {
	switch f.Severity {
	case finding.Error:
		c.counts.Errors++
	case finding.Warning:
		c.counts.Warnings++
	}
	if err := c.out.Findings.Add(f); err != nil && c.err == nil {
		c.err = fmt.Errorf("write findings: %w", err)
	}
}

// copyAccepted copies the spooled records to the output, leaving out those
// a later plan superseded.
func (c *converter) copyAccepted(spool *os.File) error {
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read record spool: %w", err)
	}
	if !c.dedup.anyDropped() {
		if _, err := io.Copy(c.out.Records, spool); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
		return nil
	}
	br := bufio.NewReaderSize(spool, 256<<10)
	bw := bufio.NewWriterSize(c.out.Records, 256<<10)
	for i := uint32(0); ; i++ {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read record spool: %w", err)
		}
		if !c.dedup.dropped(i) {
			if _, err := bw.Write(line); err != nil {
				return fmt.Errorf("write records: %w", err)
			}
		}
	}
	return bw.Flush()
}

// Status returns the report status for a conversion's outcome.
func Status(counts report.Counts, err error) string {
	switch {
	case err != nil:
		return report.StatusFailed
	case counts.Rejected > 0:
		return report.StatusPartial
	}
	return report.StatusAccepted
}

// Describe returns a one-line, user-facing reason for a failed conversion.
func Describe(err error) string {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return strings.TrimSpace(err.Error())
}
