package relay_test

import (
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
// of them between its chunks, holding the file open, and the conversion
// takes a few milliseconds.
const (
	localSettle = 100 * time.Millisecond
	sftpSettle  = 150 * time.Millisecond
)

// slowWriter writes a file under its final name in chunks, pausing
// between them, as a database query streaming rows does.
type slowWriter struct {
	done chan error // the writer goroutine's result
}

// writeSlowly starts writing chunks into path, pausing for pause after
// each but the last, and then calls after (to write a ready marker), if
// set. The test must receive from w.done.
func writeSlowly(path string, chunks []string, pause time.Duration, after func() error) *slowWriter {
	w := &slowWriter{done: make(chan error, 1)}
	go func() {
		w.done <- func() error {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			for i, c := range chunks {
				if _, err := f.WriteString(c); err != nil {
					return err
				}
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

// chunks are the slow writer's rows, and whole the file they make.
var chunks = []string{
	"10000001,2026-04-01,7.5\n",
	"10000002,2026-04-01,8\n10000003,2026-04-01,6\n",
	"10000004,2026-04-01,6.5\n10000005,2026-04-01,9\n",
}

// wantWhole checks that what the hub sent is what the processor makes of
// the whole file, exactly once: the outbox holds the records file of the
// whole file, and the receiver accepted each of its records, each posted
// once. It returns the status then.
func (e *env) wantWhole(name string) *relay.Status {
	t := e.t
	t.Helper()
	whole := strings.Join(chunks, "")
	base := strings.TrimSuffix(name, filepath.Ext(name))
	outboxFile := filepath.Join(e.outDir, base+".jobplans.jsonl")
	want, err := (&csvProcessor{}).Process(t.Context(), relay.Input{Name: name, Content: strings.NewReader(whole), Size: int64(len(whole))}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wantRecords := read(t, want.Records)
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(outboxFile) && read(t, outboxFile) == wantRecords && e.dest("esr").Delivered == len(want.Plans) && e.status().Idle
	}, "%s staged and delivered; status %+v", name, e.status())

	var wantRecs []string
	for _, p := range want.Plans {
		wantRecs = append(wantRecs, p.AssignmentNumber+"@"+p.EffectiveDate)
	}
	slices.Sort(wantRecs)
	if got := e.recv.bodies(); !slices.Equal(got, wantRecs) {
		t.Errorf("receiver accepted %v, want %v", got, wantRecs)
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
	s := e.status()
	if s.Files[ledger.FileClaimed] != 0 || s.Files[ledger.FileQuarantined] != 0 {
		t.Errorf("files %v, want no claim left and none quarantined", s.Files)
	}
	return s
}

// wantTakenOnce checks that the file was converted, recorded and put in
// the outbox once.
func (e *env) wantTakenOnce(s *relay.Status) {
	e.t.Helper()
	if n := e.proc.calls.Load(); n != 1 {
		e.t.Errorf("%d conversions, want one", n)
	}
	if s.Files[ledger.FileProcessed] != 1 || len(s.Notes) != 0 {
		e.t.Errorf("files %v, notes %v; want the one file processed once", s.Files, s.Notes)
	}
	if d := e.dest("outbox"); d.Delivered != 1 {
		e.t.Errorf("outbox deliveries %+v, want one file", d)
	}
}

// wantTakenAgain checks that the file was taken again after it grew, and
// that status says so.
func (e *env) wantTakenAgain(s *relay.Status, name string) {
	e.t.Helper()
	n := s.Files[ledger.FileProcessed]
	if n < 2 || int(e.proc.calls.Load()) != n {
		e.t.Errorf("files %v after %d conversions; want the parts and the whole file processed", s.Files, e.proc.calls.Load())
	}
	if len(s.Notes) != n-1 {
		e.t.Fatalf("notes %+v, want one for each time it was taken again", s.Notes)
	}
	for _, note := range s.Notes {
		if note.Name != name || note.State != ledger.FileProcessed || !strings.Contains(note.Note, "taken again: it grew after it was archived") {
			e.t.Errorf("note %+v", note)
		}
	}
}

// TestLocalFileWrittenSlowlyIsSentWhole: a supplier writes a.csv under
// its final name, pausing for three settle times between chunks with the
// file open. The hub takes it only once its writer has closed it, and
// converts it once.
func TestLocalFileWrittenSlowlyIsSentWhole(t *testing.T) {
	e := newEnv(t)
	e.settle = localSettle
	e.start()
	w := writeSlowly(filepath.Join(e.drop, "a.csv"), chunks, 3*localSettle, nil)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	e.wantTakenOnce(e.wantWhole("a.csv"))
	if got := names(t, filepath.Join(e.drop, localdir.ArchiveDir)); !slices.Contains(got, "a.csv") {
		t.Errorf("archive holds %v", got)
	}
}

// TestLocalFileWrittenSlowlyUnseenIsTakenAgain: the same writer where the
// hub cannot see it (PollOnly, as for a network share): the file is taken
// at each pause, and each time the archived file grows it is taken again;
// every record is sent once, and status notes the files taken again.
func TestLocalFileWrittenSlowlyUnseenIsTakenAgain(t *testing.T) {
	e := newEnv(t)
	e.settle, e.pollOnly = localSettle, true
	e.start()
	w := writeSlowly(filepath.Join(e.drop, "a.csv"), chunks, 3*localSettle, nil)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	e.wantTakenAgain(e.wantWhole("a.csv"), `"a.csv"`)
	if got := names(t, filepath.Join(e.drop, localdir.ArchiveDir)); !slices.Equal(got, []string{"a.csv", "a.csv.a.report.html", "a.csv.a.report.json"}) {
		t.Errorf("archive holds %v, want the file and its last reports", got)
	}
}

// TestLocalFileWithReadyMarkerIsTakenWhole: the same writer with a ready
// marker written last: taken once, whole, however long it pauses.
func TestLocalFileWithReadyMarkerIsTakenWhole(t *testing.T) {
	e := newEnv(t)
	e.marker = ".done"
	e.settle = localSettle
	e.start()
	path := filepath.Join(e.drop, "a.csv")
	w := writeSlowly(path, chunks, 3*localSettle, func() error { return os.WriteFile(path+".done", nil, 0o644) })
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	e.wantTakenOnce(e.wantWhole("a.csv"))
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

// TestSFTPFileWrittenSlowlyIsSentWhole: a writer on the server pauses
// for three settle times between chunks with the file open. Nothing says
// the server's file is open: it is collected and moved at each pause, and
// each time the moved file grows it is collected again from
// processed/; every record is sent once, and status notes the files
// collected again.
func TestSFTPFileWrittenSlowlyIsSentWhole(t *testing.T) {
	sftpBackends(t, func(t *testing.T, opts sftptest.Options) {
		e, srv, src := sftpEnv(t, opts, "")
		e.startWith(src)
		w := writeSlowly(srv.Path("inbox", "a.csv"), chunks, 3*sftpSettle, nil)
		if err := <-w.done; err != nil {
			t.Fatal(err)
		}
		e.wantTakenAgain(e.wantWhole("a.csv"), `"a.csv"`)
		if got := names(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"a.csv"}) {
			t.Errorf("processed/ holds %v", got)
		}
		if got := names(t, srv.Path("inbox")); !slices.Equal(got, []string{"processed"}) {
			t.Errorf("inbox holds %v", got)
		}
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
		e.wantTakenOnce(e.wantWhole("a.csv"))
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
