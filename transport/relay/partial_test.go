package relay_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// Settle times of the sources in these tests; the writer pauses for three
// of them between its chunks.
const (
	localSettle = 20 * time.Millisecond
	sftpSettle  = 30 * time.Millisecond
)

// slowWriter writes a file under its final name in chunks, pausing
// between them, as a database query streaming rows does.
type slowWriter struct {
	mu       sync.Mutex
	writes   int
	finished bool
	progress chan struct{} // closed and replaced after every write
	done     chan error    // the writer goroutine's result
}

// writeSlowly starts writing chunks into path, pausing for pause after
// each but the last, and then calls after (to write a ready marker), if
// set. The test must receive from w.done.
func writeSlowly(path string, chunks []string, pause time.Duration, after func() error) *slowWriter {
	w := &slowWriter{progress: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		w.done <- func() error {
			defer w.advance(true)
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			for i, c := range chunks {
				if _, err := f.WriteString(c); err != nil {
					return err
				}
				w.advance(false)
				if i < len(chunks)-1 {
					time.Sleep(pause) // a pause on purpose, not a wait for an event
				}
			}
			if err := f.Close(); err != nil {
				return err
			}
			if after != nil {
				return after()
			}
			return nil
		}()
	}()
	return w
}

func (w *slowWriter) advance(finished bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if finished {
		w.finished = true
	} else {
		w.writes++
	}
	close(w.progress)
	w.progress = make(chan struct{})
}

