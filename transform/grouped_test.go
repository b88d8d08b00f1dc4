package transform_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// longMapping is a long layout: one row per activity, plan-level values
// repeated on every row. %s is replaced by extra group settings.
const longMapping = `version: 1
name: long
format: csv
filters:
  - column: Status
    equals: Signed off
fields:
  employee_number: {column: Emp}
  assignment_number: {column: Asg}
  staff_group: {value: Medical and Dental}
  contract_type:
    column: Contract
    unmatched: error
    lookup: {CONS: consultant_england_2003, SD21: specialty_doctor_2021}
  effective_date: {column: From, formats: [dd/mm/yyyy]}
  vpd_code: {column: VPD}
  total_contracted_pas: {expr: dcc + spa}
group:
  by: [assignment_number, effective_date]%s
activities:
  category: {column: Activity}
  amount: {column: PAs}
  categories:
    Clinic: [dcc, outpatients]
    CPD: [spa, cpd]
`

func convertLong(t *testing.T, groupExtra, input string) (transformOutcome, *mapping.Mapping) {
	t.Helper()
	m, err := mapping.Load("long.yaml", []byte(strings.Replace(longMapping, "%s", groupExtra, 1)))
	if err != nil {
		t.Fatal(err)
	}
	var out, rejected bytes.Buffer
	found := &collected{}
	counts, err := transform.Convert(context.Background(), m, strings.NewReader(input), transform.Outputs{Records: &out, Rejected: &rejected, Findings: found, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return transformOutcome{records: out.String(), rejected: rejected.String(), findings: found.fs, accepted: counts.Accepted, rejectedN: counts.Rejected, filtered: counts.RowsFiltered}, m
}

type transformOutcome struct {
	records, rejected   string
	findings            []finding.Finding
	accepted, rejectedN int
	filtered            int
}

const longHeader = "Emp,Asg,Status,Contract,From,VPD,Activity,PAs\n"

func TestGroupedPlanValuesMustAgree(t *testing.T) {
	// Rows 2-4 are one plan (same assignment and date); row 4 says another
	// contract, and rows 3-4 another rota. Rows 5-6 are a good plan.
	input := longHeader +
		"10000001,10000001,Signed off,CONS,01/04/2026,106,Clinic,7.5\n" +
		"10000001,10000001,Signed off,CONS,01/04/2026,104,CPD,1.5\n" +
		"10000001,10000001,Signed off,SD21,01/04/2026,104,CPD,1\n" +
		"10000002,10000002,Signed off,CONS,01/04/2026,,Clinic,8\n" +
		"10000002,10000002,Signed off,CONS,01/04/2026,,CPD,2\n"
	got, _ := convertLong(t, "", input)
	if got.accepted != 1 || got.rejectedN != 1 {
		t.Fatalf("accepted %d rejected %d, want 1 and 1; findings %+v", got.accepted, got.rejectedN, got.findings)
	}
	var m13 []finding.Finding
	for _, f := range got.findings {
		if f.Rule == "M15" {
			m13 = append(m13, f)
		}
	}
	if len(m13) != 2 || len(got.findings) != 2 {
		t.Fatalf("findings %+v, want one M15 per disagreeing field and nothing else", got.findings)
	}
	for _, want := range []struct{ field, column, msg string }{
		{"contract_type", "Contract", `The rows of this plan disagree on Contract type: "consultant_england_2003" on lines 2-3, "specialty_doctor_2021" on line 4.`},
		{"vpd_code", "VPD", `The rows of this plan disagree on VPD code: "106" on line 2, "104" on lines 3-4.`},
	} {
		found := false
		for _, f := range m13 {
			if f.Field == want.field {
				found = true
				if f.Column != want.column || !strings.HasPrefix(f.Message, want.msg) || f.Line != 2 || f.EndLine != 4 || f.Severity != finding.Error || f.Assignment != "10000001" || f.Record != 1 {
					t.Errorf("M15 on %s = %+v, want column %s, lines 2-4, message starting %q", want.field, f, want.column, want.msg)
				}
			}
		}
		if !found {
			t.Errorf("no M15 on %s: %+v", want.field, m13)
		}
	}
	// The refused plan's rows are all in the rejected file.
	if strings.Count(got.rejected, "10000001,10000001") != 3 {
		t.Errorf("rejected rows:\n%s", got.rejected)
	}
	if !strings.Contains(got.records, `"assignment_number":"10000002"`) || strings.Contains(got.records, "10000001") {
		t.Errorf("records:\n%s", got.records)
	}
}

func TestGroupedSameFindingOnEveryRowIsReportedOnce(t *testing.T) {
	input := longHeader +
		"10000001,10000001,Signed off,LOCUM,01/04/2026,,Clinic,7.5\n" +
		"10000001,10000001,Signed off,LOCUM,01/04/2026,,CPD,2.5\n" +
		"10000001,10000001,Signed off,LOCUM,01/04/2026,,CPD,0\n"
	got, _ := convertLong(t, "", input)
	if len(got.findings) != 1 {
		t.Fatalf("findings %+v, want one M05 for the plan", got.findings)
	}
	f := got.findings[0]
	if f.Rule != "M05" || f.Line != 2 || f.EndLine != 4 || !strings.HasSuffix(f.Message, "(on lines 2-4 of this plan).") {
		t.Errorf("finding %+v", f)
	}
}

func TestGroupedFilterKeepsOrLeavesOutWholePlans(t *testing.T) {
	input := longHeader +
		"10000001,10000001,Signed off,CONS,01/04/2026,,Clinic,7.5\n" +
		"10000001,10000001,Draft,CONS,01/04/2026,,CPD,2.5\n" + // part of the plan left out
		"10000002,10000002,Draft,CONS,01/04/2026,,Clinic,8\n" + // left out before its kept rows
		"10000002,10000002,Signed off,CONS,01/04/2026,,CPD,2\n" +
		"10000003,10000003,Draft,CONS,01/04/2026,,Clinic,8\n" + // a whole draft plan: left out, no finding
		"10000003,10000003,Draft,CONS,01/04/2026,,CPD,2\n" +
		"10000004,10000004,Signed off,CONS,01/04/2026,,Clinic,8\n" +
		"10000004,10000004,Signed off,CONS,01/04/2026,,CPD,2\n"
	got, _ := convertLong(t, "", input)
	if got.accepted != 1 || got.rejectedN != 2 || got.filtered != 4 {
		t.Fatalf("accepted %d rejected %d filtered %d, want 1, 2, 4; findings %+v", got.accepted, got.rejectedN, got.filtered, got.findings)
	}
	want := map[string]string{
		"10000001": "The mapping's filters leave out line 3 of this plan but keep line 2,",
		"10000002": "The mapping's filters leave out line 4 of this plan but keep line 5,",
	}
	if len(got.findings) != 2 {
		t.Fatalf("findings %+v", got.findings)
	}
	for _, f := range got.findings {
		if f.Rule != "M15" || !strings.HasPrefix(f.Message, want[f.Assignment]) {
			t.Errorf("finding %+v, want M15 starting %q", f, want[f.Assignment])
		}
	}
	if !strings.Contains(got.records, `"assignment_number":"10000004"`) {
		t.Errorf("records:\n%s", got.records)
	}
}

func TestGroupedPlanValuesOnFirstRow(t *testing.T) {
	// The supplier writes plan-level values on the first row of each plan
	// only; keys (assignment, date) are on every row.
	input := longHeader +
		"10000001,10000001,Signed off,CONS,01/04/2026,106,Clinic,7.5\n" +
		"10000001,10000001,Signed off,,01/04/2026,,CPD,2.5\n" +
		"10000002,10000002,Signed off,CONS,01/04/2026,,Clinic,8\n" +
		"10000002,10000002,Signed off,,01/04/2026,104,CPD,2\n" + // a value the first row does not give
		"10000003,10000003,Signed off,CONS,01/04/2026,,Clinic,8\n" +
		"10000003,10000003,Signed off,SD21,01/04/2026,,CPD,2\n" // a value that differs
	got, _ := convertLong(t, "\n  plan_values: first_row", input)
	if got.accepted != 1 || got.rejectedN != 2 {
		t.Fatalf("accepted %d rejected %d; findings %+v", got.accepted, got.rejectedN, got.findings)
	}
	if !strings.Contains(got.records, `"assignment_number":"10000001"`) || !strings.Contains(got.records, `"vpd_code":"106"`) || !strings.Contains(got.records, `"contract_type":"consultant_england_2003"`) {
		t.Errorf("records:\n%s", got.records)
	}
	for _, f := range got.findings {
		switch {
		case f.Assignment == "10000002" && f.Field == "vpd_code" && strings.Contains(f.Message, `blank on line 4, "104" on line 5`):
		case f.Assignment == "10000003" && f.Field == "contract_type":
		default:
			t.Errorf("unexpected finding %+v", f)
		}
	}

	// With first_row, a row whose key (assignment, date) is blank too
	// continues the plan above.
	got, _ = convertLong(t, "\n  plan_values: first_row", longHeader+
		"10000001,10000001,Signed off,CONS,01/04/2026,106,Clinic,7.5\n"+
		",,Signed off,,,,CPD,2.5\n"+
		"10000002,10000002,Signed off,CONS,01/04/2026,,Clinic,8\n"+
		",,Draft,,,,CPD,2\n")
	if got.accepted != 1 || got.rejectedN != 1 || !strings.Contains(got.records, `"spa":2.5`) {
		t.Errorf("blank keys: accepted %d rejected %d; records %s findings %+v", got.accepted, got.rejectedN, got.records, got.findings)
	}
	if len(got.findings) != 1 || got.findings[0].Assignment != "10000002" || !strings.Contains(got.findings[0].Message, "leave out line 5 of this plan") {
		t.Errorf("blank keys: findings %+v, want the draft line of 10000002 to refuse it", got.findings)
	}

	// Without first_row, the blank cells disagree with the first row.
	got, _ = convertLong(t, "", input)
	if got.accepted != 0 {
		t.Errorf("every_row: accepted %d, want 0 (blank cells differ from the first row)", got.accepted)
	}
}

func TestGroupByColumn(t *testing.T) {
	const m = `version: 1
name: byref
format: csv
fields:
  employee_number: {column: Emp}
  assignment_number: {column: Asg}
  staff_group: {value: Medical and Dental}
  contract_type: {value: consultant_england_2003}
  effective_date: {column: From}
  total_contracted_pas: {expr: dcc + spa}
group:
  by: [{column: Plan Ref}]
activities:
  category: {column: Kind}
  amount: {column: PAs}
  categories: {Clinic: [dcc], CPD: [spa]}
`
	mp, err := mapping.Load("byref.yaml", []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	// Two plans, each of two rows, and a plan whose rows name two
	// assignments.
	input := "Plan Ref,Emp,Asg,From,Kind,PAs\n" +
		"P-1,10000001,10000001,2026-04-01,Clinic,7.5\n" +
		"P-1,10000001,10000001,2026-04-01,CPD,2.5\n" +
		"P-2,10000002,10000002,2026-04-01,Clinic,8\n" +
		"P-2,10000002,10000002,2026-04-01,CPD,2\n" +
		"P-3,10000003,10000003,2026-04-01,Clinic,8\n" +
		"P-3,10000003,10000004,2026-04-01,CPD,2\n"
	var out bytes.Buffer
	found := &collected{}
	counts, err := transform.Convert(context.Background(), mp, strings.NewReader(input), transform.Outputs{Records: &out, Rejected: io.Discard, Findings: found, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if counts.PlansBuilt != 3 || counts.Accepted != 2 {
		t.Fatalf("counts %+v, findings %+v", counts, found.fs)
	}
	if !strings.Contains(out.String(), `"assignment_number":"10000001"`) || !strings.Contains(out.String(), `"dcc":7.5`) {
		t.Errorf("records:\n%s", out.String())
	}
	var m13 []finding.Finding
	for _, f := range found.fs {
		if f.Rule == "M15" {
			m13 = append(m13, f)
		}
	}
	if len(m13) != 1 || m13[0].Field != "assignment_number" || m13[0].Line != 6 || m13[0].EndLine != 7 {
		t.Errorf("findings %+v, want M15 on the assignment number of P-3", found.fs)
	}
}

// A long run of left-out rows of one plan is listed in part: the finding
// names the first 50 lines and counts the rest.
func TestGroupedLeftOutLinesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(longHeader)
	for i := 0; i < 60; i++ {
		b.WriteString("10000001,10000001,Draft,CONS,01/04/2026,,CPD,0.25\n")
	}
	b.WriteString("10000001,10000001,Signed off,CONS,01/04/2026,,Clinic,7.5\n")
	got, _ := convertLong(t, "", b.String())
	if len(got.findings) != 1 || !strings.HasPrefix(got.findings[0].Message, "The mapping's filters leave out lines 2-51 and 10 more of this plan but keep line 62,") {
		t.Errorf("findings %+v", got.findings)
	}
}
