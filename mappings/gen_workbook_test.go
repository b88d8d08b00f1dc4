package mappings

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

// The trust-workbook sample and its case workbooks are made by the code
// below, so that anyone can see and change what is in them: a workbook
// is not a text file to edit. The test requires the committed .xlsx files
// to be exactly what it makes; `make golden-update` (go test ./mappings
// -update) writes them again. It runs before TestSamplesGolden, which
// converts them (go test runs files in name order).

const workbookDir = "../samples/trust-workbook"

func TestTrustWorkbookIsGenerated(t *testing.T) {
	books := map[string][]byte{"job-plans-2026-04.xlsx": trustWorkbook(t)}
	for name, rows := range trustWorkbookCases {
		books[filepath.Join("cases", name)] = registerBook(t, rows, nil)
	}
	if !bytes.Equal(books["job-plans-2026-04.xlsx"], trustWorkbook(t)) {
		t.Fatal("the generator is not deterministic")
	}
	for name, b := range books {
		testutil.Golden(t, filepath.Join(workbookDir, name), b)
	}
}

// registerHeader is the heading row of the register's Job plans sheet.
var registerHeader = []any{"Employee No", "Assignment No", "Surname", "Forename", "Staff Group", "Contract", "Plan Effective",
	"DCC", "SPA", "Additional NHS Resp.", "External Duties", "Total PAs", "On-call rota", "On-call category", "Supplement", "Band (Wales)", "Status", "Comments"}

// regRow is one row of the register. Effective is a date serial (shown
// dd/mm/yyyy) unless EffectiveAs says otherwise; Total is written as the
// formula =SUM(H:K) of the row with its result stored, as Excel saves it.
type regRow struct {
	Emp                   float64
	Asg, Surname, First   string
	Contract              string
	Effective             float64
	EffectiveAs           string // "general": a plain number; "text:..." a text cell
	DCC, SPA, AR, ED      float64
	Rota, Cat             string
	Supp                  float64 // a fraction in a percent cell: 0.05 is 5%
	Band, Status, Comment string
	Total                 string // "" sum with result; "nocache": formula without result; "value:N" a typed number
	Odd                   string // "dcc-as-date": DCC cell formatted as a date; "merged": a note merged over H:L
}

var trustRows = []regRow{
	{Emp: 71000001, Asg: "71000001", Surname: "Ashbury", First: "Nell", Contract: "Consultant 2003", Effective: 46113, DCC: 7.5, SPA: 2.5, Rota: "1 in 6", Cat: "A", Supp: 0.05, Status: "Signed off"},
	{Emp: 71000002, Asg: "71000002", Surname: "Brackenfield", First: "Otto", Contract: "Consultant 2003", Effective: 46113, DCC: 8.5, SPA: 1.5, AR: 1, Rota: "1 in 4", Cat: "B", Supp: 0.03, Status: "Signed off", Comment: "Clinical lead"},
	// 7.1 as Excel stores it after arithmetic: 7.0999999999999996.
	{Emp: 71000003, Asg: "71000003-2", Surname: "Coldharbour", First: "Pia", Contract: "Consultant 2003", Effective: 46143, DCC: 7.1, SPA: 2.9, Status: "Signed off"},
	{Emp: 71000004, Asg: "71000004", Surname: "Dunsfold", First: "Quin", Contract: "Specialty Doctor 2021", Effective: 46113, DCC: 8, SPA: 2, Status: "Signed off"},
	// The date typed into a General cell: a plain number, read as a serial.
	{Emp: 71000005, Asg: "71000005", Surname: "Eastry", First: "Rhea", Contract: "Specialty Doctor 2021", Effective: 46143, EffectiveAs: "general", DCC: 7, SPA: 1.5, ED: 0.5, Status: "Signed off"},
	{Emp: 71000006, Asg: "71000006", Surname: "Fernhill", First: "Siôn", Contract: "Consultant (Wales)", Effective: 46113, DCC: 7, SPA: 3, Rota: "1 in 5", Band: "Band 2", Status: "Signed off"},
	// A date typed as text in the register's own format.
	{Emp: 71000007, Asg: "71000007", Surname: "Gorsley", First: "Tam", Contract: "Specialist 2021", EffectiveAs: "text:01/05/2026", DCC: 8, SPA: 2, Status: "Signed off"},
	{Emp: 71000008, Asg: "71000008", Surname: "Hartwell", First: "Uma", Contract: "Consultant 2003", Effective: 46113, DCC: 8, SPA: 2, Status: "Draft", Comment: "awaiting CD sign-off"},
	// yyyymmdd typed as a number: no plausible date serial (M02).
	{Emp: 71000009, Asg: "71000009", Surname: "Ivybridge", First: "Val", Contract: "Consultant 2003", Effective: 20260401, EffectiveAs: "general", DCC: 7.5, SPA: 2.5, Status: "Signed off"},
	// Saved by a script that does not calculate: no stored total (M09).
	{Emp: 71000010, Asg: "71000010", Surname: "Jessop", First: "Wyn", Contract: "Consultant 2003", Effective: 46113, DCC: 7.5, SPA: 2.5, Total: "nocache", Status: "Signed off"},
	// 7/5 typed into DCC became the date 7 May (M01).
	{Emp: 71000011, Asg: "71000011", Surname: "Kelsall", First: "Xan", Contract: "Consultant 2003", Effective: 46113, DCC: 46149, SPA: 2.5, Total: "value:10", Odd: "dcc-as-date", Status: "Signed off"},
	// A note merged across the PA columns (M09).
	{Emp: 71000012, Asg: "71000012", Surname: "Lindfield", First: "Yann", Contract: "Consultant 2003", Effective: 46113, Odd: "merged", Status: "Signed off"},
	{Emp: 71000013, Asg: "71000013", Surname: "Marlow", First: "Zia", Contract: "Specialty Doctor 2008", Effective: 46113, DCC: 8, SPA: 2, Rota: "1 in 8", Supp: 0.04, Status: "SIGNED OFF"},
	// 8% where a 1 in 6 category A rota carries 5% (V16).
	{Emp: 71000014, Asg: "71000014", Surname: "Nettlebed", First: "Abe", Contract: "Consultant 2003", Effective: 46113, DCC: 7.5, SPA: 2.5, Rota: "1 in 6", Cat: "A", Supp: 0.08, Status: "Signed off"},
}

