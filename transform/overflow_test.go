package transform_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// wideUnits is a one-plan-per-row mapping whose DCC column is read with the
// unit settings of each case.
const wideUnits = `
version: 1
name: units
format: csv
%sfields:
  employee_number: {column: emp}
  assignment_number: {column: asg}
  staff_group: {value: Medical and Dental}
  contract_type: {value: consultant_england_2003}
  effective_date: {column: date}
  dcc: {column: dcc%s}
  spa: {column: spa}
  total_contracted_pas: {expr: dcc + spa}
`

// wideMapping is wideUnits with dcc's unit settings; working_weeks is
// given only where a setting uses it (mapping check refuses it otherwise).
func wideMapping(dcc string) string {
	units := ""
	if strings.Contains(dcc, "per: year") {
		units = "units: {working_weeks: 42}\n"
	}
	return fmt.Sprintf(wideUnits, units, dcc)
}

// longUnits is a long layout: one row per activity, with occurrences a
// year and a premium-time flag.
const longUnits = `
version: 1
name: units-long
format: csv
units: {working_weeks: 42}
fields:
  employee_number: {column: emp}
  assignment_number: {column: asg}
  staff_group: {value: Medical and Dental}
  contract_type: {value: consultant_england_2003}
  effective_date: {column: date}
  total_contracted_pas: {expr: dcc + spa}
group:
  by: [assignment_number, effective_date]
activities:
  category: {column: activity}
  amount: {column: hours, unit: hours}
  occurrences: {column: per_year}
  premium: {column: premium, true_values: [Y], false_values: [N]}
  categories:
    Clinic: [dcc]
    CPD: [spa]
`

// TestHugeValueRefusedOnEveryUnitPath is issue #9 item 4: 18446752 (a typo)
// hours a week overflowed the fixed-point arithmetic and was sent as 1.98
// PAs. Through every unit path of the mapping, such a value must now be
// refused with an M13 finding naming the column and the value, and no record
// be written; the control row beside it shows the path itself works.
func TestHugeValueRefusedOnEveryUnitPath(t *testing.T) {
	const huge = "18446752"
	tests := []struct {
		name, mapping, input string
		column, value        string
		field                string // checked instead of column when set
		control              string // DCC of the control plan, as written
	}{
		{
			name: "PAs", mapping: wideMapping(""),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,7.5,2.5\n10000002,10000002,2026-04-01," + huge + ",2.5\n",
			column: "dcc", value: huge, control: `"dcc":7.5`,
		},
		{
			name: "hours", mapping: wideMapping(", unit: hours"),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,30,2.5\n10000002,10000002,2026-04-01," + huge + ",2.5\n",
			column: "dcc", value: huge, control: `"dcc":7.5`,
		},
		{
			name: "premium hours", mapping: wideMapping(", unit: premium_hours"),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,22.5,2.5\n10000002,10000002,2026-04-01," + huge + ",2.5\n",
			column: "dcc", value: huge, control: `"dcc":7.5`,
		},
		{
			name: "hours per year", mapping: wideMapping(", unit: hours, per: year"),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,1260,2.5\n10000002,10000002,2026-04-01," + huge + ",2.5\n",
			column: "dcc", value: huge, control: `"dcc":7.5`,
		},
		{
			name: "PAs a year", mapping: wideMapping(", per: year"),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,315,2.5\n10000002,10000002,2026-04-01," + huge + ",2.5\n",
			column: "dcc", value: huge, control: `"dcc":7.5`,
		},
		{
			// Too large for the fixed-point number itself: not "not a number".
			name: "hours beyond any number", mapping: wideMapping(", unit: hours"),
			input:  "emp,asg,date,dcc,spa\n10000001,10000001,2026-04-01,30,2.5\n10000002,10000002,2026-04-01," + huge + "000000000000,2.5\n",
			column: "dcc", value: huge + "000000000000", control: `"dcc":7.5`,
		},
		{
			name: "activity hours per occurrence", mapping: longUnits,
			input: "emp,asg,date,activity,hours,per_year,premium\n" +
				"10000001,10000001,2026-04-01,Clinic,4,315,N\n10000001,10000001,2026-04-01,CPD,4,105,N\n" +
				"10000002,10000002,2026-04-01,Clinic," + huge + ",42,N\n10000002,10000002,2026-04-01,CPD,4,105,N\n",
			column: "hours", value: huge, control: `"dcc":7.5`,
		},
		{
			name: "activity occurrences a year", mapping: longUnits,
			input: "emp,asg,date,activity,hours,per_year,premium\n" +
				"10000001,10000001,2026-04-01,Clinic,4,315,N\n10000001,10000001,2026-04-01,CPD,4,105,N\n" +
				"10000002,10000002,2026-04-01,Clinic,4," + huge + ",N\n10000002,10000002,2026-04-01,CPD,4,105,N\n",
			column: "hours", value: "4", control: `"dcc":7.5`,
		},
		{
			name: "activity premium hours", mapping: longUnits,
			input: "emp,asg,date,activity,hours,per_year,premium\n" +
				"10000001,10000001,2026-04-01,Clinic,3,315,Y\n10000001,10000001,2026-04-01,CPD,4,105,N\n" +
				"10000002,10000002,2026-04-01,Clinic," + huge + ",42,Y\n10000002,10000002,2026-04-01,CPD,4,105,N\n",
			column: "hours", value: huge, control: `"dcc":7.5`,
		},
		{
			// Each activity fits in a week; together they do not.
			name: "activities adding up beyond a week", mapping: longUnits,
			input: "emp,asg,date,activity,hours,per_year,premium\n" +
				"10000001,10000001,2026-04-01,Clinic,4,315,N\n10000001,10000001,2026-04-01,CPD,4,105,N\n" +
				strings.Repeat("10000002,10000002,2026-04-01,Clinic,600,42,N\n", 2) + "10000002,10000002,2026-04-01,CPD,4,105,N\n",
			field: "dcc", value: "300", control: `"dcc":7.5`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Load("units.yaml", []byte(tt.mapping))
			if err != nil {
				t.Fatal(err)
			}
			var records bytes.Buffer
			findings := &collected{}
			counts, err := transform.Convert(context.Background(), m, strings.NewReader(tt.input), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: findings, SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if counts.Accepted != 1 || counts.Rejected != 1 {
				t.Errorf("counts = %+v, want the control plan accepted and the huge one rejected", counts)
			}
			if lines := strings.Count(records.String(), "\n"); lines != 1 || !strings.Contains(records.String(), `"assignment_number":"10000001"`) || !strings.Contains(records.String(), tt.control) {
				t.Errorf("records = %s\nwant only the control plan, with %s", records.String(), tt.control)
			}
			var found bool
			for _, f := range findings.fs {
				if f.Severity != finding.Error {
					continue
				}
				if f.Rule != "M13" {
					t.Errorf("other error %s: %s", f.Rule, f.Message)
					continue
				}
				where := f.Column == tt.column
				if tt.field != "" {
					where = f.Field == tt.field
				}
				if where && f.Assignment == "10000002" && f.Value == tt.value && strings.Contains(f.Message, "more PAs than a week has hours (168)") {
					found = true
				}
			}
			if !found {
				t.Errorf("findings = %+v\nwant an M13 error for 10000002 on %s%s, value %s", findings.fs, tt.column, tt.field, tt.value)
			}
		})
	}
}
