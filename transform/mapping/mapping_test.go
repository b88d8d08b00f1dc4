package mapping_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// --- Load: problems with positions -----------------------------------------

// wantProblem is a problem expected at the start of the at-th occurrence
// (default first) of the text at in the mapping, with a message containing
// each of msg.
type wantProblem struct {
	at   string
	nth  int
	line int // used instead of at when set, at column 1
	msg  []string
}

// position returns the 1-based line and column where the nth occurrence of
// sub starts in text.
func position(t *testing.T, text, sub string, nth int) (int, int) {
	t.Helper()
	off := 0
	for i := 0; ; i++ {
		j := strings.Index(text[off:], sub)
		if j < 0 {
			t.Fatalf("test bug: %q occurs fewer than %d times in the mapping", sub, nth+1)
		}
		off += j
		if i == nth {
			break
		}
		off++
	}
	before := text[:off]
	line := strings.Count(before, "\n") + 1
	col := off - strings.LastIndex(before, "\n")
	return line, col
}

// badCSV has one of each kind of mistake a CSV mapping can hold.
const badCSV = `version: 1
name: broken-csv
format: csv
colour: blue
filters:
  - column: Status
    matches: "(unclosed"
fields:
  employee_number: {column: Employee Number, required: true}
  assignment_number: {column: Assignment}
  favourite_food: {column: Food}
  dcc: {column: DCC, unit: minutes}
  spa: {column: SPA, unit: hours, per: year}
  total_contracted_pas:
    expr: dcc + spa +
  effective_date:
    column: Start
    formats: ["02/01/2006", "dd/mm/yy"]
  contract_type: {column: Contract, type: decimal}
group:
  by: [assignment_number, vpd_code]
activities:
  category: {column: Activity}
  amount: {column: Hours, unit: hours}
  categories:
    Clinic: [dcc, outpatients]
    Admin: [dcc, staff_group]
    Lunch: [dcc, brunch]
`

// badJSON uses CSV-only settings in a JSON mapping.
const badJSON = `version: 1
name: broken-json
format: json
json: {records: plans}
fields:
  employee_number: {column: Employee Number}
  assignment_number: {path: asg}
  dcc: {path: dcc, unit: hours}
  spa: {column: SPA}
  effective_date: {path: start, formats: ["2006-13-45"]}
  vpd_code: {path: vpd, unmatched: error}
filters:
  - column: Status
    equals: Signed
activities:
  category: {path: kind}
  amount: {path: hours, per: year}
  categories:
    Clinic: [dcc, on_call_category]
`

