package sftp

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

var (
	_ relay.Source          = (*Source)(nil)
	_ relay.RefusalReporter = (*Source)(nil)
	_ relay.Item            = (*Item)(nil)
	_ relay.LiveItem        = (*Item)(nil)
	_ relay.RegrownItem     = (*Item)(nil)
)

// SourceOptions are the local settings of a Source.
type SourceOptions struct {
	// SpoolDir holds downloaded copies until their items are done. It is
	// created if missing. Give each source its own.
	SpoolDir string
	// Logger receives warnings about failures the source retries by
	// itself. Default slog.Default().
	Logger *slog.Logger
	// DoneAttempts bounds the tries at the remote step of Item.Done
	// (delete or move); default 5.
	DoneAttempts int
	// DoneBackoff spaces those tries; default 200ms doubling to 5s.
	DoneBackoff retry.Backoff
	// OnPoll, if set, is called after every listing of the remote
	// directory with its error (nil on success), for health checks. It
	// must not block.
	OnPoll func(err error)
	// ReadyMarker, if set, is the ending (".done") of the file that says
	// another is complete: x.csv is collected only once x.csv.done is
	// listed beside it and is not older than it, and the marker is
	// archived (moved or deleted) with it. Names ending in ReadyMarker
	// are never collected.
	ReadyMarker string
	// WatchAfterArchive is how long after a file was moved to
	// ProcessedDir or QuarantineDir each poll looks at it (one STAT) in
	// case it grows: one that does is collected again from there. Files
	// deleted (AfterSuccess "delete") or archived by copying (NoRename)
	// cannot be followed. Default DefaultWatchAfterArchive; negative:
	// never.
	WatchAfterArchive time.Duration
}

// Source polls cfg.Dir and yields files whose size and modification time
// have stayed the same for cfg.SettleTime, downloaded to the spool
// directory. It satisfies relay.Source.
//
// Claims live in memory: after a restart, files not yet archived are
// collected again (at-least-once), so downstream must deduplicate, for
// example on Item.SHA256. A file whose item is never acknowledged is not
// collected again until the process restarts. A file archived by this
// source that the server still lists afterwards, unchanged, is left
// alone (and reported) until the listing changes. A file moved to
// ProcessedDir or QuarantineDir that grows there within
// SourceOptions.WatchAfterArchive is collected again (relay.RegrownItem).
//
// Names are never trusted: a listed name that relay.NameProblem refuses
// (control characters, invalid UTF-8, a path, too long), symbolic links
// and other special files are never downloaded, stay on the server
// untouched, and are reported once through relay.RefusalReporter, as are
// ready markers without their file.
type Source struct {
	cfg  Config
	opts SourceOptions
	log  *slog.Logger
	conn *conn

	closed    chan struct{}
	closeOnce sync.Once
	// turn lets one Next at a time poll and download; it is a channel so
	// that waiting for it can be abandoned when ctx ends.
	turn chan struct{}

	// Guarded by turn.
	seen     map[string]*sighting
	lastPoll time.Time
	polled   bool

	mu       sync.Mutex
	inflight map[string]bool // names handed out whose Done has not succeeded
	// archived holds the files this source archived, by name, until a
	// listing no longer shows them as they were.
	archived map[string]stamp
	// moved holds the files this source moved lately, by path, in case
	// they grow (regrowth.go).
	moved map[string]*movedFile
	// notices are the files left alone, by name, with the reason last
	// reported; report is nil until ReportRefusalsTo.
	notices map[string]string
	report  func(context.Context, relay.Refusal)
}

// stamp is what a listing says of a file's content.
type stamp struct {
	size  int64
	mtime time.Time
}

// sighting is what the listings have shown of one file.
type sighting struct {
	size  int64
	mtime time.Time
	since time.Time // local time the current size and mtime were first listed
	polls int       // listings that have shown this size and mtime
	// broken marks a file that could not be downloaded for a reason
	// retrying will not fix; it is tried again once it changes.
	broken bool
	// ready is false while a ready marker is required and the latest
	// listing showed none as new as the file.
	ready bool
}

