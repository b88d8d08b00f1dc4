package outbox_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/outbox"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestPutWritesFileAndCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "esr")
	s, err := outbox.New(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "plans.ndjson", strings.NewReader("{\"a\":1}\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "plans.ndjson"))
	if err != nil || string(b) != "{\"a\":1}\n" {
		t.Fatalf("file holds %q (%v)", b, err)
	}
	// A second Put replaces the file whole.
	if err := s.Put(t.Context(), "plans.ndjson", strings.NewReader("v2")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "plans.ndjson")); string(b) != "v2" {
		t.Errorf("after replace the file holds %q", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only plans.ndjson", got)
	}
}

func TestPutRefusesPathTraversal(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "outbox")
	s, err := outbox.New(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", ".", "..", "../escape", "sub/file", `..\escape`, "a/../b", "/etc/passwd", "x..", ".hidden", "nul\x00byte"} {
		err := s.Put(t.Context(), name, strings.NewReader("x"))
		if !errors.Is(err, outbox.ErrInvalidName) {
			t.Errorf("Put(%q) = %v, want ErrInvalidName", name, err)
		}
		if retry.IsRetryable(err) {
			t.Errorf("Put(%q) error is retryable", name)
		}
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("outbox holds %v", got)
	}
	if got := entries(t, root); len(got) != 1 {
		t.Errorf("something escaped the outbox: %v", got)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	f.n--
	return copy(p, "partial"), nil
}

func TestFailedPutLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.New(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "out.ndjson", &failingReader{n: 3}); err == nil {
		t.Fatal("Put succeeded with a failing reader")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "cancelled.ndjson", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled context = %v", err)
	}
	pr, pw := io.Pipe()
	ctx, cancel = context.WithCancel(t.Context())
	go func() {
		pw.Write([]byte("first chunk"))
		cancel()
		pw.Write([]byte("second chunk"))
		pw.Close()
	}()
	err = s.Put(ctx, "midway.ndjson", pr)
	pr.Close() // unblocks the writer if Put stopped reading early
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled midway = %v", err)
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("outbox holds %v after failed puts, want nothing (not even temporaries)", got)
	}
}

// TestNewRemovesStaleTemporaryFiles: a hub killed mid-Put leaves a
// temporary file; the next start removes it if it is old, and leaves
// fresh ones (another writer's) and every other file alone.
func TestNewRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for name, age := range map[string]time.Time{
		".a.jobplans.jsonl.123456.tmp": old,        // left by a kill: removed
		".b.jobplans.jsonl.789.tmp":    time.Now(), // being written: kept
		"c.jobplans.jsonl":             old,        // an output: kept
		".collector-state":             old,        // not ours: kept
		"d.tmp":                        old,        // not ours: kept
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := outbox.New(dir, 0); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(entries(t, dir), " ")
	if want := ".b.jobplans.jsonl.789.tmp .collector-state c.jobplans.jsonl d.tmp"; got != want {
		t.Errorf("after New the folder holds %q, want %q", got, want)
	}
}

// TestPutFileMode: outbox files are owner-only unless a mode is given.
func TestPutFileMode(t *testing.T) {
	for _, tc := range []struct{ mode, want os.FileMode }{{0, 0o600}, {0o640, 0o640}} {
		dir := t.TempDir()
		s, err := outbox.New(dir, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), "a.jobplans.jsonl", strings.NewReader("{}\n")); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "a.jobplans.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("New(dir, %v): file mode %v, want %v", tc.mode, fi.Mode().Perm(), tc.want)
		}
	}
}
