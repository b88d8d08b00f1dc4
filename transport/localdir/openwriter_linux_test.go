//go:build linux

package localdir

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

const testSettle = 100 * time.Millisecond

// sourceTest is a Source over a fresh folder, with what it reports of
// the files it leaves alone and a count of its scans.
type sourceTest struct {
	t   *testing.T
	dir string
	s   *Source

	scans   atomic.Int64
	mu      sync.Mutex
	notices map[string]string
}

func newSourceTest(t *testing.T, opts Options) *sourceTest {
	t.Helper()
	st := &sourceTest{t: t, dir: t.TempDir(), notices: map[string]string{}}
	opts.Dir = st.dir
	if opts.SettleTime == 0 {
		opts.SettleTime = testSettle
	}
	opts.OnScan = func(error) { st.scans.Add(1) }
	return st.start(opts)
}

func (st *sourceTest) start(opts Options) *sourceTest {
	s, err := New(st.t.Context(), opts)
	if err != nil {
		st.t.Fatal(err)
	}
	st.t.Cleanup(func() { s.Close() })
	s.ReportRefusalsTo(func(_ context.Context, r relay.Refusal) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if r.Reason == "" {
			delete(st.notices, r.Name)
		} else {
			st.notices[r.Name] = r.Reason
		}
	})
	st.s = s
	return st
}

func (st *sourceTest) notice(name string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.notices[name]
}

func (st *sourceTest) next() *Item {
	st.t.Helper()
	ctx, cancel := context.WithTimeout(st.t.Context(), testutil.Wait)
	defer cancel()
	it, err := st.s.Next(ctx)
	if err != nil {
		st.t.Fatalf("Next: %v", err)
	}
	return it.(*Item)
}

// nothingFor checks that Next hands out nothing while the source scans
// the folder n more times.
func (st *sourceTest) nothingFor(n int64) {
	st.t.Helper()
	ctx, cancel := context.WithCancel(st.t.Context())
	defer cancel()
	got := make(chan relay.Item, 1)
	go func() {
		it, err := st.s.Next(ctx)
		if err == nil {
			got <- it
		}
		close(got)
	}()
	scans := st.scans.Load()
	testutil.Eventually(st.t, "more scans", func() bool {
		select {
		case it := <-got:
			if it != nil {
				st.t.Fatalf("handed out %s", it.Name())
			}
		default:
		}
		return st.scans.Load() >= scans+n
	})
	cancel()
	if it := <-got; it != nil {
		st.t.Fatalf("handed out %s", it.Name())
	}
}

// slowExport is a writer that creates the file, writes its header and a
// row, and holds it open.
func slowExport(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString("assignment,date,dcc\n10000001,2026-04-01,7.5\n"); err != nil {
		t.Fatal(err)
	}
	return f
}

const rest = "10000002,2026-04-01,8\n10000003,2026-04-01,6\n"

// TestSourceTakesAFileOnlyOnceItsWriterClosesIt: a writer that pauses
// for much longer than the settle time with the file open: the file stays
// in the folder (and shows as held, with why), and is taken whole once
// the writer has closed it. By a lease, and by the events alone.
func TestSourceTakesAFileOnlyOnceItsWriterClosesIt(t *testing.T) {
	for _, leases := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "leases"}[leases], func(t *testing.T) {
			st := newSourceTest(t, Options{noLeases: !leases, RescanInterval: 50 * time.Millisecond})
			path := filepath.Join(st.dir, "a.csv")
			f := slowExport(t, path)
			testutil.Eventually(t, "a.csv shown as held open", func() bool {
				return strings.Contains(st.notice("a.csv"), "writer")
			})
			time.Sleep(3 * testSettle) // the writer's pause, on purpose
			st.nothingFor(1)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("taken while its writer held it open: %v", err)
			}
			if _, err := f.WriteString(rest); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			it := st.next()
			if got, want := testutil.ReadFile(t, it.Path()), "assignment,date,dcc\n10000001,2026-04-01,7.5\n"+rest; got != want {
				t.Errorf("taken:\n%s\nwant the whole file:\n%s", got, want)
			}
			testutil.Eventually(t, "the notice withdrawn", func() bool { return st.notice("a.csv") == "" })
		})
	}
}

// TestSourceFileOpenBeforeItStarted: the hub starts while a writer is
// paused in a file it opened before. A lease sees the writer; the events
// saw nothing, and the settle time decides (the archived file is then
// watched: TestArchivedFileThatGrowsIsTakenAgain).
func TestSourceFileOpenBeforeItStarted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.csv")
	f := slowExport(t, path)

	st := &sourceTest{t: t, dir: dir, notices: map[string]string{}}
	st.start(Options{Dir: dir, SettleTime: testSettle, OnScan: func(error) { st.scans.Add(1) }})
	testutil.Eventually(t, "a.csv shown as held open", func() bool {
		return strings.Contains(st.notice("a.csv"), "open for writing by another process")
	})
	f.Close()
	if it := st.next(); it.Size() == 0 {
		t.Error("empty")
	}
}

