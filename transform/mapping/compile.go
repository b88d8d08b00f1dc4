package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
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
	// KeepAllPlans keeps every distinct plan of an assignment rather than
	// only the latest effective one.
	KeepAllPlans bool
	Validator    *validate.Validator

	decimalComma bool
	fields       []*fieldRule // direct fields, in file order
	computed     []*fieldRule // expr fields, in file order
	filters      []*filterRule
	groupBy      []record.ID
	activities   *activityRules
}

// Grouped reports whether several rows make one plan (long CSV layouts).
func (m *Mapping) Grouped() bool { return len(m.groupBy) > 0 }

type parseKind uint8

const (
	kindText parseKind = iota
	kindDecimal
	kindInteger
	kindDate
	kindFrequency
	kindBand
)

var kindNames = map[string]parseKind{"text": kindText, "decimal": kindDecimal, "integer": kindInteger, "date": kindDate, "frequency": kindFrequency, "band": kindBand}

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
	kind     parseKind
	dates    []*dateFormat
	lookup   map[string]*string
	lookupCI map[string]*string
	strict   bool // unmatched: error
	def      *string
	required bool
	divisor  decimal.Dec // unit and per conversions, 1 when none
	premium  decimal.Dec // divisor for premium-time hours (activities)
	program  *vm.Program
	uses     []string
	exprText string
}

type filterRule struct {
	src        source
	equals     *string
	in, notIn  []string
	matches    *regexp.Regexp
	ignoreCase bool
	program    *vm.Program
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
}

type boolRule struct {
	src               source
	trueSet, falseSet map[string]bool
}

var defaultHoursPerPA = decimal.FromInt(4)
var defaultPremiumHoursPerPA = decimal.FromInt(3)

// compile checks the spec's meaning (the schema has checked its shape) and
// builds the Mapping; problems are added to doc.
func compile(doc *document, spec *Spec) *Mapping {
	m := &Mapping{Name: spec.Name, Description: spec.Description, Format: spec.Format, KeepAllPlans: spec.Duplicates == "keep_all", decimalComma: spec.Numbers.DecimalComma}
	isJSON := spec.Format != "csv"
	c := &compiler{doc: doc, spec: spec, m: m, isJSON: isJSON}
	c.dialect()
	c.units()
	c.rules()
	for _, key := range doc.keysInOrder("fields") {
		fs := spec.Fields[key]
		id, ok := record.Lookup(key)
		if !ok {
			continue // reported by the schema check
		}
		r := c.field(&fs, id, kindText, "fields", key)
		if r == nil {
			continue
		}
		if r.program != nil {
			m.computed = append(m.computed, r)
		} else {
			m.fields = append(m.fields, r)
		}
	}
	c.checkComputedOrder()
	for i := range spec.Filters {
		c.filter(&spec.Filters[i], i)
	}
	c.group()
	c.activities()
	return m
}

type compiler struct {
	doc    *document
	spec   *Spec
	m      *Mapping
	isJSON bool

	hoursPerPA, premiumHoursPerPA, workingWeeks decimal.Dec
}

