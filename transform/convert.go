// Package transform converts one supplier export into ESR job-plan records:
// decode rows, apply the supplier's mapping, validate, drop duplicates, and
// write accepted records, rejected rows and findings. It knows nothing of
// where files come from or go to.
package transform

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

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

// PlanNamer is an optional capability of a FindingSink: it is told the
// doctor's name on each plan as the plan is written (in plan order), when
// the mapping gives names, so that a report can name the doctor beside
// every finding about the plan, those made once the whole file has been
// read (D1-D4) included.
type PlanNamer interface {
	PlanName(record int, surname, forenames string) error
}

// MapsNames reports whether m gives the doctors' names (surname or
// forenames).
func MapsNames(m *mapping.Mapping) bool {
	return m.SourceOf(record.Surname) != "" || m.SourceOf(record.Forenames) != ""
}

// Outputs are where a conversion writes. Any may be io.Discard.
type Outputs struct {
	// Records receives accepted records, one JSON object a line, in input
	// order. When it is a file (RecordFile), records are written straight
	// into it and superseded ones squeezed out in place at the end;
	// otherwise they go through a spool file in SpoolDir.
	Records  io.Writer
	Rejected io.Writer // rejected source rows, in the input's own format
	Findings FindingSink
	// SpoolDir holds the temporary file used to drop superseded plans
	// (default os.TempDir()).
	SpoolDir string
}

// RecordFile is a seekable records output that can be compacted in place.
type RecordFile interface {
	io.Writer
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
}

// PlanChecker is an extra check run on every plan whose values could be
// read, after the contract rules, such as a cross-check against the trust's staff record. It is
// called from several goroutines at once and must not modify p.
type PlanChecker interface {
	CheckPlan(p *record.JobPlan, emit func(finding.Finding))
}

// Option adjusts a conversion.
type Option func(*converter)

// WithChecks adds checks run on every plan after the contract rules.
func WithChecks(checks ...PlanChecker) Option {
	return func(c *converter) { c.checks = append(c.checks, checks...) }
}

func (c *converter) progressed(rows int) {
	if c.progress != nil {
		c.progress.Add(int64(rows))
	}
}

// WithProgress counts the rows read into rows as the conversion goes, for
// a progress display in another goroutine.
func WithProgress(rows *atomic.Int64) Option {
	return func(c *converter) { c.progress = rows }
}

// Convert reads one input with mapping m. It returns the counts, a
// *FileError when the file cannot be processed, or another error for I/O
// failures and cancellation.
func Convert(ctx context.Context, m *mapping.Mapping, in io.Reader, out Outputs, opts ...Option) (report.Counts, error) {
	c := &converter{m: m, out: out}
	for _, o := range opts {
		o(c)
	}
	if n, ok := out.Findings.(PlanNamer); ok && MapsNames(m) {
		c.namer = n
	}
	err := c.run(ctx, in)
	return c.counts, err
}

type converter struct {
	m        *mapping.Mapping
	out      Outputs
	checks   []PlanChecker
	progress *atomic.Int64 // rows read, for a progress display; may be nil
	namer    PlanNamer     // nil unless the mapping gives names
	ap       *mapping.Applier
	rejects  decode.RejectWriter
	spool    *bufio.Writer
	counts   report.Counts
	dedup    *dedupIndex

	plan       record.JobPlan
	scratch    record.JobPlan
	pending    []finding.Finding // findings of the plan being built
	rows       [][]byte          // raw rows of the plan being built (grouped layouts)
	firstLine  int
	lastLine   int
	groupKey   []byte
	inGroup    bool
	seenKeys   map[uint64]groupSeen // finished groups, to catch non-contiguous rows
	groupHash  uint64
	group      planRows // rows of the plan being built (grouped layouts)
	rowFinds   []finding.Finding
	planRes    planResult            // the plan being judged (grouped layouts)
	collectRes func(finding.Finding) // adds to planRes's findings
	leftOut    filteredRun           // the last rows left out by a filter
	filterMap  record.JobPlan        // scratch for the key of a row left out
	err        error                 // first output error

	onPlan   func(*Plan) error // WithOnPlan; nil if none
	onHeader func([]string)    // WithOnHeader; nil if none
	ended    bool              // the OnPlan hook ended the input (ErrEndInput)
	view     Plan              // what the hook is handed
	oneRow   [1][]byte         // Rows and RowLines of a one-row item
	oneLine  [1]int
	written  *Written  // WithWritten; nil if not asked for
	sum      hash.Hash // of the records written, when written is set
}

