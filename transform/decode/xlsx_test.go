package decode

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// book builds a workbook in memory; fill writes its cells.
func book(t testing.TB, fill func(f *excelize.File)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func style(t testing.TB, f *excelize.File, code string) int {
	t.Helper()
	id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readBook(t *testing.T, data []byte, opts XLSXOptions) (*XLSXReader, []Row, []error) {
	t.Helper()
	x, err := NewXLSXReader(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var rows []Row
	var errs []error
	for {
		r, err := x.Next()
		if err == io.EOF {
			return x, rows, errs
		}
		var re *RowError
		if errors.As(err, &re) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, *r)
	}
}

func TestXLSXTypedCells(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		dmy := style(t, f, "dd/mm/yyyy")
		two := style(t, f, "0.00")
		pct, _ := f.NewStyle(&excelize.Style{NumFmt: 9})
		f.SetSheetRow("Sheet1", "A1", &[]any{"Emp", "Date", "DCC", "Supp", "Code", "Ok", "Plain"})
		f.SetCellValue("Sheet1", "A2", 20000001)
		f.SetCellValue("Sheet1", "B2", 46113) // 1 April 2026
		f.SetCellStyle("Sheet1", "B2", "B2", dmy)
		f.SetCellValue("Sheet1", "C2", 7.5)
		f.SetCellStyle("Sheet1", "C2", "C2", two)
		f.SetCellValue("Sheet1", "D2", 0.05)
		f.SetCellStyle("Sheet1", "D2", "D2", pct)
		f.SetCellStr("Sheet1", "E2", "0012")
		f.SetCellBool("Sheet1", "F2", true)
		f.SetCellValue("Sheet1", "G2", 46113)
	})
	_, rows, errs := readBook(t, data, XLSXOptions{})
	if len(errs) > 0 || len(rows) != 1 {
		t.Fatalf("rows %v errors %v", rows, errs)
	}
	got := strings.Join(rows[0].Fields, "|")
	if want := "20000001|2026-04-01|7.5|5%|0012|TRUE|46113"; got != want {
		t.Errorf("fields %s, want %s", got, want)
	}
	wantKinds := []CellKind{CellNumber, CellDate, CellNumber, CellNumber, CellText, CellBool, CellNumber}
	for i, k := range wantKinds {
		if rows[0].Kinds[i] != k {
			t.Errorf("kind of column %d: %d, want %d", i+1, rows[0].Kinds[i], k)
		}
	}
	if got, want := string(rows[0].Raw), `20000001,2026-04-01,7.5,5%,"0012",TRUE,46113`; got != want {
		t.Errorf("raw %s, want %s", got, want)
	}
	_, rows, _ = readBook(t, data, XLSXOptions{DecimalComma: true})
	if rows[0].Fields[2] != "7,5" {
		t.Errorf("with decimal commas DCC is %q, want 7,5", rows[0].Fields[2])
	}
}

func TestXLSXDateSystems(t *testing.T) {
	for _, c := range []struct {
		name   string
		d1904  bool
		serial float64
		want   string
		kind   CellKind
	}{
		{"1900 system", false, 46113, "2026-04-01", CellDate},
		{"1904 system: four years and a day later", true, 44651, "2026-04-01", CellDate},
		{"before the 1900 leap-year bug", false, 59, "1900-02-28", CellDate},
		{"after it", false, 61, "1900-03-01", CellDate},
		// 29 February 1900 never was: the serial stays a number.
		{"the day that never was", false, 60, "60", CellNumber},
		{"date and time", false, 46113.375, "2026-04-01T09:00:00", CellDate},
		{"zero in the 1900 system names no day", false, 0, "0", CellNumber},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := book(t, func(f *excelize.File) {
				if c.d1904 {
					yes := true
					if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
						t.Fatal(err)
					}
				}
				f.SetSheetRow("Sheet1", "A1", &[]any{"Date", "X"})
				f.SetCellValue("Sheet1", "A2", c.serial)
				f.SetCellValue("Sheet1", "B2", "x")
				f.SetCellStyle("Sheet1", "A2", "A2", style(t, f, "dd/mm/yyyy hh:mm"))
			})
			_, rows, errs := readBook(t, data, XLSXOptions{})
			if len(rows) != 1 || len(errs) > 0 {
				t.Fatalf("rows %v errors %v", rows, errs)
			}
			if rows[0].Fields[0] != c.want || rows[0].Kinds[0] != c.kind || rows[0].Date1904 != c.d1904 {
				t.Errorf("got %q kind %d 1904 %v, want %q kind %d", rows[0].Fields[0], rows[0].Kinds[0], rows[0].Date1904, c.want, c.kind)
			}
		})
	}
}

