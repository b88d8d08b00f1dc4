package mapping_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

// TestHeldOutWorkbookIsGenerated makes testdata/infer/wales-workbook-xlsx/
// export.xlsx, a held-out export for TestInferEvaluation, from the table
// below; -update (make golden-update) writes it again.
func TestHeldOutWorkbookIsGenerated(t *testing.T) {
	testutil.Golden(t, "testdata/infer/wales-workbook-xlsx/export.xlsx", walesWorkbook(t))
}

func walesWorkbook(t *testing.T) []byte {
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Job Plans"))
	dmy := "dd/mm/yyyy"
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dmy})
	must(err)
	must(f.SetCellStr("Job Plans", "A1", "Bwrdd Iechyd Enghreifftiol / Example Health Board: job plans"))
	header := []any{"Employee Number / Rhif Cyflogai", "Assignment / Aseiniad", "Surname / Cyfenw", "Forename / Enw cyntaf",
		"Contract / Contract", "Effective / Yn weithredol", "DCC sessions", "SPA sessions", "Additional responsibilities",
		"External duties", "Total sessions", "On-call band", "On-call frequency", "Status / Statws"}
	must(f.SetSheetRow("Job Plans", "A2", &header))
	rows := [][]any{
		{94000001, "94000001", "Rhydderch", "Aled", "Consultant (Wales)", 46113, 7, 3, 0, 0, 10, "Band 2", "1 in 5", "Approved"},
		{94000002, "94000002", "Tudur", "Branwen", "Consultant (Wales)", 46113, 7.5, 2.5, 1, 0, 11, "Band 1", "1 in 10", "Approved"},
		{94000003, "94000003-2", "Vaughan", "Cerys", "Consultant (Wales)", 46143, 6, 3, 0, 1, 10, nil, nil, "Approved"},
		{94000004, "94000004", "Wynne", "Dafydd", "Specialty Doctor 2021", 46113, 8, 2, 0, 0, 10, nil, nil, "Approved"},
		{94000005, "94000005", "Yorath", "Elin", "Consultant (Wales)", 46113, 7, 3, 0, 0, 10, nil, nil, "Draft"},
		{94000006, "94000006", "Bowen", "Ffraid", "Specialist 2021", 46113, 7.5, 2.5, 0, 0, 10, nil, nil, "Approved"},
	}
	for i, r := range rows {
		cell := fmt.Sprintf("A%d", i+3)
		must(f.SetSheetRow("Job Plans", cell, &r))
		must(f.SetCellStyle("Job Plans", fmt.Sprintf("F%d", i+3), fmt.Sprintf("F%d", i+3), date))
	}
	var b bytes.Buffer
	must(f.Write(&b))
	return b.Bytes()
}
