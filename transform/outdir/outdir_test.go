package outdir_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

const (
	mappingPath = "../../mappings/sard-wide.yaml"
	samplePath  = "../../samples/sard-wide/jobplans-2026-04.csv"
	expectedDir = "../../samples/sard-wide/expected"
)

var fixedNow = time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC)

func opts() outdir.Options { return outdir.Options{Now: func() time.Time { return fixedNow }} }

func loadMapping(t *testing.T) *mapping.Mapping {
	t.Helper()
	m, err := mapping.LoadFile(mappingPath)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sample returns the sample export's header line and its data lines,
// each with its line end.
func sample(t *testing.T) (header string, rows []string) {
	t.Helper()
	b, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines[0], lines[1:]
}

// row returns the sample's data line for an employee number.
func row(t *testing.T, employee string) string {
	t.Helper()
	_, rows := sample(t)
	for _, r := range rows {
		if strings.HasPrefix(r, employee+",") {
			return r
		}
	}
	t.Fatalf("no sample row for %s", employee)
	return ""
}

// cleanInput is two sample plans that are accepted without findings.
func cleanInput(t *testing.T) string {
	header, _ := sample(t)
	return header + row(t, "20000001") + row(t, "20000003")
}

func convert(t *testing.T, dir, name, content string, o outdir.Options) *outdir.Result {
	t.Helper()
	res, err := outdir.Convert(t.Context(), loadMapping(t), name, strings.NewReader(content), int64(len(content)), dir, o)
	if err != nil {
		t.Fatalf("convert %s: %v", name, err)
	}
	return res
}

// names lists dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readReport(t *testing.T, path string) report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal([]byte(read(t, path)), &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// firstLine returns s's first line without its line end (errors.csv
// ends lines with CRLF).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r")
}

func TestCleanInputPublishesRecordsAndReportsOnly(t *testing.T) {
	dir := t.TempDir()
	res := convert(t, dir, "plans.csv", cleanInput(t), opts())
	if res.Err != nil || res.Report.Status != report.StatusAccepted || res.ExitCode() != 0 {
		t.Fatalf("status %q, err %v, exit %d; want accepted", res.Report.Status, res.Err, res.ExitCode())
	}
	want := []string{"plans.jobplans.jsonl", "plans.report.html", "plans.report.json"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v (no rejected or errors file, nothing temporary)", got, want)
	}
	records := strings.Split(strings.TrimSuffix(read(t, res.Paths.Records), "\n"), "\n")
	if len(records) != 2 || !strings.Contains(records[0], `"assignment_number":"20000001"`) ||
		!strings.Contains(records[1], `"assignment_number":"20000003"`) {
		t.Errorf("records:\n%s\nwant the plans of 20000001 and 20000003", strings.Join(records, "\n"))
	}
	rep := readReport(t, res.Paths.Report)
	if rep.Status != report.StatusAccepted || rep.Input != "plans.csv" || rep.Counts.Accepted != 2 || rep.Counts.Rejected != 0 ||
		rep.Outputs != (report.Outputs{Records: "plans.jobplans.jsonl"}) {
		t.Errorf("report.json: %+v", rep)
	}
	if html := read(t, filepath.Join(dir, "plans.report.html")); !strings.Contains(html, "plans.csv") {
		t.Errorf("report.html does not name the input:\n%.300s", html)
	}
}

