// Package filewatch tells when a file's content changes: editors and
// configuration tools save by writing in place or by renaming a new file
// over the old one, so the file's folder is watched (fsnotify) and the
// content compared.
package filewatch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed, from its own goroutine, each time the content of
// the file at path differs from what it was when last seen, once the file
// has been quiet for quiet (a save can take several writes). It returns
// when ctx ends, or at once if the folder cannot be watched.
func Watch(ctx context.Context, path string, quiet time.Duration, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("filewatch: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("filewatch: %s: %w", path, err)
	}
	last := sum(path)
	timer := time.NewTimer(quiet)
	timer.Stop()
	base := filepath.Base(path)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == base {
				timer.Reset(quiet)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow may hide a change: look again after the quiet time.
			_ = err
			timer.Reset(quiet)
		case <-timer.C:
			if now := sum(path); now != last {
				last = now
				changed()
			}
		}
	}
}

// sum is the file's content hash, or zero if it cannot be read (a
// half-done save): a later event brings it back.
func sum(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}
