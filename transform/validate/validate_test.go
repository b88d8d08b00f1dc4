package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// dec parses a decimal literal for a test; it fails the whole binary on a
// typo rather than silently using 0.
func dec(s string) decimal.Dec {
	v, err := decimal.Parse(s, false)
	if err != nil {
		panic(fmt.Sprintf("dec(%q): %v", s, err))
	}
	return v
}

// validPlan is a fully valid full-time English consultant plan: 10 PAs
// (7.5 DCC + 2.5 SPA), on call 1 in 6, category A, 5%. Every PA value is a
// multiple of 0.25, the DCC sub-items add up to exactly the DCC, theatre
// work adds up, and the supporting activities (2) fit in total − DCC (2.5).
func validPlan() *record.JobPlan {
	p := &record.JobPlan{}
	text := map[record.ID]string{
		record.EmployeeNumber:   "12345678",
		record.AssignmentNumber: "12345678-2",
		record.VPDCode:          "123",
		record.StaffGroup:       record.MedicalAndDental,
		record.ContractType:     record.ConsultantEngland2003,
		record.EffectiveDate:    "2026-04-01",
		record.OnCallCategory:   "A",
	}
	for id, s := range text {
		p.SetText(id, s)
	}
	num := map[record.ID]string{
		record.TotalContractedPAs:          "10",
		record.APAEPS:                      "0",
		record.DCC:                         "7.5",
		record.SPA:                         "2.5",
		record.AdditionalResponsibilities:  "0",
		record.ExternalDuties:              "0",
		record.MedicalSchool:               "0",
		record.AdditionalToContract:        "0",
		record.OnCallFrequencyN:            "6",
		record.OnCallSupplementPct:         "5",
		record.TheatreTotal:                "2",
		record.TheatreElective:             "1.5",
		record.TheatreNonElective:          "0.5",
		record.Outpatients:                 "3",
		record.WardRoundsInpatient:         "1.5",
		record.MDT:                         "0.5",
		record.ClinicalDiagnostic:          "0",
		record.Procedures:                  "0",
		record.PublicHealth:                "0",
		record.Research:                    "0.5",
		record.TeachingEducation:           "0.5",
		record.CPD:                         "1",
		record.DCCTravel:                   "0",
		record.NonDCCTravel:                "0",
		record.DCCAdmin:                    "0.5",
		record.NonDCCAdmin:                 "0",
		record.PrivateProfessionalServices: "0",
		record.FeePayingServices:           "0",
	}
	for id, s := range num {
		p.SetNum(id, dec(s))
	}
	return p
}

// mutation changes one aspect of a plan.
type mutation func(*record.JobPlan)

func setNum(id record.ID, s string) mutation {
	return func(p *record.JobPlan) { p.SetNum(id, dec(s)) }
}

func setText(id record.ID, s string) mutation {
	return func(p *record.JobPlan) { p.SetText(id, s) }
}

func null(id record.ID) mutation {
	return func(p *record.JobPlan) { p.Clear(id) }
}

// nums sets several decimal fields at once: nums(record.DCC, "7", record.SPA, "3").
func nums(kv ...any) mutation {
	return func(p *record.JobPlan) {
		for i := 0; i < len(kv); i += 2 {
			p.SetNum(kv[i].(record.ID), dec(kv[i+1].(string)))
		}
	}
}

func all(ms ...mutation) mutation {
	return func(p *record.JobPlan) {
		for _, m := range ms {
			m(p)
		}
	}
}

// zeroed sets every PA field of the plan to 0 (the on-call details stay).
var zeroed mutation = func(p *record.JobPlan) {
	for id := record.ID(0); id < record.NumFields; id++ {
		if f := id.Field(); f.PA && !f.Aux {
			p.SetNum(id, 0)
		}
	}
}

// welsh turns the plan into a valid Welsh consultant plan: on-call band 2
// instead of a percentage.
var welsh = all(
	setText(record.ContractType, record.ConsultantWales),
	null(record.OnCallSupplementPct),
	setNum(record.OnCallBandWales, "2"),
)

// fullTimeWithDCC gives a valid-sum full-time plan with the given DCC/SPA,
// adjusting outpatients so the DCC sub-items still add up to the DCC.
func fullTimeWithDCC(dcc, spa, outpatients string) mutation {
	return nums(record.DCC, dcc, record.SPA, spa, record.Outpatients, outpatients)
}

// Configuration tweaks.
func withSeverity(code string, s finding.Severity) func(*Config) {
	return func(c *Config) {
		if c.Severity == nil {
			c.Severity = map[string]finding.Severity{}
		}
		c.Severity[code] = s
	}
}

// noStep turns off the quarter-PA half of V22 so that a boundary case using
// a value such as 2.49 tests only the rule it is about.
func noStep(c *Config) { c.PAStep = 0 }

// outsideTotal selects the reading in which the total leaves the APAs out.
func outsideTotal(c *Config) { c.APAReading = APAOutsideTotal }

// apaPlan is a plan with only a total, APAs, DCC and SPA (every other PA
// field 0), as the examples give them.
func apaPlan(total, apa, dcc, spa string) mutation {
	return all(zeroed, nums(record.TotalContractedPAs, total, record.APAEPS, apa, record.DCC, dcc, record.SPA, spa))
}

// f is an expected finding: "V16:warning:on_call_supplement_pct".
func f(code string, sev finding.Severity, field record.ID) string {
	return fmt.Sprintf("%s:%s:%s", code, sev, field)
}

const (
	E = finding.Error
	W = finding.Warning
)

type ruleCase struct {
	// rule is the rule the case is about: a case whose want holds rule
	// proves it fires; one whose want does not proves a close-but-valid
	// plan passes. TestEveryRuleHasCases checks each V rule has both.
	rule string
	name string
	cfg  func(*Config)
	mut  mutation
	want []string // exact multiset of findings, see f
	// after, if set, inspects the plan after Check (V22 rounding).
	after func(t *testing.T, p *record.JobPlan)
}

