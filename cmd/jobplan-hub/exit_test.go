package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// stateWithRejected makes a state folder whose ledger has one processed
// file and one rejected delivery to "esr".
func stateWithRejected(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id, err := l.ClaimFile(t.Context(), ledger.FileInfo{Source: "drop", Name: "a.csv", Size: 1, ModTime: time.Now(), SHA256: "sha-a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.FinishFile(t.Context(), id, ledger.FileOutcome{State: ledger.FileProcessed}, []ledger.Queue{{Destination: "esr", Records: []ledger.Record{{
		AssignmentNumber: "10000001", EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Line: 2,
		Payload: []byte(`{"assignment_number":"10000001","effective_date":"2026-04-01"}`),
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	due, err := l.Due(t.Context(), "esr", time.Now(), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v %v", due, err)
	}
	if err := l.MarkRejected(t.Context(), due[0].ID, "422 Unprocessable Entity"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExitStatusOfStateCommands: the commands that open a hub's state
// folder follow the same exit statuses as the others (exit_codes.txtar).
func TestExitStatusOfStateCommands(t *testing.T) {
	state := stateWithRejected(t)
	empty := t.TempDir()
	backup := filepath.Join(t.TempDir(), "copy.db")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string // a line that must start stderr; "" for none
	}{
		{[]string{"status", "--state", state}, 0, ""},
		{[]string{"status"}, 2, "jobplan-hub status: give --state DIR or --config FILE"},
		{[]string{"status", "--state", empty}, 2, "jobplan-hub status: no ledger in " + empty},
		{[]string{"status", "--state", state, "--wait", "50ms", "--min-files", "2"}, 1, "jobplan-hub status: not idle after 50ms"},
		{[]string{"deliveries", "retry", "--state", state, "-d", "nope", "--all"}, 2,
			`jobplan-hub deliveries retry: --destination "nope" has no deliveries in the ledger (destinations with deliveries: esr)`},
		{[]string{"deliveries", "retry", "--state", state, "-d", "eser", "--all"}, 2,
			`jobplan-hub deliveries retry: --destination "eser" has no deliveries in the ledger (destinations with deliveries: esr) (did you mean "esr"?)`},
		{[]string{"deliveries", "retry", "--state", state, "-d", "esr"}, 2, "jobplan-hub deliveries retry: choose what to requeue"},
		{[]string{"deliveries", "retry", "--state", state, "--all"}, 2, "jobplan-hub deliveries retry: --destination is required"},
		{[]string{"deliveries", "retry", "--state", state, "-d", "esr", "--all"}, 0, ""},
		{[]string{"prune", "--state", state}, 2, "jobplan-hub prune: --older-than is required"},
		{[]string{"prune", "--state", state, "--older-than", "soon"}, 2, "jobplan-hub prune: --older-than "},
		{[]string{"prune", "--state", state, "--older-than", "90d"}, 0, ""},
		{[]string{"ledger", "backup", "--state", state}, 2, "jobplan-hub ledger backup: give the backup FILE to write"},
		{[]string{"ledger", "backup", "--state", empty, backup}, 2, "jobplan-hub ledger backup: ledger backup: no ledger in " + empty},
		{[]string{"ledger", "backup", backup, "--state", state}, 0, ""},
		{[]string{"ledger", "backup", "--state", state, backup}, 2, "jobplan-hub ledger backup: " + backup + " exists; use --force to replace it"},
		{[]string{"ledger", "backup", "--state", state, "--force", backup}, 0, ""},
		{[]string{"ledger", "backup", "--state", state, filepath.Dir(backup)}, 2, "jobplan-hub ledger backup: " + filepath.Dir(backup) + " is a folder"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || (tc.stderr == "" && stderr != "") || !strings.HasPrefix(stderr, tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
	}
	if _, err := os.Stat(backup); err != nil {
		t.Error(err)
	}
	// The requeue went through: the delivery is pending again.
	code, out, _ := runCLI(t, "status", "--state", state, "--json")
	if code != 0 || !strings.Contains(out, `"pending": 1`) {
		t.Errorf("after the retry, status: %d %s", code, out)
	}
}
