package transform_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// A file that cannot be read is refused with a reason that says what is
// wrong with it, in report.json and in the report page, which never says
// there is nothing to correct.
func TestRefusedFileSaysWhatIsWrong(t *testing.T) {
	const csvMapping = `version: 1
name: hints
format: csv
fields:
  employee_number: {column: Employee Number}
  assignment_number: {column: Assignment Number}
  on_call_frequency_n: {column: On-Call Rota}
`
	utf16 := func(s string, bom bool) string {
		enc := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
		if bom {
			enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
		}
		b, err := enc.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const good = "Employee Number,Assignment Number,On-Call Rota\n10000001,10000001,1 in 6\n"
	m, err := mapping.Load("hints.yaml", []byte(csvMapping))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, input, want string
	}{
		{"nearest header", "Employee Number,Assignment Number,On Call Rota\n1,2,3\n", `for "On-Call Rota" did you mean "On Call Rota"?`},
		{"semicolons", strings.ReplaceAll(good, ",", ";"), `the file looks ';'-separated, but the mapping says csv.delimiter ','`},
		{"tabs", strings.ReplaceAll(good, ",", "\t"), `the file looks tab-separated`},
		{"utf-16 with BOM", utf16(good, true), "the file is UTF-16 (it starts with a UTF-16 byte-order mark), but the mapping says encoding utf-8; set encoding: utf-16"},
		{"utf-16 without BOM", utf16(good, false), "the file looks like UTF-16 little-endian text (every other byte is zero), but the mapping says encoding utf-8; set encoding: utf-16le"},
		{"json", `[{"emp": 1}]`, "it looks like JSON, but the mapping says format: csv"},
		{"json without quotes", "{\n", "it looks like JSON, but the mapping says format: csv"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "the file is a gzip-compressed file, not text"},
		{"workbook", "PK\x03\x04\x14\x00\x06\x00", "the file is a zip archive (an .xlsx workbook is one), not text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			res, err := outdir.Convert(context.Background(), m, "plans.csv", strings.NewReader(tt.input), int64(len(tt.input)), dir, outdir.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var fe *transform.FileError
			if !errors.As(res.Err, &fe) || res.Report.Status != report.StatusFailed {
				t.Fatalf("err %v, status %s; want a FileError and status failed", res.Err, res.Report.Status)
			}
			if !strings.Contains(res.Report.Reason, tt.want) {
				t.Errorf("reason %q lacks %q", res.Report.Reason, tt.want)
			}
			page, err := os.ReadFile(filepath.Join(dir, "plans.report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(page), "nothing to correct") || !strings.Contains(string(page), "none of its rows was checked") {
				t.Errorf("report page of a refused file:\n%s", page)
			}
		})
	}
	// CSV given to a JSON mapping.
	jm, err := mapping.Load("j.yaml", []byte("version: 1\nname: j\nformat: json\nfields: {dcc: {path: dcc}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := outdir.Convert(context.Background(), jm, "plans.json", strings.NewReader(good), int64(len(good)), t.TempDir(), outdir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `the file starts with "Employee Number,Assignment Number,On-Call Rota": it looks like CSV, but the mapping says format: json`; !strings.Contains(res.Report.Reason, want) {
		t.Errorf("reason %q lacks %q", res.Report.Reason, want)
	}
	// The same file, right, is read.
	res, err = outdir.Convert(context.Background(), m, "plans.csv", strings.NewReader(good), int64(len(good)), t.TempDir(), outdir.Options{})
	if err != nil || res.Err != nil {
		t.Fatalf("good file: %v %v", err, res.Err)
	}
}
