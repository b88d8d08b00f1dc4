package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// Mapping is a compiled mapping file, shared read-only by every converter
// that uses it. Bind it to an input's header to get an Applier.
type Mapping struct {
	Name        string
	Description string
	// SHA256 is the hash of the mapping file's bytes, quoted in reports.
	SHA256 string
	Format string
	CSV    decode.CSVOptions
	JSON   decode.JSONOptions
	XLSX   decode.XLSXOptions
	// KeepAllPlans keeps every distinct plan of an assignment rather than
	// only the latest effective one.
	KeepAllPlans bool
	// SameDateLastWins sends the later row of two different plans for one
	// assignment and date; otherwise neither is sent (D3).
	SameDateLastWins bool
	Validator        *validate.Validator

	decimalComma bool
	fields       []*fieldRule // direct fields, in file order
	rowComputed  []*fieldRule // expr fields that read the row, in file order
	computed     []*fieldRule // expr fields over the plan's fields, in file order
	whenGroups   [][]int      // indexes in fields of the fields sharing a source by when
	filters      []*filterRule
	actFilters   []*filterRule // scope: activity
	groupBy      []groupKey
	firstRow     bool // group.plan_values: first_row
	activities   *activityRules
	units        exprUnits
}

// Tabular reports whether the export has rows of named columns (CSV or a
// workbook) rather than JSON records.
func (m *Mapping) Tabular() bool { return tabular(m.Format) }

func tabular(format string) bool { return format == "csv" || format == "xlsx" }

// Grouped reports whether several rows make one plan (long CSV layouts).
func (m *Mapping) Grouped() bool { return len(m.groupBy) > 0 }

// PlanValuesOnFirstRow reports whether later rows of a grouped plan may
// leave its plan-level values blank (group.plan_values: first_row).
func (m *Mapping) PlanValuesOnFirstRow() bool { return m.firstRow }

// PlanFields lists the fields read from each row of a plan (mapped
// directly, or computed from the row): in a grouped layout every row of a
// plan must agree on them.
func (m *Mapping) PlanFields() []record.ID {
	ids := make([]record.ID, 0, len(m.fields)+len(m.rowComputed))
	for _, r := range m.fields {
		ids = append(ids, r.id)
	}
	for _, r := range m.rowComputed {
		ids = append(ids, r.id)
	}
	return ids
}

type parseKind uint8

const (
	kindText parseKind = iota
	kindDecimal
	kindPercent // a decimal that may end in %
	kindInteger
	kindDate
	kindFrequency
	kindBand
)

var kindNames = map[string]parseKind{"text": kindText, "decimal": kindDecimal, "percent": kindPercent, "integer": kindInteger, "date": kindDate, "frequency": kindFrequency, "band": kindBand}

func (k parseKind) numeric() bool { return k != kindText && k != kindDate }

// source says where a value comes from in a row.
type source struct {
	column   string   // CSV header name
	path     []string // JSON path segments
	constant *string
}

func (s source) describe() string {
	if s.column != "" {
		return s.column
	}
	return strings.Join(s.path, ".")
}

// fieldRule is the compiled form of one FieldSpec.
type fieldRule struct {
	id       record.ID
	src      source
	keys     []*source    // columns or paths of a lookup keyed on several values
	parts    []*fieldRule // sum parts
	kind     parseKind
	dates    []*dateFormat
	lookup   *lookupTable
	strict   bool // unmatched: error
	def      *string
	required bool
	divisor  decimal.Dec // unit and per conversions, 1 when none
	premium  decimal.Dec // divisor for premium-time hours (activities)
	when     *valueTest
	program  *vm.Program
	rowExpr  bool     // the expression reads the row: worked out per row
	uses     []string // record fields the expression uses
	reads    []string // columns or paths the expression reads by name
	exprText string
	desc     string // describe(), set by finish
}

// describe names where the rule reads from, for findings and SourceOf;
// worked out once at compile time (finish), as findings are made per row.
func (r *fieldRule) describe() string {
	if r.desc != "" {
		return r.desc
	}
	return r.describeNow()
}

func (r *fieldRule) describeNow() string {
	switch {
	case len(r.keys) > 0:
		names := make([]string, len(r.keys))
		for i, k := range r.keys {
			names[i] = k.describe()
		}
		return strings.Join(names, " + ")
	case len(r.parts) > 0:
		names := make([]string, 0, len(r.parts))
		for _, p := range r.parts {
			names = append(names, p.describe())
		}
		return strings.Join(names, " + ")
	case r.program != nil && len(r.reads) > 0:
		return strings.Join(r.reads, ", ")
	case r.program != nil:
		return "(computed: " + r.exprText + ")"
	case r.src.constant != nil:
		return "(fixed value)"
	}
	return r.src.describe()
}

