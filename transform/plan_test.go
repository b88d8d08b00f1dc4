package transform_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// planLog records what an OnPlan hook is handed, as text, and checks on
// the way that each item agrees with the outputs.
type planLog struct {
	t     *testing.T
	items []string
	json  []string // records handed over, accepted plans only
	stop  int      // return ErrEndInput on this item (1-based); 0 never
	err   error    // returned on item stop instead, if set
}

func (l *planLog) onPlan(p *transform.Plan) error {
	kind := map[transform.PlanKind]string{transform.KindPlan: "plan", transform.KindFiltered: "filtered", transform.KindBadRow: "bad"}[p.Kind]
	s := fmt.Sprintf("%s#%d@%d-%d", kind, p.Number, p.First, p.Last)
	if p.Rejected {
		s += " rejected"
	}
	for _, f := range p.Findings {
		s += " " + f.Rule
		if f.Record != p.Number {
			l.t.Errorf("%s: finding %s names plan %d", s, f.Rule, f.Record)
		}
	}
	if len(p.Rows) != len(p.RowLines) || len(p.Rows) == 0 || p.RowLines[0] != p.First {
		l.t.Errorf("%s: %d rows, lines %v", s, len(p.Rows), p.RowLines)
	}
	for i, raw := range p.Rows {
		s += fmt.Sprintf(" [%d:%s]", p.RowLines[i], strings.SplitN(string(raw), ",", 2)[0])
	}
	switch {
	case p.Kind != transform.KindPlan && (p.Values != nil || p.JSON != nil):
		l.t.Errorf("%s: values or a record for a row that is not a plan", s)
	case p.Kind == transform.KindPlan && p.Values == nil:
		l.t.Errorf("%s: no values", s)
	case p.Kind == transform.KindPlan:
		s += " asg=" + p.Values.Text(record.AssignmentNumber)
		if p.Rejected != (p.JSON == nil) {
			l.t.Errorf("%s: record %s", s, p.JSON)
		}
		if p.JSON != nil {
			l.json = append(l.json, string(p.JSON))
			if want := string(p.Values.AppendJSON(nil)); string(p.JSON) != want {
				l.t.Errorf("%s: record %s, values give %s", s, p.JSON, want)
			}
		}
	}
	l.items = append(l.items, s)
	if len(l.items) == l.stop {
		if l.err != nil {
			return l.err
		}
		return transform.ErrEndInput
	}
	return nil
}

// hooked is a conversion with an OnPlan hook.
type hooked struct {
	records string
	found   *collected
	counts  report.Counts
}

func convertWithHook(t *testing.T, m *mapping.Mapping, input string, l *planLog) (hooked, error) {
	t.Helper()
	l.t = t
	var out bytes.Buffer
	h := hooked{found: &collected{}}
	var err error
	h.counts, err = transform.Convert(context.Background(), m, strings.NewReader(input), transform.Outputs{Records: &out, Rejected: io.Discard, Findings: h.found, SpoolDir: t.TempDir()},
		transform.WithOnPlan(l.onPlan))
	h.records = out.String()
	return h, err
}

