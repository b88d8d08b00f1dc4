package mapping_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

type nullSink struct{ n int }

func (s *nullSink) Add(finding.Finding) error { s.n++; return nil }

// inferAndCheck drafts a mapping from sample and requires it to pass
// mapping check (loadDraft).
func inferAndCheck(t *testing.T, name string, sample []byte) (*mapping.Draft, string, *mapping.Mapping) {
	t.Helper()
	d, err := mapping.Infer(name, sample)
	if err != nil {
		t.Fatalf("Infer(%s): %v", name, err)
	}
	y, m := loadDraft(t, name+".draft.yaml", d, 42)
	return d, string(y), m
}

// loadDraft loads d's draft as mapping check does. A draft that needs
// units.working_weeks (NeedsWorkingWeeks) must be refused as drafted,
// saying so, and pass once given weeks, as the operator completes it: it
// is then the completed draft that is returned.
func loadDraft(t testing.TB, name string, d *mapping.Draft, weeks int) ([]byte, *mapping.Mapping) {
	t.Helper()
	y := d.YAML()
	m, err := mapping.Load(name, y)
	if why := d.NeedsWorkingWeeks(); why != "" {
		if err == nil || !strings.Contains(err.Error(), "needs units.working_weeks") && !strings.Contains(err.Error(), "need units.working_weeks") {
			t.Fatalf("the draft needs units.working_weeks (%s), but mapping check says %v\n%s", why, err, y)
		}
		d.WorkingWeeks = weeks
		y = d.YAML()
		m, err = mapping.Load(name, y)
	}
	if err != nil {
		t.Fatalf("the draft does not pass mapping check: %v\n%s", err, y)
	}
	return y, m
}

func field(d *mapping.Draft, key string) *mapping.Match {
	for i := range d.Matches {
		if d.Matches[i].Field == key {
			return &d.Matches[i]
		}
	}
	return nil
}

func TestInferSamples(t *testing.T) {
	type want struct {
		format, encoding, delimiter, records string
		fields                               map[string]string // field → source
		formats                              []string
	}
	cases := map[string]want{
		"sard-wide/jobplans-2026-04.csv": {format: "csv", encoding: "utf-8-bom", delimiter: ",",
			fields:  map[string]string{"employee_number": "Employee Number", "assignment_number": "Assignment Number", "effective_date": "Effective From", "total_contracted_pas": "Total PAs", "dcc": "DCC", "spa": "SPA", "on_call_frequency_n": "On-Call Rota", "on_call_supplement_pct": "On-Call Supplement %", "theatre_non_elective": "Theatre Non-Elective", "private_professional_services": "Private Practice"},
			formats: []string{"02/01/2006"}},
		"excel-long/activities.csv": {format: "csv", encoding: "windows-1252", delimiter: ";",
			fields:  map[string]string{"employee_number": "Employee No", "assignment_number": "Assignment", "effective_date": "Start Date", "on_call_frequency_n": "Rota", "on_call_category": "OnCall Cat", "on_call_supplement_pct": "Supplement"},
			formats: []string{"02/01/2006"}},
		"allocate-nested/jobplans.json": {format: "json", records: "jobPlans",
			fields:  map[string]string{"employee_number": "employee.number", "assignment_number": "employee.assignment", "staff_group": "employee.staffGroup", "contract_type": "contract", "on_call_frequency_n": "onCall.frequency", "unpredictable_on_call": "onCall.unpredictableHours"},
			formats: []string{"2006-01-02"}},
		"wales-sessions/plans.jsonl": {format: "jsonl",
			fields:  map[string]string{"employee_number": "emp_no", "assignment_number": "asg_no", "vpd_code": "vpd", "effective_date": "effective", "total_contracted_pas": "sessions.total", "dcc": "sessions.dcc", "on_call_band_wales": "on_call.band", "on_call_frequency_n": "on_call.rota"},
			formats: []string{"2006-01-02"}},
	}
	samples, _ := filepath.Glob("../../samples/*/*.*")
	tested := 0
	for _, path := range samples {
		if strings.HasSuffix(path, ".md") {
			continue
		}
		rel := strings.TrimPrefix(filepath.ToSlash(path), "../../samples/")
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, y, m := inferAndCheck(t, filepath.Base(path), data)
			// The draft reads the sample: no missing columns, plans built.
			var out bytes.Buffer
			sink := &nullSink{}
			counts, err := transform.Convert(context.Background(), m, bytes.NewReader(data), transform.Outputs{Records: &out, Rejected: io.Discard, Findings: sink, SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatalf("converting the sample with its draft: %v\n%s", err, y)
			}
			if counts.PlansBuilt == 0 {
				t.Errorf("the draft builds no plans from the sample\n%s", y)
			}
			w, ok := cases[rel]
			if !ok {
				return // a new sample: the checks above are enough
			}
			tested++
			if d.Format != w.format || d.Encoding != w.encoding || d.RecordsPath != w.records {
				t.Errorf("format %q encoding %q records %q, want %q %q %q", d.Format, d.Encoding, d.RecordsPath, w.format, w.encoding, w.records)
			}
			if w.delimiter != "" && string(d.Delimiter) != w.delimiter {
				t.Errorf("delimiter %q, want %q", d.Delimiter, w.delimiter)
			}
			for f, src := range w.fields {
				got := field(d, f)
				if got == nil {
					t.Errorf("%s not mapped, want %q\n%s", f, src, y)
					continue
				}
				if got.Source != src {
					t.Errorf("%s from %q, want %q", f, got.Source, src)
				}
			}
			if eff := field(d, "effective_date"); eff == nil || !slices.Equal(eff.Formats, w.formats) {
				t.Errorf("effective_date formats: got %+v, want %v", eff, w.formats)
			}
		})
	}
	if tested < 4 {
		t.Errorf("checked %d known samples, want 4", tested)
	}
}