// lookupTable is one level of a lookup; next levels for several keys.
type lookupTable struct {
	exact map[string]lookupTo
	ci    map[string]lookupTo // keys lowered and trimmed
	keys  []string            // in file order, for messages
}

type lookupTo struct {
	to   *string
	next *lookupTable
}

func (t *lookupTable) find(v string) (lookupTo, bool) {
	to, ok := t.exact[v]
	if !ok {
		to, ok = t.ci[strings.ToLower(v)]
	}
	return to, ok
}

// valueTest is a compiled TestSpec.
type valueTest struct {
	equals     *string
	in, notIn  []string
	matches    *regexp.Regexp
	ignoreCase bool
	text       string // the test as written, for messages
}

type filterRule struct {
	src     source
	test    *valueTest
	program *vm.Program
	reads   []string
}

type activityRules struct {
	path        []string
	category    *fieldRule
	amount      *fieldRule
	occurrences *fieldRule
	premium     *boolRule
	targets     map[string][]record.ID
	targetsCI   map[string][]record.ID
	// workingWeeks turns annual occurrences into a weekly average.
	workingWeeks decimal.Dec
	built        [record.NumFields]bool // fields some category adds to
	source       string                 // SourceOf a field they build
}

type boolRule struct {
	src               source
	trueSet, falseSet map[string]bool
}

// groupKey is one entry of group.by: a record field or a source column.
type groupKey struct {
	id  record.ID
	src *source // nil for a record field
}

var defaultHoursPerPA = decimal.Int(4)
var defaultPremiumHoursPerPA = decimal.Int(3)

// compile checks the spec's meaning (the schema has checked its shape) and
// builds the Mapping; problems are added to doc.
func compile(doc *document, spec *Spec) *Mapping {
	m := &Mapping{Name: spec.Name, Description: spec.Description, Format: spec.Format, KeepAllPlans: spec.Duplicates.Keep == "all", SameDateLastWins: spec.Duplicates.SameDate == "last_wins", decimalComma: spec.Numbers.DecimalComma}
	isJSON := !tabular(spec.Format)
	c := &compiler{doc: doc, spec: spec, m: m, isJSON: isJSON}
	c.dialect()
	c.units()
	c.rules()
	c.categoryTargets()
	for _, key := range doc.keysInOrder("fields") {
		fs := spec.Fields[key]
		id, ok := record.Lookup(key)
		if !ok {
			continue // reported by the schema check
		}
		r := c.field(&fs, id, kindText, scopeField, "fields", key)
		if r == nil {
			continue
		}
		switch {
		case r.program != nil && r.rowExpr:
			m.rowComputed = append(m.rowComputed, r)
		case r.program != nil:
			m.computed = append(m.computed, r)
		default:
			m.fields = append(m.fields, r)
		}
		if c.built[id] {
			c.doc.add(c.doc.node("fields", key), "fields.%s: is mapped here and also added up from activities (activities.categories), so it would count twice; map it in one place only", key)
		}
	}
	c.checkComputedOrder()
	c.whenGroups()
	for i := range spec.Filters {
		c.filter(&spec.Filters[i], i)
	}
	c.group()
	c.activities()
	c.unusedUnits()
	m.finish()
	return m
}

// finish works out, once, the descriptions findings quote on every row.
func (m *Mapping) finish() {
	var walk func(r *fieldRule)
	walk = func(r *fieldRule) {
		if r == nil {
			return
		}
		for _, p := range r.parts {
			walk(p)
		}
		r.desc = r.describeNow()
	}
	for _, list := range [][]*fieldRule{m.fields, m.rowComputed, m.computed} {
		for _, r := range list {
			walk(r)
		}
	}
	if ar := m.activities; ar != nil {
		for _, r := range []*fieldRule{ar.category, ar.amount, ar.occurrences} {
			walk(r)
		}
		ar.source = ar.describe()
	}
}

type compiler struct {
	doc    *document
	spec   *Spec
	m      *Mapping
	isJSON bool

	hoursPerPA, premiumHoursPerPA, workingWeeks decimal.Dec
	built                                       [record.NumFields]bool // targets of activity categories
	// unitsUsed marks the units settings something reads.
	usedHours, usedPremium, usedWeeks bool
}

