package localdir_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

const waitLimit = 5 * time.Second

func newSource(t *testing.T, opts localdir.Options) *localdir.Source {
	t.Helper()
	if opts.SettleTime == 0 {
		opts.SettleTime = 50 * time.Millisecond
	}
	s, err := localdir.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// next calls Next with a bounded wait.
func next(t *testing.T, s *localdir.Source) *localdir.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	it, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return it.(*localdir.Item)
}

// The file helpers every package's tests share.
var (
	writeFile = testutil.WriteFile
	readFile  = testutil.ReadFile
	exists    = testutil.Exists
)

// regularFiles lists the regular files directly in dir.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestHalfWrittenFileIsNotClaimedUntilItSettles: by the settle time
// alone (PollOnly: the open-writer check is off, as on a network mount),
// a file being written is not claimed until it has stayed unchanged for
// the settle time.
func TestHalfWrittenFileIsNotClaimedUntilItSettles(t *testing.T) {
	dir := t.TempDir()
	const settle = 500 * time.Millisecond
	s := newSource(t, localdir.Options{Dir: dir, SettleTime: settle, PollOnly: true, RescanInterval: 20 * time.Millisecond})

	got := make(chan relay.Item, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		it, err := s.Next(ctx)
		if err == nil {
			got <- it
		}
		close(got)
	}()

	f, err := os.Create(filepath.Join(dir, "plan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want strings.Builder
	pace := time.NewTicker(25 * time.Millisecond)
	defer pace.Stop()
	var lastWrite time.Time
	for i := range 10 {
		line := fmt.Sprintf("row %d\n", i)
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		lastWrite = time.Now()
		want.WriteString(line)
		select {
		case it := <-got:
			t.Fatalf("claimed %v while still being written (after %d writes)", it, i+1)
		default:
		}
		if !exists(filepath.Join(dir, "plan.csv")) {
			t.Fatalf("file left the drop folder while being written")
		}
		<-pace.C
	}

	it, ok := <-got
	if !ok {
		t.Fatal("file was never claimed")
	}
	if waited := time.Since(lastWrite); waited < settle {
		t.Errorf("claimed %v after the last write, want at least %v", waited, settle)
	}
	if it.Size() != int64(want.Len()) {
		t.Errorf("claimed size %d, want %d", it.Size(), want.Len())
	}
	if got := readFile(t, it.(*localdir.Item).Path()); got != want.String() {
		t.Errorf("claimed content %q, want %q", got, want.String())
	}
}

func TestFileWithOldMtimeIsClaimed(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

	// Simulate `cp -p` / `mv` from elsewhere: the file arrives complete
	// with an mtime far in the past.
	outside := filepath.Join(t.TempDir(), "old.csv")
	writeFile(t, outside, "a,b\n")
	if err := os.Chtimes(outside, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(outside, filepath.Join(dir, "old.csv")); err != nil {
		t.Fatal(err)
	}

	it := next(t, s)
	if it.Name() != "old.csv" {
		t.Fatalf("claimed %q, want old.csv", it.Name())
	}
	if !it.ModTime().Equal(old) {
		t.Errorf("ModTime %v, want %v", it.ModTime(), old)
	}
	if want := filepath.Join(dir, localdir.WorkDir, "old.csv"); it.Path() != want {
		t.Errorf("Path %q, want %q", it.Path(), want)
	}
}

func TestTemporaryAndForeignNamesAreIgnored(t *testing.T) {
	dir := t.TempDir()
	ignored := []string{".hidden.csv", "up.csv.part", "x.csv.tmp", "y.csv.filepart", "~$lock.csv", "notes.txt"}
	for _, name := range ignored {
		writeFile(t, filepath.Join(dir, name), "x")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "good.csv"), "x")
	s := newSource(t, localdir.Options{Dir: dir, Pattern: "*.csv"})

	if it := next(t, s); it.Name() != "good.csv" {
		t.Fatalf("claimed %q, want good.csv", it.Name())
	}
	// Everything above was present from the start, so anything eligible
	// would have settled together with good.csv and be ready now.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if it, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next returned %v, %v; want nothing more", it, err)
	}
	for _, name := range ignored {
		if !exists(filepath.Join(dir, name)) {
			t.Errorf("%s was moved, want it left alone", name)
		}
	}
	if got := regularFiles(t, filepath.Join(dir, localdir.WorkDir)); len(got) != 1 {
		t.Errorf("work/ holds %v, want only good.csv", got)
	}
}

func TestClaimMovesIntoWorkAndDoneArchivesWithReports(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "plan.csv"), "content")

	it := next(t, s)
	if exists(filepath.Join(dir, "plan.csv")) {
		t.Error("claimed file still in the drop folder")
	}
	if got := readFile(t, it.Path()); got != "content" {
		t.Errorf("work copy holds %q", got)
	}
	rc, err := it.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "content" {
		t.Errorf("Open read %q", b)
	}

	reports := t.TempDir()
	writeFile(t, filepath.Join(reports, "errors.json"), `{"errors":[]}`)
	writeFile(t, filepath.Join(reports, "summary.txt"), "42 rows")
	ack := relay.Ack{Outcome: relay.Processed, Reports: []string{
		filepath.Join(reports, "errors.json"), filepath.Join(reports, "summary.txt"),
	}}
	if err := it.Done(t.Context(), ack); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, localdir.ArchiveDir)
	if got := readFile(t, filepath.Join(archive, "plan.csv")); got != "content" {
		t.Errorf("archived input holds %q", got)
	}
	if got := readFile(t, filepath.Join(archive, "plan.csv.errors.json")); got != `{"errors":[]}` {
		t.Errorf("archived report holds %q", got)
	}
	if got := readFile(t, filepath.Join(archive, "plan.csv.summary.txt")); got != "42 rows" {
		t.Errorf("archived summary holds %q", got)
	}
	if got := regularFiles(t, filepath.Join(dir, localdir.WorkDir)); len(got) != 0 {
		t.Errorf("work/ still holds %v", got)
	}
	// A retried ack must succeed without touching anything.
	if err := it.Done(t.Context(), ack); err != nil {
		t.Errorf("second Done: %v", err)
	}
	if got := regularFiles(t, archive); len(got) != 3 {
		t.Errorf("archive holds %v after second Done, want 3 files", got)
	}
}