func TestSerialDate(t *testing.T) {
	if d, ok := SerialDate(46113, false); !ok || d.Format("2006-01-02") != "2026-04-01" {
		t.Errorf("46113: %v %v", d, ok)
	}
	if d, ok := SerialDate(44651, true); !ok || d.Format("2006-01-02") != "2026-04-01" {
		t.Errorf("44651 (1904): %v %v", d, ok)
	}
	for _, v := range []float64{7.5, 60, -1, 0, 3e6} {
		if _, ok := SerialDate(v, false); ok {
			t.Errorf("%v read as a date", v)
		}
	}
}

func TestXLSXFormulas(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		f.SetSheetRow("Sheet1", "A1", &[]any{"A", "B", "Total"})
		f.SetSheetRow("Sheet1", "A2", &[]any{1, 2})
		f.SetCellFormula("Sheet1", "C2", "A2+B2") // no stored result
		f.SetSheetRow("Sheet1", "A3", &[]any{3, 4, 7})
		f.SetCellFormula("Sheet1", "C3", "A3+B3") // keeps the value 7
	})
	_, rows, errs := readBook(t, data, XLSXOptions{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "cell C2 holds a formula (=A2+B2) with no stored result") {
		t.Fatalf("errors %v", errs)
	}
	var re *RowError
	errors.As(errs[0], &re)
	if re.Row.Line != 2 || string(re.Row.Raw) != `1,2,="A2+B2"` {
		t.Errorf("refused row %d %s", re.Row.Line, re.Row.Raw)
	}
	if len(rows) != 1 || rows[0].Fields[2] != "7" {
		t.Errorf("rows %v: the cached result 7 should be read", rows)
	}
}

func TestXLSXSheetsAndHeader(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		f.SetCellStr("Sheet1", "A1", "read me")
		f.NewSheet("Plans")
		f.SetSheetRow("Plans", "A1", &[]any{"Job plans, signed off"})
		f.SetSheetRow("Plans", "A3", &[]any{"Emp", "DCC", nil, nil})
		f.SetSheetRow("Plans", "A4", &[]any{"1", 7.5})
		f.SetSheetRow("Plans", "A6", &[]any{"2", 8, nil, "stray"})
	})
	for _, c := range []struct {
		opts XLSXOptions
		want string
	}{
		{XLSXOptions{}, `the workbook has 2 sheets ("Sheet1", "Plans") and the mapping does not say which`},
		{XLSXOptions{Sheet: "Planz"}, `the workbook has no sheet "Planz"`},
		{XLSXOptions{SheetNumber: 3}, `has no sheet number 3`},
		{XLSXOptions{Sheet: "Plans", SkipRows: 6}, `has no header row: it ends before row 7`},
		{XLSXOptions{Sheet: "Plans", SkipRows: 1}, `the header row (row 2 of sheet "Plans") is blank`},
	} {
		_, err := NewXLSXReader(bytes.NewReader(data), c.opts)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want a FormatError with %q", c.opts, err, c.want)
		}
	}
	for _, opts := range []XLSXOptions{{Sheet: "plans", SkipRows: 2}, {SheetNumber: 2, HeaderRow: 3}} {
		x, rows, errs := readBook(t, data, opts)
		if strings.Join(x.Header(), "|") != "Emp|DCC" {
			t.Errorf("%+v: header %q", opts, x.Header())
		}
		if len(rows) != 1 || rows[0].Line != 4 || strings.Join(rows[0].Fields, "|") != "1|7.5" {
			t.Errorf("%+v: rows %+v", opts, rows)
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), `cell D6 holds "stray", in a column with no header`) {
			t.Errorf("%+v: errors %v", opts, errs)
		}
	}
}

