package transform_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
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
