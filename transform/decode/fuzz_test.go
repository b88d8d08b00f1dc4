package decode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addSamples seeds a fuzz target with the bundled sample exports; extra
// holds the target's other arguments.
func addSamples(f *testing.F, glob string, extra ...any) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "samples", "*", glob))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 1<<20 {
			f.Add(append([]any{b}, extra...)...)
		}
	}
}

// FuzzCSV checks the CSV reader never panics, and that writing every row
// back through the reject writer and reading it again gives the same rows.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b\r\n1,2\r\n\"x\"\"y\",\"z\nw\"\r\n"))
	f.Add([]byte("\xEF\xBB\xBFa;b\n1;2\n"))
	f.Add([]byte("a,b\n1,\"2\n"))
	addSamples(f, "*.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewCSVReader(bytes.NewReader(data), CSVOptions{})
		if err != nil {
			return
		}
		var rows [][]string
		var out bytes.Buffer
		w := r.NewRejectWriter(&out)
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			var re *RowError
			if errors.As(err, &re) {
				return // raw of a malformed row need not re-parse identically
			}
			if err != nil {
				return
			}
			rows = append(rows, append([]string(nil), row.Fields...))
			w.WriteRow(row.Raw)
		}
		w.Close()
		r2, err := NewCSVReader(bytes.NewReader(out.Bytes()), CSVOptions{})
		if err != nil {
			if notText(out.Bytes()[:min(64, out.Len())], "utf-8") != nil {
				return // binary-looking bytes in the header: rightly refused as not text
			}
			t.Fatalf("re-read header: %v\n%q", err, out.Bytes())
		}
		for i := 0; ; i++ {
			row, err := r2.Next()
			if err == io.EOF {
				if i != len(rows) {
					t.Fatalf("re-read %d rows, want %d", i, len(rows))
				}
				return
			}
			if err != nil {
				t.Fatalf("re-read row %d: %v", i, err)
			}
			if i >= len(rows) || !equal(row.Fields, rows[i]) {
				t.Fatalf("row %d = %q after round trip", i, row.Fields)
			}
		}
	})
}

// equal compares rows, ignoring a lone \r ending the last cell: unquoted,
// it cannot survive being followed by a line break (it becomes CRLF).
func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.TrimRight(a[i], "\r") != strings.TrimRight(b[i], "\r") {
			return false
		}
	}
	return true
}

// FuzzJSON checks the JSON readers never panic and that each record's raw
// bytes parse to the record's value.
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"a":1},{"b":[1,2]}]`), false)
	f.Add([]byte(`{"data":{"jobPlans":[{"a":"x"}]}}`), false)
	f.Add([]byte("{\"a\":1}\n{\"a\":2}\n"), true)
	addSamples(f, "*.json", false)
	addSamples(f, "*.jsonl", true)
	f.Fuzz(func(t *testing.T, data []byte, lines bool) {
		var r Reader
		var err error
		if lines {
			r, err = NewJSONLinesReader(bytes.NewReader(data), JSONOptions{})
		} else {
			r, err = NewJSONReader(bytes.NewReader(data), JSONOptions{})
		}
		if err != nil {
			return
		}
		for {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				return
			}
			if _, err := ParseValue(row.Raw); err != nil {
				t.Fatalf("raw %q of line %d does not parse: %v", row.Raw, row.Line, err)
			}
		}
	})
}

// FuzzCSVNoQuotes checks the quote: none reader never panics, that it
// agrees with splitting each line at the delimiter, and that rows written
// back through the reject writer read back the same.
func FuzzCSVNoQuotes(f *testing.F) {
	f.Add([]byte(unquotedExport), byte(','))
	f.Add([]byte("a;b\r\n\"x;y\"\r\n\r\n1;\"\n"), byte(';'))
	f.Add([]byte("\xEF\xBB\xBFa\tb\n1\t2"), byte('\t'))
	addSamples(f, "*.csv", byte(','))
	f.Fuzz(func(t *testing.T, data []byte, delim byte) {
		if delim >= 0x80 || !validDelim(rune(delim)) {
			return
		}
		opts := CSVOptions{NoQuotes: true, Delimiter: rune(delim)}
		r, err := NewCSVReader(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		// The reference: lines after the header, CRLF or LF, split.
		text := bytes.TrimPrefix(data, utf8BOM)
		lines := strings.Split(string(text), "\n")
		var want [][]string
		for i, line := range lines {
			if i == 0 {
				continue
			}
			line = strings.TrimSuffix(line, "\r")
			fields := strings.Split(line, string(delim))
			if i == len(lines)-1 && line == "" || blank(fields) {
				continue
			}
			want = append(want, fields)
		}
		var out bytes.Buffer
		w := r.NewRejectWriter(&out)
		var got [][]string
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			got = append(got, append([]string(nil), row.Fields...))
			w.WriteRow(row.Raw)
		}
		w.Close()
		if len(got) != len(want) {
			t.Fatalf("read %d rows, splitting lines gives %d", len(got), len(want))
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("row %d = %q, splitting gives %q", i, got[i], want[i])
			}
		}
		r2, err := NewCSVReader(bytes.NewReader(out.Bytes()), opts)
		if err != nil {
			if notText(out.Bytes()[:min(64, out.Len())], "utf-8") != nil {
				return // binary-looking bytes in the header: rightly refused as not text
			}
			t.Fatalf("re-read header: %v", err)
		}
		for i := 0; ; i++ {
			row, err := r2.Next()
			if err == io.EOF {
				if i != len(got) {
					t.Fatalf("re-read %d rows, want %d", i, len(got))
				}
				return
			}
			if err != nil || i >= len(got) || !equal(row.Fields, got[i]) {
				t.Fatalf("re-read row %d = %v, %v; want %q", i, row, err, got[i])
			}
		}
	})
}
