package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/workbench"
)

// The preview itself is transform/workbench's RunPreview; this file
// prints it.

func runPreview(ctx context.Context, m *mapping.Mapping, input string, n int) (*workbench.Preview, error) {
	f, err := os.Open(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return workbench.RunPreview(ctx, m, f, n)
}

func printPreview(w io.Writer, pv *workbench.Preview, input string, width int) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := pv.Mapping
	first := "the first plan"
	if pv.Plans != 1 {
		first = fmt.Sprintf("the first %d plans", pv.Plans)
	}
	p("%s\n", wrapWords(fmt.Sprintf("Preview of %s with mapping %s (%s): %s, as convert reads them.", input, m.Name, m.Format, first), width, ""))
	if len(pv.Columns) > 0 {
		p("\n%s\n", wrapWords(fmt.Sprintf("Columns (%d): %s", len(pv.Columns), strings.Join(pv.Columns, ", ")), width, "  "))
	}
	if pv.FileError != "" {
		p("\n%s\n", wrapWords("The file is refused: "+pv.FileError, width, "  "))
	}
	for _, f := range pv.File {
		p("\n")
		printFinding(w, f, width)
	}
	for _, it := range pv.Items {
		p("\n")
		switch it.Kind {
		case transform.KindFiltered:
			p("%s\n", headingRule(fmt.Sprintf("%s: filtered out by the mapping, not converted", lineSpan(it.First, it.Last)), width))
			continue
		case transform.KindBadRow:
			p("%s\n", headingRule(fmt.Sprintf("%s: not a plan, rejected", lineSpan(it.First, it.Last)), width))
			printRows(w, it, width)
		case transform.KindPlan:
			asg := it.Record.Text(record.AssignmentNumber)
			if asg == "" {
				asg = "(none)"
			}
			p("%s\n", headingRule(fmt.Sprintf("Plan %d · %s · assignment %s · %s", it.Plan, lineSpan(it.First, it.Last), asg, planStatus(it.Findings)), width))
			printRows(w, it, width)
			p("Record:\n")
			printRecord(w, m, &it.Record, width)
		}
		if len(it.Findings) == 0 {
			p("Findings: none\n")
			continue
		}
		p("Findings:\n")
		for _, f := range it.Findings {
			printFinding(w, f, width)
		}
	}
	p("\n")
	switch {
	case pv.EOF:
		p("%s\n", wrapWords(fmt.Sprintf("End of file: %s in all.", pluralize(pv.Plans, "plan", "plans")), width, ""))
	case pv.LastLine > 0:
		p("%s\n", wrapWords(fmt.Sprintf("Stopped after line %d. Duplicates and superseded plans are decided by convert over the whole file.", pv.LastLine), width, ""))
	}
}

// maxSourceLines caps the source lines shown for one plan (long JSON).
const maxSourceLines = 40

func printRows(w io.Writer, it *workbench.Item, width int) {
	fmt.Fprintf(w, "Source:\n")
	digits := len(strconv.Itoa(it.Last))
	shown := 0
	for _, r := range it.Rows {
		for i, line := range strings.Split(strings.TrimRight(r.Raw, "\r\n"), "\n") {
			if shown == maxSourceLines {
				fmt.Fprintf(w, "  %*s   … up to line %d\n", digits, "", it.Last)
				return
			}
			prefix := fmt.Sprintf("  %*d | ", digits, r.Line+i)
			fmt.Fprintf(w, "%s\n", wrapRaw(strings.TrimRight(line, "\r"), width, prefix, strings.Repeat(" ", digits+2)+" | "))
			shown++
		}
	}
}

func printRecord(w io.Writer, m *mapping.Mapping, p *record.JobPlan, width int) {
	filled := false
	for id := record.ID(0); id < record.NumFields; id++ {
		f := id.Field()
		if !p.Has(id) {
			continue
		}
		var value string
		switch f.Kind {
		case record.Text, record.Date:
			value = p.Text(id)
			if value == "" {
				continue
			}
		default:
			if p.Num(id) == 0 && !f.Nullable {
				continue
			}
			value = p.Num(id).String()
		}
		label := f.Label
		if f.Aux {
			label += "; not sent to ESR"
		}
		fmt.Fprintf(w, "%s\n", fieldLine(f.Key, label, value, sourceOf(m, id), width))
		filled = true
	}
	if !filled {
		fmt.Fprintf(w, "  (no field filled)\n")
	}
}

