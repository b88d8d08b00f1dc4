package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// seedLedger makes a state folder whose ledger holds two processed files
// and a quarantined one; "esr" has one record delivered, one pending
// after a failure, one rejected, and one superseded; "outbox" has a file
// delivered.
func seedLedger(t *testing.T) (dir string, rejectedFile int64) {
	t.Helper()
	dir = t.TempDir()
	ctx := t.Context()
	l, err := ledger.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	claim := func(name string) int64 {
		id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: name, Size: 1, ModTime: time.Now(), SHA256: "sha-" + name})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	rec := func(a, date string, line int) ledger.Record {
		d, _ := time.Parse(time.DateOnly, date)
		return ledger.Record{AssignmentNumber: a, EffectiveDate: d, Line: line,
			Payload: []byte(fmt.Sprintf(`{"assignment_number":%q,"effective_date":%q}`, a, date))}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f1, f2, f3 := claim("a.csv"), claim("b.csv"), claim("c.csv")
	_, err = l.EnqueueFile(ctx, f1, "esr", []ledger.Record{rec("10000001", "2026-04-01", 1), rec("10000002", "2026-04-01", 2), rec("10000003", "2026-04-01", 3)})
	must(err)
	_, err = l.EnqueueFile(ctx, f2, "esr", []ledger.Record{rec("10000004", "2026-04-01", 1), rec("10000004", "2026-05-01", 2)})
	must(err)
	_, err = l.Enqueue(ctx, f1, ledger.Queue{Destination: "outbox", File: []byte(`{"kind":"file","file_id":1}`)})
	must(err)
	due, err := l.Due(ctx, "esr", time.Now(), 10)
	must(err)
	byAssignment := map[string]int64{}
	for _, d := range due {
		byAssignment[d.AssignmentNumber] = d.ID
	}
	must(l.MarkDelivered(ctx, byAssignment["10000001"]))
	must(l.MarkRetry(ctx, byAssignment["10000002"], 1, time.Now().Add(time.Hour), "the receiver answered 503 Service Unavailable: try later"))
	must(l.MarkRejected(ctx, byAssignment["10000003"], "the receiver answered 422 Unprocessable Entity: bad plan"))
	must(l.MarkDelivered(ctx, byAssignment["10000004"]))
	out, err := l.Due(ctx, "outbox", time.Now(), 10)
	must(err)
	must(l.MarkDelivered(ctx, out[0].ID))
	must(l.MarkFile(ctx, f1, ledger.FileProcessed, "", "/state/files/1/a.report.json"))
	must(l.MarkFile(ctx, f2, ledger.FileProcessed, "", "/state/files/2/b.report.json"))
	must(l.MarkFile(ctx, f3, ledger.FileQuarantined, "no header", ""))
	return dir, f1
}

// when matches a time as status shows it (observe.TimeLayout): local,
// with its offset from UTC.
const when = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d`

var timestamp = regexp.MustCompile(when)

func TestStatusText(t *testing.T) {
	dir, _ := seedLedger(t)
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := strings.ReplaceAll(stdout, dir, "$STATE")
	got = timestamp.ReplaceAllString(got, "<time>")
	testutil.Golden(t, filepath.Join("testdata", "hub", "status.want"), []byte(got))
}

func TestStatusJSON(t *testing.T) {
	dir, _ := seedLedger(t)
	code, stdout, stderr := runCLI(t, "status", "--state", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var st struct {
		StateDir     string         `json:"state_dir"`
		Files        map[string]int `json:"files"`
		Idle         bool           `json:"idle"`
		Destinations []struct {
			Name                                                          string
			Pending, Retrying, Rejected, Delivered, Duplicate, Superseded int
			LastErrors                                                    []struct {
				Assignment string `json:"assignment_number"`
				State      string `json:"state"`
				Error      string `json:"error"`
			} `json:"last_errors"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if st.StateDir != dir || st.Files["processed"] != 2 || st.Files["quarantined"] != 1 || st.Files["claimed"] != 0 || st.Idle {
		t.Errorf("status %+v", st)
	}
	if len(st.Destinations) != 2 {
		t.Fatalf("destinations %+v, want esr and outbox", st.Destinations)
	}
	esr := st.Destinations[0]
	if esr.Name != "esr" || esr.Pending != 1 || esr.Retrying != 1 || esr.Rejected != 1 || esr.Delivered != 2 || esr.Superseded != 1 {
		t.Errorf("esr %+v", esr)
	}
	if len(esr.LastErrors) != 2 || esr.LastErrors[0].Assignment != "10000003" || esr.LastErrors[0].State != "rejected" {
		t.Errorf("esr last errors %+v, want the rejection first", esr.LastErrors)
	}
	if ob := st.Destinations[1]; ob.Name != "outbox" || ob.Delivered != 1 {
		t.Errorf("outbox %+v", ob)
	}
}