var ruleCases = []ruleCase{
	{rule: "", name: "valid English consultant", mut: func(*record.JobPlan) {}},
	{rule: "", name: "valid Welsh consultant", mut: welsh},
	{rule: "", name: "valid specialty doctor 2021", mut: setText(record.ContractType, record.SpecialtyDoctor2021)},
	{rule: "", name: "valid specialist 2021", mut: setText(record.ContractType, record.Specialist2021)},
	{rule: "", name: "valid specialty doctor 2008 at 4%", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "4"))},
	{rule: "", name: "valid plan without on-call", mut: all(null(record.OnCallFrequencyN), null(record.OnCallCategory), null(record.OnCallSupplementPct))},

	// V1: identifiers.
	{rule: "V1", name: "employee number 7 digits", mut: setText(record.EmployeeNumber, "1234567"), want: []string{f("V1", E, record.EmployeeNumber)}},
	{rule: "V1", name: "employee number 9 digits", mut: setText(record.EmployeeNumber, "123456789"), want: []string{f("V1", E, record.EmployeeNumber)}},
	{rule: "V1", name: "employee number with a letter", mut: setText(record.EmployeeNumber, "1234567a"), want: []string{f("V1", E, record.EmployeeNumber)}},
	{rule: "V1", name: "employee number missing", mut: null(record.EmployeeNumber), want: []string{f("V1", E, record.EmployeeNumber)}},
	{rule: "V1", name: "assignment suffix of 3 digits", mut: setText(record.AssignmentNumber, "12345678-100"), want: []string{f("V1", E, record.AssignmentNumber)}},
	{rule: "V1", name: "assignment with slash suffix", mut: setText(record.AssignmentNumber, "12345678/2"), want: []string{f("V1", E, record.AssignmentNumber)}},
	{rule: "V1", name: "assignment 7 digits", mut: setText(record.AssignmentNumber, "1234567-2"), want: []string{f("V1", E, record.AssignmentNumber)}},
	{rule: "V1", name: "vpd code not numeric", mut: setText(record.VPDCode, "ABC"), want: []string{f("V1", E, record.VPDCode)}},
	{rule: "V1", name: "assignment without suffix", mut: setText(record.AssignmentNumber, "12345678")},
	{rule: "V1", name: "assignment with 2-digit suffix", mut: setText(record.AssignmentNumber, "12345678-10")},
	{rule: "V1", name: "vpd code blank", mut: null(record.VPDCode)},

	// V2: assignment stem.
	{rule: "V2", name: "assignment of another employee", mut: setText(record.AssignmentNumber, "87654321-2"), want: []string{f("V2", W, record.AssignmentNumber)}},
	{rule: "V2", name: "assignment stem off by one digit", mut: setText(record.AssignmentNumber, "12345679"), want: []string{f("V2", W, record.AssignmentNumber)}},
	{rule: "V2", name: "severity raised to error", cfg: withSeverity("V2", E), mut: setText(record.AssignmentNumber, "87654321-2"), want: []string{f("V2", E, record.AssignmentNumber)}},
	{rule: "V2", name: "third post of same employee", mut: setText(record.AssignmentNumber, "12345678-3")},
	{rule: "V2", name: "malformed assignment is V1 only", mut: setText(record.AssignmentNumber, "8765432X-2"), want: []string{f("V1", E, record.AssignmentNumber)}},

	// V3: staff group.
	{rule: "V3", name: "nursing staff group", mut: setText(record.StaffGroup, "Nursing and Midwifery Registered"), want: []string{f("V3", E, record.StaffGroup)}},
	{rule: "V3", name: "staff group in lower case", mut: setText(record.StaffGroup, "medical and dental"), want: []string{f("V3", E, record.StaffGroup)}},
	{rule: "V3", name: "staff group missing", mut: null(record.StaffGroup), want: []string{f("V3", E, record.StaffGroup)}},
	{rule: "V3", name: "staff group exactly Medical and Dental", mut: setText(record.StaffGroup, "Medical and Dental")},

	// V4: effective date.
	{rule: "V4", name: "30 February", mut: setText(record.EffectiveDate, "2026-02-30"), want: []string{f("V4", E, record.EffectiveDate)}},
	{rule: "V4", name: "29 February in a common year", mut: setText(record.EffectiveDate, "2025-02-29"), want: []string{f("V4", E, record.EffectiveDate)}},
	{rule: "V4", name: "month 13", mut: setText(record.EffectiveDate, "2026-13-01"), want: []string{f("V4", E, record.EffectiveDate)}},
	{rule: "V4", name: "UK day/month/year", mut: setText(record.EffectiveDate, "01/04/2026"), want: []string{f("V4", E, record.EffectiveDate)}},
	{rule: "V4", name: "date missing", mut: null(record.EffectiveDate), want: []string{f("V4", E, record.EffectiveDate)}},
	{rule: "V4", name: "28 February", mut: setText(record.EffectiveDate, "2026-02-28")},
	{rule: "V4", name: "29 February in a leap year", mut: setText(record.EffectiveDate, "2028-02-29")},

	// V5: negative PA values.
	{rule: "V5", name: "negative APA", mut: setNum(record.APAEPS, "-1"), want: []string{f("V5", E, record.APAEPS)}},
	{rule: "V5", name: "negative private work", mut: setNum(record.PrivateProfessionalServices, "-0.5"), want: []string{f("V5", E, record.PrivateProfessionalServices)}},
	{rule: "V5", name: "negative additional to contract", mut: setNum(record.AdditionalToContract, "-0.25"), want: []string{f("V5", E, record.AdditionalToContract)}},
	{rule: "V5", name: "negative research", mut: setNum(record.Research, "-0.5"), want: []string{f("V5", E, record.Research)}},
	{rule: "V5", name: "negative external duties balanced by total", mut: nums(record.ExternalDuties, "-0.5", record.TotalContractedPAs, "9.5"), want: []string{f("V5", E, record.ExternalDuties)}},
	{rule: "V5", name: "zero fee-paying work", mut: setNum(record.FeePayingServices, "0")},

	// V6: category sum = total (±0.01).
	{rule: "V6", name: "SPA half a PA too many", mut: setNum(record.SPA, "3"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V6", name: "total 0.02 above categories", cfg: noStep, mut: setNum(record.TotalContractedPAs, "10.02"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V6", name: "SPA 0.02 short", cfg: noStep, mut: setNum(record.SPA, "2.48"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V6", name: "total exactly 0.01 above categories", cfg: noStep, mut: setNum(record.TotalContractedPAs, "10.01")},
	{rule: "V6", name: "SPA exactly 0.01 short", cfg: noStep, mut: setNum(record.SPA, "2.49")},
	{rule: "V6", name: "SPA exactly 0.01 short, quarter check on", mut: setNum(record.SPA, "2.49"), want: []string{f("V22", W, record.SPA)}},
	{rule: "V6", name: "medical school and AR counted", mut: nums(record.SPA, "1.5", record.MedicalSchool, "0.5", record.AdditionalResponsibilities, "0.25", record.ExternalDuties, "0.25")},
	{rule: "V6", name: "APAs in the total by default", mut: apaPlan("11", "1", "8.5", "2.5")},
	{rule: "V6", name: "outside_total: categories = total + APAs", cfg: outsideTotal, mut: apaPlan("10", "1", "8.5", "2.5")},
	{rule: "V6", name: "outside_total: categories = total", cfg: outsideTotal, mut: apaPlan("11", "1", "8.5", "2.5"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V6", name: "outside_total: no APAs", cfg: outsideTotal},

	// V7: APA <= the PAs that include it (the total by default, the
	// categories under outside_total).
	{rule: "V7", name: "APA 0.01 above total (V6 within tolerance)", cfg: noStep, mut: all(zeroed, nums(record.TotalContractedPAs, "1", record.SPA, "1", record.APAEPS, "1.01")), want: []string{f("V7", E, record.APAEPS)}},
	{rule: "V7", name: "APA above total", mut: setNum(record.APAEPS, "11"), want: []string{f("V7", E, record.APAEPS)}},
	{rule: "V7", name: "APA equal to total", mut: apaPlan("1", "1", "0", "1")},
	{rule: "V7", name: "outside_total: APA above the categories", cfg: outsideTotal, mut: apaPlan("1", "3", "2", "0"), want: []string{f("V6", E, record.TotalContractedPAs), f("V7", E, record.APAEPS)}},
	{rule: "V7", name: "outside_total: APA equal to the categories", cfg: outsideTotal, mut: apaPlan("0.25", "2", "2", "0.25")},

	// The four plans (#9 item 1) under each reading: as written
	// (total 11 with 1 APA, and so on), and as the other reading writes
	// the same plan (total 10 and 1 APA on top).
	{rule: "V6", name: "10 + 1 APA as total 11: in_total", mut: apaPlan("11", "1", "8.5", "2.5")},
	{rule: "V6", name: "10 + 1 APA as total 11: outside_total", cfg: outsideTotal, mut: apaPlan("11", "1", "8.5", "2.5"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V6", name: "10 + 1 APA as total 10: outside_total", cfg: outsideTotal, mut: apaPlan("10", "1", "8.5", "2.5")},
	{rule: "V6", name: "10 + 1 APA as total 10: in_total", mut: apaPlan("10", "1", "8.5", "2.5"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V7", name: "7 PAs with 8 hours typed as APAs: in_total", mut: apaPlan("7", "8", "5.5", "1.5"), want: []string{f("V7", E, record.APAEPS)}},
	{rule: "V7", name: "7 PAs with 8 hours typed as APAs: outside_total", cfg: outsideTotal, mut: apaPlan("7", "8", "5.5", "1.5"),
		want: []string{f("V6", E, record.TotalContractedPAs), f("V7", E, record.APAEPS), f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "14 PAs including 4 APAs: in_total", mut: apaPlan("14", "4", "11", "3"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V9", name: "14 PAs including 4 APAs: outside_total", cfg: outsideTotal, mut: apaPlan("14", "4", "11", "3"), want: []string{f("V6", E, record.TotalContractedPAs), f("V9", E, record.TotalContractedPAs)}},
	{rule: "V8", name: "10 + 4 APAs as total 10: outside_total", cfg: outsideTotal, mut: apaPlan("10", "4", "11", "3"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "12 PAs including 2 APAs: in_total", mut: apaPlan("12", "2", "9.5", "2.5")},
	{rule: "V8", name: "12 PAs including 2 APAs: outside_total", cfg: outsideTotal, mut: apaPlan("12", "2", "9.5", "2.5"), want: []string{f("V6", E, record.TotalContractedPAs), f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "10 + 2 APAs as total 10: outside_total", cfg: outsideTotal, mut: apaPlan("10", "2", "9.5", "2.5")},
	{rule: "V8", name: "10 + 2.25 APAs as total 10: outside_total", cfg: outsideTotal, mut: apaPlan("10", "2.25", "9.75", "2.5"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V9", name: "10 + 6.25 APAs as total 10: outside_total", cfg: outsideTotal, mut: apaPlan("10", "6.25", "13.75", "2.5"), want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "V9", name: "16 PAs including 6 APAs: in_total", mut: apaPlan("16", "6", "13.5", "2.5"), want: []string{f("V8", W, record.TotalContractedPAs)}},

	// V8: > 12 PAs warning.
	{rule: "V8", name: "exactly 12 PAs", mut: nums(record.TotalContractedPAs, "12", record.SPA, "4.5")},
	{rule: "V8", name: "12.01 PAs", cfg: noStep, mut: nums(record.TotalContractedPAs, "12.01", record.SPA, "4.51"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "12.25 PAs", mut: nums(record.TotalContractedPAs, "12.25", record.SPA, "4.75"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "exactly 16 PAs", mut: nums(record.TotalContractedPAs, "16", record.SPA, "8.5"), want: []string{f("V8", W, record.TotalContractedPAs)}},
	{rule: "V8", name: "custom warn_above_pas 13", cfg: func(c *Config) { c.WarnAbovePAs = dec("13") }, mut: nums(record.TotalContractedPAs, "12.25", record.SPA, "4.75")},

	// V9: 0 or > 16 PAs error.
	{rule: "V9", name: "16.01 PAs (V9 only, not V8)", cfg: noStep, mut: nums(record.TotalContractedPAs, "16.01", record.SPA, "8.51"), want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "V9", name: "zero total", mut: zeroed, want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "V9", name: "total missing is zero", mut: all(zeroed, null(record.TotalContractedPAs)), want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "V9", name: "smallest positive total", cfg: noStep, mut: all(zeroed, nums(record.TotalContractedPAs, "0.01", record.SPA, "0.01"))},
	{rule: "V9", name: "custom max_pas 14", cfg: func(c *Config) { c.MaxPAs = dec("14") }, mut: nums(record.TotalContractedPAs, "14.25", record.SPA, "6.75"), want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "V9", name: "custom max_pas 14 at 14", cfg: func(c *Config) { c.MaxPAs = dec("14") }, mut: nums(record.TotalContractedPAs, "14", record.SPA, "6.5"), want: []string{f("V8", W, record.TotalContractedPAs)}},

	// V10: theatre elective + non-elective = total (±0.01).
	{rule: "V10", name: "elective quarter too high", mut: setNum(record.TheatreElective, "1.75"), want: []string{f("V10", E, record.TheatreTotal)}},
	{rule: "V10", name: "elective 0.02 too high", cfg: noStep, mut: setNum(record.TheatreElective, "1.52"), want: []string{f("V10", E, record.TheatreTotal)}},
	{rule: "V10", name: "split without total", mut: all(setNum(record.TheatreTotal, "0"), setNum(record.Outpatients, "5")), want: []string{f("V10", E, record.TheatreTotal)}},
	{rule: "V10", name: "elective exactly 0.01 too high", cfg: noStep, mut: setNum(record.TheatreElective, "1.51")},
	{rule: "V10", name: "no theatre work", mut: nums(record.TheatreTotal, "0", record.TheatreElective, "0", record.TheatreNonElective, "0", record.Outpatients, "5")},

	// V11: DCC sub-items ≤ DCC + 0.01.
	{rule: "V11", name: "outpatients a quarter too many", mut: setNum(record.Outpatients, "3.25"), want: []string{f("V11", E, record.DCC)}},
	{rule: "V11", name: "sub-items 0.02 above DCC", cfg: noStep, mut: setNum(record.Outpatients, "3.02"), want: []string{f("V11", E, record.DCC)}},
	{rule: "V11", name: "DCC travel counted", mut: setNum(record.DCCTravel, "0.25"), want: []string{f("V11", E, record.DCC)}},
	{rule: "V11", name: "sub-items exactly 0.01 above DCC", cfg: noStep, mut: setNum(record.Outpatients, "3.01")},
	{rule: "V11", name: "theatre split not double-counted", mut: nums(record.TheatreElective, "1", record.TheatreNonElective, "1")},

	// V12: DCC sub-items short of DCC by more than 1.
	{rule: "V12", name: "gap 1.01", cfg: noStep, mut: setNum(record.Outpatients, "1.99"), want: []string{f("V12", W, record.DCC)}},
	{rule: "V12", name: "gap 1.25", mut: setNum(record.Outpatients, "1.75"), want: []string{f("V12", W, record.DCC)}},
	{rule: "V12", name: "gap exactly 1", mut: setNum(record.Outpatients, "2")},
	{rule: "V12", name: "no sub-items at all", mut: nums(record.TheatreTotal, "0", record.TheatreElective, "0", record.TheatreNonElective, "0", record.Outpatients, "0", record.WardRoundsInpatient, "0", record.MDT, "0", record.DCCAdmin, "0")},
	{rule: "V12", name: "severity off", cfg: withSeverity("V12", finding.Off), mut: setNum(record.Outpatients, "1.75")},
	{rule: "V12", name: "custom gap 2", cfg: func(c *Config) { c.DCCGapWarning = dec("2") }, mut: setNum(record.Outpatients, "1.75")},

	// V13: supporting activities ≤ total − DCC.
	{rule: "V13", name: "research 0.02 too many", cfg: noStep, mut: setNum(record.Research, "1.02"), want: []string{f("V13", W, record.SPA)}},
	{rule: "V13", name: "non-DCC admin and travel counted", mut: nums(record.NonDCCAdmin, "0.25", record.NonDCCTravel, "0.5"), want: []string{f("V13", W, record.SPA)}},
	{rule: "V13", name: "exactly total − DCC", mut: setNum(record.Research, "1")},
	{rule: "V13", name: "0.01 above total − DCC", cfg: noStep, mut: setNum(record.Research, "1.01")},
	{rule: "V13", name: "outside_total: room is total + APAs − DCC", cfg: outsideTotal, mut: all(apaPlan("10", "1", "8", "3"), nums(record.Research, "1.5", record.CPD, "1.5"))},
	{rule: "V13", name: "outside_total: above total + APAs − DCC", cfg: outsideTotal, mut: all(apaPlan("10", "1", "8", "3"), nums(record.Research, "1.5", record.CPD, "1.75")), want: []string{f("V13", W, record.SPA)}},

	// V14: full-time English consultant DCC ≥ 7, SPA ≥ 1.5.
	{rule: "V14", name: "DCC 6.75", mut: fullTimeWithDCC("6.75", "3.25", "2.25"), want: []string{f("V14", W, record.DCC)}},
	{rule: "V14", name: "DCC 6.99", cfg: noStep, mut: fullTimeWithDCC("6.99", "3.01", "2.49"), want: []string{f("V14", W, record.DCC)}},
	{rule: "V14", name: "SPA 1.25", mut: all(fullTimeWithDCC("8.75", "1.25", "3.25"), nums(record.Research, "0", record.TeachingEducation, "0", record.CPD, "1.25")), want: []string{f("V14", W, record.DCC)}},
	{rule: "V14", name: "DCC exactly 7", mut: fullTimeWithDCC("7", "3", "2.5")},
	{rule: "V14", name: "SPA exactly 1.5", mut: all(fullTimeWithDCC("8.5", "1.5", "3"), nums(record.Research, "0", record.TeachingEducation, "0", record.CPD, "1.5"))},
	{rule: "V14", name: "9 PAs + 1 APA in the total is part-time", mut: apaPlan("10", "1", "6.75", "3.25")},
	{rule: "V14", name: "10 PAs + 1 APA in the total is full-time", mut: apaPlan("11", "1", "6.75", "4.25"), want: []string{f("V14", W, record.DCC)}},
	{rule: "V14", name: "outside_total: 10 PAs + 1 APA is full-time", cfg: outsideTotal, mut: apaPlan("10", "1", "6.75", "4.25"), want: []string{f("V14", W, record.DCC)}},
	{rule: "V14", name: "part-time consultant", mut: all(nums(record.TotalContractedPAs, "8", record.DCC, "6", record.SPA, "2", record.Outpatients, "1.5"))},
	{rule: "V14", name: "2021 specialty doctor with DCC 6.75", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), fullTimeWithDCC("6.75", "3.25", "2.25"))},
	{rule: "V14", name: "Welsh consultant with DCC 6.75", mut: all(welsh, fullTimeWithDCC("6.75", "3.25", "2.25"))},

	// V15: frequency ⇔ category ⇔ supplement > 0.
	{rule: "V15", name: "category missing", mut: null(record.OnCallCategory), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "frequency missing", mut: null(record.OnCallFrequencyN), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "supplement missing", mut: null(record.OnCallSupplementPct), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "supplement zero", mut: setNum(record.OnCallSupplementPct, "0"), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "2021 SAS supplement only", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), null(record.OnCallFrequencyN), null(record.OnCallCategory)), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "category C", mut: setText(record.OnCallCategory, "C"), want: []string{f("V15", E, record.OnCallCategory)}},
	{rule: "V15", name: "frequency below 1", mut: setNum(record.OnCallFrequencyN, "0"), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "frequency 0.5 is not also a blended rota", mut: nums(record.OnCallFrequencyN, "0.5", record.OnCallSupplementPct, "8"), want: []string{f("V15", E, record.OnCallFrequencyN)}},
	{rule: "V15", name: "not on call, supplement 0", mut: all(null(record.OnCallFrequencyN), null(record.OnCallCategory), setNum(record.OnCallSupplementPct, "0"))},
	{rule: "V15", name: "2008 SAS frequency without category", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), null(record.OnCallCategory), setNum(record.OnCallSupplementPct, "4"))},
	{rule: "V15", name: "Welsh frequency without category", mut: all(welsh, null(record.OnCallCategory))},
	{rule: "V15", name: "frequency exactly 1", mut: nums(record.OnCallFrequencyN, "1", record.OnCallSupplementPct, "8")},

	// V16: supplement = table(category, band(N)).
	{rule: "V16", name: "A 1 in 4 is high (8%)", mut: nums(record.OnCallFrequencyN, "4", record.OnCallSupplementPct, "8")},
	{rule: "V16", name: "A 1 in 4 at medium 5%", mut: setNum(record.OnCallFrequencyN, "4"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "A 1 in 5 is medium (5%)", mut: setNum(record.OnCallFrequencyN, "5")},
	{rule: "V16", name: "A 1 in 5 at high 8%", mut: nums(record.OnCallFrequencyN, "5", record.OnCallSupplementPct, "8"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "A 1 in 8 is medium (5%)", mut: setNum(record.OnCallFrequencyN, "8")},
	{rule: "V16", name: "A 1 in 9 at medium 5%", mut: setNum(record.OnCallFrequencyN, "9"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "A 1 in 9 is low (3%)", mut: nums(record.OnCallFrequencyN, "9", record.OnCallSupplementPct, "3")},
	{rule: "V16", name: "B 1 in 6 is 2%", mut: all(setText(record.OnCallCategory, "B"), setNum(record.OnCallSupplementPct, "2"))},
	{rule: "V16", name: "B 1 in 6 at A's 5%", mut: setText(record.OnCallCategory, "B"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "B 1 in 3 is 3%", mut: all(setText(record.OnCallCategory, "B"), nums(record.OnCallFrequencyN, "3", record.OnCallSupplementPct, "3"))},
	{rule: "V16", name: "B 1 in 12 is 1%", mut: all(setText(record.OnCallCategory, "B"), nums(record.OnCallFrequencyN, "12", record.OnCallSupplementPct, "1"))},
	{rule: "V16", name: "5.01% is not 5%", mut: setNum(record.OnCallSupplementPct, "5.01"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "supplement above 100% reported once", mut: setNum(record.OnCallSupplementPct, "150"), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "specialty doctor 2021 mismatch is a warning", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.OnCallSupplementPct, "4")), want: []string{f("V16", W, record.OnCallSupplementPct)}},
	{rule: "V16", name: "specialist 2021 mismatch is a warning", mut: all(setText(record.ContractType, record.Specialist2021), setNum(record.OnCallSupplementPct, "6")), want: []string{f("V16", W, record.OnCallSupplementPct)}},
	{rule: "V16", name: "specialty doctor 2021 with V16 set to error", cfg: withSeverity("V16", E), mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.OnCallSupplementPct, "4")), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "consultant with V16 set to warning", cfg: withSeverity("V16", W), mut: setNum(record.OnCallSupplementPct, "4"), want: []string{f("V16", W, record.OnCallSupplementPct)}},
	{rule: "V16", name: "V16 off", cfg: withSeverity("V16", finding.Off), mut: setNum(record.OnCallSupplementPct, "4")},
	{rule: "V16", name: "V16 off for 2021 SAS", cfg: withSeverity("V16", finding.Off), mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.OnCallSupplementPct, "4"))},
	{rule: "V16", name: "specialty doctor 2021 matching table", mut: setText(record.ContractType, record.SpecialtyDoctor2021)},
	{rule: "V16", name: "2008 SAS not checked against the table", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "6"))},
	{rule: "V16", name: "other contract not checked", mut: all(setText(record.ContractType, record.OtherContract), setNum(record.OnCallSupplementPct, "7"))},
	{rule: "V16", name: "custom table: A medium 6%", cfg: func(c *Config) {
		c.SupplementPct = map[string]BandPct{"A": {High: dec("10"), Medium: dec("6"), Low: dec("4")}, "B": {High: dec("3"), Medium: dec("2"), Low: dec("1")}}
	}, mut: setNum(record.OnCallSupplementPct, "6")},
	{rule: "V16", name: "custom table: default 5% now wrong", cfg: func(c *Config) {
		c.SupplementPct = map[string]BandPct{"A": {High: dec("10"), Medium: dec("6"), Low: dec("4")}}
	}, want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V16", name: "custom table without B does not check B", cfg: func(c *Config) {
		c.SupplementPct = map[string]BandPct{"A": {High: dec("8"), Medium: dec("5"), Low: dec("3")}}
	}, mut: all(setText(record.OnCallCategory, "B"), setNum(record.OnCallSupplementPct, "7"))},
	{rule: "V16", name: "custom high_max_n 5: 1 in 5 is high", cfg: func(c *Config) { c.HighMaxN = dec("5") }, mut: nums(record.OnCallFrequencyN, "5", record.OnCallSupplementPct, "8")},

	// V17: blended (non-whole) frequency.
	{rule: "V17", name: "1 in 5.5 banded medium", mut: setNum(record.OnCallFrequencyN, "5.5"), want: []string{f("V17", W, record.OnCallFrequencyN)}},
	{rule: "V17", name: "1 in 4.5 banded medium", mut: setNum(record.OnCallFrequencyN, "4.5"), want: []string{f("V17", W, record.OnCallFrequencyN)}},
	{rule: "V17", name: "1 in 4.5 at high 8%", mut: nums(record.OnCallFrequencyN, "4.5", record.OnCallSupplementPct, "8"), want: []string{f("V16", E, record.OnCallSupplementPct), f("V17", W, record.OnCallFrequencyN)}},
	{rule: "V17", name: "1 in 8.5 banded low", mut: nums(record.OnCallFrequencyN, "8.5", record.OnCallSupplementPct, "3"), want: []string{f("V17", W, record.OnCallFrequencyN)}},
	{rule: "V17", name: "1 in 3.99 banded high", mut: nums(record.OnCallFrequencyN, "3.99", record.OnCallSupplementPct, "8"), want: []string{f("V17", W, record.OnCallFrequencyN)}},
	{rule: "V17", name: "whole frequency 7", mut: setNum(record.OnCallFrequencyN, "7")},
	{rule: "V17", name: "Welsh blended rota", mut: all(welsh, setNum(record.OnCallFrequencyN, "2.5")), want: []string{f("V17", W, record.OnCallFrequencyN)}},

	// V18: 2008 SAS supplement ∈ {0,2,4,6}.
	{rule: "V18", name: "2008 SAS at -2% is reported once (V16 range)", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "-2")), want: []string{f("V16", E, record.OnCallSupplementPct)}},
	{rule: "V18", name: "2008 SAS at 5%", mut: setText(record.ContractType, record.SpecialtyDoctor2008), want: []string{f("V18", E, record.OnCallSupplementPct)}},
	{rule: "V18", name: "2008 SAS at 8%", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "8")), want: []string{f("V18", E, record.OnCallSupplementPct)}},
	{rule: "V18", name: "2008 SAS at 0%", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "0"))},
	{rule: "V18", name: "2008 SAS at 2%", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "2"))},
	{rule: "V18", name: "2008 SAS at 6%", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "6"))},
	{rule: "V18", name: "2008 SAS without supplement", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), null(record.OnCallSupplementPct))},
	{rule: "V18", name: "custom 2008 list allows 5", cfg: func(c *Config) { c.SAS2008Supplements = []decimal.Dec{0, dec("5")} }, mut: setText(record.ContractType, record.SpecialtyDoctor2008)},
	{rule: "V18", name: "2021 SAS at 4% is V16, not V18", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.OnCallSupplementPct, "4")), want: []string{f("V16", W, record.OnCallSupplementPct)}},

	// V19: Wales uses a band, others a percentage.
	{rule: "V19", name: "Welsh plan with a percentage", mut: all(welsh, setNum(record.OnCallSupplementPct, "5")), want: []string{f("V19", E, record.OnCallSupplementPct)}},
	{rule: "V19", name: "Welsh plan with percentage and no band", mut: all(welsh, null(record.OnCallBandWales), setNum(record.OnCallSupplementPct, "5")), want: []string{f("V19", E, record.OnCallSupplementPct)}},
	{rule: "V19", name: "English plan with a band", mut: setNum(record.OnCallBandWales, "2"), want: []string{f("V19", E, record.OnCallBandWales)}},
	{rule: "V19", name: "2021 SAS plan with a band", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.OnCallBandWales, "1")), want: []string{f("V19", E, record.OnCallBandWales)}},
	{rule: "V19", name: "Welsh band 4 reported once", mut: all(welsh, setNum(record.OnCallBandWales, "4")), want: []string{f("V19", E, record.OnCallBandWales)}},
	{rule: "V19", name: "Welsh band 1.5", mut: all(welsh, setNum(record.OnCallBandWales, "1.5")), want: []string{f("V19", E, record.OnCallBandWales)}},
	{rule: "V19", name: "custom wales_bands 1-2 rejects band 3", cfg: func(c *Config) { c.WalesBands = []decimal.Dec{dec("1"), dec("2")} }, mut: all(welsh, setNum(record.OnCallBandWales, "3")), want: []string{f("V19", E, record.OnCallBandWales)}},
	{rule: "V19", name: "Welsh band 3", mut: all(welsh, setNum(record.OnCallBandWales, "3"))},
	{rule: "V19", name: "Welsh plan with 0%", mut: all(welsh, setNum(record.OnCallSupplementPct, "0"))},
	{rule: "V19", name: "Welsh plan without band", mut: all(welsh, null(record.OnCallBandWales))},

	// V20: unpredictable on-call limits.
	{rule: "V20", name: "Welsh consultant 1.01 sessions", mut: all(welsh, setNum(record.UnpredictableOnCall, "1.01")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "Welsh consultant 1.5 sessions", mut: all(welsh, setNum(record.UnpredictableOnCall, "1.5")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "Welsh consultant exactly 1 session", mut: all(welsh, setNum(record.UnpredictableOnCall, "1"))},
	{rule: "V20", name: "2021 SAS 2.01 PAs", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.UnpredictableOnCall, "2.01")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "specialist 2021 3 PAs", mut: all(setText(record.ContractType, record.Specialist2021), setNum(record.UnpredictableOnCall, "3")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "2008 SAS 2.5 PAs", mut: all(setText(record.ContractType, record.SpecialtyDoctor2008), setNum(record.OnCallSupplementPct, "4"), setNum(record.UnpredictableOnCall, "2.5")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "2021 SAS exactly 2 PAs", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.UnpredictableOnCall, "2"))},
	{rule: "V20", name: "Welsh consultant 1.75 (under the SAS limit) is V20", mut: all(welsh, setNum(record.UnpredictableOnCall, "1.75")), want: []string{f("V20", W, record.UnpredictableOnCall)}},
	{rule: "V20", name: "English consultant has no limit", mut: setNum(record.UnpredictableOnCall, "3")},
	{rule: "V20", name: "custom SAS limit 3", cfg: func(c *Config) { c.MaxUnpredictableSAS = dec("3") }, mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), setNum(record.UnpredictableOnCall, "3"))},
	{rule: "V20", name: "unpredictable not exported", mut: all(setText(record.ContractType, record.SpecialtyDoctor2021), null(record.UnpredictableOnCall))},

	// V21: private / fee-paying / ATC counted in the total.
	{rule: "V21", name: "private work in total", mut: nums(record.PrivateProfessionalServices, "1", record.TotalContractedPAs, "11"), want: []string{f("V21", E, record.TotalContractedPAs)}},
	{rule: "V21", name: "fee-paying and ATC in total", mut: nums(record.FeePayingServices, "0.5", record.AdditionalToContract, "0.5", record.TotalContractedPAs, "11"), want: []string{f("V21", E, record.TotalContractedPAs)}},
	{rule: "V21", name: "private work in total within tolerance", cfg: noStep, mut: nums(record.PrivateProfessionalServices, "1", record.TotalContractedPAs, "11.01"), want: []string{f("V21", E, record.TotalContractedPAs)}},
	{rule: "V21", name: "private work outside total", mut: setNum(record.PrivateProfessionalServices, "1")},
	{rule: "V21", name: "total matches neither: V6", mut: nums(record.PrivateProfessionalServices, "1", record.TotalContractedPAs, "11.5"), want: []string{f("V6", E, record.TotalContractedPAs)}},
	{rule: "V21", name: "V21 off reports nothing", cfg: withSeverity("V21", finding.Off), mut: nums(record.PrivateProfessionalServices, "1", record.TotalContractedPAs, "11")},

	// V22: more than 2 dp (rounded) or off the quarter step.
	{rule: "V22", name: "7.333333 rounded to 7.33", mut: nums(record.DCC, "7.333333", record.SPA, "2.666667", record.Outpatients, "2.833333"),
		want: []string{f("V22", W, record.DCC), f("V22", W, record.SPA), f("V22", W, record.Outpatients)},
		after: func(t *testing.T, p *record.JobPlan) {
			for id, want := range map[record.ID]string{record.DCC: "7.33", record.SPA: "2.67", record.Outpatients: "2.83"} {
				if got := p.Num(id); got != dec(want) {
					t.Errorf("%s = %s after Check, want %s", id, got, want)
				}
			}
		}},
	{rule: "V22", name: "half rounds away from zero", cfg: noStep, mut: nums(record.Research, "0.125", record.TeachingEducation, "0.875"),
		want: []string{f("V22", W, record.Research), f("V22", W, record.TeachingEducation)},
		after: func(t *testing.T, p *record.JobPlan) {
			if got := p.Num(record.Research); got != dec("0.13") {
				t.Errorf("research = %s, want 0.13", got)
			}
			if got := p.Num(record.TeachingEducation); got != dec("0.88") {
				t.Errorf("teaching = %s, want 0.88", got)
			}
		}},
	{rule: "V22", name: "rounding reported even with pa_step 0", cfg: noStep, mut: setNum(record.Research, "0.500001"), want: []string{f("V22", W, record.Research)},
		after: func(t *testing.T, p *record.JobPlan) {
			if got := p.Num(record.Research); got != dec("0.5") {
				t.Errorf("research = %s, want 0.5", got)
			}
		}},
	{rule: "V22", name: "not a quarter", mut: nums(record.DCC, "7.6", record.SPA, "2.4"), want: []string{f("V22", W, record.DCC), f("V22", W, record.SPA)},
		after: func(t *testing.T, p *record.JobPlan) {
			if got := p.Num(record.DCC); got != dec("7.6") {
				t.Errorf("dcc = %s, want 7.6 (quarter check must not change it)", got)
			}
		}},
	{rule: "V22", name: "pa_step 0 disables the quarter check", cfg: noStep, mut: nums(record.DCC, "7.6", record.SPA, "2.4")},
	{rule: "V22", name: "custom pa_step 0.1", cfg: func(c *Config) { c.PAStep = dec("0.1") }, mut: nums(record.DCC, "7.6", record.SPA, "2.4", record.Outpatients, "3.1", record.WardRoundsInpatient, "1.45"), want: []string{f("V22", W, record.WardRoundsInpatient)}},
	{rule: "V22", name: "exact quarters", mut: nums(record.DCC, "7.75", record.SPA, "2.25")},
	{rule: "V22", name: "two places kept", cfg: noStep, mut: nums(record.DCC, "7.33", record.SPA, "2.67", record.Outpatients, "2.83"),
		after: func(t *testing.T, p *record.JobPlan) {
			if got := p.Num(record.DCC); got != dec("7.33") {
				t.Errorf("dcc = %s, want 7.33", got)
			}
		}},
	{rule: "V22", name: "unpredictable on-call not a PA of the record", mut: setNum(record.UnpredictableOnCall, "0.333333")},

	// M13: a PA value no week can hold (activities added up, or computed),
	// reported alone: the rules would only report its consequences.
	{rule: "M13", name: "DCC of 168.01 PAs", cfg: noStep, mut: nums(record.DCC, "168.01", record.TotalContractedPAs, "170.51"), want: []string{f("M13", E, record.DCC), f("M13", E, record.TotalContractedPAs)}},
	{rule: "M13", name: "research of -200 PAs is M13, not V5", mut: setNum(record.Research, "-200"), want: []string{f("M13", E, record.Research)}},
	{rule: "M13", name: "unpredictable on-call of 1000 sessions", mut: setNum(record.UnpredictableOnCall, "1000"), want: []string{f("M13", E, record.UnpredictableOnCall)}},
	{rule: "M13", name: "a week's 168 PAs is possible (if well above V9)", mut: nums(record.TotalContractedPAs, "168", record.DCC, "165.5", record.Outpatients, "161"), want: []string{f("V9", E, record.TotalContractedPAs)}},
	{rule: "M13", name: "on-call frequency too large to round", mut: setNum(record.OnCallFrequencyN, "9223372036854.775807"), want: []string{f("M13", E, record.OnCallFrequencyN)}},

	// S1: contract type.
	{rule: "S1", name: "unknown contract type", mut: setText(record.ContractType, "consultant"), want: []string{f("S1", E, record.ContractType)}},
	{rule: "S1", name: "contract type missing", mut: null(record.ContractType), want: []string{f("S1", E, record.ContractType)}},
	{rule: "S1", name: "contract type other", mut: setText(record.ContractType, record.OtherContract)},

	// Several rules at once: each is reported once.
	{rule: "", name: "several problems", mut: all(setText(record.EmployeeNumber, "123"), setText(record.EffectiveDate, "2026-02-30"), setNum(record.SPA, "3"), setNum(record.OnCallSupplementPct, "8")),
		want: []string{f("V1", E, record.EmployeeNumber), f("V4", E, record.EffectiveDate), f("V6", E, record.TotalContractedPAs), f("V16", E, record.OnCallSupplementPct)}},
}

