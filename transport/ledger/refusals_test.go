package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

func TestDropClaim(t *testing.T) {
	l := open(t, t.TempDir())
	ctx := t.Context()
	partial := claim(t, l, "a.csv")
	if dropped, err := l.DropClaim(ctx, partial); err != nil || !dropped {
		t.Fatalf("DropClaim: %v, %v; want the claim gone", dropped, err)
	}
	if _, err := l.File(ctx, partial); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("File after DropClaim: %v, want not found", err)
	}
	if seen, err := l.FileSeen(ctx, "sha-a.csv"); err != nil || seen != nil {
		t.Errorf("FileSeen after DropClaim: %+v, %v; want nothing", seen, err)
	}

	// A claim with deliveries, or a finished file, stays.
	queued := claim(t, l, "b.csv")
	if _, err := l.EnqueueFile(ctx, queued, "esr", []ledger.Record{{
		AssignmentNumber: "1", EffectiveDate: date("2026-04-01"), Payload: []byte(`{"assignment_number":"1"}`),
	}}); err != nil {
		t.Fatal(err)
	}
	done := claim(t, l, "c.csv")
	if err := l.MarkFile(ctx, done, ledger.FileProcessed, "", ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{queued, done} {
		if dropped, err := l.DropClaim(ctx, id); err != nil || dropped {
			t.Errorf("DropClaim(%d): %v, %v; want it kept", id, dropped, err)
		}
		if _, err := l.File(ctx, id); err != nil {
			t.Errorf("file %d: %v", id, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	l := open(t, t.TempDir())
	ctx := t.Context()
	bad := "bad\n\xffname.csv"
	if err := l.SetRefusal(ctx, "sftp-b", bad, "the name is not valid UTF-8"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetRefusal(ctx, "drop", "x.csv.done", "ready marker without its file x.csv"); err != nil {
		t.Fatal(err)
	}
	first, err := l.Refusals(ctx, 10)
	if err != nil || len(first) != 2 || first[0].Source != "drop" || first[1].Name != bad || first[1].Reason != "the name is not valid UTF-8" {
		t.Fatalf("Refusals: %+v, %v", first, err)
	}
	// The same again keeps its time; a new reason starts it afresh.
	time.Sleep(2 * time.Millisecond) // the ledger keeps milliseconds
	if err := l.SetRefusal(ctx, "sftp-b", bad, "the name is not valid UTF-8"); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Refusals(ctx, 10); !again[1].Since.Equal(first[1].Since) {
		t.Errorf("since moved from %v to %v for the same reason", first[1].Since, again[1].Since)
	}
	if err := l.SetRefusal(ctx, "sftp-b", bad, "a symbolic link"); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Refusals(ctx, 10); again[1].Reason != "a symbolic link" || !again[1].Since.After(first[1].Since) {
		t.Errorf("after a new reason: %+v", again[1])
	}
	if err := l.ClearRefusal(ctx, "sftp-b", bad); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Refusals(ctx, 10); len(got) != 1 || got[0].Name != "x.csv.done" {
		t.Errorf("after ClearRefusal: %+v", got)
	}
	if err := l.ClearRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Refusals(ctx, 10); len(got) != 0 {
		t.Errorf("after ClearRefusals: %+v", got)
	}
}
