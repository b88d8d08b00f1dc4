package reconcile

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/internal/spool"

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

// reconcile.csv: one row per assignment (misaligned first, then plan only,
// payroll only, aligned, each in assignment order), then, after a blank
// line, the totals and the method and assumptions, one to a line in the
// first column. A program reading the file should stop at the first blank
// line. The file starts with a UTF-8 byte-order mark, so that Excel reads
// £, − and accented names as UTF-8 rather than as Windows-1252. Every cell
// goes through report.SafeCell, so nothing runs as a formula.

// groupOrder is the order of the statuses in reconcile.csv.
var groupOrder = []string{Misaligned, PlanOnly, PayrollOnly, Aligned}

// csvWriter writes reconcile.csv as the lines come, in assignment order:
// the misaligned rows straight to the file, the others into a spool each
// (in memory up to a bound, then a temporary file), copied after them.
type csvWriter struct {
	raw    io.Writer
	out    *csv.Writer // over raw
	spools map[string]*spool.Spool
	csvs   map[string]*csv.Writer
	dept   bool // a department column after the name
	rec    []string
}

func newCSVWriter(w io.Writer, tempDir string, c *Config) (*csvWriter, error) {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return nil, err
	}
	cw := &csvWriter{raw: w, out: csv.NewWriter(w), spools: map[string]*spool.Spool{}, csvs: map[string]*csv.Writer{}, dept: c.Columns.Department != ""}
	cw.out.UseCRLF = true
	for _, status := range groupOrder[1:] {
		sp := spool.New(tempDir, ".reconcile-"+status+"-", 1<<20)
		cw.spools[status] = sp
		cw.csvs[status] = csv.NewWriter(sp)
		cw.csvs[status].UseCRLF = true
	}
	header := CSVHeader
	if cw.dept {
		header = slices.Insert(slices.Clone(CSVHeader), 3, "department")
	}
	return cw, cw.write(cw.out, slices.Clone(header))
}

func (cw *csvWriter) write(w *csv.Writer, rec []string) error {
	for i := range rec {
		rec[i] = report.SafeCell(rec[i])
	}
	return w.Write(rec)
}

// add writes one line's row.
func (cw *csvWriter) add(l *Line) error {
	rec := append(cw.rec[:0], l.Assignment, l.Employee, l.Name, l.Status, "", "", "", "", "", "", "", "", "", l.PlannedBand, l.PaidBand, "", "", "", "", pence(l.EstPAs), pence(l.EstSupplement), pence(l.EstTotal), strings.Join(l.Notes, "; "))
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
	if cw.dept {
		dept := ""
		if l.Pay != nil {
			dept = l.Pay.Department
		}
		rec = slices.Insert(rec, 3, dept)
	}
	cw.rec = rec
	w := cw.out
	if l.Status != Misaligned {
		w = cw.csvs[l.Status]
	}
	return cw.write(w, rec)
}

// finish copies the other groups after the misaligned rows, then writes
// the totals and the method.
func (cw *csvWriter) finish(r *Result) error {
	cw.out.Flush()
	if err := cw.out.Error(); err != nil {
		return fmt.Errorf("write reconcile.csv: %w", err)
	}
	for _, status := range groupOrder[1:] {
		cw.csvs[status].Flush()
		if err := cw.csvs[status].Error(); err != nil {
			return fmt.Errorf("write reconcile.csv: %w", err)
		}
		src, err := cw.spools[status].Reader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(cw.raw, src); err != nil {
			return fmt.Errorf("write reconcile.csv: %w", err)
		}
	}
	cw.out.Write(nil) // blank line: the data ends here
	for _, line := range r.Summary() {
		cw.write(cw.out, []string{line})
	}
	cw.write(cw.out, []string{"Method and assumptions:"})
	for i, a := range r.Assumptions {
		cw.write(cw.out, []string{fmt.Sprintf("%d. %s", i+1, a)})
	}
	cw.out.Flush()
	return cw.out.Error()
}

// close removes the spools.
func (cw *csvWriter) close() {
	for _, sp := range cw.spools {
		sp.Close()
	}
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

// Outputs are the files Write publishes.
var Outputs = []string{"reconcile.csv", "reconcile.html"}

// Write reconciles plans with pay and publishes reconcile.csv and
// reconcile.html in dir, each under a temporary name until both are
// complete (atomicfile): a reader sees whole files or none, and a refused
// reconciliation leaves none. reconcile.csv is written as the lines come
// and the page from what the result keeps, so memory stays bounded.
func Write(ctx context.Context, dir string, plans *Plans, pay *Payroll, c *Config, opts Options, ho HTMLOptions) (*Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	csvFile, err := atomicfile.Create(filepath.Join(dir, Outputs[0]))
	if err != nil {
		return nil, err
	}
	defer csvFile.Abort()
	bw := bufio.NewWriterSize(csvFile, 256<<10)
	cw, err := newCSVWriter(bw, dir, c)
	if err != nil {
		return nil, fmt.Errorf("write reconcile.csv: %w", err)
	}
	defer cw.close()
	res, err := Reconcile(ctx, plans, pay, c, opts, cw.add)
	if err != nil {
		return nil, err
	}
	if err := cw.finish(res); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write reconcile.csv: %w", err)
	}
	htmlFile, err := atomicfile.Create(filepath.Join(dir, Outputs[1]))
	if err != nil {
		return nil, err
	}
	defer htmlFile.Abort()
	hw := bufio.NewWriterSize(htmlFile, 64<<10)
	if err := res.WriteHTML(hw, ho); err != nil {
		return nil, fmt.Errorf("write reconcile.html: %w", err)
	}
	if err := hw.Flush(); err != nil {
		return nil, fmt.Errorf("write reconcile.html: %w", err)
	}
	return res, atomicfile.CommitAll(csvFile, htmlFile)
}