func runCase(t *testing.T, tc ruleCase) ([]finding.Finding, *record.JobPlan) {
	t.Helper()
	cfg := Defaults()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p := validPlan()
	if tc.mut != nil {
		tc.mut(p)
	}
	var got []finding.Finding
	v.Check(p, func(f finding.Finding) { got = append(got, f) })
	return got, p
}

func TestRules(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range ruleCases {
		name := tc.rule + "/" + tc.name
		if tc.rule == "" {
			name = "plan/" + tc.name
		}
		if names[name] {
			t.Fatalf("duplicate case name %q", name)
		}
		names[name] = true
		t.Run(name, func(t *testing.T) {
			fs, p := runCase(t, tc)
			got := make([]string, 0, len(fs))
			for _, x := range fs {
				got = append(got, f(x.Rule, x.Severity, fieldID(t, x.Field)))
				if x.Message == "" {
					t.Errorf("%s: empty message", x.Rule)
				}
				if x.Fix != finding.Rules[x.Rule].Fix {
					t.Errorf("%s: fix %q, want the catalogue's %q", x.Rule, x.Fix, finding.Rules[x.Rule].Fix)
				}
			}
			want := slices.Clone(tc.want)
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings:\n got  %v\n want %v", got, want)
				for _, x := range fs {
					t.Logf("  %s %s %s=%s: %s", x.Rule, x.Severity, x.Field, x.Value, x.Message)
				}
			}
			if tc.after != nil {
				tc.after(t, p)
			}
		})
	}
}

