package reference_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

const (
	sampleDir = "../../samples/reference/input"
	staffCSV  = sampleDir + "/staff.csv"
	staffGO   = sampleDir + "/GO_123_STF_GOF_20260401_00000001.DAT"
)

func loadSample(t testing.TB, path, config string) *reference.Index {
	t.Helper()
	cfg, err := reference.LoadConfig(filepath.Join(sampleDir, config))
	if err != nil {
		t.Fatal(err)
	}
	x, err := reference.LoadFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func dump(x *reference.Index) []string {
	var out []string
	x.Each(func(s reference.Staff) {
		s.Line = 0
		out = append(out, fmt.Sprintf("%+v", s))
	})
	return out
}

// TestSampleFormatsAgree: the CSV and the ESR GO sample describe the same
// staff record, so they must load to the same index.
func TestSampleFormatsAgree(t *testing.T) {
	csvX := loadSample(t, staffCSV, "staff-extract.yaml")
	goX := loadSample(t, staffGO, "esr-go.yaml")
	a, b := dump(csvX), dump(goX)
	if len(a) != 67 {
		t.Errorf("CSV sample has %d assignments, want 67", len(a))
	}
	if !slices.Equal(a, b) {
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Errorf("first difference at %d:\n csv %s\n  go %s", i, a[i], b[i])
				break
			}
		}
		t.Fatalf("CSV has %d assignments, GO %d", len(a), len(b))
	}
	if len(csvX.Problems) != 0 {
		t.Errorf("CSV problems: %v", csvX.Problems)
	}
	// The GO sample holds a superseded date-tracked row and a POA record.
	if len(goX.Problems) != 0 || len(goX.Notes) != 1 || !strings.Contains(goX.Notes[0], "POA 1") {
		t.Errorf("GO problems: %v, notes %v", goX.Problems, goX.Notes)
	}
	if !strings.Contains(goX.Source, "VPD 123") || !strings.Contains(goX.Source, "run date 2026-04-01") {
		t.Errorf("GO source = %q", goX.Source)
	}
	s, ok := goX.Lookup("20000001")
	if !ok || s.Status != "Active Assignment" {
		t.Errorf("20000001 in GO = %+v, want the latest date-tracked row (Active Assignment)", s)
	}
	if s, _ := goX.Lookup("30000002-2"); s.EndDate != "2026-03-31" {
		t.Errorf("30000002-2 end date %q", s.EndDate)
	}
	if s, _ := goX.Lookup("40000001"); s.Forenames != "O Fiction" {
		t.Errorf("40000001 forenames %q", s.Forenames)
	}
}

// samplePlan is a plan the bundled samples accept, with the doctor's name
// from the sample export where it has one.
type samplePlan struct {
	sample string
	reference.Plan
}

