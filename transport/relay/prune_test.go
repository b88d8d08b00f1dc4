package relay_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// TestPruneRemovesOutputs prunes finished files: their folders go, a
// file with a delivery pending keeps its folder, and a folder left by a
// prune cut short (ledger pruned, folder still there) goes on the next
// run.
func TestPruneRemovesOutputs(t *testing.T) {
	ctx := t.Context()
	state := t.TempDir()
	l, err := ledger.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file := func(name string, assignment string, deliver bool) int64 {
		t.Helper()
		id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "s", Name: name, SHA256: name})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := time.Parse(time.DateOnly, "2026-04-01")
		rec := ledger.Record{AssignmentNumber: assignment, EffectiveDate: d, Line: 1,
			Payload: []byte(`{"assignment_number":"` + assignment + `","effective_date":"2026-04-01"}`)}
		if _, err := l.FinishFile(ctx, id, ledger.FileOutcome{State: ledger.FileProcessed},
			[]ledger.Queue{{Destination: "esr", Records: []ledger.Record{rec}}}); err != nil {
			t.Fatal(err)
		}
		if deliver {
			due, err := l.Due(ctx, "esr", time.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, dl := range due {
				if dl.FileID == id {
					if err := l.MarkDelivered(ctx, dl.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		dir := filepath.Join(state, relay.FilesDir, strconv.FormatInt(id, 10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".report.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		return id
	}
	done := file("a.csv", "10000001", true)
	waiting := file("b.csv", "10000002", false)
	cutShort := file("c.csv", "10000003", true)
	folder := func(id int64) string { return filepath.Join(state, relay.FilesDir, strconv.FormatInt(id, 10)) }

	// An earlier prune recorded c.csv as pruned and stopped before
	// removing its folder.
	if _, _, err := l.Prune(ctx, []int64{cutShort}); err != nil {
		t.Fatal(err)
	}

	dry, err := relay.PrunePlan(ctx, l, state, time.Now().Add(time.Minute))
	if err != nil || len(dry.Files) != 2 || dry.Files[0] != done || dry.Files[1] != cutShort {
		t.Fatalf("dry run: %+v, %v; want a.csv, and c.csv's leftover folder", dry, err)
	}
	if !exists(folder(done)) {
		t.Fatal("the dry run removed a folder")
	}
	r, err := relay.Prune(ctx, l, state, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 1 || r.Files[0] != done || r.Payloads != 1 {
		t.Errorf("prune: %+v; want a.csv with one payload", r)
	}
	for id, kept := range map[int64]bool{done: false, waiting: true, cutShort: false} {
		if exists(folder(id)) != kept {
			t.Errorf("folder of file %d kept = %v, want %v", id, !kept, kept)
		}
	}
}
