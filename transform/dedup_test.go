package transform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// heldBackInput has, per assignment, a refused plan beside accepted ones.
// SPA -1 is V5 (rejected, with a readable date); 2026-99-01 is M02 (rejected,
// its date unreadable).
const heldBackInput = `emp,asg,date,dcc,spa
10000001,10000001,2025-04-01,7.5,2.5
10000001,10000001,2026-04-01,7.5,-1
10000002,10000002,2025-04-01,7.5,2.5
10000002,10000002,2026-99-01,7.5,2.5
10000003,10000003,2026-04-01,7.5,2.5
10000003,10000003,2025-04-01,7.5,-1
10000004,10000004,2026-04-01,8,2
10000004,10000004,2026-04-01,7.5,-1
10000005,10000005,2026-04-01,7.5,-1
10000005,10000005,2026-04-01,8,2
10000006,10000006,2025-01-01,7.5,2.5
10000006,10000006,2025-01-01,7.5,2.5
10000006,10000006,2026-01-01,7.5,-1
10000007,10000007,2025-04-01,7.5,2.5
10000007,10000007,2026-04-01,7.5,2.5
10000007,10000007,2026-04-01,8,2
10000008,10000008,2026-04-01,7.5,2.5
10000009,10000009,2025-01-01,7.5,2.5
10000009,10000009,2025-06-01,7.5,-1
10000009,10000009,2026-01-01,8,2
`

// TestRefusedLatestHoldsBackOlder is issue #9 items 2 and 6: a rejected (or
// ambiguous) latest plan never lets an older plan of its assignment through.
// The older plan is held back with D4 and counted; two different plans for
// one date are refused (D3) unless the mapping says the later row wins.
// Under the code this started from, the older plans of 10000001, 10000002,
// 10000004, 10000006 and 10000007 were sent as if current.
func TestRefusedLatestHoldsBackOlder(t *testing.T) {
	tests := []struct {
		name, mapping string
		records       string // assignment@line of the records sent
		findings      string // dedup findings, rule:severity@line
		accepted      int
		rejected      int
		heldBack      int
		superseded    int
	}{
		{
			name:     "keep latest, same date refused (default)",
			records:  "10000003@6 10000008@18 10000009@21",
			findings: "D2:warning@19 D3:error@16 D3:error@17 D4:warning@11 D4:warning@12 D4:warning@13 D4:warning@15 D4:warning@2 D4:warning@4 D4:warning@8",
			accepted: 3, rejected: 9, heldBack: 7, superseded: 1,
		},
		{
			name: "keep latest, last row wins", mapping: "duplicates: {same_date: last_wins}",
			records:  "10000003@6 10000005@11 10000007@17 10000008@18 10000009@21",
			findings: "D2:warning@15 D2:warning@19 D3:warning@16 D4:warning@12 D4:warning@13 D4:warning@2 D4:warning@4 D4:warning@8",
			accepted: 5, rejected: 7, heldBack: 5, superseded: 3,
		},
		{
			// Every plan is kept, but not one older than a refused plan: it
			// would be taken to run until the next plan sent.
			name: "keep all", mapping: "duplicates: {keep: all}",
			records:  "10000003@6 10000008@18 10000009@21",
			findings: "D3:error@16 D3:error@17 D4:warning@11 D4:warning@12 D4:warning@13 D4:warning@15 D4:warning@19 D4:warning@2 D4:warning@4 D4:warning@8",
			accepted: 3, rejected: 9, heldBack: 8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, tt.mapping)
			f, err := os.CreateTemp(t.TempDir(), "records")
			if err != nil {
				t.Fatal(err)
			}
			findings := &collected{}
			counts, err := transform.Convert(context.Background(), m, strings.NewReader(heldBackInput), transform.Outputs{Records: f, Rejected: io.Discard, Findings: findings, SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(f.Name())
			if got := sentAt(t, string(data), heldBackInput); got != tt.records {
				t.Errorf("records sent: %s\nwant %s", got, tt.records)
			}
			if got := dedupFindings(findings.fs); got != tt.findings {
				t.Errorf("findings: %s\nwant %s", got, tt.findings)
			}
			// Decided at the end of the file, each still names its plan: the
			// plan's number (here its line - 1) and its lines.
			for _, f := range findings.fs {
				if strings.HasPrefix(f.Rule, "D") && (f.Record != f.Line-1 || f.EndLine != f.Line) {
					t.Errorf("%s at line %d: plan %d, lines %d-%d; want plan %d, lines %d-%d", f.Rule, f.Line, f.Record, f.Line, f.EndLine, f.Line-1, f.Line, f.Line)
				}
			}
			if counts.Accepted != tt.accepted || counts.Rejected != tt.rejected || counts.HeldBack != tt.heldBack || counts.Superseded != tt.superseded || counts.Duplicates != 0 || counts.PlansBuilt != 20 {
				t.Errorf("counts = %+v", counts)
			}
			msgs := map[int]string{}
			for _, f := range findings.fs {
				if f.Rule == "D4" {
					msgs[f.Line] = f.Message
					if f.Assignment == "" || f.Field != "effective_date" || f.Column != "date" || f.Value == "" || f.Fix != finding.Rules["D4"].Fix {
						t.Errorf("D4 at line %d: %+v", f.Line, f)
					}
				}
			}
			for line, want := range map[int]string{
				2:  "This plan (effective 2025-04-01) is not sent: the later plan at line 3 (effective 2026-04-01) was rejected, so this one may not be the current plan.",
				4:  "the plan at line 5 was rejected and its effective date could not be read, so it may be the latest",
				8:  "the plan at line 9, with the same effective date, was rejected",
				12: "the later plan at line 14 (effective 2026-01-01) was rejected",
				13: "the later plan at line 14 (effective 2026-01-01) was rejected",
			} {
				if !strings.Contains(msgs[line], want) {
					t.Errorf("D4 at line %d: %q\nwant it to contain %q", line, msgs[line], want)
				}
			}
			if !m.SameDateLastWins && !strings.Contains(msgs[15], "the plans at lines 16 and 17 (effective 2026-04-01) have one date but different values and were refused (D3)") {
				t.Errorf("D4 at line 15: %q", msgs[15])
			}
		})
	}
}

