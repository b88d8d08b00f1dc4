// Package filewatch tells when the content of configuration files
// changes. Editors, configuration tools and export jobs save by writing in
// place, by renaming a new file over the old one, or (Kubernetes) by
// swapping a symbolic link, and network mounts send no events at all; so
// the files' folders are watched (fsnotify) for any event, the files are
// also looked at every Recheck, and what counts is the content.
package filewatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Sum is a file's content hash; the zero Sum stands for a file that
// cannot be read.
type Sum [sha256.Size]byte

// SumOf hashes the file at path, streaming it.
func SumOf(path string) Sum {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Sum{}
	}
	var s Sum
	h.Sum(s[:0])
	return s
}

// SumsOf hashes each of paths.
func SumsOf(paths []string) map[string]Sum {
	sums := make(map[string]Sum, len(paths))
	for _, p := range paths {
		sums[p] = SumOf(p)
	}
	return sums
}

// Options configures Watch.
type Options struct {
	// Quiet is how long the files must be left alone after an event
	// before they are looked at (a save can take several writes).
	Quiet time.Duration
	// Recheck is how often the files are looked at without an event.
	Recheck time.Duration
	// Changed is called, from Watch's goroutine, with each file whose
	// content differs from the last content seen.
	Changed func(path string)
	// Error, if set, is told of watching problems (Watch goes on).
	Error func(error)

	checked func() // tests: called after every look at the files
}

// Watch reports changes to the files in baseline (path → the content the
// caller loaded) until ctx ends. It looks at the files at once, so a
// change made between loading and watching is reported too. It returns an
// error only if it cannot watch at all.
func Watch(ctx context.Context, baseline map[string]Sum, o Options) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("filewatch: %w", err)
	}
	defer w.Close()
	last := make(map[string]Sum, len(baseline))
	var folders []string
	for p, s := range baseline {
		last[p] = s
		folders = append(folders, filepath.Dir(p))
		if real, err := filepath.EvalSymlinks(p); err == nil {
			folders = append(folders, filepath.Dir(real))
		}
	}
	// (Re-)adding the folders also recovers a folder that was replaced:
	// its watch went with the old one.
	watchFolders := func() {
		for _, d := range folders {
			if err := w.Add(d); err != nil && o.Error != nil && !errors.Is(err, os.ErrNotExist) {
				o.Error(fmt.Errorf("filewatch: %s: %w", d, err))
			}
		}
	}
	look := func() {
		for p, before := range last {
			// A file gone (or between a delete and a rename) is waited
			// for: coming back as it was is no change.
			if now := SumOf(p); now != (Sum{}) && now != before {
				last[p] = now
				o.Changed(p)
			}
		}
		if o.checked != nil {
			o.checked()
		}
	}
	watchFolders()
	look()

	quiet := time.NewTimer(o.Quiet)
	quiet.Stop()
	recheck := time.NewTicker(o.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			quiet.Reset(o.Quiet) // any event: a save may be a rename of anything
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if o.Error != nil {
				o.Error(fmt.Errorf("filewatch: %w", err))
			}
			quiet.Reset(o.Quiet) // an overflow may hide a change
		case <-quiet.C:
			look()
		case <-recheck.C:
			watchFolders()
			look()
		}
	}
}
