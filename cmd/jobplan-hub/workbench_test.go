package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

const bundledMappings = "../../mappings"

// hub runs the command in-process and returns its exit status and output.
// TestMappingCases runs `jobplan-hub mapping test` over the bundled
// mappings, so `make test` runs every case file.
func TestMappingCases(t *testing.T) {
	code, out, errOut := runCLI(t, "mapping", "test", bundledMappings)
	if code != 0 {
		t.Fatalf("mapping test exited %d:\n%s%s", code, out, errOut)
	}
	mappings, _ := filepath.Glob(filepath.Join(bundledMappings, "*.yaml"))
	n := 0
	for _, m := range mappings {
		if strings.HasSuffix(m, mapping.CasesSuffix) {
			continue
		}
		n++
		cases, err := mapping.LoadCases(mapping.CasesPath(m))
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if len(cases) < 3 {
			t.Errorf("%s has %d cases, want at least 3", mapping.CasesPath(m), len(cases))
		}
		for _, c := range cases {
			if !strings.Contains(out, "PASS ") || !strings.Contains(out, ": "+c.Name+"\n") {
				t.Errorf("case %q not reported as passed", c.Name)
			}
		}
	}
	if n < 4 {
		t.Errorf("found %d mappings, want at least 4", n)
	}
}

// copyBundledMapping copies a bundled mapping into dir and writes cases beside it.
func copyBundledMapping(t *testing.T, dir, name, cases string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundledMappings, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mapping.CasesPath(path), []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const walesRow = `{"emp_no": "50000001", "asg_no": "50000001", "vpd": "456", "effective": "2026-04-01", "sessions": {"total": 10, "extra": 0, "dcc": 7, "spa": 3, "additional": 0, "external": 0, "outpatients": 3, "ward": 2, "theatre": 2}, "on_call": {"rota": "1 in 7", "band": 2, "percent": null, "unpredictable_sessions": 1}}`

func TestMappingTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	path := copyBundledMapping(t, dir, "wales-sessions", `
- name: passes
  input: '`+walesRow+`'
  expect: {records: [{dcc: 7}], findings: []}
- name: wrong value and a missing finding
  input: '`+walesRow+`'
  expect:
    records: [{dcc: 8, on_call_band_wales: 2}]
    findings: [{rule: V8}]
`)
	code, out, _ := runCLI(t, "mapping", "test", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"PASS wales-sessions: passes\n",
		"FAIL wales-sessions: wrong value and a missing finding (" + mapping.CasesPath(path) + ":5)\n",
		"    record 1: dcc: got 7, want 8\n",
		"    missing finding {rule: V8}\n",
		"1 passed, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// --run selects cases by name.
	if code, out, _ := runCLI(t, "mapping", "test", mapping.CasesPath(path), "--run", "passes"); code != 0 || strings.Contains(out, "FAIL") {
		t.Errorf("--run passes: exit %d\n%s", code, out)
	}
	// A case file with mistakes cannot run: exit 2, with positions.
	bad := copyBundledMapping(t, dir, "sard-wide", "- name: x\n  input: a\n  expect: {records: [{nope: 1}]}\n")
	code, out, _ = runCLI(t, "mapping", "test", bad)
	if code != 2 || !strings.Contains(out, "sard-wide.cases.yaml:3:23:") {
		t.Errorf("broken case file: exit %d\n%s", code, out)
	}
	// A mapping without cases is a usage error.
	if code, _, errOut := runCLI(t, "mapping", "test", filepath.Join(bundledMappings, "..", "samples", "README.md")); code != 2 || errOut == "" {
		t.Errorf("no cases: exit %d, %q", code, errOut)
	}
}

func workbenchSample(name string) string {
	return testutil.SampleInput(filepath.Join("../../samples", name))
}

func TestPreview(t *testing.T) {
	in := workbenchSample("sard-wide")
	// Flags may follow the input, as in the README.
	code, out, errOut := runCLI(t, "mapping", "preview", in, "--mapping", filepath.Join(bundledMappings, "sard-wide.yaml"), "--rows", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"── Plan 1 · Line 2 · assignment 20000001 · accepted ─",
		"  2 | 20000001,20000001,Testperson,Alpha,Medical and Dental,Consultant (2003),Si\n    | gned Off,", // raw row, wrapped
		"  dcc (Total Contracted Direct Clinical Care (DCC)): 7.5  ← DCC\n",
		"  on_call_category (On-Call Category): A  ← On-Call Category\n",
		"── Plan 4 · Line 5 · assignment 20000004 · accepted, 1 warning ─",
		"  warning V8: More than 12 PAs\n    total_contracted_pas ← Total PAs = ", // finding, with its column
		"── Line 6: filtered out by the mapping, not converted ─",
		"── Plan 5 · Line 7 · assignment 2000006 · REJECTED (2 errors) ─",
		"Stopped after line 7.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if strings.Contains(out, "Plan 6") {
		t.Error("preview shows more than 5 plans")
	}
	// Plan 2 has no on-call: zero and null fields are not listed.
	plan2 := out[strings.Index(out, "Plan 2 ·"):strings.Index(out, "Plan 3 ·")]
	if strings.Contains(plan2, "on_call_frequency_n") || strings.Contains(plan2, "apa_eps") {
		t.Errorf("plan 2 lists empty fields:\n%s", plan2)
	}
	for _, sample := range []string{"sard-wide", "excel-long", "allocate-nested", "wales-sessions"} {
		_, out, _ := runCLI(t, "mapping", "preview", "-m", filepath.Join(bundledMappings, sample+".yaml"), "-n", "100", workbenchSample(sample))
		for i, line := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(line); n > 80 {
				t.Errorf("%s: line %d is %d columns wide: %s", sample, i+1, n, line)
			}
		}
	}
	if code, _, _ := runCLI(t, "mapping", "preview", in); code != 2 {
		t.Errorf("preview without --mapping: exit %d, want 2", code)
	}
}

