package transform

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// In a long layout every row of a plan carries the plan's plan-level
// values (assignment, effective date, contract, on-call...) beside one
// activity. A plan has one verdict: when its rows disagree on such a value,
// or a filter keeps some of its rows and leaves out others, the plan gets
// one finding naming the rows and is refused, rather than one finding per
// row or the first row winning without a word.

// planRows follows the rows of the grouped plan being built.
type planRows struct {
	fields   []record.ID // the plan-level fields: read from every row
	firstRow bool        // group.plan_values: first_row

	first     record.JobPlan // plan-level values of the plan's first row
	lines     []int          // first source line of each row kept
	unread    [record.NumFields]bool
	conflicts []conflict
	merged    []mergedFinding
	filtered  []int // lines of rows of this plan left out by a filter (the first maxListed)
	moreOut   int   // how many more were left out
}

// maxListed bounds the lines a finding lists of rows left out, as a run of
// rows left out can be as long as the file.
const maxListed = 50

// noteLeftOut adds the line of a row of this plan a filter left out.
func (g *planRows) noteLeftOut(lines []int, more int) {
	for _, l := range lines {
		if len(g.filtered) < maxListed {
			g.filtered = append(g.filtered, l)
		} else {
			g.moreOut++
		}
	}
	g.moreOut += more
}

// conflict is a plan-level field on which the plan's rows disagree.
type conflict struct {
	id     record.ID
	values []valueLines
}

// valueLines is one of the values a conflicting field takes, and where.
type valueLines struct {
	has   bool
	text  string
	num   decimal.Dec
	lines []int
}

// mergedFinding is a finding made alike on several rows of the plan: it is
// reported once, naming the rows.
type mergedFinding struct {
	index int // in the plan's pending findings
	lines []int
}

func newPlanRows(m *mapping.Mapping) planRows {
	return planRows{fields: m.PlanFields(), firstRow: m.PlanValuesOnFirstRow()}
}

// start begins a plan with its first row, mapped into p; rowFindings are
// that row's reading findings, added to pending.
func (g *planRows) start(p *record.JobPlan, line int, rowFindings []finding.Finding, pending *[]finding.Finding) {
	g.first = *p
	g.lines = append(g.lines[:0], line)
	g.unread = [record.NumFields]bool{}
	g.conflicts = g.conflicts[:0]
	g.merged = g.merged[:0]
	g.filtered = g.filtered[:0]
	g.moreOut = 0
	g.addFindings(rowFindings, line, pending)
}

// add takes a later row of the plan, mapped into p.
func (g *planRows) add(ap *mapping.Applier, p *record.JobPlan, line int, rowFindings []finding.Finding, pending *[]finding.Finding) {
	g.addFindings(rowFindings, line, pending)
	for _, id := range g.fields {
		if g.unread[id] {
			continue // a reading finding already refuses the plan
		}
		if g.firstRow && ap.Blank(id) {
			continue // plan values are on the first row; blank means "as above"
		}
		if c := g.conflict(id); c != nil {
			c.note(p, id, line)
			continue
		}
		if same(&g.first, p, id) {
			continue
		}
		// The first disagreement: every row so far had the first row's value.
		c := conflict{id: id, values: []valueLines{valueOf(&g.first, id, g.lines)}}
		c.note(p, id, line)
		g.conflicts = append(g.conflicts, c)
	}
	g.lines = append(g.lines, line)
}

func (g *planRows) conflict(id record.ID) *conflict {
	for i := range g.conflicts {
		if g.conflicts[i].id == id {
			return &g.conflicts[i]
		}
	}
	return nil
}

func (c *conflict) note(p *record.JobPlan, id record.ID, line int) {
	v := valueOf(p, id, nil)
	for i := range c.values {
		if c.values[i].has == v.has && c.values[i].text == v.text && c.values[i].num == v.num {
			c.values[i].lines = append(c.values[i].lines, line)
			return
		}
	}
	v.lines = []int{line}
	c.values = append(c.values, v)
}

func valueOf(p *record.JobPlan, id record.ID, lines []int) valueLines {
	return valueLines{has: p.Has(id), text: p.Text(id), num: p.Num(id), lines: append([]int(nil), lines...)}
}