func TestDoneQuarantinesWithReason(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "bad.csv"), "garbage")
	it := next(t, s)

	report := filepath.Join(t.TempDir(), "errors.json")
	writeFile(t, report, "[1]")
	err := it.Done(t.Context(), relay.Ack{Outcome: relay.Quarantined, Reason: "no header row", Reports: []string{report}})
	if err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(dir, localdir.QuarantineDir)
	if got := readFile(t, filepath.Join(q, "bad.csv")); got != "garbage" {
		t.Errorf("quarantined input holds %q", got)
	}
	if got := readFile(t, filepath.Join(q, "bad.csv.reason.txt")); got != "no header row\n" {
		t.Errorf("reason file holds %q", got)
	}
	if got := readFile(t, filepath.Join(q, "bad.csv.errors.json")); got != "[1]" {
		t.Errorf("quarantined report holds %q", got)
	}
	if got := regularFiles(t, filepath.Join(dir, localdir.ArchiveDir)); len(got) != 0 {
		t.Errorf("archive holds %v, want nothing", got)
	}
}

func TestDoneNeverOverwritesAnArchivedFile(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	archive := filepath.Join(dir, localdir.ArchiveDir)
	writeFile(t, filepath.Join(archive, "plan.csv"), "yesterday")
	writeFile(t, filepath.Join(dir, "plan.csv"), "today")
	it := next(t, s)

	report := filepath.Join(t.TempDir(), "errors.json")
	writeFile(t, report, "[]")
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{report}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(archive, "plan.csv")); got != "yesterday" {
		t.Fatalf("earlier archive overwritten: holds %q", got)
	}
	names := regularFiles(t, archive)
	sort.Strings(names)
	if len(names) != 3 {
		t.Fatalf("archive holds %v, want the old file, the new file and its report", names)
	}
	var renamed string
	for _, n := range names {
		if n != "plan.csv" && strings.HasSuffix(n, ".csv") {
			renamed = n
		}
	}
	if !strings.HasPrefix(renamed, "plan.") || readFile(t, filepath.Join(archive, renamed)) != "today" {
		t.Fatalf("new file not archived under a suffixed name: %v", names)
	}
	if !exists(filepath.Join(archive, renamed+".errors.json")) {
		t.Errorf("report not named after the suffixed input: %v", names)
	}
}

func TestDoneCanBeRetriedAfterAFailure(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "plan.csv"), "x")
	it := next(t, s)

	missing := filepath.Join(t.TempDir(), "not-written-yet.json")
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{missing}}); err == nil {
		t.Fatal("Done succeeded with a missing report")
	}
	if !exists(it.Path()) {
		t.Fatal("input left work/ although its report could not be written")
	}
	writeFile(t, missing, "{}")
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{missing}}); err != nil {
		t.Fatalf("retried Done: %v", err)
	}
	if !exists(filepath.Join(dir, localdir.ArchiveDir, "plan.csv.not-written-yet.json")) {
		t.Error("report missing after retried Done")
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: 99}); err != nil {
		t.Errorf("Done after success must be a no-op, got %v", err)
	}
}

func TestFilesLeftInWorkAreReturnedFirst(t *testing.T) {
	dir := t.TempDir()
	state := t.TempDir()
	writeFile(t, filepath.Join(dir, "new.csv"), "new")
	if err := os.MkdirAll(filepath.Join(state, localdir.WorkDir), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(state, localdir.WorkDir, "crashed.csv"), "old")

	s := newSource(t, localdir.Options{Dir: dir, StateDir: state})
	first := next(t, s)
	if first.Name() != "crashed.csv" || readFile(t, first.Path()) != "old" {
		t.Fatalf("first item %q at %s, want crashed.csv from work/", first.Name(), first.Path())
	}
	second := next(t, s)
	if second.Name() != "new.csv" {
		t.Fatalf("second item %q, want new.csv", second.Name())
	}
	if want := filepath.Join(state, localdir.WorkDir, "new.csv"); second.Path() != want {
		t.Errorf("claimed into %s, want %s", second.Path(), want)
	}
	if err := first.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(state, localdir.ArchiveDir, "crashed.csv")); got != "old" {
		t.Errorf("recovered item archived with %q", got)
	}
}

