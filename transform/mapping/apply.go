package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/expr-lang/expr/vm"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// MissingColumnsError means the export lacks columns the mapping needs, or
// has two columns of a name the mapping reads: the file is not in the
// declared layout.
type MissingColumnsError struct {
	Columns []string
	Header  []string
	// Hint says what the file looks like instead, when that is clear: the
	// nearest header to a missing column, or another delimiter.
	Hint string
	// Repeated are names the mapping reads that head more than one column,
	// so it is not known which is meant.
	Repeated []string
}

func (e *MissingColumnsError) Error() string {
	var parts []string
	if len(e.Columns) > 0 {
		parts = append(parts, fmt.Sprintf("the file has no column %s (columns found: %s)", quoteList(e.Columns), quoteList(e.Header)))
	}
	if len(e.Repeated) > 0 {
		parts = append(parts, fmt.Sprintf("more than one column is headed %s, so it is not known which the mapping means; rename the columns in the export", quoteList(e.Repeated)))
	}
	if e.Hint != "" {
		parts = append(parts, e.Hint)
	}
	return strings.Join(parts, "; ")
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// Applier applies a Mapping to the rows of one input. It holds per-input
// state (column positions, expression scratch space) and is not safe for
// concurrent use; create one per input with Bind.
type Applier struct {
	m     *Mapping
	index map[*source]int // CSV column position per source; -1 when absent
	// fieldCols is index[&m.fields[i].src], resolved once so the per-row
	// path does no map lookups.
	fieldCols []int
	vm        vm.VM
	env       map[string]any
	row       *decode.Row // current row, for expressions and GroupKey
	elem      any         // current JSON activity, for activity expressions
	emit      func(finding.Finding)
	key       []byte
	keyBlank  bool // every group.by value of the row last keyed is blank

	dates [record.NumFields + 1]dateMemo
	// blank marks the fields whose source was blank in the row last mapped
	// (grouped layouts with plan values on the first row only).
	blank    [record.NumFields]bool
	whenHits []uint8

	header []string       // CSV header, for column() in expressions
	named  map[string]int // column() positions resolved so far
}

type dateMemo struct{ raw, iso string }

// Bind prepares the mapping for an input with the given CSV header (nil for
// JSON). Columns the mapping names must exist unless they have a default.
func (m *Mapping) Bind(header []string) (*Applier, error) {
	a := &Applier{m: m, index: map[*source]int{}, env: exprEnvTemplate(scopeField), header: header, named: map[string]int{}, whenHits: make([]uint8, len(m.whenGroups))}
	a.env["column"] = a.column
	a.env["path"] = a.path
	a.env["number"] = a.number
	a.env["hours_per_pa"] = m.units.hoursPerPA
	a.env["premium_hours_per_pa"] = m.units.premiumHoursPerPA
	a.env["working_weeks"] = m.units.workingWeeks
	if !m.Tabular() {
		return a, nil
	}
	var missing, repeated []string
	need := func(name string) {
		if !containsString(missing, name) {
			missing = append(missing, name)
		}
	}
	check := func(name string) int {
		i, n := columnMatch(header, name)
		if n > 1 && !containsString(repeated, name) {
			repeated = append(repeated, name)
		}
		return i
	}
	resolve := func(s *source, optional bool) {
		if s.column == "" {
			return
		}
		i := check(s.column)
		if i < 0 && !optional {
			need(s.column)
		}
		a.index[s] = i
	}
	var rule func(r *fieldRule)
	rule = func(r *fieldRule) {
		if r == nil {
			return
		}
		resolve(&r.src, r.def != nil)
		for _, k := range r.keys {
			resolve(k, false)
		}
		for _, p := range r.parts {
			rule(p)
		}
		for _, name := range r.reads {
			if check(name) < 0 {
				need(name)
			}
		}
	}
	for _, list := range [][]*fieldRule{m.fields, m.rowComputed} {
		for _, r := range list {
			rule(r)
		}
	}
	for _, list := range [][]*filterRule{m.filters, m.actFilters} {
		for _, f := range list {
			resolve(&f.src, false)
			for _, name := range f.reads {
				if check(name) < 0 {
					need(name)
				}
			}
		}
	}
	for _, g := range m.groupBy {
		if g.src != nil {
			resolve(g.src, false)
		}
	}
	if ar := m.activities; ar != nil {
		for _, r := range []*fieldRule{ar.category, ar.amount, ar.occurrences} {
			rule(r)
		}
		if ar.premium != nil {
			resolve(&ar.premium.src, false)
		}
	}
	if len(missing) > 0 || len(repeated) > 0 {
		return nil, &MissingColumnsError{Columns: missing, Header: header, Hint: headerHint(missing, header, m.CSV.Delimiter), Repeated: repeated}
	}
	a.fieldCols = make([]int, len(m.fields))
	for i, r := range m.fields {
		a.fieldCols[i] = a.index[&r.src]
	}
	return a, nil
}

// headerHint says what a header that lacks the mapping's columns looks
// like: another delimiter than the mapping's, or a header close to each
// missing name (Levenshtein distance at most a third of its length).
func headerHint(missing, header []string, delim rune) string {
	if delim == 0 {
		delim = ','
	}
	if len(header) > 0 && (strings.HasPrefix(header[0], "{") || strings.HasPrefix(header[0], "[")) {
		return fmt.Sprintf("the file starts with %q: it looks like JSON, but the mapping says format: csv", header[0][:1])
	}
	if len(header) == 1 {
		// One column: is it the header of another delimiter?
		for _, d := range []rune{';', '\t', '|', ','} {
			if d == delim {
				continue
			}
			parts := strings.Split(header[0], string(d))
			for _, name := range missing {
				if len(parts) > 1 && columnIndex(parts, name) >= 0 {
					return fmt.Sprintf("the header is one column, %q: the file looks %s-separated, but the mapping says csv.delimiter %s", shorten(header[0], 60), delimName(d), delimName(delim))
				}
			}
		}
	}
	var hints []string
	for _, name := range missing {
		best, bestDist := "", math.MaxInt
		n := normHeader(name)
		for _, h := range header {
			if d := levenshtein.ComputeDistance(n, normHeader(h)); d < bestDist {
				best, bestDist = h, d
			}
		}
		if best != "" && bestDist <= max(1, len([]rune(n))/3) {
			hints = append(hints, fmt.Sprintf("for %q did you mean %q?", name, best))
		}
	}
	return strings.Join(hints, " ")
}

func delimName(d rune) string {
	if d == '\t' {
		return "tab"
	}
	return strconv.QuoteRune(d)
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func containsString(s []string, v string) bool {
	return slices.Contains(s, v)
}

func normHeader(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// columnMatch finds a header exactly, then ignoring case and spacing, and
// says how many headers match that way.
func columnMatch(header []string, name string) (index, matches int) {
	index = -1
	for i, h := range header {
		if h == name {
			if matches == 0 {
				index = i
			}
			matches++
		}
	}
	if matches > 0 {
		return index, matches
	}
	n := normHeader(name)
	for i, h := range header {
		if normHeader(h) == n {
			if matches == 0 {
				index = i
			}
			matches++
		}
	}
	return index, matches
}

// columnIndex finds a header exactly, then ignoring case and spacing.
func columnIndex(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	n := normHeader(name)
	for i, h := range header {
		if normHeader(h) == n {
			return i
		}
	}
	return -1
}

// get returns the raw value of s in row (or in elem, a JSON activity).
func (a *Applier) get(s *source, row *decode.Row, elem any) (string, bool) {
	if s.constant != nil {
		return *s.constant, true
	}
	if s.column != "" {
		i, ok := a.index[s]
		if !ok {
			i = -1
		}
		if i < 0 || i >= len(row.Fields) {
			return "", false
		}
		return row.Fields[i], true
	}
	if elem == nil {
		elem = row.Value
	}
	return jsonString(lookupPath(elem, s.path))
}

func lookupPath(v any, path []string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func jsonString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}

// column is the column() function of expressions: the trimmed value of a
// CSV column in the current row ("" when absent). In a JSON mapping it
// reads a dotted path, as path() does.
func (a *Applier) column(name string) string {
	if a.row == nil {
		return ""
	}
	if !a.m.Tabular() {
		return a.path(name)
	}
	i, ok := a.named[name]
	if !ok {
		i = columnIndex(a.header, name)
		a.named[name] = i
	}
	if i < 0 || i >= len(a.row.Fields) {
		return ""
	}
	return strings.TrimSpace(a.row.Fields[i])
}

// path is the path() function of expressions: the trimmed value at a
// dotted path of the current JSON record, or of the current activity in
// an activity's expression ("" when absent).
func (a *Applier) path(p string) string {
	var v any
	switch {
	case a.elem != nil:
		v = a.elem
	case a.row != nil:
		v = a.row.Value
	default:
		return ""
	}
	s, _ := jsonString(lookupPath(v, strings.Split(p, ".")))
	return strings.TrimSpace(s)
}

// number is the number() function of expressions: a number written as the
// mapping's numbers settings say, nil for a blank.
func (a *Applier) number(s string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	d, err := decimal.Parse(s, a.m.decimalComma)
	if err != nil {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return d.Float(), nil
}

// Keep reports whether row passes every filter of plan scope.
func (a *Applier) Keep(row *decode.Row) (bool, error) {
	a.row, a.elem = row, nil
	return a.pass(a.m.filters, row, nil)
}

func (a *Applier) pass(filters []*filterRule, row *decode.Row, elem any) (bool, error) {
	for _, f := range filters {
		if f.program != nil {
			out, err := a.vm.Run(f.program, a.env)
			if err != nil {
				return false, fmt.Errorf("filter expression: %w", err)
			}
			if keep, _ := out.(bool); !keep {
				return false, nil
			}
			continue
		}
		v, _ := a.get(&f.src, row, elem)
		if !f.test.match(strings.TrimSpace(v)) {
			return false, nil
		}
	}
	return true, nil
}

func (t *valueTest) match(v string) bool {
	eq := func(a, b string) bool {
		if t.ignoreCase {
			return strings.EqualFold(a, strings.TrimSpace(b))
		}
		return a == strings.TrimSpace(b)
	}
	anyEq := func(list []string) bool {
		for _, x := range list {
			if eq(v, x) {
				return true
			}
		}
		return false
	}
	switch {
	case t.equals != nil:
		return eq(v, *t.equals)
	case t.in != nil:
		return anyEq(t.in)
	case t.notIn != nil:
		return !anyEq(t.notIn)
	case t.matches != nil:
		return t.matches.MatchString(v)
	}
	return true
}

// MapRow fills p's fields read from the row (mapped directly, or computed
// from the row), reporting parse problems through emit (Field, Column,
// Value, Rule, Severity and Message set; the caller adds positions).
func (a *Applier) MapRow(row *decode.Row, p *record.JobPlan, emit func(finding.Finding)) {
	a.emit = emit
	a.row, a.elem = row, nil
	csv := a.fieldCols != nil
	for i := range a.whenHits {
		a.whenHits[i] = 0
	}
	for i, r := range a.m.fields {
		var raw string
		cellDate := false // raw is a workbook cell's date, yyyy-mm-dd
		switch {
		case csv && r.src.column != "":
			if c := a.fieldCols[i]; c >= 0 && c < len(row.Fields) {
				raw = row.Fields[c]
				if row.Kinds != nil && r.kind == kindDate && r.lookup == nil && c < len(row.Kinds) {
					var ok bool
					if raw, cellDate, ok = a.workbookDate(r, row, c); !ok {
						a.blank[r.id] = false
						continue
					}
				}
			}
		case r.src.column != "" || r.src.path != nil || r.src.constant != nil:
			raw, _ = a.get(&r.src, row, nil)
		default:
			// Several columns, or a sum: read by its parts.
			v, ok := a.read(r, row, nil, "")
			a.blank[r.id] = ok && v.null
			if ok {
				a.set(r, v, p)
			}
			continue
		}
		if r.when != nil {
			v := strings.TrimSpace(raw)
			if v == "" || !r.when.match(v) {
				raw = ""
			} else {
				a.whenHits[a.whenGroup(i)]++
			}
		}
		if a.m.firstRow {
			a.blank[r.id] = strings.TrimSpace(raw) == ""
		}
		if cellDate && raw != "" {
			p.SetText(r.id, raw)
			continue
		}
		a.apply(r, raw, p)
	}
	if len(a.m.whenGroups) > 0 {
		a.checkWhen(row)
	}
	for _, r := range a.m.rowComputed {
		a.compute(r, p)
		a.blank[r.id] = !p.Has(r.id)
	}
}

// Job-plan dates a plain number in a workbook's date field may stand for,
// as an Excel date serial.
const (
	serialFromYear = 1950
	serialToYear   = 2099
)

// workbookDate reads the cell of date field r in workbook column c. A
// cell formatted as a date is that date, whatever formats the mapping
// gives for dates written as text. A plain number is read by the
// mapping's formats if one fits it exactly (20260401 for yyyymmdd), else
// as an Excel date serial if it is a whole day from 1950 to 2099; any
// other number is refused (M02) rather than taken for a day in 1900. A
// text cell is left to the formats. ok is false after a reported problem.
func (a *Applier) workbookDate(r *fieldRule, row *decode.Row, c int) (raw string, cellDate, ok bool) {
	raw = strings.TrimSpace(row.Fields[c])
	switch row.Kinds[c] {
	case decode.CellDate:
		if len(raw) >= 10 {
			return raw[:10], true, true
		}
	case decode.CellNumber:
		if raw == "" {
			return "", false, true
		}
		for _, f := range r.dates {
			if _, err := f.parse(raw); err == nil {
				return raw, false, true
			}
		}
		text := raw
		if a.m.decimalComma {
			text = strings.Replace(text, ",", ".", 1)
		}
		v, err := strconv.ParseFloat(text, 64)
		if err == nil {
			if t, whole := decode.SerialDate(v, row.Date1904); whole && t.Year() >= serialFromYear && t.Year() <= serialToYear {
				return t.Format("2006-01-02"), true, true
			}
		}
		why := "a whole number"
		if t, whole := decode.SerialDate(v, row.Date1904); whole {
			why = "a day from " + strconv.Itoa(serialFromYear) + " to " + strconv.Itoa(serialToYear) + " (as a date serial it would be " + t.Format("2 January 2006") + ")"
		} else if v == math.Floor(v) {
			why = "a day Excel can show"
		}
		hint := ""
		if len(raw) == 8 && strings.Trim(raw, "0123456789") == "" {
			hint = " If the dates are written as digits, such as 20260401, add the format yyyymmdd (or ddmmyyyy)."
		}
		a.fail(r, "", row.Fields[c], "M02", fmt.Sprintf("%s %s is a number in the workbook, not a date: a number is read as an Excel date serial only when it is %s. Format the column as dates, or write the dates as text in the format %s.%s", r.id.Field().Label, raw, why, r.dates[0].human(), hint))
		return "", false, false
	}
	return row.Fields[c], false, true
}

func (a *Applier) whenGroup(field int) int {
	for g, members := range a.m.whenGroups {
		if slices.Contains(members, field) {
			return g
		}
	}
	return -1
}

// checkWhen requires a non-blank value of a source split with when to be
// taken by exactly one field: a value none takes would be lost without a
// word, and one two take would count twice.
func (a *Applier) checkWhen(row *decode.Row) {
	for g, members := range a.m.whenGroups {
		first := a.m.fields[members[0]]
		raw, _ := a.get(&first.src, row, nil)
		if strings.TrimSpace(raw) == "" || a.whenHits[g] == 1 {
			continue
		}
		var forms []string
		for _, i := range members {
			forms = append(forms, fmt.Sprintf("%s when it %s", a.m.fields[i].id, a.m.fields[i].when.text))
		}
		msg := fmt.Sprintf("Column %s holds %q, which matches none of the forms the mapping reads it in (%s).", first.src.describe(), strings.TrimSpace(raw), strings.Join(forms, "; "))
		if a.whenHits[g] > 1 {
			msg = fmt.Sprintf("Column %s holds %q, which matches more than one of the forms the mapping reads it in (%s), so it is not known which field it fills.", first.src.describe(), strings.TrimSpace(raw), strings.Join(forms, "; "))
		}
		a.fail(first, "", raw, "M16", msg)
	}
}

// Blank reports whether the source of field id was blank in the row last
// given to MapRow.
func (a *Applier) Blank(id record.ID) bool { return a.blank[id] }

// apply parses one value into p, or reports why it cannot.
func (a *Applier) apply(r *fieldRule, raw string, p *record.JobPlan) {
	v, ok := a.value(r, raw, "")
	if ok {
		a.set(r, v, p)
	}
}

func (a *Applier) set(r *fieldRule, v parsed, p *record.JobPlan) {
	switch {
	case v.null:
		p.Clear(r.id)
	case v.isText:
		p.SetText(r.id, v.text)
	default:
		p.SetNum(r.id, v.num)
	}
}

type parsed struct {
	text   string
	num    decimal.Dec
	isText bool
	null   bool
}

func (a *Applier) fail(r *fieldRule, column, value, rule, msg string) {
	a.failFix(r, column, value, rule, msg, finding.Rules[rule].Fix)
}

// failFix is fail with advice of its own, for advice that depends on the
// mapping.
func (a *Applier) failFix(r *fieldRule, column, value, rule, msg, fix string) {
	if column == "" {
		column = r.describe()
	}
	f := finding.Finding{Column: column, Value: value, Rule: rule, Severity: a.m.Validator.Severity(rule), Message: msg, Fix: fix}
	if r.id < record.NumFields {
		f.Field = r.id.String()
	}
	if f.Severity != finding.Off {
		a.emit(f)
	}
}

func (a *Applier) label(r *fieldRule, column string) string {
	if r.id < record.NumFields {
		return r.id.Field().Label
	}
	if column == "" {
		column = r.describe()
	}
	return "Column " + column
}

// read works out the value of r for row (or elem, a JSON activity) from
// its source, its parts or its expression. column names the source in
// findings ("" for r's own).
func (a *Applier) read(r *fieldRule, row *decode.Row, elem any, column string) (parsed, bool) {
	switch {
	case len(r.keys) > 0:
		return a.multiKey(r, row, elem, column)
	case len(r.parts) > 0:
		return a.sum(r, row, elem, column)
	case r.program != nil:
		return a.evaluate(r, row, elem, column)
	}
	raw, _ := a.get(&r.src, row, elem)
	return a.value(r, raw, column)
}

// sum adds up the parts of r; blank parts count as nothing, and the sum is
// blank only when every part is.
func (a *Applier) sum(r *fieldRule, row *decode.Row, elem any, prefix string) (parsed, bool) {
	total := parsed{null: true}
	ok := true
	for _, part := range r.parts {
		column := ""
		if prefix != "" {
			column = prefix + part.describe()
		}
		v, good := a.read(part, row, elem, column)
		if !good {
			ok = false
			continue
		}
		if v.null {
			continue
		}
		n, overflow := addChecked(total.num, v.num)
		if overflow {
			a.fail(r, "", "", "M01", fmt.Sprintf("%s: the parts (%s) add up to more than any plan can hold.", a.label(r, ""), r.describe()))
			return parsed{}, false
		}
		total = parsed{num: n}
	}
	return total, ok
}

func addChecked(x, y decimal.Dec) (decimal.Dec, bool) {
	s := x + y
	return s, (y > 0 && s < x) || (y < 0 && s > x)
}

// multiKey looks up the values of several columns in r's nested table.
func (a *Applier) multiKey(r *fieldRule, row *decode.Row, elem any, column string) (parsed, bool) {
	vals := make([]string, len(r.keys))
	blank := true
	for i, k := range r.keys {
		raw, _ := a.get(k, row, elem)
		vals[i] = strings.TrimSpace(raw)
		blank = blank && vals[i] == ""
	}
	if blank {
		return a.value(r, "", column)
	}
	t := r.lookup
	var to lookupTo
	for i, v := range vals {
		next, found := t.find(v)
		if !found {
			pairs := make([]string, len(vals))
			for j, k := range r.keys {
				pairs[j] = fmt.Sprintf("%s %q", k.describe(), vals[j])
			}
			a.fail(r, column, strings.Join(vals, " + "), "M05", fmt.Sprintf("%s: %s is not a combination the mapping translates (for %s %q it knows %s).", a.label(r, column), strings.Join(pairs, " with "), r.keys[i].describe(), v, quoteList(t.sortedKeys())))
			return parsed{}, false
		}
		to = next
		t = next.next
	}
	v := ""
	if to.to != nil {
		v = *to.to
	}
	plain := *r
	plain.lookup = nil
	return a.value(&plain, v, column)
}

// evaluate runs the expression of an activity part or a sum part.
func (a *Applier) evaluate(r *fieldRule, row *decode.Row, elem any, column string) (parsed, bool) {
	a.row, a.elem = row, elem
	out, err := a.vm.Run(r.program, a.env)
	a.elem = nil
	if column == "" {
		column = r.describe()
	}
	if err != nil {
		a.fail(r, column, "", "M06", fmt.Sprintf("%s could not be worked out (%s): %v.", a.label(r, column), r.exprText, err))
		return parsed{}, false
	}
	return a.result(r, out, column)
}

// result turns an expression's result into r's kind.
func (a *Applier) result(r *fieldRule, out any, column string) (parsed, bool) {
	text := func(s string) (parsed, bool) {
		plain := *r
		plain.program, plain.divisor = nil, decimal.One
		return a.value(&plain, s, column)
	}
	switch x := out.(type) {
	case nil:
		return parsed{null: true}, true
	case float64:
		if !r.kind.numeric() || r.lookup != nil {
			return text(strconv.FormatFloat(x, 'f', -1, 64))
		}
		d, err := decimal.FromFloat(x)
		if err != nil {
			a.fail(r, column, fmt.Sprint(x), "M06", fmt.Sprintf("%s worked out as %v, which is not a usable number.", a.label(r, column), x))
			return parsed{}, false
		}
		return parsed{num: d}, true
	case int:
		if !r.kind.numeric() || r.lookup != nil {
			return text(strconv.Itoa(x))
		}
		d, err := decimal.FromInt(int64(x))
		if err != nil {
			a.fail(r, column, fmt.Sprint(x), "M06", fmt.Sprintf("%s worked out as %v, which is not a usable number.", a.label(r, column), x))
			return parsed{}, false
		}
		return parsed{num: d}, true
	case string:
		return text(x)
	}
	return text(fmt.Sprint(out))
}

// value turns a raw source value into a typed value: trim, look up,
// default, parse, convert units. ok is false after a reported problem.
func (a *Applier) value(r *fieldRule, raw, column string) (parsed, bool) {
	v := strings.TrimSpace(raw)
	if r.lookup != nil {
		to, found := r.lookup.find(v)
		switch {
		case found && to.to == nil:
			v = ""
		case found:
			v = *to.to
		case r.strict && v != "":
			a.fail(r, column, raw, "M05", fmt.Sprintf("%s %q is not one of the values the mapping translates (%s).", a.label(r, column), v, quoteList(r.lookup.sortedKeys())))
			return parsed{}, false
		}
	}
	if v == "" && r.def != nil {
		v = *r.def
	}
	if v == "" {
		if r.required {
			if column == "" {
				column = r.describe()
			}
			a.fail(r, column, raw, "M04", fmt.Sprintf("%s is blank in column %s.", a.label(r, column), column))
			return parsed{}, false
		}
		return parsed{null: true}, true
	}
	switch r.kind {
	case kindText:
		return parsed{text: v, isText: true}, true
	case kindDate:
		// Exports repeat a few dates over many rows: remember the last one.
		if memo := &a.dates[r.id]; memo.raw == v && v != "" {
			return parsed{text: memo.iso, isText: true}, true
		}
		var noSuchDate *errNoSuchDate
		for _, f := range r.dates {
			iso, err := f.parse(v)
			if err == nil {
				a.dates[r.id] = dateMemo{raw: v, iso: iso}
				return parsed{text: iso, isText: true}, true
			}
			if ns, ok := err.(*errNoSuchDate); ok && noSuchDate == nil {
				noSuchDate = ns
			}
		}
		if noSuchDate != nil {
			// The value has the format's shape but names no day: a wrong
			// date rather than a wrong format.
			a.fail(r, column, raw, "V4", fmt.Sprintf("%s %q is not a real date: %s.", a.label(r, column), v, noSuchDate.why))
			return parsed{}, false
		}
		human := make([]string, len(r.dates))
		for i, f := range r.dates {
			human[i] = f.human()
		}
		a.fail(r, column, raw, "M02", fmt.Sprintf("%s %q is not a date in the format %s.", a.label(r, column), v, strings.Join(human, " or ")))
		return parsed{}, false
	case kindDecimal, kindPercent:
		s := v
		if r.kind == kindPercent {
			// "5%" and "5 %" in a percentage field are the number 5.
			s = strings.TrimSpace(strings.TrimSuffix(s, "%"))
		}
		d, err := decimal.Parse(s, a.m.decimalComma)
		if errors.Is(err, decimal.ErrRange) {
			a.tooLarge(r, column, raw, fmt.Sprintf("%q is too large to be read", v))
			return parsed{}, false
		}
		if err != nil {
			msg, fix := fmt.Sprintf("%s %q is not a number.", a.label(r, column), v), finding.Rules["M01"].Fix
			if a.m.decimalComma {
				// The catalogue's advice (7.5) would be refused again here.
				msg = fmt.Sprintf("%s %q is not a number with a decimal comma, as this export's mapping declares (numbers.decimal_comma).", a.label(r, column), v)
				fix = "Enter the value as a plain number with a decimal comma, such as 7,5, without units, text or a decimal point."
			}
			a.failFix(r, column, raw, "M01", msg, fix)
			return parsed{}, false
		}
		if r.divisor != decimal.One {
			if d, err = d.Div(r.divisor); err != nil {
				a.tooLarge(r, column, raw, fmt.Sprintf("%q is too large to convert to PAs a week", v))
				return parsed{}, false
			}
		}
		if (d > record.MaxWeeklyPAs || d < -record.MaxWeeklyPAs) && r.id < record.NumFields && r.id.Field().PA {
			a.tooLarge(r, column, raw, fmt.Sprintf("%q is %s PAs a week", v, d))
			return parsed{}, false
		}
		return parsed{num: d}, true
	case kindInteger, kindBand:
		s := v
		if r.kind == kindBand {
			s = strings.TrimSpace(strings.TrimPrefix(strings.ToLower(s), "band"))
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			a.fail(r, column, raw, "M11", fmt.Sprintf("%s %q is not a whole number.", a.label(r, column), v))
			return parsed{}, false
		}
		return parsed{num: decimal.Int(n)}, true // 32 bits always fit
	case kindFrequency:
		n, null, err := parseFrequency(v, a.m.decimalComma)
		if err != nil {
			a.fail(r, column, raw, "M03", fmt.Sprintf("%s %q is not a rota frequency such as 1 in 6.", a.label(r, column), v))
			return parsed{}, false
		}
		return parsed{num: n, null: null}, true
	}
	return parsed{}, false
}

var errFrequency = errors.New("not a rota frequency")

// parseFrequency reads "1 in 6", "1:6", "1-in-6", "one in 6" or "6" as N;
// "none", "n/a" and "0" mean not on call.
func parseFrequency(s string, decimalComma bool) (n decimal.Dec, null bool, err error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "", "none", "n/a", "na", "no", "not on call", "-", "0":
		return 0, true, nil
	}
	for _, sep := range []string{" in ", "-in-", ":", "in"} {
		if i := strings.Index(t, sep); i >= 0 {
			left := strings.TrimSpace(t[:i])
			if left != "1" && left != "one" {
				return 0, false, errFrequency
			}
			t = strings.TrimSpace(t[i+len(sep):])
			break
		}
	}
	n, err = decimal.Parse(t, decimalComma)
	if err != nil || n < decimal.One {
		return 0, false, errFrequency
	}
	return n, false, nil
}

// AddActivities adds the activities of row to p: each CSV row of a long
// layout, or each element of the activities array of a JSON record.
// Activities left out by a filter of scope activity add nothing.
func (a *Applier) AddActivities(row *decode.Row, p *record.JobPlan, emit func(finding.Finding)) {
	ar := a.m.activities
	if ar == nil {
		return
	}
	a.emit = emit
	a.row = row
	if ar.path == nil {
		a.addActivity(row, nil, p, "")
		return
	}
	list, _ := lookupPath(row.Value, ar.path).([]any)
	prefix := strings.Join(ar.path, ".")
	for i, elem := range list {
		a.addActivity(row, elem, p, fmt.Sprintf("%s[%d].", prefix, i))
	}
}

func (a *Applier) addActivity(row *decode.Row, elem any, p *record.JobPlan, prefix string) {
	ar := a.m.activities
	if len(a.m.actFilters) > 0 {
		a.elem = elem
		keep, err := a.pass(a.m.actFilters, row, elem)
		a.elem = nil
		if err != nil {
			a.fail(ar.category, prefix+ar.category.describe(), "", "M06", err.Error()+".")
			return
		}
		if !keep {
			return
		}
	}
	cat, ok := a.read(ar.category, row, elem, prefix+ar.category.describe())
	if !ok || cat.null {
		if ok {
			catRaw, _ := a.get(&ar.category.src, row, elem)
			a.fail(ar.category, prefix+ar.category.describe(), catRaw, "M04", "An activity has no category.")
		}
		return
	}
	targets, known := ar.targets[cat.text]
	if !known {
		targets, known = ar.targetsCI[strings.ToLower(cat.text)]
	}
	if !known {
		a.fail(ar.category, prefix+ar.category.describe(), cat.text, "M07", fmt.Sprintf("Activity category %q is not in the mapping's categories.", cat.text))
		return
	}
	amountRule := ar.amount
	if ar.premium != nil && amountRule.premium > 0 {
		raw, _ := a.get(&ar.premium.src, row, elem)
		v := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case ar.premium.trueSet[v]:
			premium := *amountRule
			premium.divisor = amountRule.premium
			amountRule = &premium
		case v == "" || ar.premium.falseSet[v] || len(ar.premium.falseSet) == 0:
		default:
			a.fail(ar.amount, prefix+ar.premium.src.describe(), raw, "M12", fmt.Sprintf("Premium-time flag %q is neither yes nor no.", raw))
			return
		}
	}
	var amt parsed
	if amountRule != ar.amount {
		// The premium copy is not in a.index: read the cell through the
		// original rule's source.
		raw, _ := a.get(&ar.amount.src, row, elem)
		amt, ok = a.value(amountRule, raw, prefix+amountRule.describe())
	} else {
		amt, ok = a.read(amountRule, row, elem, prefix+amountRule.describe())
	}
	if !ok || amt.null {
		return
	}
	value := amt.num
	// The amount's cell as written, for findings (empty for an amount
	// worked out from several columns).
	amtRaw, _ := a.get(&ar.amount.src, row, elem)
	if ar.occurrences != nil {
		occ, ok := a.read(ar.occurrences, row, elem, prefix+ar.occurrences.describe())
		if !ok {
			return
		}
		if !occ.null {
			occRaw, _ := a.get(&ar.occurrences.src, row, elem)
			// Annualised: amount per occurrence × occurrences a year ÷ working weeks.
			yearly, err := value.Mul(occ.num)
			if err == nil {
				value, err = yearly.Div(ar.workingWeeks)
			}
			if err != nil {
				a.tooLarge(ar.amount, prefix+ar.amount.src.describe(), amtRaw, fmt.Sprintf("%q × %q occurrences a year is too large to work out", amtRaw, occRaw))
				return
			}
		}
	}
	if value > record.MaxWeeklyPAs || value < -record.MaxWeeklyPAs {
		a.tooLarge(ar.amount, prefix+ar.amount.src.describe(), amtRaw, fmt.Sprintf("of activity %q comes to %s PAs a week", cat.text, value))
		return
	}
	for _, id := range targets {
		// Each value is within a week, but many activities could still add
		// up beyond one: checked, and refused (M13) by the rules if so.
		sum, err := p.Num(id).Add(value)
		if err != nil {
			a.tooLarge(ar.amount, prefix+ar.amount.src.describe(), amtRaw, fmt.Sprintf("of activity %q takes %s beyond any number", cat.text, id.Field().Label))
			return
		}
		p.SetNum(id, sum)
	}
}

// tooLarge reports a PA value no week can hold (M13): a typo, or hours
// where PAs were expected. It is refused, never sent as a small number.
func (a *Applier) tooLarge(r *fieldRule, column, raw, what string) {
	msg := fmt.Sprintf("%s %s: more PAs than a week has hours (%s).", a.label(r, column), what, record.MaxWeeklyPAs)
	if r.id < record.NumFields && !r.id.Field().PA { // an activity's amount is PAs
		msg = fmt.Sprintf("%s %s.", a.label(r, column), what)
	}
	a.fail(r, column, raw, "M13", msg)
}

// Compute evaluates the fields computed over a finished plan.
func (a *Applier) Compute(p *record.JobPlan, emit func(finding.Finding)) {
	if len(a.m.computed) == 0 {
		return
	}
	a.emit = emit
	for _, r := range a.m.computed {
		a.compute(r, p)
	}
}

// compute evaluates one computed field of p; a row expression reads the
// row last given to MapRow.
func (a *Applier) compute(r *fieldRule, p *record.JobPlan) {
	for _, name := range r.uses {
		id, _ := record.Lookup(name)
		f := id.Field()
		switch {
		case !p.Has(id) && f.Nullable:
			a.env[name] = nil
		case f.Kind == record.Decimal || f.Kind == record.Band:
			a.env[name] = p.Num(id).Float()
		default:
			a.env[name] = p.Text(id)
		}
	}
	out, err := a.vm.Run(r.program, a.env)
	if err != nil {
		a.fail(r, "", "", "M06", fmt.Sprintf("%s could not be calculated (%s): %v.", r.id.Field().Label, r.exprText, err))
		return
	}
	if v, ok := a.result(r, out, ""); ok {
		a.set(r, v, p)
	}
}

// GroupKey returns the values of the group.by fields of p (and columns of
// the row last given to MapRow); rows with the same key form one plan. The
// result is valid until the next call.
func (a *Applier) GroupKey(p *record.JobPlan) []byte {
	a.key = a.key[:0]
	a.keyBlank = true
	for _, g := range a.m.groupBy {
		switch {
		case g.src != nil:
			raw, _ := a.get(g.src, a.row, nil)
			raw = strings.TrimSpace(raw)
			a.keyBlank = a.keyBlank && raw == ""
			a.key = append(a.key, raw...)
		case g.id.Field().Kind == record.Decimal || g.id.Field().Kind == record.Band:
			a.keyBlank = a.keyBlank && !p.Has(g.id)
			a.key = p.Num(g.id).Append(a.key)
		default:
			a.keyBlank = a.keyBlank && !p.Has(g.id)
			a.key = append(a.key, p.Text(g.id)...)
		}
		a.key = append(a.key, 0)
	}
	return a.key
}

// ContinuesPlan reports whether the row last keyed continues the plan
// above it whatever its key says: with plan_values: first_row, a row whose
// group.by values are all blank belongs to the plan above.
func (a *Applier) ContinuesPlan() bool { return a.m.firstRow && a.keyBlank }
