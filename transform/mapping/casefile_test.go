package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

func TestParseCasesReportsMistakesWithPositions(t *testing.T) {
	src := `- name: ok
  input: "a,b"
  expect: {records: []}
- name: bad
  input: "a"
  input_file: x.csv
  expect:
    records:
      - {dcc: 1, pas: 2}
    findings:
      - {rule: V99, severity: fatal, colour: red}
    counts: {accepted: many, kept: 1}
- name: ok
  input: "x"
  expect: {}
- input: "y"
  expect: {}
`
	_, err := mapping.ParseCases("t.cases.yaml", []byte(src))
	var ps mapping.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	got := ps.Error()
	for _, want := range []string{
		`t.cases.yaml:4:3: case "bad": give exactly one of input (the export's text) or input_file`,
		`t.cases.yaml:9:18: case "bad": record 1: "pas" is not a field of the ESR job-plan record`,
		`t.cases.yaml:11:16: case "bad": finding 1: unknown rule "V99"`,
		`case "bad": finding 1: severity is error or warning`,
		`unknown key "colour"`,
		`counts.accepted must be a whole number`,
		`unknown count "kept"`,
		`t.cases.yaml:13:3: case "ok" is also at line 1`,
		`t.cases.yaml:16:3: case: give it a name`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q; got:\n%s", want, got)
		}
	}
	if _, err := mapping.ParseCases("x", []byte("name: not a list\n")); err == nil {
		t.Error("a mapping instead of a list was accepted")
	}
}

func outcome(records string, findings ...finding.Finding) *mapping.Outcome {
	recs, err := mapping.DecodeRecords([]byte(records))
	if err != nil {
		panic(err)
	}
	return &mapping.Outcome{Records: recs, Findings: findings, Counts: map[string]int{"accepted": len(recs)}}
}

func parseOne(t *testing.T, src string) *mapping.Case {
	t.Helper()
	cs, err := mapping.ParseCases("t.cases.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return &cs[0]
}

func TestCaseCheck(t *testing.T) {
	c := parseOne(t, `- name: c
  input: x
  expect:
    counts: {accepted: 1}
    records:
      - {dcc: 7.50, contract_type: consultant_wales, on_call_category: null, effective_date: 2026-04-01}
    findings:
      - {rule: V8, line: 2}
      - {rule: V22, message: quarters}
`)
	v8 := finding.Finding{Rule: "V8", Line: 2, Severity: finding.Warning}
	v22 := finding.Finding{Rule: "V22", Line: 2, Severity: finding.Warning, Message: "not in quarters of a PA"}
	good := `{"dcc":7.5,"contract_type":"consultant_wales","on_call_category":null,"effective_date":"2026-04-01"}`
	if d := c.Check(outcome(good, v22, v8)); len(d) != 0 {
		t.Errorf("matching outcome: %v", d)
	}
	bad := `{"dcc":7,"contract_type":"consultant_england_2003","on_call_category":"A","effective_date":"2026-04-01"}
{"dcc":1}`
	v6 := finding.Finding{Rule: "V6", Line: 3, Severity: finding.Error, Field: "dcc", Value: "7"}
	d := strings.Join(c.Check(outcome(bad, v8, v6)), "\n")
	for _, want := range []string{
		"counts.accepted: got 2, want 1",
		"got 2 records, want 1",
		"record 1: dcc: got 7, want 7.50",
		`record 1: contract_type: got "consultant_england_2003", want "consultant_wales"`,
		`record 1: on_call_category: got "A", want null`,
		"unexpected record 2: {dcc: 1}",
		"missing finding {rule: V22, message: quarters}",
		`unexpected finding {rule: V6, severity: error, field: dcc, value: "7", line: 3}`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("differences lack %q; got:\n%s", want, d)
		}
	}
}

func TestCaseCheckFileError(t *testing.T) {
	c := parseOne(t, "- name: c\n  input: x\n  expect: {file_error: no column}\n")
	if d := c.Check(&mapping.Outcome{FileError: `the file has no column "DCC"`}); len(d) != 0 {
		t.Errorf("refused as expected: %v", d)
	}
	if d := c.Check(&mapping.Outcome{}); len(d) != 1 {
		t.Errorf("processed, want refused: %v", d)
	}
	plain := parseOne(t, "- name: c\n  input: x\n  expect: {records: []}\n")
	if d := plain.Check(&mapping.Outcome{FileError: "not JSON"}); len(d) != 1 || !strings.Contains(d[0], "refused: not JSON") {
		t.Errorf("unexpected refusal: %v", d)
	}
}

func TestCaseInputBytes(t *testing.T) {
	dir := t.TempDir()
	load := func(enc string) *mapping.Mapping {
		y := "version: 1\nname: t\nformat: csv\ncsv: {encoding: " + enc + "}\nfields: {assignment_number: {column: A}}\n"
		m, err := mapping.Load("t.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	c := &mapping.Case{Input: "A\nSiân\n", File: filepath.Join(dir, "t.cases.yaml")}
	for enc, want := range map[string][]byte{
		"utf-8":        []byte("A\nSiân\n"),
		"utf-8-bom":    append([]byte{0xEF, 0xBB, 0xBF}, "A\nSiân\n"...),
		"windows-1252": []byte("A\nSi\xe2n\n"),
	} {
		got, err := c.InputBytes(load(enc))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %q, %v; want %q", enc, got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte("raw\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	fc := &mapping.Case{InputFile: "in.csv", File: filepath.Join(dir, "t.cases.yaml")}
	if got, err := fc.InputBytes(load("windows-1252")); err != nil || string(got) != "raw\xff" {
		t.Errorf("input_file: got %q, %v", got, err)
	}
	// A workbook is not text: its case gives the workbook as input_file.
	wb, err := mapping.Load("wb.yaml", []byte("version: 1\nname: wb\nformat: xlsx\nfields: {assignment_number: {column: A}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.InputBytes(wb); err == nil || !strings.Contains(err.Error(), "a workbook is not text: give the case's workbook as input_file") {
		t.Errorf("inline input for a workbook: got %q, %v; want it refused", got, err)
	}
	if got, err := fc.InputBytes(wb); err != nil || string(got) != "raw\xff" {
		t.Errorf("input_file for a workbook: got %q, %v", got, err)
	}
}

func TestDecodeRecordsKeepsNumbersExact(t *testing.T) {
	recs, err := mapping.DecodeRecords([]byte("{\"dcc\":7.25}\n{\"dcc\":0.1}\n"))
	if err != nil || len(recs) != 2 || recs[0]["dcc"] != json.Number("7.25") {
		t.Errorf("got %v, %v", recs, err)
	}
}

func TestCasesPaths(t *testing.T) {
	if got := mapping.CasesPath("mappings/sard-wide.yaml"); got != "mappings/sard-wide.cases.yaml" {
		t.Errorf("CasesPath: %s", got)
	}
	if got := mapping.MappingPathOf("../../mappings/sard-wide.cases.yaml"); got != "../../mappings/sard-wide.yaml" {
		t.Errorf("MappingPathOf: %s", got)
	}
}
