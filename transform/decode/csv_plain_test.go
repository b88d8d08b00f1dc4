package decode

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// An export that never quotes fields but has quotes in its data (inches,
// nicknames). encoding/csv, even with LazyQuotes, takes the field that
// starts with a quote for a quoted field and reads on to the next quote,
// across lines: two rows become one. quote: none reads each line as a row.
const unquotedExport = "Emp,Name,Note,DCC\r\n" +
	"10000001,\"Ann\" Doe,clinic 5\",7.5\r\n" +
	"10000002,Bo Roe,room \"B,8\r\n" +
	"\r\n" +
	"# a comment\r\n" +
	"10000003,Cy,\"quoted\",9\r\n"

func TestCSVLazyQuotesSwallowsRows(t *testing.T) {
	r, err := NewCSVReader(strings.NewReader(unquotedExport), CSVOptions{LazyQuotes: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, r)
	// This is why quote: none exists: the second row is gone into the first.
	if len(rows) == 3 {
		t.Fatalf("lazy quotes read every row: %+v; the test no longer shows the problem", rows)
	}
}

func TestCSVNoQuotes(t *testing.T) {
	r, err := NewCSVReader(strings.NewReader(unquotedExport), CSVOptions{NoQuotes: true, Comment: '#'})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Header(), "|"); got != "Emp|Name|Note|DCC" {
		t.Fatalf("header %q", got)
	}
	rows := readAll(t, r)
	want := []readRow{
		{line: 2, end: 2, fields: `10000001|"Ann" Doe|clinic 5"|7.5`, raw: `10000001,"Ann" Doe,clinic 5",7.5`},
		{line: 3, end: 3, fields: `10000002|Bo Roe|room "B|8`, raw: `10000002,Bo Roe,room "B,8`},
		{line: 6, end: 6, fields: `10000003|Cy|"quoted"|9`, raw: `10000003,Cy,"quoted",9`},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v, want %d", rows, len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	// Rejected rows are written back byte for byte, with the header and
	// the file's CRLF.
	var out bytes.Buffer
	w := r.NewRejectWriter(&out)
	w.WriteRow([]byte(rows[1].raw))
	w.Close()
	if got, want := out.String(), "Emp,Name,Note,DCC\r\n10000002,Bo Roe,room \"B,8\r\n"; got != want {
		t.Errorf("rejects %q, want %q", got, want)
	}
}

func TestCSVNoQuotesPreambleAndNoHeader(t *testing.T) {
	in := "Job plans export;;\nrun 2026-04-01;;\nA;B;C\n1;2;3\n4;5;6"
	r, err := NewCSVReader(strings.NewReader(in), CSVOptions{NoQuotes: true, Delimiter: ';', SkipRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Header(), "|"); got != "A|B|C" {
		t.Fatalf("header %q", got)
	}
	if rows := readAll(t, r); len(rows) != 2 || rows[1] != (readRow{line: 5, end: 5, fields: "4|5|6", raw: "4;5;6"}) {
		t.Errorf("rows %+v", rows)
	}
	// No header: skip_rows still skips the title rows (in both readers).
	for _, noQuotes := range []bool{true, false} {
		r, err = NewCSVReader(strings.NewReader(in), CSVOptions{NoQuotes: noQuotes, Delimiter: ';', SkipRows: 3, NoHeader: true})
		if err != nil {
			t.Fatal(err)
		}
		if rows := readAll(t, r); len(rows) != 2 || rows[0].fields != "1|2|3" || rows[0].line != 4 {
			t.Errorf("no header (quote none %v): rows %+v", noQuotes, rows)
		}
	}
	var fe *FormatError
	if _, err := NewCSVReader(strings.NewReader(""), CSVOptions{NoQuotes: true}); !errors.As(err, &fe) {
		t.Errorf("empty file: %v, want a FormatError", err)
	}
}