func loadLong(t *testing.T) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load("long.yaml", []byte(strings.Replace(longMapping, "%s", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const hookInput = `emp,asg,date,dcc,spa
10000001,10000001,2026-04-01,7.5,2.5
10000002,10000002,2026-04-01,seven,3
99999999,99999999,2026-04-01,7,3
10000003,10000003,2026-04-01
10000004,10000004,2026-04-01,8,2
`

// TestOnPlanSeesEveryItem: the hook is handed every plan and row that is
// not a plan, in input order, with its findings, its values (a rejected
// plan's too) and the record written.
func TestOnPlanSeesEveryItem(t *testing.T) {
	m := load(t, "filters:\n  - {column: emp, not_in: ['99999999']}")
	l := &planLog{}
	h, err := convertWithHook(t, m, hookInput, l)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"plan#1@2-2 [2:10000001] asg=10000001",
		"plan#2@3-3 rejected M01 [3:10000002] asg=10000002",
		"filtered#0@4-4 [4:99999999]",
		"bad#0@5-5 rejected M08 [5:10000003]",
		"plan#3@6-6 [6:10000004] asg=10000004",
	}
	if !slices.Equal(l.items, want) {
		t.Errorf("hook was handed\n%s\nwant\n%s", strings.Join(l.items, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Join(l.json, "\n") + "\n"; got != h.records {
		t.Errorf("records handed over:\n%s\nwritten:\n%s", got, h.records)
	}
	if r := h.found.rules(); r != "M01@3 M08@5" {
		t.Errorf("findings %s", r)
	}
}

// TestOnPlanSeesGroupedPlans: a long layout's plan is handed over once its
// last row is read, with every row and its line; a row left out inside a
// plan's lines is handed over where it is read, before the plan.
func TestOnPlanSeesGroupedPlans(t *testing.T) {
	input := longHeader +
		"10000001,10000001,Signed off,CONS,01/04/2026,,Clinic,7.5\n" +
		"10000009,10000009,Draft,CONS,01/04/2026,,Clinic,7.5\n" +
		"10000001,10000001,Signed off,CONS,01/04/2026,,CPD,2.5\n" +
		"10000002,10000002,Signed off,SD21,01/04/2026,,Clinic,8\n" +
		"10000002,10000002,Signed off,CONS,01/04/2026,,CPD,2\n" +
		"10000003\n"
	l := &planLog{}
	if _, err := convertWithHook(t, loadLong(t), input, l); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"filtered#0@3-3 [3:10000009]",
		"plan#1@2-4 [2:10000001] [4:10000001] asg=10000001",
		"plan#2@5-6 rejected M15 [5:10000002] [6:10000002] asg=10000002",
		"bad#0@7-7 rejected M08 [7:10000003]",
	}
	if !slices.Equal(l.items, want) {
		t.Errorf("hook was handed\n%s\nwant\n%s", strings.Join(l.items, "\n"), strings.Join(want, "\n"))
	}
}

// TestOnPlanEndsTheInput: ErrEndInput from the hook ends the conversion
// there, as if the file ended: nothing after the item is written or
// counted, and duplicates are decided among the plans handed over.
func TestOnPlanEndsTheInput(t *testing.T) {
	m := load(t, "")
	// Plans 1 and 3 are one assignment; 3 is later and replaces 1 (D2).
	input := "emp,asg,date,dcc,spa\n" +
		"10000001,10000001,2025-04-01,7.5,2.5\n" +
		"10000002,10000002,2026-04-01,7,3\n" +
		"10000001,10000001,2026-04-01,8,2\n" +
		"10000004,10000004,2026-04-01,8,2\n" +
		strings.Repeat("10000005,10000005,2026-04-01,8,bad\n", 5000)
	for _, tc := range []struct {
		stop     int
		records  string
		findings string
		counts   string
	}{
		{1, "10000001/2025-04-01/dcc=7.5", "", "read 1 plans 1 accepted 1 rejected 0 superseded 0"},
		{2, "10000001/2025-04-01/dcc=7.5 10000002/2026-04-01/dcc=7,\"", "", "read 2 plans 2 accepted 2 rejected 0 superseded 0"},
		{3, "10000002/2026-04-01/dcc=7,\" 10000001/2026-04-01/dcc=8,\"", "D2@2", "read 3 plans 3 accepted 2 rejected 0 superseded 1"},
		{6, "10000002/2026-04-01/dcc=7,\" 10000001/2026-04-01/dcc=8,\" 10000004/2026-04-01/dcc=8,\"", "M01@6 M01@7 D2@2", "read 6 plans 6 accepted 3 rejected 2 superseded 1"},
	} {
		t.Run(fmt.Sprint(tc.stop), func(t *testing.T) {
			l := &planLog{stop: tc.stop}
			h, err := convertWithHook(t, m, input, l)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.items) != tc.stop {
				t.Errorf("hook handed %d items, want %d", len(l.items), tc.stop)
			}
			if got := assignments(h.records); got != tc.records {
				t.Errorf("records %s, want %s", got, tc.records)
			}
			if got := h.found.rules(); got != tc.findings {
				t.Errorf("findings %s, want %s", got, tc.findings)
			}
			c := h.counts
			got := fmt.Sprintf("read %d plans %d accepted %d rejected %d superseded %d", c.RowsRead, c.PlansBuilt, c.Accepted, c.Rejected, c.Superseded)
			if got != tc.counts {
				t.Errorf("counts %s, want %s", got, tc.counts)
			}
		})
	}
	// Another error from the hook stops the conversion with it.
	boom := errors.New("boom")
	if _, err := convertWithHook(t, m, input, &planLog{stop: 2, err: boom}); !errors.Is(err, boom) {
		t.Errorf("hook error: Convert returned %v", err)
	}
}

// TestOnPlanEndsGroupedInput: a long layout's plan is finished by the
// row after it; ended on that plan, the row is part of nothing: it starts
// no plan (here one whose rows are apart, M10, which would withdraw an
// earlier one) and is no bad row.
func TestOnPlanEndsGroupedInput(t *testing.T) {
	const a1, a2 = "10000001,10000001,Signed off,CONS,01/04/2026,,Clinic,7.5\n", "10000001,10000001,Signed off,CONS,01/04/2026,,CPD,2.5\n"
	const b = "10000002,10000002,Signed off,CONS,01/04/2026,,Clinic,8\n"
	for _, tc := range []struct {
		name, input string
		stop        int
	}{
		{"next plan", longHeader + a1 + a2 + b + a2, 2},
		{"bad row", longHeader + a1 + a2 + "10000003\n" + b, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &planLog{stop: tc.stop}
			h, err := convertWithHook(t, loadLong(t), tc.input, l)
			if err != nil {
				t.Fatal(err)
			}
			c := h.counts
			if len(l.items) != tc.stop || c.Accepted != tc.stop || c.PlansBuilt != tc.stop || c.Rejected != 0 || len(h.found.fs) != 0 || strings.Count(h.records, "\n") != tc.stop {
				t.Errorf("items %v, counts %+v, findings %s, records:\n%s", l.items, c, h.found.rules(), h.records)
			}
		})
	}
}

// TestWrittenDescribesTheRecords: WithWritten lists each record written,
// in order and without the plans dedup drops, with its canonical form and
// key, and the hash of the whole records output, for a file output
// compacted in place and a plain writer alike.
func TestWrittenDescribesTheRecords(t *testing.T) {
	for _, direct := range []bool{false, true} {
		for _, extra := range []string{"", "duplicates: keep_all"} {
			m := load(t, extra)
			var records bytes.Buffer
			var out io.Writer = &records
			var f *os.File
			if direct {
				var err error
				if f, err = os.CreateTemp(t.TempDir(), "records"); err != nil {
					t.Fatal(err)
				}
				out = f
			}
			var w transform.Written
			var plans []*record.JobPlan
			keep := func(p *transform.Plan) error {
				if p.JSON != nil {
					v := *p.Values
					plans = append(plans, &v)
				}
				return nil
			}
			_, err := transform.Convert(context.Background(), m, strings.NewReader(dupInput), transform.Outputs{Records: out, Rejected: io.Discard, Findings: &collected{}, SpoolDir: t.TempDir()},
				transform.WithWritten(&w), transform.WithOnPlan(keep))
			if err != nil {
				t.Fatal(err)
			}
			written := records.Bytes()
			if direct {
				written, _ = os.ReadFile(f.Name())
			}
			if sha256.Sum256(written) != w.SHA256 {
				t.Errorf("direct=%v %q: SHA256 is not the records output's", direct, extra)
			}
			lines := strings.Split(strings.TrimSuffix(string(written), "\n"), "\n")
			if len(w.Records) != len(lines) || len(lines) < 3 {
				t.Fatalf("direct=%v %q: %d records described, %d written", direct, extra, len(w.Records), len(lines))
			}
			for i, r := range w.Records {
				var p *record.JobPlan
				for _, q := range plans {
					if string(q.AppendJSON(nil)) == lines[i] {
						p = q
					}
				}
				if p == nil {
					t.Fatalf("record %d is no plan handed over: %s", i+1, lines[i])
				}
				if r.Assignment != p.Text(record.AssignmentNumber) || r.Effective != p.Text(record.EffectiveDate) ||
					string(r.Canonical) != string(p.AppendCanonicalJSON(nil)) || r.SHA256 != sha256.Sum256(r.Canonical) {
					t.Errorf("record %d described as %s %s %s %x", i+1, r.Assignment, r.Effective, r.Canonical, r.SHA256)
				}
			}
		}
	}
}
