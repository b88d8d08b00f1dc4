package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatch: writing new content and renaming a new file over the old one
// are changes; rewriting the same content is not.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	var changes atomic.Int32
	var mu sync.Mutex
	var seenContent []string // what the file held at each change
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, path, 20*time.Millisecond, func() {
			b, _ := os.ReadFile(path)
			mu.Lock()
			seenContent = append(seenContent, string(b))
			mu.Unlock()
			changes.Add(1)
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for changes.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d changes seen, want %d", changes.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The watcher may start after the first write below; keep writing new
	// content until it is seen.
	for i := 0; changes.Load() == 0; i++ {
		if err := os.WriteFile(path, []byte{'b', byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if i > 200 {
			t.Fatal("no change seen")
		}
	}
	seen := changes.Load()
	tmp := filepath.Join(dir, ".hub.yaml.new")
	if err := os.WriteFile(tmp, []byte("renamed over"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor(seen + 1)
	// The same content again, then a different file in the folder: no change.
	if err := os.WriteFile(path, []byte("renamed over"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A last real change, seen after the two above were looked at.
	if err := os.WriteFile(path, []byte("last"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		last := seenContent[len(seenContent)-1]
		mu.Unlock()
		if last == "last" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last change was not seen: %q", seenContent)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	i := slices.Index(seenContent, "renamed over")
	if i < 0 || !slices.Equal(seenContent[i:], []string{"renamed over", "last"}) {
		t.Errorf("changes seen: %q; want the rename, then the last write, and nothing for the same content again", seenContent)
	}
}
