// Package localdir provides a relay.Source that watches a local drop
// directory.
//
// Suppliers (or an SFTP server writing to local disk) drop files into Dir.
// The source notices them through fsnotify events on the directory and
// through a periodic full rescan, which also covers missed events and
// network mounts (NFS, SMB, FUSE) where inotify reports nothing. A file is
// handed out only once its size and modification time have stayed the same
// for SettleTime, measured from when the source first saw that size and
// time, so files copied in with an old mtime are still picked up, and, on
// Linux, once no process is known to hold it open for writing
// (writerWatch: leases and inotify; see writers_linux.go).
//
// Handing a file out means claiming it: renaming it into work/. When the
// relay acknowledges the item, Done moves it on to archive/ or quarantine/
// together with its reports. Files left in work/ by a crash are returned
// first on the next start. A claimed file may still change: a writer that
// paused for longer than SettleTime keeps writing into it through its
// open descriptor. Item.Changed tells, and Item.Retake keeps the file in
// work/ until it has settled again, then hands it out anew. A writer that
// goes on after the file was archived writes into the archived file: for
// WatchAfterArchive after Done, a file that grows is moved back into
// work/ once it has settled and handed out again (relay.RegrownItem).
//
// With ReadyMarker set (".done"), a file x.csv is taken only once
// x.csv.done exists beside it and is at least as new as it; the marker
// travels with the file into work/ and on to archive/ or quarantine/.
//
// Names that cannot be taken safely (relay.NameProblem, or too long for
// the names archive/ gives a file's reports), symbolic links and other
// special files, and ready markers without their file are left where they
// are and reported once (relay.RefusalReporter).
//
// Layout under Dir (or StateDir, which must be on the same filesystem as
// Dir, because claims are renames):
//
//	work/        claimed, being processed
//	archive/     processed
//	quarantine/  could not be processed; <name>.reason.txt says why
//
// One Source per directory: two processes claiming from the same directory
// are not supported.
package localdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// Names of the state subdirectories.
const (
	WorkDir       = "work"
	ArchiveDir    = "archive"
	QuarantineDir = "quarantine"
)

// Defaults for Options.
const (
	DefaultPattern        = "*"
	DefaultSettleTime     = 2 * time.Second
	DefaultRescanInterval = 30 * time.Second
)

// Options configures a Source.
type Options struct {
	// Dir is the drop directory. It must exist.
	Dir string
	// StateDir holds work/, archive/ and quarantine/. It defaults to Dir and
	// must be on the same filesystem.
	StateDir string
	// Pattern is a filepath.Match glob on base names. Default "*".
	Pattern string
	// SettleTime is how long a file's size and mtime must stay unchanged
	// before it is claimed. Default 2s.
	SettleTime time.Duration
	// RescanInterval is the period of the full directory rescan. Default 30s.
	RescanInterval time.Duration
	// PollOnly disables fsnotify and relies on rescans alone, for mounts
	// where change notification is known not to work.
	PollOnly bool
	// Logger receives claim problems and watcher errors. Default
	// slog.Default().
	Logger *slog.Logger
	// OnScan, if set, gets the error (nil on success) of every full scan
	// of Dir, for health checks. It must not block.
	OnScan func(err error)
	// ReadyMarker, if set, is the ending (".done") of the file that says
	// another is complete: x.csv is taken only once x.csv.done exists and
	// was written after it (its modification time is not older), and the
	// two are archived together. Names ending in ReadyMarker are never
	// inputs.
	ReadyMarker string
	// WatchAfterArchive is how long after Done a file is looked at in
	// case it grows (at each rescan, and when a writer closes it): one
	// that does is taken again. Default DefaultWatchAfterArchive;
	// negative: never.
	WatchAfterArchive time.Duration

	// noLeases makes the open-writer check use inotify's events alone,
	// for the tests of that path.
	noLeases bool
}

// MaxNameBytes is the longest name a local source takes: archive/ names
// each report after the input, twice ("<name>.<name without
// extension>.report.html", then a temporary name with a timestamp), and
// that must fit in 255 bytes.
const MaxNameBytes = 105

// candidate is a file in Dir that is being watched until it settles.
type candidate struct {
	size  int64
	mtime time.Time
	since time.Time // when this size/mtime was first observed
	// queued is set once the file has settled and its name is in ready.
	queued bool
	// waiting is set when the file has settled but its ready marker is
	// missing or older than the file (a marker event looks again), or a
	// writer holds it open (its close looks again).
	waiting bool
	// grew is, for a file retaken in work/, how it grew after it was
	// archived, if it was handed out again for that.
	grew string
}

