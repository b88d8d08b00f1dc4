package filewatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

// watcher runs Watch over paths (baseline: their content now) and records
// what it reports and how many looks it has taken.
type watcher struct {
	mu      sync.Mutex
	changes []string // "path=content" at each change
	looks   int
}

func startWatch(t *testing.T, baseline map[string]Sum) *watcher {
	t.Helper()
	w := &watcher{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, baseline, Options{
			Quiet:   10 * time.Millisecond,
			Recheck: 50 * time.Millisecond,
			Changed: func(p string) {
				b, _ := os.ReadFile(p)
				w.mu.Lock()
				w.changes = append(w.changes, filepath.Base(p)+"="+string(b))
				w.mu.Unlock()
			},
			checked: func() {
				w.mu.Lock()
				w.looks++
				w.mu.Unlock()
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return w
}

// waitLooks waits until the watcher has looked at the files n more times.
func (w *watcher) waitLooks(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	target := w.looks + n
	w.mu.Unlock()
	testutil.Eventually(t, fmt.Sprintf("the watcher to look %d more times", n), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.looks >= target
	})
}

// waitFor waits until the changes are want.
func (w *watcher) waitFor(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	testutil.Eventually(t, fmt.Sprintf("the changes %q", want), func() bool {
		w.mu.Lock()
		got = slices.Clone(w.changes)
		w.mu.Unlock()
		if len(got) > len(want) {
			t.Fatalf("changes %q, want %q", got, want)
		}
		return slices.Equal(got, want)
	})
}

// TestChangesAreReported: a write in place, a new file renamed over the
// old one, and a change made before the watch started (against the
// content the caller loaded) are reported; the same content saved again,
// and a file deleted and put back as it was, are not.
func TestChangesAreReported(t *testing.T) {
	dir := t.TempDir()
	hub, mapping := filepath.Join(dir, "hub.yaml"), filepath.Join(dir, "m.yaml")
	testutil.WriteFile(t, hub, "a")
	testutil.WriteFile(t, mapping, "m1")
	baseline := SumsOf([]string{hub, mapping})
	testutil.WriteFile(t, mapping, "m2") // saved after loading, before watching
	w := startWatch(t, baseline)
	w.waitFor(t, "m.yaml=m2")

	testutil.WriteFile(t, hub, "b")
	w.waitFor(t, "m.yaml=m2", "hub.yaml=b")

	testutil.WriteFile(t, hub+".new", "c")
	if err := os.Rename(hub+".new", hub); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "m.yaml=m2", "hub.yaml=b", "hub.yaml=c")

	testutil.WriteFile(t, hub, "c") // same content
	if err := os.Remove(mapping); err != nil {
		t.Fatal(err)
	}
	w.waitLooks(t, 3)
	testutil.WriteFile(t, mapping, "m2") // back as it was
	w.waitLooks(t, 3)
	w.waitFor(t, "m.yaml=m2", "hub.yaml=b", "hub.yaml=c")
}

// TestSymlinkSwap: Kubernetes mounts a ConfigMap as hub.yaml ->
// ..data/hub.yaml and updates it by pointing ..data at a new folder.
func TestSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(dir, v, "hub.yaml"), v)
	}
	if err := os.Symlink("v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	hub := filepath.Join(dir, "hub.yaml")
	if err := os.Symlink(filepath.Join("..data", "hub.yaml"), hub); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, SumsOf([]string{hub}))
	w.waitLooks(t, 1)
	if err := os.Symlink("v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "hub.yaml=v2")
}

// TestFolderReplaced: the folder holding the file is replaced by another
// (its watch goes with it); the change is still found.
func TestFolderReplaced(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "mappings")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "m.yaml")
	testutil.WriteFile(t, m, "old")
	w := startWatch(t, SumsOf([]string{m}))
	w.waitLooks(t, 1)
	next := filepath.Join(root, "mappings.new")
	if err := os.Mkdir(next, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(next, "m.yaml"), "new")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "m.yaml=new")
	testutil.WriteFile(t, m, "newer") // watched again after the replacement
	w.waitFor(t, "m.yaml=new", "m.yaml=newer")
}