// trustWorkbookCases are the workbooks of mappings/trust-workbook.cases.yaml.
var trustWorkbookCases = map[string][]regRow{
	"serial-and-percent.xlsx": {
		{Emp: 71000101, Asg: "71000101", Surname: "Caseby", First: "Ann", Contract: "Consultant 2003", Effective: 46113, EffectiveAs: "general", DCC: 7.5, SPA: 2.5, Rota: "1 in 6", Cat: "A", Supp: 0.05, Status: "Signed off"},
	},
	"merged-contract.xlsx": {
		{Emp: 71000102, Asg: "71000102", Surname: "Casewell", First: "Bo", Contract: "Specialty Doctor 2021", Effective: 46113, DCC: 8, SPA: 2, Status: "Signed off"},
		{Emp: 71000103, Asg: "71000103", Surname: "Caseton", First: "Cy", Contract: "Specialty Doctor 2021", Effective: 46113, DCC: 7, SPA: 3, Status: "Signed off"},
	},
	"no-stored-total.xlsx": {
		{Emp: 71000104, Asg: "71000104", Surname: "Casemore", First: "Di", Contract: "Consultant 2003", Effective: 46113, DCC: 7.5, SPA: 2.5, Total: "nocache", Status: "Signed off"},
	},
}

// trustWorkbook is the register: a notes sheet, the Job plans sheet and a
// lists sheet, as the medical workforce team keeps it.
func trustWorkbook(t *testing.T) []byte {
	return registerBook(t, trustRows, func(f *excelize.File) {
		f.NewSheet("Lists")
		for i, c := range []string{"Consultant 2003", "Consultant (Wales)", "Specialty Doctor 2008", "Specialty Doctor 2021", "Specialist 2021"} {
			f.SetCellStr("Lists", fmt.Sprintf("A%d", i+1), c)
		}
	})
}