// laughs nests aliases ten deep: a billion values once expanded.
var laughs = func() string {
	var b strings.Builder
	b.WriteString("version: 1\nname: x\nformat: csv\nfields: {dcc: {column: D}}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}()

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []wantProblem
	}{
		{
			name: "every mistake in a csv mapping",
			text: badCSV,
			want: []wantProblem{
				{at: "colour", msg: []string{`unknown setting "colour"`, "allowed: version, name"}},
				{at: `matches: "(unclosed"`, msg: []string{"filters.0: matches:", "missing closing )"}},
				{at: "favourite_food", msg: []string{`"favourite_food" is not a field of the ESR job-plan record`, "jobplan-hub schema"}},
				{at: "dcc: {column: DCC, unit: minutes}", msg: []string{"fields.dcc: is mapped here and also added up from activities", "count twice"}},
				{at: "unit: minutes", msg: []string{"fields.dcc.unit", `"pa", "hours", "premium_hours", "sessions"`}},
				{at: "per: year", msg: []string{"fields.spa: per: year needs units.working_weeks", "often 42"}},
				{at: "expr: dcc + spa +", msg: []string{"fields.total_contracted_pas: expression:"}},
				{at: `"dd/mm/yy"`, msg: []string{`fields.effective_date: date format "dd/mm/yy" has a two-digit year`, "two_digit_years_from"}},
				{at: "type: decimal", msg: []string{"fields.contract_type: type decimal does not suit the field, which holds a text or date"}},
				{at: "vpd_code]", msg: []string{"group.by: vpd_code must be mapped from a column under fields"}},
				{at: "staff_group]", msg: []string{`activities.categories.Admin: "staff_group" is not a PA field of the record`}},
				{at: "brunch]", msg: []string{`activities.categories.Lunch: "brunch" is not a PA field of the record`}},
			},
		},
		{
			name: "csv settings in a json mapping",
			text: badJSON,
			want: []wantProblem{
				{at: "column: Employee Number", msg: []string{"fields.employee_number: use path (not column) to address a value in a JSON record"}},
				{at: "dcc: {path: dcc, unit: hours}", msg: []string{"fields.dcc: is mapped here and also added up from activities"}},
				{at: "column: SPA", msg: []string{"fields.spa: use path (not column)"}},
				{at: `"2006-13-45"`, msg: []string{`date format "2006-13-45": a date format needs exactly one day, one month and one year`, "dd/mm/yyyy"}},
				{at: "unmatched: error", msg: []string{"fields.vpd_code: unmatched applies only with a lookup"}},
				{at: "column: Status", msg: []string{"filters.0: use path (not column) in a JSON mapping"}},
				{at: "activities:", msg: []string{"activities: give path, the array of activities inside each JSON record"}},
				{at: "per: year", msg: []string{"activities.amount: per: year needs units.working_weeks"}},
				{at: "on_call_category]", msg: []string{`activities.categories.Clinic: "on_call_category" is not a PA field`}},
			},
		},
		{
			name: "missing required settings",
			text: "version: 2\ndescription: no name\nfields: {}\n",
			want: []wantProblem{
				{line: 1, msg: []string{"name is required"}},
				{line: 1, msg: []string{"format is required"}},
				{at: "version", msg: []string{"version: version does not match: 1"}},
				{at: "fields", msg: []string{"fields: Must have at least 1 properties"}},
			},
		},
		{
			name: "yaml syntax error",
			text: "version: 1\nname: x\nformat: csv\nfields:\n  dcc: {column: DCC\n  spa: {column: SPA}\n",
			// The flow mapping that is never closed starts on line 5.
			want: []wantProblem{{line: 5, msg: []string{"did not find expected ',' or '}'"}}},
		},
		{
			name: "block sequence entry missing",
			text: "version: 1\nname: x\nformat: csv\nfields: {dcc: {column: DCC}}\nfilters:\n  - column: A\n    equals: B\n  column: C\n",
			// Where the sequence starts; YAML errors have no column.
			want: []wantProblem{{line: 6, msg: []string{"did not find expected '-' indicator"}}},
		},
		{
			name: "repeated key",
			text: "version: 1\nname: x\nformat: csv\nfields: {dcc: {column: DCC}}\nformat: json\n",
			want: []wantProblem{{line: 5, msg: []string{`mapping key "format" already defined at line 3`}}},
		},
		{
			name: "tab indentation",
			text: "version: 1\nname: x\nformat: csv\nfields:\n\tdcc: {column: DCC}\n",
			want: []wantProblem{{line: 5, msg: []string{"found character that cannot start any token"}}},
		},
		{
			name: "alias inside its own value",
			text: "version: 1\nname: x\nformat: csv\nfields: &f\n  dcc: {column: DCC}\n  spa: *f\n",
			want: []wantProblem{{at: "*f", msg: []string{"alias *f is inside the value it names"}}},
		},
		{
			name: "billion laughs",
			text: laughs,
			// The alias being expanded when the budget runs out: the
			// eighth *a3, in a4.
			want: []wantProblem{{at: "*a3", nth: 7, msg: []string{"aliases expand to more than 100000 values"}}},
		},
		{
			name: "not an object",
			text: "- version: 1\n",
			want: []wantProblem{{line: 1, msg: []string{"must be a YAML (or JSON) object"}}},
		},
		{
			name: "empty file",
			text: "",
			want: []wantProblem{{line: 1, msg: []string{"must be a YAML (or JSON) object"}}},
		},
		{
			name: "json mapping with a mistake",
			text: "{\n  \"version\": 1,\n  \"name\": \"j\",\n  \"format\": \"csv\",\n  \"fields\": {\"dcc\": {\"column\": \"DCC\", \"per\": \"year\"}},\n  \"sheet\": 2\n}\n",
			want: []wantProblem{
				{at: `"per"`, msg: []string{"fields.dcc: per: year needs units.working_weeks"}},
				{at: `"sheet"`, msg: []string{`unknown setting "sheet"`}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const file = "supplier.yaml"
			m, err := mapping.Load(file, []byte(tt.text))
			if m != nil {
				t.Errorf("Load returned a mapping despite problems")
			}
			var got mapping.Problems
			if !errors.As(err, &got) {
				t.Fatalf("Load error = %v (%T), want mapping.Problems", err, err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(got), len(tt.want), err)
			}
			for _, w := range tt.want {
				line, col := w.line, 1
				if w.at != "" {
					line, col = position(t, tt.text, w.at, w.nth)
				}
				found := false
				for _, p := range got {
					if p.File != file || p.Line != line || p.Col != col {
						continue
					}
					ok := true
					for _, s := range w.msg {
						ok = ok && strings.Contains(p.Message, s)
					}
					if ok {
						found = true
						want := fmt.Sprintf("%s:%d:%d: %s", file, line, col, p.Message)
						if p.String() != want {
							t.Errorf("Problem.String() = %q, want %q", p.String(), want)
						}
						if !strings.Contains(err.Error(), want) {
							t.Errorf("Problems.Error() lacks %q", want)
						}
					}
				}
				if !found {
					t.Errorf("no problem at %s:%d:%d containing %q; got:\n%v", file, line, col, w.msg, err)
				}
			}
			// Problems come in file order.
			if !slices.IsSortedFunc(got, func(a, b mapping.Problem) int {
				if a.Line != b.Line {
					return a.Line - b.Line
				}
				return a.Col - b.Col
			}) {
				t.Errorf("problems are not in file order:\n%v", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	_, err := mapping.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: got %v, want an os.ErrNotExist error", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nname: x\nformat: xls\nfields: {dcc: {column: DCC}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = mapping.LoadFile(path)
	want := path + `:3:1: format: format must be one of the following: "csv", "json", "jsonl", "xlsx"`
	if err == nil || err.Error() != want {
		t.Errorf("LoadFile error = %v, want %q", err, want)
	}
}

func TestLoadJSONMapping(t *testing.T) {
	text := `{
  "version": 1,
  "name": "json-written",
  "format": "jsonl",
  "units": {"working_weeks": 42},
  "fields": {
    "employee_number": {"path": "emp", "required": true},
    "dcc": {"path": "dcc_hours", "unit": "hours", "per": "year"}
  }
}`
	m, err := mapping.Load("m.json", []byte(text))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if m.Name != "json-written" || m.Format != "jsonl" || m.DecodeOptions("").Format != decode.FormatJSONLines {
		t.Errorf("got name %q format %q, read as %q; want json-written, jsonl, jsonl", m.Name, m.Format, m.DecodeOptions("").Format)
	}
	plans, findings := apply(t, m, `{"emp": "10000001", "dcc_hours": 336}`)
	if len(findings) != 0 {
		t.Errorf("findings: %v", findings)
	}
	checkPlan(t, plans[0], map[string]string{"employee_number": "10000001", "dcc": "2"}) // 336 h/year ÷ 42 weeks ÷ 4 h/PA
}

func TestBundledMappingsLoad(t *testing.T) {
	all, err := filepath.Glob("../../mappings/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".cases.yaml") { // test cases, not mappings
			files = append(files, f)
		}
	}
	if len(files) != 8 {
		t.Fatalf("found %d mappings in /mappings, want 8: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, err := mapping.LoadFile(f)
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".yaml")
			if m.Name != name {
				t.Errorf("Name = %q, want %q", m.Name, name)
			}
			if len(m.SHA256) != 64 {
				t.Errorf("SHA256 = %q, want 64 hex digits", m.SHA256)
			}
			if m.Validator == nil {
				t.Errorf("Validator is nil")
			}
		})
	}
}

// --- Apply -------------------------------------------------------------------

// apply runs m over input as the converter does, without validation: filter,
// map, add activities (rows of one group in a row form one plan), compute.
// Findings are written "line rule field value".
func apply(t *testing.T, m *mapping.Mapping, input string) ([]*record.JobPlan, []string) {
	t.Helper()
	r, header, err := readerFor(t, m, input)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	ap, err := m.Bind(header)
	if err != nil {
		t.Fatalf("Bind(%q): %v", header, err)
	}
	var plans []*record.JobPlan
	var findings []string
	var line int
	emit := func(f finding.Finding) {
		parts := []string{fmt.Sprint(line), f.Rule}
		for _, s := range []string{f.Field, f.Value} {
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
			}
		}
		findings = append(findings, strings.Join(parts, " "))
		if f.Message == "" || f.Severity != finding.Error {
			t.Errorf("finding %s: message %q, severity %q; want a message and severity error", f.Rule, f.Message, f.Severity)
		}
	}
	var cur *record.JobPlan
	var curKey string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("row: %v", err)
		}
		line = row.Line
		keep, err := ap.Keep(row)
		if err != nil {
			t.Fatalf("Keep(line %d): %v", row.Line, err)
		}
		if !keep {
			continue
		}
		p := new(record.JobPlan)
		ap.MapRow(row, p, emit)
		if m.Grouped() {
			key := string(ap.GroupKey(p))
			if cur == nil || key != curKey {
				if cur != nil {
					ap.Compute(cur, emit)
				}
				cur, curKey = p, key
				plans = append(plans, p)
			}
			ap.AddActivities(row, cur, emit)
			continue
		}
		ap.AddActivities(row, p, emit)
		ap.Compute(p, emit)
		plans = append(plans, p)
	}
	if cur != nil {
		ap.Compute(cur, emit)
	}
	return plans, findings
}

