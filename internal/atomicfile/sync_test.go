package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

// syncCall is one sync as the tests see it: what was synced, and how many
// of the watched final names were in place at that moment.
type syncCall struct {
	path      string
	dir       bool
	published int
}

// syncLog replaces fsync for one test and records each call. fail, if
// set, makes the syncs it returns an error for fail (after recording).
type syncLog struct {
	mu     sync.Mutex
	calls  []syncCall
	finals []string
	fail   func(path string) error
}

// recordSyncs records every sync until the test ends; finals are the
// final names each call notes the publication of.
func recordSyncs(t *testing.T, finals ...string) *syncLog {
	l := &syncLog{finals: finals}
	real := fsync
	fsync = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		c := syncCall{path: f.Name(), dir: fi.IsDir()}
		for _, p := range l.finals {
			if testutil.Exists(p) {
				c.published++
			}
		}
		l.mu.Lock()
		l.calls = append(l.calls, c)
		l.mu.Unlock()
		if l.fail != nil {
			if err := l.fail(f.Name()); err != nil {
				return err
			}
		}
		return real(f)
	}
	t.Cleanup(func() { fsync = real })
	return l
}

// split returns the content syncs and the folder syncs, in order.
func (l *syncLog) split() (files, dirs []syncCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.dir {
			dirs = append(dirs, c)
		} else {
			files = append(files, c)
		}
	}
	return files, dirs
}

// TestCommitSyncsTheContentThenTheFolder: a committed file's content is
// flushed before it takes its final name, and its folder after, so that
// the rename survives a power cut.
func TestCommitSyncsTheContentThenTheFolder(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "report.json")
	l := recordSyncs(t, final)
	if err := WriteFile(final, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	files, dirs := l.split()
	if len(files) != 1 || files[0].published != 0 || filepath.Dir(files[0].path) != dir {
		t.Errorf("content syncs %+v, want one, of the temporary file, before the rename", files)
	}
	if len(dirs) != 1 || dirs[0].path != dir || dirs[0].published != 1 {
		t.Errorf("folder syncs %+v, want one, of %s, after the rename", dirs, dir)
	}
}

// TestCommitAllSyncsEachContentOnceAndEachFolderOnce: every file but the
// NoSync one is flushed before any is renamed, and each folder is synced
// once, after the renames.
func TestCommitAllSyncsEachContentOnceAndEachFolderOnce(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	finals := []string{filepath.Join(a, "x.json"), filepath.Join(a, "y.html"), filepath.Join(b, "z.csv"), filepath.Join(b, "w.csv")}
	var files []*File
	for _, p := range finals {
		files = append(files, create(t, p, filepath.Base(p)))
	}
	files[3].NoSync()
	l := recordSyncs(t, finals...)
	if err := CommitAll(files...); err != nil {
		t.Fatal(err)
	}
	fileSyncs, dirSyncs := l.split()
	if len(fileSyncs) != 3 {
		t.Errorf("%d content syncs, want 3 (the NoSync file is not flushed)", len(fileSyncs))
	}
	for _, c := range fileSyncs {
		if c.published != 0 {
			t.Errorf("%s flushed after %d files were renamed, want before any", c.path, c.published)
		}
	}
	var synced []string
	for _, c := range dirSyncs {
		synced = append(synced, c.path)
		if c.published != len(finals) {
			t.Errorf("folder %s synced with %d of %d files renamed, want after all", c.path, c.published, len(finals))
		}
	}
	slices.Sort(synced)
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(synced, want) {
		t.Errorf("folders synced %v, want each of %v once", synced, want)
	}
}

// TestFailedSyncPublishesNothing: when a content cannot be flushed, no
// file appears under its final name and no temporary file stays; when
// the folder cannot be synced, the commit reports it.
func TestFailedSyncPublishesNothing(t *testing.T) {
	errDisk := errors.New("disk on fire")
	for _, tc := range []struct {
		name    string
		failing func(dir, path string) bool
		commit  func(dir string) error
		left    int // files left in the folder
	}{
		{
			name:    "content",
			failing: func(dir, path string) bool { return path != dir },
			commit:  func(dir string) error { return WriteFile(filepath.Join(dir, "out.csv"), []byte("a,b\n")) },
		},
		{
			name:    "folder",
			failing: func(dir, path string) bool { return path == dir },
			commit:  func(dir string) error { return WriteFile(filepath.Join(dir, "out.csv"), []byte("a,b\n")) },
			left:    1, // renamed, but not durably
		},
		{
			name:    "one content of several",
			failing: func(dir, path string) bool { return strings.HasPrefix(filepath.Base(path), ".b.json.") },
			commit: func(dir string) error {
				fa, err := Create(filepath.Join(dir, "a.json"))
				if err != nil {
					return err
				}
				fb, err := Create(filepath.Join(dir, "b.json"))
				if err != nil {
					return err
				}
				return CommitAll(fa, fb)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := recordSyncs(t)
			l.fail = func(path string) error {
				if tc.failing(dir, path) {
					return errDisk
				}
				return nil
			}
			if err := tc.commit(dir); !errors.Is(err, errDisk) {
				t.Fatalf("commit: %v, want the sync's error", err)
			}
			if got := testutil.Names(t, dir); len(got) != tc.left {
				t.Errorf("after the failed sync the folder holds %v, want %d files", got, tc.left)
			}
		})
	}
}

// TestDirSyncerSyncs: a DirSyncer's sync reaches the disk.
func TestDirSyncerSyncs(t *testing.T) {
	dir := t.TempDir()
	l := recordSyncs(t)
	if err := NewDirSyncer(dir).Sync(); err != nil {
		t.Fatal(err)
	}
	if _, dirs := l.split(); len(dirs) != 1 || dirs[0].path != dir {
		t.Errorf("folder syncs %+v, want one, of %s", dirs, dir)
	}
}