func TestInferCommand(t *testing.T) {
	dir := t.TempDir()
	for _, sample := range []string{"sard-wide", "excel-long", "allocate-nested", "wales-sessions"} {
		out := filepath.Join(dir, sample+".draft.yaml")
		code, _, errOut := runCLI(t, "mapping", "infer", workbenchSample(sample), "--out", out)
		// allocate-nested's occurrences are a year's: the draft is
		// written, but needs units.working_weeks, which mapping check
		// asks for until it is given (infer_working_weeks.txtar).
		wantCode, wantCheck := 0, 0
		if sample == "allocate-nested" {
			wantCode, wantCheck = 1, 1
		}
		if code != wantCode {
			t.Fatalf("infer %s: exit %d, want %d: %s", sample, code, wantCode, errOut)
		}
		if code, stdout, errOut := runCLI(t, "mapping", "check", out); code != wantCheck {
			t.Errorf("mapping check of the %s draft: exit %d, want %d\n%s%s", sample, code, wantCheck, stdout, errOut)
		} else if wantCheck == 1 && !strings.Contains(errOut, "annual occurrences need units.working_weeks") {
			t.Errorf("mapping check of the %s draft does not ask for units.working_weeks:\n%s", sample, errOut)
		}
		if code, _, _ := runCLI(t, "mapping", "infer", workbenchSample(sample), "--out", out); code != 2 {
			t.Errorf("infer over an existing --out without --force: exit %d, want 2", code)
		}
	}
	code, stdout, _ := runCLI(t, "mapping", "infer", workbenchSample("wales-sessions"))
	if code != 0 || !strings.Contains(stdout, "format: jsonl\n") {
		t.Errorf("infer to standard output: exit %d\n%s", code, stdout)
	}
}

func TestConvertWritesHTMLReport(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCLI(t, "convert", "-q", "-m", filepath.Join(bundledMappings, "sard-wide.yaml"), "-o", dir, workbenchSample("sard-wide"))
	if code != 1 { // the sample has rejected plans
		t.Fatalf("convert: exit %d: %s", code, errOut)
	}
	page, err := os.ReadFile(filepath.Join(dir, "jobplans-2026-04.report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"V6: Category totals do not add up to the total PAs", `data-assignment="20000007"`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