// NewSource checks cfg, creates the spool directory and returns a Source.
// It connects on the first call to Next.
func NewSource(cfg Config, opts SourceOptions) (*Source, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validateDir(true); err != nil {
		return nil, fmt.Errorf("sftp source %s: %w", cfg.Addr, err)
	}
	if opts.SpoolDir == "" {
		return nil, errors.New("sftp source: spool directory is required")
	}
	if opts.ReadyMarker != "" {
		if p := relay.ReadyMarkerProblem(opts.ReadyMarker); p != "" {
			return nil, fmt.Errorf("sftp source: ready marker %q: %s", opts.ReadyMarker, p)
		}
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("sftp source: create spool directory: %w", err)
	}
	if err := emptySpool(opts.SpoolDir); err != nil {
		return nil, fmt.Errorf("sftp source: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DoneAttempts <= 0 {
		opts.DoneAttempts = 5
	}
	if opts.WatchAfterArchive == 0 {
		opts.WatchAfterArchive = DefaultWatchAfterArchive
	}
	if opts.DoneBackoff == (retry.Backoff{}) {
		opts.DoneBackoff = retry.Backoff{Base: 200 * time.Millisecond, Max: 5 * time.Second}
	}
	return &Source{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger.With("addr", cfg.Addr, "dir", cfg.Dir),
		conn:     &conn{cfg: cfg},
		closed:   make(chan struct{}),
		turn:     make(chan struct{}, 1),
		seen:     make(map[string]*sighting),
		inflight: make(map[string]bool),
		archived: make(map[string]stamp),
		moved:    make(map[string]*movedFile),
		notices:  make(map[string]string),
	}, nil
}

// emptySpool removes what a previous run left in the spool directory:
// copies of files it never finished and downloads cut short. Nothing in it
// outlives the process: the files are still on the server.
func emptySpool(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Next blocks until a file has settled and been downloaded, ctx is done, or
// the source is closed (relay.ErrSourceClosed). The first poll happens at
// once. Connection failures are logged and retried at the next poll, on a
// new connection; permanent failures (missing directory) and refused
// logins or host keys (*LoginError, with the time to wait as its
// retry.After) are returned.
func (s *Source) Next(ctx context.Context) (relay.Item, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, relay.ErrSourceClosed
	}
	defer func() { <-s.turn }()

	for {
		if s.isClosed() {
			return nil, relay.ErrSourceClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if m, ok := s.nextMoved(time.Now()); ok {
			it, err := s.collectMoved(ctx, m)
			if err == nil {
				return it, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if s.isClosed() {
				return nil, relay.ErrSourceClosed
			}
			s.log.Warn("sftp download of a file that grew failed; will retry once it settles again", "file", m.name, "err", err)
			continue
		}
		if name, sg, ok := s.nextReady(time.Now()); ok {
			it, err := s.claim(ctx, name, path.Join(s.cfg.Dir, name), sg)
			if err == nil {
				return it, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if s.isClosed() {
				return nil, relay.ErrSourceClosed // Close cut the download short
			}
			s.log.Warn("sftp download failed; will retry once the file settles again", "file", name, "err", err)
			if retry.IsRetryable(err) {
				delete(s.seen, name)
			} else {
				// Until it changes: reported, not tried on every poll. A
				// server that lists a path ("../x", "/etc/x") is seen
				// by its last element, which is then not there.
				sg.broken = true
				s.setNotice(ctx, name, "listed, but could not be downloaded: "+err.Error())
			}
			continue
		}
		if err := s.wait(ctx); err != nil {
			return nil, err
		}
		if err := s.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if s.isClosed() {
				return nil, relay.ErrSourceClosed
			}
			// A refused login backs off for minutes (LoginError): the
			// relay waits, and reports it, rather than every poll.
			var refused *LoginError
			if !retry.IsRetryable(err) || errors.As(err, &refused) {
				return nil, err
			}
			s.log.Warn("sftp poll failed; retrying at the next poll", "err", err)
		}
	}
}

// Close stops the source and closes its connection. Items already returned
// stay valid: their Done uses a one-off connection.
func (s *Source) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return s.conn.Close()
}

// ignored reports names that are hidden, or in-progress uploads by common
// clients (WinSCP .filepart, rsync/curl .part and .tmp, Office ~$ locks).
func ignored(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") ||
		strings.HasSuffix(lower, ".part") || strings.HasSuffix(lower, ".tmp") ||
		strings.HasSuffix(lower, ".filepart")
}

// poll lists cfg.Dir and updates the sightings.
func (s *Source) poll(ctx context.Context) error {
	var infos []os.FileInfo
	err := s.conn.do(ctx, func(c *Client) error {
		var err error
		infos, err = c.sftp.ReadDirContext(ctx, s.cfg.Dir)
		return err
	})
	now := time.Now()
	s.lastPoll, s.polled = now, true
	if err != nil {
		err = classify(fmt.Errorf("sftp list %s on %s: %w", s.cfg.Dir, s.cfg.Addr, err))
	}
	if s.opts.OnPoll != nil && ctx.Err() == nil {
		s.opts.OnPoll(err)
	}
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(infos))
	markers := make(map[string]os.FileInfo) // by the name of their file
	notices := make(map[string]string)
	var files []os.FileInfo
	for _, fi := range infos {
		name := fi.Name()
		listed[name] = true
		// The pattern and the skipped names apply to the last element of
		// a name that is a path, so that "../x.csv" is refused, not
		// silently passed over.
		base := name[strings.LastIndex(name, "/")+1:]
		if fi.IsDir() || ignored(base) {
			continue
		}
		if s.isMarker(base) {
			data := strings.TrimSuffix(name, s.opts.ReadyMarker)
			if ok, _ := path.Match(s.cfg.Pattern, data[strings.LastIndex(data, "/")+1:]); !ok {
				continue // the marker of a file this source does not take
			}
			// The marker's own ending is known to be safe, and it may be
			// as long as its file's name allows.
			if reason := refusal(data, fi); reason != "" {
				notices[name] = reason
				continue
			}
			markers[data] = fi
			continue
		}
		if ok, _ := path.Match(s.cfg.Pattern, base); !ok {
			continue
		}
		if reason := refusal(name, fi); reason != "" {
			notices[name] = reason
			continue
		}
		files = append(files, fi)
	}
	present := make(map[string]bool, len(files))
	for _, fi := range files {
		name := fi.Name()
		if s.stillListed(name, fi) {
			notices[name] = "still listed by the server after it was archived; left alone until it changes"
			continue
		}
		if s.isInflight(name) {
			continue
		}
		present[name] = true
		ready := true
		if s.opts.ReadyMarker != "" {
			switch mk := markers[name]; {
			case mk == nil:
				ready = false
			case mk.ModTime().Before(fi.ModTime()):
				ready = false
				notices[name] = fmt.Sprintf("changed after its ready marker %s was written; waiting for a newer marker", name+s.opts.ReadyMarker)
			}
		}
		sg := s.seen[name]
		if sg == nil || sg.size != fi.Size() || !sg.mtime.Equal(fi.ModTime()) {
			// New or changed: the settle clock starts now, whatever the
			// mtime says, so files copied in with old mtimes still settle.
			s.seen[name] = &sighting{size: fi.Size(), mtime: fi.ModTime(), since: now, polls: 1, ready: ready}
			continue
		}
		sg.polls++
		sg.ready = ready
		if sg.broken {
			s.mu.Lock()
			notices[name] = s.notices[name]
			s.mu.Unlock()
		}
	}
	for data := range markers {
		if !listed[data] {
			notices[data+s.opts.ReadyMarker] = "ready marker without its file " + data
		}
	}
	for name := range s.seen {
		if !present[name] {
			delete(s.seen, name)
		}
	}
	s.forgetArchived(infos)
	s.setNotices(ctx, notices)
	s.lookAtMoved(ctx, now)
	return nil
}

// isMarker reports whether name is a ready marker.
func (s *Source) isMarker(name string) bool {
	m := s.opts.ReadyMarker
	return m != "" && strings.HasSuffix(name, m) && len(name) > len(m)
}

// refusal returns why the listed file called name (matching the pattern)
// is left alone, or "" if it may be collected.
func refusal(name string, fi os.FileInfo) string {
	if p := relay.NameProblem(name); p != "" {
		return p
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return "a symbolic link: only regular files are collected"
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("not a regular file (%s): only regular files are collected", fi.Mode().Type())
	}
	return ""
}

// stillListed reports whether this source archived the file called name
// and the listing shows it unchanged: a server that keeps listing a file
// after it was moved (or deleted).
func (s *Source) stillListed(name string, fi os.FileInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.archived[name]
	return ok && a.size == fi.Size() && a.mtime.Equal(fi.ModTime())
}

// forgetArchived drops the archived files a listing no longer shows as
// they were: gone at last, or a new file under the same name.
func (s *Source) forgetArchived(infos []os.FileInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.archived) == 0 {
		return
	}
	now := make(map[string]stamp, len(infos))
	for _, fi := range infos {
		now[fi.Name()] = stamp{fi.Size(), fi.ModTime()}
	}
	for name, a := range s.archived {
		if n, ok := now[name]; !ok || n.size != a.size || !n.mtime.Equal(a.mtime) {
			delete(s.archived, name)
		}
	}
}