func fieldID(t *testing.T, key string) record.ID {
	t.Helper()
	if key == "" {
		return record.NumFields
	}
	id, ok := record.Lookup(key)
	if !ok {
		t.Fatalf("finding names unknown field %q", key)
	}
	return id
}

// TestEveryRuleHasCases makes adding a V rule (or S1) to the catalogue
// without a test fail: each needs a case where it fires and a case, about
// that rule, where a close-but-valid plan does not trigger it.
func TestEveryRuleHasCases(t *testing.T) {
	fires, passes := map[string]bool{}, map[string]bool{}
	for _, tc := range ruleCases {
		for _, w := range tc.want {
			fires[strings.SplitN(w, ":", 2)[0]] = true
		}
		if tc.rule != "" && !slices.ContainsFunc(tc.want, func(w string) bool { return strings.HasPrefix(w, tc.rule+":") }) {
			passes[tc.rule] = true
		}
	}
	isV := regexp.MustCompile(`^V[0-9]+$`)
	var codes []string
	for code := range finding.Rules {
		if isV.MatchString(code) || code == "S1" {
			codes = append(codes, code)
		}
	}
	if len(codes) < 23 {
		t.Fatalf("catalogue has only %d V/S1 rules: %v", len(codes), codes)
	}
	for _, code := range codes {
		if !fires[code] {
			t.Errorf("rule %s has no test case in which it fires", code)
		}
		if !passes[code] {
			t.Errorf("rule %s has no close-but-valid test case in which it does not fire", code)
		}
	}
	for _, tc := range ruleCases {
		if _, ok := finding.Rules[tc.rule]; tc.rule != "" && !ok {
			t.Errorf("case %q is about rule %s, which is not in the catalogue", tc.name, tc.rule)
		}
	}
}

