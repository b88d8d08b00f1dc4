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
	_ relay.Source = (*Source)(nil)
	_ relay.Item   = (*Item)(nil)
	_ relay.Sink   = (*Sink)(nil)
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
}

// Source polls cfg.Dir and yields files whose size and modification time
// have stayed the same for cfg.SettleTime, downloaded to the spool
// directory. It satisfies relay.Source.
//
// Claims live in memory: after a restart, files not yet archived are
// collected again (at-least-once), so downstream must deduplicate, for
// example on Item.SHA256. A file whose item is never acknowledged is not
// collected again until the process restarts.
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
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("sftp source: create spool directory: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DoneAttempts <= 0 {
		opts.DoneAttempts = 5
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
	}, nil
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
		if name, sg, ok := s.nextReady(time.Now()); ok {
			it, err := s.claim(ctx, name, sg)
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
				sg.broken = true
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
	present := make(map[string]bool, len(infos))
	for _, fi := range infos {
		name := fi.Name()
		if !fi.Mode().IsRegular() || ignored(name) || checkName(name) != nil || s.isInflight(name) {
			continue
		}
		if ok, _ := path.Match(s.cfg.Pattern, name); !ok {
			continue
		}
		present[name] = true
		sg := s.seen[name]
		if sg == nil || sg.size != fi.Size() || !sg.mtime.Equal(fi.ModTime()) {
			// New or changed: the settle clock starts now, whatever the
			// mtime says, so files copied in with old mtimes still settle.
			s.seen[name] = &sighting{size: fi.Size(), mtime: fi.ModTime(), since: now, polls: 1}
			continue
		}
		sg.polls++
	}
	for name := range s.seen {
		if !present[name] {
			delete(s.seen, name)
		}
	}
	return nil
}

// nextReady picks the oldest settled file: seen unchanged by at least two
// listings spanning cfg.SettleTime.
func (s *Source) nextReady(now time.Time) (string, *sighting, bool) {
	var names []string
	for name, sg := range s.seen {
		if !sg.broken && sg.polls >= 2 && now.Sub(sg.since) >= s.cfg.SettleTime {
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
		if due := sg.since.Add(s.cfg.SettleTime); !sg.broken && due.Before(at) {
			at = due
		}
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

// claim downloads a settled file to the spool, hashing it on the way, and
// marks it in flight.
func (s *Source) claim(ctx context.Context, name string, sg *sighting) (*Item, error) {
	remote := path.Join(s.cfg.Dir, name)
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
	delete(s.seen, name)
	s.mu.Lock()
	s.inflight[name] = true
	s.mu.Unlock()
	return &Item{
		src: s, name: name, remote: remote, spool: spool,
		sum: hex.EncodeToString(h.Sum(nil)), size: n, mtime: sg.mtime,
	}, nil
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

	mu         sync.Mutex // serialises Done
	remoteDone bool
	done       bool
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

// RemotePath returns the file's path on the server.
func (it *Item) RemotePath() string { return it.remote }

// Open opens the spooled copy. It fails after Done has succeeded.
func (it *Item) Open(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return os.Open(it.spool)
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

// stillThere reports whether the remote path still holds the item's file.
// A file that is gone was archived by an earlier attempt whose reply was
// lost; one with a different size or mtime is a new drop under the same
// name, which must be left for the next poll.
func stillThere(c *Client, it *Item) (bool, error) {
	fi, err := c.sftp.Lstat(it.remote)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return fi.Size() == it.size && fi.ModTime().Equal(it.mtime), nil
}

func (s *Source) remove(c *Client, it *Item) error {
	if ok, err := stillThere(c, it); !ok || err != nil {
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
	if ok, err := stillThere(c, it); !ok || err != nil {
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
	var err error
	if s.cfg.NoRename {
		err = s.copyThenRemove(c, it, dst)
	} else {
		err = publish(c.sftp, it.remote, dst)
	}
	if err != nil {
		if ok, lerr := stillThere(c, it); lerr == nil && !ok {
			return nil // moved after all; the reply was lost
		}
		return err
	}
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