// Source watches a drop directory. It implements relay.Source.
type Source struct {
	dir, work, archive, quarantine string
	pattern                        string
	marker                         string // ReadyMarker; "" for none
	settle, rescan                 time.Duration
	log                            *slog.Logger
	onScan                         func(error)
	watcher                        *fsnotify.Watcher // nil when polling only
	writers                        *writerWatch      // nil when polling only, or not on Linux
	watchAfter                     time.Duration     // WatchAfterArchive

	stop      chan struct{} // closed by Close
	loopDone  chan struct{} // closed when the watch loop has exited
	kick      chan struct{} // asks the loop to reschedule its settle timer
	closeOnce sync.Once
	closeErr  error // set by the loop as it exits; read after loopDone

	mu        sync.Mutex
	cands     map[string]*candidate    // by base name
	ready     []string                 // settled names, oldest first; may hold stale names
	recovered []*Item                  // found in work/ at start, or settled there again after a Retake
	resettle  map[string]*candidate    // retaken files in work/, by name, until they settle
	archived  map[string]*archivedFile // files archived lately, by path, in case they grow
	changed   chan struct{}            // closed and replaced whenever Next may make progress
	closed    bool

	// notices are the files left alone, by name, with the reason last
	// reported; noticeQueue holds the changes report has not been told.
	notices     map[string]string
	noticeQueue []relay.Refusal
	report      func(context.Context, relay.Refusal) // nil until ReportRefusalsTo
	reportMu    sync.Mutex                           // keeps reports in order
}

var (
	_ relay.Source          = (*Source)(nil)
	_ relay.RefusalReporter = (*Source)(nil)
)

