package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

func open(t *testing.T, dir string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func claim(t *testing.T, l *ledger.Ledger, name string) int64 {
	t.Helper()
	id, err := l.ClaimFile(t.Context(), ledger.FileInfo{
		Source: "drop", Name: name, Size: 10, ModTime: time.Now(), SHA256: "sha-" + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func date(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}

func rec(assignment, effective string, line int, extra string) ledger.Record {
	return ledger.Record{
		AssignmentNumber: assignment,
		EffectiveDate:    date(effective),
		Line:             line,
		Payload: []byte(fmt.Sprintf(`{"assignment_number":%q,"effective_date":%q,"dcc":%s}`,
			assignment, effective, extra)),
	}
}

func enqueue(t *testing.T, l *ledger.Ledger, fileID int64, dest string, recs ...ledger.Record) ledger.EnqueueResult {
	t.Helper()
	res, err := l.EnqueueFile(t.Context(), fileID, dest, recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func due(t *testing.T, l *ledger.Ledger, dest string) []ledger.Delivery {
	t.Helper()
	ds, err := l.Due(t.Context(), dest, time.Now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func state(t *testing.T, l *ledger.Ledger, id int64) ledger.DeliveryState {
	t.Helper()
	d, err := l.Delivery(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}

func TestKeyIsStableAcrossEncodings(t *testing.T) {
	a, err := ledger.Key([]byte(`{"b": 7.50, "a": "x<y", "n": {"z": 1, "y": [1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.Key([]byte("{\"a\":\"x\\u003cy\",\n\"n\":{\"y\":[1,2],\"z\":1},\"b\":7.50}"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("same record, different keys: %s vs %s", a, b)
	}
	c, _ := ledger.Key([]byte(`{"b": 7.51, "a": "x<y", "n": {"z": 1, "y": [1, 2]}}`))
	if a == c {
		t.Error("different records share a key")
	}
	canon, err := ledger.Canonical([]byte(`{ "b": 12345678901234567890, "a": "<>" }`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"<>","b":12345678901234567890}`; string(canon) != want {
		t.Errorf("canonical form %s, want %s", canon, want)
	}
	if _, err := ledger.Key([]byte(`{"a":1} {"b":2}`)); err == nil {
		t.Error("accepted two JSON values as one record")
	}
	if len(a) != 64 {
		t.Errorf("key %q is not hex SHA-256", a)
	}
}

func TestFilesAreRecorded(t *testing.T) {
	l := open(t, t.TempDir())
	if f, err := l.FileSeen(t.Context(), "nope"); err != nil || f != nil {
		t.Fatalf("FileSeen of unknown hash = %v, %v", f, err)
	}
	id := claim(t, l, "plan.csv")
	f, err := l.FileSeen(t.Context(), "sha-plan.csv")
	if err != nil || f == nil {
		t.Fatalf("FileSeen = %v, %v", f, err)
	}
	if f.ID != id || f.State != ledger.FileClaimed || f.Name != "plan.csv" || f.Source != "drop" {
		t.Errorf("FileSeen returned %+v", f)
	}
	if err := l.MarkFile(t.Context(), id, ledger.FileQuarantined, "no header", "/q/plan.csv.errors.json"); err != nil {
		t.Fatal(err)
	}
	f, _ = l.File(t.Context(), id)
	if f.State != ledger.FileQuarantined || f.Reason != "no header" || f.ReportPath != "/q/plan.csv.errors.json" {
		t.Errorf("after MarkFile: %+v", f)
	}
	if err := l.MarkFile(t.Context(), 999, ledger.FileProcessed, "", ""); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("MarkFile of unknown id: %v", err)
	}
	if err := l.MarkFile(t.Context(), id, "eaten", "", ""); err == nil {
		t.Error("MarkFile accepted an unknown state")
	}
}

func TestDuplicatesAcrossFilesAreNotQueuedAgain(t *testing.T) {
	l := open(t, t.TempDir())
	f1, f2 := claim(t, l, "a.csv"), claim(t, l, "b.csv")

	res := enqueue(t, l, f1, "esr", rec("10000001", "2025-04-01", 2, "7.5"), rec("10000002", "2025-04-01", 3, "8"))
	if res != (ledger.EnqueueResult{Enqueued: 2}) {
		t.Fatalf("first file: %+v", res)
	}
	// The same record, encoded differently, arrives again in another file.
	again := ledger.Record{AssignmentNumber: "10000001", EffectiveDate: date("2025-04-01"), Line: 9,
		Payload: []byte(`{ "dcc": 7.5, "effective_date": "2025-04-01", "assignment_number": "10000001" }`)}
	res = enqueue(t, l, f2, "esr", again, rec("10000003", "2025-04-01", 4, "6"))
	if res != (ledger.EnqueueResult{Enqueued: 1, Duplicates: 1}) {
		t.Fatalf("second file: %+v", res)
	}
	if n := len(due(t, l, "esr")); n != 3 {
		t.Errorf("%d deliveries due, want 3", n)
	}
	// A delivered record stays a duplicate.
	for _, d := range due(t, l, "esr") {
		if err := l.MarkDelivered(t.Context(), d.ID); err != nil {
			t.Fatal(err)
		}
	}
	if res := enqueue(t, l, f2, "esr", again); res != (ledger.EnqueueResult{Duplicates: 1}) {
		t.Errorf("after delivery: %+v", res)
	}
	// Dedup is per destination.
	if res := enqueue(t, l, f2, "esr-test", again); res != (ledger.EnqueueResult{Enqueued: 1}) {
		t.Errorf("other destination: %+v", res)
	}
}

func TestEnqueueIsAllOrNothing(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	bad := ledger.Record{AssignmentNumber: "10000009", EffectiveDate: date("2025-01-01"), Payload: []byte(`{oops`)}
	if _, err := l.EnqueueFile(t.Context(), f, "esr", []ledger.Record{rec("10000001", "2025-01-01", 1, "1"), bad}); err == nil {
		t.Fatal("enqueue accepted invalid JSON")
	}
	// An unknown file id violates the foreign key inside the transaction,
	// after the first insert has happened.
	if _, err := l.EnqueueFile(t.Context(), 424242, "esr", []ledger.Record{rec("10000001", "2025-01-01", 1, "1")}); err == nil {
		t.Fatal("enqueue accepted an unknown file id")
	}
	if n := len(due(t, l, "esr")); n != 0 {
		t.Errorf("%d deliveries left behind by failed enqueues", n)
	}
}

func TestNewerPlanSupersedesPendingOlderOne(t *testing.T) {
	l := open(t, t.TempDir())
	f1, f2, f3 := claim(t, l, "jan.csv"), claim(t, l, "apr.csv"), claim(t, l, "late.csv")

	enqueue(t, l, f1, "esr", rec("10000001", "2025-01-01", 2, "7"), rec("10000002", "2025-01-01", 3, "7"))
	// 10000002's January plan is delivered before April's arrives.
	var jan1, jan2 int64
	for _, d := range due(t, l, "esr") {
		if d.AssignmentNumber == "10000001" {
			jan1 = d.ID
		} else {
			jan2 = d.ID
		}
	}
	if err := l.MarkDelivered(t.Context(), jan2); err != nil {
		t.Fatal(err)
	}

	res := enqueue(t, l, f2, "esr", rec("10000001", "2025-04-01", 2, "8"), rec("10000002", "2025-04-01", 3, "8"))
	if res != (ledger.EnqueueResult{Enqueued: 2, Superseded: 1}) {
		t.Fatalf("april file: %+v", res)
	}
	if st := state(t, l, jan1); st != ledger.Superseded {
		t.Errorf("pending January plan is %s, want superseded", st)
	}
	if st := state(t, l, jan2); st != ledger.Delivered {
		t.Errorf("delivered January plan is %s, want delivered", st)
	}

	// An older plan arriving late must not displace the newer pending one.
	res = enqueue(t, l, f3, "esr", rec("10000001", "2024-10-01", 2, "6"))
	if res != (ledger.EnqueueResult{Enqueued: 1, Superseded: 1}) {
		t.Fatalf("late file: %+v", res)
	}
	ds := due(t, l, "esr")
	if len(ds) != 2 {
		t.Fatalf("%d due, want the two April plans", len(ds))
	}
	for _, d := range ds {
		if !d.EffectiveDate.Equal(date("2025-04-01")) || d.FileID != f2 {
			t.Errorf("due: %s effective %s from file %d, want April plans", d.AssignmentNumber, d.EffectiveDate, d.FileID)
		}
	}
	st, err := l.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[ledger.DeliveryState]int{ledger.Pending: 2, ledger.Delivered: 1, ledger.Superseded: 2}
	if got := st.Destinations[0].Counts; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func TestRetryAndRequeue(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	enqueue(t, l, f, "esr", rec("10000001", "2025-04-01", 2, "7"), rec("10000002", "2025-04-01", 3, "7"))
	ds := due(t, l, "esr")
	a, b := ds[0], ds[1]

	later := time.Now().Add(time.Hour)
	if err := l.MarkRetry(t.Context(), a.ID, 1, later, "503 service unavailable"); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkRejected(t.Context(), b.ID, "400: dcc must be a number"); err != nil {
		t.Fatal(err)
	}
	if n := len(due(t, l, "esr")); n != 0 {
		t.Fatalf("%d due right after retry/reject, want 0", n)
	}
	if got, _ := l.Due(t.Context(), "esr", later, 10); len(got) != 1 || got[0].ID != a.ID || got[0].Attempts != 1 {
		t.Fatalf("due at the retry time: %+v", got)
	}
	if at, ok, err := l.NextAttempt(t.Context(), "esr"); err != nil || !ok || !at.Equal(later.Truncate(time.Millisecond)) {
		t.Errorf("NextAttempt = %v, %v, %v; want %v", at, ok, err, later)
	}
	st, _ := l.Stats(t.Context())
	if errs := st.Destinations[0].RecentErrors; len(errs) != 2 {
		t.Errorf("recent errors %+v, want the retry and the rejection", errs)
	}

	// Only rejected deliveries move; the filter must match.
	if n, err := l.Requeue(t.Context(), "esr", ledger.RequeueFilter{AssignmentNumber: "10000009"}); err != nil || n != 0 {
		t.Fatalf("requeue with non-matching filter moved %d (%v)", n, err)
	}
	n, err := l.Requeue(t.Context(), "esr", ledger.RequeueFilter{IDs: []int64{a.ID, b.ID}})
	if err != nil || n != 1 {
		t.Fatalf("requeue moved %d (%v), want 1", n, err)
	}
	got := due(t, l, "esr")
	if len(got) != 1 || got[0].ID != b.ID || got[0].Attempts != 0 || got[0].State != ledger.Pending {
		t.Fatalf("after requeue due = %+v", got)
	}

	// A rejected plan older than a pending one is superseded on requeue.
	if err := l.MarkRejected(t.Context(), b.ID, "400 again"); err != nil {
		t.Fatal(err)
	}
	enqueue(t, l, f, "esr", rec("10000002", "2025-06-01", 4, "9"))
	if n, _ := l.Requeue(t.Context(), "esr", ledger.RequeueFilter{FileID: f}); n != 1 {
		t.Fatalf("requeue by file moved %d, want 1", n)
	}
	if st := state(t, l, b.ID); st != ledger.Superseded {
		t.Errorf("requeued older plan is %s, want superseded", st)
	}
}

func TestMarkingIsIdempotentAndChecksIDs(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	enqueue(t, l, f, "esr", rec("10000001", "2025-04-01", 2, "7"))
	d := due(t, l, "esr")[0]
	if err := l.MarkDuplicate(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkRetry(t.Context(), d.ID, 5, time.Now(), "late failure"); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Delivery(t.Context(), d.ID)
	if got.State != ledger.Duplicate || got.Attempts != 1 || got.LastError != "" {
		t.Errorf("finished delivery changed by later marks: %+v", got)
	}
	for name, err := range map[string]error{
		"delivered": l.MarkDelivered(t.Context(), 999),
		"rejected":  l.MarkRejected(t.Context(), 999, "x"),
		"retry":     l.MarkRetry(t.Context(), 999, 1, time.Now(), "x"),
	} {
		if !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("mark %s of unknown id: %v", name, err)
		}
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	f := claim(t, l, "a.csv")
	enqueue(t, l, f, "esr", rec("10000001", "2025-04-01", 2, "7"), rec("10000002", "2025-04-01", 3, "7"),
		rec("10000003", "2025-04-01", 4, "7"))
	ds := due(t, l, "esr")
	next := time.Now().Add(time.Minute)
	must(t, l.MarkDelivered(t.Context(), ds[0].ID))
	must(t, l.MarkRejected(t.Context(), ds[1].ID, "400 bad"))
	must(t, l.MarkRetry(t.Context(), ds[2].ID, 3, next, "timeout"))
	must(t, l.MarkFile(t.Context(), f, ledger.FileProcessed, "", "/archive/a.csv.report.json"))
	must(t, l.Close())

	l = open(t, dir)
	st, err := l.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Files[ledger.FileProcessed] != 1 {
		t.Errorf("files after reopen: %v", st.Files)
	}
	want := map[ledger.DeliveryState]int{ledger.Delivered: 1, ledger.Rejected: 1, ledger.Pending: 1}
	if len(st.Destinations) != 1 || fmt.Sprint(st.Destinations[0].Counts) != fmt.Sprint(want) {
		t.Fatalf("deliveries after reopen: %+v", st.Destinations)
	}
	d, err := l.Delivery(t.Context(), ds[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Attempts != 3 || d.LastError != "timeout" || !d.NextAttemptAt.Equal(next.Truncate(time.Millisecond)) {
		t.Errorf("retry state after reopen: %+v", d)
	}
	if string(d.Payload) != `{"assignment_number":"10000003","dcc":7,"effective_date":"2025-04-01"}` {
		t.Errorf("payload after reopen: %s", d.Payload)
	}
	if fs, _ := l.FileSeen(t.Context(), "sha-a.csv"); fs == nil || fs.State != ledger.FileProcessed {
		t.Errorf("file after reopen: %+v", fs)
	}
	// Dedup state survives too.
	if res := enqueue(t, l, f, "esr", rec("10000001", "2025-04-01", 2, "7")); res.Duplicates != 1 {
		t.Errorf("re-enqueue after reopen: %+v", res)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	must(t, l.Close())
	db, err := sql.Open("sqlite", filepath.Join(dir, ledger.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO schema_version (version) VALUES (99)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if l, err := ledger.Open(t.Context(), dir); err == nil {
		l.Close()
		t.Fatal("opened a ledger with a newer schema")
	}
}

func TestConcurrentDueAndMark(t *testing.T) {
	l := open(t, t.TempDir())
	const files, perFile, workers = 10, 50, 8
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, files+workers)
	// Producers enqueue while consumers drain.
	for i := range files {
		wg.Go(func() {
			id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: fmt.Sprint(i), SHA256: fmt.Sprint(i)})
			if err != nil {
				errc <- err
				return
			}
			var recs []ledger.Record
			for j := range perFile {
				recs = append(recs, rec(fmt.Sprintf("%08d", i*perFile+j), "2025-04-01", j, "1"))
			}
			if _, err := l.EnqueueFile(ctx, id, "esr", recs); err != nil {
				errc <- err
			}
		})
	}
	var delivered sync.Map
	var total int64
	var mu sync.Mutex
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				finished := total == files*perFile
				mu.Unlock()
				if finished {
					return
				}
				ds, err := l.Due(ctx, "esr", time.Now(), 20)
				if err != nil {
					errc <- err
					return
				}
				for _, d := range ds {
					var err error
					if d.Attempts == 0 && (int(d.ID)+w)%3 == 0 {
						// First attempt failed; due again at once.
						err = l.MarkRetry(ctx, d.ID, d.Attempts+1, time.Now().Add(-time.Millisecond), "flaky")
					} else {
						err = l.MarkDelivered(ctx, d.ID)
						if _, dup := delivered.LoadOrStore(d.ID, true); err == nil && !dup {
							mu.Lock()
							total++
							mu.Unlock()
						}
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	st, err := l.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Destinations[0].Counts; got[ledger.Delivered] != files*perFile || len(got) != 1 {
		t.Fatalf("counts %v, want %d delivered and nothing else", got, files*perFile)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDueLeavesOutDeliveriesInFlight: ids given to Due are skipped, and
// the limit counts only what is returned.
func TestDueLeavesOutDeliveriesInFlight(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	enqueue(t, l, f, "esr", rec("10000001", "2026-04-01", 1, "1"), rec("10000002", "2026-04-01", 2, "1"),
		rec("10000003", "2026-04-01", 3, "1"), rec("10000004", "2026-04-01", 4, "1"))
	all := due(t, l, "esr")
	if len(all) != 4 {
		t.Fatalf("%d due, want 4", len(all))
	}
	got, err := l.Due(t.Context(), "esr", time.Now(), 2, all[0].ID, all[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != all[1].ID || got[1].ID != all[3].ID {
		t.Errorf("Due without deliveries 1 and 3 returned %+v, want deliveries 2 and 4", got)
	}
}

// TestFinishFileIsOneTransaction: records queued for two destinations and
// the file's outcome are recorded together, or not at all.
func TestFinishFileIsOneTransaction(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	res, err := l.FinishFile(t.Context(), f, ledger.FileOutcome{State: ledger.FileProcessed, ReportPath: "/r/a.report.json",
		Reports: []string{"a.report.json", "a.report.html"}}, []ledger.Queue{
		{Destination: "esr", Records: []ledger.Record{rec("10000001", "2026-04-01", 1, "1"), rec("10000002", "2026-04-01", 2, "1")}},
		{Destination: "box", Records: []ledger.Record{rec("10000001", "2026-04-01", 1, "1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Enqueued != 2 || res[1].Enqueued != 1 {
		t.Errorf("results %+v, want 2 then 1 enqueued", res)
	}
	for dest, want := range map[string]int{"esr": 2, "box": 1, "other": 0} {
		if n, err := l.Pending(t.Context(), dest); err != nil || n != want {
			t.Errorf("Pending(%s) = %d, %v; want %d", dest, n, err, want)
		}
	}
	got, err := l.File(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != ledger.FileProcessed || strings.Join(got.Reports, ",") != "a.report.json,a.report.html" {
		t.Errorf("file after FinishFile: state %s, reports %v", got.State, got.Reports)
	}

	// A file id the ledger does not know: the inserts fail (foreign key)
	// and nothing is queued.
	if _, err := l.FinishFile(t.Context(), 999, ledger.FileOutcome{State: ledger.FileProcessed}, []ledger.Queue{
		{Destination: "other", Records: []ledger.Record{rec("10000009", "2026-04-01", 1, "1")}},
	}); err == nil {
		t.Fatal("FinishFile of an unknown file succeeded")
	}
	if ds := due(t, l, "other"); len(ds) != 0 {
		t.Errorf("a failed FinishFile left %d deliveries queued", len(ds))
	}
}

// TestPrune empties the payloads of a finished file's delivered records,
// keeps recognising them, and leaves alone files with deliveries pending
// or rejected.
func TestPrune(t *testing.T) {
	l := open(t, t.TempDir())
	ctx := t.Context()
	finish := func(name, assignment string) (int64, ledger.Delivery) {
		t.Helper()
		f := claim(t, l, name)
		if _, err := l.FinishFile(ctx, f, ledger.FileOutcome{State: ledger.FileProcessed},
			[]ledger.Queue{{Destination: "esr", Records: []ledger.Record{rec(assignment, "2026-04-01", 1, "1")}}}); err != nil {
			t.Fatal(err)
		}
		for _, d := range due(t, l, "esr") {
			if d.FileID == f {
				return f, d
			}
		}
		t.Fatalf("%s: nothing queued", name)
		return 0, ledger.Delivery{}
	}
	done, dDone := finish("done.csv", "10000001")
	_, _ = finish("pending.csv", "10000002")
	_, dRejected := finish("rejected.csv", "10000003")
	must(t, l.MarkDelivered(ctx, dDone.ID))
	must(t, l.MarkRejected(ctx, dRejected.ID, "400"))

	if ids, err := l.Prunable(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
		t.Errorf("files finished within the hour are prunable an hour ago: %v, %v", ids, err)
	}
	ids, err := l.Prunable(ctx, time.Now().Add(time.Minute))
	if err != nil || len(ids) != 1 || ids[0] != done {
		t.Fatalf("Prunable = %v, %v; want only file %d (the others have a delivery pending or rejected)", ids, err, done)
	}
	pruned, payloads, err := l.Prune(ctx, ids)
	if err != nil || len(pruned) != 1 || payloads != 1 {
		t.Fatalf("Prune = %v, %d, %v; want the file and 1 payload", pruned, payloads, err)
	}
	got, err := l.Delivery(ctx, dDone.ID)
	if err != nil || len(got.Payload) != 0 || got.State != ledger.Delivered || got.Key != dDone.Key {
		t.Errorf("pruned delivery: %+v, %v; want delivered, same key, no payload", got, err)
	}
	if d, _ := l.Delivery(ctx, dRejected.ID); len(d.Payload) == 0 {
		t.Error("a rejected delivery lost its payload")
	}
	// The same record again is still recognised.
	again := claim(t, l, "again.csv")
	if res := enqueue(t, l, again, "esr", rec("10000001", "2026-04-01", 1, "1")); res.Duplicates != 1 || res.Enqueued != 0 {
		t.Errorf("the pruned record sent again: %+v, want a duplicate", res)
	}
	if ids, _ := l.Prunable(ctx, time.Now().Add(time.Minute)); len(ids) != 0 {
		t.Errorf("Prunable after Prune = %v, want none", ids)
	}
}

func TestRecentFiles(t *testing.T) {
	l := open(t, t.TempDir())
	var ids []int64
	for _, n := range []string{"a.csv", "b.csv", "c.csv"} {
		ids = append(ids, claim(t, l, n))
	}
	got, err := l.RecentFiles(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[1] || got[0].Name != "c.csv" {
		t.Errorf("RecentFiles(2) = %+v, want c.csv then b.csv", got)
	}
}

// TestFinishCountsEveryRequest: a final outcome adds the requests it
// took to the delivery's attempts.
func TestFinishCountsEveryRequest(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	enqueue(t, l, f, "esr", rec("10000001", "2025-04-01", 2, "7"))
	d := due(t, l, "esr")[0]
	must(t, l.MarkRetry(t.Context(), d.ID, 1, time.Now(), "503"))
	must(t, l.Finish(t.Context(), d.ID, ledger.Final{State: ledger.Delivered, Requests: 2}))
	if got, _ := l.Delivery(t.Context(), d.ID); got.State != ledger.Delivered || got.Attempts != 3 {
		t.Errorf("after a retry and a delivery of two requests: %+v, want delivered after 3 attempts", got)
	}
	if err := l.Finish(t.Context(), d.ID, ledger.Final{State: ledger.Pending}); err == nil {
		t.Error("Finish accepted pending as a final state")
	}
}
