package transform_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// TestDescribeWithoutData converts files the mapping cannot read and
// checks that the reason for logs quotes nothing from them, while
// Describe (for the report) keeps the detail.
func TestDescribeWithoutData(t *testing.T) {
	sample, err := os.ReadFile("../samples/sard-wide/jobplans-2026-04.csv")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.LoadFile("../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, headerless, _ := strings.Cut(string(sample), "\n")
	firstRow, _, _ := strings.Cut(headerless, "\n")
	for _, tc := range []struct {
		name, input string
		values      []string // from the file: must not be in the safe reason
		want        string   // in the safe reason
	}{
		{"no header row", headerless, strings.Split(firstRow, ","), `the file has no column "Employee Number", "Surname"`},
		{"csv syntax", "Employee Number,\"Test\"person\n1,2\n", []string{"Testperson", `"Test"person`}, "cannot read the CSV at line 1, column"},
		{"empty", "", nil, "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := transform.Convert(context.Background(), m, strings.NewReader(tc.input),
				transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &collected{}, SpoolDir: t.TempDir()})
			var fe *transform.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Convert: %v, want a *transform.FileError", err)
			}
			safe := transform.DescribeWithoutData(err)
			if !strings.HasPrefix(safe, "not in the layout the mapping expects: ") || !strings.Contains(safe, tc.want) {
				t.Errorf("DescribeWithoutData = %q, want it to say %q", safe, tc.want)
			}
			for _, v := range tc.values {
				if len(v) > 2 && strings.Contains(safe, v) {
					t.Errorf("DescribeWithoutData = %q quotes %q from the file", safe, v)
				}
			}
			if tc.name == "no header row" && !strings.Contains(transform.Describe(err), "Testperson") {
				t.Errorf("Describe = %q: the report's reason should still name the columns found", transform.Describe(err))
			}
		})
	}
	if got := transform.DescribeWithoutData(errors.New("something about Testperson")); strings.Contains(got, "Testperson") {
		t.Errorf("an unknown error is quoted: %q", got)
	}
}
