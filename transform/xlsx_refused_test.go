package transform_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// TestRefusedNotAWorkbook: a file that is not a workbook, where the
// mapping says format: xlsx, is refused with a reason that says what it
// is instead.
func TestRefusedNotAWorkbook(t *testing.T) {
	m, err := mapping.Load("wb.yaml", []byte("version: 1\nname: wb\nformat: xlsx\nfields:\n  assignment_number: {column: Asg}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, input, want string }{
		{"csv", "Employee Number,Asg\n1,2\n", `it looks like CSV text, not a workbook, but the mapping says format: xlsx; set format: csv`},
		{"json", `{"plans": []}`, "it is JSON text, not a workbook"},
		{"corrupt zip", "PK\x03\x04\x14\x00\x06\x00 and then nothing", "the file starts like a zip archive (as an .xlsx workbook does) but cannot be read as one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := outdir.Convert(context.Background(), m, "plans.xlsx", strings.NewReader(tt.input), int64(len(tt.input)), t.TempDir(), outdir.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var fe *transform.FileError
			if !errors.As(res.Err, &fe) || res.Report.Status != report.StatusFailed || !strings.Contains(res.Report.Reason, tt.want) {
				t.Errorf("err %v, status %s, reason %q; want a FileError saying %q", res.Err, res.Report.Status, res.Report.Reason, tt.want)
			}
		})
	}
}

// TestConvertWorkbookLeavesNoTemporaryFiles: Convert reads a workbook
// through copies in the spool folder (decode.Open's reader) and closes the
// reader, so the folder is empty once it returns: when the whole sheet was
// read, and when it stops early (the OnPlan hook ends the input, as
// preview does) while the reader is far from the end of the sheet.
func TestConvertWorkbookLeavesNoTemporaryFiles(t *testing.T) {
	m, err := mapping.Load("wb.yaml", []byte("version: 1\nname: wb\nformat: xlsx\nfields:\n  assignment_number: {column: Asg}\n"))
	if err != nil {
		t.Fatal(err)
	}
	const rows = 5000
	f := excelize.NewFile()
	f.SetSheetRow("Sheet1", "A1", &[]any{"Asg"})
	for i := range rows {
		f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+2), &[]any{fmt.Sprintf("%08d", 10000000+i)})
	}
	var book bytes.Buffer
	if err := f.Write(&book); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		plans int // plans the hook lets through; 0 for all
	}{{"whole sheet", 0}, {"first plan", 1}} {
		t.Run(tt.name, func(t *testing.T) {
			spool := t.TempDir()
			seen := 0
			onPlan := func(p *transform.Plan) error {
				seen++
				if seen == tt.plans {
					return transform.ErrEndInput
				}
				return nil
			}
			if _, err := transform.Convert(context.Background(), m, bytes.NewReader(book.Bytes()), transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: discard{}, SpoolDir: spool}, transform.WithOnPlan(onPlan)); err != nil {
				t.Fatal(err)
			}
			if want := cmp.Or(tt.plans, rows); seen != want {
				t.Errorf("the hook was handed %d rows, want %d", seen, want)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Errorf("the spool folder holds %v after Convert", left)
			}
		})
	}
}

type discard struct{}

func (discard) Add(finding.Finding) error { return nil }