// setNotices makes the files left alone those of notices, reporting each
// change once.
func (s *Source) setNotices(ctx context.Context, notices map[string]string) {
	var changes []relay.Refusal
	s.mu.Lock()
	for name, reason := range notices {
		if s.notices[name] != reason {
			s.notices[name] = reason
			changes = append(changes, relay.Refusal{Name: name, Reason: reason})
		}
	}
	for name := range s.notices {
		if _, ok := notices[name]; !ok {
			delete(s.notices, name)
			changes = append(changes, relay.Refusal{Name: name})
		}
	}
	report := s.report
	s.mu.Unlock()
	if report == nil {
		return
	}
	for _, r := range changes {
		report(ctx, r)
	}
}

// setNotice adds or changes one notice between polls.
func (s *Source) setNotice(ctx context.Context, name, reason string) {
	s.mu.Lock()
	notices := maps.Clone(s.notices)
	s.mu.Unlock()
	notices[name] = reason
	s.setNotices(ctx, notices)
}

// ReportRefusalsTo implements relay.RefusalReporter. Reports are made from
// Next, which polls.
func (s *Source) ReportRefusalsTo(report func(context.Context, relay.Refusal)) {
	s.mu.Lock()
	s.report = report
	known := make([]relay.Refusal, 0, len(s.notices))
	for name, reason := range s.notices {
		known = append(known, relay.Refusal{Name: name, Reason: reason})
	}
	s.mu.Unlock()
	for _, r := range known {
		report(context.Background(), r)
	}
}

