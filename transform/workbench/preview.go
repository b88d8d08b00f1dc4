// Package workbench is what the mapping workbench commands do (mapping
// preview and mapping test, see README.md "Mapping workbench and HTML
// reports"): the first plans of an export as convert reads them, and a
// mapping's test cases run as convert runs them. Both go through
// transform.Convert; the commands only print.
package workbench

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Preview is how convert reads the first plans of an export: each plan
// with its source rows, the values it maps (for rejected plans too, which
// convert never writes) and its findings, and the rows between them that
// are not plans.
type Preview struct {
	Mapping *mapping.Mapping
	Columns []string // the input's header (CSV, a workbook)
	Items   []*Item  // in input order
	Plans   int      // how many of Items are plans
	// EOF is set when the input ended before the plans asked for, so
	// every plan of it is shown.
	EOF bool
	// File are findings about no item shown.
	File []finding.Finding
	// FileError is why convert refuses the file, once part of it was read.
	FileError string
	// LastLine is the last source line shown.
	LastLine int
}

// Item is a plan, or a row that is not one.
type Item struct {
	Kind        transform.PlanKind
	Plan        int // the plan's number, from 1; 0 for rows that are not plans
	First, Last int
	Rows        []Row
	Record      record.JobPlan // a plan's values, as mapped and computed
	Findings    []finding.Finding
}

// Row is one source row of an Item.
type Row struct {
	Line int    // its first source line
	Raw  string // as read, decoded to UTF-8
}

// RunPreview converts in with m as convert does, up to the end of the nth
// plan, and returns what it read. Convert stops there, as if the input
// ended: duplicates and superseded plans are decided among the plans read.
// A file convert refuses before its first row returns a
// *transform.FileError.
func RunPreview(ctx context.Context, m *mapping.Mapping, in io.Reader, n int) (*Preview, error) {
	pv := &Preview{Mapping: m}
	var found findingList
	ended := false
	onPlan := func(p *transform.Plan) error {
		it := &Item{Kind: p.Kind, First: p.First, Last: p.Last}
		for i, raw := range p.Rows {
			it.Rows = append(it.Rows, Row{Line: p.RowLines[i], Raw: string(raw)})
		}
		pv.Items = append(pv.Items, it)
		if p.Kind != transform.KindPlan {
			return nil
		}
		pv.Plans++
		it.Plan = p.Number
		it.Record = *p.Values
		if pv.Plans >= n {
			ended = true
			return transform.ErrEndInput
		}
		return nil
	}
	tmp, err := os.MkdirTemp("", "jobplan-preview-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	_, err = transform.Convert(ctx, m, in, transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &found, SpoolDir: tmp},
		transform.WithOnPlan(onPlan), transform.WithOnHeader(func(columns []string) { pv.Columns = columns }))
	var fe *transform.FileError
	switch {
	case errors.As(err, &fe) && len(pv.Items) == 0:
		return nil, fe
	case errors.As(err, &fe):
		pv.FileError = fe.Reason
	case err != nil:
		return nil, err
	default:
		pv.EOF = !ended
	}
	// A row a filter left out inside a long layout's plan is handed over
	// before the plan, which ends after it.
	slices.SortStableFunc(pv.Items, func(a, b *Item) int { return a.First - b.First })
	for _, it := range pv.Items {
		pv.LastLine = max(pv.LastLine, it.Last)
	}
	pv.attach(found)
	return pv, nil
}

// attach gives each finding to the plan or row its line belongs to.
func (pv *Preview) attach(fs []finding.Finding) {
	for _, f := range fs {
		var to *Item
		for _, it := range pv.Items {
			if it.Kind != transform.KindFiltered && f.Line >= it.First && f.Line <= it.Last {
				to = it
				break
			}
		}
		if to == nil {
			pv.File = append(pv.File, f)
			continue
		}
		to.Findings = append(to.Findings, f)
	}
}

// findingList collects findings.
type findingList []finding.Finding

func (l *findingList) Add(f finding.Finding) error {
	*l = append(*l, f)
	return nil
}