func TestSeverityDefaultsAndOverrides(t *testing.T) {
	v, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for code, r := range finding.Rules {
		if got := v.Severity(code); got != r.Severity {
			t.Errorf("Severity(%s) = %s, want catalogue default %s", code, got, r.Severity)
		}
	}
	cfg := Defaults()
	cfg.Severity = map[string]finding.Severity{"V2": finding.Error, "V12": finding.Off, "V6": finding.Warning}
	v, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]finding.Severity{"V2": finding.Error, "V12": finding.Off, "V6": finding.Warning, "V1": finding.Error} {
		if got := v.Severity(code); got != want {
			t.Errorf("Severity(%s) = %s, want %s", code, got, want)
		}
	}
	if v.Config().Severity["V2"] != finding.Error {
		t.Error("Config() does not return the configuration in use")
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want []string // substrings, one per expected problem
	}{
		{"defaults", func(*Config) {}, nil},
		{"valid overrides", func(c *Config) {
			c.Severity = map[string]finding.Severity{"V2": finding.Error, "V12": finding.Off, "V16": finding.Warning, "S1": finding.Warning, "M01": finding.Warning}
		}, nil},
		{"unknown rule V99", func(c *Config) { c.Severity = map[string]finding.Severity{"V99": finding.Error} }, []string{`unknown rule "V99"`}},
		{"V23 is not implemented", func(c *Config) { c.Severity = map[string]finding.Severity{"V23": finding.Warning} }, []string{`unknown rule "V23"`}},
		{"lower-case code", func(c *Config) { c.Severity = map[string]finding.Severity{"v2": finding.Error} }, []string{`unknown rule "v2"`}},
		{"bad severity", func(c *Config) { c.Severity = map[string]finding.Severity{"V2": "fatal"} }, []string{`rules.severity.V2: "fatal" is not error, warning or off`}},
		{"capitalised severity", func(c *Config) { c.Severity = map[string]finding.Severity{"V2": "Warning"} }, []string{`"Warning" is not error, warning or off`}},
		{"empty severity", func(c *Config) { c.Severity = map[string]finding.Severity{"V2": ""} }, []string{`"" is not error, warning or off`}},
		{"unknown rule and bad severity", func(c *Config) { c.Severity = map[string]finding.Severity{"X1": "loud"} }, []string{`unknown rule "X1"`, `"loud" is not error`}},
		{"bands crossed", func(c *Config) { c.HighMaxN = dec("9") }, []string{"high_max_n must not exceed medium_max_n"}},
		{"supplement category C", func(c *Config) { c.SupplementPct["C"] = BandPct{} }, []string{`unknown on-call category "C"`}},
		{"apa_reading both", func(c *Config) { c.APAReading = "both" }, []string{`rules.apa_reading: "both" is not in_total or outside_total`}},
		{"apa_reading blank", func(c *Config) { c.APAReading = "" }, []string{`rules.apa_reading: "" is not`}},
		{"M13 cannot be turned off", func(c *Config) { c.Severity = map[string]finding.Severity{"M13": finding.Off} }, []string{"rules.severity.M13: its severity cannot be set"}},
		{"M13 cannot be a warning", func(c *Config) { c.Severity = map[string]finding.Severity{"M13": finding.Warning} }, []string{"rules.severity.M13: its severity cannot be set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			tt.mut(&cfg)
			got := cfg.Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %q, want %d problems matching %q", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, w) }) {
					t.Errorf("Check() = %q, want a problem containing %q", got, w)
				}
			}
			_, err := New(cfg)
			if (err != nil) != (len(tt.want) > 0) {
				t.Errorf("New error = %v, want error %v", err, len(tt.want) > 0)
			}
		})
	}
}