func TestRejectedRowsPublishRejectedAndErrorsWithHeaders(t *testing.T) {
	dir := t.TempDir()
	res, err := outdir.ConvertFile(t.Context(), loadMapping(t), samplePath, dir, opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Status != report.StatusPartial || res.ExitCode() != 1 || res.Report.Counts.Rejected == 0 {
		t.Fatalf("status %q, exit %d, counts %+v; want partially rejected", res.Report.Status, res.ExitCode(), res.Report.Counts)
	}
	want := []string{"jobplans-2026-04.errors.csv", "jobplans-2026-04.jobplans.jsonl", "jobplans-2026-04.rejected.csv",
		"jobplans-2026-04.report.html", "jobplans-2026-04.report.json"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
	header, _ := sample(t)
	rejected := read(t, res.Paths.Rejected)
	if got := firstLine(rejected); got != firstLine(header) {
		t.Errorf("rejected file's first line %q, want the input's header %q", got, header)
	}
	if got := strings.Count(rejected, "\n") - 1; got != res.Report.Counts.Rejected {
		t.Errorf("rejected file holds %d rows, want %d", got, res.Report.Counts.Rejected)
	}
	errorsCSV := read(t, res.Paths.Errors)
	if got, want := firstLine(errorsCSV), "\ufeffLine,Last line,Assignment number,Name,Field,Column,Value,Rule,Rule title,Severity,What was found,How to fix,Plan number"; got != want {
		t.Errorf("errors file's first line %q, want %q", got, want)
	}
	// The sample's golden outputs, written by the same conversion.
	for _, p := range []string{res.Paths.Rejected, res.Paths.Errors, res.Paths.Records} {
		if got, want := read(t, p), read(t, filepath.Join(expectedDir, filepath.Base(p))); got != want {
			t.Errorf("%s differs from %s:\n%s", filepath.Base(p), expectedDir, got)
		}
	}
	rep := readReport(t, res.Paths.Report)
	if rep.Outputs != (report.Outputs{Records: "jobplans-2026-04.jobplans.jsonl", Rejected: "jobplans-2026-04.rejected.csv", Errors: "jobplans-2026-04.errors.csv"}) {
		t.Errorf("report.json outputs: %+v", rep.Outputs)
	}
}

func TestStaleOutputsOfAnEarlierRunAreRemoved(t *testing.T) {
	dir := t.TempDir()
	// An earlier run of plans.csv had rejected rows and findings.
	sampleCSV := read(t, samplePath)
	first := convert(t, dir, "plans.csv", sampleCSV, opts())
	if _, err := os.Stat(first.Paths.Rejected); err != nil {
		t.Fatalf("the first run wrote no rejected file: %v", err)
	}
	// And an even older run left its own.
	if err := os.WriteFile(filepath.Join(dir, "other.rejected.csv"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	res := convert(t, dir, "plans.csv", cleanInput(t), opts())
	want := []string{"other.rejected.csv", "plans.jobplans.jsonl", "plans.report.html", "plans.report.json"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("after a clean run folder holds %v, want %v", got, want)
	}
	if rep := readReport(t, res.Paths.Report); rep.Counts.Accepted != 2 || rep.Outputs.Rejected != "" {
		t.Errorf("report.json is not the clean run's: %+v", rep)
	}
	if got := strings.Count(read(t, res.Paths.Records), "\n"); got != 2 {
		t.Errorf("records hold %d lines, want the clean run's 2", got)
	}
}

func TestSingleSyncWritesTheSameOutputs(t *testing.T) {
	def, single := t.TempDir(), t.TempDir()
	sampleCSV := read(t, samplePath)
	convert(t, def, "plans.csv", sampleCSV, opts())
	o := opts()
	o.SingleSync = true
	convert(t, single, "plans.csv", sampleCSV, o)
	got, want := names(t, single), names(t, def)
	if !slices.Equal(got, want) || len(want) != 5 {
		t.Fatalf("SingleSync wrote %v, default %v", got, want)
	}
	for _, n := range want {
		if a, b := read(t, filepath.Join(def, n)), read(t, filepath.Join(single, n)); a != b {
			t.Errorf("%s differs with SingleSync", n)
		}
	}
}

func TestLargeRejectedOutputIsWrittenInFull(t *testing.T) {
	// Employee numbers of 7 digits are rejected; each row is distinct.
	header, _ := sample(t)
	bad := row(t, "2000006")
	var in strings.Builder
	in.WriteString(header)
	const n = 1500
	for i := range n {
		num := fmt.Sprintf("%07d", 3000000+i)
		in.WriteString(strings.Replace(bad, "2000006,2000006,", num+","+num+",", 1))
	}
	if in.Len() < 4*64<<10 {
		t.Fatalf("input of %d bytes is too small to test the 64 KiB hold", in.Len())
	}
	dir := t.TempDir()
	res := convert(t, dir, "big.csv", in.String(), opts())
	if res.Report.Counts.Rejected != n || res.Report.Counts.Accepted != 0 {
		t.Fatalf("counts %+v; want %d rejected", res.Report.Counts, n)
	}
	// Every row was rejected as it was read: the rejected file is the
	// input itself.
	if got := read(t, res.Paths.Rejected); got != in.String() {
		t.Errorf("rejected file: %d bytes, %d lines; want the whole input, %d bytes, %d lines",
			len(got), strings.Count(got, "\n"), in.Len(), n+1)
	}
	errorsCSV := read(t, res.Paths.Errors)
	if lines := strings.Count(errorsCSV, "\n"); lines < n+1 || !strings.HasPrefix(errorsCSV, "\ufeffLine,Last line,") {
		t.Errorf("errors file: %d lines, want the header and at least one per row (%d)", lines, n)
	}
	want := []string{"big.errors.csv", "big.jobplans.jsonl", "big.rejected.csv", "big.report.html", "big.report.json"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
	if got := read(t, res.Paths.Records); got != "" {
		t.Errorf("records of a file with none accepted: %.100q, want empty", got)
	}
}

func TestFailWritesAFailedReportAndRemovesStaleData(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(t *testing.T, m *mapping.Mapping, dir string) (*outdir.Result, error)
	}{
		{"Fail", func(t *testing.T, m *mapping.Mapping, dir string) (*outdir.Result, error) {
			return outdir.Fail(m, "plans.csv", dir, errors.New("cannot read the file: permission denied"), opts())
		}},
		{"ConvertFile of a missing input", func(t *testing.T, m *mapping.Mapping, dir string) (*outdir.Result, error) {
			return outdir.ConvertFile(t.Context(), m, filepath.Join(t.TempDir(), "plans.csv"), dir, opts())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			convert(t, dir, "plans.csv", read(t, samplePath), opts()) // an earlier run's data files
			if got := len(names(t, dir)); got != 5 {
				t.Fatalf("the earlier run wrote %d files, want 5", got)
			}
			res, err := tc.fail(t, loadMapping(t), dir)
			if err != nil {
				t.Fatal(err)
			}
			if res.Err == nil || res.ExitCode() != 2 {
				t.Errorf("err %v, exit %d; want the cause and 2", res.Err, res.ExitCode())
			}
			want := []string{"plans.report.html", "plans.report.json"}
			if got := names(t, dir); !slices.Equal(got, want) {
				t.Errorf("folder holds %v, want %v", got, want)
			}
			rep := readReport(t, res.Paths.Report)
			if rep.Status != report.StatusFailed || rep.Input != "plans.csv" || rep.Mapping != "sard-wide" ||
				rep.Reason == "" || rep.Reason != res.Err.Error() || rep.Outputs != (report.Outputs{}) || !rep.Started.Equal(fixedNow) {
				t.Errorf("report.json: %+v", rep)
			}
			if html := read(t, filepath.Join(dir, "plans.report.html")); !bytes.Contains([]byte(html), []byte("plans.csv")) {
				t.Errorf("report.html does not name the input:\n%.300s", html)
			}
		})
	}
}