// nextReady picks the oldest settled file: seen unchanged by at least two
// listings spanning cfg.SettleTime.
func (s *Source) nextReady(now time.Time) (string, *sighting, bool) {
	var names []string
	for name, sg := range s.seen {
		if !sg.broken && sg.ready && sg.polls >= 2 && now.Sub(sg.since) >= s.cfg.SettleTime {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", nil, false
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(s.seen[a].mtime.Compare(s.seen[b].mtime), strings.Compare(a, b))
	})
	return names[0], s.seen[names[0]], true
}

// wait sleeps until the next poll is due: PollInterval after the last one,
// or sooner when a file seen changing may have settled by then.
func (s *Source) wait(ctx context.Context) error {
	if !s.polled {
		return nil
	}
	at := s.lastPoll.Add(s.cfg.PollInterval)
	for _, sg := range s.seen {
		if due := sg.since.Add(s.cfg.SettleTime); !sg.broken && sg.ready && due.Before(at) {
			at = due
		}
	}
	if due := s.nextMovedDue(); !due.IsZero() && due.Before(at) {
		at = due
	}
	// Never poll in a tight loop, whatever the settings.
	if earliest := s.lastPoll.Add(10 * time.Millisecond); at.Before(earliest) {
		at = earliest
	}
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return relay.ErrSourceClosed
	}
}