// TestDefaultsDocumented pins the documented defaults (config.go comments,
// domain.md §3 and table (b)).
func TestDefaultsDocumented(t *testing.T) {
	c := Defaults()
	for name, got := range map[string][2]decimal.Dec{
		"tolerance":               {c.Tolerance, dec("0.01")},
		"warn_above_pas":          {c.WarnAbovePAs, dec("12")},
		"max_pas":                 {c.MaxPAs, dec("16")},
		"dcc_gap_warning":         {c.DCCGapWarning, dec("1")},
		"full_time_pas":           {c.FullTimePAs, dec("10")},
		"min_dcc":                 {c.MinDCC, dec("7")},
		"min_spa":                 {c.MinSPA, dec("1.5")},
		"high_max_n":              {c.HighMaxN, dec("4")},
		"medium_max_n":            {c.MediumMaxN, dec("8")},
		"max_unpredictable_wales": {c.MaxUnpredictableWales, dec("1")},
		"max_unpredictable_sas":   {c.MaxUnpredictableSAS, dec("2")},
		"pa_step":                 {c.PAStep, dec("0.25")},
		"A.high":                  {c.SupplementPct["A"].High, dec("8")},
		"A.medium":                {c.SupplementPct["A"].Medium, dec("5")},
		"A.low":                   {c.SupplementPct["A"].Low, dec("3")},
		"B.high":                  {c.SupplementPct["B"].High, dec("3")},
		"B.medium":                {c.SupplementPct["B"].Medium, dec("2")},
		"B.low":                   {c.SupplementPct["B"].Low, dec("1")},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %s, want %s", name, got[0], got[1])
		}
	}
	if c.APAReading != APAInTotal {
		t.Errorf("apa_reading defaults to %q, want in_total", c.APAReading)
	}
	if !slices.Equal(c.SAS2008Supplements, []decimal.Dec{0, dec("2"), dec("4"), dec("6")}) {
		t.Errorf("sas_2008_supplements = %v", c.SAS2008Supplements)
	}
	if !slices.Equal(c.WalesBands, []decimal.Dec{dec("1"), dec("2"), dec("3")}) {
		t.Errorf("wales_bands = %v", c.WalesBands)
	}
	// Defaults must not share maps/slices between calls.
	c.SupplementPct["A"] = BandPct{}
	if Defaults().SupplementPct["A"].High != dec("8") {
		t.Error("Defaults() returns a shared supplement table")
	}
}

