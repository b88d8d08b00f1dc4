package transform

import (
	"context"
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

const batchRows = 512

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

type resultKind uint8

const (
	resFiltered resultKind = iota
	resPlan                // a plan: accepted, or rejected when findings hold an error
	resBadRow              // a row that is not a plan (unreadable, wrong width)
)

// planResult is the outcome of one plan, ready to be written.
type planResult struct {
	kind        resultKind
	rejected    bool
	first, last int
	raws        [][]byte
	json        []byte // accepted record, without newline
	findings    []finding.Finding
	assignment  string
	effective   string
	// surname and forenames are set when the mapping gives names and the
	// findings sink takes them (PlanNamer).
	surname, forenames string
}

func (b *batch) reset() {
	b.rows = b.rows[:0]
	b.fields = b.fields[:0]
	b.raw = b.raw[:0]
	for i := range b.results {
		b.results[i].findings = b.results[i].findings[:0]
		b.results[i].json = b.results[i].json[:0]
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
		if writeErr == nil {
			for i := range b.rows {
				c.counts.RowsRead++
				c.commit(&b.results[i])
			}
			c.progressed(len(b.rows))
			if c.err != nil {
				writeErr = c.err
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
		if len(b.rows) == batchRows {
			if err := send(b); err != nil {
				return err
			}
			b = newBatch()
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
		*res = planResult{first: row.Line, last: row.EndLine, raws: res.raws[:0], findings: res.findings[:0], json: res.json[:0]}
		res.raws = append(res.raws, row.Raw)
		collect := func(f finding.Finding) { res.findings = append(res.findings, f) }
		if in.rowErr != nil {
			res.kind = resBadRow
			collect(badRowFinding("M09", report.RowProblem(in.rowErr)))
			continue
		}
		if width > 0 && len(row.Fields) != width {
			res.kind = resBadRow
			collect(badRowFinding("M08", fmt.Sprintf("The row has %d columns but the header has %d.", len(row.Fields), width)))
			continue
		}
		keep, err := ap.Keep(row)
		if err != nil {
			res.kind = resBadRow
			collect(badRowFinding("M06", err.Error()+"."))
			continue
		}
		if !keep {
			res.kind = resFiltered
			continue
		}
		res.kind = resPlan
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
	if !res.rejected {
		res.json = p.AppendJSON(res.json[:0])
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

// commit writes one result: findings, rejected rows or the record.
func (c *converter) commit(res *planResult) {
	switch res.kind {
	case resFiltered:
		c.counts.RowsFiltered++
		return
	case resBadRow:
		c.counts.Rejected++
		for _, f := range res.findings {
			f.Line, f.EndLine = res.first, res.last
			c.addFinding(f)
		}
		for _, raw := range res.raws {
			c.reject(raw)
		}
		return
	}
	c.counts.PlansBuilt++
	recNo := c.counts.PlansBuilt
	for _, f := range res.findings {
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
		c.addFinding(f)
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
		return
	}
	c.counts.Accepted++
	c.dedup.add(res.assignment, res.effective, res.json, at)
	res.json = append(res.json, '\n')
	if _, err := c.spool.Write(res.json); err != nil && c.err == nil {
		c.err = fmt.Errorf("write records: %w", err)
	}
}