func same(a, b *record.JobPlan, id record.ID) bool {
	return a.Has(id) == b.Has(id) && a.Text(id) == b.Text(id) && a.Num(id) == b.Num(id)
}

// addFindings adds a row's reading findings; one the plan already has from
// an earlier row (same rule, field, value and message) is not repeated but
// names this row too.
func (g *planRows) addFindings(fs []finding.Finding, line int, pending *[]finding.Finding) {
next:
	for _, f := range fs {
		if id, ok := record.Lookup(f.Field); ok && f.Severity == finding.Error {
			g.unread[id] = true
		}
		for i := range g.merged {
			p := &(*pending)[g.merged[i].index]
			if p.Rule == f.Rule && p.Field == f.Field && p.Column == f.Column && p.Value == f.Value && p.Message == f.Message {
				g.merged[i].lines = append(g.merged[i].lines, line)
				p.EndLine = f.EndLine
				continue next
			}
		}
		g.merged = append(g.merged, mergedFinding{index: len(*pending), lines: []int{line}})
		*pending = append(*pending, f)
	}
}

// verdict adds the plan's own findings to pending once all its rows are
// in: one for each field its rows disagree on, one for rows a filter left
// out, and the lines of findings made on several rows.
func (g *planRows) verdict(m *mapping.Mapping, pending *[]finding.Finding, first, last int) {
	for _, mf := range g.merged {
		if len(mf.lines) > 1 {
			f := &(*pending)[mf.index]
			f.Message = strings.TrimSuffix(f.Message, ".") + fmt.Sprintf(" (on lines %s of this plan).", lineList(mf.lines))
		}
	}
	for _, c := range g.conflicts {
		field := c.id.Field()
		var parts []string
		for _, v := range c.values {
			parts = append(parts, fmt.Sprintf("%s on %s %s", v.show(field), plural(len(v.lines), "line", "lines"), lineList(v.lines)))
		}
		*pending = append(*pending, finding.Finding{Line: first, EndLine: last, Field: c.id.String(), Column: m.SourceOf(c.id), Value: c.values[0].raw(field),
			Rule: "M15", Severity: finding.Error, Fix: finding.Rules["M15"].Fix,
			Message: fmt.Sprintf("The rows of this plan disagree on %s: %s. A plan has one %s, so it is not sent.", field.Label, strings.Join(parts, ", "), field.Label)})
	}
	if len(g.filtered) > 0 {
		out := lineList(g.filtered)
		if g.moreOut > 0 {
			out += fmt.Sprintf(" and %d more", g.moreOut)
		}
		*pending = append(*pending, finding.Finding{Line: first, EndLine: last, Rule: "M15", Severity: finding.Error, Fix: finding.Rules["M15"].Fix,
			Message: fmt.Sprintf("The mapping's filters leave out %s %s of this plan but keep %s %s, so only part of the plan would be sent; it is not sent. Make its rows agree (for example the same status on every row), or give the filter scope: activity if it is meant to leave out single activities.",
				plural(len(g.filtered)+g.moreOut, "line", "lines"), out, plural(len(g.lines), "line", "lines"), lineList(g.lines))})
	}
}

// raw is the value for a finding's value column: as the record holds it.
func (v valueLines) raw(f record.Field) string {
	switch {
	case !v.has:
		return ""
	case f.Kind == record.Decimal || f.Kind == record.Band:
		return v.num.String()
	}
	return v.text
}

func (v valueLines) show(f record.Field) string {
	switch {
	case !v.has:
		return "blank"
	case f.Kind == record.Decimal || f.Kind == record.Band:
		return v.num.String()
	}
	return strconv.Quote(v.text)
}

// plural returns "line" or "lines" for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lineList writes lines as "2-4, 7": runs of consecutive lines as ranges.
func lineList(lines []int) string {
	var b strings.Builder
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(lines[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(lines[j]))
		}
		i = j + 1
	}
	return b.String()
}

// filteredRun is a run of consecutive rows left out by a filter that share
// a group key: if the next plan kept has that key, part of it was left out.
type filteredRun struct {
	key   []byte
	lines []int // the first maxListed
	more  int
	valid bool
}
