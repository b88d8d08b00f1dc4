package transform

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// Layouts with one plan per row are converted by a pipeline: one goroutine
// reads rows into batches, workers map, validate and encode each batch with
// their own Applier, and the caller's goroutine writes the results in input
// order. Output is identical to converting row by row.

// Batches start small and double up to batchRows, so that a caller that
// ends the input early (a preview of the first plans) has little read
// ahead of it.
const (
	firstBatchRows = 16
	batchRows      = 512
)

type rowIn struct {
	row    decode.Row
	rowErr *decode.RowError
}

type batch struct {
	rows    []rowIn
	results []planResult
	fields  []string // arena for the rows' CSV fields
	raw     []byte   // arena for the rows' raw bytes
	done    chan struct{}
}

// planResult is the outcome of one plan, ready to be written.
type planResult struct {
	kind        PlanKind
	rejected    bool
	first, last int
	raws        [][]byte
	rowLines    []int  // first line of each of raws; nil for one row
	json        []byte // accepted record, without newline
	findings    []finding.Finding
	assignment  string
	effective   string
	// surname and forenames are set when the mapping gives names and the
	// findings sink takes them (PlanNamer).
	surname, forenames string
	values             *record.JobPlan   // the plan's values, for an OnPlan hook
	canonical          []byte            // accepted record in canonical form, for Written
	key                [sha256.Size]byte // hash of canonical
}

func (b *batch) reset() {
	b.rows = b.rows[:0]
	b.fields = b.fields[:0]
	b.raw = b.raw[:0]
	for i := range b.results {
		b.results[i].findings = b.results[i].findings[:0]
		b.results[i].json = b.results[i].json[:0]
		b.results[i].canonical = b.results[i].canonical[:0]
	}
	b.done = make(chan struct{})
}

// add copies row into the batch: the reader reuses its buffers.
func (b *batch) add(row *decode.Row, rowErr *decode.RowError) {
	in := rowIn{rowErr: rowErr}
	if row != nil {
		in.row = *row
		start := len(b.fields)
		b.fields = append(b.fields, row.Fields...)
		in.row.Fields = b.fields[start:len(b.fields):len(b.fields)]
	} else {
		in.row = rowErr.Row
	}
	start := len(b.raw)
	b.raw = append(b.raw, in.row.Raw...)
	in.row.Raw = b.raw[start:len(b.raw):len(b.raw)]
	if rowErr != nil {
		e := *rowErr
		e.Row = in.row
		in.rowErr = &e
	}
	b.rows = append(b.rows, in)
}

// runPipeline converts an ungrouped layout with worker goroutines.
func (c *converter) runPipeline(ctx context.Context, r decode.Reader, header []string) error {
	workers := max(runtime.GOMAXPROCS(0), 1)
	appliers := make([]*mapping.Applier, workers)
	for i := range appliers {
		ap, err := c.m.Bind(header)
		if err != nil {
			return fileError(err)
		}
		appliers[i] = ap
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *batch, workers*2)
	ordered := make(chan *batch, workers*4)
	free := make(chan *batch, workers*6+2)
	var readErr error

	g.Go(func() error { // reader: exits at end of input, on error or cancel
		defer close(work)
		defer close(ordered)
		readErr = readBatches(gctx, r, free, work, ordered)
		return nil
	})
	for i := range workers {
		ap := appliers[i]
		g.Go(func() error { // worker: exits when work is closed
			for b := range work {
				c.judgeBatch(ap, b, len(header))
				close(b.done)
			}
			return nil
		})
	}
	// Writer: the caller's goroutine, so writes stay in input order.
	var writeErr error
	for b := range ordered {
		<-b.done
		if writeErr == nil && !c.ended {
			n := 0
			for n < len(b.rows) && !c.ended {
				c.counts.RowsRead++
				c.commit(&b.results[n])
				n++
			}
			c.progressed(n)
			if c.err != nil {
				writeErr = c.err
			}
			if c.err != nil || c.ended {
				cancel() // stop the reader; keep draining so it can exit
			}
		}
		select {
		case free <- b:
		default:
		}
	}
	g.Wait()
	switch {
	case writeErr != nil:
		return writeErr
	case c.ended:
		return parent.Err() // the reader stopped because the input ended here
	case readErr != nil:
		return readErr
	}
	return ctx.Err()
}