func (c *converter) run(ctx context.Context, in io.Reader) error {
	r, header, err := decode.Open(in, c.m.DecodeOptions(c.out.SpoolDir))
	if err != nil {
		return fileError(err)
	}
	if cl, ok := r.(io.Closer); ok { // a workbook's temporary files
		defer cl.Close()
	}
	if c.onHeader != nil && header != nil {
		c.onHeader(header)
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
		c.group = newPlanRows(c.m)
		c.collectRes = func(f finding.Finding) { c.planRes.findings = append(c.planRes.findings, f) }
	}
	target, direct := c.out.Records.(RecordFile)
	if !direct {
		spoolFile, err := os.CreateTemp(c.out.SpoolDir, ".records-*.tmp")
		if err != nil {
			return fmt.Errorf("create record spool: %w", err)
		}
		defer func() {
			spoolFile.Close()
			os.Remove(spoolFile.Name())
		}()
		target = spoolFile
	}
	start, err := target.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("records output: %w", err)
	}
	c.spool = bufio.NewWriterSize(target, 256<<10)
	if c.written != nil {
		c.sum = sha256.New()
	}

	if !c.m.Grouped() {
		if err := c.runPipeline(ctx, r, header); err != nil {
			return err
		}
	} else if err := c.runGrouped(ctx, r, header); err != nil {
		return err
	}
	if err := c.rejects.Close(); err != nil {
		return fmt.Errorf("write rejected rows: %w", err)
	}
	if c.err != nil {
		return c.err
	}
	if err := c.spool.Flush(); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	c.decideDuplicates()
	if c.err != nil {
		return c.err
	}
	end, err := target.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("records output: %w", err)
	}
	if !c.dedup.dropped.empty() {
		if end, err = c.compact(target, start, end); err != nil {
			return err
		}
		if c.written != nil {
			c.written.drop(c.dedup.spooled, c.dedup.dropped)
		}
	}
	if c.written != nil {
		c.sum.Sum(c.written.SHA256[:0])
	}
	if direct {
		return nil
	}
	if _, err := io.Copy(c.out.Records, io.NewSectionReader(target, start, end-start)); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	return nil
}

// runGrouped converts a long layout, where consecutive rows with the same
// group key make one plan, row by row.
func (c *converter) runGrouped(ctx context.Context, r decode.Reader, header []string) error {
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
			c.progressed(1)
			c.badRow(rowErr.Row, "M09", report.RowProblem(rowErr))
		} else if err != nil {
			return fileError(err)
		} else {
			c.counts.RowsRead++
			c.progressed(1)
			c.row(row, len(header))
		}
		if c.err != nil || c.ended {
			return c.err
		}
	}
	if c.inGroup {
		c.finishPlan()
	}
	return c.err
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

// badRow rejects a row that is not a plan (grouped layouts).
func (c *converter) badRow(row decode.Row, rule, msg string) {
	if c.inGroup {
		c.finishPlan()
	}
	res := planResult{kind: KindBadRow, first: row.Line, last: row.EndLine, raws: [][]byte{row.Raw}, findings: []finding.Finding{badRowFinding(rule, msg)}}
	c.commit(&res)
}

