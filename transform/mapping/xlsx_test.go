package mapping_test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// TestWorkbookCells converts workbook cells of each type into the fields
// the mapping says they are.
func TestWorkbookCells(t *testing.T) {
	f := excelize.NewFile()
	dmy := "dd/mm/yyyy"
	dateStyle, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &dmy})
	two := "0.00"
	twoStyle, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &two})
	pct, _ := f.NewStyle(&excelize.Style{NumFmt: 9})
	f.SetSheetRow("Sheet1", "A1", &[]any{"Asg", "Start", "DCC", "Supp"})
	rows := [][]any{
		{"10000001", 46113, 7.5, 0.05},     // a date cell, 7.5 shown as 7.50, 5% as a percent cell
		{"10000002", 46113, "7,5", "5%"},   // a plain number serial; text with a decimal comma
		{"10000003", "01/04/2026", 7.5, 5}, // a date as text, in the mapping's format
		{"10000004", 20260401, 7.5, 5},     // yyyymmdd typed as a number: no plausible serial
		{"10000005", 45, 7.5, 5},           // a small number: 14 February 1900 as a serial
		{"10000006", 46113.5, 7.5, 5},      // not a whole day
		{"10000007", 46113, 46113, 5},      // a date-formatted cell where a number belongs
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		f.SetSheetRow("Sheet1", cell, &r)
	}
	f.SetCellStyle("Sheet1", "B2", "B2", dateStyle)
	f.SetCellStyle("Sheet1", "C2", "C2", twoStyle)
	f.SetCellStyle("Sheet1", "D2", "D2", pct)
	f.SetCellStyle("Sheet1", "C8", "C8", dateStyle)
	var book bytes.Buffer
	f.Write(&book)
	m, err := mapping.Load("wb.yaml", []byte(`version: 1
name: wb
format: xlsx
numbers: {decimal_comma: true}
fields:
  assignment_number: {column: Asg}
  effective_date: {column: Start, formats: [dd/mm/yyyy]}
  dcc: {column: DCC}
  on_call_supplement_pct: {column: Supp}
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	found := &findings{}
	if _, err := transform.Convert(context.Background(), m, bytes.NewReader(book.Bytes()), transform.Outputs{Records: &out, Rejected: &bytes.Buffer{}, Findings: found, SpoolDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	values := mappedValues(t, m, book.String())
	for _, want := range []string{
		`key "": assignment_number=10000001 effective_date=2026-04-01 dcc=7.5 on_call_supplement_pct=5`,
		`key "": assignment_number=10000002 effective_date=2026-04-01 dcc=7.5 on_call_supplement_pct=5`,
		`key "": assignment_number=10000003 effective_date=2026-04-01 dcc=7.5 on_call_supplement_pct=5`,
	} {
		if !strings.Contains(values, want+"\n") {
			t.Errorf("mapped values lack %q:\n%s", want, values)
		}
	}
	all := strings.Join(found.lines, "\n")
	for _, want := range []string{
		"5 M02 effective_date Start \"20260401\" Effective Date 20260401 is a number in the workbook, not a date: a number is read as an Excel date serial only when it is a day Excel can show. Format the column as dates, or write the dates as text in the format dd/mm/yyyy. If the dates are written as digits, such as 20260401, add the format yyyymmdd (or ddmmyyyy).",
		"6 M02 effective_date Start \"45\" Effective Date 45 is a number in the workbook, not a date: a number is read as an Excel date serial only when it is a day from 1950 to 2099 (as a date serial it would be 14 February 1900).",
		"7 M02 effective_date Start \"46113,5\" Effective Date 46113,5 is a number in the workbook, not a date: a number is read as an Excel date serial only when it is a whole number.",
		"8 M01 dcc DCC \"2026-04-01\"",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}
}

// TestWorkbookYYYYMMDDNumbers reads 20260401 typed as a number by the
// mapping's yyyymmdd format, which fits it exactly.
func TestWorkbookYYYYMMDDNumbers(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetRow("Sheet1", "A1", &[]any{"Asg", "Start"})
	f.SetSheetRow("Sheet1", "A2", &[]any{"10000001", 20260401})
	var book bytes.Buffer
	f.Write(&book)
	m, err := mapping.Load("wb.yaml", []byte("version: 1\nname: wb\nformat: xlsx\nfields:\n  assignment_number: {column: Asg}\n  effective_date: {column: Start, formats: [yyyymmdd]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mappedValues(t, m, book.String()); !strings.Contains(got, "effective_date=2026-04-01") {
		t.Errorf("got %s", got)
	}
}

// TestWorkbookDecodeOptions: the options decode.Open reads a workbook
// with are the mapping's xlsx block, its decimal comma and the caller's
// folder for temporary files.
func TestWorkbookDecodeOptions(t *testing.T) {
	m, err := mapping.Load("wb.yaml", []byte("version: 1\nname: wb\nformat: xlsx\nxlsx: {sheet: Plans, skip_rows: 2, header_row: 2}\nnumbers: {decimal_comma: true}\nfields:\n  assignment_number: {column: Asg}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := m.DecodeOptions("/spool")
	want := decode.Options{Format: decode.FormatXLSX, XLSX: decode.XLSXOptions{Sheet: "Plans", SkipRows: 2, HeaderRow: 2, DecimalComma: true, TempDir: "/spool"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeOptions = %+v, want %+v", got, want)
	}
}
