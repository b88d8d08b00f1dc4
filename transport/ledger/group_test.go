package ledger

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TestGroupCommit queues changes while a commit is "running" (the writer
// held), then lets them go: they must share one transaction, and the one
// that fails must be undone alone, its partial write included.
func TestGroupCommit(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := t.Context()
	before := l.commits.Load()

	type result struct {
		id  int64
		err error
	}
	claimA, claimC, broken, missing := make(chan result, 1), make(chan result, 1), make(chan error, 1), make(chan error, 1)
	errBroken := errors.New("broken change")

	l.writer <- struct{}{}
	go func() {
		id, err := l.ClaimFile(ctx, FileInfo{Source: "s", Name: "a.csv", SHA256: "aa"})
		claimA <- result{id, err}
	}()
	go func() {
		broken <- l.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO files
				(source, name, size, mtime, sha256, state, claimed_at, updated_at)
				VALUES ('s', 'b.csv', 0, 0, 'bb', 'claimed', 0, 0)`); err != nil {
				return err
			}
			return errBroken
		})
	}()
	go func() { missing <- l.MarkFile(ctx, 999, FileProcessed, "", "") }()
	go func() {
		id, err := l.ClaimFile(ctx, FileInfo{Source: "s", Name: "c.csv", SHA256: "cc"})
		claimC <- result{id, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		l.queue.mu.Lock()
		n := len(l.queue.writes)
		l.queue.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d changes queued", n)
		}
		time.Sleep(time.Millisecond)
	}
	<-l.writer

	a, c := <-claimA, <-claimC
	if a.err != nil || c.err != nil {
		t.Fatalf("claims failed: %v, %v", a.err, c.err)
	}
	if err := <-broken; !errors.Is(err, errBroken) {
		t.Fatalf("broken change returned %v", err)
	}
	if err := <-missing; !errors.Is(err, ErrNotFound) {
		t.Fatalf("marking a missing file returned %v", err)
	}
	if n := l.commits.Load() - before; n != 1 {
		t.Errorf("4 queued changes took %d transactions, want 1", n)
	}
	for _, want := range []struct {
		sha string
		id  int64
	}{{"aa", a.id}, {"cc", c.id}} {
		f, err := l.FileSeen(ctx, want.sha)
		if err != nil || f == nil || f.ID != want.id {
			t.Errorf("file %s: got %+v, %v; want id %d", want.sha, f, err, want.id)
		}
	}
	if f, err := l.FileSeen(ctx, "bb"); err != nil || f != nil {
		t.Errorf("the failed change's insert survived: %+v, %v", f, err)
	}
}

// TestCancelledChangeIsSkipped: a change whose caller gave up before its
// turn is not applied.
func TestCancelledChangeIsSkipped(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.ClaimFile(ctx, FileInfo{Source: "s", Name: "a.csv", SHA256: "aa"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("claim with a cancelled context returned %v", err)
	}
	if f, err := l.FileSeen(t.Context(), "aa"); err != nil || f != nil {
		t.Fatalf("a cancelled claim was recorded: %+v, %v", f, err)
	}
}
