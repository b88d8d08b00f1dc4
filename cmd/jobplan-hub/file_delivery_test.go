package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// TestStatusAndRetryOfAFileDelivery: a rejected delivery of a whole file
// is shown by status as its file, not as an assignment, and `deliveries
// retry --file-id` requeues it.
func TestStatusAndRetryOfAFileDelivery(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	l, err := ledger.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: "a.csv", Size: 1, ModTime: time.Now(), SHA256: "sha-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.FinishFile(ctx, id, ledger.FileOutcome{State: ledger.FileProcessed}, []ledger.Queue{
		{Destination: "copies", File: []byte(`{"kind":"file","file_id":1,"name":"a.jobplans.jsonl","sha256":"x","records":3}`)},
	}); err != nil {
		t.Fatal(err)
	}
	due, err := l.Due(ctx, "copies", time.Now(), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %v, %v", due, err)
	}
	if err := l.MarkRejected(ctx, due[0].ID, "sftp put: permission denied"); err != nil {
		t.Fatal(err)
	}
	l.Close()

	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^  \S+ \S+ [+-]\d\d:\d\d  delivery 1  file 1  rejected after 1 attempt\(s\): sftp put: permission denied$`).MatchString(stdout) {
		t.Errorf("status does not name the file:\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir, "--json")
	var st struct {
		Destinations []struct {
			LastErrors []map[string]any `json:"last_errors"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || len(st.Destinations) != 1 || len(st.Destinations[0].LastErrors) != 1 {
		t.Fatalf("status --json: exit %d, %v:\n%s", code, err, stdout)
	}
	if e := st.Destinations[0].LastErrors[0]; e["kind"] != "file" || e["file_id"] != 1.0 || e["assignment_number"] != nil {
		t.Errorf("status --json error %v, want kind file, file_id 1, no assignment", e)
	}

	code, stdout, stderr = runCLI(t, "deliveries", "retry", "--state", dir, "--destination", "copies", "--file-id", "1")
	if code != 0 || !strings.Contains(stdout, "requeued 1 rejected deliveries for copies") {
		t.Fatalf("deliveries retry: exit %d: %s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir)
	if code != 0 || !regexp.MustCompile(`(?m)^copies\s+1\s+0\s+0\s+0`).MatchString(stdout) {
		t.Errorf("after the retry the file should be pending:\n%s", stdout)
	}
}
