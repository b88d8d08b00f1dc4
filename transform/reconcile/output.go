package reconcile

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// CSVHeader is the header of reconcile.csv.
var CSVHeader = []string{
	"assignment_number", "employee_number", "name", "status",
	"plan_effective_date", "plan_source", "contract_type",
	"planned_pas", "paid_pas", "delta_pas",
	"planned_supplement_pct", "paid_supplement_pct", "delta_supplement_pct",
	"planned_wales_band", "paid_wales_band",
	"basic_salary", "fte", "full_time_basic", "pa_value_gbp",
	"estimate_pas_gbp", "estimate_supplement_gbp", "estimate_total_gbp",
	"notes",
}

// WriteCSV writes reconcile.csv: one row per assignment (misaligned first,
// then plan only, payroll only, aligned), then, after a blank line, the
// totals and the method and assumptions, one to a line in the first
// column. A program reading the file should stop at the first blank line.
// The file starts with a UTF-8 byte-order mark, for Excel.
// Every cell goes through report.SafeCell, so nothing runs as a formula.
func (r *Result) WriteCSV(w io.Writer) error {
	// A UTF-8 byte-order mark, so that Excel reads £, − and accented names
	// as UTF-8 rather than as Windows-1252.
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	write := func(rec []string) {
		for i := range rec {
			rec[i] = report.SafeCell(rec[i])
		}
		cw.Write(rec)
	}
	write(append([]string(nil), CSVHeader...))
	for i := range r.Lines {
		l := &r.Lines[i]
		rec := []string{l.Assignment, l.Employee, l.Name, l.Status, "", "", "", "", "", "", "", "", "", l.PlannedBand, l.PaidBand, "", "", "", "", pence(l.EstPAs), pence(l.EstSupplement), pence(l.EstTotal), strings.Join(l.Notes, "; ")}
		if p := l.Plan; p != nil {
			rec[4], rec[5], rec[6], rec[7] = p.EffectiveDate, p.Source, p.ContractType, l.PlannedPAs.String()
		}
		if pay := l.Pay; pay != nil {
			rec[8] = l.PaidPAs.String()
			rec[15], rec[16] = decStr(pay.Basic), decStr(pay.FTE)
			rec[17] = decStr(l.FullTimeBasic)
			rec[18] = pence(l.PAValue)
		}
		if l.Plan != nil && l.Pay != nil {
			rec[9] = l.DeltaPAs.String()
			if l.HasPct {
				rec[10], rec[11], rec[12] = l.PlannedPct.String(), l.PaidPct.String(), l.DeltaPct.String()
			}
		}
		write(rec)
	}
	cw.Write(nil) // blank line: the data ends here
	for _, line := range r.Summary() {
		write([]string{line})
	}
	write([]string{"Method and assumptions:"})
	for i, a := range r.Assumptions {
		write([]string{fmt.Sprintf("%d. %s", i+1, a)})
	}
	cw.Flush()
	return cw.Error()
}

func pence(p *Pence) string {
	if p == nil {
		return ""
	}
	return p.String()
}

func decStr(d *decimal.Dec) string {
	if d == nil {
		return ""
	}
	return d.String()
}

// Summary is the result in a few plain lines (also printed by the command).
func (r *Result) Summary() []string {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	lines := []string{
		fmt.Sprintf("Assignments compared: %d (%d aligned, %d misaligned, %d with a plan but not in payroll, %d in payroll without a plan).",
			n, r.Counts[Aligned], r.Counts[Misaligned], r.Counts[PlanOnly], r.Counts[PayrollOnly]),
		fmt.Sprintf("Estimated over-payment: %s a year (PAs %s, on-call supplement %s).", r.Over.Pounds(), r.OverPAs.Pounds(), r.OverSupplement.Pounds()),
		fmt.Sprintf("Estimated under-payment: %s a year (PAs %s, on-call supplement %s).", (-r.Under).Pounds(), (-r.UnderPAs).Pounds(), (-r.UnderSupplement).Pounds()),
	}
	if r.Unvalued > 0 {
		lines = append(lines, fmt.Sprintf("%d misaligned assignment(s) have a difference not valued in pounds (see notes).", r.Unvalued))
	}
	return lines
}