func (c *compiler) dialect() {
	s := c.spec
	switch s.Format {
	case "csv":
		opts, err := s.CSV.Options()
		var de *decode.DialectError
		if errors.As(err, &de) {
			c.doc.add(c.doc.node("csv", de.Key), "csv.%v", de)
		}
		opts.NoHeader = s.CSV.NoHeader
		if s.CSV.Comment != "" {
			opts.Comment = []rune(s.CSV.Comment)[0]
		}
		c.m.CSV = opts
		if s.CSV.NoHeader && s.CSV.HeaderRow != 0 {
			c.doc.add(c.doc.node("csv", "header_row"), "csv.header_row: the file has no header (no_header: true); drop one of them")
		}
		if c.doc.value("json") != nil {
			c.doc.add(c.doc.node("json"), "json: settings given, but format is csv")
		}
		if c.doc.value("xlsx") != nil {
			c.doc.add(c.doc.node("xlsx"), "xlsx: settings given, but format is csv")
		}
	case "xlsx":
		x := s.XLSX
		c.m.XLSX = decode.XLSXOptions{Sheet: x.Sheet, SheetNumber: x.SheetNumber, SkipRows: x.SkipRows, HeaderRow: x.HeaderRow, NoHeader: x.NoHeader, DecimalComma: s.Numbers.DecimalComma}
		if x.Sheet != "" && x.SheetNumber != 0 {
			c.doc.add(c.doc.node("xlsx", "sheet_number"), "xlsx.sheet_number: the sheet is named (xlsx.sheet); drop one of them")
		}
		if x.NoHeader && x.HeaderRow != 0 {
			c.doc.add(c.doc.node("xlsx", "header_row"), "xlsx.header_row: the sheet has no header (no_header: true); drop one of them")
		}
		for _, other := range []string{"csv", "json"} {
			if c.doc.value(other) != nil {
				c.doc.add(c.doc.node(other), "%s: settings given, but format is xlsx (its settings go under xlsx)", other)
			}
		}
	default:
		c.m.JSON = decode.JSONOptions{RecordsPath: s.JSON.Records, Encoding: s.JSON.Encoding}
		if s.Format == "jsonl" && s.JSON.Records != "" {
			c.doc.add(c.doc.node("json", "records"), "json.records: a records path is for format json; each line of a jsonl file is one record")
		}
		for _, other := range []string{"csv", "xlsx"} {
			if c.doc.value(other) != nil {
				c.doc.add(c.doc.node(other), "%s: settings given, but format is %s", other, s.Format)
			}
		}
	}
}

func (c *compiler) decimalSetting(text string, def decimal.Dec, path ...string) decimal.Dec {
	if text == "" {
		return def
	}
	v, err := decimal.Parse(text, false)
	if err != nil || v <= 0 {
		c.doc.add(c.doc.node(path...), "%s: %q must be a positive number", strings.Join(path, "."), text)
		return def
	}
	return v
}

func (c *compiler) units() {
	u := c.spec.Units
	c.hoursPerPA = c.decimalSetting(u.HoursPerPA, defaultHoursPerPA, "units", "hours_per_pa")
	c.premiumHoursPerPA = c.decimalSetting(u.PremiumHoursPerPA, defaultPremiumHoursPerPA, "units", "premium_hours_per_pa")
	c.workingWeeks = c.decimalSetting(u.WorkingWeeks, 0, "units", "working_weeks")
	c.m.units = exprUnits{hoursPerPA: c.hoursPerPA.Float(), premiumHoursPerPA: c.premiumHoursPerPA.Float(), workingWeeks: c.workingWeeks.Float()}
}

// unusedUnits refuses a units setting that nothing reads: a setting that
// is accepted and then ignored would mislead whoever reads the mapping.
func (c *compiler) unusedUnits() {
	u := c.spec.Units
	for _, s := range []struct {
		set, used bool
		key, why  string
	}{
		{u.HoursPerPA != "", c.usedHours, "hours_per_pa", "no field or activity is in hours (unit: hours)"},
		{u.PremiumHoursPerPA != "", c.usedPremium, "premium_hours_per_pa", "no field or activity is in premium hours (unit: premium_hours, or hours with a premium flag)"},
		{u.WorkingWeeks != "", c.usedWeeks, "working_weeks", "no field is per: year and no activity has annual occurrences"},
	} {
		if s.set && !s.used {
			c.doc.add(c.doc.node("units", s.key), "units.%s: %s, so this setting would be ignored; remove it", s.key, s.why)
		}
	}
}

func (c *compiler) rules() {
	cfg := validate.Defaults()
	if n := c.doc.value("rules"); n != nil {
		c.unknownKeys(n, reflect.TypeOf(cfg), "rules")
		if err := n.Decode(&cfg); err != nil {
			c.doc.add(c.doc.node("rules"), "rules: %v", err)
		}
		for _, p := range cfg.Check() {
			c.doc.add(c.doc.node("rules"), "%s", p)
		}
	}
	v, err := validate.New(cfg)
	if err != nil {
		return // already reported by cfg.Check
	}
	c.m.Validator = v
}