func readBatches(ctx context.Context, r decode.Reader, free, work, ordered chan *batch) error {
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.reset()
			return b
		default:
			b := &batch{}
			b.reset()
			return b
		}
	}
	// A batch goes to the workers before the writer's queue: the writer
	// waits for every batch it is given to be worked out.
	send := func(b *batch) error {
		for _, ch := range []chan *batch{work, ordered} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	b := newBatch()
	size := firstBatchRows
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *decode.RowError
		switch {
		case errors.As(err, &rowErr):
			b.add(nil, rowErr)
		case err != nil:
			if serr := send(b); serr != nil {
				return serr
			}
			return fileError(err)
		default:
			b.add(row, nil)
		}
		if len(b.rows) == size {
			if err := send(b); err != nil {
				return err
			}
			b = newBatch()
			size = min(2*size, batchRows)
		}
	}
	return send(b)
}

// judgeBatch works out every row of a batch (in a worker).
func (c *converter) judgeBatch(ap *mapping.Applier, b *batch, width int) {
	for len(b.results) < len(b.rows) {
		b.results = append(b.results, planResult{})
	}
	var plan record.JobPlan
	for i := range b.rows {
		in, res := &b.rows[i], &b.results[i]
		row := &in.row
		*res = planResult{first: row.Line, last: row.EndLine, raws: res.raws[:0], findings: res.findings[:0], json: res.json[:0],
			values: res.values, canonical: res.canonical[:0]}
		res.raws = append(res.raws, row.Raw)
		collect := func(f finding.Finding) { res.findings = append(res.findings, f) }
		if in.rowErr != nil {
			res.kind = KindBadRow
			collect(badRowFinding("M09", report.RowProblem(in.rowErr)))
			continue
		}
		if width > 0 && len(row.Fields) != width {
			res.kind = KindBadRow
			collect(badRowFinding("M08", fmt.Sprintf("The row has %d columns but the header has %d.", len(row.Fields), width)))
			continue
		}
		keep, err := ap.Keep(row)
		if err != nil {
			res.kind = KindBadRow
			collect(badRowFinding("M06", err.Error()+"."))
			continue
		}
		if !keep {
			res.kind = KindFiltered
			continue
		}
		res.kind = KindPlan
		plan.Reset()
		ap.MapRow(row, &plan, collect)
		ap.AddActivities(row, &plan, collect)
		c.judge(ap, &plan, res, collect)
	}
}

func badRowFinding(rule, msg string) finding.Finding {
	return finding.Finding{Rule: rule, Severity: finding.Error, Message: msg, Fix: finding.Rules[rule].Fix}
}

// judge computes and validates a finished plan and encodes it if accepted.
// A value that could not be read already rejects the plan; checking the
// rules on what is left would only report consequences of that error.
func (c *converter) judge(ap *mapping.Applier, p *record.JobPlan, res *planResult, collect func(finding.Finding)) {
	ap.Compute(p, collect)
	res.rejected = hasError(res.findings)
	if !res.rejected {
		c.m.Validator.Check(p, collect)
		// Extra checks run even when a contract rule failed: a trust
		// fixing a plan wants to know every problem with it at once.
		for _, check := range c.checks {
			check.CheckPlan(p, collect)
		}
		res.rejected = hasError(res.findings)
	}
	res.assignment = p.Text(record.AssignmentNumber)
	res.effective = p.Text(record.EffectiveDate)
	if c.namer != nil {
		res.surname, res.forenames = p.Text(record.Surname), p.Text(record.Forenames)
	}
	if c.onPlan != nil {
		if res.values == nil {
			res.values = new(record.JobPlan)
		}
		*res.values = *p
	}
	if !res.rejected {
		res.json = p.AppendJSON(res.json[:0])
		if c.written != nil {
			res.canonical = p.AppendCanonicalJSON(res.canonical[:0])
			res.key = sha256.Sum256(res.canonical)
		}
	}
}

