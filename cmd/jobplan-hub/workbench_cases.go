package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/workbench"
)

// caseResults totals a run of mapping test.
type caseResults struct {
	passed, failed, broken int
}

// runCaseFiles runs every case of every suite (transform/workbench),
// printing one line per case and the differences of each failure.
func runCaseFiles(ctx context.Context, w io.Writer, suites []workbench.Suite, only string, verbose bool) caseResults {
	var total caseResults
	for _, s := range suites {
		sr := workbench.RunSuite(ctx, s, only)
		switch {
		case sr.MappingErr != nil:
			fmt.Fprintf(w, "BROKEN %s: the mapping does not load:\n%s\n", s.Mapping, indentLines(sr.MappingErr.Error(), "  "))
			total.broken++
			continue
		case sr.CasesErr != nil:
			fmt.Fprintf(w, "BROKEN %s:\n%s\n", s.Cases, indentLines(sr.CasesErr.Error(), "  "))
			total.broken++
			continue
		}
		name := sr.Mapping.Name
		var res caseResults
		for _, cr := range sr.Cases {
			c := cr.Case
			if cr.Err != nil {
				fmt.Fprintf(w, "BROKEN %s: %s (%s:%d): %v\n", name, c.Name, s.Cases, c.Line, cr.Err)
				res.broken++
				continue
			}
			if len(cr.Diffs) == 0 {
				fmt.Fprintf(w, "PASS %s: %s\n", name, c.Name)
				res.passed++
			} else {
				fmt.Fprintf(w, "FAIL %s: %s (%s:%d)\n", name, c.Name, s.Cases, c.Line)
				for _, d := range cr.Diffs {
					fmt.Fprintf(w, "    %s\n", d)
				}
				res.failed++
			}
			if verbose || len(cr.Diffs) > 0 {
				showOutcome(w, cr.Outcome)
			}
		}
		fmt.Fprintf(w, "%s: %d passed, %d failed", s.Cases, res.passed, res.failed)
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
