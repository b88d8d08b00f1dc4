package decode

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
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
	for format, want := range map[Format]string{FormatCSV: "windows-1252", FormatJSON: "utf-16", FormatJSONLines: "utf-16", "xml": ""} {
		o.Format = format
		if got := o.Encoding(); got != want {
			t.Errorf("%s: encoding %q, want %q", format, got, want)
		}
	}
}
