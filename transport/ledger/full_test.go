package ledger_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// bigRecords are n records of about 8 KB each.
func bigRecords(n int) []ledger.Record {
	recs := make([]ledger.Record, n)
	for i := range recs {
		recs[i] = ledger.Record{
			AssignmentNumber: fmt.Sprintf("3%07d", i), EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Line: i + 1,
			Payload: fmt.Appendf(nil, `{"assignment_number":"3%07d","notes":%q}`, i, strings.Repeat("x", 8000)),
		}
	}
	return recs
}

// TestStorageFull makes the ledger full for real (SQLITE_FULL through
// max_page_count) and checks that the failure is recognised by its code,
// changes nothing, and that writes work again once there is room.
func TestStorageFull(t *testing.T) {
	ctx := t.Context()
	l, err := ledger.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: "a.csv", Size: 1, ModTime: time.Now(), SHA256: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable with room: %v", err)
	}

	if err := l.LimitGrowth(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_, err = l.EnqueueFile(ctx, id, "esr", bigRecords(20))
	if !ledger.IsStorageFull(err) {
		t.Fatalf("EnqueueFile into a full ledger: %v, want a storage-full error", err)
	}
	if err := l.CheckWritable(ctx); !ledger.IsStorageFull(err) {
		t.Errorf("CheckWritable on a full ledger: %v, want a storage-full error", err)
	}
	if n, err := l.Pending(ctx, "esr"); err != nil || n != 0 {
		t.Errorf("after the failed write: %d pending, %v; want nothing written", n, err)
	}

	l.LiftLimit()
	if err := l.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable once there is room: %v", err)
	}
	if _, err := l.EnqueueFile(ctx, id, "esr", bigRecords(20)); err != nil {
		t.Fatalf("EnqueueFile once there is room: %v", err)
	}
	if n, err := l.Pending(ctx, "esr"); err != nil || n != 20 {
		t.Errorf("%d pending, %v; want 20", n, err)
	}
}

func TestIsStorageFullGoesByCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&os.PathError{Op: "write", Path: "/state/files/1/a.report.json", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("process a.csv: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}), true},
		{errors.New("database or disk is full"), false}, // text alone says nothing
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, false},
		{nil, false},
	} {
		if got := ledger.IsStorageFull(tc.err); got != tc.want {
			t.Errorf("IsStorageFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestStorageFullInAGroupCommit: SQLite may undo the whole transaction
// when a write fails with SQLITE_FULL, so changes committed together (see
// Ledger.tx) must all fail as storage-full, never with the error of
// undoing one of them.
func TestStorageFullInAGroupCommit(t *testing.T) {
	ctx := t.Context()
	l, err := ledger.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ids []int64
	for i := range 16 {
		id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: fmt.Sprint(i), Size: 1, ModTime: time.Now(), SHA256: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := l.LimitGrowth(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		errs := make(chan error, len(ids))
		for i, id := range ids {
			go func() {
				_, err := l.EnqueueFile(ctx, id, fmt.Sprintf("d%d", round), bigRecords(1+i%3))
				errs <- err
			}()
		}
		for range ids {
			if err := <-errs; !ledger.IsStorageFull(err) {
				t.Fatalf("a change committed with others into a full ledger: %v, want a storage-full error", err)
			}
		}
	}
}
