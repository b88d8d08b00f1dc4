package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// TestProcessorCountsHeldBackPlans: the hub's processor passes on the
// plans held back (D4) with the other counts, and they add up to the
// plans built. 10000001's 2026 plan is refused (V6: 7 + 2.5 PAs of 10),
// so its 2025 plan is held back; 10000002's two plans of one date are
// refused (D3). The one warning is the held-back plan's D4.
func TestProcessorCountsHeldBackPlans(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "refuse.yaml")
	if err := os.WriteFile(m, []byte(`version: 1
name: refuse
format: csv
fields:
  employee_number: {column: emp}
  assignment_number: {column: asg}
  staff_group: {value: Medical and Dental}
  contract_type: {value: consultant_england_2003}
  effective_date: {column: date}
  dcc: {column: dcc}
  spa: {column: spa}
  total_contracted_pas: {value: "10"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	mp, err := mapping.LoadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	const plans = `emp,asg,date,dcc,spa
10000001,10000001,2025-04-01,7.5,2.5
10000001,10000001,2026-04-01,7,2.5
10000002,10000002,2026-04-01,7.5,2.5
10000002,10000002,2026-04-01,8,2
10000003,10000003,2026-04-01,7.5,2.5
`
	out, err := (&convertProcessor{m: mp}).Process(t.Context(), "plans.csv", strings.NewReader(plans), int64(len(plans)), t.TempDir())
	if err != nil || out.Failed {
		t.Fatalf("Process = %+v, %v", out, err)
	}
	want := relay.RecordCounts{Accepted: 1, Rejected: 3, HeldBack: 1, Warnings: 1}
	if out.Counts != want {
		t.Errorf("counts %+v, want %+v", out.Counts, want)
	}
	b, err := os.ReadFile(out.Report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Counts struct {
			PlansBuilt int `json:"plans_built"`
		} `json:"counts"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	c := out.Counts
	if sum := c.Accepted + c.Rejected + c.Duplicates + c.Superseded + c.HeldBack; sum != r.Counts.PlansBuilt {
		t.Errorf("the counts add up to %d, the report built %d plans", sum, r.Counts.PlansBuilt)
	}
}
