package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// caseResults totals a run of mapping test.
type caseResults struct {
	passed, failed, broken int
}

// runCaseFiles runs every case of every suite, printing one line per case
// and the differences of each failure.
func runCaseFiles(ctx context.Context, w io.Writer, suites []caseSuite, only string, verbose bool) caseResults {
	var total caseResults
	for _, s := range suites {
		m, err := mapping.LoadFile(s.mapping)
		if err != nil {
			fmt.Fprintf(w, "BROKEN %s: the mapping does not load:\n%s\n", s.mapping, indentLines(err.Error(), "  "))
			total.broken++
			continue
		}
		cases, err := mapping.LoadCases(s.cases)
		if err != nil {
			fmt.Fprintf(w, "BROKEN %s:\n%s\n", s.cases, indentLines(err.Error(), "  "))
			total.broken++
			continue
		}
		var res caseResults
		for i := range cases {
			c := &cases[i]
			if only != "" && !strings.Contains(c.Name, only) {
				continue
			}
			out, err := runCase(ctx, m, c)
			if err != nil {
				fmt.Fprintf(w, "BROKEN %s: %s (%s:%d): %v\n", m.Name, c.Name, s.cases, c.Line, err)
				res.broken++
				continue
			}
			diffs := c.Check(out)
			if len(diffs) == 0 {
				fmt.Fprintf(w, "PASS %s: %s\n", m.Name, c.Name)
				res.passed++
			} else {
				fmt.Fprintf(w, "FAIL %s: %s (%s:%d)\n", m.Name, c.Name, s.cases, c.Line)
				for _, d := range diffs {
					fmt.Fprintf(w, "    %s\n", d)
				}
				res.failed++
			}
			if verbose || len(diffs) > 0 {
				showOutcome(w, out)
			}
		}
		fmt.Fprintf(w, "%s: %d passed, %d failed", s.cases, res.passed, res.failed)
		if res.broken > 0 {
			fmt.Fprintf(w, ", %d could not run", res.broken)
		}
		fmt.Fprintln(w)
		total.passed += res.passed
		total.failed += res.failed
		total.broken += res.broken
	}
	if len(suites) > 1 {
		fmt.Fprintf(w, "total: %d passed, %d failed\n", total.passed, total.failed)
	}
	return total
}

// runCase converts a case's input with transform.Convert, as convert does.
func runCase(ctx context.Context, m *mapping.Mapping, c *mapping.Case) (*mapping.Outcome, error) {
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
	sink := &caseFindings{}
	counts, err := transform.Convert(ctx, m, bytes.NewReader(in), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: sink, SpoolDir: tmp})
	out := &mapping.Outcome{Findings: sink.list, Counts: countMap(counts)}
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

type caseFindings struct{ list []finding.Finding }

func (l *caseFindings) Add(f finding.Finding) error {
	l.list = append(l.list, f)
	return nil
}

func countMap(c report.Counts) map[string]int {
	b, _ := json.Marshal(c)
	var m map[string]int
	json.Unmarshal(b, &m)
	return m
}

// showOutcome prints what a case produced, to help write or fix it.
func showOutcome(w io.Writer, o *mapping.Outcome) {
	if o.FileError != "" {
		fmt.Fprintf(w, "      got: file refused: %s\n", o.FileError)
		return
	}
	fmt.Fprintf(w, "      got %d records:\n", len(o.Records))
	for i, r := range o.Records {
		b, _ := json.Marshal(nonEmpty(r))
		fmt.Fprintf(w, "        %d: %s\n", i+1, b)
	}
	fmt.Fprintf(w, "      got %d findings:\n", len(o.Findings))
	for _, f := range o.Findings {
		fmt.Fprintf(w, "        - %s\n", mapping.ShowFinding(f))
	}
}

func nonEmpty(r map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range r {
		if v == nil || v == "" || v == json.Number("0") {
			continue
		}
		out[k] = v
	}
	return out
}

func indentLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