func TestStatusWaitTimesOut(t *testing.T) {
	dir, _ := seedLedger(t) // one record stays pending
	code, _, stderr := runCLI(t, "status", "--state", dir, "--wait", "300ms")
	if code != 1 || !strings.Contains(stderr, "not idle after 300ms") {
		t.Errorf("exit %d, stderr %q; want 1 and a timeout", code, stderr)
	}
}

func TestStatusNeedsAnExistingLedger(t *testing.T) {
	code, _, stderr := runCLI(t, "status", "--state", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "no ledger in") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestDeliveriesRetry(t *testing.T) {
	dir, file := seedLedger(t)
	for _, args := range [][]string{
		{"--destination", "esr"},
		{"--destination", "esr", "--all", "--file-id", "1"},
	} {
		code, _, stderr := runCLI(t, append([]string{"deliveries", "retry", "--state", dir}, args...)...)
		if code != 2 || !strings.Contains(stderr, "--file-id") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "deliveries", "retry", "--state", dir, "--destination", "esr", "--file-id", fmt.Sprint(file))
	if code != 0 || stdout != "requeued 1 rejected deliveries for esr\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"rejected": 0`) || !strings.Contains(stdout, `"pending": 2`) {
		t.Errorf("after retry, status:\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, "deliveries", "retry", "--state", dir, "--destination", "esr", "--all")
	if code != 0 || stdout != "requeued 0 rejected deliveries for esr\n" {
		t.Errorf("second retry: exit %d, stdout %q", code, stdout)
	}
}

// TestPrune runs the prune command on the seeded ledger (files finished
// just now): old "already processed" reports go, recent files stay, and
// ages under an hour are refused (relay's tests cover the pruning itself).
func TestPrune(t *testing.T) {
	dir, _ := seedLedger(t)
	for _, p := range []string{"files/2/b.report.json", "skipped/abc-1/c.report.json", "skipped/def-2/d.report.json"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(dir, p), "{}")
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "skipped", "abc-1"), old, old); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, "prune", "--state", dir, "--older-than", "1d", "--dry-run")
	if code != 0 || stdout != "would prune 0 files and 1 already-processed reports\n" {
		t.Errorf("dry run: exit %d, stdout %q", code, stdout)
	}
	code, stdout, stderr := runCLI(t, "prune", "--state", dir, "--older-than", "1d")
	if code != 0 || stdout != "pruned 0 files (0 record payloads) and 1 already-processed reports\n" {
		t.Errorf("prune --older-than 1d: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if testutil.Exists(filepath.Join(dir, "skipped", "abc-1")) || !testutil.Exists(filepath.Join(dir, "skipped", "def-2")) || !testutil.Exists(filepath.Join(dir, "files", "2")) {
		t.Error("prune removed the wrong folders")
	}
	for _, age := range []string{"0s", "59m", "soon"} {
		if code, _, stderr := runCLI(t, "prune", "--state", dir, "--older-than", age); code != 2 || stderr == "" {
			t.Errorf("--older-than %s: exit %d, stderr %q; want a refusal", age, code, stderr)
		}
	}
}