// row adds one row of a grouped layout to the plan being built.
func (c *converter) row(row *decode.Row, width int) {
	if width > 0 && len(row.Fields) != width {
		c.badRow(*row, "M08", fmt.Sprintf("The row has %d columns but the header has %d.", len(row.Fields), width))
		return
	}
	keep, err := c.ap.Keep(row)
	if err != nil {
		c.badRow(*row, "M06", err.Error()+".")
		return
	}
	if !keep {
		c.leftOutRow(row)
		res := planResult{kind: KindFiltered, first: row.Line, last: row.EndLine}
		if c.onPlan != nil {
			c.oneRow[0] = row.Raw
			res.raws = c.oneRow[:]
		}
		c.commit(&res)
		return
	}
	// Long layout: rows with the same group key are one plan.
	c.scratch.Reset()
	c.rowFinds = c.rowFinds[:0]
	c.ap.MapRow(row, &c.scratch, func(f finding.Finding) {
		f.Line, f.EndLine = row.Line, row.EndLine
		c.rowFinds = append(c.rowFinds, f)
	})
	key := c.ap.GroupKey(&c.scratch)
	leftOut := c.leftOut
	c.leftOut.valid = false
	if c.inGroup && (string(key) == string(c.groupKey) || c.ap.ContinuesPlan()) {
		c.rows = append(c.rows, append([]byte(nil), row.Raw...))
		c.lastLine = row.EndLine
		c.group.add(c.ap, &c.scratch, row.Line, c.rowFinds, &c.pending)
		c.ap.AddActivities(row, &c.plan, c.collectAt(row))
		return
	}
	if c.inGroup {
		c.finishPlan()
		if c.ended {
			return // this row starts a plan after the end of input
		}
	}
	c.startPlan(row)
	c.plan = c.scratch
	c.groupKey = append(c.groupKey[:0], key...)
	c.group.start(&c.scratch, row.Line, c.rowFinds, &c.pending)
	if leftOut.valid && string(leftOut.key) == string(key) {
		// The rows just before, left out by a filter, are this plan's.
		c.group.noteLeftOut(leftOut.lines, leftOut.more)
	}
	h := fnv.New64a()
	h.Write(key)
	c.groupHash = h.Sum64()
	if earlier, seen := c.seenKeys[c.groupHash]; seen {
		c.collect(finding.Finding{Rule: "M10", Severity: finding.Error, Message: fmt.Sprintf("This plan's rows are separated from its rows at lines %d-%d by other plans' rows; neither part is sent, as each alone is an incomplete plan.", earlier.first, earlier.last)})
		if earlier.accepted {
			// The first part was accepted before the rest turned up: withdraw it.
			c.dedup.dropped.set(uint32(earlier.record))
			c.counts.Accepted--
			c.counts.Rejected++
			c.addFinding(finding.Finding{Record: earlier.record, Line: earlier.first, EndLine: earlier.last, Assignment: earlier.assignment, Rule: "M10", Severity: finding.Error,
				Message: fmt.Sprintf("More rows of this plan appear later, at line %d; this part is not sent. Its rows are not in the rejected file: resend the whole plan with its rows together.", row.Line), Fix: finding.Rules["M10"].Fix})
		}
	}
	c.ap.AddActivities(row, &c.plan, c.collectAt(row))
}

