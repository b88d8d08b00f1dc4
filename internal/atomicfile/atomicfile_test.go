package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

func create(t *testing.T, path, content string) *File {
	t.Helper()
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCommitAll publishes files in two folders at once: each ends up
// under its final name with its content, and no temporary file remains.
func TestCommitAll(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	files := []*File{create(t, filepath.Join(a, "x.json"), "x"), create(t, filepath.Join(a, "y.html"), "y"), create(t, filepath.Join(b, "z.csv"), "z")}
	files[2].NoSync() // published all the same, without the flush
	if err := CommitAll(files...); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Names(t, a); !slices.Equal(got, []string{"x.json", "y.html"}) {
		t.Errorf("folder a holds %v", got)
	}
	if got := testutil.Names(t, b); !slices.Equal(got, []string{"z.csv"}) {
		t.Errorf("folder b holds %v", got)
	}
	for path, want := range map[string]string{filepath.Join(a, "x.json"): "x", filepath.Join(a, "y.html"): "y", filepath.Join(b, "z.csv"): "z"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", path, got, err, want)
		}
	}
}

// TestCommitAllPublishesNothingOnError: one file that cannot be committed
// (already committed) fails the call before any rename, and the others'
// temporary files are removed.
func TestCommitAllPublishesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	done := create(t, filepath.Join(dir, "done.json"), "d")
	if err := done.Commit(); err != nil {
		t.Fatal(err)
	}
	other := create(t, filepath.Join(dir, "other.json"), "o")
	if err := CommitAll(other, done); err == nil {
		t.Fatal("CommitAll with a committed file succeeded")
	}
	if got := testutil.Names(t, dir); !slices.Equal(got, []string{"done.json"}) {
		t.Errorf("after a failed CommitAll the folder holds %v, want only done.json", got)
	}
}

// TestRemoveStale removes only old temporary files of Create's pattern.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	f := create(t, filepath.Join(dir, "live.json"), "l") // being written
	defer f.Abort()
	for _, n := range []string{".old.json.123.tmp", "keep.json", ".keep"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStale(dir, -1) // everything counts as old
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("removed %d, want 2 (the old temporary file and the one being written)", n)
	}
	if got := testutil.Names(t, dir); !slices.Equal(got, []string{".keep", "keep.json"}) {
		t.Errorf("folder holds %v", got)
	}
}

// TestDirSyncer: requests made while a sync is running share the next
// one, and a missing directory's error reaches them.
func TestDirSyncer(t *testing.T) {
	s := NewDirSyncer(t.TempDir())
	s.syncing <- struct{}{} // a sync "in progress"
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() { errs <- s.Sync() }()
	}
	testutil.Eventually(t, "every request to queue", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == n
	})
	<-s.syncing
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.syncs != 1 {
		t.Errorf("%d syncs served %d requests queued together, want 1", s.syncs, n)
	}
	if err := NewDirSyncer(filepath.Join(t.TempDir(), "missing")).Sync(); err == nil {
		t.Error("syncing a missing directory succeeded")
	}
}