func (c *compiler) dialect() {
	s := c.spec
	switch s.Format {
	case "csv":
		delim, err := decode.ParseDelimiter(s.CSV.Delimiter)
		if err != nil {
			c.doc.add(c.doc.node("csv", "delimiter"), "csv.delimiter: %v", err)
		}
		var comment rune
		if s.CSV.Comment != "" {
			comment = []rune(s.CSV.Comment)[0]
		}
		c.m.CSV = decode.CSVOptions{Delimiter: delim, Encoding: s.CSV.Encoding, HeaderRow: s.CSV.HeaderRow, NoHeader: s.CSV.NoHeader, SkipRows: s.CSV.SkipRows, LazyQuotes: s.CSV.LazyQuotes, Comment: comment}
		if c.doc.value("json") != nil {
			c.doc.add(c.doc.node("json"), "json: settings given, but format is csv")
		}
	default:
		c.m.JSON = decode.JSONOptions{Lines: s.Format == "jsonl", RecordsPath: s.JSON.Records, Encoding: s.JSON.Encoding}
		if s.Format == "jsonl" && s.JSON.Records != "" {
			c.doc.add(c.doc.node("json", "records"), "json.records: a records path is for format json; each line of a jsonl file is one record")
		}
		if c.doc.value("csv") != nil {
			c.doc.add(c.doc.node("csv"), "csv: settings given, but format is %s", s.Format)
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
}

func (c *compiler) rules() {
	cfg := validate.Defaults()
	if n := c.doc.value("rules"); n != nil {
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

// field compiles one FieldSpec for record field id (or for an activity part
// when id is record.NumFields); path locates it in the file.
func (c *compiler) field(fs *FieldSpec, id record.ID, partKind parseKind, path ...string) *fieldRule {
	at := func(sub ...string) *yaml.Node { return c.doc.node(append(slices.Clone(path), sub...)...) }
	where := strings.Join(path, ".")
	r := &fieldRule{id: id, divisor: decimal.One, strict: fs.Unmatched == "error", required: fs.Required, def: fs.Default}
	sources := 0
	for _, s := range []bool{fs.Column != "", fs.Path != "", fs.Value != nil, fs.Expr != ""} {
		if s {
			sources++
		}
	}
	if sources != 1 {
		c.doc.add(at(), "%s: give exactly one of column, path, value or expr", where)
		return nil
	}
	switch {
	case fs.Column != "" && c.isJSON:
		c.doc.add(at("column"), "%s: use path (not column) to address a value in a JSON record", where)
	case fs.Path != "" && !c.isJSON:
		c.doc.add(at("path"), "%s: use column (not path) for a CSV export", where)
	}
	r.src = source{column: fs.Column, constant: fs.Value}
	if fs.Path != "" {
		r.src.path = strings.Split(fs.Path, ".")
	}
	// The parser follows the target field unless the mapping says otherwise.
	r.kind = partKind
	if id < record.NumFields {
		switch id.Field().Kind {
		case record.Date:
			r.kind = kindDate
		case record.Decimal:
			r.kind = kindDecimal
			if id == record.OnCallFrequencyN {
				r.kind = kindFrequency
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
		parsedNumeric := r.kind != kindText && r.kind != kindDate
		if targetNumeric != parsedNumeric {
			c.doc.add(at("type"), "%s: type %s does not suit the field, which holds a %s", where, fs.Type, map[bool]string{true: "number", false: "text or date"}[targetNumeric])
		}
	}
	if r.kind == kindDate {
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
	} else {
		if len(fs.Formats) > 0 {
			c.doc.add(at("formats"), "%s: formats apply to dates only", where)
		}
		if fs.TwoDigitYearsFrom != 0 {
			c.doc.add(at("two_digit_years_from"), "%s: two_digit_years_from applies to dates only", where)
		}
	}
	if len(fs.Lookup) > 0 {
		r.lookup = fs.Lookup
		r.lookupCI = make(map[string]*string, len(fs.Lookup))
		for k, v := range fs.Lookup {
			r.lookupCI[strings.ToLower(strings.TrimSpace(k))] = v
		}
	} else if fs.Unmatched != "" {
		c.doc.add(at("unmatched"), "%s: unmatched applies only with a lookup", where)
	}
	switch fs.Unit {
	case "hours":
		r.divisor = c.hoursPerPA
		r.premium = c.premiumHoursPerPA
	case "premium_hours":
		r.divisor = c.premiumHoursPerPA
	}
	if fs.Per == "year" {
		if c.workingWeeks == 0 {
			c.doc.add(at("per"), "%s: per: year needs units.working_weeks (the supplier system's working weeks per year, often 42)", where)
		} else {
			r.divisor = r.divisor.Mul(c.workingWeeks)
			r.premium = r.premium.Mul(c.workingWeeks)
		}
	}
	if (fs.Unit != "" || fs.Per != "") && r.kind != kindDecimal {
		c.doc.add(at("unit"), "%s: unit and per apply to decimal values only", where)
	}
	if fs.Expr != "" {
		r.exprText = fs.Expr
		prog, uses, err := compileExpr(fs.Expr, exprEnvTemplate(), false)
		if err != nil {
			c.doc.add(at("expr"), "%s: expression: %v", where, err)
			return nil
		}
		r.program, r.uses = prog, uses
		if fs.Default != nil || fs.Lookup != nil || fs.Required {
			c.doc.add(at("expr"), "%s: default, lookup and required do not apply to a computed field", where)
		}
	}
	if r.def != nil && fs.Required {
		c.doc.add(at("required"), "%s: a field with a default is never missing; drop required or default", where)
	}
	return r
}

// exprEnvTemplate declares the names an expression may use: every record
// field, with its type (nullable ones as any, since they may be nil).
func exprEnvTemplate() map[string]any {
	env := make(map[string]any, record.NumFields)
	for _, f := range record.Fields {
		switch {
		case f.Nullable:
			env[f.Key] = nil
		case f.Kind == record.Decimal || f.Kind == record.Band:
			env[f.Key] = float64(0)
		default:
			env[f.Key] = ""
		}
	}
	return env
}

type identCollector struct{ names []string }

func (v *identCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && !slices.Contains(v.names, id.Value) {
		v.names = append(v.names, id.Value)
	}
}

func compileExpr(code string, env map[string]any, _ bool, opts ...expr.Option) (*vm.Program, []string, error) {
	prog, err := expr.Compile(code, append([]expr.Option{expr.Env(env)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	v := &identCollector{}
	root := prog.Node()
	ast.Walk(&root, v)
	return prog, v.names, nil
}

// checkComputedOrder requires a computed field to come after the computed
// fields it uses, so evaluation in file order is well defined.
func (c *compiler) checkComputedOrder() {
	seen := map[string]bool{}
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

func (c *compiler) filter(fs *FilterSpec, i int) {
	idx := fmt.Sprint(i)
	at := func(sub ...string) *yaml.Node { return c.doc.node(append([]string{"filters", idx}, sub...)...) }
	where := "filters." + idx
	f := &filterRule{equals: fs.Equals, in: fs.In, notIn: fs.NotIn, ignoreCase: fs.IgnoreCase}
	if fs.Expr != "" {
		if fs.Column != "" || fs.Path != "" || fs.Equals != nil || fs.In != nil || fs.NotIn != nil || fs.Matches != "" {
			c.doc.add(at("expr"), "%s: an expr filter stands alone; write the test inside the expression", where)
			return
		}
		prog, _, err := compileExpr(fs.Expr, map[string]any{"column": func(string) string { return "" }}, false, expr.AsBool())
		if err != nil {
			c.doc.add(at("expr"), "%s: expression: %v", where, err)
			return
		}
		f.program = prog
		c.m.filters = append(c.m.filters, f)
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
	tests := 0
	for _, t := range []bool{fs.Equals != nil, fs.In != nil, fs.NotIn != nil, fs.Matches != ""} {
		if t {
			tests++
		}
	}
	if tests != 1 {
		c.doc.add(at(), "%s: give exactly one of equals, in, not_in or matches", where)
		return
	}
	if fs.Matches != "" {
		pattern := fs.Matches
		if fs.IgnoreCase {
			pattern = "(?i)" + pattern
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			c.doc.add(at("matches"), "%s: matches: %v", where, err)
			return
		}
		f.matches = re
	}
	c.m.filters = append(c.m.filters, f)
}

func (c *compiler) group() {
	g := c.spec.Group
	if g == nil {
		return
	}
	for i, key := range g.By {
		id, ok := record.Lookup(key)
		if !ok {
			c.doc.add(c.doc.node("group", "by", fmt.Sprint(i)), "group.by: %q is not a record field", key)
			continue
		}
		mapped := false
		for _, r := range c.m.fields {
			mapped = mapped || r.id == id
		}
		if !mapped {
			c.doc.add(c.doc.node("group", "by", fmt.Sprint(i)), "group.by: %s must be mapped from a column under fields", key)
		}
		c.m.groupBy = append(c.m.groupBy, id)
	}
	if c.spec.Format != "csv" {
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
	ar := &activityRules{targets: map[string][]record.ID{}, targetsCI: map[string][]record.ID{}, workingWeeks: c.workingWeeks}
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
	ar.category = c.field(&a.Category, record.NumFields, kindText, "activities", "category")
	ar.amount = c.field(&a.Amount, record.NumFields, kindDecimal, "activities", "amount")
	if a.Occurrences != nil {
		ar.occurrences = c.field(a.Occurrences, record.NumFields, kindDecimal, "activities", "occurrences")
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
		if a.Amount.Unit != "hours" {
			c.doc.add(c.doc.node("activities", "premium"), "activities.premium: premium time changes the hours in a PA, so amount.unit must be hours")
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
// path, "(computed)" for an expression, "" when it is built from activities
// or not mapped. Reports use it to point a trust at the cell to fix.
func (m *Mapping) SourceOf(id record.ID) string {
	for _, r := range m.fields {
		if r.id == id {
			if r.src.constant != nil {
				return "(fixed value)"
			}
			return r.src.describe()
		}
	}
	for _, r := range m.computed {
		if r.id == id {
			return "(computed: " + r.exprText + ")"
		}
	}
	return ""
}