func (s *Source) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Source) isInflight(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[name]
}

func (s *Source) release(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, name)
}

// claim downloads a settled file, called name and found at remote, to
// the spool, hashing it on the way, and marks it in flight.
func (s *Source) claim(ctx context.Context, name, remote string, sg *sighting) (*Item, error) {
	inDir := remote == path.Join(s.cfg.Dir, name)
	spool := filepath.Join(s.opts.SpoolDir, name)
	out, err := atomicfile.Create(spool)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	h := sha256.New()
	var n int64
	err = s.conn.do(ctx, func(c *Client) error {
		f, err := c.sftp.OpenFile(remote, os.O_RDONLY)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err = io.Copy(io.MultiWriter(out, h), f)
		return err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("sftp download %s from %s: %w", remote, s.cfg.Addr, err))
	}
	if n != sg.size {
		// Written to since it settled: let it settle again.
		return nil, retry.Temporary(fmt.Errorf("sftp download %s: got %d bytes, listed %d: file still changing", remote, n, sg.size), 0)
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	if inDir {
		delete(s.seen, name)
	}
	s.mu.Lock()
	s.inflight[name] = true
	s.mu.Unlock()
	it := &Item{
		src: s, name: name, remote: remote, spool: spool,
		sum: hex.EncodeToString(h.Sum(nil)), size: n, mtime: sg.mtime,
	}
	if s.opts.ReadyMarker != "" && inDir {
		// (A file collected again from where it was moved left its
		// marker there with the first version.)
		it.marker = remote + s.opts.ReadyMarker
	}
	return it, nil
}

// Item is one file collected by a Source, downloaded to the spool
// directory. It satisfies relay.Item.
type Item struct {
	src    *Source
	name   string
	remote string
	spool  string
	sum    string
	size   int64
	mtime  time.Time
	marker string // remote path of its ready marker; "" for none
	// grew says how it grew after it was moved, if it was collected
	// again for that (from where it was moved: remote).
	grew string

	mu         sync.Mutex // serialises Done and Retake
	remoteDone bool
	done       bool // acknowledged, or retaken
	// movedTo is where Done's move put it (or left it), once it has.
	movedTo string
}

// Name returns the file's base name on the server.
func (it *Item) Name() string { return it.name }

// Size returns the number of bytes downloaded.
func (it *Item) Size() int64 { return it.size }

// ModTime returns the server's modification time, as listed.
func (it *Item) ModTime() time.Time { return it.mtime }

// SHA256 returns the lower-case hex SHA-256 of the downloaded content, for
// deduplicating files collected twice.
func (it *Item) SHA256() string { return it.sum }

// GrewAfterArchive implements relay.RegrownItem: how the file grew after
// it was moved, if that is why it was collected again.
func (it *Item) GrewAfterArchive() string { return it.grew }

// RemotePath returns the file's path on the server.
func (it *Item) RemotePath() string { return it.remote }

// Open opens the spooled copy. It fails after Done has succeeded.
func (it *Item) Open(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return os.Open(it.spool)
}

// Changed stats the remote file again and compares its size and
// modification time with the listing it was collected from: a writer that
// paused for longer than the settle time and resumed changes both.
func (it *Item) Changed(ctx context.Context) (string, error) {
	s := it.src
	var fi os.FileInfo
	err := s.conn.do(ctx, func(c *Client) error {
		var err error
		fi, err = s.stat(c, it.remote)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "gone from the server", nil
	case err != nil:
		return "", classify(fmt.Errorf("sftp stat %s on %s: %w", it.remote, s.cfg.Addr, err))
	case fi.Size() != it.size:
		return fmt.Sprintf("%d bytes when collected, %d now", it.size, fi.Size()), nil
	case !fi.ModTime().Equal(it.mtime):
		return fmt.Sprintf("modified at %s, after it was collected", fi.ModTime().UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}

// Retake implements relay.LiveItem: the spool copy goes, and the file is
// collected again once the listings show it settled.
func (it *Item) Retake(ctx context.Context) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return errors.New("sftp: retake after done")
	}
	if err := os.Remove(it.spool); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove spool copy: %w", err)
	}
	it.done = true
	if it.grew != "" {
		// Not in Dir, where the next poll would find it: looked at where
		// it is, from what was read.
		it.src.watchMoved(it, it.remote)
	}
	it.src.release(it.name)
	return nil
}

// Done archives the remote file according to ack — deleted or moved to
// ProcessedDir when processed, moved to QuarantineDir when quarantined —
// then removes the spool copy. The remote step is retried with backoff a
// bounded number of times within ctx. Done is safe to call again, also after
// a failure: a remote file that is already gone counts as archived.
// Ack.Reports are not uploaded; reports stay with the relay's outbox.
func (it *Item) Done(ctx context.Context, ack relay.Ack) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return nil
	}
	if !it.remoteDone {
		if err := it.src.archive(ctx, it, ack); err != nil {
			return err
		}
		it.remoteDone = true
		if it.grew == "" {
			// Should the server go on listing it, it is left alone.
			it.src.mu.Lock()
			it.src.archived[it.name] = stamp{it.size, it.mtime}
			it.src.mu.Unlock()
		}
		if it.movedTo != "" {
			it.src.watchMoved(it, it.movedTo)
		}
	}
	if err := os.Remove(it.spool); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove spool copy: %w", err)
	}
	it.done = true
	it.src.release(it.name)
	return nil
}

