package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/nhs-esr/jobplan-hub/internal/extsort"
	"github.com/nhs-esr/jobplan-hub/internal/spool"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
)

// excelRead decodes a CSV file as Excel on Windows does when it opens one:
// as UTF-8 when it starts with a byte-order mark, otherwise in the ANSI code
// page, Windows-1252 on a British machine; then splits it into cells.
func excelRead(t *testing.T, data []byte) [][]string {
	t.Helper()
	var text string
	if rest, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		text = string(rest)
	} else {
		b, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			t.Fatal(err)
		}
		text = string(b)
	}
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("Excel would not read the file as CSV: %v", err)
	}
	return rows
}

// runsAsFormula reports whether Excel (or another spreadsheet) would run a
// cell as a formula rather than show it.
func runsAsFormula(cell string) bool {
	if cell == "" || !strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return false
	}
	_, err := decimal.Parse(cell, false)
	return err != nil // a plain number such as -0.5 is only a number
}

// writeErrorsCSV runs findings (and names by plan) through a Writer and
// returns errors.csv.
func writeErrorsCSV(t *testing.T, dir string, names map[int][2]string, fs []finding.Finding) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if names != nil {
		w.ShowNames()
		recs := make([]int, 0, len(names))
		for r := range names {
			recs = append(recs, r)
		}
		slices.Sort(recs)
		for _, r := range recs {
			if err := w.PlanName(r, names[r][0], names[r][1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range fs {
		if err := w.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.FlushCSV(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestErrorsCSVAsExcelReadsIt: errors.csv read back as Excel reads it
// shows accented names, the en dash and the pound sign as written, under a
// header a person reads, with no cell that would run as a formula.
func TestErrorsCSVAsExcelReadsIt(t *testing.T) {
	fs := []finding.Finding{
		{Record: 2, Line: 3, EndLine: 3, Assignment: "20000002", Field: "on_call_band_wales", Column: "Band", Value: "4", Rule: "V19", Severity: finding.Error,
			Message: "Welsh consultant plans use an on-call band (1–3), not £ or %.", Fix: finding.Rules["V19"].Fix},
		// Cells from the input that a spreadsheet would run.
		{Record: 1, Line: 2, EndLine: 2, Assignment: `=HYPERLINK("http://x.example","click")`, Field: "@SUM(A1)", Column: "+Total", Value: "-cmd|' /C calc'!A0",
			Rule: "M01", Severity: finding.Error, Message: "\tTabbed", Fix: "\rReturn"},
		// A negative number is left as a number.
		{Record: 3, Line: 4, EndLine: 5, Assignment: "20000003", Field: "spa", Column: "SPA", Value: "-0.5", Rule: "V5", Severity: finding.Error, Message: "SPA is -0.5."},
		// A row that is not a plan has no plan number and no name.
		{Line: 6, EndLine: 6, Rule: "M08", Severity: finding.Error, Message: "The row has 4 columns but the header has 11."},
	}
	names := map[int][2]string{1: {"=Siân", "Zoë"}, 2: {"Ångström", "Renée"}, 3: {"", "Noël"}}
	data := writeErrorsCSV(t, t.TempDir(), names, fs)
	if !bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		t.Fatalf("errors.csv does not start with a UTF-8 byte-order mark: %q", data[:min(len(data), 20)])
	}
	if !bytes.Contains(data, []byte("\r\n")) || bytes.Count(data, []byte("\n")) != bytes.Count(data, []byte("\r\n")) {
		t.Error("errors.csv lines do not all end in CRLF")
	}
	got := excelRead(t, data)
	want := [][]string{
		CSVHeaderWithNames,
		{"2", "2", `'=HYPERLINK("http://x.example","click")`, "'=Siân, Zoë", "'@SUM(A1)", "'+Total", "'-cmd|' /C calc'!A0", "M01", "Value is not a number", "Error", "'\tTabbed", "'Return", "1"}, // the CRLF writer drops a lone CR
		{"3", "3", "20000002", "Ångström, Renée", "On-Call Supplement (Band Wales)", "Band", "4", "V19", "Wrong kind of on-call supplement for the country", "Error",
			"Welsh consultant plans use an on-call band (1–3), not £ or %.", finding.Rules["V19"].Fix, "2"},
		{"4", "5", "20000003", "Noël", "Total Contracted Supporting Professional Activities (SPA)", "SPA", "-0.5", "V5", "Negative PA value", "Error", "SPA is -0.5.", "", "3"},
		{"6", "6", "", "", "", "", "", "M08", "Row has the wrong number of columns", "Error", "The row has 4 columns but the header has 11.", "", ""},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Excel reads:\n%q\nwant:\n%q", got, want)
	}
	for i, row := range got {
		for j, cell := range row {
			if runsAsFormula(cell) {
				t.Errorf("row %d, column %q: %q would run as a formula", i+1, got[0][j], cell)
			}
		}
	}
	// Without the byte-order mark Excel takes the file for Windows-1252 and
	// garbles it: the mark is what this test depends on.
	garbled := excelRead(t, data[3:])
	if s := strings.Join(garbled[2], ","); !strings.Contains(s, "band (1â€“3)") || !strings.Contains(s, "Ã…ngstrÃ¶m") {
		t.Errorf("without the BOM Excel would read %q; the test does not show what the BOM prevents", s)
	}
}

// TestErrorsCSVWithoutNames: a mapping without names has no Name column.
func TestErrorsCSVWithoutNames(t *testing.T) {
	data := writeErrorsCSV(t, t.TempDir(), nil, []finding.Finding{{Record: 1, Line: 2, EndLine: 2, Assignment: "20000001", Rule: "D1", Severity: finding.Warning}})
	got := excelRead(t, data)
	want := [][]string{CSVHeader, {"2", "2", "20000001", "", "", "", "D1", "Identical plan sent more than once", "Warning", "", "", "1"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestErrorsCSVRowsInLineOrder adds findings out of line order, as convert
// does (duplicates are decided at the end, in assignment order), with a
// sort budget small enough that most of them go through sorted runs on
// disk, and checks that the rows come out in line order, findings of one
// line in the order they were made, each with its plan's name.
func TestErrorsCSVRowsInLineOrder(t *testing.T) {
	defer func(b int) { csvSortBudget = b }(csvSortBudget)
	csvSortBudget = extsort.MinBudget

	const plans = 3000
	names := map[int][2]string{}
	var fs []finding.Finding
	for rec := 1; rec <= plans; rec++ {
		line := 2 * rec // every plan has a line of its own, and a bad row follows
		if rec%7 != 0 {
			names[rec] = [2]string{fmt.Sprintf("Surname%d", rec), "Ola"}
		}
		fs = append(fs, finding.Finding{Record: rec, Line: line, EndLine: line, Assignment: strconv.Itoa(10000000 + rec), Rule: "V8", Severity: finding.Warning, Message: "first"})
		if rec%3 == 0 {
			fs = append(fs, finding.Finding{Line: line + 1, EndLine: line + 1, Rule: "M08", Severity: finding.Error})
		}
	}
	// The end-of-file findings, in a shuffled (assignment) order, after
	// the rest: each must land after its plan's earlier finding.
	var late []finding.Finding
	for rec := 1; rec <= plans; rec += 2 {
		late = append(late, finding.Finding{Record: rec, Line: 2 * rec, EndLine: 2 * rec, Assignment: strconv.Itoa(10000000 + rec), Rule: "D2", Severity: finding.Warning, Message: "second"})
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	fs = append(fs, late...)

	dir := t.TempDir()
	var out bytes.Buffer
	w, err := NewWriter(dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	w.ShowNames()
	for rec := 1; rec <= plans; rec++ {
		if n, ok := names[rec]; ok {
			if err := w.PlanName(rec, n[0], n[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range fs {
		if err := w.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	if !w.csv.rows.Spilled() {
		t.Fatal("the test does not exercise the sorted runs on disk")
	}
	if err := w.FlushCSV(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	rows := excelRead(t, out.Bytes())[1:]
	if len(rows) != len(fs) {
		t.Fatalf("%d rows, want %d", len(rows), len(fs))
	}
	prevLine, prevMsg := 0, ""
	for i, row := range rows {
		line, _ := strconv.Atoi(row[0])
		if line < prevLine {
			t.Fatalf("row %d: line %d after line %d", i+2, line, prevLine)
		}
		msg := row[10]
		if line == prevLine && prevMsg == "second" {
			t.Fatalf("row %d: line %d's findings out of the order they were made", i+2, line)
		}
		rec, _ := strconv.Atoi(row[12])
		wantName := ""
		if n, ok := names[rec]; ok {
			wantName = n[0] + ", " + n[1]
		}
		if row[3] != wantName {
			t.Fatalf("row %d (plan %d): name %q, want %q", i+2, rec, row[3], wantName)
		}
		prevLine, prevMsg = line, msg
	}
}

// TestNamesReadBackOutOfOrder: a name asked for below the last one asked
// is found by reading the names again, never taken from another plan.
func TestNamesReadBackOutOfOrder(t *testing.T) {
	sp := &nameSpool{sp: spool.New(t.TempDir(), ".names-", 64)}
	sp.w = bufio.NewWriterSize(sp.sp, 16<<10)
	for rec := 1; rec <= 50; rec++ {
		if err := sp.add(rec, fmt.Sprint("S", rec), "F"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.add(50, "again", ""); err == nil {
		t.Error("a name for a plan already named was accepted")
	}
	r, err := sp.reader()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []int{40, 3, 3, 51, 1, 50} {
		got, err := r.lookup(rec)
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if rec <= 50 {
			want = fmt.Sprintf("S%d, F", rec)
		}
		if got != want {
			t.Errorf("plan %d: name %q, want %q", rec, got, want)
		}
	}
	long := strings.Repeat("é", 300)
	sp.add(60, long, "x")
	r, _ = sp.reader()
	if got, _ := r.lookup(60); len(got) > maxName+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("a %d-byte name is kept as %q", len(long), got)
	}
	sp.sp.Close()
}

// TestRowProblemInWords: a row Go's CSV reader cannot parse is described
// in words, at a character a person can count to, from the error's value:
// an error with the same text but another value is not taken for it.
func TestRowProblemInWords(t *testing.T) {
	rowErr := func(input string) *decode.RowError {
		t.Helper()
		r, err := decode.NewCSVReader(strings.NewReader(input), decode.CSVOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, err := r.Next()
			var re *decode.RowError
			if errors.As(err, &re) {
				return re
			}
			if err != nil {
				t.Fatalf("no row error in %q: %v", input, err)
			}
		}
	}
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"bare quote after accents", "emp,name\n10000001,Siân \"Sam\" Ó\n",
			[]string{"a quotation mark (\") is inside a value that does not itself start with a quotation mark (character 15 of line 2)", `"Dr ""Sam"" Smith"`}},
		{"text after a closing quote", "emp,name\n10000001,\"Siân\" x\n",
			[]string{"a value in quotation marks is not closed properly (character 15 of line 2)", "must be written twice"}},
		{"quote never closed", "emp,name\n10000001,\"Siân\n10000002,Bea\n10000003,Cai\n",
			[]string{"not closed properly", "The value runs on from line 2 to line 4, so a closing quotation mark is probably missing."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := RowProblem(rowErr(tc.input))
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q\nlacks %q", msg, w)
				}
			}
			for _, goText := range []string{"non-quoted-field", "quoted-field", "extraneous"} {
				if strings.Contains(msg, goText) {
					t.Errorf("message %q repeats Go's text %q", msg, goText)
				}
			}
		})
	}
	row := decode.Row{Line: 5, EndLine: 5, Raw: []byte(`a,b"c`)}
	wrapped := &decode.RowError{Row: row, Column: 4, Err: fmt.Errorf("while reading: %w", csv.ErrBareQuote)}
	if msg := RowProblem(wrapped); !strings.Contains(msg, "character 4 of line 5") {
		t.Errorf("wrapped bare quote: %q", msg)
	}
	sameText := &decode.RowError{Row: row, Column: 4, Err: errors.New(csv.ErrBareQuote.Error())}
	if msg := RowProblem(sameText); strings.Contains(msg, "quotation mark (\") is inside") {
		t.Errorf("an error was recognised by its text: %q", msg)
	}
	jsonRow := decode.Row{Line: 9, EndLine: 9, Raw: []byte(`{"name": "Siân" "x": 1}`)}
	_, perr := decode.ParseValue(jsonRow.Raw)
	if msg := RowProblem(&decode.RowError{Row: jsonRow, Err: fmt.Errorf("not valid JSON: %w", perr)}); !strings.Contains(msg, "not valid JSON (character 17 of line 9)") {
		t.Errorf("JSON syntax error: %q", msg)
	}
}

// TestLeftoverFilesRemoved: a writer closed without flushing removes its
// temporary files too.
func TestLeftoverFilesRemoved(t *testing.T) {
	defer func(b int) { csvSortBudget = b }(csvSortBudget)
	csvSortBudget = extsort.MinBudget
	dir := t.TempDir()
	w, err := NewWriter(dir, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	w.ShowNames()
	for i := range 2000 {
		w.PlanName(i+1, strings.Repeat("n", 300), "")
		w.Add(finding.Finding{Record: i + 1, Line: i + 2, Rule: "V8", Message: strings.Repeat("m", 200)})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}
