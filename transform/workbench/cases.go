package workbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// Suite is a mapping and its case file (mapping.CasesSuffix).
type Suite struct{ Mapping, Cases string }

// FindSuites resolves the arguments of mapping test: a mapping file (its
// case file beside it), a case file, or a folder, every case file in it.
func FindSuites(args []string) ([]Suite, error) {
	var out []Suite
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		switch {
		case st.IsDir():
			files, _ := filepath.Glob(filepath.Join(a, "*"+mapping.CasesSuffix))
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no *%s files", a, mapping.CasesSuffix)
			}
			for _, f := range files {
				out = append(out, Suite{Mapping: mapping.MappingPathOf(f), Cases: f})
			}
		case mapping.IsCasesFile(a):
			out = append(out, Suite{Mapping: mapping.MappingPathOf(a), Cases: a})
		default:
			cases := mapping.CasesPath(a)
			if _, err := os.Stat(cases); err != nil {
				return nil, fmt.Errorf("%s: %w: write them in %s", a, mapping.ErrNoCases, cases)
			}
			out = append(out, Suite{Mapping: a, Cases: cases})
		}
	}
	return out, nil
}

// SuiteResult is what running a suite's cases gave.
type SuiteResult struct {
	Suite
	Mapping *mapping.Mapping // nil when it does not load
	// MappingErr and CasesErr say why the mapping or the case file does
	// not load (mapping.Problems with positions); no case ran.
	MappingErr, CasesErr error
	Cases                []CaseResult
}

// CaseResult is one case run.
type CaseResult struct {
	Case    *mapping.Case
	Outcome *mapping.Outcome
	// Diffs are the differences from what the case expects; none when it
	// passes.
	Diffs []string
	Err   error // the case could not run (its input_file cannot be read)
}

// RunSuite runs the suite's cases whose name contains only (every case if
// only is empty).
func RunSuite(ctx context.Context, s Suite, only string) SuiteResult {
	res := SuiteResult{Suite: s}
	m, err := mapping.LoadFile(s.Mapping)
	if err != nil {
		res.MappingErr = err
		return res
	}
	res.Mapping = m
	cases, err := mapping.LoadCases(s.Cases)
	if err != nil {
		res.CasesErr = err
		return res
	}
	for i := range cases {
		c := &cases[i]
		if only != "" && !strings.Contains(c.Name, only) {
			continue
		}
		cr := CaseResult{Case: c}
		cr.Outcome, cr.Err = RunCase(ctx, m, c)
		if cr.Err == nil {
			cr.Diffs = c.Check(cr.Outcome)
		}
		res.Cases = append(res.Cases, cr)
	}
	return res
}

// RunCase converts a case's input with transform.Convert, as convert does.
func RunCase(ctx context.Context, m *mapping.Mapping, c *mapping.Case) (*mapping.Outcome, error) {
	in, err := c.InputBytes(m)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "jobplan-case-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var records bytes.Buffer
	var found findingList
	counts, err := transform.Convert(ctx, m, bytes.NewReader(in), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: &found, SpoolDir: tmp})
	out := &mapping.Outcome{Findings: found, Counts: countMap(counts)}
	var fe *transform.FileError
	switch {
	case errors.As(err, &fe):
		out.FileError = fe.Reason
		return out, nil
	case err != nil:
		return nil, err
	}
	out.Records, err = mapping.DecodeRecords(records.Bytes())
	return out, err
}

// countMap names the report counts as report.json and case files do
// (accepted, rejected, ...).
func countMap(c report.Counts) map[string]int {
	b, _ := json.Marshal(c) // a struct of ints
	var m map[string]int
	json.Unmarshal(b, &m)
	return m
}