func TestInferSynonyms(t *testing.T) {
	csv := "Emp No,Asg Number,Effective From,Total Contracted PAs,DCC PAs,Supporting Professional Activities,On-call rota,Cat,Supplement (%),Theatre - emergency,Private work,Last Name,First Name,Notes\n" +
		"10000001,10000001-2,13/04/2026,10,7.5,2.5,1 in 4,Cat A,8,1,0,Testperson,Alex,locum cover\n" +
		"10000002,10000002,02/05/2026,10,7.5,2.5,,,,0,0,Testname,Jo,\n"
	d, y, _ := inferAndCheck(t, "synonyms.csv", []byte(csv))
	for f, src := range map[string]string{
		"employee_number":               "Emp No",
		"assignment_number":             "Asg Number",
		"effective_date":                "Effective From",
		"total_contracted_pas":          "Total Contracted PAs",
		"dcc":                           "DCC PAs",
		"spa":                           "Supporting Professional Activities",
		"on_call_frequency_n":           "On-call rota",
		"on_call_category":              "Cat",
		"on_call_supplement_pct":        "Supplement (%)",
		"theatre_non_elective":          "Theatre - emergency",
		"private_professional_services": "Private work",
		"surname":                       "Last Name",
		"forenames":                     "First Name",
	} {
		got := field(d, f)
		if got == nil || got.Source != src {
			t.Errorf("%s: got %+v, want from %q\n%s", f, got, src, y)
		}
	}
	if !slices.Contains(d.Unused, "Notes") {
		t.Errorf("Notes should be unused: %v", d.Unused)
	}
	for _, want := range []string{
		`employee_number: {column: "Emp No", required: true}`,
		`effective_date: {column: "Effective From", formats: ["02/01/2006"]}`, // 13/04 is dd/mm
		`"Cat A": "A"`, // lookup drafted from the values
		`# Not used: "Notes".`,
	} {
		if !strings.Contains(y, want) {
			t.Errorf("draft lacks %q:\n%s", want, y)
		}
	}
}

