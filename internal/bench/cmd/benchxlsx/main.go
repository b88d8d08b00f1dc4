// Command benchxlsx is `make bench` for workbooks: it generates (once) a
// Job Plan Register workbook of many rows in the layout of
// samples/trust-workbook, converts it with the built binary and
// mappings/trust-workbook.yaml, and prints rows/s and the child's peak
// RSS, which must not grow with the rows.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xuri/excelize/v2"
)

func main() {
	rows := flag.Int("rows", 100_000, "plan rows to generate")
	bin := flag.String("bin", "bin/jobplan-hub", "jobplan-hub binary")
	dir := flag.String("dir", ".bench", "work directory")
	maxRSS := flag.Float64("max-rss-mb", 128, "target peak RSS")
	flag.Parse()
	if err := run(*rows, *bin, *dir, *maxRSS); err != nil {
		fmt.Fprintln(os.Stderr, "benchxlsx:", err)
		os.Exit(1)
	}
}

func run(rows int, bin, dir string, maxRSS float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	input := filepath.Join(dir, fmt.Sprintf("register-%d.xlsx", rows))
	part := filepath.Join(dir, fmt.Sprintf("register-%d.part.xlsx", rows))
	if _, err := os.Stat(input); err != nil {
		if err := generate(part, rows); err != nil {
			return err
		}
		if err := os.Rename(part, input); err != nil {
			return err
		}
	}
	st, err := os.Stat(input)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "xlsx-out")
	os.RemoveAll(out)
	defer os.RemoveAll(out)
	cmd := exec.Command(bin, "convert", "--quiet", "--mapping", "mappings/trust-workbook.yaml", "--out", out, input)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); code > 1 || (err != nil && code < 0) {
		return fmt.Errorf("convert failed: %v", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rssMB := float64(ru.Maxrss) / 1024
	verdict := "PASS"
	if rssMB >= maxRSS {
		verdict = "FAIL"
	}
	fmt.Printf("convert a %d-row workbook (%.1f MB .xlsx): %.2fs, %.0f rows/s, peak RSS %.1f MB (target < %.0f MB: %s)\n",
		rows, float64(st.Size())/1e6, elapsed.Seconds(), float64(rows)/elapsed.Seconds(), rssMB, maxRSS, verdict)
	return nil
}

// generate writes the register with excelize's stream writer: title rows,
// the header, then rows of typed cells (number, text, date and percent
// cells), all fictional.
func generate(path string, rows int) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", "Job plans"); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter("Job plans")
	if err != nil {
		return err
	}
	dmy := "dd/mm/yyyy"
	dateStyle, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &dmy})
	pct, _ := f.NewStyle(&excelize.Style{NumFmt: 9})
	set := func(row int, vals []any) error {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		return sw.SetRow(cell, vals)
	}
	if err := set(1, []any{"Medical Workforce: Job Plan Register"}); err != nil {
		return err
	}
	set(2, []any{"Generated for make bench"})
	header := []any{"Employee No", "Assignment No", "Surname", "Forename", "Staff Group", "Contract", "Plan Effective",
		"DCC", "SPA", "Additional NHS Resp.", "External Duties", "Total PAs", "On-call rota", "On-call category", "Supplement", "Band (Wales)", "Status", "Comments"}
	set(4, header)
	for i := 0; i < rows; i++ {
		emp := 80000000 + i
		dcc := 7.5 + float64(i%3)*0.25
		vals := []any{emp, fmt.Sprint(emp), fmt.Sprintf("Benchname%d", i), "Alex", "Medical & Dental", "Consultant 2003",
			excelize.Cell{StyleID: dateStyle, Value: 46113 + i%200}, dcc, 10 - dcc, 0, 0, 10,
			"1 in 6", "A", excelize.Cell{StyleID: pct, Value: 0.05}, nil, "Signed off", nil}
		if err := set(i+5, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}
