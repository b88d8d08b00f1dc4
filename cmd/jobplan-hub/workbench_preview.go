package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// A preview reads the input twice, and both passes stop after the last
// plan shown:
//
//  1. With the mapping's Applier, in the steps the converter takes (filter,
//     map the row, add activities, group rows, compute), to find the first
//     plans, their source rows and the record each builds. This shows the
//     mapped values of rejected plans too, which convert never writes.
//  2. With transform.Convert itself, for the findings, so they are exactly
//     those convert reports. Its input is cut after the last line of the
//     last plan shown (a prefix of the file, so line numbers agree), and
//     a finding past that line cancels it.

type itemKind uint8

const (
	itemPlan     itemKind = iota
	itemFiltered          // a row the mapping's filters drop
	itemBadRow            // a row that is not a plan: unreadable, wrong width
)

type previewRow struct {
	line, endLine int
	raw           string
}

// previewItem is a plan or a row that is not one, in input order.
type previewItem struct {
	kind        itemKind
	plan        int // 1-based, for plans
	first, last int
	rows        []previewRow
	rec         record.JobPlan
	findings    []finding.Finding
}

type preview struct {
	m        *mapping.Mapping
	header   []string
	items    []*previewItem
	plans    int
	eof      bool              // the input ended before the plans wanted
	file     []finding.Finding // findings not about a row shown
	fileErr  string            // convert refused the file
	lastLine int
}

func runPreview(ctx context.Context, m *mapping.Mapping, input string, n int) (*preview, error) {
	f, err := os.Open(input)
	if err != nil {
		return nil, err
	}
	pv := &preview{m: m}
	err = pv.collect(ctx, f, n)
	f.Close()
	if err != nil {
		return nil, err
	}
	// A filtered row inside a grouped plan was met before the plan ended.
	sort.SliceStable(pv.items, func(i, j int) bool { return pv.items[i].first < pv.items[j].first })
	for _, it := range pv.items {
		pv.lastLine = max(pv.lastLine, it.last)
	}
	if pv.lastLine == 0 {
		return pv, nil
	}
	f, err = os.Open(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := pv.findings(ctx, f, true); err != nil {
		return nil, err
	}
	return pv, nil
}

func previewDecoder(m *mapping.Mapping, in io.Reader) (decode.Reader, []string, error) {
	switch {
	case m.Format == "csv":
		cr, err := decode.NewCSVReader(in, m.CSV)
		if err != nil {
			return nil, nil, err
		}
		return cr, cr.Header(), nil
	case m.JSON.Lines:
		jr, err := decode.NewJSONLinesReader(in, m.JSON)
		return jr, nil, err
	}
	jr, err := decode.NewJSONReader(in, m.JSON)
	return jr, nil, err
}

func discardFinding(finding.Finding) {}

func previewCopyRow(r *decode.Row) previewRow {
	return previewRow{line: r.Line, endLine: r.EndLine, raw: string(r.Raw)}
}

// collect is pass 1: the first n plans and the rows around them.
func (pv *preview) collect(ctx context.Context, in io.Reader, n int) error {
	r, header, err := previewDecoder(pv.m, in)
	if err != nil {
		return fmt.Errorf("not in the layout the mapping expects: %w", err)
	}
	pv.header = header
	ap, err := pv.m.Bind(header)
	if err != nil {
		return fmt.Errorf("not in the layout the mapping expects: %w", err)
	}
	var cur *previewItem // plan being grouped
	var groupKey []byte
	var scratch record.JobPlan
	finish := func() {
		if cur != nil {
			ap.Compute(&cur.rec, discardFinding)
			pv.items = append(pv.items, cur)
			cur = nil
		}
	}
	startPlan := func(row *decode.Row) *previewItem {
		pv.plans++
		return &previewItem{kind: itemPlan, plan: pv.plans, first: row.Line, last: row.EndLine, rows: []previewRow{previewCopyRow(row)}}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if cur == nil && pv.plans >= n {
			return nil
		}
		row, err := r.Next()
		if err == io.EOF {
			finish()
			pv.eof = true
			return nil
		}
		var rowErr *decode.RowError
		if errors.As(err, &rowErr) {
			finish()
			pv.items = append(pv.items, &previewItem{kind: itemBadRow, first: rowErr.Row.Line, last: rowErr.Row.EndLine, rows: []previewRow{previewCopyRow(&rowErr.Row)}})
			continue
		}
		if err != nil {
			finish()
			pv.fileErr = transform.Describe(err)
			return nil
		}
		bad := len(header) > 0 && len(row.Fields) != len(header)
		keep := false
		if !bad {
			keep, err = ap.Keep(row)
			bad = err != nil
		}
		switch {
		case bad:
			finish()
			pv.items = append(pv.items, &previewItem{kind: itemBadRow, first: row.Line, last: row.EndLine, rows: []previewRow{previewCopyRow(row)}})
			continue
		case !keep:
			pv.items = append(pv.items, &previewItem{kind: itemFiltered, first: row.Line, last: row.EndLine, rows: []previewRow{previewCopyRow(row)}})
			continue
		}
		if !pv.m.Grouped() {
			it := startPlan(row)
			ap.MapRow(row, &it.rec, discardFinding)
			ap.AddActivities(row, &it.rec, discardFinding)
			cur = it
			finish()
			continue
		}
		// Long layout: consecutive rows with the same group key are a plan.
		scratch.Reset()
		ap.MapRow(row, &scratch, discardFinding)
		key := ap.GroupKey(&scratch)
		if cur != nil && (string(key) == string(groupKey) || ap.ContinuesPlan()) {
			cur.rows = append(cur.rows, previewCopyRow(row))
			cur.last = row.EndLine
			ap.AddActivities(row, &cur.rec, discardFinding)
			continue
		}
		finish()
		if pv.plans >= n {
			return nil // this row starts a plan not shown
		}
		cur = startPlan(row)
		cur.rec = scratch
		groupKey = append(groupKey[:0], key...)
		ap.AddActivities(row, &cur.rec, discardFinding)
	}
}

// lineLimit reads r up to the end of line n, then reports the end of input.
type lineLimit struct {
	r         io.Reader
	n, seen   int
	done, cut bool
}

func (l *lineLimit) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	k, err := l.r.Read(p)
	for i := 0; i < k; i++ {
		if p[i] == '\n' {
			l.seen++
			if l.seen == l.n {
				l.done, l.cut = true, true
				return i + 1, nil
			}
		}
	}
	return k, err
}