// acceptedPlans reads every accepted plan of the bundled samples (their
// golden records) and the names in the sard-wide and excel-long exports.
func acceptedPlans(t *testing.T) []samplePlan {
	t.Helper()
	names := map[string][2]string{} // assignment -> surname, forenames
	readNames := func(path string, opts decode.CSVOptions, asgCol, surCol, foreCol string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := decode.NewCSVReader(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		h := r.Header()
		ai, si, fi := slices.Index(h, asgCol), slices.Index(h, surCol), slices.Index(h, foreCol)
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil || len(row.Fields) != len(h) {
				continue // the samples' broken rows
			}
			names[row.Fields[ai]] = [2]string{row.Fields[si], row.Fields[fi]}
		}
	}
	readNames("../../samples/sard-wide/jobplans-2026-04.csv", decode.CSVOptions{}, "Assignment Number", "Surname", "Forename")
	readNames("../../samples/excel-long/activities.csv", decode.CSVOptions{Delimiter: ';', Encoding: "windows-1252"}, "Assignment", "Surname", "Forename")

	var plans []samplePlan
	// The names of these four samples are read above; later samples have
	// their own staff records and goldens (TestGoldenWithStaffChecks).
	var files []string
	for _, s := range []string{"allocate-nested", "excel-long", "sard-wide", "wales-sessions"} {
		f, _ := filepath.Glob("../../samples/" + s + "/expected/*.jobplans.jsonl")
		files = append(files, f...)
	}
	sort.Strings(files)
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r struct {
				Emp  string `json:"employee_number"`
				Asg  string `json:"assignment_number"`
				Date string `json:"effective_date"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			n := names[r.Asg]
			plans = append(plans, samplePlan{sample: filepath.Base(filepath.Dir(filepath.Dir(file))), Plan: reference.Plan{EmployeeNumber: r.Emp, AssignmentNumber: r.Asg, EffectiveDate: r.Date, Surname: n[0], Forenames: n[1]}})
		}
		f.Close()
	}
	if len(plans) != 17 {
		t.Fatalf("read %d accepted sample plans, want 17", len(plans))
	}
	return plans
}

// TestPlantedProblems checks that every problem planted in the sample
// staff extract is found, with the right code, in both formats, and that
// nothing else is reported.
func TestPlantedProblems(t *testing.T) {
	want := map[string][]string{
		"20000003":   {"R6 warning surname: nearly matches the staff record's \"Cai Fictionel\" for assignment 20000003 (similarity 0.92)"}, // misspelt name
		"20000004":   {"R4 error staff_group: in staff group \"Additional Professional Scientific and Technical\""},                         // not Medical and Dental
		"20000012":   {"R5 error surname: The plan's name \"Lou Older\" does not match the staff record's \"Priya Patel\""},                 // another person's assignment
		"20000013":   {"R1 error assignment_number: Assignment number 20000013 is not in the staff record."},                                // wrong assignment number
		"20000015":   {"R3 error employee_number: belongs to employee 20000015 in the staff record, not to employee 20000014", "R5 error surname: \"Ned Otherstem\" does not match the staff record's \"Ola Otherperson\""},
		"30000002-2": {"R2 error assignment_number: ended on 2026-03-31 in the staff record, before the plan takes effect (2026-04-01)"},
		"50000007":   {"R2 error assignment_number: has status \"Terminate Assignment\" in the staff record"},
	}
	plans := acceptedPlans(t)
	for _, format := range []struct{ path, config string }{{staffCSV, "staff-extract.yaml"}, {staffGO, "esr-go.yaml"}} {
		t.Run(filepath.Ext(format.path), func(t *testing.T) {
			x := loadSample(t, format.path, format.config)
			k, err := reference.NewChecker(x, reference.DefaultChecks())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range plans {
				var got []string
				k.Check(&p.Plan, func(f finding.Finding) {
					got = append(got, fmt.Sprintf("%s %s %s: %s", f.Rule, f.Severity, f.Field, f.Message))
				})
				exp := want[p.AssignmentNumber]
				if len(got) != len(exp) {
					t.Errorf("%s %s (%s %s): got %q, want %d findings", p.sample, p.AssignmentNumber, p.Forenames, p.Surname, got, len(exp))
					continue
				}
				for i := range got {
					code := strings.Fields(exp[i])[0] + " " + strings.Fields(exp[i])[1] + " " + strings.Fields(exp[i])[2]
					detail := strings.SplitN(exp[i], ": ", 2)[1]
					if !strings.HasPrefix(got[i], code) || !strings.Contains(got[i], detail) {
						t.Errorf("%s finding %d:\n got %s\nwant %s", p.AssignmentNumber, i, got[i], exp[i])
					}
				}
			}
		})
	}
}

func TestSeverityOverrideAndConfigProblems(t *testing.T) {
	x := loadSample(t, staffCSV, "staff-extract.yaml")
	c := reference.DefaultChecks()
	c.Severity = map[string]finding.Severity{"R1": finding.Warning, "R6": finding.Off}
	k, err := reference.NewChecker(x, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range []reference.Plan{
		{EmployeeNumber: "20000013", AssignmentNumber: "20000013"},
		{EmployeeNumber: "20000003", AssignmentNumber: "20000003", Surname: "Fictional", Forenames: "Cai"},
	} {
		k.Check(&p, func(f finding.Finding) { got = append(got, f.Rule+":"+string(f.Severity)) })
	}
	if strings.Join(got, " ") != "R1:warning" {
		t.Errorf("got %v, want R1 as a warning and R6 off", got)
	}

	for _, bad := range []string{
		"version: 1\ncolumns: {assignment_number: A}\nchecks: {severity: {V1: off}}\n",
		"version: 1\ncolumns: {assignment_number: A}\nchecks: {severity: {R1: fatal}}\n",
		"version: 1\ncolumns: {assignment_number: A}\nchecks: {name_near_miss: 2}\n",
		"version: 1\ncolums: {assignment_number: A}\n",
		"version: 1\nformat: xml\ncolumns: {assignment_number: A}\n",
		"version: 1\ncolumns: {surname: S}\n",
	} {
		if _, err := reference.ParseConfig("t.yaml", []byte(bad)); err == nil {
			t.Errorf("config accepted:\n%s", bad)
		}
	}
}

func TestBadExtracts(t *testing.T) {
	cfg := reference.DefaultConfig()
	// A configured column missing makes the extract unusable.
	_, err := reference.Load(strings.NewReader("Assignment Number,Surname\n1,2\n"), cfg)
	if err == nil || !strings.Contains(err.Error(), `"Employee Number"`) {
		t.Errorf("missing column: %v", err)
	}
	// Bad lines are reported and skipped; a repeat replaces the earlier line.
	cfg.Columns = reference.Columns{AssignmentNumber: "asg", EmployeeNumber: "emp", EndDate: "end"}
	x, err := reference.Load(strings.NewReader("asg,emp,end\n10000001,10000001,\n10000002,10000002\n10000001,10000009,\n,1,\n10000003,10000003,31/12/2025\n10000004,10000004,soon\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, p := range x.Problems {
		ps = append(ps, p.String())
	}
	want := []string{
		"line 3: has 2 columns but the header has 3; line skipped",
		"line 4: assignment 10000001 appears again (first at line 2); this later line is used",
		"line 5: no assignment number; line skipped",
		`line 7: end date "soon" is not in the format 2006-01-02 or 02/01/2006; treated as open`,
	}
	if !slices.Equal(ps, want) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(ps, "\n"), strings.Join(want, "\n"))
	}
	if s, _ := x.Lookup("10000001"); s.EmployeeNumber != "10000009" {
		t.Errorf("repeat did not replace: %+v", s)
	}
	if s, _ := x.Lookup("10000003"); s.EndDate != "2025-12-31" {
		t.Errorf("end date %q", s.EndDate)
	}
	// Without status, group and name columns those checks are not made.
	k, _ := reference.NewChecker(x, reference.DefaultChecks())
	n := 0
	k.Check(&reference.Plan{EmployeeNumber: "10000004", AssignmentNumber: "10000004", Surname: "Anyone"}, func(finding.Finding) { n++ })
	if n != 0 {
		t.Errorf("%d findings for checks the extract cannot support", n)
	}
	held, missing := x.Holds()
	if strings.Join(held, ",") != "employee number" || len(missing) != 3 {
		t.Errorf("holds %v, missing %v", held, missing)
	}

	for _, goFile := range []string{"PRA~1~20200101\n", "HDR~x\nPRA~1~2\n", "HDR~x\nASA~1~2~3~4~5\n"} {
		cfg := reference.Config{Format: reference.FormatESRGO}
		x, err := reference.Load(strings.NewReader(goFile), cfg)
		if err == nil && len(x.Problems) == 0 {
			t.Errorf("GO file accepted without a problem: %q", goFile)
		}
	}
	// Format is sniffed when not configured.
	x, err = reference.Load(strings.NewReader("HDR~f~20260401 000000~123~~20260401~1\nASA~9~1~20200101~~10000001-2~Active Assignment~Medical and Dental~Org\n"), reference.Config{})
	if err != nil || x.Len() != 1 {
		t.Fatalf("sniffed GO: %v, %d", err, x.Len())
	}
	if len(x.Problems) != 1 || !strings.Contains(x.Problems[0].Message, "no PRA record") {
		t.Errorf("problems %v", x.Problems)
	}
	var le *reference.LoadError
	if _, err := reference.LoadFile("no/such/file.csv", reference.DefaultConfig()); !errors.As(err, &le) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAssignmentKeysAreExact(t *testing.T) {
	cfg := reference.Config{Columns: reference.Columns{AssignmentNumber: "a"}}
	x, err := reference.Load(strings.NewReader("a\n10000001\n10000001-2\n10000001-02\nABC-1\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if x.Len() != 4 || len(x.Problems) != 0 {
		t.Fatalf("len %d problems %v", x.Len(), x.Problems)
	}
	for _, a := range []string{"10000001", "10000001-2", "10000001-02", "ABC-1"} {
		if s, ok := x.Lookup(a); !ok || s.AssignmentNumber != a {
			t.Errorf("Lookup(%s) = %+v %v", a, s, ok)
		}
	}
	for _, a := range []string{"10000001-3", "1000000", "10000001-", "10000001-123"} {
		if _, ok := x.Lookup(a); ok {
			t.Errorf("Lookup(%s) found", a)
		}
	}
}

// TestConvertWithChecks runs the staff checks inside a conversion of the
// sard-wide sample, on the converter's concurrent pipeline.
func TestConvertWithChecks(t *testing.T) {
	m, err := mapping.LoadFile("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k, err := reference.NewChecker(loadSample(t, staffCSV, "staff-extract.yaml"), reference.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile("../../samples/sard-wide/jobplans-2026-04.csv")
	if err != nil {
		t.Fatal(err)
	}
	sink := &findings{}
	var records bytes.Buffer
	counts, err := transform.Convert(context.Background(), m, bytes.NewReader(in), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: sink, SpoolDir: t.TempDir()}, transform.WithChecks(k))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sink.list {
		if f.Rule[0] == 'R' {
			got = append(got, f.Assignment+":"+f.Rule+":"+f.Column)
		}
	}
	want := []string{"20000004:R4:staff record", "20000013:R1:Assignment Number", "20000015:R3:Employee Number"}
	if reference.NamesAvailable() {
		want = []string{"20000003:R6:Surname", "20000004:R4:staff record", "20000012:R5:Surname", "20000012:R5:Surname", "20000013:R1:Assignment Number", "20000015:R3:Employee Number", "20000015:R5:Surname"}
	}
	if !slices.Equal(got, want) {
		t.Errorf("staff findings %v, want %v", got, want)
	}
	// Without the checks 7 plans are accepted; R1, R3, R4 (and R5) reject.
	// (20000012 has two plans, both checked before the older is superseded.)
	wantAccepted := 4
	if reference.NamesAvailable() {
		wantAccepted = 3
	}
	if counts.Accepted != wantAccepted {
		t.Errorf("accepted %d, want %d", counts.Accepted, wantAccepted)
	}
}

type findings struct {
	mu   sync.Mutex
	list []finding.Finding
}

func (s *findings) Add(f finding.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, f)
	return nil
}

// TestConfigProblemsHavePositions: every mistake of a staff-extract
// configuration is reported at once, each at file:line:col.
func TestConfigProblemsHavePositions(t *testing.T) {
	const text = `version: 2
format: xml
csv: {delimiter: ";;", skip_rows: 1}
colums: {assignment_number: A}
checks:
  name_near_miss: 1.5
  severity: {R9: off, R1: loud}
`
	_, err := reference.ParseConfig("staff.yaml", []byte(text))
	var ps lint.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("ParseConfig: %v (%T), want lint.Problems", err, err)
	}
	want := `staff.yaml:1:1: version must be 1 (got 2)
staff.yaml:1:1: columns.assignment_number is required for a CSV extract
staff.yaml:2:1: format "xml" is not csv or esr-go
staff.yaml:3:7: csv.delimiter: ";;" must be one character, or "tab"
staff.yaml:4:1: unknown key "colums" (did you mean "columns"?)
staff.yaml:6:3: checks.name_near_miss must be between 0 and 1
staff.yaml:7:14: checks.severity: "R9" is not a staff-record rule (R1, R2, R3, R4, R5, R6)
staff.yaml:7:23: checks.severity.R1: "loud" is not error, warning or off`
	if got := err.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzParseConfig: any configuration is read without a panic, and every
// problem is placed inside the file.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("version: 1\ncolumns: {assignment_number: A}\nchecks: {severity: {R6: off}}\n"))
	f.Add([]byte("version: 2\ncsv: {delimiter: ';;'}\ncolums: {}\nchecks: {name_near_miss: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := reference.ParseConfig("f.yaml", data)
		var ps lint.Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("error %v is not lint.Problems", err)
		}
		lines := testutil.YAMLLines(data)
		for _, p := range ps {
			if p.Line < 1 || p.Line > lines+1 || p.Col < 1 {
				t.Errorf("%v is outside the file", p)
			}
		}
	})
}