// readerFor opens input in m's format; header is nil for JSON. A reader
// that is an io.Closer (a workbook's) is closed when the test ends.
func readerFor(t *testing.T, m *mapping.Mapping, input string) (decode.Reader, []string, error) {
	t.Helper()
	r, header, err := decode.Open(strings.NewReader(input), m.DecodeOptions(t.TempDir()))
	if c, ok := r.(io.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("close reader: %v", err)
			}
		})
	}
	return r, header, err
}

// value shows a field as the tests expect it: "null" when absent, else its
// text or number.
func value(p *record.JobPlan, id record.ID) string {
	if !p.Has(id) {
		return "null"
	}
	if k := id.Field().Kind; k == record.Decimal || k == record.Band {
		return p.Num(id).String()
	}
	return p.Text(id)
}

func checkPlan(t *testing.T, p *record.JobPlan, want map[string]string) {
	t.Helper()
	for key, w := range want {
		id, ok := record.Lookup(key)
		if !ok {
			t.Fatalf("test bug: %q is not a record field", key)
		}
		if got := value(p, id); got != w {
			t.Errorf("%s = %q, want %q", key, got, w)
		}
	}
}

func mustLoad(t *testing.T, text string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	return m
}

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		mapping  string
		input    string
		want     []map[string]string // one per plan, only the fields listed
		findings []string            // "line rule field value"
	}{
		{
			name: "lookups",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  contract_type:
    column: Contract
    unmatched: error
    lookup: {Consultant (2003): consultant_england_2003, SD21: specialty_doctor_2021}
  on_call_category:
    column: Cat
    lookup: {Cat A: A, Cat B: B, None: null}
  staff_group:
    column: Group
    lookup: {MD: Medical and Dental}
`,
			input: "Emp,Contract,Cat,Group\n" +
				"1,Consultant (2003),Cat A,MD\n" + // exact
				"2,  sd21 ,cat b,Nursing\n" + // case-insensitive and trimmed; unmatched keep
				"3,SD21,NONE,md\n" + // null target
				"4,Locum,,\n" + // unmatched: error
				"5,,Cat Z,\n", // blank is not unmatched; unmatched keep
			want: []map[string]string{
				{"employee_number": "1", "contract_type": "consultant_england_2003", "on_call_category": "A", "staff_group": "Medical and Dental"},
				{"employee_number": "2", "contract_type": "specialty_doctor_2021", "on_call_category": "B", "staff_group": "Nursing"},
				{"employee_number": "3", "contract_type": "specialty_doctor_2021", "on_call_category": "null", "staff_group": "Medical and Dental"},
				{"employee_number": "4", "contract_type": "null", "on_call_category": "null", "staff_group": "null"},
				{"employee_number": "5", "contract_type": "null", "on_call_category": "Cat Z"},
			},
			findings: []string{"5 M05 contract_type Locum"},
		},
		{
			name: "defaults, required and trimming",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp, required: true}
  assignment_number: {column: Asg, required: true}
  staff_group: {column: Group, default: Medical and Dental}
  vpd_code: {column: VPD}
  contract_type: {value: consultant_wales}
  apa_eps: {column: APA, default: "0.5"}
`,
			input: "Emp,Asg,Group,VPD,APA\n" +
				"  10000001 , 10000001-2 ,,  ,\n" +
				",  ,Dental only, 123 ,1\n",
			want: []map[string]string{
				{"employee_number": "10000001", "assignment_number": "10000001-2", "staff_group": "Medical and Dental", "vpd_code": "null", "contract_type": "consultant_wales", "apa_eps": "0.5"},
				{"employee_number": "null", "assignment_number": "null", "staff_group": "Dental only", "vpd_code": "123", "apa_eps": "1"},
			},
			findings: []string{"3 M04 employee_number", "3 M04 assignment_number"},
		},
		{
			name: "optional column with a default may be missing",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  staff_group: {column: Staff Group, default: Medical and Dental}
`,
			input: "Emp\n10000001\n",
			want:  []map[string]string{{"employee_number": "10000001", "staff_group": "Medical and Dental"}},
		},
		{
			name: "numbers, decimal comma and units",
			mapping: `version: 1
name: t
format: csv
csv: {delimiter: ";"}
numbers: {decimal_comma: true}
units: {working_weeks: 42}
fields:
  dcc: {column: DCC}
  spa: {column: SPA hours, unit: hours}
  additional_responsibilities: {column: AR premium hours, unit: premium_hours}
  external_duties: {column: ED hours a year, unit: hours, per: year}
  medical_school: {column: MS a year, per: year}
  total_contracted_pas: {column: Total}
`,
			input: "DCC;SPA hours;AR premium hours;ED hours a year;MS a year;Total\n" +
				"7,5;10;4,5;168;21;\n" +
				"7.5;ten;;;;10\n",
			want: []map[string]string{
				{"dcc": "7.5", "spa": "2.5", "additional_responsibilities": "1.5", "external_duties": "1", "medical_school": "0.5", "total_contracted_pas": "null"},
				{"dcc": "null", "spa": "null", "additional_responsibilities": "null", "total_contracted_pas": "10"},
			},
			findings: []string{"3 M01 dcc 7.5", "3 M01 spa ten"},
		},
		{
			name: "dates",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  effective_date: {column: From, formats: ["02/01/2006", "2 Jan 2006"]}
`,
			input: "Emp,From\n1,01/04/2026\n2,7 Oct 2026\n3,31/02/2026\n4,2026-04-01\n5,\n6,01/04/2026\n",
			want: []map[string]string{
				{"effective_date": "2026-04-01"},
				{"effective_date": "2026-10-07"},
				{"effective_date": "null"},
				{"effective_date": "null"},
				{"effective_date": "null"},
				{"effective_date": "2026-04-01"},
			},
			// 31/02/2026 has the format's shape but names no day: V4, not M02.
			findings: []string{"4 V4 effective_date 31/02/2026", "5 M02 effective_date 2026-04-01"},
		},
		{
			name: "default date format is ISO",
			mapping: `version: 1
name: t
format: jsonl
fields:
  effective_date: {path: from}
`,
			input: `{"from": "2026-04-01"}` + "\n" + `{"from": "01/04/2026"}` + "\n",
			want:  []map[string]string{{"effective_date": "2026-04-01"}, {"effective_date": "null"}},
			findings: []string{
				"2 M02 effective_date 01/04/2026",
			},
		},
		{
			name: "rota frequency spellings",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  on_call_frequency_n: {column: Rota}
`,
			input: "Emp,Rota\n" +
				"1,1 in 6\n2,1:6\n3,6\n4,1-in-6\n5,\n6,none\n7,0\n8,2 in 6\n9,One in 8\n10,1 in 7.5\n11,weekly\n",
			want: []map[string]string{
				{"on_call_frequency_n": "6"}, {"on_call_frequency_n": "6"}, {"on_call_frequency_n": "6"}, {"on_call_frequency_n": "6"},
				{"on_call_frequency_n": "null"}, {"on_call_frequency_n": "null"}, {"on_call_frequency_n": "null"},
				{"on_call_frequency_n": "null"},
				{"on_call_frequency_n": "8"}, {"on_call_frequency_n": "7.5"},
				{"on_call_frequency_n": "null"},
			},
			findings: []string{"9 M03 on_call_frequency_n 2 in 6", "12 M03 on_call_frequency_n weekly"},
		},
		{
			name: "bands and integers",
			mapping: `version: 1
name: t
format: jsonl
fields:
  employee_number: {path: emp}
  on_call_band_wales: {path: band}
`,
			input: `{"emp": "1", "band": "Band 2"}` + "\n" +
				`{"emp": "2", "band": 3}` + "\n" +
				`{"emp": "3", "band": "band  1"}` + "\n" +
				`{"emp": "4", "band": "2.5"}` + "\n" +
				`{"emp": "5", "band": null}` + "\n",
			want: []map[string]string{
				{"on_call_band_wales": "2"}, {"on_call_band_wales": "3"}, {"on_call_band_wales": "1"},
				{"on_call_band_wales": "null"}, {"on_call_band_wales": "null"},
			},
			findings: []string{"4 M11 on_call_band_wales 2.5"},
		},
		{
			name: "long csv activities summed into several targets",
			mapping: `version: 1
name: t
format: csv
fields:
  assignment_number: {column: Asg}
  effective_date: {column: From}
  total_contracted_pas: {expr: dcc + spa}
group:
  by: [assignment_number, effective_date]
activities:
  category: {column: Activity}
  amount: {column: Hours, unit: hours}
  premium: {column: Premium, true_values: [Y, yes], false_values: [N, no]}
  categories:
    Clinic: [dcc, outpatients]
    Theatre: [dcc, theatre_total, theatre_elective]
    CPD: [spa, cpd]
    Leave: []
`,
			input: "Asg,From,Activity,Hours,Premium\n" +
				"1,2026-04-01,Clinic,8,N\n" +
				"1,2026-04-01,clinic,4,\n" + // case-insensitive category, blank flag is not premium
				"1,2026-04-01,Theatre,6,Y\n" + // premium: 3 hours a PA
				"1,2026-04-01,CPD,6,no\n" +
				"1,2026-04-01,Leave,40,N\n" +
				"2,2026-04-01,Clinic,4,N\n" +
				"2,2026-04-01,Gardening,4,N\n" + // unknown category
				"2,2026-04-01,CPD,2,maybe\n", // premium flag neither yes nor no
			want: []map[string]string{
				{"assignment_number": "1", "dcc": "5", "outpatients": "3", "theatre_total": "2", "theatre_elective": "2", "spa": "1.5", "cpd": "1.5", "total_contracted_pas": "6.5", "theatre_non_elective": "null"},
				{"assignment_number": "2", "dcc": "1", "outpatients": "1", "spa": "null", "total_contracted_pas": "1"},
			},
			findings: []string{"8 M07 Gardening", "9 M12 maybe"},
		},
		{
			name: "annualised json activities",
			mapping: `version: 1
name: t
format: json
json: {records: plans}
units: {working_weeks: 42}
fields:
  assignment_number: {path: asg}
activities:
  path: work
  category: {path: what}
  amount: {path: hours, unit: hours}
  occurrences: {path: perYear}
  premium: {path: premium, true_values: ["true"], false_values: ["false"]}
  categories:
    Clinic: [dcc, outpatients]
    Night theatre: [dcc, theatre_total, theatre_non_elective]
    Teaching: [spa, teaching_education]
`,
			input: `{"plans": [
  {"asg": "1", "work": [
    {"what": "Clinic", "hours": 4, "perYear": 42, "premium": false},
    {"what": "Night theatre", "hours": 3, "perYear": 84, "premium": true},
    {"what": "Teaching", "hours": "2", "perYear": null},
    {"what": "Clinic", "hours": 4, "perYear": 21}
  ]},
  {"asg": "2", "work": [
    {"what": "Golf", "hours": 4, "perYear": 42},
    {"what": "Teaching", "hours": "four", "perYear": 42},
    {"what": null, "hours": 1}
  ]}
]}`,
			want: []map[string]string{
				// Clinic: 4 h × 42 / 42 / 4 = 1, plus 4 × 21 / 42 / 4 = 0.5;
				// night theatre at premium: 3 h × 84 / 42 / 3 = 2;
				// teaching without occurrences is weekly: 2 / 4 = 0.5.
				{"assignment_number": "1", "dcc": "3.5", "outpatients": "1.5", "theatre_total": "2", "theatre_non_elective": "2", "spa": "0.5", "teaching_education": "0.5"},
				{"assignment_number": "2", "dcc": "null", "spa": "null"},
			},
			findings: []string{"8 M07 Golf", "8 M01 four", "8 M04"},
		},
		{
			name: "filters",
			mapping: `version: 1
name: t
format: csv
filters:
  - column: Status
    equals: Signed Off
    ignore_case: true
  - column: Group
    in: [Medical and Dental, M&D]
  - column: Site
    not_in: [Closed ward]
  - column: Emp
    matches: "^[0-9]{8}$"
  - expr: column("Trust code") != "X" && column(" trust CODE ") != "Y"
fields:
  employee_number: {column: Emp}
`,
			input: "Emp,Status,Group,Site,Trust code\n" +
				"10000001,Signed Off,Medical and Dental,Main,A\n" +
				"10000002, signed off ,M&D,Annex,\n" +
				"10000003,Draft,M&D,Main,A\n" +
				"10000004,Signed Off,m&d,Main,A\n" + // in is case-sensitive
				"10000005,Signed Off,M&D,Closed ward,A\n" +
				"1000006,Signed Off,M&D,Main,A\n" +
				"10000007,Signed Off,M&D,Main,X\n" +
				"10000008,Signed Off,M&D,Main,Y\n" +
				"10000009,SIGNED OFF,M&D,,Z\n",
			want: []map[string]string{{"employee_number": "10000001"}, {"employee_number": "10000002"}, {"employee_number": "10000009"}},
		},
		{
			name: "json filters with ignore_case matches",
			mapping: `version: 1
name: t
format: jsonl
filters:
  - path: plan.status
    matches: "^signed"
    ignore_case: true
  - expr: column("plan.kind") in ["a", "b"]
fields:
  employee_number: {path: emp}
`,
			input: `{"emp": "1", "plan": {"status": "Signed off", "kind": "a"}}` + "\n" +
				`{"emp": "2", "plan": {"status": "draft", "kind": "a"}}` + "\n" +
				`{"emp": "3", "plan": {"status": "SIGNED", "kind": "c"}}` + "\n" +
				`{"emp": "4", "plan": {"status": "signed", "kind": " b "}}` + "\n",
			want: []map[string]string{{"employee_number": "1"}, {"employee_number": "4"}},
		},
		{
			name: "computed fields",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  assignment_number: {expr: 'employee_number + "-2"'}
  dcc: {column: DCC}
  spa: {column: SPA}
  total_contracted_pas: {expr: dcc + spa + 0.25}
  apa_eps: {expr: 'total_contracted_pas > 10 ? total_contracted_pas - 10 : 0'}
  on_call_category: {expr: 'on_call_supplement_pct == nil ? nil : "A"'}
  on_call_supplement_pct: {column: Supplement}
`,
			input: "Emp,DCC,SPA,Supplement\n10000001,8,2.5,5\n10000002,7,2,\n",
			want: []map[string]string{
				{"assignment_number": "10000001-2", "total_contracted_pas": "10.75", "apa_eps": "0.75", "on_call_category": "A"},
				{"assignment_number": "10000002-2", "total_contracted_pas": "9.25", "apa_eps": "0", "on_call_category": "null"},
			},
		},
		{
			name: "columns found ignoring case and spacing",
			mapping: `version: 1
name: t
format: csv
filters:
  - column: Staff Group
    equals: Medical and Dental
fields:
  employee_number: {column: Employee Number}
  assignment_number: {column: assignment  number}
`,
			input: "EMPLOYEE   NUMBER,  Assignment Number  ,staff group\n10000001,10000001,Medical and Dental\n",
			want:  []map[string]string{{"employee_number": "10000001", "assignment_number": "10000001"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustLoad(t, tt.mapping)
			plans, findings := apply(t, m, tt.input)
			if len(plans) != len(tt.want) {
				t.Fatalf("got %d plans, want %d", len(plans), len(tt.want))
			}
			for i, w := range tt.want {
				t.Run(fmt.Sprint("plan", i+1), func(t *testing.T) { checkPlan(t, plans[i], w) })
			}
			if !slices.Equal(findings, tt.findings) {
				t.Errorf("findings:\n got  %q\n want %q", findings, tt.findings)
			}
		})
	}
}

