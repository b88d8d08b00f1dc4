package localdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultWatchAfterArchive is Options.WatchAfterArchive's default.
const DefaultWatchAfterArchive = 5 * time.Minute

// archivedFile is a file Done put in archive/ or quarantine/ lately. It is
// looked at for Options.WatchAfterArchive in case it grows: a writer that
// still held it open when it was taken (one the open-writer check could
// not see) writes on into it, since its descriptor follows the file
// through work/ into archive/. A file that grew is taken again, whole,
// once it has settled.
type archivedFile struct {
	name string // as it was taken
	path string // where Done put it
	// beside are what Done put beside it (report links, reason.txt),
	// removed when it is taken again; marker is its ready marker there,
	// "" if none, which goes back with it.
	beside []string
	marker string
	fi     fs.FileInfo // as archived
	until  time.Time   // looked at until then, unless it grew
	// Once it changed: what it looked like when last looked at, since
	// when, and whether its writer (writerWatch) still holds it.
	grown       bool
	size        int64
	mtime       time.Time
	since       time.Time
	waitWriting bool
}

// watchArchived starts looking at the file that item it put at path,
// with beside and marker (see archivedFile) next to it.
func (s *Source) watchArchived(it *Item, path string, beside []string, marker string) {
	if s.watchAfter <= 0 {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archived[path] = &archivedFile{
		name: it.name, path: path, beside: beside, marker: marker,
		fi: fi, until: time.Now().Add(s.watchAfter),
	}
}

// checkArchivedLocked looks at those of the files archived lately that
// which selects (all of them at a rescan; those that grew, when one may
// have settled; the one a writer closed): it forgets those whose time is
// up, notices those that grew, and takes again those that grew and have
// settled since, unless a writer still holds them open.
func (s *Source) checkArchivedLocked(now time.Time, which func(*archivedFile) bool) {
	for path, a := range s.archived {
		if !which(a) {
			continue
		}
		fi, err := os.Lstat(path)
		switch {
		case err != nil || !os.SameFile(fi, a.fi):
			delete(s.archived, path) // removed or replaced by someone
		case !a.grown && fi.Size() == a.fi.Size() && fi.ModTime().Equal(a.fi.ModTime()):
			if now.After(a.until) {
				delete(s.archived, path)
			}
		case !a.grown || fi.Size() != a.size || !fi.ModTime().Equal(a.mtime):
			if !a.grown {
				s.log.Warn("file grew after it was archived: its writer was still writing; it is taken again once it has settled",
					"file", a.name, "archived_as", s.relative(path), "archived_bytes", a.fi.Size(), "bytes", fi.Size())
			}
			a.grown, a.size, a.mtime, a.since, a.waitWriting = true, fi.Size(), fi.ModTime(), now, false
		case a.waitWriting || now.Sub(a.since) < s.settle:
		case s.writers.Writing(filepath.Dir(path), filepath.Base(path)) != "":
			a.waitWriting = true // its writer's close looks again
		default:
			s.retakeArchivedLocked(a, fi, now)
		}
	}
}

// retakeArchivedLocked moves a file that grew after it was archived back
// into work/ and hands it out again, first. What Done put beside it goes:
// its reports are the old content's (they stay in the hub's state
// folder), and the next Done puts the new ones there.
func (s *Source) retakeArchivedLocked(a *archivedFile, fi fs.FileInfo, now time.Time) {
	dst := filepath.Join(s.work, a.name)
	if _, err := os.Lstat(dst); err == nil {
		// A file of that name is being processed: try again after it.
		a.since = now
		return
	}
	if err := os.Rename(a.path, dst); err != nil {
		s.log.Warn("taking a grown file again", "file", a.name, "err", err)
		a.since = now
		return
	}
	if a.marker != "" {
		// With the file, so the next Done archives it again.
		if err := os.Rename(a.marker, dst+s.marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("taking a grown file again: its ready marker", "file", a.name, "err", err)
		}
	}
	for _, p := range a.beside {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("taking a grown file again: removing what was archived beside it", "file", a.name, "err", err)
		}
	}
	delete(s.archived, a.path)
	it := s.newItem(a.name, fi)
	it.grew = fmt.Sprintf("%d bytes when archived at %s, %d when taken again",
		a.fi.Size(), a.fi.ModTime().UTC().Format(time.RFC3339), fi.Size())
	s.recovered = append(s.recovered, it)
	s.signalLocked()
}

// nextArchivedCheckLocked is when a file that grew may have settled, or
// zero if none is waiting for that.
func (s *Source) nextArchivedCheckLocked() time.Time {
	var next time.Time
	for _, a := range s.archived {
		if !a.grown || a.waitWriting {
			continue
		}
		if at := a.since.Add(s.settle); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// archivedWriterClosedLocked is told that a writer closed the file called name
// (every file if "") in dir, archive/ or quarantine/.
func (s *Source) archivedWriterClosedLocked(dir, name string) {
	closed := func(a *archivedFile) bool {
		return filepath.Dir(a.path) == dir && (name == "" || filepath.Base(a.path) == name)
	}
	for _, a := range s.archived {
		if closed(a) {
			a.waitWriting = false
		}
	}
	s.checkArchivedLocked(time.Now(), closed)
}

// relative names path inside the state folder, for the log.
func (s *Source) relative(path string) string {
	if rel, err := filepath.Rel(filepath.Dir(s.work), path); err == nil {
		return rel
	}
	return path
}
