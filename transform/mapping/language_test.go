package mapping_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Tests of the mapping language's features beyond single columns: sums of
// columns, expressions over the row, lookups keyed on several columns,
// percent cells, one column split by shape, activity filters.

func TestLanguageFeatures(t *testing.T) {
	tests := []struct {
		name     string
		mapping  string
		input    string
		want     []map[string]string
		findings []string // "line rule field value"
	}{
		{
			name: "activity amount from plain and premium hour columns (sum)",
			mapping: `version: 1
name: t
format: csv
units: {hours_per_pa: 4, premium_hours_per_pa: 3}
fields:
  assignment_number: {column: Asg}
group:
  by: [assignment_number]
activities:
  category: {column: Code}
  amount:
    sum:
      - {column: Plain hours, unit: hours}
      - {column: Premium hours, unit: premium_hours}
  categories: {OPD: [dcc, outpatients], CPD: [spa, cpd]}
`,
			// 10 plain hours = 2.5 PAs, 3 premium hours = 1 PA; a blank
			// part counts as nothing; a bad cell names its column.
			input: "Asg,Code,Plain hours,Premium hours\n1,OPD,10,3\n1,CPD,6,\n2,OPD,4,x\n",
			want: []map[string]string{
				{"dcc": "3.5", "outpatients": "3.5", "spa": "1.5", "cpd": "1.5"},
				{"dcc": "null"},
			},
			findings: []string{"4 M01 x"},
		},
		{
			name: "activity amount as an expression over the row",
			mapping: `version: 1
name: t
format: csv
units: {hours_per_pa: 4, premium_hours_per_pa: 3}
fields:
  assignment_number: {column: Asg}
group:
  by: [assignment_number]
activities:
  category: {column: Code}
  amount: {expr: 'number(column("Plain")) / hours_per_pa + (number(column("Premium")) ?? 0) / premium_hours_per_pa'}
  categories: {OPD: [dcc, outpatients]}
`,
			input: "Asg,Code,Plain,Premium\n1,OPD,10,3\n1,OPD,2,\n2,OPD,ten,\n",
			want:  []map[string]string{{"dcc": "4", "outpatients": "4"}, {"dcc": "null"}},
			findings: []string{
				`4 M06`, // "ten" is not a number
			},
		},
		{
			name: "field expressions read columns; the result goes through the lookup",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  contract_type:
    expr: 'column("Grade") + "/" + column("Contract")'
    unmatched: error
    lookup:
      Consultant/NHS: consultant_england_2003
      Consultant/WAL: consultant_wales
  on_call_category: {expr: 'column("Cat") == "" ? nil : upper(column("Cat"))'}
`,
			input: "Emp,Grade,Contract,Cat\n1,Consultant,NHS,a\n2,consultant,wal,\n3,Locum,NHS,b\n",
			want: []map[string]string{
				{"contract_type": "consultant_england_2003", "on_call_category": "A"},
				{"contract_type": "consultant_wales", "on_call_category": "null"},
				{"contract_type": "null", "on_call_category": "B"},
			},
			findings: []string{"4 M05 contract_type Locum/NHS"},
		},
		{
			name: "lookup keyed on two columns",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  contract_type:
    columns: [Grade, Contract]
    lookup:
      Consultant:
        "2003": consultant_england_2003
        Wales: consultant_wales
      Specialty Doctor:
        "2008": specialty_doctor_2008
        "2021": specialty_doctor_2021
`,
			input: "Emp,Grade,Contract\n1,Consultant,2003\n2,SPECIALTY DOCTOR,2021\n3,Consultant,2021\n4,,\n",
			want: []map[string]string{
				{"contract_type": "consultant_england_2003"},
				{"contract_type": "specialty_doctor_2021"},
				{"contract_type": "null"},
				{"contract_type": "null"},
			},
			findings: []string{"4 M05 contract_type Consultant + 2021"},
		},
		{
			name: "percent cells",
			mapping: `version: 1
name: t
format: csv
csv: {delimiter: ";"}
numbers: {decimal_comma: true}
fields:
  employee_number: {column: Emp}
  on_call_supplement_pct: {column: Supplement}
  dcc: {column: DCC}
`,
			input: "Emp;Supplement;DCC\n1;5%;7\n2;5 %;7\n3;2,5;7\n4;5 pc;7\n5;5;7%\n",
			want: []map[string]string{
				{"on_call_supplement_pct": "5"}, {"on_call_supplement_pct": "5"}, {"on_call_supplement_pct": "2.5"},
				{"on_call_supplement_pct": "null"}, {"on_call_supplement_pct": "5", "dcc": "null"},
			},
			findings: []string{"5 M01 on_call_supplement_pct 5 pc", "6 M01 dcc 7%"},
		},
		{
			name: "one column split by shape into the supplement and the Welsh band",
			mapping: `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  on_call_supplement_pct: {column: On-call, when: {matches: '%$'}}
  on_call_band_wales: {column: On-call, when: {matches: '^band', ignore_case: true}}
`,
			input: "Emp,On-call\n1,5%\n2,Band 2\n3,\n4,five\n5,band 3\n",
			want: []map[string]string{
				{"on_call_supplement_pct": "5", "on_call_band_wales": "null"},
				{"on_call_supplement_pct": "null", "on_call_band_wales": "2"},
				{"on_call_supplement_pct": "null", "on_call_band_wales": "null"},
				{"on_call_supplement_pct": "null", "on_call_band_wales": "null"},
				{"on_call_band_wales": "3"},
			},
			findings: []string{"5 M16 on_call_supplement_pct five"},
		},
		{
			name: "activity filters leave out single activities",
			mapping: `version: 1
name: t
format: csv
filters:
  - {column: Activity status, equals: Deleted, scope: activity}
fields:
  assignment_number: {column: Asg}
group:
  by: [assignment_number]
activities:
  category: {column: Code}
  amount: {column: PAs}
  categories: {OPD: [dcc]}
`,
			input: "Asg,Code,PAs,Activity status\n1,OPD,2,Deleted\n1,OPD,3,Active\n",
			want:  []map[string]string{{"dcc": "2"}},
		},
		{
			name: "JSON: path() in field expressions, activity filters on the activity",
			mapping: `version: 1
name: t
format: jsonl
filters:
  - {path: cancelled, not_in: ["true"], scope: activity}
fields:
  assignment_number: {path: asg}
  on_call_band_wales: {expr: 'path("plan.onCall.band") == "" ? nil : int(path("plan.onCall.band"))'}
activities:
  path: items
  category: {path: code}
  amount: {path: pas}
  categories: {OPD: [outpatients]}
`,
			input: `{"asg": "1", "plan": {"onCall": {"band": "2"}}, "items": [{"code": "OPD", "pas": 2}, {"code": "OPD", "pas": 5, "cancelled": true}]}` + "\n" +
				`{"asg": "2", "plan": {}, "items": []}` + "\n",
			want: []map[string]string{{"on_call_band_wales": "2", "outpatients": "2"}, {"on_call_band_wales": "null"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustLoad(t, tt.mapping)
			plans, findings := apply(t, m, tt.input)
			if len(plans) != len(tt.want) {
				t.Fatalf("got %d plans, want %d (findings %q)", len(plans), len(tt.want), findings)
			}
			for i, w := range tt.want {
				t.Run(fmt.Sprint("plan", i+1), func(t *testing.T) { checkPlan(t, plans[i], w) })
			}
			for i := range findings {
				// Compare on the first parts only where the test gives fewer.
				if i < len(tt.findings) && strings.HasPrefix(findings[i], tt.findings[i]) {
					findings[i] = tt.findings[i]
				}
			}
			if !slices.Equal(findings, tt.findings) {
				t.Errorf("findings:\n got  %q\n want %q", findings, tt.findings)
			}
		})
	}
}

// Every key a mapping accepts is used; one that would be ignored, or that
// contradicts another, is a problem for mapping check.
func TestIgnoredKeysAreProblems(t *testing.T) {
	const base = "version: 1\nname: t\nformat: csv\n"
	for _, tt := range []struct{ text, want string }{
		{"units: {premium_hours_per_pa: 2.5}\nfields: {dcc: {column: D, unit: hours}}\n", "units.premium_hours_per_pa: no field or activity is in premium hours"},
		{"units: {hours_per_pa: 4}\nfields: {dcc: {column: D}}\n", "units.hours_per_pa: no field or activity is in hours"},
		{"units: {working_weeks: 42}\nfields: {dcc: {column: D}}\n", "units.working_weeks: no field is per: year"},
		{"rules: {total_include_apa: true}\nfields: {dcc: {column: D}}\n", `rules: unknown setting "total_include_apa"`},
		{"rules: {supplement_pct: {A: {hihg: 8, high: 8, medium: 5, low: 3}}}\nfields: {dcc: {column: D}}\n", `unknown setting "hihg"`},
		{"csv: {no_header: true, header_row: 2}\nfields: {dcc: {column: \"1\"}}\n", "csv.header_row: the file has no header"},
		{"csv: {quote: none, lazy_quotes: true}\nfields: {dcc: {column: D}}\n", "csv.lazy_quotes: with quote: none"},
		{"filters: [{expr: 'column(\"S\") == \"x\"', ignore_case: true}]\nfields: {dcc: {column: D}}\n", "an expr filter stands alone"},
		{"filters: [{column: S, equals: x, scope: activity}]\nfields: {dcc: {column: D}}\n", "scope: activity leaves out activities, but the mapping has no activities"},
		{"fields: {dcc: {expr: 'number(column(\"D\"))', unit: hours}}\n", "unit and per do not apply to a computed value"},
		{"fields: {dcc: {sum: [{column: A}, {column: B}], unit: hours}}\n", "go on the parts of a sum"},
		{"fields: {vpd_code: {sum: [{column: A}]}}\n", "sum adds up numbers"},
		{"fields: {contract_type: {columns: [A, B], unmatched: keep, lookup: {x: {y: other}}}}\n", "has no single value to keep"},
		{"fields: {contract_type: {columns: [A, B], lookup: {x: other}}}\n", "the lookup is keyed on 2 columns"},
		{"fields: {contract_type: {column: A, lookup: {x: {y: other}}}}\n", "a nested table needs one column per level"},
		{"fields: {contract_type: {columns: [A, B]}}\n", "add the lookup, nested one level per column"},
		{"fields: {effective_date: {column: A, two_digit_years_from: 2000}}\n", "two_digit_years_from applies only to a date format with a two-digit year"},
		{"fields:\n  on_call_supplement_pct: {column: S, when: {matches: '%'}}\n  on_call_band_wales: {column: S}\n", "which other fields split with when; give this field a when too"},
		{"fields: {assignment_number: {column: A}, dcc: {column: D}}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C, when: {equals: x}}\n  amount: {column: H}\n  categories: {x: [spa]}\n", "when applies to the fields of the record"},
		{"fields: {assignment_number: {column: A}}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C}\n  amount: {expr: '2'}\n  categories: {x: [spa]}\n", "an activity's expression reads the activity"},
		{"fields: {assignment_number: {column: A}}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C}\n  amount: {expr: 'number(column(\"H\")) + dcc'}\n  categories: {x: [spa]}\n", "unknown name dcc"},
		{"fields:\n  assignment_number: {column: A}\n  apa_eps: {expr: 'column(\"X\") == \"y\" ? dcc : 0'}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C}\n  amount: {column: H}\n  categories: {x: [dcc]}\n", "it cannot use dcc, which is built from activities"},
		{"fields:\n  assignment_number: {column: A}\n  spa: {column: S}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C}\n  amount: {column: H}\n  categories: {x: [spa]}\n", "fields.spa: is mapped here and also added up from activities"},
		{"fields: {assignment_number: {column: A}}\ngroup: {by: [assignment_number]}\nactivities:\n  category: {column: C}\n  amount: {sum: [{column: H, unit: hours}]}\n  premium: {column: P, true_values: [Y]}\n  categories: {x: [spa]}\n", "amount.unit must be hours"},
	} {
		_, err := mapping.Load("t.yaml", []byte(base+tt.text))
		var ps mapping.Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\ngot %v\nwant a problem containing %q", tt.text, err, tt.want)
		}
	}
}