func TestXLSXMergedCells(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		f.SetSheetRow("Sheet1", "A1", &[]any{"Plan title across the header"})
		f.MergeCell("Sheet1", "A1", "C1")
		f.SetSheetRow("Sheet1", "A2", &[]any{"Asg", "Code", "PAs"})
		f.SetSheetRow("Sheet1", "A3", &[]any{"10000001", "OPD", 2})
		f.SetSheetRow("Sheet1", "B4", &[]any{"WRD", 1})
		f.SetSheetRow("Sheet1", "B5", &[]any{"CPD", 1.5})
		f.MergeCell("Sheet1", "A3", "A5") // the assignment merged down its plan's rows
		f.SetSheetRow("Sheet1", "A6", &[]any{"10000002", "On leave"})
		f.MergeCell("Sheet1", "B6", "C6") // one value across two columns
	})
	_, rows, errs := readBook(t, data, XLSXOptions{SkipRows: 1})
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r.Fields, "|"))
	}
	if want := "10000001|OPD|2 10000001|WRD|1 10000001|CPD|1.5"; strings.Join(got, " ") != want {
		t.Errorf("rows %q, want %s", got, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `cells B6:C6 are merged and hold "On leave"`) {
		t.Errorf("errors %v", errs)
	}
}

func TestXLSXNotAWorkbook(t *testing.T) {
	good := book(t, func(f *excelize.File) { f.SetSheetRow("Sheet1", "A1", &[]any{"A"}) })
	for _, c := range []struct {
		name, data, want string
	}{
		{"csv", "Employee Number,Assignment\n1,2\n", "it looks like CSV text, not a workbook, but the mapping says format: xlsx; set format: csv"},
		{"json", `[{"a": 1}]`, "it is JSON text, not a workbook"},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old-style Excel workbook (.xls), or a password-protected one"},
		{"empty", "", "the file is empty"},
		{"cut short", string(good[:len(good)/2]), "cannot be read as one"},
		{"a zip that is no workbook", zipOf(t, "hello.txt", "hi"), "not a readable .xlsx workbook"},
	} {
		_, err := NewXLSXReader(strings.NewReader(c.data), XLSXOptions{})
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a FormatError with %q", c.name, err, c.want)
		}
	}
}

func zipOf(t *testing.T, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zipWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
	zw.Close()
	return b.String()
}