// leftOutRow notes a row a filter left out (grouped layouts): if it has
// the group key of the plan being built, or of the plan that follows it,
// that plan is only partly kept and is refused.
func (c *converter) leftOutRow(row *decode.Row) {
	c.filterMap.Reset()
	c.ap.MapRow(row, &c.filterMap, func(finding.Finding) {})
	key := c.ap.GroupKey(&c.filterMap)
	if c.inGroup && (string(key) == string(c.groupKey) || c.ap.ContinuesPlan()) {
		c.group.noteLeftOut([]int{row.Line}, 0)
		return
	}
	if c.leftOut.valid && string(c.leftOut.key) == string(key) {
		if len(c.leftOut.lines) < maxListed {
			c.leftOut.lines = append(c.leftOut.lines, row.Line)
		} else {
			c.leftOut.more++
		}
		return
	}
	c.leftOut = filteredRun{key: append(c.leftOut.key[:0], key...), lines: append(c.leftOut.lines[:0], row.Line), valid: true}
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

// finishPlan judges and writes the plan being built (grouped layouts).
func (c *converter) finishPlan() {
	c.inGroup = false
	c.group.verdict(c.m, &c.pending, c.firstLine, c.lastLine)
	// One result serves every plan, as the rows' buffers do.
	res := &c.planRes
	*res = planResult{kind: KindPlan, first: c.firstLine, last: c.lastLine, raws: c.rows, rowLines: c.group.lines, findings: c.pending,
		json: res.json[:0], canonical: res.canonical[:0], values: res.values}
	c.judge(c.ap, &c.plan, res, c.collectRes)
	c.pending = res.findings[:0]
	c.commit(res)
}

// groupSeen remembers a finished group of a long layout.
type groupSeen struct {
	record      int
	first, last int
	assignment  string
	accepted    bool
}

// remember notes a finished group so that later rows of it are caught.
func (c *converter) remember(recNo int, asg string, accepted bool) {
	if c.seenKeys == nil {
		return
	}
	c.seenKeys[c.groupHash] = groupSeen{record: recNo, first: c.firstLine, last: c.lastLine, assignment: asg, accepted: accepted}
}

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

// decideDuplicates decides, once the whole file has been read, which plans
// of an assignment are not sent (dedup.go), and reports each.
func (c *converter) decideDuplicates() {
	c.dedup.decide(dupPolicy{keepAll: c.m.KeepAllPlans, lastWins: c.m.SameDateLastWins}, func(d dupDecision) {
		c.counts.Accepted--
		f := finding.Finding{Record: d.record, Line: d.line, EndLine: d.endLine, Assignment: d.assignment, Field: "effective_date", Column: c.m.SourceOf(record.EffectiveDate), Value: d.date, Severity: finding.Warning}
		switch d.kind {
		case dupIdentical:
			c.counts.Duplicates++
			f.Rule, f.Field, f.Column, f.Value = "D1", "", "", ""
			f.Message = fmt.Sprintf("This plan is identical to the plan at line %d and is sent once.", d.otherLine)
		case dupOlder:
			c.counts.Superseded++
			f.Rule = "D2"
			f.Message = fmt.Sprintf("The later plan at line %d (effective %s) replaces this one (effective %s), which is not sent.", d.otherLine, d.otherDate, d.date)
		case dupConflict:
			c.counts.Superseded++
			f.Rule = "D3"
			f.Message = fmt.Sprintf("The plan at line %d has the same effective date (%s) but different values; that later row is sent and this one is not (duplicates.same_date: last_wins).", d.otherLine, d.date)
		case dupAmbiguous:
			c.counts.Rejected++
			f.Rule, f.Severity = "D3", finding.Error
			f.Message = fmt.Sprintf("This plan and the plan%s at %s for the same assignment have the same effective date (%s) but different values, so which one is current cannot be known; none of them is sent. These rows are not in the rejected file: correct the plans in the supplier system and export them again.",
				plural(len(d.lines)-1, "", "s"), linesExcept(d.lines, d.lineRecs, d.record), d.date)
		case dupHeldBack:
			c.counts.HeldBack++
			f.Rule = "D4"
			var why string
			switch {
			case d.causeAmbiguous:
				why = fmt.Sprintf("the plans at %s (effective %s) have one date but different values and were refused (D3)", linesExcept(d.lines, nil, 0), d.otherDate)
			case d.otherDate == "":
				why = fmt.Sprintf("the plan at line %d was rejected and its effective date could not be read, so it may be the latest", d.otherLine)
			case d.otherDate == d.date:
				why = fmt.Sprintf("the plan at line %d, with the same effective date, was rejected", d.otherLine)
			default:
				why = fmt.Sprintf("the later plan at line %d (effective %s) was rejected", d.otherLine, d.otherDate)
			}
			f.Message = fmt.Sprintf("This plan (effective %s) is not sent: %s, so this one may not be the current plan. Nothing is sent for this assignment from this file until that plan is put right and sent.", d.date, why)
		}
		f.Fix = finding.Rules[f.Rule].Fix
		// D3's severity follows duplicates.same_date (an error when the
		// plans are refused, a warning when the later row is sent).
		if f.Rule != "D3" {
			f.Severity = c.m.Validator.Severity(f.Rule)
			if f.Severity == finding.Off {
				f.Severity = finding.Warning // a plan not sent is always reported
			}
		}
		c.addFinding(f)
	})
}

// linesExcept lists lines, but not that of plan skip (recs are the plans
// of lines; nil to skip none): "line 4", "lines 4 and 9", "lines 4, 9 and
// 12 (and 3 more)".
func linesExcept(lines, recs []int, skip int) string {
	var ls []string
	for i, l := range lines {
		if recs == nil || recs[i] != skip {
			ls = append(ls, strconv.Itoa(l))
		}
	}
	const shown = 10
	more := ""
	if len(ls) > shown {
		more = fmt.Sprintf(" (and %d more)", len(ls)-shown)
		ls = ls[:shown]
	}
	switch len(ls) {
	case 0:
		return ""
	case 1:
		return "line " + ls[0]
	}
	return "lines " + strings.Join(ls[:len(ls)-1], ", ") + " and " + ls[len(ls)-1] + more
}

// compact squeezes dropped records out of f[start:end] in place and returns
// the new end. Writes never overtake reads, as records only move earlier.
func (c *converter) compact(f RecordFile, start, end int64) (int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, start, end-start), 256<<10)
	w := start
	buf := make([]byte, 0, 256<<10)
	flush := func() error {
		if _, err := f.WriteAt(buf, w); err != nil {
			return fmt.Errorf("compact records: %w", err)
		}
		w += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	plans := c.dedup.spooled
	next := uint32(0)
	if c.sum != nil {
		c.sum.Reset() // the records kept are hashed again as they move
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("compact records: %w", err)
		}
		// The k-th record written is the k-th accepted plan.
		for !plans.has(next) {
			next++
		}
		keep := !c.dedup.dropped.has(next)
		next++
		if !keep {
			continue
		}
		if c.sum != nil {
			c.sum.Write(line)
		}
		if len(buf)+len(line) > cap(buf) {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		buf = append(buf, line...)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := f.Truncate(w); err != nil {
		return 0, fmt.Errorf("compact records: %w", err)
	}
	if _, err := f.Seek(w, io.SeekStart); err != nil {
		return 0, fmt.Errorf("compact records: %w", err)
	}
	return w, nil
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