// sourceOf says where a field's value came from.
func sourceOf(m *mapping.Mapping, id record.ID) string {
	s := m.SourceOf(id)
	switch {
	case strings.HasPrefix(s, "(computed: "):
		return "computed: " + strings.TrimSuffix(strings.TrimPrefix(s, "(computed: "), ")")
	case s == "" && id.Field().PA:
		return "activities"
	}
	return s
}

// fieldLine writes "  key (label): value  ← source", shortening first the
// label, then the source, so the line fits width.
func fieldLine(key, label, value, src string, width int) string {
	head, val := "  "+key, ": "+value
	arrow := ""
	if src != "" {
		arrow = "  ← "
	}
	const least = 12
	over := runeCount(head) + 3 + runeCount(label) + runeCount(val) + runeCount(arrow) + runeCount(src) - width
	if over > 0 {
		cut := min(over, max(runeCount(label)-least, 0))
		label = truncateRunes(label, runeCount(label)-cut)
		over -= cut
	}
	if over > 0 && src != "" {
		cut := min(over, max(runeCount(src)-least, 0))
		src = truncateRunes(src, runeCount(src)-cut)
		over -= cut
	}
	line := head + " (" + label + ")" + val
	if over > 0 {
		line = head + val // no room for the label at all
	}
	return line + arrow + src
}

func printFinding(w io.Writer, f finding.Finding, width int) {
	title := finding.Rules[f.Rule].Title
	fmt.Fprintf(w, "%s\n", wrapWords(fmt.Sprintf("%s %s: %s", f.Severity, f.Rule, title), width, "  "))
	var where []string
	if f.Field != "" {
		where = append(where, f.Field)
	}
	if f.Column != "" && f.Column != f.Field {
		where = append(where, "← "+f.Column)
	}
	if f.Value != "" {
		where = append(where, "= "+strconv.Quote(f.Value))
	}
	if f.Line > 0 {
		where = append(where, "("+strings.ToLower(lineSpan(f.Line, f.EndLine))+")")
	}
	if len(where) > 0 {
		fmt.Fprintf(w, "%s\n", wrapWords(strings.Join(where, " "), width, "    "))
	}
	if f.Message != "" {
		fmt.Fprintf(w, "%s\n", wrapWords(f.Message, width, "    "))
	}
}

func planStatus(fs []finding.Finding) string {
	errs, warns, dropped := 0, 0, ""
	for _, f := range fs {
		switch {
		case f.Severity == finding.Error:
			errs++
		case f.Rule == "D1":
			dropped = "duplicate, not sent"
		case f.Rule == "D2" || f.Rule == "D3":
			dropped = "superseded, not sent"
		case f.Rule == "D4":
			dropped = "held back (a later plan refused), not sent"
		default:
			warns++
		}
	}
	switch {
	case errs > 0:
		return "REJECTED (" + pluralize(errs, "error", "errors") + ")"
	case dropped != "":
		return dropped
	case warns > 0:
		return "accepted, " + pluralize(warns, "warning", "warnings")
	}
	return "accepted"
}

func lineSpan(first, last int) string {
	if last > first {
		return fmt.Sprintf("Lines %d-%d", first, last)
	}
	return fmt.Sprintf("Line %d", first)
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// rule writes a heading padded with a line to width.
func headingRule(title string, width int) string {
	s := "── " + title + " "
	if n := width - runeCount(s); n > 0 {
		s += strings.Repeat("─", n)
	}
	return s
}

func runeCount(s string) int { return utf8.RuneCountInString(s) }

func truncateRunes(s string, n int) string {
	if runeCount(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// wrapText wraps words at width, every line starting with indent.
func wrapWords(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if runeCount(line)+1+runeCount(word) > width && runeCount(line) > runeCount(indent) {
			b.WriteString(line + "\n")
			line = indent
		}
		if runeCount(line) > runeCount(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// hardWrap cuts a raw source line into width-wide pieces, keeping every
// character, so a row reads as it is in the file.
func wrapRaw(s string, width int, first, rest string) string {
	var b strings.Builder
	prefix := first
	r := []rune(s)
	for {
		room := max(width-runeCount(prefix), 10)
		if len(r) <= room {
			b.WriteString(prefix + string(r))
			return b.String()
		}
		b.WriteString(prefix + string(r[:room]) + "\n")
		r = r[room:]
		prefix = rest
	}
}
