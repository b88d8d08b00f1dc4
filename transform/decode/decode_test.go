package decode

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

type readRow struct {
	line, end int
	fields    string
	raw       string
	err       string
}

func readAll(t *testing.T, r Reader) []readRow {
	t.Helper()
	var out []readRow
	for {
		row, err := r.Next()
		if err == io.EOF {
			return out
		}
		var re *RowError
		if errors.As(err, &re) {
			out = append(out, readRow{line: re.Row.Line, end: re.Row.EndLine, raw: string(re.Row.Raw), err: re.Err.Error()})
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, readRow{line: row.Line, end: row.EndLine, fields: strings.Join(row.Fields, "|"), raw: string(row.Raw)})
	}
}

func TestCSVBOMCRLFAndRejects(t *testing.T) {
	in := "\xEF\xBB\xBFEmp No,Name,DCC\r\n10000001,\"Doe, Ann\",7.5\r\n\r\n10000002,\"multi\r\nline\",8\r\n10000003,bad\"quote,1\r\n,,\r\n10000004,Zed,2\r\n"
	r, err := NewCSVReader(strings.NewReader(in), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Header(), "|"); got != "Emp No|Name|DCC" {
		t.Fatalf("header = %q (BOM must be stripped)", got)
	}
	rows := readAll(t, r)
	want := []readRow{
		{line: 2, end: 2, fields: "10000001|Doe, Ann|7.5", raw: `10000001,"Doe, Ann",7.5`},
		{line: 4, end: 5, fields: "10000002|multi\nline|8", raw: "10000002,\"multi\r\nline\",8"},
		{line: 6, end: 6, raw: `10000003,bad"quote,1`, err: `bare " in non-quoted-field`},
		{line: 8, end: 8, fields: "10000004|Zed|2", raw: "10000004,Zed,2"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	var out bytes.Buffer
	w := r.NewRejectWriter(&out)
	w.WriteRow([]byte(rows[2].raw))
	w.Close()
	if got, want := out.String(), "\xEF\xBB\xBFEmp No,Name,DCC\r\n10000003,bad\"quote,1\r\n"; got != want {
		t.Errorf("rejects = %q, want %q", got, want)
	}
}

func TestCSVWindows1252SemicolonSkipRows(t *testing.T) {
	utf := "Export from e-job plan;;\nAssignment;Name;Hours\n10000001-2;Siân O’Neill;3,5\n"
	enc, _ := charmap.Windows1252.NewEncoder().String(utf)
	r, err := NewCSVReader(strings.NewReader(enc), CSVOptions{Delimiter: ';', Encoding: "windows-1252", SkipRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Header(), "|"); got != "Assignment|Name|Hours" {
		t.Fatalf("header = %q", got)
	}
	rows := readAll(t, r)
	if len(rows) != 1 || rows[0].fields != "10000001-2|Siân O’Neill|3,5" || rows[0].line != 3 {
		t.Fatalf("rows = %+v", rows)
	}
	var out bytes.Buffer
	w := r.NewRejectWriter(&out)
	w.WriteRow([]byte(rows[0].raw))
	w.Close()
	wantBytes, _ := charmap.Windows1252.NewEncoder().String("Assignment;Name;Hours\n10000001-2;Siân O’Neill;3,5\n")
	if out.String() != wantBytes {
		t.Errorf("rejects = %q, want %q (byte-for-byte in windows-1252)", out.String(), wantBytes)
	}
}

func TestCSVEmptyAndHeaderOnly(t *testing.T) {
	var fe *FormatError
	if _, err := NewCSVReader(strings.NewReader(""), CSVOptions{}); !errors.As(err, &fe) {
		t.Errorf("empty file: err = %v, want FormatError", err)
	}
	r, err := NewCSVReader(strings.NewReader("a,b\n\n\n"), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rows := readAll(t, r); len(rows) != 0 {
		t.Errorf("rows = %+v", rows)
	}
	if _, err := NewCSVReader(strings.NewReader("a,b\n"), CSVOptions{Encoding: "ebcdic"}); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("err = %v", err)
	}
}

func TestJSONNestedPath(t *testing.T) {
	in := `{"meta": {"exported": "2026-04-01", "skip": [1, {"a": 2}]},
  "data": {"jobPlans": [
    {"id": 1, "dcc": 7.5},
    {"id": 2,
     "dcc": 8}
  ]}}`
	r, err := NewJSONReader(strings.NewReader(in), JSONOptions{RecordsPath: "data.jobPlans"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	var raws []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, row.Line, row.EndLine)
		raws = append(raws, string(row.Raw))
		m := row.Value.(map[string]any)
		if m["dcc"] == nil {
			t.Errorf("record %v has no dcc", m)
		}
	}
	if got := lines; len(got) != 4 || got[0] != 3 || got[1] != 3 || got[2] != 4 || got[3] != 5 {
		t.Errorf("lines = %v, want [3 3 4 5]", got)
	}
	var out bytes.Buffer
	w := r.NewRejectWriter(&out)
	w.WriteRow([]byte(raws[1]))
	w.Close()
	want := "{\"data\":{\"jobPlans\":[\n{\"id\": 2,\n     \"dcc\": 8}\n]}}\n"
	if out.String() != want {
		t.Errorf("rejects = %q, want %q", out.String(), want)
	}
	if _, err := ParseValue(out.Bytes()); err != nil {
		t.Errorf("rejects file is not JSON: %v", err)
	}
}

func TestJSONFormatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "Emp No,Name\n1,2\n",
		"object no key": `{"other": []}`,
		"truncated":     "[\n{\"a\": 1},\n{\"a\": ",
		"scalar":        `"hello"`,
	} {
		var fe *FormatError
		r, err := NewJSONReader(strings.NewReader(in), JSONOptions{RecordsPath: map[bool]string{true: "data"}[name == "object no key"]})
		if err == nil {
			for err == nil {
				_, err = r.Next()
			}
		}
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want FormatError", name, err)
		}
	}
}

func TestJSONLines(t *testing.T) {
	in := "{\"a\":1}\n\nnot json\n{\"a\":2}"
	r, err := NewJSONLinesReader(strings.NewReader(in), JSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, r)
	if len(rows) != 3 || rows[0].line != 1 || rows[1].line != 3 || rows[1].err == "" || rows[2].line != 4 || rows[2].raw != `{"a":2}` {
		t.Fatalf("rows = %+v", rows)
	}
}