// TestPruneLoop prunes at once, then on every tick, and stops with its
// context.
func TestPruneLoop(t *testing.T) {
	dir, _ := seedLedger(t)
	for _, name := range []string{"abc-1", "def-2"} {
		p := filepath.Join(dir, "skipped", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var logs testutil.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pruneLoop(ctx, l, dir, time.Hour, 10*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	testutil.Eventually(t, "the first prune", func() bool { return strings.Contains(logs.String(), "skipped_reports=2") })
	// A report that ages later is pruned by a later tick.
	late := filepath.Join(dir, "skipped", "ghi-3")
	if err := os.MkdirAll(late, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(late, old, old); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "a later prune", func() bool { return !testutil.Exists(late) })
	cancel()
	<-done
}

func TestStatusListsFilesLeftAlone(t *testing.T) {
	dir, _ := seedLedger(t)
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetRefusal(t.Context(), "supplier", "bad\x1b[31m\nname.csv", "the name holds the control character U+000A"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `files left alone (not taken):
  supplier  "bad\x1b[31m\nname.csv"  since <time>: the name holds the control character U+000A`
	if got := timestamp.ReplaceAllString(stdout, "<time>"); !strings.Contains(got, want) {
		t.Errorf("status:\n%s\nwant it to hold:\n%s", got, want)
	}
	if strings.ContainsAny(stdout, "\x1b") {
		t.Error("status printed a raw escape character")
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir, "--json")
	var st struct {
		Refused []struct{ Source, Name, Reason string } `json:"refused"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || len(st.Refused) != 1 ||
		st.Refused[0].Name != `"bad\x1b[31m\nname.csv"` || st.Refused[0].Source != "supplier" {
		t.Errorf("status --json refused %+v (%v)", st.Refused, err)
	}
}

// TestStatusSaysDueNow: a delivery that was never tried is stored as due
// at time 0; status says "due now" rather than the 1970 date.
func TestStatusSaysDueNow(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.ClaimFile(t.Context(), ledger.FileInfo{Source: "drop", Name: "a.csv", SHA256: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnqueueFile(t.Context(), id, "esr", []ledger.Record{{AssignmentNumber: "10000001",
		EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Payload: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^esr +1 +0 .* due now$`).MatchString(stdout) || strings.Contains(stdout, "1970") {
		t.Errorf("status does not say due now:\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"due_now": true`) || strings.Contains(stdout, "next_attempt_at") {
		t.Errorf("status --json:\n%s", stdout)
	}
}

// TestStatusShowsAnOutage: a destination whose dispatcher recorded it
// unavailable is shown so, with its probes and the next one.
func TestStatusShowsAnOutage(t *testing.T) {
	dir, _ := seedLedger(t)
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetHealth(t.Context(), ledger.Health{Destination: "esr", Since: time.Now().Add(-time.Minute), Probes: 4,
		NextProbeAt: time.Now().Add(5 * time.Second), LastError: "the receiver answered 503 Service Unavailable: maintenance"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^esr is unavailable since ` + when + `: deliveries held, 4 probe\(s\) failed, next probe ` + when + `: the receiver answered 503 Service Unavailable: maintenance$`).MatchString(stdout) {
		t.Errorf("status does not show the outage:\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, "status", "--state", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"unavailable": {`) || !strings.Contains(stdout, `"probes": 4`) {
		t.Errorf("status --json:\n%s", stdout)
	}
}

// TestStatusShowsTheReceiversIDs: ids the receiver gave delivered records
// (response_id) are listed, newest first.
func TestStatusShowsTheReceiversIDs(t *testing.T) {
	dir, _ := seedLedger(t)
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.ClaimFile(t.Context(), ledger.FileInfo{Source: "drop", Name: "d.csv", SHA256: "sha-d"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnqueueFile(t.Context(), id, "esr", []ledger.Record{{AssignmentNumber: "10000009",
		EffectiveDate: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Payload: []byte(`{"a":9}`)}}); err != nil {
		t.Fatal(err)
	}
	due, err := l.Due(t.Context(), "esr", time.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range due {
		if d.AssignmentNumber == "10000009" {
			if err := l.Finish(t.Context(), d.ID, ledger.Final{State: ledger.Delivered, RemoteID: "ESR-JP-000042"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.Close()
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^latest ids given by esr:\n  ` + when + `  delivery \d+  10000009  2026-05-01  id ESR-JP-000042$`).MatchString(stdout) {
		t.Errorf("status does not list the receiver's id:\n%s", stdout)
	}
	if code, stdout, _ = runCLI(t, "status", "--state", dir, "--json"); code != 0 || !strings.Contains(stdout, `"remote_id": "ESR-JP-000042"`) {
		t.Errorf("status --json:\n%s", stdout)
	}
}