// TestRefusedLatestHoldsBackOlderGrouped: the same in a long layout, where
// a plan is several rows, including a plan refused because its rows are
// split (M10) after its first part was accepted.
func TestRefusedLatestHoldsBackOlderGrouped(t *testing.T) {
	m, err := mapping.Load("long.yaml", []byte(longUnits))
	if err != nil {
		t.Fatal(err)
	}
	const input = "emp,asg,date,activity,hours,per_year,premium\n" +
		// 20000001: the 2026 plan has an unknown activity (M07).
		"20000001,20000001,2025-04-01,Clinic,4,315,N\n20000001,20000001,2025-04-01,CPD,4,105,N\n" +
		"20000001,20000001,2026-04-01,Clinic,4,315,N\n20000001,20000001,2026-04-01,Golf,4,105,N\n" +
		// 20000002: the 2025 plan's rows are split by another plan (M10).
		"20000002,20000002,2024-04-01,Clinic,4,315,N\n20000002,20000002,2024-04-01,CPD,4,105,N\n" +
		"20000002,20000002,2025-04-01,Clinic,4,315,N\n" +
		"20000003,20000003,2025-04-01,Clinic,4,315,N\n20000003,20000003,2025-04-01,CPD,4,105,N\n" +
		"20000002,20000002,2025-04-01,CPD,4,105,N\n"
	var records bytes.Buffer
	findings := &collected{}
	counts, err := transform.Convert(context.Background(), m, strings.NewReader(input), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: findings, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(records.String(), "\n"); n != 1 || field(records.String(), "assignment_number") != "20000003" {
		t.Errorf("records sent:\n%s\nwant only 20000003's", records.String())
	}
	if got := dedupFindings(findings.fs); got != "D4:warning@2 D4:warning@6" {
		t.Errorf("findings: %s", got)
	}
	// A plan of several rows: its number and all its lines.
	var pos []string
	for _, f := range findings.fs {
		if f.Rule == "D4" {
			pos = append(pos, fmt.Sprintf("plan %d, lines %d-%d", f.Record, f.Line, f.EndLine))
		}
	}
	sort.Strings(pos)
	if got := strings.Join(pos, "; "); got != "plan 1, lines 2-3; plan 3, lines 6-7" {
		t.Errorf("D4 findings are at %s; want plan 1, lines 2-3; plan 3, lines 6-7", got)
	}
	if counts.Accepted != 1 || counts.HeldBack != 2 || counts.Rejected != 3 {
		t.Errorf("counts = %+v", counts)
	}
}

// sentAt lists the records of a wide layout as assignment@line, the line
// being the first input line with the record's assignment, date and DCC.
func sentAt(t *testing.T, records, input string) string {
	t.Helper()
	var out []string
	for _, rec := range strings.Split(strings.TrimSpace(records), "\n") {
		if rec == "" {
			continue
		}
		asg := field(rec, "assignment_number")
		date := field(rec, "effective_date")
		line := 0
		for i, l := range strings.Split(input, "\n") {
			if strings.HasPrefix(l, asg+","+asg+","+date+",") {
				line = i + 1
				if strings.Contains(rec, `"dcc":`+strings.Split(l, ",")[3]+",") {
					break
				}
			}
		}
		out = append(out, fmt.Sprintf("%s@%d", asg, line))
	}
	return strings.Join(out, " ")
}

func field(rec, key string) string {
	i := strings.Index(rec, `"`+key+`":"`)
	if i < 0 {
		return ""
	}
	rest := rec[i+len(key)+4:]
	return rest[:strings.Index(rest, `"`)]
}

// dedupFindings lists the D findings as rule:severity@line, sorted.
func dedupFindings(fs []finding.Finding) string {
	var out []string
	for _, f := range fs {
		if strings.HasPrefix(f.Rule, "D") {
			out = append(out, fmt.Sprintf("%s:%s@%d", f.Rule, f.Severity, f.Line))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestPlansOnOneLine: a minified JSON export holds every plan on line 1, so
// the line cannot tell plans apart; the duplicate decision goes by the
// plan's number in the file. Before it did, an older plan, the current one
// and a copy of it on one line were counted as 2 accepted but none was
// sent: dropping the older plan dropped every plan of that line.
func TestPlansOnOneLine(t *testing.T) {
	m, err := mapping.LoadFile("../mappings/allocate-nested.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../samples/allocate-nested/jobplans.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var current map[string]any
	for _, p := range doc["jobPlans"].([]any) {
		if p := p.(map[string]any); p["employee"].(map[string]any)["assignment"] == "30000001" {
			current = p
		}
	}
	older := maps.Clone(current)
	older["effectiveDate"] = "2025-04-01"
	doc["jobPlans"] = []any{older, current, current}
	minified, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(minified, []byte("\n")) {
		t.Fatal("the export is not on one line")
	}
	var records bytes.Buffer
	findings := &collected{}
	counts, err := transform.Convert(context.Background(), m, bytes.NewReader(minified), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: findings, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(records.String(), "\n"); n != 1 || field(records.String(), "effective_date") != "2026-04-01" {
		t.Errorf("records sent:\n%s\nwant the 2026 plan once", records.String())
	}
	if counts.Accepted != 1 || counts.Superseded != 1 || counts.Duplicates != 1 {
		t.Errorf("counts = %+v, want 1 accepted, 1 superseded, 1 duplicate", counts)
	}
	var got []string
	for _, f := range findings.fs {
		got = append(got, fmt.Sprintf("%s plan %d", f.Rule, f.Record))
	}
	sort.Strings(got)
	if s := strings.Join(got, ", "); s != "D1 plan 3, D2 plan 1" {
		t.Errorf("findings %s, want D1 plan 3, D2 plan 1", s)
	}
}