func TestInferUncertainMatchIsACommentedSuggestion(t *testing.T) {
	csv := "Employee Number,Assignment Number,Start Date,Clinical,Total\n10000001,10000001,2026-04-01,7.5,10\n"
	d, y, m := inferAndCheck(t, "vague.csv", []byte(csv))
	if field(d, "dcc") != nil {
		t.Errorf("dcc mapped from a vague name:\n%s", y)
	}
	if !strings.Contains(y, `  # dcc: {column: "Clinical"}  # 65% match: check`) {
		t.Errorf("no commented suggestion for dcc:\n%s", y)
	}
	if m.SourceOf(mustLookup(t, "dcc")) != "" {
		t.Error("a suggestion became a field")
	}
}

func TestInferDialects(t *testing.T) {
	tests := []struct {
		name, text   string
		delim        rune
		decimalComma bool
		headerRow    int
		formats      []string
	}{
		{"tab", "Assignment Number\tEmployee Number\tStart Date\tDCC\n10000001\t10000001\t04/13/2026\t7.5\n", '\t', false, 1, []string{"01/02/2006"}},
		{"pipe", "Assignment Number|Employee Number|Start Date|DCC\n10000001|10000001|2026-04-01|7.5\n", '|', false, 1, []string{"2006-01-02"}},
		{"semicolon with decimal comma", "Assignment Number;Employee Number;Start Date;DCC\n10000001;10000001;1/4/2026;7,5\n10000002;10000002;15/4/2026;8\n", ';', true, 1, []string{"02/01/2006", "2/1/2006"}},
		{"title rows above the header", "Job plans export\nPrinted 2026-04-02\nAssignment Number,Employee Number,Start Date,DCC\n10000001,10000001,01/04/2026,7.5\n", ',', false, 3, []string{"02/01/2006"}},
		{"quoted commas", "Assignment Number,Employee Number,Surname,Start Date\n10000001,10000001,\"Comma, Surname\",01/04/2026\n", ',', false, 1, []string{"02/01/2006"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, y, _ := inferAndCheck(t, "sample.csv", []byte(tt.text))
			if d.Delimiter != tt.delim || d.DecimalComma != tt.decimalComma || max(d.HeaderRow, 1) != tt.headerRow {
				t.Errorf("delimiter %q decimal comma %v header row %d, want %q %v %d\n%s", d.Delimiter, d.DecimalComma, d.HeaderRow, tt.delim, tt.decimalComma, tt.headerRow, y)
			}
			if eff := field(d, "effective_date"); eff == nil || !slices.Equal(eff.Formats, tt.formats) {
				t.Errorf("effective_date: got %+v, want formats %v\n%s", eff, tt.formats, y)
			}
		})
	}
}

func TestInferEncodings(t *testing.T) {
	text := "Assignment Number,Employee Number,Surname\n10000001,10000001,Siân\n"
	cp1252, err := charmap.Windows1252.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"utf-8", []byte(text), ""},
		{"utf-8 with BOM", append([]byte{0xEF, 0xBB, 0xBF}, text...), "utf-8-bom"},
		{"windows-1252", cp1252, "windows-1252"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, y, m := inferAndCheck(t, "enc.csv", tt.data)
			if d.Encoding != tt.want {
				t.Errorf("encoding %q, want %q", d.Encoding, tt.want)
			}
			if _, err := transform.Convert(context.Background(), m, bytes.NewReader(tt.data), transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &nullSink{}, SpoolDir: t.TempDir()}); err != nil {
				t.Errorf("convert with the draft: %v\n%s", err, y)
			}
		})
	}
}

func TestInferNestedJSON(t *testing.T) {
	doc := `{"meta": {"count": 2, "tags": [{"a": 1}]},
  "data": {"plans": {"items": [
    {"person": {"empNo": "10000001", "assignmentNo": "10000001"}, "plan": {"startDate": "01/04/2026", "totals": {"totalPAs": 10, "dccPAs": 7.5, "spaPAs": 2.5}}},
    {"person": {"empNo": "10000002", "assignmentNo": "10000002"}, "plan": {"startDate": "14/04/2026", "totals": {"totalPAs": 10, "dccPAs": 8, "spaPAs": 2}}}
  ]}}}`
	d, y, _ := inferAndCheck(t, "nested.json", []byte(doc))
	if d.Format != "json" || d.RecordsPath != "data.plans.items" {
		t.Errorf("format %s records %q, want json data.plans.items\n%s", d.Format, d.RecordsPath, y)
	}
	for f, src := range map[string]string{"employee_number": "person.empNo", "assignment_number": "person.assignmentNo", "effective_date": "plan.startDate",
		"total_contracted_pas": "plan.totals.totalPAs", "dcc": "plan.totals.dccPAs", "spa": "plan.totals.spaPAs"} {
		if got := field(d, f); got == nil || got.Source != src {
			t.Errorf("%s: got %+v, want %q\n%s", f, got, src, y)
		}
	}
}