// waitForMore returns once the writer has written after the moment it is
// called, or has finished.
func (w *slowWriter) waitForMore(ctx context.Context) {
	w.mu.Lock()
	since := w.writes
	w.mu.Unlock()
	for {
		w.mu.Lock()
		more, ch := w.writes > since || w.finished, w.progress
		w.mu.Unlock()
		if more {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// slowConversion is a processor that takes longer than the writer's
// pauses: it starts converting only once the writer has written again.
type slowConversion struct {
	relay.Processor
	w *slowWriter
}

func (p slowConversion) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	p.w.waitForMore(ctx)
	return p.Processor.Process(ctx, in, dir)
}

// chunks are the slow writer's rows, and whole the file they make.
var chunks = []string{
	"10000001,2026-04-01,7.5\n10000002,2026-04-01,8\n",
	"10000003,2026-04-01,6\n10000004,2026-04-01,6.5\n",
	"10000005,2026-04-01,9\n",
}

// wantWhole checks that what the hub staged is what the processor makes
// of the whole file, exactly once: the outbox file and the records the
// receiver accepted, each posted once, from one processed file.
func (e *env) wantWhole(name string) {
	t := e.t
	t.Helper()
	whole := strings.Join(chunks, "")
	base := strings.TrimSuffix(name, filepath.Ext(name))
	outboxFile := filepath.Join(e.outDir, base+".jobplans.jsonl")
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(outboxFile) && e.dest("esr").Delivered == len(chunks)*2-1 && e.status().Idle
	}, "%s staged and delivered; status %+v", name, e.status())

	want, err := (&csvProcessor{}).Process(t.Context(), relay.Input{Name: name, Content: strings.NewReader(whole), Size: int64(len(whole))}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, outboxFile), read(t, want.Records); got != want {
		t.Errorf("outbox file:\n%s\nwant what the whole file converts to:\n%s", got, want)
	}
	var wantRecs []string
	for _, line := range strings.Split(strings.TrimSpace(whole), "\n") {
		f := strings.Split(line, ",")
		wantRecs = append(wantRecs, f[0]+"@"+f[1])
	}
	if got := e.recv.bodies(); !slices.Equal(got, wantRecs) {
		t.Errorf("receiver accepted %v, want %v", got, wantRecs)
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
	s := e.status()
	if s.Files[ledger.FileProcessed] != 1 || s.Files[ledger.FileClaimed] != 0 || s.Files[ledger.FileQuarantined] != 0 {
		t.Errorf("files %v, want the one file processed once and no claim left", s.Files)
	}
	if d := e.dest("outbox"); d.Delivered != 1 {
		t.Errorf("outbox deliveries %+v, want one file", d)
	}
}

// TestLocalFileWrittenSlowlyIsSentWhole: a supplier writes a.csv under
// its final name, pausing for three settle times between chunks, and the
// conversion of each part it sees outlasts the pause. Each part is taken,
// converted and thrown away when the check before the ledger finds the
// file changed (through the descriptor the writer keeps, in work/); only
// the whole file is recorded and sent.
func TestLocalFileWrittenSlowlyIsSentWhole(t *testing.T) {
	e := newEnv(t)
	w := writeSlowly(filepath.Join(e.drop, "a.csv"), chunks, 3*localSettle, nil)
	e.wrapProc = func(p relay.Processor) relay.Processor { return slowConversion{p, w} }
	e.start()
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	e.wantWhole("a.csv")
	if n := e.proc.calls.Load(); n < 2 {
		t.Errorf("%d conversions, want the parts thrown away and the whole file converted", n)
	}
	if got := names(t, filepath.Join(e.drop, localdir.ArchiveDir)); !slices.Contains(got, "a.csv") {
		t.Errorf("archive holds %v", got)
	}
}

// TestLocalFileWithReadyMarkerIsTakenWhole: the same writer with a ready
// marker written last: taken once, whole, however long it pauses.
func TestLocalFileWithReadyMarkerIsTakenWhole(t *testing.T) {
	e := newEnv(t)
	e.marker = ".done"
	e.start()
	path := filepath.Join(e.drop, "a.csv")
	w := writeSlowly(path, chunks, 3*localSettle, func() error { return os.WriteFile(path+".done", nil, 0o644) })
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	e.wantWhole("a.csv")
	if n := e.proc.calls.Load(); n != 1 {
		t.Errorf("%d conversions, want one", n)
	}
	archived := names(t, filepath.Join(e.drop, localdir.ArchiveDir))
	if !slices.Contains(archived, "a.csv") || !slices.Contains(archived, "a.csv.done") {
		t.Errorf("archive holds %v, want a.csv and its marker", archived)
	}
}

// sftpEnv is an env whose source is an SFTP server's inbox.
func sftpEnv(t *testing.T, opts sftptest.Options, marker string) (*env, *sftptest.Server, relay.Source) {
	if opts.Password == "" {
		opts.Password = "pw"
	}
	srv := sftptest.Start(t, opts)
	if err := os.MkdirAll(srv.Path("inbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	src, err := sftp.NewSource(sftp.Config{
		Addr: srv.Addr, User: srv.User, Password: opts.Password, HostKeyFingerprints: sftp.Fingerprints{srv.Fingerprint}, Dir: "inbox",
		SettleTime: sftpSettle, PollInterval: 20 * time.Millisecond,
	}, sftp.SourceOptions{SpoolDir: filepath.Join(e.state, "spool"), Logger: quiet, ReadyMarker: marker})
	if err != nil {
		t.Fatal(err)
	}
	return e, srv, src
}

func sftpBackends(t *testing.T, f func(t *testing.T, opts sftptest.Options)) {
	t.Run("in-process", func(t *testing.T) { f(t, sftptest.Options{}) })
	t.Run("openssh", func(t *testing.T) { f(t, sftptest.Options{ServerBinary: sftptest.RequireServerBinary(t)}) })
}

func TestSFTPFileWrittenSlowlyIsSentWhole(t *testing.T) {
	sftpBackends(t, func(t *testing.T, opts sftptest.Options) {
		e, srv, src := sftpEnv(t, opts, "")
		w := writeSlowly(srv.Path("inbox", "a.csv"), chunks, 3*sftpSettle, nil)
		e.wrapProc = func(p relay.Processor) relay.Processor { return slowConversion{p, w} }
		e.startWith(src)
		if err := <-w.done; err != nil {
			t.Fatal(err)
		}
		e.wantWhole("a.csv")
		if n := e.proc.calls.Load(); n < 2 {
			t.Errorf("%d conversions, want the parts thrown away and the whole file converted", n)
		}
		transporttest.Eventually(t, waitLimit, func() bool { return exists(srv.Path("inbox", "processed", "a.csv")) }, "a.csv archived")
	})
}

func TestSFTPFileWithReadyMarkerIsTakenWhole(t *testing.T) {
	sftpBackends(t, func(t *testing.T, opts sftptest.Options) {
		e, srv, src := sftpEnv(t, opts, ".done")
		e.startWith(src)
		path := srv.Path("inbox", "a.csv")
		w := writeSlowly(path, chunks, 3*sftpSettle, func() error { return os.WriteFile(path+".done", nil, 0o644) })
		if err := <-w.done; err != nil {
			t.Fatal(err)
		}
		e.wantWhole("a.csv")
		if n := e.proc.calls.Load(); n != 1 {
			t.Errorf("%d conversions, want one", n)
		}
		transporttest.Eventually(t, waitLimit, func() bool {
			return exists(srv.Path("inbox", "processed", "a.csv")) && exists(srv.Path("inbox", "processed", "a.csv.done"))
		}, "a.csv and its marker archived: inbox %v", names(t, srv.Path("inbox")))
	})
}

// TestSFTPFileStillListedAfterItWasArchived: a server that answers the
// move with success but goes on listing and serving the file. The hub
// quarantines it once, not on every poll; after a restart the ledger
// recognises it (name, size, time, content) and archives it without
// converting it again.
func TestSFTPFileStillListedAfterItWasArchived(t *testing.T) {
	sftpBackends(t, func(t *testing.T, opts sftptest.Options) {
		e, srv, src := sftpEnv(t, opts, "")
		srv.SetKeepListing(true)
		if err := os.WriteFile(srv.Path("inbox", "bad.csv"), []byte("10000001,2026-04-01,7.5\nBROKEN\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.startWith(src)
		transporttest.Eventually(t, waitLimit, func() bool {
			return exists(srv.Path("inbox", "quarantine", "bad.csv")) && len(e.status().Refused) == 1
		}, "bad.csv quarantined and reported as still listed; status %+v", e.status())
		listed := srv.Listings()
		transporttest.Eventually(t, waitLimit, func() bool { return srv.Listings() >= listed+10 }, "10 more listings")
		if n := srv.Opens("inbox/bad.csv"); n != 1 {
			t.Errorf("bad.csv downloaded %d times, want once", n)
		}
		if n := e.proc.calls.Load(); n != 1 {
			t.Errorf("%d conversions, want one", n)
		}
		r := e.status().Refused[0]
		if r.Source != "drop" || r.Name != `"bad.csv"` || !strings.Contains(r.Reason, "still listed") {
			t.Errorf("refused %+v", r)
		}

		// A restart forgets what the source saw; the ledger still knows.
		e.stop()
		e2 := &env{t: t, drop: e.drop, state: e.state, outDir: e.outDir, ledger: e.ledger, recv: e.recv, proc: e.proc}
		src2, err := sftp.NewSource(sftp.Config{
			Addr: srv.Addr, User: srv.User, Password: "pw", HostKeyFingerprints: sftp.Fingerprints{srv.Fingerprint}, Dir: "inbox",
			SettleTime: sftpSettle, PollInterval: 20 * time.Millisecond,
		}, sftp.SourceOptions{SpoolDir: filepath.Join(e.state, "spool"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		e2.startWith(src2)
		transporttest.Eventually(t, waitLimit, func() bool { return srv.Opens("inbox/bad.csv") == 2 && len(e2.status().Refused) == 1 },
			"bad.csv looked at again after the restart and left alone")
		listed = srv.Listings()
		transporttest.Eventually(t, waitLimit, func() bool { return srv.Listings() >= listed+10 }, "10 more listings")
		if n := srv.Opens("inbox/bad.csv"); n != 2 {
			t.Errorf("bad.csv downloaded %d times, want twice (once per run)", n)
		}
		if n := e.proc.calls.Load(); n != 1 {
			t.Errorf("%d conversions, want one", n)
		}
		if s := e2.status(); s.Files[ledger.FileQuarantined] != 1 || s.Files[ledger.FileClaimed] != 0 {
			t.Errorf("files %v, want one quarantined", s.Files)
		}
		if got := names(t, srv.Path("inbox", "quarantine")); len(got) > 2 {
			t.Errorf("quarantine holds %v", got)
		}
	})
}

// lockedBuffer is a log sink for the hub.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHostileNameShowsOnStatusOnce: a file whose name cannot be taken is
// left in the drop folder, shown on status with its reason, and logged
// once however many scans see it.
func TestHostileNameShowsOnStatusOnce(t *testing.T) {
	e := newEnv(t)
	var log lockedBuffer
	e.logger = slog.New(slog.NewTextHandler(&log, nil))
	bad := filepath.Join(e.drop, "plan\x1b[2J\n.csv")
	if err := os.WriteFile(bad, []byte(planA), 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return e.status().Files[ledger.FileProcessed] == 1 && len(e.status().Refused) == 1
	}, "a.csv processed and the other file shown as left alone; status %+v", e.status())
	scans := e.scans.Load()
	transporttest.Eventually(t, waitLimit, func() bool { return e.scans.Load() >= scans+10 }, "10 more scans")
	r := e.status().Refused
	if len(r) != 1 || r[0].Name != `"plan\x1b[2J\n.csv"` || !strings.Contains(r[0].Reason, "control character U+001B") {
		t.Errorf("refused %+v", r)
	}
	if n := strings.Count(log.String(), "file left alone"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, log.String())
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the file is no longer in the drop folder: %v", err)
	}
	if n := e.proc.calls.Load(); n != 1 {
		t.Errorf("%d conversions, want one (a.csv)", n)
	}
}
