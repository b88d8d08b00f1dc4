// Package atomicfile writes files so that readers see either the whole
// file or nothing: content goes to a temporary name in the destination
// directory, is fsynced, renamed over the final name, and the directory is
// fsynced so the rename itself survives a crash.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// fsync flushes a file's content, or a folder's entries, to disk: every
// sync of this package goes through it, so that tests can count them and
// make them fail.
var fsync = (*os.File).Sync

// TempSuffix marks files that are still being written. Watchers ignore it.
const TempSuffix = ".tmp"

// DefaultMode is the mode of the files Create makes: readable and
// writable by their owner only. The hub's outputs hold personal data
// (names, assignment numbers, pay-relevant sessions), so wider access is
// for the operator to grant (CreateMode), knowing who reads the folder.
const DefaultMode fs.FileMode = 0o600

// File is an output being written under a temporary name.
type File struct {
	*os.File
	final  string
	done   bool
	noSync bool // see NoSync
}

// NoSync makes CommitAll publish the file without flushing its content to
// disk, for a file whose content the caller also keeps durably elsewhere:
// after a power cut it may be empty or short, never a mix of old and new.
func (f *File) NoSync() { f.noSync = true }

// Create opens a temporary file beside path. Call Commit to publish it or
// Abort to discard it; Abort after Commit is a no-op, so `defer f.Abort()`
// is always safe.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*"+TempSuffix)
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	return &File{File: f, final: path}, nil
}

// CreateMode is Create for a file published with mode (its permission
// bits; 0 means DefaultMode). The mode is set as given, whatever the
// process's umask.
func CreateMode(path string, mode fs.FileMode) (*File, error) {
	f, err := Create(path)
	if err != nil {
		return nil, err
	}
	if mode = mode.Perm(); mode != 0 && mode != DefaultMode {
		if err := f.Chmod(mode); err != nil {
			f.Abort()
			return nil, fmt.Errorf("set mode of %s: %w", path, err)
		}
	}
	return f, nil
}

// Commit flushes the content to disk and renames it to its final name.
func (f *File) Commit() error {
	if err := f.Rename(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(f.final))
}

// Rename is Commit without the directory sync: the content is on disk and
// under its final name, but the name itself is durable only after the
// caller's SyncDir. Outputs of one directory share one SyncDir this way.
func (f *File) Rename() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.Name()
	if err := fsync(f.File); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", f.final, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", f.final, err)
	}
	if err := os.Rename(tmp, f.final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("publish %s: %w", f.final, err)
	}
	return nil
}

// CommitAll commits several files at once: their contents are flushed to
// disk concurrently (the disk serves concurrent flushes together, so this
// costs about one flush where committing them one by one costs one each),
// then each is renamed into place, and each directory involved is synced
// once. On error, the files not yet renamed are discarded.
func CommitAll(files ...*File) error {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		if f.done {
			errs[i] = errors.New("atomicfile: already committed or aborted")
			continue
		}
		if f.noSync {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fsync(f.File); err != nil {
				errs[i] = fmt.Errorf("sync %s: %w", f.final, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, f := range files {
			f.Abort()
		}
		return err
	}
	var dirs []string
	for i, f := range files {
		f.done = true
		tmp := f.Name()
		err := f.Close()
		if err == nil {
			err = os.Rename(tmp, f.final)
		}
		if err != nil {
			os.Remove(tmp)
			for _, rest := range files[i+1:] {
				rest.Abort()
			}
			return fmt.Errorf("publish %s: %w", f.final, err)
		}
		if d := filepath.Dir(f.final); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return syncDirs(dirs...)
}

// Abort discards the temporary file.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return WriteFileMode(path, data, 0)
}

// WriteFileMode is WriteFile with the mode of CreateMode.
func WriteFileMode(path string, data []byte, mode fs.FileMode) error {
	f, err := CreateMode(path, mode)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := fsync(d); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// syncDirs syncs directories concurrently (see CommitAll).
func syncDirs(dirs ...string) error {
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = SyncDir(d)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tempName matches the names Create gives: "." + base + "." + digits + TempSuffix.
var tempName = regexp.MustCompile(`^\..+\.[0-9]+` + regexp.QuoteMeta(TempSuffix) + `$`)

// RemoveStale deletes temporary files that Create left in dir (a process
// killed mid-write leaves them) and that have not changed for olderThan,
// so that one still being written by another process is spared. It
// returns how many it removed.
func RemoveStale(dir string, olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		if !e.Type().IsRegular() || !tempName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			removed++
		}
	}
	return removed, nil
}

// DirSyncer syncs one directory for many goroutines, sharing syncs: a
// request is served by a sync that starts after it was made, and requests
// made while a sync runs share the next one. Use it where each of many
// concurrent tasks adds an entry to the same directory.
type DirSyncer struct {
	dir     string
	mu      sync.Mutex
	waiting []chan error
	syncing chan struct{} // one-slot semaphore: held by the goroutine syncing
	syncs   int           // syncs done, for tests; guarded by syncing
}

// NewDirSyncer returns a DirSyncer for dir.
func NewDirSyncer(dir string) *DirSyncer {
	return &DirSyncer{dir: dir, syncing: make(chan struct{}, 1)}
}

// Sync returns once a sync of the directory that started after the call
// has finished, with its error.
func (s *DirSyncer) Sync() error {
	mine := make(chan error, 1)
	s.mu.Lock()
	s.waiting = append(s.waiting, mine)
	s.mu.Unlock()
	select {
	case err := <-mine: // served by another goroutine's sync
		return err
	case s.syncing <- struct{}{}:
	}
	defer func() { <-s.syncing }()
	s.mu.Lock()
	batch := s.waiting
	s.waiting = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		// The previous sync served us after we queued.
		return <-mine
	}
	err := SyncDir(s.dir)
	s.syncs++
	for _, w := range batch {
		w <- err
	}
	return <-mine
}
