package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// filePayload is what the hub queues for a file destination.
func filePayload(id int64, sum string) []byte {
	return fmt.Appendf(nil, `{"kind":"file","file_id":%d,"name":"a.jobplans.jsonl","sha256":%q,"records":2}`, id, sum)
}

func onlyDue(t *testing.T, l *ledger.Ledger, dest string, fileID int64) []ledger.Delivery {
	t.Helper()
	var out []ledger.Delivery
	for _, d := range due(t, l, dest) {
		if d.FileID == fileID {
			out = append(out, d)
		}
	}
	return out
}

// TestFileDeliveriesAreTheirOwnKind: a whole file queued for a file
// destination is a delivery of kind file, with no assignment or effective
// date, deduplicated by its payload, superseded only by a newer output of
// the same input, and counted, requeued and pruned as records are.
func TestFileDeliveriesAreTheirOwnKind(t *testing.T) {
	l := open(t, t.TempDir())
	ctx := t.Context()
	f1, f2 := claim(t, l, "a.csv"), claim(t, l, "b.csv")
	results, err := l.FinishFile(ctx, f1, ledger.FileOutcome{State: ledger.FileProcessed}, []ledger.Queue{
		{Destination: "esr", Records: []ledger.Record{rec("10000001", "2026-04-01", 1, "7"), rec("10000002", "2026-04-01", 2, "7")}},
		{Destination: "outbox", File: filePayload(f1, "s1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Enqueued != 2 || results[1] != (ledger.EnqueueResult{Enqueued: 1}) {
		t.Fatalf("FinishFile = %+v", results)
	}
	for _, d := range due(t, l, "esr") {
		if d.Kind != ledger.KindRecord || d.AssignmentNumber == "" || d.EffectiveDate.IsZero() {
			t.Errorf("record delivery %+v", d)
		}
	}
	ds := due(t, l, "outbox")
	if len(ds) != 1 {
		t.Fatalf("%d file deliveries, want 1", len(ds))
	}
	file := ds[0]
	if file.Kind != ledger.KindFile || file.AssignmentNumber != "" || !file.EffectiveDate.IsZero() || file.FileID != f1 || file.Line != 0 {
		t.Errorf("file delivery %+v: want kind file, no assignment or date, file %d", file, f1)
	}
	if c, _ := ledger.Canonical(filePayload(f1, "s1")); string(file.Payload) != string(c) {
		t.Errorf("payload %s, want %s", file.Payload, c)
	}

	// The same output again is a duplicate; a newer output of the same
	// input replaces the older one not yet put; another file's does not.
	if res, err := l.Enqueue(ctx, f1, ledger.Queue{Destination: "outbox", File: filePayload(f1, "s1")}); err != nil || res != (ledger.EnqueueResult{Duplicates: 1}) {
		t.Errorf("same output again: %+v, %v; want a duplicate", res, err)
	}
	if res, err := l.Enqueue(ctx, f1, ledger.Queue{Destination: "outbox", File: filePayload(f1, "s2")}); err != nil || res != (ledger.EnqueueResult{Enqueued: 1, Superseded: 1}) {
		t.Errorf("newer output: %+v, %v; want it queued and the older superseded", res, err)
	}
	if res, err := l.Enqueue(ctx, f2, ledger.Queue{Destination: "outbox", File: filePayload(f2, "s1")}); err != nil || res != (ledger.EnqueueResult{Enqueued: 1}) {
		t.Errorf("another file's output: %+v, %v; want it queued alone", res, err)
	}
	if st := state(t, l, file.ID); st != ledger.Superseded {
		t.Errorf("older output is %s, want superseded", st)
	}
	newer := onlyDue(t, l, "outbox", f1)
	if len(newer) != 1 {
		t.Fatalf("file %d has %d file deliveries due, want 1", f1, len(newer))
	}

	// Status: counts and errors of both kinds.
	must(t, l.MarkRejected(ctx, newer[0].ID, "sftp put: permission denied"))
	st, err := l.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var outbox *ledger.DestinationStats
	for i := range st.Destinations {
		if st.Destinations[i].Destination == "outbox" {
			outbox = &st.Destinations[i]
		}
	}
	if outbox == nil || outbox.Counts[ledger.Pending] != 1 || outbox.Counts[ledger.Rejected] != 1 || outbox.Counts[ledger.Superseded] != 1 {
		t.Fatalf("outbox stats %+v", outbox)
	}
	if e := outbox.RecentErrors; len(e) != 1 || e[0].Kind != ledger.KindFile || e[0].FileID != f1 || e[0].AssignmentNumber != "" {
		t.Errorf("outbox errors %+v, want the file delivery of file %d", e, f1)
	}

	// deliveries retry: by assignment it matches no file; by file or all
	// it does.
	if n, err := l.Requeue(ctx, "outbox", ledger.RequeueFilter{AssignmentNumber: "10000001"}); err != nil || n != 0 {
		t.Errorf("requeue by assignment moved %d file deliveries (%v)", n, err)
	}
	if n, err := l.Requeue(ctx, "outbox", ledger.RequeueFilter{FileID: f1}); err != nil || n != 1 {
		t.Errorf("requeue by file moved %d (%v), want 1", n, err)
	}
	if st := state(t, l, newer[0].ID); st != ledger.Pending {
		t.Errorf("requeued file delivery is %s", st)
	}
	// A requeued file delivery older than a pending one of its file is
	// superseded at once.
	must(t, l.MarkRejected(ctx, newer[0].ID, "sftp put: permission denied"))
	if _, err := l.Enqueue(ctx, f1, ledger.Queue{Destination: "outbox", File: filePayload(f1, "s3")}); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Requeue(ctx, "outbox", ledger.RequeueFilter{}); err != nil || n != 1 {
		t.Errorf("requeue of all moved %d (%v), want 1", n, err)
	}
	if st := state(t, l, newer[0].ID); st != ledger.Superseded {
		t.Errorf("requeued older output is %s, want superseded by the newer one pending", st)
	}

	// Prune: once both kinds are delivered, the file is pruned and its
	// payloads emptied; both are still recognised.
	for _, d := range append(due(t, l, "esr"), due(t, l, "outbox")...) {
		must(t, l.MarkDelivered(ctx, d.ID))
	}
	ids, err := l.Prunable(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	pruned, payloads, err := l.Prune(ctx, ids)
	if err != nil || len(pruned) != 1 || pruned[0] != f1 || payloads != 5 {
		t.Errorf("Prune(%v) = %v, %d, %v; want file %d, 5 payloads (2 records, 3 file deliveries)", ids, pruned, payloads, err, f1)
	}
	if res, err := l.Enqueue(ctx, f1, ledger.Queue{Destination: "outbox", File: filePayload(f1, "s3")}); err != nil || res.Duplicates != 1 {
		t.Errorf("pruned output again: %+v, %v; want a duplicate", res, err)
	}
}

// TestRecordsNeedAnAssignmentAndADate: only a file delivery goes without.
func TestRecordsNeedAnAssignmentAndADate(t *testing.T) {
	l := open(t, t.TempDir())
	f := claim(t, l, "a.csv")
	for _, r := range []ledger.Record{
		{EffectiveDate: date("2026-04-01"), Payload: []byte(`{}`)},
		{AssignmentNumber: "10000001", Payload: []byte(`{}`)},
	} {
		if _, err := l.Enqueue(t.Context(), f, ledger.Queue{Destination: "esr", Records: []ledger.Record{r}}); err == nil {
			t.Errorf("queued %+v", r)
		}
	}
	if _, err := l.Enqueue(t.Context(), f, ledger.Queue{Destination: "outbox", File: []byte(`{"kind":`)}); err == nil {
		t.Error("queued a file delivery whose payload is not JSON")
	}
}