func TestBindMissingColumns(t *testing.T) {
	m := mustLoad(t, `version: 1
name: t
format: csv
filters:
  - column: Status
    equals: Signed Off
fields:
  employee_number: {column: Employee Number}
  assignment_number: {column: Assignment}
  staff_group: {column: Group, default: Medical and Dental}
  dcc: {column: DCC}
  spa: {column: DCC}
group:
  by: [assignment_number]
activities:
  category: {column: Activity}
  amount: {column: Hours, unit: hours}
  premium: {column: Premium, true_values: [Y]}
  categories: {Clinic: [outpatients]}
`)
	_, err := m.Bind([]string{"employee number", "Hours", "Notes"})
	var mc *mapping.MissingColumnsError
	if !errors.As(err, &mc) {
		t.Fatalf("Bind error = %v (%T), want *MissingColumnsError", err, err)
	}
	wantCols := []string{"Assignment", "DCC", "Status", "Activity", "Premium"}
	if !slices.Equal(mc.Columns, wantCols) {
		t.Errorf("Columns = %q, want %q", mc.Columns, wantCols)
	}
	if !slices.Equal(mc.Header, []string{"employee number", "Hours", "Notes"}) {
		t.Errorf("Header = %q", mc.Header)
	}
	want := `the file has no column "Assignment", "DCC", "Status", "Activity", "Premium" (columns found: "employee number", "Hours", "Notes")`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}

	// JSON mappings are not bound to a header.
	jm := mustLoad(t, "version: 1\nname: j\nformat: json\nfields: {dcc: {path: a.b}}\n")
	if _, err := jm.Bind(nil); err != nil {
		t.Errorf("Bind of a JSON mapping: %v", err)
	}
}

