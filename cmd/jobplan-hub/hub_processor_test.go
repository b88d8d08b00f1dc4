package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
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
	out, err := (&convertProcessor{m: mp}).Process(t.Context(), relay.Input{Name: "plans.csv", Content: strings.NewReader(plans), Size: int64(len(plans))}, t.TempDir())
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

// TestProcessorHandsTheLedgerItsKeys: what the hub's processor hands the
// ledger with each record (canonical payload, key, assignment, date) is
// what the ledger worked out itself when it read the records file back:
// the idempotency key of a record converted now is the key it had before,
// so nothing already queued is sent twice. The records compared are the
// samples' golden outputs.
func TestProcessorHandsTheLedgerItsKeys(t *testing.T) {
	golden, _ := filepath.Glob("../../samples/*/expected/*.jobplans.jsonl")
	if len(golden) < 5 {
		t.Fatalf("found %d golden records files", len(golden))
	}
	for _, want := range golden {
		name := filepath.Base(filepath.Dir(filepath.Dir(want)))
		t.Run(name, func(t *testing.T) {
			m, err := mapping.LoadFile(filepath.Join(bundledMappings, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			input := workbenchSample(name)
			data, err := os.ReadFile(input)
			if err != nil {
				t.Fatal(err)
			}
			p := &convertProcessor{m: m}
			out, err := p.Process(t.Context(), relay.Input{Name: filepath.Base(input), Content: bytes.NewReader(data), Size: int64(len(data)), SHA256: "given"}, t.TempDir())
			if err != nil || out.Failed {
				t.Fatalf("process: %v %s", err, out.Reason)
			}
			records, err := os.ReadFile(out.Records)
			if err != nil {
				t.Fatal(err)
			}
			goldenRecords, _ := os.ReadFile(want)
			if !bytes.Equal(records, goldenRecords) {
				t.Fatalf("records differ from %s", want)
			}
			if sum := sha256.Sum256(records); out.RecordsSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("records SHA-256 %s, want the file's", out.RecordsSHA256)
			}
			lines := strings.Split(strings.TrimSuffix(string(records), "\n"), "\n")
			if len(out.Plans) != len(lines) {
				t.Fatalf("%d plans handed over for %d records", len(out.Plans), len(lines))
			}
			for i, line := range lines {
				key, err := ledger.Key([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				canonical, _ := ledger.Canonical([]byte(line))
				var head struct {
					Assignment string `json:"assignment_number"`
					Effective  string `json:"effective_date"`
				}
				json.Unmarshal([]byte(line), &head)
				got := out.Plans[i]
				if got.Key != key || !bytes.Equal(got.Payload, canonical) || got.AssignmentNumber != head.Assignment || got.EffectiveDate != head.Effective {
					t.Errorf("record %d: handed %s %s key %s payload %s\nthe ledger makes %s %s key %s payload %s",
						i+1, got.AssignmentNumber, got.EffectiveDate, got.Key, got.Payload, head.Assignment, head.Effective, key, canonical)
				}
			}
			// The hash given is quoted, not worked out again.
			report, _ := os.ReadFile(out.Report)
			if !bytes.Contains(report, []byte(`"input_sha256": "given"`)) {
				t.Errorf("report does not quote the hash it was given:\n%.400s", report)
			}
		})
	}
}