// TestArchivedFileThatGrowsIsTakenAgain: a file taken while a writer the
// hub could not see still held it (the writer opened it before the hub
// started, and the hub may not lease it; or the folder is polled only)
// is archived; the writer writes on into the archived file and closes it.
// The file is moved back into work/ and handed out again, whole, saying
// how it grew; what was archived beside it goes; archived again, it gets
// its new reports.
func TestArchivedFileThatGrowsIsTakenAgain(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "poll-only"}[pollOnly], func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.csv")
			f := slowExport(t, path)
			st := &sourceTest{t: t, dir: dir, notices: map[string]string{}}
			st.start(Options{Dir: dir, SettleTime: testSettle, RescanInterval: 50 * time.Millisecond, PollOnly: pollOnly, noLeases: true,
				OnScan: func(error) { st.scans.Add(1) }})

			first := st.next()
			report := filepath.Join(t.TempDir(), "a.report.json")
			testutil.WriteFile(t, report, `{"v":1}`)
			if err := first.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{report}}); err != nil {
				t.Fatal(err)
			}
			archived := filepath.Join(dir, ArchiveDir, "a.csv")
			if !testutil.Exists(archived) || !testutil.Exists(archived+".a.report.json") {
				t.Fatalf("archive holds %v", testutil.Names(t, filepath.Join(dir, ArchiveDir)))
			}
			if _, err := f.WriteString(rest); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			again := st.next()
			whole := "assignment,date,dcc\n10000001,2026-04-01,7.5\n" + rest
			if got := testutil.ReadFile(t, again.Path()); again.Name() != "a.csv" || got != whole {
				t.Errorf("taken again: %s:\n%s\nwant a.csv, whole:\n%s", again.Name(), got, whole)
			}
			if g := again.GrewAfterArchive(); !strings.Contains(g, "44 bytes when archived") || !strings.Contains(g, "88 when taken again") {
				t.Errorf("GrewAfterArchive %q", g)
			}
			if got := testutil.Names(t, filepath.Join(dir, ArchiveDir)); len(got) != 0 {
				t.Errorf("archive holds %v while the file is taken again", got)
			}
			if change, err := again.Changed(t.Context()); err != nil || change != "" {
				t.Errorf("Changed: %q, %v", change, err)
			}
			testutil.WriteFile(t, report, `{"v":2}`)
			if err := again.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{report}}); err != nil {
				t.Fatal(err)
			}
			if got := testutil.ReadFile(t, archived+".a.report.json"); got != `{"v":2}` || testutil.ReadFile(t, archived) != whole {
				t.Errorf("archived again: report %s", got)
			}
			// Nothing grows now: nothing more is taken.
			st.nothingFor(3)
		})
	}
}

// TestQuarantinedFileThatGrowsIsTakenAgain: a file cut by its writer's
// pause may fail as a whole; when it grows in quarantine/ it is taken
// again, and its reason goes.
func TestQuarantinedFileThatGrowsIsTakenAgain(t *testing.T) {
	st := newSourceTest(t, Options{PollOnly: true, RescanInterval: 50 * time.Millisecond})
	path := filepath.Join(st.dir, "a.csv")
	f := slowExport(t, path)
	it := st.next()
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Quarantined, Reason: "cut short"}); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(st.dir, QuarantineDir)
	if got := testutil.Names(t, q); !slices.Equal(got, []string{"a.csv", "a.csv.reason.txt"}) {
		t.Fatalf("quarantine holds %v", got)
	}
	if _, err := f.WriteString(rest); err != nil {
		t.Fatal(err)
	}
	again := st.next()
	if again.GrewAfterArchive() == "" || again.Size() != 88 {
		t.Errorf("taken again: %d bytes, %q", again.Size(), again.GrewAfterArchive())
	}
	if got := testutil.Names(t, q); len(got) != 0 {
		t.Errorf("quarantine holds %v", got)
	}
}

// TestArchivedFileIsWatchedForAWhileOnly: once WatchAfterArchive has
// passed, an archived file is no longer looked at.
func TestArchivedFileIsWatchedForAWhileOnly(t *testing.T) {
	st := newSourceTest(t, Options{PollOnly: true, RescanInterval: 20 * time.Millisecond, WatchAfterArchive: 50 * time.Millisecond})
	testutil.WriteFile(t, filepath.Join(st.dir, "a.csv"), "1\n")
	it := st.next()
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	watched := func() int {
		st.s.mu.Lock()
		defer st.s.mu.Unlock()
		return len(st.s.archived)
	}
	if watched() != 1 {
		t.Fatal("not watched after Done")
	}
	testutil.Eventually(t, "the watch to end", func() bool { return watched() == 0 })
	f, err := os.OpenFile(filepath.Join(st.dir, ArchiveDir, "a.csv"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("2\n")
	f.Close()
	st.nothingFor(3)

	off := newSourceTest(t, Options{PollOnly: true, RescanInterval: 20 * time.Millisecond, WatchAfterArchive: -1})
	testutil.WriteFile(t, filepath.Join(off.dir, "a.csv"), "1\n")
	if err := off.next().Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	if n := len(off.s.archived); n != 0 {
		t.Errorf("WatchAfterArchive -1: %d files watched", n)
	}
}

// TestGrownFileRetakenKeepsItsNote: a file taken again after it grew,
// that changes again before it is recorded, is retaken in work/ and
// handed out once more, still saying it grew after it was archived.
func TestGrownFileRetakenKeepsItsNote(t *testing.T) {
	st := newSourceTest(t, Options{PollOnly: true, RescanInterval: 20 * time.Millisecond})
	f := slowExport(t, filepath.Join(st.dir, "a.csv"))
	if err := st.next().Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("10000002,2026-04-01,8\n"); err != nil {
		t.Fatal(err)
	}
	again := st.next()
	if _, err := f.WriteString("10000003,2026-04-01,6\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if change, err := again.Changed(t.Context()); err != nil || change == "" {
		t.Fatalf("Changed: %q, %v", change, err)
	}
	if err := again.Retake(t.Context()); err != nil {
		t.Fatal(err)
	}
	last := st.next()
	if last.GrewAfterArchive() == "" || last.Size() != 88 {
		t.Errorf("handed out after the retake: %d bytes, note %q", last.Size(), last.GrewAfterArchive())
	}
}