// previewSink collects convert's findings and stops it at the first
// finding past the last line shown.
type previewSink struct {
	lastLine int
	cancel   context.CancelFunc
	stopped  bool
	got      []finding.Finding
}

func (s *previewSink) Add(f finding.Finding) error {
	if f.Line > s.lastLine {
		s.stopped = true
		s.cancel()
		return errPreviewDone
	}
	s.got = append(s.got, f)
	return nil
}

// findings is pass 2: convert's own findings for the items collected,
// reading the input again from in. With cut, the input is cut after the
// last line shown; either way a finding past it stops the conversion.
func (pv *preview) findings(ctx context.Context, in io.Reader, cut bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &previewSink{lastLine: pv.lastLine, cancel: cancel}
	limit := &lineLimit{r: in, n: pv.lastLine}
	if cut && !strings.HasPrefix(strings.ToLower(pv.m.CSV.Encoding+pv.m.JSON.Encoding), "utf-16") {
		in = limit // every other encoding keeps '\n' as the byte 0x0A
	}
	tmp, err := os.MkdirTemp("", "jobplan-preview-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_, err = transform.Convert(ctx, pv.m, in, transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: sink, SpoolDir: tmp})
	var fe *transform.FileError
	switch {
	case err == nil, errors.Is(err, errPreviewDone):
	case errors.Is(err, context.Canceled) && sink.stopped:
	case errors.As(err, &fe):
		if !limit.cut { // not an artefact of cutting the input short
			pv.fileErr = fe.Reason
		}
	default:
		return err
	}
	pv.attach(sink.got)
	return nil
}

// attach gives each finding to the plan or row its line belongs to.
func (pv *preview) attach(fs []finding.Finding) {
	for _, f := range fs {
		var to *previewItem
		for _, it := range pv.items {
			if it.kind != itemFiltered && f.Line >= it.first && f.Line <= it.last {
				to = it
				break
			}
		}
		if to == nil {
			pv.file = append(pv.file, f)
			continue
		}
		to.findings = append(to.findings, f)
	}
}

// --- output ---

func (pv *preview) print(w io.Writer, input string, width int) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := pv.m
	first := "the first plan"
	if pv.plans != 1 {
		first = fmt.Sprintf("the first %d plans", pv.plans)
	}
	p("%s\n", wrapWords(fmt.Sprintf("Preview of %s with mapping %s (%s): %s, as convert reads them.", input, m.Name, m.Format, first), width, ""))
	if len(pv.header) > 0 {
		p("\n%s\n", wrapWords(fmt.Sprintf("Columns (%d): %s", len(pv.header), strings.Join(pv.header, ", ")), width, "  "))
	}
	if pv.fileErr != "" {
		p("\n%s\n", wrapWords("The file is refused: "+pv.fileErr, width, "  "))
	}
	for _, f := range pv.file {
		p("\n")
		printFinding(w, f, width)
	}
	for _, it := range pv.items {
		p("\n")
		switch it.kind {
		case itemFiltered:
			p("%s\n", headingRule(fmt.Sprintf("%s: filtered out by the mapping, not converted", lineSpan(it.first, it.last)), width))
			continue
		case itemBadRow:
			p("%s\n", headingRule(fmt.Sprintf("%s: not a plan, rejected", lineSpan(it.first, it.last)), width))
			pv.printRows(w, it, width)
		case itemPlan:
			asg := it.rec.Text(record.AssignmentNumber)
			if asg == "" {
				asg = "(none)"
			}
			p("%s\n", headingRule(fmt.Sprintf("Plan %d · %s · assignment %s · %s", it.plan, lineSpan(it.first, it.last), asg, planStatus(it.findings)), width))
			pv.printRows(w, it, width)
			p("Record:\n")
			pv.printRecord(w, &it.rec, width)
		}
		if len(it.findings) == 0 {
			p("Findings: none\n")
			continue
		}
		p("Findings:\n")
		for _, f := range it.findings {
			printFinding(w, f, width)
		}
	}
	p("\n")
	switch {
	case pv.eof:
		p("%s\n", wrapWords(fmt.Sprintf("End of file: %s in all.", pluralize(pv.plans, "plan", "plans")), width, ""))
	case pv.lastLine > 0:
		p("%s\n", wrapWords(fmt.Sprintf("Stopped after line %d. Duplicates and superseded plans are decided by convert over the whole file.", pv.lastLine), width, ""))
	}
}