func hasError(fs []finding.Finding) bool {
	for i := range fs {
		if fs[i].Severity == finding.Error {
			return true
		}
	}
	return false
}

// commit writes one result (findings, rejected rows or the record) and
// hands it to the OnPlan hook. Nothing is written once the hook has ended
// the input.
func (c *converter) commit(res *planResult) {
	if c.ended {
		return
	}
	recNo := 0
	switch res.kind {
	case KindFiltered:
		c.counts.RowsFiltered++
	case KindBadRow:
		c.counts.Rejected++
		res.rejected = true
		for i := range res.findings {
			f := &res.findings[i]
			f.Line, f.EndLine = res.first, res.last
			c.addFinding(*f)
		}
		for _, raw := range res.raws {
			c.reject(raw)
		}
	default:
		recNo = c.commitPlan(res)
	}
	if c.onPlan != nil {
		c.handOver(res, recNo)
	}
}

// commitPlan writes a plan's findings and its record or rejected rows, and
// returns its number.
func (c *converter) commitPlan(res *planResult) int {
	c.counts.PlansBuilt++
	recNo := c.counts.PlansBuilt
	for i := range res.findings {
		f := &res.findings[i]
		f.Record = recNo
		f.Assignment = res.assignment
		if f.Line == 0 {
			f.Line, f.EndLine = res.first, res.last
		}
		if f.Column == "" && f.Field != "" {
			if id, ok := record.Lookup(f.Field); ok {
				f.Column = c.m.SourceOf(id)
			}
		}
		c.addFinding(*f)
	}
	if c.namer != nil && (res.surname != "" || res.forenames != "") {
		if err := c.namer.PlanName(recNo, res.surname, res.forenames); err != nil && c.err == nil {
			c.err = fmt.Errorf("write findings: %w", err)
		}
	}
	c.remember(recNo, res.assignment, !res.rejected)
	at := planPos{record: recNo, line: res.first, end: res.last}
	if res.rejected {
		c.counts.Rejected++
		c.dedup.addRejected(res.assignment, res.effective, at)
		for _, raw := range res.raws {
			c.reject(raw)
		}
		return recNo
	}
	c.counts.Accepted++
	c.dedup.add(res.assignment, res.effective, res.json, at)
	res.json = append(res.json, '\n')
	if _, err := c.spool.Write(res.json); err != nil && c.err == nil {
		c.err = fmt.Errorf("write records: %w", err)
	}
	res.json = res.json[:len(res.json)-1]
	if c.written != nil {
		c.sum.Write(res.json)
		c.sum.Write(newline)
		c.written.add(res)
	}
	return recNo
}

var newline = []byte{'\n'}

// handOver hands a committed result to the OnPlan hook.
func (c *converter) handOver(res *planResult, recNo int) {
	p := &c.view
	*p = Plan{Kind: res.kind, Number: recNo, First: res.first, Last: res.last, Rows: res.raws, RowLines: res.rowLines,
		Findings: res.findings, Rejected: res.rejected}
	if p.RowLines == nil {
		c.oneLine[0] = res.first
		p.RowLines = c.oneLine[:]
	}
	if res.kind == KindPlan {
		p.Values = res.values
		if !res.rejected {
			p.JSON = res.json
		}
	}
	switch err := c.onPlan(p); {
	case errors.Is(err, ErrEndInput):
		c.ended = true
	case err != nil && c.err == nil:
		c.err = err
	}
}