func TestInferRefusesWhatItCannotRead(t *testing.T) {
	for name, text := range map[string]string{
		"empty":        "  \n",
		"one column":   "hello\nworld\n",
		"broken json":  `{"a": [1, 2`,
		"no job plans": "Colour,Size\nred,9\n",
	} {
		if d, err := mapping.Infer(name, []byte(text)); err == nil {
			t.Errorf("%s: Infer succeeded:\n%s", name, d.YAML())
		}
	}
}

func mustLookup(t *testing.T, key string) record.ID {
	t.Helper()
	id, ok := record.Lookup(key)
	if !ok {
		t.Fatalf("no field %s", key)
	}
	return id
}

// A two-digit year is never given a century silently: the draft says which
// (2000-2099) in the mapping and in a comment, and so passes mapping check.
func TestInferTwoDigitYears(t *testing.T) {
	csv := "Employee Number,Assignment Number,Effective From,Total PAs\n10000001,10000001,13/04/26,10\n10000002,10000002,02/05/26,10\n"
	_, y, m := inferAndCheck(t, "yy.csv", []byte(csv))
	if !strings.Contains(y, "two_digit_years_from: 2000") || !strings.Contains(y, "two-digit years read as 2000-2099: check") {
		t.Errorf("draft does not say the century of two-digit years:\n%s", y)
	}
	plans, findings := apply(t, m, csv)
	if len(plans) != 2 || value(plans[0], record.EffectiveDate) != "2026-04-13" || value(plans[1], record.EffectiveDate) != "2026-05-02" || len(findings) > 0 {
		t.Errorf("13/04/26 and 02/05/26 not read as 2026: %d plans, findings %q", len(plans), findings)
	}
}