func TestSourceOfActivityFields(t *testing.T) {
	m := mustLoad(t, `version: 1
name: t
format: csv
units: {premium_hours_per_pa: 3}
fields:
  assignment_number: {column: Asg}
  total_contracted_pas: {expr: dcc + spa}
group:
  by: [assignment_number]
activities:
  category: {column: Activity code}
  amount:
    sum:
      - {column: Plain hrs, unit: hours}
      - {column: Premium hrs, unit: premium_hours}
  categories: {OPD: [dcc, outpatients], CPD: [spa]}
`)
	for id, want := range map[record.ID]string{
		record.DCC:                "(activities: Activity code, Plain hrs, Premium hrs)",
		record.Outpatients:        "(activities: Activity code, Plain hrs, Premium hrs)",
		record.TotalContractedPAs: "(computed: dcc + spa)",
		record.Research:           "",
	} {
		if got := m.SourceOf(id); got != want {
			t.Errorf("SourceOf(%s) = %q, want %q", id, got, want)
		}
	}
	jm := mustLoad(t, `version: 1
name: t
format: json
fields: {assignment_number: {path: asg}}
activities:
  path: plan.activities
  category: {path: type}
  amount: {path: hours, unit: hours}
  categories: {OPD: [dcc]}
`)
	if got := jm.SourceOf(record.DCC); got != "(activities: plan.activities[].type, plan.activities[].hours)" {
		t.Errorf("JSON SourceOf(dcc) = %q", got)
	}
}

