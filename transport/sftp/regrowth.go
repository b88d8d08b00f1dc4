package sftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// DefaultWatchAfterArchive is SourceOptions.WatchAfterArchive's default.
const DefaultWatchAfterArchive = 5 * time.Minute

// movedFile is a file this source moved lately into ProcessedDir or
// QuarantineDir. Nothing on the server says whether a file is still open,
// so a writer that paused for longer than the settle time (an upload that
// stalled, an export job on the server) goes on writing into the moved
// file through the handle it holds. Each poll looks at it (one STAT) for
// SourceOptions.WatchAfterArchive; one that grew is collected again from
// where it is, once it has settled.
type movedFile struct {
	name  string // as collected
	path  string // where it is now
	was   stamp  // as recorded
	until time.Time
	// grown is set once a look showed it changed: the settle clock, as
	// for a file in Dir.
	grown *sighting
}

// watchMoved starts looking at the file of item it, moved to dst.
func (s *Source) watchMoved(it *Item, dst string) {
	if s.opts.WatchAfterArchive <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.moved[dst] = &movedFile{name: it.name, path: dst, was: stamp{it.size, it.mtime}, until: time.Now().Add(s.opts.WatchAfterArchive)}
}

// lookAtMoved stats the files moved lately and notes those that grew. A
// failure is logged and the next poll looks again.
func (s *Source) lookAtMoved(ctx context.Context, now time.Time) {
	s.mu.Lock()
	var paths []string
	for p, m := range s.moved {
		if m.grown == nil && now.After(m.until) {
			delete(s.moved, p)
			continue
		}
		paths = append(paths, p)
	}
	s.mu.Unlock()
	if len(paths) == 0 {
		return
	}
	slices.Sort(paths)
	infos := make(map[string]os.FileInfo, len(paths))
	err := s.conn.do(ctx, func(c *Client) error {
		clear(infos)
		listed := map[string][]os.FileInfo{} // NoStat: one listing per folder
		for _, p := range paths {
			var fi os.FileInfo
			var err error
			if s.cfg.NoStat {
				dir := path.Dir(p)
				if _, ok := listed[dir]; !ok {
					if listed[dir], err = c.sftp.ReadDir(dir); err != nil {
						return err
					}
				}
				i := slices.IndexFunc(listed[dir], func(fi os.FileInfo) bool { return fi.Name() == path.Base(p) })
				if i >= 0 {
					fi = listed[dir][i]
				}
			} else if fi, err = c.sftp.Lstat(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if fi != nil {
				infos[p] = fi
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sftp: looking at files moved lately failed; trying again at the next poll", "err", classify(err))
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		m := s.moved[p]
		if m == nil {
			continue
		}
		fi := infos[p]
		switch {
		case fi == nil:
			delete(s.moved, p) // removed by someone
		case m.grown == nil && fi.Size() == m.was.size && fi.ModTime().Equal(m.was.mtime):
		case m.grown == nil || fi.Size() != m.grown.size || !fi.ModTime().Equal(m.grown.mtime):
			if m.grown == nil {
				s.log.Warn("sftp file grew after it was moved: its writer was still writing; it is collected again once it has settled",
					"file", m.name, "moved_to", p, "moved_bytes", m.was.size, "bytes", fi.Size())
			}
			m.grown = &sighting{size: fi.Size(), mtime: fi.ModTime(), since: now, polls: 1, ready: true}
		default:
			m.grown.polls++
		}
	}
}

// nextMoved picks a moved file that grew and has settled since, as
// nextReady does for Dir.
func (s *Source) nextMoved(now time.Time) (*movedFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *movedFile
	for _, m := range s.moved {
		sg := m.grown
		if sg == nil || sg.polls < 2 || now.Sub(sg.since) < s.cfg.SettleTime || s.inflight[m.name] {
			continue
		}
		if best == nil || sg.mtime.Before(best.grown.mtime) || (sg.mtime.Equal(best.grown.mtime) && strings.Compare(m.path, best.path) < 0) {
			best = m
		}
	}
	return best, best != nil
}

// nextMovedDue is when a moved file that grew may have settled, or zero.
func (s *Source) nextMovedDue() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for _, m := range s.moved {
		if m.grown == nil {
			continue
		}
		if due := m.grown.since.Add(s.cfg.SettleTime); at.IsZero() || due.Before(at) {
			at = due
		}
	}
	return at
}

// collectMoved downloads a moved file that grew, as an item that says so.
// If the download fails, the file settles again first.
func (s *Source) collectMoved(ctx context.Context, m *movedFile) (*Item, error) {
	it, err := s.claim(ctx, m.name, m.path, m.grown)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		m.grown = &sighting{size: m.grown.size, mtime: m.grown.mtime, since: time.Now(), polls: 1, ready: true}
		return nil, err
	}
	delete(s.moved, m.path)
	it.grew = fmt.Sprintf("%d bytes when moved to %s, %d when collected again", m.was.size, path.Dir(m.path), it.size)
	return it, nil
}