func registerBook(t *testing.T, rows []regRow, extra func(*excelize.File)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "About"))
	must(f.SetCellStr("About", "A1", "Job Plan Register. Fictional sample: every person and number is made up."))
	must(f.SetCellStr("About", "A2", "The Job plans sheet has one row per doctor's post; see samples/trust-workbook/README.md."))
	const sheet = "Job plans"
	_, err := f.NewSheet(sheet)
	must(err)
	code := func(c string) int {
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &c})
		must(err)
		return id
	}
	dmy, two := code("dd/mm/yyyy"), code("0.00")
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 9})
	must(err)
	must(f.SetCellStr(sheet, "A1", "Medical Workforce: Job Plan Register"))
	must(f.MergeCell(sheet, "A1", "R1"))
	must(f.SetCellStr(sheet, "A2", "Signed-off and draft plans, exported 02/04/2026"))
	must(f.SetSheetRow(sheet, "A4", &registerHeader))
	var merges [][2]string
	for i, r := range rows {
		n := i + 5
		cell := func(col string) string { return fmt.Sprintf("%s%d", col, n) }
		must(f.SetCellValue(sheet, cell("A"), r.Emp))
		for _, cv := range [][2]string{{"B", r.Asg}, {"C", r.Surname}, {"D", r.First}, {"E", "Medical & Dental"}, {"M", r.Rota}, {"N", r.Cat}, {"P", r.Band}, {"Q", r.Status}, {"R", r.Comment}} {
			if cv[1] != "" {
				must(f.SetCellStr(sheet, cell(cv[0]), cv[1]))
			}
		}
		// Rows of one contract in a run share one merged Contract cell.
		if i == 0 || rows[i-1].Contract != r.Contract {
			must(f.SetCellStr(sheet, cell("F"), r.Contract))
			run := i
			for run+1 < len(rows) && rows[run+1].Contract == r.Contract {
				run++
			}
			if run > i {
				merges = append(merges, [2]string{cell("F"), fmt.Sprintf("F%d", run+5)})
			}
		}
		switch {
		case strings.HasPrefix(r.EffectiveAs, "text:"):
			must(f.SetCellStr(sheet, cell("G"), strings.TrimPrefix(r.EffectiveAs, "text:")))
		case r.EffectiveAs == "general":
			must(f.SetCellValue(sheet, cell("G"), r.Effective))
		default:
			must(f.SetCellValue(sheet, cell("G"), r.Effective))
			must(f.SetCellStyle(sheet, cell("G"), cell("G"), dmy))
		}
		if r.Odd == "merged" {
			must(f.SetCellStr(sheet, cell("H"), "On sabbatical until 01/09/2026"))
			merges = append(merges, [2]string{cell("H"), cell("L")})
		} else {
			for j, v := range []float64{r.DCC, r.SPA, r.AR, r.ED} {
				col := string(rune('H' + j))
				must(f.SetCellValue(sheet, cell(col), v))
				must(f.SetCellStyle(sheet, cell(col), cell(col), two))
			}
			if r.Odd == "dcc-as-date" {
				must(f.SetCellStyle(sheet, cell("H"), cell("H"), dmy))
			}
			switch {
			case strings.HasPrefix(r.Total, "value:"):
				must(f.SetCellValue(sheet, cell("L"), strings.TrimPrefix(r.Total, "value:")))
			default:
				sum := r.DCC + r.SPA + r.AR + r.ED
				if r.Total != "nocache" {
					must(f.SetCellValue(sheet, cell("L"), sum))
				}
				must(f.SetCellFormula(sheet, cell("L"), fmt.Sprintf("SUM(H%d:K%d)", n, n)))
			}
			must(f.SetCellStyle(sheet, cell("L"), cell("L"), two))
		}
		if r.Supp != 0 {
			must(f.SetCellValue(sheet, cell("O"), r.Supp))
			must(f.SetCellStyle(sheet, cell("O"), cell("O"), pct))
		}
	}
	for _, m := range merges {
		must(f.MergeCell(sheet, m[0], m[1]))
	}
	// The register's totals row, below the plans.
	last := len(rows) + 4
	tot := last + 2
	must(f.SetCellStr(sheet, fmt.Sprintf("B%d", tot), "TOTAL"))
	for _, col := range []string{"H", "I", "J", "K", "L"} {
		must(f.SetCellFormula(sheet, fmt.Sprintf("%s%d", col, tot), fmt.Sprintf("SUM(%s5:%s%d)", col, col, last)))
	}
	if extra != nil {
		extra(f)
	}
	f.SetActiveSheet(1)
	var b bytes.Buffer
	must(f.Write(&b))
	return excelLike(t, b.Bytes(), rows, tot)
}

// excelLike makes the sheet what Excel itself writes where excelize writes
// otherwise: a formula with a number result has no t="str" (excelize
// marks every formula a text), totals of the totals row get their stored
// results, and 7.1 reached by arithmetic is stored as 7.0999999999999996.
func excelLike(t *testing.T, book []byte, rows []regRow, totalsRow int) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(book), int64(len(book)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if zf.Name == "xl/worksheets/sheet2.xml" {
			s := string(data)
			for i, r := range rows {
				n := i + 5
				cell := fmt.Sprintf(`<c r="L%d" `, n)
				if j := strings.Index(s, cell); j >= 0 && r.Total == "" {
					k := j + strings.Index(s[j:], "</c>")
					s = s[:j] + strings.Replace(s[j:k], ` t="str"`, "", 1) + s[k:]
				}
				if r.DCC == 7.1 {
					s = strings.Replace(s, fmt.Sprintf(`<c r="H%d" s="3"><v>7.1</v>`, n), fmt.Sprintf(`<c r="H%d" s="3"><v>7.0999999999999996</v>`, n), 1)
				}
			}
			sums := map[string]float64{}
			for _, r := range rows {
				sums["H"] += r.DCC
				sums["I"] += r.SPA
				sums["J"] += r.AR
				sums["K"] += r.ED
				sums["L"] += r.DCC + r.SPA + r.AR + r.ED
			}
			for _, col := range []string{"H", "I", "J", "K", "L"} {
				s = strings.Replace(s, fmt.Sprintf(`<c r="%s%d" t="str"><f>SUM(%s5:%s%d)</f></c>`, col, totalsRow, col, col, totalsRow-2),
					fmt.Sprintf(`<c r="%s%d"><f>SUM(%s5:%s%d)</f><v>%g</v></c>`, col, totalsRow, col, col, totalsRow-2, sums[col]), 1)
			}
			data = []byte(s)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