// TestCheckAllocatesNothingOnValidPlan backs the Validator doc comment.
func TestCheckAllocatesNothingOnValidPlan(t *testing.T) {
	v, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	p := validPlan()
	emit := func(finding.Finding) { t.Fatal("unexpected finding") }
	if n := testing.AllocsPerRun(100, func() { v.Check(p, emit) }); n != 0 {
		t.Errorf("Check allocated %v times per valid plan, want 0", n)
	}
}

// TestConfigYAML decodes a mapping file's `rules:` block the way the mapping
// compiler does: over Defaults().
func TestConfigYAML(t *testing.T) {
	cfg := Defaults()
	src := `
apa_reading: outside_total
tolerance: 0.02
pa_step: 0
severity: {V2: error, V12: off}
supplement_pct:
  A: {high: 10, medium: 6, low: 4}
sas_2008_supplements: [0, 3]
`
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	if p := cfg.Check(); len(p) > 0 {
		t.Fatalf("Check: %v", p)
	}
	if cfg.APAReading != APAOutsideTotal || cfg.Tolerance != dec("0.02") || cfg.PAStep != 0 {
		t.Errorf("scalars not decoded: %+v", cfg)
	}
	if cfg.Severity["V2"] != finding.Error || cfg.Severity["V12"] != finding.Off {
		t.Errorf("severity = %v", cfg.Severity)
	}
	if got := cfg.SupplementPct["A"]; got != (BandPct{dec("10"), dec("6"), dec("4")}) {
		t.Errorf("A = %+v", got)
	}
	if got := cfg.SupplementPct["B"]; got != (BandPct{dec("3"), dec("2"), dec("1")}) {
		t.Errorf("B = %+v, want the default kept", got)
	}
	if !slices.Equal(cfg.SAS2008Supplements, []decimal.Dec{0, dec("3")}) {
		t.Errorf("sas_2008_supplements = %v", cfg.SAS2008Supplements)
	}
	if cfg.MaxPAs != dec("16") {
		t.Errorf("max_pas = %s, want the default 16", cfg.MaxPAs)
	}

	// A key that is not a setting is refused, never ignored; the replaced
	// total_includes_apa says what took its place.
	for src, want := range map[string]string{
		"total_includes_apa: true\n":                                  `line 1: unknown setting "total_includes_apa" (replaced by apa_reading`,
		"tolerance: 0.02\ntolerence: 0.1\n":                           `line 2: unknown setting "tolerence"`,
		"supplement_pct:\n  A: {high: 8, medium: 5, low: 3, lo: 2}\n": `not "lo"`,
	} {
		cfg = Defaults()
		if err := yaml.Unmarshal([]byte(src), &cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}

	// Through an alias too.
	var wrapped struct {
		A     map[string]any `yaml:"a"`
		Rules Config         `yaml:"rules"`
	}
	wrapped.Rules = Defaults()
	if err := yaml.Unmarshal([]byte("a: &b {tolerence: 1}\nrules: *b\n"), &wrapped); err == nil || !strings.Contains(err.Error(), `unknown setting "tolerence"`) {
		t.Errorf("alias: err = %v, want the unknown setting", err)
	}

	// A partial category would otherwise set the bands it leaves out to 0%.
	cfg = Defaults()
	err := yaml.Unmarshal([]byte("supplement_pct:\n  A: {medium: 6}\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "missing high, low") {
		t.Errorf("partial supplement_pct: err = %v, want missing high, low", err)
	}
	cfg = Defaults()
	err = json.Unmarshal([]byte(`{"supplement_pct": {"B": {"high": 3, "low": 1}}}`), &cfg)
	if err == nil || !strings.Contains(err.Error(), "missing medium") {
		t.Errorf("partial supplement_pct (JSON): err = %v, want missing medium", err)
	}
	cfg = Defaults()
	if err := json.Unmarshal([]byte(`{"supplement_pct": {"B": {"high": 4, "medium": 3, "low": 2}}}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.SupplementPct["B"]; got != (BandPct{dec("4"), dec("3"), dec("2")}) {
		t.Errorf("B (JSON) = %+v", got)
	}
}
