package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestOpenReadsEachFormat(t *testing.T) {
	for _, tc := range []struct {
		opts   Options
		in     string
		header []string
		rows   []string // each row's fields, or its JSON value
	}{
		{Options{Format: FormatCSV, CSV: CSVOptions{Delimiter: ';'}}, "a;b\n1;2\n3;4\n", []string{"a", "b"}, []string{"[1 2]", "[3 4]"}},
		{Options{Format: FormatJSON, JSON: JSONOptions{RecordsPath: "data"}}, `{"data": [{"a": 1}, {"a": 2}]}`, nil, []string{"map[a:1]", "map[a:2]"}},
		{Options{Format: FormatJSONLines}, "{\"a\": 1}\n\n{\"a\": 2}\n", nil, []string{"map[a:1]", "map[a:2]"}},
		// The settings of other formats are not read.
		{Options{Format: FormatJSONLines, CSV: CSVOptions{Delimiter: ';', SkipRows: 3}}, "{\"a\": 1}\n", nil, []string{"map[a:1]"}},
	} {
		t.Run(string(tc.opts.Format), func(t *testing.T) {
			r, header, err := Open(strings.NewReader(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(header, tc.header) {
				t.Errorf("header %q, want %q", header, tc.header)
			}
			var got []string
			for {
				row, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if row.Fields != nil {
					got = append(got, fmt.Sprint(row.Fields))
				} else {
					got = append(got, fmt.Sprint(row.Value))
				}
			}
			if !slices.Equal(got, tc.rows) {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
		})
	}
}

func TestOpenRefusesWhatItCannotRead(t *testing.T) {
	if _, _, err := Open(strings.NewReader("a,b\n"), Options{Format: "xml"}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("format xml: %v, want ErrUnknownFormat", err)
	}
	// The decoders' own errors come back as they are.
	_, _, err := Open(strings.NewReader("a,b\n1,2\n"), Options{Format: FormatJSON})
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "looks like CSV") {
		t.Errorf("CSV read as JSON: %v, want a FormatError saying it looks like CSV", err)
	}
	if _, _, err := Open(strings.NewReader("a\n"), Options{Format: FormatCSV, CSV: CSVOptions{Encoding: "ebcdic"}}); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("encoding ebcdic: %v, want ErrUnknownEncoding", err)
	}
}

func TestOptionsEncodingIsTheFormats(t *testing.T) {
	o := Options{CSV: CSVOptions{Encoding: "windows-1252"}, JSON: JSONOptions{Encoding: "utf-16"}}
	for format, want := range map[Format]string{FormatCSV: "windows-1252", FormatJSON: "utf-16", FormatJSONLines: "utf-16", FormatXLSX: "", "xml": ""} {
		o.Format = format
		if got := o.Encoding(); got != want {
			t.Errorf("%s: encoding %q, want %q", format, got, want)
		}
	}
}

// TestOpenReadsAWorkbook: Open reads a workbook with its own options (the
// sheet, the decimal comma) and returns its header; the reader is an
// io.Closer whose Close removes the temporary copy it keeps in TempDir.
func TestOpenReadsAWorkbook(t *testing.T) {
	data := book(t, func(f *excelize.File) {
		f.NewSheet("Plans")
		f.SetSheetRow("Plans", "A1", &[]any{"Asg", "DCC"})
		f.SetSheetRow("Plans", "A2", &[]any{"10000001", 7.5})
	})
	tmp := t.TempDir()
	r, header, err := Open(bytes.NewReader(data), Options{Format: FormatXLSX, XLSX: XLSXOptions{Sheet: "Plans", DecimalComma: true, TempDir: tmp}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(header, []string{"Asg", "DCC"}) {
		t.Errorf("header %q, want [Asg DCC]", header)
	}
	row, err := r.Next()
	if err != nil || !slices.Equal(row.Fields, []string{"10000001", "7,5"}) {
		t.Errorf("first row %v, %v; want [10000001 7,5]", row, err)
	}
	c, ok := r.(io.Closer)
	if !ok {
		t.Fatalf("a workbook's reader %T is not an io.Closer", r)
	}
	if left, _ := os.ReadDir(tmp); len(left) == 0 {
		t.Error("no temporary copy of the workbook in TempDir while it is read")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("after Close, TempDir holds %v", left)
	}
}