func TestCloseMakesNextReturnErrSourceClosed(t *testing.T) {
	s := newSource(t, localdir.Options{Dir: t.TempDir()})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(t.Context())
		errc <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, relay.ErrSourceClosed) {
			t.Fatalf("blocked Next returned %v, want ErrSourceClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Next still blocked after Close")
	}
	if _, err := s.Next(t.Context()); !errors.Is(err, relay.ErrSourceClosed) {
		t.Fatalf("Next after Close returned %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCancelledContextStopsTheSource(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := localdir.New(ctx, localdir.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	if _, err := s.Next(t.Context()); !errors.Is(err, relay.ErrSourceClosed) {
		t.Fatalf("Next after the source's context ended returned %v", err)
	}
}

func TestNextHonoursItsContext(t *testing.T) {
	s := newSource(t, localdir.Options{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next returned %v, want context.Canceled", err)
	}
}

func TestPollOnlyFindsFilesByRescan(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir, PollOnly: true, RescanInterval: 20 * time.Millisecond})
	writeFile(t, filepath.Join(dir, "late.csv"), "x")
	if it := next(t, s); it.Name() != "late.csv" {
		t.Fatalf("claimed %q", it.Name())
	}
}

func TestManyFilesAreEachClaimedExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	const n = 200
	for i := range n / 2 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.csv", i)), "x")
	}
	s := newSource(t, localdir.Options{Dir: dir, SettleTime: 20 * time.Millisecond})
	for i := n / 2; i < n; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.csv", i)), "x")
	}

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	var mu sync.Mutex
	counts := make(map[string]int)
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				it, err := s.Next(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				counts[it.Name()]++
				total++
				if total == n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if len(counts) != n {
		t.Fatalf("claimed %d distinct files, want %d", len(counts), n)
	}
	for name, c := range counts {
		if c != 1 {
			t.Errorf("%s claimed %d times", name, c)
		}
	}
	if got := regularFiles(t, filepath.Join(dir, localdir.WorkDir)); len(got) != n {
		t.Errorf("work/ holds %d files, want %d", len(got), n)
	}
	if got := regularFiles(t, dir); len(got) != 0 {
		t.Errorf("drop folder still holds %v", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := localdir.New(t.Context(), localdir.Options{}); err == nil {
		t.Error("accepted an empty Dir")
	}
	if _, err := localdir.New(t.Context(), localdir.Options{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("accepted a missing Dir")
	}
	if _, err := localdir.New(t.Context(), localdir.Options{Dir: t.TempDir(), Pattern: "[x"}); err == nil {
		t.Error("accepted a malformed pattern")
	}
}

// TestDoneOfAFileArchivedBeforeRemovesTheExtraName: after a power cut a
// file can be in archive/ and still named in work/ (Done syncs only the
// archive folder). Done then removes the name in work/ instead of
// archiving the same file a second time.
func TestDoneOfAFileArchivedBeforeRemovesTheExtraName(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "plan.csv"), "today")
	it := next(t, s)
	archive := filepath.Join(dir, localdir.ArchiveDir)
	if err := os.MkdirAll(archive, 0o755); err != nil {
		t.Fatal(err)
	}
	// What a power cut can leave: both names for one file.
	if err := os.Link(filepath.Join(dir, localdir.WorkDir, "plan.csv"), filepath.Join(archive, "plan.csv")); err != nil {
		t.Fatal(err)
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	if names := regularFiles(t, archive); len(names) != 1 || names[0] != "plan.csv" {
		t.Errorf("archive holds %v, want only plan.csv", names)
	}
	if exists(filepath.Join(dir, localdir.WorkDir, "plan.csv")) {
		t.Error("the name in work/ is still there")
	}
}

// TestDoneFindsTheEarlierArchiveUnderATimestampedName: the same check
// when the first archive had to take a timestamped name (a supplier that
// sends the same file name every time).
func TestDoneFindsTheEarlierArchiveUnderATimestampedName(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	archive := filepath.Join(dir, localdir.ArchiveDir)
	writeFile(t, filepath.Join(archive, "plan.csv"), "last month")
	writeFile(t, filepath.Join(dir, "plan.csv"), "today")
	it := next(t, s)
	earlier := filepath.Join(archive, "plan.20260101T000000Z.csv")
	if err := os.Link(filepath.Join(dir, localdir.WorkDir, "plan.csv"), earlier); err != nil {
		t.Fatal(err)
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
		t.Fatal(err)
	}
	names := regularFiles(t, archive)
	sort.Strings(names)
	if strings.Join(names, " ") != "plan.20260101T000000Z.csv plan.csv" {
		t.Errorf("archive holds %v, want the two earlier files only", names)
	}
	if exists(filepath.Join(dir, localdir.WorkDir, "plan.csv")) {
		t.Error("the name in work/ is still there")
	}
}