// A column an expression names must be in the file, as a mapped column
// must: otherwise every row would read it as blank.
func TestExpressionColumnsMustExist(t *testing.T) {
	m := mustLoad(t, `version: 1
name: t
format: csv
filters:
  - expr: 'column("Status") == "Signed off"'
fields:
  employee_number: {column: Emp}
  contract_type: {expr: 'column("Grade")'}
`)
	_, err := m.Bind([]string{"Emp", "Satus"})
	var mc *mapping.MissingColumnsError
	if !errors.As(err, &mc) || !slices.Equal(mc.Columns, []string{"Grade", "Status"}) {
		t.Fatalf("Bind: %v, want the columns Grade and Status missing", err)
	}
	if !strings.Contains(err.Error(), `for "Status" did you mean "Satus"?`) {
		t.Errorf("no hint: %v", err)
	}
}

// A column the mapping reads that heads two columns of the file is
// ambiguous: the file is refused rather than the first one read.
func TestRepeatedHeaderIsRefused(t *testing.T) {
	m := mustLoad(t, `version: 1
name: t
format: csv
fields:
  employee_number: {column: Emp}
  dcc: {column: Hours}
  spa: {column: SPA}
`)
	_, err := m.Bind([]string{"Emp", "Hours", "SPA", "Hours"})
	var mc *mapping.MissingColumnsError
	if !errors.As(err, &mc) || !slices.Equal(mc.Repeated, []string{"Hours"}) || len(mc.Columns) != 0 {
		t.Fatalf("Bind: %v, want Hours refused as repeated", err)
	}
	if want := `more than one column is headed "Hours"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	// An exact match among near matches is not ambiguous.
	if _, err := m.Bind([]string{"Emp", "Hours", "SPA", "HOURS "}); err != nil {
		t.Errorf("Hours next to HOURS refused: %v", err)
	}
	if _, err := m.Bind([]string{"Emp", "hours", "SPA", "HOURS"}); err == nil {
		t.Error("two columns headed hours and HOURS accepted for Hours")
	}
}