// TestInferAnnualAmounts: amounts a year's are written live, with
// per: year (an activity's amount or a field) or the activities'
// occurrences a year, and units.working_weeks is left out with a comment:
// mapping check refuses the draft until the operator gives it, and the
// draft then converts them right. Before, the draft left such activities
// as a comment while mapping the totals, so plans were sent with their
// sub-items (outpatients, theatre...) absent.
func TestInferAnnualAmounts(t *testing.T) {
	plan := func(emp, acts string) string {
		return `{"employeeNo": "` + emp + `", "assignmentNo": "` + emp + `", "startDate": "2026-04-01", "dccPAs": 7.5, "spaPAs": 2.5, "activities": [` + acts + `]}`
	}
	for _, tt := range []struct {
		name, sample string
		line         string // a line of the draft
		check        string // what mapping check says of the draft as written
		want         string // a value as mapped (mappedValues, row by row) once working_weeks is 42
	}{{
		name: "hours a year",
		// Two records: the second must not take hoursPerYear for the
		// occurrences as well.
		sample: `{"jobPlans": [` + plan("10000001", `{"type": "Outpatient clinic", "hoursPerYear": 168}, {"type": "CPD", "hoursPerYear": 84}`) + `, ` +
			plan("10000002", `{"type": "Outpatient clinic", "hoursPerYear": 336}`) + `]}`,
		line:  `  amount: {path: "hoursPerYear", unit: hours, per: year}`,
		check: "activities.amount: per: year needs units.working_weeks",
		want:  " outpatients=1 ", // 168 h a year ÷ 42 weeks ÷ 4 h a PA
	}, {
		name: "occurrences a year",
		sample: `{"jobPlans": [` + plan("10000001", `{"type": "Outpatient clinic", "hoursPerOccurrence": 4, "occurrencesPerYear": 21}`) + `, ` +
			plan("10000002", `{"type": "CPD", "hoursPerOccurrence": 2, "occurrencesPerYear": 42}`) + `]}`,
		line:  `  occurrences: {path: "occurrencesPerYear"}  # a year: amount × occurrences ÷ units.working_weeks`,
		check: "activities.occurrences: annual occurrences need units.working_weeks",
		want:  " outpatients=0.5 ", // 4 h × 21 ÷ 42 weeks ÷ 4 h a PA
	}, {
		name: "plain and premium hours a year, one row an activity",
		// "Premium Hrs per year" is an amount, not the occurrences.
		sample: "Plan Ref,Employee Number,Assignment Number,Effective From,Activity,Std Hrs per year,Premium Hrs per year\n" +
			"P1,10000001,10000001,01/04/2026,OPD,168,0\nP1,10000001,10000001,01/04/2026,CPD,84,42\n",
		line:  `      - {column: "Premium Hrs per year", unit: premium_hours, per: year}`,
		check: "activities.amount.sum.1: per: year needs units.working_weeks",
		want:  " cpd=0.833333 ", // 84 h ÷ 42 ÷ 4 + 42 premium h ÷ 42 ÷ 3
	}, {
		name:   "a field in hours a year",
		sample: "Employee Number,Assignment Number,Effective From,DCC,SPA,CPD hours per year\n10000001,10000001,01/04/2026,7.5,2.5,84\n",
		line:   `  cpd: {column: "CPD hours per year", unit: hours, per: year}`,
		check:  "fields.cpd: per: year needs units.working_weeks",
		want:   " cpd=0.5 ", // 84 h a year ÷ 42 weeks ÷ 4 h a PA
	}} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := mapping.Infer("export", []byte(tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			y := string(d.YAML())
			if !slices.ContainsFunc(strings.Split(y, "\n"), func(l string) bool { return strings.HasPrefix(l, tt.line) }) {
				t.Errorf("the draft has no line %q\n%s", tt.line, y)
			}
			if strings.Contains(y, "\nunits:") || !strings.Contains(y, "# units.working_weeks is left out on purpose") || !strings.Contains(y, "#   working_weeks: ?\n") {
				t.Errorf("the draft does not leave units.working_weeks out, saying why\n%s", y)
			}
			if d.NeedsWorkingWeeks() == "" {
				t.Error("NeedsWorkingWeeks is empty")
			}
			if _, err := mapping.Load("draft.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), tt.check) {
				t.Errorf("mapping check of the draft: %v, want %q", err, tt.check)
			}
			if err := d.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			completed, m := loadDraft(t, "draft.yaml", d, 42)
			values := strings.ReplaceAll(mappedValues(t, m, tt.sample), "\n", " \n")
			if !strings.Contains(values, tt.want) {
				t.Errorf("values as mapped:\n%s\nwant%s\ndraft:\n%s", values, tt.want, completed)
			}
		})
	}
}

// TestInferOccurrencesOfNoPeriod: occurrences that do not say they are a
// year's (the only ones a mapping reads) leave the activities as a
// comment saying so, and the draft needs no working weeks.
func TestInferOccurrencesOfNoPeriod(t *testing.T) {
	sample := `{"jobPlans": [{"employeeNo": "10000001", "assignmentNo": "10000001", "startDate": "2026-04-01", "activities": [{"type": "Outpatient clinic", "hoursPerOccurrence": 4, "occurrences": 2}]}]}`
	d, y, _ := inferAndCheck(t, "export.json", []byte(sample))
	if !strings.Contains(strings.ReplaceAll(y, "\n# ", " "), `the occurrences ("occurrences") do not say they are a year's`) || strings.Contains(y, "\nactivities:") {
		t.Errorf("the activities are not left as a comment saying why\n%s", y)
	}
	if why := d.NeedsWorkingWeeks(); why != "" {
		t.Errorf("NeedsWorkingWeeks = %q, want none", why)
	}
}