// archive performs the remote step of Done, retrying temporary failures.
func (s *Source) archive(ctx context.Context, it *Item, ack relay.Ack) error {
	var op func(c *Client) error
	switch {
	case ack.Outcome == relay.Processed && s.cfg.AfterSuccess == AfterSuccessDelete:
		op = func(c *Client) error { return s.remove(c, it) }
	case ack.Outcome == relay.Processed:
		op = func(c *Client) error { return s.move(c, it, s.cfg.ProcessedDir) }
	case ack.Outcome == relay.Quarantined:
		// The reason is the relay's to log (without personal data).
		s.log.Warn("sftp quarantining file", "file", it.name)
		op = func(c *Client) error { return s.move(c, it, s.cfg.QuarantineDir) }
	default:
		return retry.Permanent(fmt.Errorf("sftp done %s: unknown outcome %d", it.remote, ack.Outcome))
	}
	if it.marker != "" {
		file := op
		// The marker goes first: should the file's move fail, it stays
		// behind as not ready, never as a marker without its file.
		op = func(c *Client) error {
			if err := s.archiveMarker(c, it, ack); err != nil {
				return fmt.Errorf("ready marker: %w", err)
			}
			return file(c)
		}
	}
	for attempt := 1; ; attempt++ {
		err := classify(s.conn.do(ctx, op))
		if err == nil {
			return nil
		}
		err = fmt.Errorf("sftp %s %s on %s: %w", ack.Outcome, it.remote, s.cfg.Addr, err)
		if ctx.Err() != nil || !retry.IsRetryable(err) || attempt >= s.opts.DoneAttempts {
			return err
		}
		s.log.Warn("sftp archive failed; retrying", "file", it.name, "attempt", attempt, "err", err)
		t := time.NewTimer(s.opts.DoneBackoff.Delay(attempt, retry.After(err)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// stat returns the remote file's attributes: by STAT, or from a listing
// of its folder on servers that refuse STAT (NoStat).
func (s *Source) stat(c *Client, p string) (os.FileInfo, error) {
	if !s.cfg.NoStat {
		return c.sftp.Lstat(p)
	}
	infos, err := c.sftp.ReadDir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	for _, fi := range infos {
		if fi.Name() == path.Base(p) {
			return fi, nil
		}
	}
	return nil, fs.ErrNotExist
}

// stillThere stats the remote file again, just before it is moved or
// removed, and reports whether the path still holds the item's file. A
// file that is gone was archived by an earlier attempt whose reply was
// lost; one with a different size or mtime changed after it was collected
// (a writer still at work, or a new drop under the same name), and is left
// for the next poll to collect again.
func (s *Source) stillThere(c *Client, it *Item) (bool, error) {
	fi, err := s.stat(c, it.remote)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	if fi.Size() != it.size || !fi.ModTime().Equal(it.mtime) {
		s.log.Warn("sftp file changed after it was recorded; left on the server to be collected again",
			"file", it.name, "size", fi.Size(), "was", it.size)
		return false, nil
	}
	return true, nil
}

// archiveMarker moves (or, where processed files are deleted, removes) the
// item's ready marker to where its file goes.
func (s *Source) archiveMarker(c *Client, it *Item, ack relay.Ack) error {
	if _, err := s.stat(c, it.marker); errors.Is(err, fs.ErrNotExist) {
		return nil // archived by an earlier attempt
	} else if err != nil {
		return err
	}
	if ack.Outcome == relay.Processed && s.cfg.AfterSuccess == AfterSuccessDelete {
		if err := c.sftp.Remove(it.marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	dir := s.cfg.ProcessedDir
	if ack.Outcome == relay.Quarantined {
		dir = s.cfg.QuarantineDir
	}
	if err := c.sftp.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	dst := path.Join(dir, path.Base(it.marker))
	if s.cfg.NoRename {
		// A marker's content means nothing: a new empty one will do.
		f, err := c.sftp.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("create %s: %w", dst, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := c.sftp.Remove(it.marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return publish(c.sftp, it.marker, dst)
}

func (s *Source) remove(c *Client, it *Item) error {
	if ok, err := s.stillThere(c, it); !ok || err != nil {
		return err
	}
	if err := c.sftp.Remove(it.remote); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// move puts the remote file into dir under its own name or, if that is
// taken by an earlier file, under its name tagged with its content hash,
// so that archives are never overwritten by a different file.
func (s *Source) move(c *Client, it *Item, dir string) error {
	if path.Dir(it.remote) == path.Clean(dir) {
		// Collected again from there, since it grew after it was moved:
		// it stays, and is looked at again from what was recorded (had
		// it changed since, stillThere says so and the next look sees
		// it grown).
		it.movedTo = it.remote
		_, err := s.stillThere(c, it)
		return err
	}
	if ok, err := s.stillThere(c, it); !ok || err != nil {
		return err
	}
	if err := c.sftp.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	dst := path.Join(dir, it.name)
	if _, err := c.sftp.Lstat(dst); err == nil {
		ext := path.Ext(it.name)
		dst = path.Join(dir, strings.TrimSuffix(it.name, ext)+"."+it.sum[:12]+ext)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s.cfg.NoRename {
		// The copy is a new file: a writer of the original cannot be
		// followed into it.
		return s.copyThenRemove(c, it, dst)
	}
	if err := publish(c.sftp, it.remote, dst); err != nil {
		if ok, lerr := s.stillThere(c, it); lerr == nil && !ok {
			it.movedTo = dst
			return nil // moved after all; the reply was lost
		}
		return err
	}
	it.movedTo = dst
	return nil
}

// copyThenRemove archives on servers that refuse rename: it uploads the
// spooled copy (identical, by hash) to dst and then deletes the original.
// A failure between the two steps leaves both; the retry then writes a
// second, hash-named archive copy rather than lose anything.
func (s *Source) copyThenRemove(c *Client, it *Item, dst string) error {
	in, err := os.Open(it.spool)
	if err != nil {
		return retry.Permanent(fmt.Errorf("open spool copy: %w", err))
	}
	defer in.Close()
	out, err := c.sftp.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != it.size {
		err = fmt.Errorf("copied %d bytes, want %d", n, it.size)
	}
	if err != nil {
		c.sftp.Remove(dst)
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := c.sftp.Remove(it.remote); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s after copying: %w", it.remote, err)
	}
	return nil
}