// unknownKeys reports keys of n that the Go type t does not decode (YAML
// decoding skips them silently): under rules, a misspelt setting would
// otherwise be accepted and ignored.
func (c *compiler) unknownKeys(n *yaml.Node, t reflect.Type, where string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	switch t.Kind() {
	case reflect.Map:
		for k := 0; k+1 < len(n.Content); k += 2 {
			c.unknownKeys(n.Content[k+1], t.Elem(), where+"."+n.Content[k].Value)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = t.Field(i).Type
		names = append(names, name)
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key := n.Content[k]
		ft, ok := fields[key.Value]
		if !ok {
			c.doc.add(key, "%s: unknown setting %q (allowed: %s)", where, key.Value, strings.Join(names, ", "))
			continue
		}
		c.unknownKeys(n.Content[k+1], ft, where+"."+key.Value)
	}
}

// categoryTargets notes the fields the activities add to, before the
// fields are compiled, so that a field mapped twice is caught.
func (c *compiler) categoryTargets() {
	if a := c.spec.Activities; a != nil {
		for _, targets := range a.Categories {
			for _, t := range targets {
				if id, ok := record.Lookup(t); ok && id.Field().PA {
					c.built[id] = true
				}
			}
		}
	}
}

// field compiles one FieldSpec for record field id (or for an activity part
// when id is record.NumFields); path locates it in the file.
func (c *compiler) field(fs *FieldSpec, id record.ID, partKind parseKind, scope exprScope, path ...string) *fieldRule {
	at := func(sub ...string) *yaml.Node { return c.doc.node(append(slices.Clone(path), sub...)...) }
	where := strings.Join(path, ".")
	r := &fieldRule{id: id, divisor: decimal.One, strict: fs.Unmatched == "error", required: fs.Required, def: fs.Default}
	sources := 0
	for _, s := range []bool{fs.Column != "", fs.Path != "", len(fs.Columns) > 0, len(fs.Paths) > 0, fs.Value != nil, fs.Expr != "", len(fs.Sum) > 0} {
		if s {
			sources++
		}
	}
	if sources != 1 {
		c.doc.add(at(), "%s: give exactly one of column, columns, path, paths, value, expr or sum", where)
		return nil
	}
	switch {
	case (fs.Column != "" || len(fs.Columns) > 0) && c.isJSON:
		c.doc.add(at(firstSet(fs.Column != "", "column", "columns")), "%s: use path (not column) to address a value in a JSON record", where)
	case (fs.Path != "" || len(fs.Paths) > 0) && !c.isJSON:
		c.doc.add(at(firstSet(fs.Path != "", "path", "paths")), "%s: use column (not path) for a CSV export", where)
	}
	r.src = source{column: fs.Column, constant: fs.Value}
	if fs.Path != "" {
		r.src.path = strings.Split(fs.Path, ".")
	}
	for _, col := range fs.Columns {
		r.keys = append(r.keys, &source{column: col})
	}
	for _, p := range fs.Paths {
		r.keys = append(r.keys, &source{path: strings.Split(p, ".")})
	}
	// The parser follows the target field unless the mapping says otherwise.
	r.kind = partKind
	if id < record.NumFields {
		switch id.Field().Kind {
		case record.Date:
			r.kind = kindDate
		case record.Decimal:
			r.kind = kindDecimal
			switch id {
			case record.OnCallFrequencyN:
				r.kind = kindFrequency
			case record.OnCallSupplementPct:
				r.kind = kindPercent
			}
		case record.Band:
			r.kind = kindBand
		}
	}
	if k, ok := kindNames[fs.Type]; ok {
		r.kind = k
	}
	if id < record.NumFields {
		targetNumeric := id.Field().Kind == record.Decimal || id.Field().Kind == record.Band
		if targetNumeric != r.kind.numeric() {
			c.doc.add(at("type"), "%s: type %s does not suit the field, which holds a %s", where, fs.Type, map[bool]string{true: "number", false: "text or date"}[targetNumeric])
		}
	}
	c.dates(fs, r, at, where)
	c.lookup(fs, r, at, where)
	switch fs.Unit {
	case "hours":
		r.divisor = c.hoursPerPA
		r.premium = c.premiumHoursPerPA
		c.usedHours = true
	case "premium_hours":
		r.divisor = c.premiumHoursPerPA
		c.usedPremium = true
	}
	if fs.Per == "year" {
		c.usedWeeks = true
		if c.workingWeeks == 0 {
			c.doc.add(at("per"), "%s: per: year needs units.working_weeks (the supplier system's working weeks per year, often 42)", where)
		} else {
			var err1, err2 error
			r.divisor, err1 = r.divisor.Mul(c.workingWeeks)
			r.premium, err2 = r.premium.Mul(c.workingWeeks)
			if err1 != nil || err2 != nil {
				c.doc.add(at("per"), "%s: units.working_weeks × hours a PA is too large", where)
			}
		}
	}
	if (fs.Unit != "" || fs.Per != "") && r.kind != kindDecimal && r.kind != kindPercent {
		c.doc.add(at("unit"), "%s: unit and per apply to decimal values only", where)
	}
	if fs.When != nil {
		if scope != scopeField || id >= record.NumFields {
			c.doc.add(at("when"), "%s: when applies to the fields of the record, not to activities or sum parts", where)
		} else if fs.Column == "" && fs.Path == "" {
			c.doc.add(at("when"), "%s: when tests the cell of column (or path); give one", where)
		}
		r.when = c.test(fs.When, where+".when", at, "when")
	}
	if len(fs.Sum) > 0 {
		if !r.kind.numeric() {
			c.doc.add(at("sum"), "%s: sum adds up numbers; the field holds text or a date", where)
		}
		for i := range fs.Sum {
			part := c.field(&fs.Sum[i], record.NumFields, kindDecimal, scope, append(slices.Clone(path), "sum", fmt.Sprint(i))...)
			if part != nil {
				if part.kind == kindDecimal && r.kind == kindPercent {
					part.kind = kindPercent
				}
				r.parts = append(r.parts, part)
			}
		}
		if fs.Default != nil || fs.Required || fs.Lookup != nil || fs.Unit != "" || fs.Per != "" {
			c.doc.add(at("sum"), "%s: default, required, lookup, unit and per go on the parts of a sum, not on the sum", where)
		}
	}
	if fs.Expr != "" {
		r.exprText = fs.Expr
		prog, info, err := compileExpr(fs.Expr, scope)
		if err != nil {
			c.doc.add(at("expr"), "%s: expression: %v", where, err)
			return nil
		}
		r.program, r.uses, r.reads, r.rowExpr = prog, info.fields, info.reads, info.readsRow
		c.noteUnits(info)
		if scope == scopeActivity && !info.readsRow {
			c.doc.add(at("expr"), "%s: an activity's expression reads the activity with column(\"...\") or path(\"...\")", where)
		}
		if fs.Default != nil || fs.Required {
			c.doc.add(at("expr"), "%s: default and required do not apply to a computed value", where)
		}
		if fs.Unit != "" || fs.Per != "" {
			c.doc.add(at("expr"), "%s: unit and per do not apply to a computed value; write the conversion in the expression (hours_per_pa, premium_hours_per_pa and working_weeks are there)", where)
		}
	}
	if r.def != nil && fs.Required {
		c.doc.add(at("required"), "%s: a field with a default is never missing; drop required or default", where)
	}
	return r
}

func firstSet(first bool, a, b string) string {
	if first {
		return a
	}
	return b
}

func (c *compiler) dates(fs *FieldSpec, r *fieldRule, at func(...string) *yaml.Node, where string) {
	if r.kind != kindDate {
		if len(fs.Formats) > 0 {
			c.doc.add(at("formats"), "%s: formats apply to dates only", where)
		}
		if fs.TwoDigitYearsFrom != 0 {
			c.doc.add(at("two_digit_years_from"), "%s: two_digit_years_from applies to dates only", where)
		}
		return
	}
	formats := fs.Formats
	if len(formats) == 0 {
		formats = []string{"yyyy-mm-dd"}
	}
	twoDigit := false
	for i, text := range formats {
		f, err := compileDateFormat(text)
		if err != nil {
			c.doc.add(at("formats", fmt.Sprint(i)), "%s: date format %q: %v; write it as dd/mm/yyyy, d/m/yy, yyyy-mm-dd or dd-MMM-yyyy, or as a Go layout such as 02/01/2006", where, text, err)
			continue
		}
		if f.hasTwoDigitYear() {
			twoDigit = true
			if fs.TwoDigitYearsFrom == 0 {
				c.doc.add(at("formats", fmt.Sprint(i)), "%s: date format %q has a two-digit year; say which 100 years it means with two_digit_years_from (e.g. 2000 reads 26 as 2026, 1970 reads 69 as 2069 and 70 as 1970)", where, text)
			}
			f.yearFrom = fs.TwoDigitYearsFrom
		}
		r.dates = append(r.dates, f)
	}
	if fs.TwoDigitYearsFrom != 0 && !twoDigit {
		c.doc.add(at("two_digit_years_from"), "%s: two_digit_years_from applies only to a date format with a two-digit year (yy)", where)
	}
}

func (c *compiler) lookup(fs *FieldSpec, r *fieldRule, at func(...string) *yaml.Node, where string) {
	depth := max(len(r.keys), 1)
	if fs.Lookup == nil {
		if fs.Unmatched != "" {
			c.doc.add(at("unmatched"), "%s: unmatched applies only with a lookup", where)
		}
		if len(r.keys) > 0 {
			c.doc.add(at(firstSet(len(fs.Columns) > 0, "columns", "paths")), "%s: several columns make the key of a lookup; add the lookup, nested one level per column", where)
		}
		return
	}
	if len(r.keys) == 1 {
		c.doc.add(at(firstSet(len(fs.Columns) > 0, "columns", "paths")), "%s: for one column, use column (or path), not a list", where)
	}
	if len(r.keys) > 1 {
		// An unmatched combination has no single value to keep.
		if fs.Unmatched == "keep" {
			c.doc.add(at("unmatched"), "%s: a lookup keyed on several columns has no single value to keep; an unmatched combination is always an error (M05)", where)
		}
		r.strict = true
	}
	r.lookup = c.lookupTable(fs.Lookup, depth, at("lookup"), where+".lookup")
}

func (c *compiler) lookupTable(l *Lookup, depth int, at *yaml.Node, where string) *lookupTable {
	t := &lookupTable{exact: map[string]lookupTo{}, ci: map[string]lookupTo{}}
	for _, e := range l.Entries {
		to := lookupTo{to: e.To}
		switch {
		case depth > 1 && e.Next == nil:
			c.doc.add(e.Node, "%s.%s: the lookup is keyed on %d columns, so each entry here is a table for the next column", where, e.Key, depth)
			continue
		case depth == 1 && e.Next != nil:
			c.doc.add(e.Node, "%s.%s: a nested table needs one column per level (columns: [A, B])", where, e.Key)
			continue
		case e.Next != nil:
			to.next = c.lookupTable(e.Next, depth-1, e.Node, where+"."+e.Key)
		}
		key := strings.TrimSpace(e.Key)
		t.exact[key] = to
		t.ci[strings.ToLower(key)] = to
		t.keys = append(t.keys, key)
	}
	return t
}

// test compiles a TestSpec (a filter's or a when's).
func (c *compiler) test(ts *TestSpec, where string, at func(...string) *yaml.Node, base ...string) *valueTest {
	tests := 0
	for _, t := range []bool{ts.Equals != nil, ts.In != nil, ts.NotIn != nil, ts.Matches != ""} {
		if t {
			tests++
		}
	}
	if tests != 1 {
		c.doc.add(at(base...), "%s: give exactly one of equals, in, not_in or matches", where)
		return nil
	}
	t := &valueTest{equals: ts.Equals, in: ts.In, notIn: ts.NotIn, ignoreCase: ts.IgnoreCase}
	switch {
	case ts.Equals != nil:
		t.text = fmt.Sprintf("equals %q", *ts.Equals)
	case ts.In != nil:
		t.text = "in " + quoteList(ts.In)
	case ts.NotIn != nil:
		t.text = "not in " + quoteList(ts.NotIn)
	default:
		t.text = "matches " + ts.Matches
		pattern := ts.Matches
		if ts.IgnoreCase {
			pattern = "(?i)" + pattern
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			c.doc.add(at(append(base, "matches")...), "%s: matches: %v", where, err)
			return nil
		}
		t.matches = re
	}
	return t
}

func (c *compiler) noteUnits(info exprInfo) {
	c.usedHours = c.usedHours || info.units[0]
	c.usedPremium = c.usedPremium || info.units[1]
	c.usedWeeks = c.usedWeeks || info.units[2]
}

// checkComputedOrder requires a computed field to come after the computed
// fields it uses, so evaluation in file order is well defined. A field
// computed from the row is worked out on each row, before activities are
// added up and before the fields computed over the plan.
func (c *compiler) checkComputedOrder() {
	seen := map[string]bool{}
	for _, r := range c.m.rowComputed {
		for _, u := range r.uses {
			id, _ := record.Lookup(u)
			late := slices.ContainsFunc(c.m.computed, func(x *fieldRule) bool { return x.id == id }) ||
				(slices.ContainsFunc(c.m.rowComputed, func(x *fieldRule) bool { return x.id == id }) && !seen[u])
			switch {
			case late:
				c.doc.add(c.doc.node("fields", r.id.String(), "expr"), "fields.%s: reads the row, so it is worked out on each row before the fields computed over the plan; it cannot use %s, which is computed later (or is itself)", r.id, u)
			case c.built[id] && !slices.ContainsFunc(c.m.fields, func(x *fieldRule) bool { return x.id == id }):
				c.doc.add(c.doc.node("fields", r.id.String(), "expr"), "fields.%s: reads the row, so it is worked out on each row before the activities are added up; it cannot use %s, which is built from activities", r.id, u)
			}
		}
		seen[r.id.String()] = true
	}
	seen = map[string]bool{}
	for _, r := range c.m.computed {
		for _, u := range r.uses {
			for _, later := range c.m.computed {
				if later.id.String() == u && !seen[u] {
					c.doc.add(c.doc.node("fields", r.id.String(), "expr"), "fields.%s: uses %s, which is computed later (or is itself); put %s first", r.id, u, u)
				}
			}
		}
		seen[r.id.String()] = true
	}
}

// whenGroups gathers the fields that read one source with when: a value
// of that source must be taken by exactly one of them.
func (c *compiler) whenGroups() {
	bySource := map[string]int{}
	for i, r := range c.m.fields {
		if r.when == nil {
			continue
		}
		key := strings.ToLower(strings.Join(strings.Fields(r.src.describe()), " "))
		g, ok := bySource[key]
		if !ok {
			g = len(c.m.whenGroups)
			bySource[key] = g
			c.m.whenGroups = append(c.m.whenGroups, nil)
		}
		c.m.whenGroups[g] = append(c.m.whenGroups[g], i)
	}
	for _, r := range c.m.fields {
		if _, split := bySource[strings.ToLower(strings.Join(strings.Fields(r.src.describe()), " "))]; split && r.when == nil {
			c.doc.add(c.doc.node("fields", r.id.String()), "fields.%s: reads %s, which other fields split with when; give this field a when too, or every value would go to both", r.id, r.src.describe())
		}
	}
}

func (c *compiler) filter(fs *FilterSpec, i int) {
	idx := fmt.Sprint(i)
	at := func(sub ...string) *yaml.Node { return c.doc.node(append([]string{"filters", idx}, sub...)...) }
	where := "filters." + idx
	f := &filterRule{}
	add := func() {
		switch fs.Scope {
		case "activity":
			if c.spec.Activities == nil {
				c.doc.add(at("scope"), "%s: scope: activity leaves out activities, but the mapping has no activities section", where)
				return
			}
			c.m.actFilters = append(c.m.actFilters, f)
		default:
			c.m.filters = append(c.m.filters, f)
		}
	}
	if fs.Expr != "" {
		if fs.Column != "" || fs.Path != "" || fs.Equals != nil || fs.In != nil || fs.NotIn != nil || fs.Matches != "" || fs.IgnoreCase {
			c.doc.add(at("expr"), "%s: an expr filter stands alone; write the test inside the expression", where)
			return
		}
		prog, info, err := compileExpr(fs.Expr, scopeFilter, expr.AsBool())
		if err != nil {
			c.doc.add(at("expr"), "%s: expression: %v", where, err)
			return
		}
		f.program, f.reads = prog, info.reads
		add()
		return
	}
	switch {
	case fs.Column == "" && fs.Path == "":
		c.doc.add(at(), "%s: name the column (CSV) or path (JSON) to test, or give an expr", where)
		return
	case fs.Column != "" && c.isJSON:
		c.doc.add(at("column"), "%s: use path (not column) in a JSON mapping", where)
	case fs.Path != "" && !c.isJSON:
		c.doc.add(at("path"), "%s: use column (not path) in a CSV mapping", where)
	}
	f.src = source{column: fs.Column}
	if fs.Path != "" {
		f.src.path = strings.Split(fs.Path, ".")
	}
	if f.test = c.test(&fs.TestSpec, where, at); f.test == nil {
		return
	}
	add()
}

func (c *compiler) group() {
	g := c.spec.Group
	if g == nil {
		return
	}
	for i, key := range g.By {
		at := c.doc.node("group", "by", fmt.Sprint(i))
		if key.Column != "" {
			if c.isJSON {
				c.doc.add(at, "group.by: a column is for CSV")
			}
			c.m.groupBy = append(c.m.groupBy, groupKey{src: &source{column: key.Column}})
			continue
		}
		id, ok := record.Lookup(key.Field)
		if !ok {
			c.doc.add(at, "group.by: %q is not a record field (for a source column, write {column: NAME})", key.Field)
			continue
		}
		mapped := false
		for _, r := range c.m.fields {
			mapped = mapped || r.id == id
		}
		if !mapped {
			c.doc.add(at, "group.by: %s must be mapped from a column under fields", key.Field)
		}
		c.m.groupBy = append(c.m.groupBy, groupKey{id: id})
	}
	c.m.firstRow = g.PlanValues == "first_row"
	if !tabular(c.spec.Format) {
		c.doc.add(c.doc.node("group"), "group: JSON records are already one plan each; use activities.path for their activities")
	}
	if c.spec.Activities == nil {
		c.doc.add(c.doc.node("group"), "group: grouping rows needs an activities section saying how each row adds to the plan")
	}
}

func (c *compiler) activities() {
	a := c.spec.Activities
	if a == nil {
		return
	}
	ar := &activityRules{targets: map[string][]record.ID{}, targetsCI: map[string][]record.ID{}, workingWeeks: c.workingWeeks, built: c.built}
	if a.Path != "" {
		if !c.isJSON {
			c.doc.add(c.doc.node("activities", "path"), "activities.path: is for JSON; in a CSV each row is one activity (use group.by)")
		}
		ar.path = strings.Split(a.Path, ".")
	} else if c.isJSON {
		c.doc.add(c.doc.node("activities"), "activities: give path, the array of activities inside each JSON record")
	} else if c.spec.Group == nil {
		c.doc.add(c.doc.node("activities"), "activities: in a CSV, rows are gathered into plans by group.by; add a group section")
	}
	ar.category = c.field(&a.Category, record.NumFields, kindText, scopeActivity, "activities", "category")
	ar.amount = c.field(&a.Amount, record.NumFields, kindDecimal, scopeActivity, "activities", "amount")
	if a.Occurrences != nil {
		ar.occurrences = c.field(a.Occurrences, record.NumFields, kindDecimal, scopeActivity, "activities", "occurrences")
		c.usedWeeks = true
		if ar.occurrences != nil {
			if c.workingWeeks == 0 {
				c.doc.add(c.doc.node("activities", "occurrences"), "activities.occurrences: annual occurrences need units.working_weeks (often 42)")
			}
		}
	}
	if a.Premium != nil {
		ar.premium = &boolRule{src: source{column: a.Premium.Column}, trueSet: set(a.Premium.TrueValues), falseSet: set(a.Premium.FalseValues)}
		if a.Premium.Path != "" {
			ar.premium.src.path = strings.Split(a.Premium.Path, ".")
		}
		if (a.Premium.Column == "") == (a.Premium.Path == "") {
			c.doc.add(c.doc.node("activities", "premium"), "activities.premium: give column (CSV) or path (JSON)")
		}
		switch {
		case a.Amount.Unit != "hours":
			c.doc.add(c.doc.node("activities", "premium"), "activities.premium: premium time changes the hours in a PA, so amount.unit must be hours")
		default:
			c.usedPremium = true
		}
	}
	for name, targets := range a.Categories {
		var ids []record.ID
		for i, t := range targets {
			id, ok := record.Lookup(t)
			if !ok || !id.Field().PA {
				c.doc.add(c.doc.node("activities", "categories", name, fmt.Sprint(i)), "activities.categories.%s: %q is not a PA field of the record", name, t)
				continue
			}
			ids = append(ids, id)
		}
		ar.targets[strings.TrimSpace(name)] = ids
		ar.targetsCI[strings.ToLower(strings.TrimSpace(name))] = ids
	}
	c.m.activities = ar
}

func set(values []string) map[string]bool {
	s := make(map[string]bool, len(values))
	for _, v := range values {
		s[strings.ToLower(strings.TrimSpace(v))] = true
	}
	return s
}

// SourceOf names where a record field comes from: its CSV column or JSON
// path, "(computed: ...)" for an expression over the plan's fields, and
// for a field built from activities the activity columns it is added up
// from. Reports use it to point a trust at the cell to fix.
func (m *Mapping) SourceOf(id record.ID) string {
	for _, list := range [][]*fieldRule{m.fields, m.rowComputed, m.computed} {
		for _, r := range list {
			if r.id == id {
				return r.describe()
			}
		}
	}
	if ar := m.activities; ar != nil && ar.built[id] {
		return ar.source
	}
	return ""
}

// describe names the activity columns fields built from activities are
// added up from.
func (ar *activityRules) describe() string {
	var names []string
	for _, r := range []*fieldRule{ar.category, ar.amount, ar.occurrences} {
		if r != nil && r.src.constant == nil {
			names = append(names, strings.Split(r.describe(), " + ")...)
		}
	}
	if ar.premium != nil {
		names = append(names, ar.premium.src.describe())
	}
	prefix := ""
	if ar.path != nil {
		prefix = strings.Join(ar.path, ".") + "[]."
	}
	seen := map[string]bool{}
	var uniq []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, prefix+n)
		}
	}
	return "(activities: " + strings.Join(uniq, ", ") + ")"
}

// sortedKeys returns a lookup level's keys for messages.
func (t *lookupTable) sortedKeys() []string {
	keys := slices.Clone(t.keys)
	sort.Strings(keys)
	return keys
}