// TestXLSXRejectedWorkbook writes rows back as a workbook and reads them
// again with the same options: the same title rows, header, values and
// kinds.
func TestXLSXRejectedWorkbook(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		f.SetSheetName("Sheet1", "Job plans")
		f.SetSheetRow("Job plans", "A1", &[]any{"Exported 01/04/2026"})
		f.SetSheetRow("Job plans", "A2", &[]any{"Emp", "Date", "DCC", "Supp", "Code", "Ok", "Note"})
		f.SetSheetRow("Job plans", "A3", &[]any{20000001, 46113, 7.5, 0.05, "0012", true, `say "hi", then go`})
		f.SetCellStyle("Job plans", "B3", "B3", style(t, f, "dd/mm/yyyy"))
		pct, _ := f.NewStyle(&excelize.Style{NumFmt: 9})
		f.SetCellStyle("Job plans", "D3", "D3", pct)
		f.SetSheetRow("Job plans", "A4", &[]any{20000002, nil, "7,5"})
	})
	opts := XLSXOptions{Sheet: "Job plans", SkipRows: 1}
	x, rows, _ := readBook(t, data, opts)
	var out bytes.Buffer
	w := x.NewRejectWriter(&out)
	for _, r := range rows {
		if err := w.WriteRow(r.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	x2, rows2, errs := readBook(t, out.Bytes(), opts)
	if len(errs) > 0 || len(rows2) != len(rows) {
		t.Fatalf("read back %d rows (%v), want %d", len(rows2), errs, len(rows))
	}
	if strings.Join(x2.Header(), "|") != strings.Join(x.Header(), "|") || strings.Join(x2.preamble[0], "|") != "Exported 01/04/2026" {
		t.Errorf("header %q preamble %q", x2.Header(), x2.preamble)
	}
	for i := range rows {
		if a, b := strings.Join(rows[i].Fields, "|"), strings.Join(rows2[i].Fields, "|"); a != b {
			t.Errorf("row %d: %s, read back %s", i, a, b)
		}
		for j := range rows[i].Kinds {
			if rows[i].Kinds[j] != rows2[i].Kinds[j] {
				t.Errorf("row %d cell %d: kind %d, read back %d", i, j, rows[i].Kinds[j], rows2[i].Kinds[j])
			}
		}
	}
}

func TestClassifyFormat(t *testing.T) {
	for code, want := range map[string]numClass{
		"General": numPlain, "0.00": numPlain, "#,##0.00;[Red]-#,##0.00": numPlain, "0.00E+00": numPlain,
		`0.0 "hrs"`: numPlain, `0 "days"`: numPlain, "0%": numPercent, "0.00%": numPercent,
		"dd/mm/yyyy": numDate, "d-mmm-yy": numDate, "[$-809]dd mmmm yyyy": numDate, "mmm-yy": numDate, "yyyy-mm-dd": numDate,
		"dd/mm/yyyy hh:mm": numDateTime, "hh:mm": numTime, "[h]:mm": numTime, "mm:ss": numTime, "h:mm AM/PM": numTime,
	} {
		if got := classifyFormat(code); got != want {
			t.Errorf("%q: class %d, want %d", code, got, want)
		}
	}
	for id, want := range map[int]numClass{0: numPlain, 2: numPlain, 9: numPercent, 14: numDate, 22: numDateTime, 20: numTime, 49: numPlain} {
		if got, _ := builtInClass(id); got != want {
			t.Errorf("built-in %d: class %d, want %d", id, got, want)
		}
	}
}

func zipWriter(w io.Writer) *zip.Writer { return zip.NewWriter(w) }

// withSheet replaces the first sheet's XML of a small workbook.
func withSheet(t *testing.T, sheet string) []byte {
	t.Helper()
	base := book(t, func(f *excelize.File) { f.SetCellStr("Sheet1", "A1", "x") })
	zr, err := zip.NewReader(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, zf := range zr.File {
		w, _ := zw.Create(zf.Name)
		if zf.Name == "xl/worksheets/sheet1.xml" {
			io.WriteString(w, sheet)
			continue
		}
		rc, _ := zf.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	zw.Close()
	return b.Bytes()
}

// TestXLSXSheetXMLForms reads sheets as other programs write them: a
// namespace prefix, cells and rows without r, self-closing cells, rich
// inline text, a shared formula with its stored result, and a formula
// without one whose text has escaped characters.
func TestXLSXSheetXMLForms(t *testing.T) {
	const ns = `xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	data := withSheet(t, `<?xml version="1.0"?><x:worksheet `+ns+`><x:sheetData>`+
		`<x:row><x:c t="inlineStr"><x:is><x:t>Emp</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:r><x:t>D</x:t></x:r><x:r><x:t>CC</x:t></x:r></x:is></x:c><x:c t="inlineStr"><x:is><x:t>Note</x:t></x:is></x:c></x:row>`+
		`<x:row><x:c><x:v>1</x:v></x:c><x:c><x:f t="shared" si="0"/><x:v>7.5</x:v></x:c><x:c r="C2" s="0"/></x:row>`+
		`<x:row r="4"><x:c r="A4"><x:v>2</x:v></x:c><x:c r="B4"><x:f>IF(A4&lt;3,"a&amp;b",1)</x:f></x:c></x:row>`+
		`</x:sheetData></x:worksheet>`)
	x, rows, errs := readBook(t, data, XLSXOptions{})
	if got := strings.Join(x.Header(), "|"); got != "Emp|DCC|Note" {
		t.Errorf("header %q", got)
	}
	if len(rows) != 1 || rows[0].Line != 2 || strings.Join(rows[0].Fields, "|") != "1|7.5|" || rows[0].Kinds[1] != CellNumber {
		t.Errorf("rows %+v", rows)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `line 4: cell B4 holds a formula (=IF(A4<3,"a&b",1)) with no stored result`) {
		t.Errorf("errors %v", errs)
	}
}
