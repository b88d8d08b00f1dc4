package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// MissingColumnsError means the export lacks columns the mapping needs: the
// file is not in the declared layout.
type MissingColumnsError struct {
	Columns []string
	Header  []string
}

func (e *MissingColumnsError) Error() string {
	return fmt.Sprintf("the file has no column %s (columns found: %s)", quoteList(e.Columns), quoteList(e.Header))
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
	row       *decode.Row // current row, for filter expressions
	emit      func(finding.Finding)
	key       []byte

	dates [record.NumFields + 1]dateMemo

	header []string       // CSV header, for column() in filter expressions
	named  map[string]int // column() positions resolved so far
}

type dateMemo struct{ raw, iso string }

// Bind prepares the mapping for an input with the given CSV header (nil for
// JSON). Columns the mapping names must exist unless they have a default.
func (m *Mapping) Bind(header []string) (*Applier, error) {
	a := &Applier{m: m, index: map[*source]int{}, env: exprEnvTemplate(), header: header, named: map[string]int{}}
	a.env["column"] = a.column
	if m.Format != "csv" {
		return a, nil
	}
	var missing []string
	resolve := func(s *source, optional bool) {
		if s.column == "" {
			return
		}
		i := columnIndex(header, s.column)
		if i < 0 && !optional && !containsString(missing, s.column) {
			missing = append(missing, s.column)
		}
		a.index[s] = i
	}
	for _, r := range m.fields {
		resolve(&r.src, r.def != nil)
	}
	for _, f := range m.filters {
		resolve(&f.src, false)
	}
	if ar := m.activities; ar != nil {
		for _, r := range []*fieldRule{ar.category, ar.amount, ar.occurrences} {
			if r != nil {
				resolve(&r.src, r.def != nil)
			}
		}
		if ar.premium != nil {
			resolve(&ar.premium.src, false)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingColumnsError{Columns: missing, Header: header}
	}
	a.fieldCols = make([]int, len(m.fields))
	for i, r := range m.fields {
		a.fieldCols[i] = a.index[&r.src]
	}
	return a, nil
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// columnIndex finds a header exactly, then ignoring case and spacing.
func columnIndex(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	norm := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
	n := norm(name)
	for i, h := range header {
		if norm(h) == n {
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

// column is the column() function of filter expressions: the trimmed value
// of a CSV column or JSON path in the current row, "" when absent.
func (a *Applier) column(name string) string {
	if a.row == nil {
		return ""
	}
	if a.m.Format != "csv" {
		v, _ := jsonString(lookupPath(a.row.Value, strings.Split(name, ".")))
		return strings.TrimSpace(v)
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

// Keep reports whether row passes every filter.
func (a *Applier) Keep(row *decode.Row) (bool, error) {
	a.row = row
	for _, f := range a.m.filters {
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
		v, _ := a.get(&f.src, row, nil)
		if !f.match(strings.TrimSpace(v)) {
			return false, nil
		}
	}
	return true, nil
}

func (f *filterRule) match(v string) bool {
	eq := func(a, b string) bool {
		if f.ignoreCase {
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
	case f.equals != nil:
		return eq(v, *f.equals)
	case f.in != nil:
		return anyEq(f.in)
	case f.notIn != nil:
		return !anyEq(f.notIn)
	case f.matches != nil:
		return f.matches.MatchString(v)
	}
	return true
}

// MapRow fills p's directly mapped fields from row, reporting parse
// problems through emit (Field, Column, Value, Rule, Severity and Message
// set; the caller adds positions).
func (a *Applier) MapRow(row *decode.Row, p *record.JobPlan, emit func(finding.Finding)) {
	a.emit = emit
	csv := a.fieldCols != nil
	for i, r := range a.m.fields {
		var raw string
		switch {
		case csv && r.src.column != "":
			if c := a.fieldCols[i]; c >= 0 && c < len(row.Fields) {
				raw = row.Fields[c]
			}
		default:
			raw, _ = a.get(&r.src, row, nil)
		}
		a.apply(r, raw, p)
	}
}

// apply parses one value into p, or reports why it cannot.
func (a *Applier) apply(r *fieldRule, raw string, p *record.JobPlan) {
	v, ok := a.value(r, raw, "")
	if !ok {
		return
	}
	if v.null {
		p.Clear(r.id)
		return
	}
	if v.isText {
		p.SetText(r.id, v.text)
	} else {
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
		column = r.src.describe()
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
		column = r.src.describe()
	}
	return "Column " + column
}

// value turns a raw source value into a typed value: trim, look up,
// default, parse, convert units. ok is false after a reported problem.
func (a *Applier) value(r *fieldRule, raw, column string) (parsed, bool) {
	v := strings.TrimSpace(raw)
	if r.lookup != nil {
		to, found := r.lookup[v]
		if !found {
			to, found = r.lookupCI[strings.ToLower(v)]
		}
		switch {
		case found && to == nil:
			v = ""
		case found:
			v = *to
		case r.strict && v != "":
			a.fail(r, column, raw, "M05", fmt.Sprintf("%s %q is not one of the values the mapping translates (%s).", a.label(r, column), v, quoteList(lookupKeys(r.lookup))))
			return parsed{}, false
		}
	}
	if v == "" && r.def != nil {
		v = *r.def
	}
	if v == "" {
		if r.required {
			if column == "" {
				column = r.src.describe()
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
		for _, layout := range r.formats {
			if t, err := time.Parse(layout, v); err == nil {
				iso := t.Format(time.DateOnly)
				a.dates[r.id] = dateMemo{raw: v, iso: iso}
				return parsed{text: iso, isText: true}, true
			}
		}
		a.fail(r, column, raw, "M02", fmt.Sprintf("%s %q is not a date in the format %s.", a.label(r, column), v, strings.Join(humanLayouts(r.formats), " or ")))
		return parsed{}, false
	case kindDecimal:
		d, err := decimal.Parse(v, a.m.decimalComma)
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
			d = d.Div(r.divisor)
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
		return parsed{num: decimal.FromInt(n)}, true
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

func lookupKeys(m map[string]*string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// humanLayouts shows Go layouts as dd/mm/yyyy for a trust's analyst.
func humanLayouts(layouts []string) []string {
	r := strings.NewReplacer("2006", "yyyy", "01", "mm", "02", "dd", "Jan", "Mon", "06", "yy")
	out := make([]string, len(layouts))
	for i, l := range layouts {
		out[i] = r.Replace(l)
	}
	return out
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
func (a *Applier) AddActivities(row *decode.Row, p *record.JobPlan, emit func(finding.Finding)) {
	ar := a.m.activities
	if ar == nil {
		return
	}
	a.emit = emit
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
	catRaw, _ := a.get(&ar.category.src, row, elem)
	cat, ok := a.value(ar.category, catRaw, prefix+ar.category.src.describe())
	if !ok || cat.null {
		if ok {
			a.fail(ar.category, prefix+ar.category.src.describe(), catRaw, "M04", "An activity has no category.")
		}
		return
	}
	targets, known := ar.targets[cat.text]
	if !known {
		targets, known = ar.targetsCI[strings.ToLower(cat.text)]
	}
	if !known {
		a.fail(ar.category, prefix+ar.category.src.describe(), catRaw, "M07", fmt.Sprintf("Activity category %q is not in the mapping's categories.", cat.text))
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
	amtRaw, _ := a.get(&ar.amount.src, row, elem) // the premium copy is not in a.index
	amt, ok := a.value(amountRule, amtRaw, prefix+amountRule.src.describe())
	if !ok || amt.null {
		return
	}
	value := amt.num
	if ar.occurrences != nil {
		occRaw, _ := a.get(&ar.occurrences.src, row, elem)
		occ, ok := a.value(ar.occurrences, occRaw, prefix+ar.occurrences.src.describe())
		if !ok {
			return
		}
		if !occ.null {
			// Annualised: amount per occurrence × occurrences a year ÷ working weeks.
			value = value.Mul(occ.num).Div(ar.workingWeeks)
		}
	}
	for _, id := range targets {
		p.Add(id, value)
	}
}

// Compute evaluates the computed fields of a finished plan.
func (a *Applier) Compute(p *record.JobPlan, emit func(finding.Finding)) {
	if len(a.m.computed) == 0 {
		return
	}
	a.emit = emit
	for _, r := range a.m.computed {
		for _, name := range r.uses {
			id, ok := record.Lookup(name)
			if !ok {
				continue
			}
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
			continue
		}
		a.setComputed(r, out, p)
	}
}

func (a *Applier) setComputed(r *fieldRule, out any, p *record.JobPlan) {
	f := r.id.Field()
	var s string
	switch x := out.(type) {
	case nil:
		p.Clear(r.id)
		return
	case float64:
		if f.Kind == record.Text || f.Kind == record.Date {
			s = strconv.FormatFloat(x, 'f', -1, 64)
			break
		}
		d, err := decimal.FromFloat(x)
		if err != nil {
			a.fail(r, "", fmt.Sprint(x), "M06", fmt.Sprintf("%s calculated as %v, which is not a usable number.", f.Label, x))
			return
		}
		p.SetNum(r.id, d)
		return
	case int:
		if f.Kind == record.Decimal || f.Kind == record.Band {
			p.SetNum(r.id, decimal.FromInt(int64(x)))
			return
		}
		s = strconv.Itoa(x)
	case string:
		s = x
	default:
		s = fmt.Sprint(x)
	}
	a.apply(r.asParser(), s, p)
}

// asParser returns a copy of a computed rule that parses its text result.
func (r *fieldRule) asParser() *fieldRule {
	c := *r
	c.program = nil
	c.divisor = decimal.One
	return &c
}

// GroupKey returns the values of the group.by fields of p; rows with the
// same key form one plan. The result is valid until the next call.
func (a *Applier) GroupKey(p *record.JobPlan) []byte {
	a.key = a.key[:0]
	for _, id := range a.m.groupBy {
		if k := id.Field().Kind; k == record.Decimal || k == record.Band {
			a.key = p.Num(id).Append(a.key)
		} else {
			a.key = append(a.key, p.Text(id)...)
		}
		a.key = append(a.key, 0)
	}
	return a.key
}
