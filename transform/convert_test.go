package transform_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
)

const miniMapping = `
version: 1
name: mini
format: csv
%s
fields:
  employee_number: {column: emp}
  assignment_number: {column: asg}
  staff_group: {value: Medical and Dental}
  contract_type: {value: consultant_england_2003}
  effective_date: {column: date}
  dcc: {column: dcc}
  spa: {column: spa}
  total_contracted_pas: {expr: dcc + spa}
`

func load(t *testing.T, extra string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load("mini.yaml", []byte(strings.Replace(miniMapping, "%s", extra, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type collected struct{ fs []finding.Finding }

func (c *collected) Add(f finding.Finding) error { c.fs = append(c.fs, f); return nil }

func (c *collected) rules() string {
	var r []string
	for _, f := range c.fs {
		r = append(r, f.Rule+"@"+itoa(f.Line))
	}
	return strings.Join(r, " ")
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// assignments lists the assignment and date of each output record.
func assignments(records string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(records), "\n") {
		if line == "" {
			continue
		}
		i := strings.Index(line, `"assignment_number":"`) + len(`"assignment_number":"`)
		j := strings.Index(line, `"effective_date":"`) + len(`"effective_date":"`)
		out = append(out, line[i:i+8]+"/"+line[j:j+10]+"/dcc="+line[strings.Index(line, `"dcc":`)+6:][:3])
	}
	return strings.Join(out, " ")
}

const dupInput = `emp,asg,date,dcc,spa
10000001,10000001,2026-04-01,7.5,2.5
10000002,10000002,2025-04-01,7,3
10000001,10000001,2026-04-01,7.5,2.5
10000002,10000002,2025-10-01,8,2
10000003,10000003,2026-04-01,7,3
10000003,10000003,2026-04-01,8,2
10000004,10000004,2026-04-01,8,2
`

// TestDuplicatesKeepLatest: identical plans are sent once (D1), older ones
// are superseded (D2). Two different plans for one assignment and date
// (10000003) are both refused (D3, an error) by default; with
// duplicates.same_date: last_wins the later row is sent (D3, a warning).
func TestDuplicatesKeepLatest(t *testing.T) {
	for _, tt := range []struct {
		direct   bool
		mapping  string
		want     string
		accepted int
		rejected int
		d3       finding.Severity
	}{
		{true, "", "10000001/2026-04-01/dcc=7.5 10000002/2025-10-01/dcc=8,\" 10000004/2026-04-01/dcc=8,\"", 3, 2, finding.Error},
		{false, "", "10000001/2026-04-01/dcc=7.5 10000002/2025-10-01/dcc=8,\" 10000004/2026-04-01/dcc=8,\"", 3, 2, finding.Error},
		{true, "duplicates: {same_date: last_wins}", "10000001/2026-04-01/dcc=7.5 10000002/2025-10-01/dcc=8,\" 10000003/2026-04-01/dcc=8,\" 10000004/2026-04-01/dcc=8,\"", 4, 0, finding.Warning},
		{false, "duplicates: {keep: latest, same_date: last_wins}", "10000001/2026-04-01/dcc=7.5 10000002/2025-10-01/dcc=8,\" 10000003/2026-04-01/dcc=8,\" 10000004/2026-04-01/dcc=8,\"", 4, 0, finding.Warning},
	} {
		direct := tt.direct
		m := load(t, tt.mapping)
		var records bytes.Buffer
		var out io.Writer = &records
		var f *os.File
		if direct {
			// A file output is compacted in place; a plain writer goes
			// through the spool. Both must give the same result.
			var err error
			f, err = os.CreateTemp(t.TempDir(), "records")
			if err != nil {
				t.Fatal(err)
			}
			out = f
		}
		findings := &collected{}
		counts, err := transform.Convert(context.Background(), m, strings.NewReader(dupInput), transform.Outputs{Records: out, Rejected: io.Discard, Findings: findings, SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		got := records.String()
		if direct {
			b, _ := os.ReadFile(f.Name())
			got = string(b)
		}
		if a := assignments(got); a != tt.want {
			t.Errorf("%q direct=%v records:\n got %s\nwant %s", tt.mapping, direct, a, tt.want)
		}
		superseded := 1 + tt.accepted - 3 // D2, and D3 when the later row wins
		if counts.Accepted != tt.accepted || counts.Rejected != tt.rejected || counts.Duplicates != 1 || counts.Superseded != superseded || counts.PlansBuilt != 7 {
			t.Errorf("%q: counts = %+v", tt.mapping, counts)
		}
		want := "D1@4 D2@3 D3@6"
		if tt.d3 == finding.Error {
			want = "D1@4 D2@3 D3@6 D3@7"
		}
		if r := findings.rules(); r != want {
			t.Errorf("%q: findings = %s, want %s", tt.mapping, r, want)
		}
		for _, f := range findings.fs {
			if f.Rule == "D3" && f.Severity != tt.d3 {
				t.Errorf("%q: D3 at line %d is %s, want %s", tt.mapping, f.Line, f.Severity, tt.d3)
			}
			if f.Rule == "D3" && tt.d3 == finding.Error && !strings.Contains(f.Message, "which one is current cannot be known; none of them is sent") {
				t.Errorf("D3 message: %s", f.Message)
			}
		}
	}
}

func TestDuplicatesKeepAll(t *testing.T) {
	for _, tt := range []struct {
		mapping                        string
		accepted, rejected, superseded int
	}{
		// Every distinct plan is kept; the identical repeat is dropped, and
		// 10000003's two plans of one date are refused.
		{"duplicates: keep_all", 4, 2, 0},
		{"duplicates: {keep: all}", 4, 2, 0},
		// ...or its later row is sent.
		{"duplicates: {keep: all, same_date: last_wins}", 5, 0, 1},
	} {
		m := load(t, tt.mapping)
		var records bytes.Buffer
		counts, err := transform.Convert(context.Background(), m, strings.NewReader(dupInput), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: &collected{}, SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if counts.Accepted != tt.accepted || counts.Rejected != tt.rejected || counts.Duplicates != 1 || counts.Superseded != tt.superseded {
			t.Errorf("%s: counts = %+v, records %s", tt.mapping, counts, assignments(records.String()))
		}
	}
}

func TestCancelledConversionPublishesNothing(t *testing.T) {
	m := load(t, "")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := dupInput + strings.Repeat("10000005,10000005,2026-04-01,7.5,2.5\n", 5000)
	_, err := outdir.Convert(ctx, m, "x.csv", strings.NewReader(big), 0, dir, outdir.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestBrokenFileGetsReportOnly(t *testing.T) {
	m := load(t, "")
	dir := t.TempDir()
	// Stale outputs of an earlier run must not survive next to a failure.
	os.WriteFile(filepath.Join(dir, "x.jobplans.jsonl"), []byte("old\n"), 0o644)
	res, err := outdir.Convert(context.Background(), m, "x.csv", strings.NewReader("name,other\nA,B\n"), 0, dir, outdir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fe *transform.FileError
	if !errors.As(res.Err, &fe) || res.ExitCode() != 2 {
		t.Fatalf("err = %v, exit %d; want a FileError and exit 2", res.Err, res.ExitCode())
	}
	if !strings.Contains(res.Report.Reason, `no column "emp"`) {
		t.Errorf("reason = %q", res.Report.Reason)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) < 1 || len(entries) > 2 || entries[len(entries)-1].Name() != "x.report.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("outputs = %v, want only the report (json, html)", names)
	}
	report, _ := os.ReadFile(filepath.Join(dir, "x.report.json"))
	if !strings.Contains(string(report), `"status": "failed"`) {
		t.Errorf("report = %s", report)
	}
}

// TestProgressCountsRows: WithProgress counts every row read, in the
// pipelined layout and in a grouped (long) one.
func TestProgressCountsRows(t *testing.T) {
	for _, name := range []string{"sard-wide", "excel-long"} {
		m, err := mapping.LoadFile("../mappings/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		inputs, _ := filepath.Glob("../samples/" + name + "/*.csv")
		if len(inputs) == 0 {
			t.Fatalf("no sample for %s", name)
		}
		in, err := os.Open(inputs[0])
		if err != nil {
			t.Fatal(err)
		}
		var rows atomic.Int64
		counts, err := transform.Convert(context.Background(), m, in, transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &collected{}, SpoolDir: t.TempDir()}, transform.WithProgress(&rows))
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		if counts.RowsRead == 0 || rows.Load() != int64(counts.RowsRead) {
			t.Errorf("%s: progress counted %d rows, the report %d", name, rows.Load(), counts.RowsRead)
		}
	}
}