// maxSourceLines caps the source lines shown for one plan (long JSON).
const maxSourceLines = 40

func (pv *preview) printRows(w io.Writer, it *previewItem, width int) {
	fmt.Fprintf(w, "Source:\n")
	digits := len(strconv.Itoa(it.last))
	shown := 0
	for _, r := range it.rows {
		for i, line := range strings.Split(strings.TrimRight(r.raw, "\r\n"), "\n") {
			if shown == maxSourceLines {
				fmt.Fprintf(w, "  %*s   … up to line %d\n", digits, "", it.last)
				return
			}
			prefix := fmt.Sprintf("  %*d | ", digits, r.line+i)
			fmt.Fprintf(w, "%s\n", wrapRaw(strings.TrimRight(line, "\r"), width, prefix, strings.Repeat(" ", digits+2)+" | "))
			shown++
		}
	}
}

func (pv *preview) printRecord(w io.Writer, p *record.JobPlan, width int) {
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
		fmt.Fprintf(w, "%s\n", fieldLine(f.Key, label, value, pv.sourceOf(id), width))
		filled = true
	}
	if !filled {
		fmt.Fprintf(w, "  (no field filled)\n")
	}
}

// sourceOf says where a field's value came from.
func (pv *preview) sourceOf(id record.ID) string {
	s := pv.m.SourceOf(id)
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