func TestSourceOf(t *testing.T) {
	m := mustLoad(t, `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp No}
  staff_group: {value: Medical and Dental}
  dcc: {column: DCC}
  total_contracted_pas: {expr: dcc * 2}
`)
	for id, want := range map[record.ID]string{
		record.EmployeeNumber:     "Emp No",
		record.StaffGroup:         "(fixed value)",
		record.TotalContractedPAs: "(computed: dcc * 2)",
		record.SPA:                "",
	} {
		if got := m.SourceOf(id); got != want {
			t.Errorf("SourceOf(%s) = %q, want %q", id, got, want)
		}
	}
}

// --- Fuzz --------------------------------------------------------------------

// yamlLines counts lines as YAML does: CRLF, CR, LF, NEL, LS and PS end a
// line.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("../../mappings/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		// Broken variants: cut short, a tab, a stray key, an alias.
		f.Add(data[:len(data)/2])
		f.Add(bytes.Replace(data, []byte("\n  "), []byte("\n\t"), 1))
		f.Add(append(bytes.Clone(data), "\nsheet: 1\nfields: {}\n"...))
		f.Add(bytes.Replace(data, []byte("format:"), []byte("format: &f"), 1))
	}
	f.Add([]byte(badCSV))
	f.Add([]byte(badJSON))
	f.Add([]byte(""))
	f.Add([]byte("{"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("version: 1\rname: x\rformat: [\r"))
	f.Add([]byte(laughs))
	f.Add([]byte("version: 1\nname: x\nformat: csv\nfields:\n  dcc: {column: D, per: year}\n  x.y: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mapping.Load("fuzz.yaml", data)
		if err == nil {
			if m == nil {
				t.Fatal("Load returned neither a mapping nor an error")
			}
			return
		}
		var ps mapping.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("Load error %T is not mapping.Problems: %v", err, err)
		}
		if len(ps) == 0 {
			t.Fatal("Load returned an empty Problems")
		}
		lines := yamlLines(data)
		for _, p := range ps {
			if p.Line < 1 || p.Line > lines+1 || p.Col < 1 {
				t.Errorf("problem at %d:%d outside the %d-line input: %s", p.Line, p.Col, lines, p.Message)
			}
			if p.File != "fuzz.yaml" {
				t.Errorf("problem file %q, want fuzz.yaml", p.File)
			}
		}
	})
}