// New starts watching opts.Dir. The background watch loop runs until Close
// is called or ctx is done; after either, Next returns relay.ErrSourceClosed
// and the watcher is released.
//
// Its errors name what failed, not this package: the caller says which
// source or destination it is, and operators read them (a refused reload).
func New(ctx context.Context, opts Options) (*Source, error) {
	if opts.Dir == "" {
		return nil, errors.New("no directory configured")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	state := dir
	if opts.StateDir != "" {
		if state, err = filepath.Abs(opts.StateDir); err != nil {
			return nil, err
		}
	}
	s := &Source{
		dir:        dir,
		work:       filepath.Join(state, WorkDir),
		archive:    filepath.Join(state, ArchiveDir),
		quarantine: filepath.Join(state, QuarantineDir),
		pattern:    opts.Pattern,
		marker:     opts.ReadyMarker,
		settle:     opts.SettleTime,
		rescan:     opts.RescanInterval,
		log:        opts.Logger,
		onScan:     opts.OnScan,
		stop:       make(chan struct{}),
		loopDone:   make(chan struct{}),
		kick:       make(chan struct{}, 1),
		cands:      make(map[string]*candidate),
		resettle:   make(map[string]*candidate),
		archived:   make(map[string]*archivedFile),
		watchAfter: opts.WatchAfterArchive,
		notices:    make(map[string]string),
		changed:    make(chan struct{}),
	}
	if s.pattern == "" {
		s.pattern = DefaultPattern
	}
	if _, err := filepath.Match(s.pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", s.pattern, err)
	}
	if s.marker != "" {
		if p := relay.ReadyMarkerProblem(s.marker); p != "" {
			return nil, fmt.Errorf("ready marker %q: %s", s.marker, p)
		}
	}
	if s.settle <= 0 {
		s.settle = DefaultSettleTime
	}
	if s.rescan <= 0 {
		s.rescan = DefaultRescanInterval
	}
	if s.watchAfter == 0 {
		s.watchAfter = DefaultWatchAfterArchive
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("source", "localdir", "dir", dir)
	for _, d := range []string{s.work, s.archive, s.quarantine} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{s.archive, s.quarantine} {
		if err := removeDebris(d); err != nil {
			return nil, err
		}
	}
	if s.recovered, err = s.recover(); err != nil {
		return nil, err
	}
	if !opts.PollOnly {
		// The watch goes on the directory, never on single files: writers
		// that save by rename would otherwise silently end the watch.
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return nil, fmt.Errorf("start watcher: %w", err)
		}
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
		s.watcher = w
		s.writers = newWriterWatch(dir, []string{s.work, s.archive, s.quarantine}, !opts.noLeases, s.log, s.writerClosed)
	}
	// Scan before the loop starts so files already waiting are tracked
	// from now, not from the first rescan tick.
	s.rescanDir()
	go s.loop(ctx)
	return s, nil
}

// recover lists files a previous run claimed but never acknowledged.
func (s *Source) recover() ([]*Item, error) {
	entries, err := os.ReadDir(s.work)
	if err != nil {
		return nil, fmt.Errorf("localdir: %w", err)
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	var items []*Item
	for _, e := range entries {
		name := e.Name()
		// Dot files in work/ can only be foreign temporaries; claims never
		// create them.
		if strings.HasPrefix(name, ".") {
			continue
		}
		if s.isMarker(name) {
			data := strings.TrimSuffix(name, s.marker)
			if !present[data] {
				// The claim moves the marker first: its file was not
				// claimed. Put the marker back beside it.
				s.unclaimMarker(data)
			}
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		// Its marker, if it had one, is beside it, or already archived
		// by a Done cut short.
		items = append(items, s.newItem(name, fi))
	}
	return items, nil
}

func (s *Source) newItem(name string, fi fs.FileInfo) *Item {
	return &Item{
		src:     s,
		name:    name,
		path:    filepath.Join(s.work, name),
		size:    fi.Size(),
		modTime: fi.ModTime(),
		claimed: fi,
	}
}

// isMarker reports whether name is a ready marker.
func (s *Source) isMarker(name string) bool {
	return s.marker != "" && strings.HasSuffix(name, s.marker) && len(name) > len(s.marker)
}

// unclaimMarker moves the ready marker of data from work/ back into the
// drop folder, unless the folder has one again.
func (s *Source) unclaimMarker(data string) {
	src, dst := filepath.Join(s.work, data+s.marker), filepath.Join(s.dir, data+s.marker)
	if _, err := os.Lstat(dst); err == nil {
		os.Remove(src)
		return
	}
	if err := os.Rename(src, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("putting a ready marker back", "file", data+s.marker, "err", err)
	}
}

// Next returns the next claimed file, blocking until one has settled, ctx
// is done or the source is closed. Files recovered from work/ come first.
func (s *Source) Next(ctx context.Context) (relay.Item, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, relay.ErrSourceClosed
		}
		if len(s.recovered) > 0 {
			it := s.recovered[0]
			s.recovered = s.recovered[1:]
			s.mu.Unlock()
			return it, nil
		}
		name, want, ok := s.popReadyLocked()
		changed := s.changed
		s.mu.Unlock()

		if ok {
			it, err := s.claim(name, want)
			if err != nil {
				// One unclaimable file must not stop the others; it is
				// tracked again and retried once it settles.
				s.log.Warn("claim failed", "file", name, "err", err)
				continue
			}
			if it != nil {
				return it, nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// popReadyLocked takes the oldest settled file off the queue. The
// candidate is forgotten so that no other Next call claims it too.
func (s *Source) popReadyLocked() (string, candidate, bool) {
	for len(s.ready) > 0 {
		name := s.ready[0]
		s.ready = s.ready[1:]
		c := s.cands[name]
		if c == nil || !c.queued {
			continue // changed or vanished after it was queued
		}
		delete(s.cands, name)
		return name, *c, true
	}
	return "", candidate{}, false
}

// claim renames a settled file into work/. It returns a nil Item and nil
// error when the file should simply be skipped for now.
func (s *Source) claim(name string, want candidate) (*Item, error) {
	src := filepath.Join(s.dir, name)
	dst := filepath.Join(s.work, name)
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // deleted or taken away since it settled
	}
	if err != nil {
		s.retrack(name)
		return nil, err
	}
	if fi.Size() != want.size || !fi.ModTime().Equal(want.mtime) {
		// Written to between settling and claiming: start settling again.
		s.retrack(name)
		return nil, nil
	}
	if _, err := os.Lstat(dst); err == nil {
		// A file of the same name is still being processed; renaming over
		// it would lose it. Try again once it has been archived.
		s.retrack(name)
		return nil, nil
	}
	if s.writers.Writing(s.dir, name) != "" {
		// Opened for writing again since it settled.
		s.retrack(name)
		return nil, nil
	}
	if s.marker != "" {
		// The marker goes first: if the file's rename then fails, or the
		// process dies in between, the file is only "not ready" in the
		// meantime, never a marker without its file.
		if reason := s.markerProblem(name, fi); reason != "" {
			s.retrack(name)
			return nil, nil
		}
		if err := os.Rename(filepath.Join(s.dir, name+s.marker), filepath.Join(s.work, name+s.marker)); err != nil {
			s.retrack(name)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
	}
	// A plain rename: the claim need not survive a power cut. If it is
	// lost the file is back in the folder, is claimed again, and the
	// ledger recognises its content. Syncing here would cost two fsyncs
	// per file for nothing.
	if err := os.Rename(src, dst); err != nil {
		if s.marker != "" {
			s.unclaimMarker(name)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		s.retrack(name)
		return nil, err
	}
	fi, err = os.Lstat(dst)
	if err != nil {
		return nil, fmt.Errorf("stat claimed file: %w", err)
	}
	return s.newItem(name, fi), nil
}

// markerProblem returns why the file called name, as fi describes it, is
// not ready by its marker ("" if it is, or if the source has no marker):
// the marker is missing ("" reason given as "no marker"), or older than
// the file, which then changed after its writer said it was complete.
func (s *Source) markerProblem(name string, fi fs.FileInfo) string {
	if s.marker == "" {
		return ""
	}
	mk, err := os.Lstat(filepath.Join(s.dir, name+s.marker))
	switch {
	case err != nil || !mk.Mode().IsRegular():
		return noMarker
	case mk.ModTime().Before(fi.ModTime()):
		return fmt.Sprintf("changed after its ready marker %s was written; waiting for a newer marker", name+s.marker)
	}
	return ""
}

// noMarker is markerProblem's answer for a file whose marker is missing:
// the normal state of a file still being written, so it is not reported.
const noMarker = "no ready marker yet"

// retrack makes the loop look at name afresh, restarting its settle time.
func (s *Source) retrack(name string) {
	fi, err := os.Lstat(filepath.Join(s.dir, name))
	s.mu.Lock()
	if err == nil {
		delete(s.cands, name)
		s.observeLocked(name, fi, time.Now())
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// writerClosed is the writer watch's report that a writer closed the
// file called name (every file, if "") in dir: a file held back for it
// is looked at again.
func (s *Source) writerClosed(dir, name string) {
	s.mu.Lock()
	switch dir {
	case s.dir:
		var names []string
		for n, c := range s.cands {
			if c.waiting && (name == "" || n == name) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			s.lookAgainLocked(n)
		}
	case s.work:
		for n, c := range s.resettle {
			if name == "" || n == name {
				c.waiting = false
			}
		}
	default:
		s.archivedWriterClosedLocked(dir, name)
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close stops the watch loop and waits for it to exit. Items already
// returned stay valid. Close is safe to call more than once.
func (s *Source) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.loopDone
	return s.closeErr
}

func (s *Source) markClosed() {
	s.mu.Lock()
	s.closed = true
	s.signalLocked()
	s.mu.Unlock()
}

// signalLocked wakes every Next call waiting for progress.
func (s *Source) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// loop is the only background goroutine. It exits on Close or when ctx is
// done.
func (s *Source) loop(ctx context.Context) {
	defer close(s.loopDone)
	// A source whose loop has stopped can never hand out new files, so say
	// so instead of letting Next block forever.
	defer s.markClosed()
	// Only the loop reads the watcher, so it closes it too; that way a
	// cancelled ctx releases the inotify handle even without Close.
	defer func() {
		if s.watcher != nil {
			s.closeErr = errors.Join(s.watcher.Close(), s.writers.Close())
		}
	}()

	var events <-chan fsnotify.Event
	var errs <-chan error
	if s.watcher != nil {
		events, errs = s.watcher.Events, s.watcher.Errors
	}
	ticker := time.NewTicker(s.rescan)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		s.flushNotices(ctx)
		s.schedule(timer)
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			s.handleEvent(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Usually an overflow: events were lost, so look at everything.
			s.log.Warn("watcher error; rescanning", "err", err)
			s.rescanDir()
		case <-ticker.C:
			s.rescanDir()
			s.mu.Lock()
			s.checkArchivedLocked(time.Now(), func(*archivedFile) bool { return true })
			s.mu.Unlock()
		case <-timer.C:
			s.checkSettling()
		case <-s.kick:
		}
	}
}

// schedule sets timer to fire when the next tracked file may have settled.
func (s *Source) schedule(timer *time.Timer) {
	s.mu.Lock()
	var next time.Time
	for _, c := range s.cands {
		if c.queued || c.waiting {
			continue
		}
		if at := c.since.Add(s.settle); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, c := range s.resettle {
		if c.waiting {
			continue
		}
		if at := c.since.Add(s.settle); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if at := s.nextArchivedCheckLocked(); !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next = at
	}
	s.mu.Unlock()
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(max(time.Until(next), 0))
}

func (s *Source) handleEvent(ev fsnotify.Event) {
	if filepath.Dir(ev.Name) != s.dir {
		return
	}
	name := filepath.Base(ev.Name)
	if ignoredName(name) {
		return
	}
	// Every kind of event (Create, Write, Rename, Chmod, Remove) means the
	// same thing here: look at the file again.
	fi, err := os.Lstat(ev.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.cands, name)
		s.noteLocked(name, "")
		if s.isMarker(name) {
			s.lookAgainLocked(strings.TrimSuffix(name, s.marker))
		}
		return
	}
	s.observeLocked(name, fi, time.Now())
}

// lookAgainLocked observes the file called name again, if it is there: its
// ready marker came, went or changed.
func (s *Source) lookAgainLocked(name string) {
	fi, err := os.Lstat(filepath.Join(s.dir, name))
	if err != nil {
		return
	}
	if c := s.cands[name]; c != nil {
		c.waiting = false
	}
	s.observeLocked(name, fi, time.Now())
}

// checkSettling re-stats files whose settle time has run out.
func (s *Source) checkSettling() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.cands {
		if c.queued || now.Sub(c.since) < s.settle {
			continue
		}
		fi, err := os.Lstat(filepath.Join(s.dir, name))
		if err != nil {
			delete(s.cands, name)
			continue
		}
		s.observeLocked(name, fi, now)
	}
	for name, c := range s.resettle {
		if c.waiting || now.Sub(c.since) < s.settle {
			continue
		}
		fi, err := os.Lstat(filepath.Join(s.work, name))
		switch {
		case err != nil:
			delete(s.resettle, name) // removed from work/ by someone
		case fi.Size() != c.size || !fi.ModTime().Equal(c.mtime):
			s.resettle[name] = &candidate{size: fi.Size(), mtime: fi.ModTime(), since: now, grew: c.grew}
		case s.writers.Writing(s.work, name) != "":
			c.waiting = true // its writer's close looks again
		default:
			delete(s.resettle, name)
			it := s.newItem(name, fi)
			it.grew = c.grew
			s.recovered = append(s.recovered, it)
			s.signalLocked()
		}
	}
	s.checkArchivedLocked(now, func(a *archivedFile) bool { return a.grown })
}

// rescanDir looks at every file in Dir. It catches events that were never
// delivered, which is the normal case on network mounts.
func (s *Source) rescanDir() {
	entries, err := os.ReadDir(s.dir)
	if s.onScan != nil {
		s.onScan(err)
	}
	if err != nil {
		s.log.Warn("rescan failed", "err", err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if ignoredName(name) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		seen[name] = true
		s.observeLocked(name, fi, now)
	}
	for name := range s.cands {
		if !seen[name] {
			delete(s.cands, name)
		}
	}
	for name := range s.notices {
		if !seen[name] {
			s.noteLocked(name, "")
		}
	}
}

// observeLocked records what the file looks like now and queues it once it
// has looked the same for the settle time.
func (s *Source) observeLocked(name string, fi fs.FileInfo, now time.Time) {
	if s.isMarker(name) {
		s.observeMarkerLocked(name, fi)
		return
	}
	if fi.IsDir() || !s.matches(name) {
		delete(s.cands, name)
		return
	}
	if reason := s.refusal(name, fi); reason != "" {
		delete(s.cands, name)
		s.noteLocked(name, reason)
		return
	}
	c := s.cands[name]
	if c == nil || c.size != fi.Size() || !c.mtime.Equal(fi.ModTime()) {
		// Settling counts from our own first sighting, not from the mtime,
		// which copies may carry over from long ago.
		s.cands[name] = &candidate{size: fi.Size(), mtime: fi.ModTime(), since: now}
		s.noteLocked(name, "")
		return
	}
	if c.queued || now.Sub(c.since) < s.settle {
		return
	}
	reason := s.markerProblem(name, fi)
	if reason == "" {
		reason = s.writers.Writing(s.dir, name)
	}
	switch reason {
	case "":
		s.noteLocked(name, "")
	case noMarker:
		c.waiting = true
		return
	default:
		c.waiting = true
		s.noteLocked(name, reason)
		return
	}
	c.queued, c.waiting = true, false
	s.ready = append(s.ready, name)
	s.signalLocked()
}

// observeMarkerLocked looks at a ready marker: its file may now be ready,
// or the marker may be without a file.
func (s *Source) observeMarkerLocked(name string, fi fs.FileInfo) {
	data := strings.TrimSuffix(name, s.marker)
	if !s.matches(data) {
		return // the marker of a file this source does not take
	}
	// The marker's own ending is known to be safe, and it may be as long
	// as its file's name allows.
	if reason := s.refusal(data, fi); reason != "" {
		s.noteLocked(name, reason) // and its file, if there, is refused too
		return
	}
	if _, err := os.Lstat(filepath.Join(s.dir, data)); errors.Is(err, fs.ErrNotExist) {
		if _, claimed := os.Lstat(filepath.Join(s.work, data)); claimed != nil {
			s.noteLocked(name, fmt.Sprintf("ready marker without its file %s", data))
		}
		return
	}
	s.noteLocked(name, "")
	s.lookAgainLocked(data)
}

// refusal returns why the file called name (matching the pattern) is left
// alone, or "" if it may be taken.
func (s *Source) refusal(name string, fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "a symbolic link: only regular files are taken"
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("not a regular file (%s): only regular files are taken", fi.Mode().Type())
	}
	if p := relay.NameProblem(name); p != "" {
		return p
	}
	if len(name) > MaxNameBytes {
		return fmt.Sprintf("the name is %d bytes long; a local source takes names of up to %d (archive/ names the reports after it)", len(name), MaxNameBytes)
	}
	return ""
}

// noteLocked records the reason the file called name is left alone ("":
// it no longer is) and queues the change for the reporter.
func (s *Source) noteLocked(name, reason string) {
	if s.notices[name] == reason {
		return
	}
	if reason == "" {
		delete(s.notices, name)
	} else {
		s.notices[name] = reason
	}
	if s.report != nil {
		s.noticeQueue = append(s.noticeQueue, relay.Refusal{Name: name, Reason: reason})
	}
}

// flushNotices tells the reporter, if there is one, of the notices not yet
// reported.
func (s *Source) flushNotices(ctx context.Context) {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	s.mu.Lock()
	queue, report := s.noticeQueue, s.report
	s.noticeQueue = nil
	s.mu.Unlock()
	for _, r := range queue {
		report(ctx, r)
	}
}

// ReportRefusalsTo implements relay.RefusalReporter.
func (s *Source) ReportRefusalsTo(report func(context.Context, relay.Refusal)) {
	s.mu.Lock()
	s.report = report
	s.noticeQueue = s.noticeQueue[:0]
	for name, reason := range s.notices {
		s.noticeQueue = append(s.noticeQueue, relay.Refusal{Name: name, Reason: reason})
	}
	s.mu.Unlock()
	s.flushNotices(context.Background())
}

func (s *Source) matches(name string) bool {
	if ignoredName(name) {
		return false
	}
	ok, _ := filepath.Match(s.pattern, name) // pattern validated in New
	return ok
}

// ignoredName reports names that are never inputs: hidden files, files
// still being uploaded under a temporary name, Office lock files and the
// state folders.
func ignoredName(name string) bool {
	switch name {
	case WorkDir, ArchiveDir, QuarantineDir:
		return true
	}
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") {
		return true
	}
	for _, suffix := range []string{".part", ".filepart", atomicfile.TempSuffix} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// Item is a file claimed into work/. It implements relay.Item and
// relay.LiveItem.
type Item struct {
	src     *Source
	name    string
	path    string
	size    int64
	modTime time.Time
	claimed fs.FileInfo // the file as claimed, for Changed
	grew    string      // how it grew after it was archived, if it was taken again for that

	mu   sync.Mutex
	done bool // acknowledged, or retaken
	// target is the chosen archive or quarantine path. It is kept across
	// failed Done calls so a retry writes the same names again.
	target string
}

var (
	_ relay.Item        = (*Item)(nil)
	_ relay.LiveItem    = (*Item)(nil)
	_ relay.RegrownItem = (*Item)(nil)
)

// Name returns the file's base name as the supplier dropped it.
func (it *Item) Name() string { return it.name }

// GrewAfterArchive implements relay.RegrownItem: how the file grew after
// it was archived, if that is why it was handed out again.
func (it *Item) GrewAfterArchive() string { return it.grew }

// Path returns the claimed file's path inside work/.
func (it *Item) Path() string { return it.path }

// Size returns the size observed at claim time.
func (it *Item) Size() int64 { return it.size }

// ModTime returns the modification time observed at claim time.
func (it *Item) ModTime() time.Time { return it.modTime }

// Open opens the claimed file for reading.
func (it *Item) Open(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(it.path)
	if err != nil {
		return nil, fmt.Errorf("localdir: %w", err)
	}
	return f, nil
}

// markerPath is where the item's ready marker is while it is claimed.
func (it *Item) markerPath() string { return it.path + it.src.marker }

// Changed compares the claimed file as it is now with the file as it was
// claimed: the same file (device and inode), size and modification time.
// A writer that still holds the file open keeps writing into it after the
// claim's rename, so this is what catches an export that paused for longer
// than the settle time.
func (it *Item) Changed(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	fi, err := os.Lstat(it.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "removed from " + WorkDir + "/", nil
	case err != nil:
		return "", fmt.Errorf("localdir: %w", err)
	case !os.SameFile(fi, it.claimed):
		return "replaced by another file", nil
	case fi.Size() != it.size:
		return fmt.Sprintf("%d bytes when claimed, %d now", it.size, fi.Size()), nil
	case !fi.ModTime().Equal(it.modTime):
		return fmt.Sprintf("modified at %s, after it was claimed", fi.ModTime().UTC().Format(time.RFC3339Nano)), nil
	}
	return "", nil
}

// Retake implements relay.LiveItem: the file stays in work/ (so no other
// worker claims it, and its writer's descriptor still follows it) and is
// handed out again, first, once its size and time have stayed the same
// for the settle time.
func (it *Item) Retake(ctx context.Context) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return errors.New("localdir: retake after done")
	}
	fi, err := os.Lstat(it.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			it.done = true
			return nil // gone: nothing to take again
		}
		return fmt.Errorf("localdir: retake %s: %w", it.name, err)
	}
	it.done = true
	s := it.src
	s.mu.Lock()
	s.resettle[it.name] = &candidate{size: fi.Size(), mtime: fi.ModTime(), since: time.Now(), grew: it.grew}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// Done moves the file from work/ to archive/ (Processed) or quarantine/
// (Quarantined). Each of ack.Reports is linked (or copied) beside it first,
// named "<name>.<report base name>", and a quarantined file also gets
// "<name>.reason.txt", so that a crash of the process never leaves an
// archived input without its reports; its ready marker, if any, moves
// just before it, named "<name><marker>". A name
// already taken in the destination gets a UTC timestamp inserted before
// its extension instead of being overwritten. Done is idempotent: calls
// after a successful one return nil.
func (it *Item) Done(ctx context.Context, ack relay.Ack) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return nil
	}
	var dir string
	switch ack.Outcome {
	case relay.Processed:
		dir = it.src.archive
	case relay.Quarantined:
		dir = it.src.quarantine
	default:
		return fmt.Errorf("localdir: done %s: unknown outcome %v", it.name, ack.Outcome)
	}
	if it.target == "" && archivedBefore(it.path, dir, it.name) {
		// Archived before, but a power cut brought back its name in
		// work/ (see below): only that name has to go, and its ready
		// marker, which was archived first, if that came back too.
		if it.src.marker != "" {
			if err := os.Remove(it.markerPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("localdir: done %s: %w", it.name, err)
			}
		}
		if err := os.Remove(it.path); err != nil {
			return fmt.Errorf("localdir: done %s: %w", it.name, err)
		}
		it.done = true
		return nil
	}
	if it.target == "" || filepath.Dir(it.target) != dir {
		target, err := freeName(dir, it.name, time.Now())
		if err != nil {
			return fmt.Errorf("localdir: done %s: %w", it.name, err)
		}
		it.target = target
	}
	base := filepath.Base(it.target)

	var beside []string // what goes beside it, should it be taken again
	for _, report := range ack.Reports {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(dir, base+"."+filepath.Base(report))
		if err := linkOrCopy(report, dst); err != nil {
			return fmt.Errorf("localdir: done %s: %w", it.name, err)
		}
		beside = append(beside, dst)
	}
	if ack.Outcome == relay.Quarantined {
		reason := strings.TrimRight(ack.Reason, "\n") + "\n"
		// Readable by whoever may read the reports beside it.
		mode := atomicfile.DefaultMode
		if len(ack.Reports) > 0 {
			if fi, err := os.Stat(ack.Reports[0]); err == nil {
				mode = fi.Mode().Perm()
			}
		}
		if err := atomicfile.WriteFileMode(filepath.Join(dir, base+".reason.txt"), []byte(reason), mode); err != nil {
			return fmt.Errorf("localdir: done %s: %w", it.name, err)
		}
		beside = append(beside, filepath.Join(dir, base+".reason.txt"))
	}
	// The reports themselves are durable already (the processor committed
	// them) and the links to them become durable with the move's sync of
	// the folder. A power cut between the two can at worst leave an
	// archived input without its links; the reports stay in the hub's
	// state folder and ledger.
	if err := ctx.Err(); err != nil {
		return err
	}
	marker := ""
	if it.src.marker != "" {
		marker = it.target + it.src.marker
		if err := os.Rename(it.markerPath(), marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("localdir: done %s: ready marker: %w", it.name, err)
		}
	}
	// Only the destination folder is synced. If a power cut undoes the
	// removal of the name in work/, the file is found there again, the
	// ledger knows it as finished, and the check above removes the name.
	if err := os.Rename(it.path, it.target); err != nil && !movedAlready(it.path, it.target) {
		return fmt.Errorf("localdir: done %s: %w", it.name, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("localdir: done %s: %w", it.name, err)
	}
	it.done = true
	it.src.watchArchived(it, it.target, beside, marker)
	return nil
}

// archivedBefore reports whether the file at path is also in dir, under
// name or a name freeName gave it. Only a file with more than one name
// (link count) is looked for, so the common case costs one stat.
func archivedBefore(path, dir, name string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !hasOtherNames(fi) {
		return false
	}
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != name && !strings.HasPrefix(e.Name(), stem+".") {
			continue
		}
		if other, err := os.Lstat(filepath.Join(dir, e.Name())); err == nil && os.SameFile(fi, other) {
			return true
		}
	}
	return false
}

// movedAlready reports whether src is gone and dst is present.
func movedAlready(src, dst string) bool {
	_, srcErr := os.Lstat(src)
	_, dstErr := os.Lstat(dst)
	return errors.Is(srcErr, fs.ErrNotExist) && dstErr == nil
}

// freeName returns dir/name, or, if that is taken, dir/<stem>.<UTC
// timestamp><ext> with a counter added should even that be taken.
func freeName(dir, name string, now time.Time) (string, error) {
	p := filepath.Join(dir, name)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return p, nil
	} else if err != nil {
		return "", err
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	stamp := now.UTC().Format("20060102T150405Z")
	for i := 1; i < 1000; i++ {
		candidate := stem + "." + stamp + ext
		if i > 1 {
			candidate = fmt.Sprintf("%s.%s-%d%s", stem, stamp, i, ext)
		}
		p = filepath.Join(dir, candidate)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// linkOrCopy puts src at dst atomically, as a hard link when both are on
// one file system (no data to write: the reports are already durable where
// the processor wrote them), or else as a copy. The caller syncs dst's
// directory.
func linkOrCopy(src, dst string) error {
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Lstat(dst); err == nil && os.SameFile(a, b) {
			return nil // linked by an earlier Done that was cut short
		}
	}
	tmp := linkTemp(dst)
	os.Remove(tmp) // left by a crash
	if err := os.Link(src, tmp); err == nil {
		err := os.Rename(tmp, dst)
		// A rename onto another name of the same file does nothing and
		// reports success, leaving tmp: remove it whatever happened.
		if rerr := os.Remove(tmp); err == nil && rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("link report: %w", err)
		}
		return nil
	}
	return copyFile(src, dst)
}

// linkTemp is the temporary name under which linkOrCopy links a report
// before renaming it to dst.
func linkTemp(dst string) string {
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+linkTempSuffix)
}

const linkTempSuffix = ".link" + atomicfile.TempSuffix

// removeDebris deletes the temporary files a process killed in Done leaves
// in archive/ or quarantine/ (linked reports, reasons, copies not yet
// renamed): only this source writes there, so every hidden temporary file
// is one of its own.
func removeDebris(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, atomicfile.TempSuffix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// copyFile copies src to dst atomically; the caller syncs dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy report: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copy report: %w", err)
	}
	out, err := atomicfile.CreateMode(dst, fi.Mode().Perm()) // as readable as the report
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy report %s: %w", src, err)
	}
	return out.Rename()
}
