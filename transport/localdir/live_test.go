package localdir_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// expectNothing checks that Next hands out nothing for a while.
func expectNothing(t *testing.T, s *localdir.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if it, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next returned %v, %v; want nothing", it, err)
	}
}

// TestChangedAfterClaimIsRetakenOnceSettled: a writer still holding the
// file open, unseen (PollOnly turns the open-writer check off, as on a
// network mount), keeps writing into it after the claim's rename. Changed
// must see that, and Retake must hand the file out again, whole, once it
// has settled in work/.
func TestChangedAfterClaimIsRetakenOnceSettled(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir, PollOnly: true, RescanInterval: 20 * time.Millisecond})
	f, err := os.Create(filepath.Join(dir, "plan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("row 1\n"); err != nil {
		t.Fatal(err)
	}
	it := next(t, s)
	if change, err := it.Changed(t.Context()); err != nil || change != "" {
		t.Fatalf("Changed right after the claim: %q, %v; want no change", change, err)
	}
	// The writer resumes through its descriptor: the file is in work/ now.
	if _, err := f.WriteString("row 2\n"); err != nil {
		t.Fatal(err)
	}
	change, err := it.Changed(t.Context())
	if err != nil || !strings.Contains(change, "6 bytes when claimed, 12 now") {
		t.Fatalf("Changed after the writer resumed: %q, %v; want the sizes", change, err)
	}
	if err := it.Retake(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil || !exists(it.Path()) {
		t.Fatalf("Done after Retake: %v, file in work/: %v; want nothing done", err, exists(it.Path()))
	}
	again := next(t, s)
	if again.Name() != "plan.csv" || again.Size() != 12 || readFile(t, again.Path()) != "row 1\nrow 2\n" {
		t.Fatalf("handed out again: %s, %d bytes; want plan.csv with both rows", again.Name(), again.Size())
	}
	if change, err := again.Changed(t.Context()); err != nil || change != "" {
		t.Fatalf("Changed of the item handed out again: %q, %v", change, err)
	}
}

func TestChangedSeesAReplacedFile(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "plan.csv"), "abc")
	it := next(t, s)
	tmp := filepath.Join(dir, "other")
	writeFile(t, tmp, "abc")
	if err := os.Chtimes(tmp, it.ModTime(), it.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, it.Path()); err != nil {
		t.Fatal(err)
	}
	if change, err := it.Changed(t.Context()); err != nil || change != "replaced by another file" {
		t.Fatalf("Changed: %q, %v; want replaced", change, err)
	}
}

// refusals collects what a source reports through ReportRefusalsTo.
type refusals struct {
	mu  sync.Mutex
	got []relay.Refusal
}

func (r *refusals) report(_ context.Context, x relay.Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, x)
}

func (r *refusals) list() []relay.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// current is the refused names now, with their reasons.
func (r *refusals) current() map[string]string {
	out := map[string]string{}
	for _, x := range r.list() {
		if x.Reason == "" {
			delete(out, x.Name)
		} else {
			out[x.Name] = x.Reason
		}
	}
	return out
}

func TestReadyMarker(t *testing.T) {
	dir := t.TempDir()
	var rr refusals
	s := newSource(t, localdir.Options{Dir: dir, ReadyMarker: ".done", RescanInterval: 20 * time.Millisecond})
	s.ReportRefusalsTo(rr.report)

	writeFile(t, filepath.Join(dir, "plan.csv"), "rows")
	expectNothing(t, s, 300*time.Millisecond) // six settle times, no marker
	writeFile(t, filepath.Join(dir, "plan.csv.done"), "")
	it := next(t, s)
	if it.Name() != "plan.csv" || readFile(t, it.Path()) != "rows" {
		t.Fatalf("claimed %s, want plan.csv", it.Name())
	}
	if exists(filepath.Join(dir, "plan.csv.done")) || !exists(filepath.Join(dir, localdir.WorkDir, "plan.csv.done")) {
		t.Fatal("the marker did not go into work/ with its file")
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Quarantined, Reason: "bad"}); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(dir, localdir.QuarantineDir)
	if got := regularFiles(t, q); !slices.Equal(got, []string{"plan.csv", "plan.csv.done", "plan.csv.reason.txt"}) {
		t.Errorf("quarantine holds %v, want the file, its marker and the reason", got)
	}
	if got := regularFiles(t, filepath.Join(dir, localdir.WorkDir)); len(got) != 0 {
		t.Errorf("work/ holds %v", got)
	}
	if got := rr.list(); len(got) != 0 {
		t.Errorf("refusals %v, want none", got)
	}
}

func TestReadyMarkerOlderThanItsFile(t *testing.T) {
	dir := t.TempDir()
	var rr refusals
	s := newSource(t, localdir.Options{Dir: dir, ReadyMarker: ".done", RescanInterval: 20 * time.Millisecond})
	s.ReportRefusalsTo(rr.report)
	data, marker := filepath.Join(dir, "plan.csv"), filepath.Join(dir, "plan.csv.done")
	writeFile(t, data, "rows")
	writeFile(t, marker, "")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(marker, old, old); err != nil {
		t.Fatal(err)
	}
	// The file changed after its writer said it was complete.
	transporttest.Eventually(t, waitLimit, func() bool {
		return strings.Contains(rr.current()["plan.csv"], "changed after its ready marker plan.csv.done")
	}, "refusals %v, want plan.csv waiting for a newer marker", rr.list())
	expectNothing(t, s, 100*time.Millisecond)
	now := time.Now()
	if err := os.Chtimes(marker, now, now); err != nil {
		t.Fatal(err)
	}
	if it := next(t, s); it.Name() != "plan.csv" {
		t.Fatalf("claimed %s", it.Name())
	}
	transporttest.Eventually(t, waitLimit, func() bool { return len(rr.current()) == 0 },
		"refusal not withdrawn once the file was taken: %v", rr.list())
}

func TestReadyMarkerWithoutItsFile(t *testing.T) {
	dir := t.TempDir()
	var rr refusals
	s := newSource(t, localdir.Options{Dir: dir, ReadyMarker: ".done", Pattern: "*.csv", RescanInterval: 20 * time.Millisecond})
	s.ReportRefusalsTo(rr.report)
	writeFile(t, filepath.Join(dir, "plan.csv.done"), "")
	writeFile(t, filepath.Join(dir, "notes.txt.done"), "") // not a marker of an input
	writeFile(t, filepath.Join(dir, "bad\x1b.csv.done"), "")
	transporttest.Eventually(t, waitLimit, func() bool {
		c := rr.current()
		return c["plan.csv.done"] == "ready marker without its file plan.csv" &&
			c["bad\x1b.csv.done"] == "the name holds the control character U+001B"
	}, "refusals %v", rr.list())
	if err := os.Remove(filepath.Join(dir, "bad\x1b.csv.done")); err != nil {
		t.Fatal(err)
	}
	// The file arrives, copied with its old time: its marker is newer.
	data := filepath.Join(dir, "plan.csv")
	writeFile(t, data, "rows")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(data, old, old); err != nil {
		t.Fatal(err)
	}
	if it := next(t, s); it.Name() != "plan.csv" {
		t.Fatalf("claimed %s", it.Name())
	}
	transporttest.Eventually(t, waitLimit, func() bool { return len(rr.current()) == 0 }, "refusals %v", rr.list())
	if n := len(rr.list()); n != 4 {
		t.Errorf("%d reports %v, want each refusal once and its withdrawal", n, rr.list())
	}
}

// TestHostileNamesAreLeftAloneAndReportedOnce: names that cannot be taken
// safely stay in the drop folder, are reported once each whatever the
// number of scans, and do not hold up the other files.
func TestHostileNamesAreLeftAloneAndReportedOnce(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", localdir.MaxNameBytes-3) + ".csv"
	want := map[string]string{
		"bad\nname.csv":          "control character U+000A",
		"ansi\x1b[31mred.csv":    "control character U+001B",
		`back\slash.csv`:         "backslash",
		"latin1-\xe9t\xe9.csv":   "not valid UTF-8",
		"rtl\u202ecsv.exe.csv":   "invisible formatting character U+202E",
		long:                     "106 bytes long; a local source takes names of up to 105",
		"link.csv":               "symbolic link",
		"fifo.csv":               "not a regular file",
		strings.Repeat("y", 200): "", // not matching the pattern: no report
	}
	for name := range want {
		switch name {
		case "link.csv":
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		case "fifo.csv":
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			writeFile(t, filepath.Join(dir, name), "x")
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "good.csv"), "x")
	var mu sync.Mutex
	n := 0
	var rr refusals
	s := newSource(t, localdir.Options{Dir: dir, Pattern: "*.csv", RescanInterval: 10 * time.Millisecond, OnScan: func(error) {
		mu.Lock()
		defer mu.Unlock()
		n++
	}})
	s.ReportRefusalsTo(rr.report)
	if it := next(t, s); it.Name() != "good.csv" {
		t.Fatalf("claimed %q, want good.csv", it.Name())
	}
	expectNothing(t, s, 100*time.Millisecond)
	transporttest.Eventually(t, waitLimit, func() bool { mu.Lock(); defer mu.Unlock(); return n >= 10 }, "fewer than 10 scans")

	got := rr.current()
	for name, reason := range want {
		if reason == "" {
			if _, ok := got[name]; ok {
				t.Errorf("%q reported, want it ignored (not matching the pattern)", name)
			}
			continue
		}
		if !strings.Contains(got[name], reason) {
			t.Errorf("%s: reported %q, want %q", relay.QuoteName(name), got[name], reason)
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s is no longer in the drop folder: %v", relay.QuoteName(name), err)
		}
	}
	if len(rr.list()) != len(got) {
		t.Errorf("%d reports for %d names, want each once: %v", len(rr.list()), len(got), rr.list())
	}
	if _, ok := got["folder.csv"]; ok {
		t.Error("a folder was reported")
	}

	// Renamed by the supplier: the refusal is withdrawn and the file taken.
	if err := os.Rename(filepath.Join(dir, "bad\nname.csv"), filepath.Join(dir, "badname.csv")); err != nil {
		t.Fatal(err)
	}
	if it := next(t, s); it.Name() != "badname.csv" {
		t.Fatalf("claimed %q, want badname.csv", it.Name())
	}
	transporttest.Eventually(t, waitLimit, func() bool { _, ok := rr.current()["bad\nname.csv"]; return !ok },
		"refusal of the renamed file not withdrawn")
}

// TestInterruptedDoneLeavesNoTemporaryFiles: a Done cut short after it
// linked a report leaves that link; the next Done links onto a name that
// is already the same file, which rename does silently and without
// removing the temporary name.
func TestInterruptedDoneLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir})
	writeFile(t, filepath.Join(dir, "plan.csv"), "rows")
	it := next(t, s)
	report := filepath.Join(t.TempDir(), "plan.report.json")
	writeFile(t, report, "{}")
	archive := filepath.Join(dir, localdir.ArchiveDir)
	// What the interrupted Done left: the report linked beside the input
	// that is still in work/.
	if err := os.Link(report, filepath.Join(archive, "plan.csv.plan.report.json")); err != nil {
		t.Fatal(err)
	}
	if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed, Reports: []string{report}}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(archive)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"plan.csv", "plan.csv.plan.report.json"}) {
		t.Errorf("archive holds %q, want the input and its report only", names)
	}
}

func TestNewRemovesDebrisOfAKilledDone(t *testing.T) {
	dir := t.TempDir()
	debris := []string{
		filepath.Join(localdir.ArchiveDir, ".x.csv.x.report.json.link.tmp"),
		filepath.Join(localdir.QuarantineDir, ".y.csv.reason.txt.123456.tmp"),
	}
	kept := []string{
		filepath.Join(localdir.ArchiveDir, "x.csv"),
		filepath.Join(localdir.ArchiveDir, ".hidden-by-the-trust"),
		filepath.Join(localdir.WorkDir, ".foreign.tmp"),
	}
	for _, p := range append(slices.Clone(debris), kept...) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, p), "x")
	}
	newSource(t, localdir.Options{Dir: dir})
	for _, p := range debris {
		if exists(filepath.Join(dir, p)) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range kept {
		if !exists(filepath.Join(dir, p)) {
			t.Errorf("%s was removed", p)
		}
	}
}

func TestNewRejectsABadReadyMarker(t *testing.T) {
	for _, m := range []string{".tmp", ".PART", "/done", "x\ny", strings.Repeat("d", 40)} {
		if _, err := localdir.New(t.Context(), localdir.Options{Dir: t.TempDir(), ReadyMarker: m}); err == nil {
			t.Errorf("ReadyMarker %q accepted", m)
		}
	}
}

// TestReadyMarkerAcrossARestart: a file claimed with its marker and never
// acknowledged is handed out first by the next source, and archived with
// its marker; a marker whose claim was cut short before its file moved is
// put back beside the file, which is then taken as usual.
func TestReadyMarkerAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	first, err := localdir.New(t.Context(), localdir.Options{Dir: dir, ReadyMarker: ".done", SettleTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.csv"), "rows")
	writeFile(t, filepath.Join(dir, "a.csv.done"), "")
	if it := next(t, first); it.Name() != "a.csv" {
		t.Fatalf("claimed %s", it.Name())
	}
	first.Close() // the process dies before Done

	// What a claim cut short between its two renames leaves.
	work := filepath.Join(dir, localdir.WorkDir)
	writeFile(t, filepath.Join(dir, "b.csv"), "more rows")
	writeFile(t, filepath.Join(work, "b.csv.done"), "")

	s := newSource(t, localdir.Options{Dir: dir, ReadyMarker: ".done"})
	if !exists(filepath.Join(dir, "b.csv.done")) || exists(filepath.Join(work, "b.csv.done")) {
		t.Fatal("b.csv's marker was not put back beside it")
	}
	got := map[string]*localdir.Item{}
	for range 2 {
		it := next(t, s)
		got[it.Name()] = it
	}
	for _, name := range []string{"a.csv", "b.csv"} {
		it := got[name]
		if it == nil {
			t.Fatalf("handed out %v, want a.csv and b.csv", got)
		}
		if err := it.Done(t.Context(), relay.Ack{Outcome: relay.Processed}); err != nil {
			t.Fatal(err)
		}
	}
	if archived := regularFiles(t, filepath.Join(dir, localdir.ArchiveDir)); !slices.Equal(archived, []string{"a.csv", "a.csv.done", "b.csv", "b.csv.done"}) {
		t.Errorf("archive holds %v, want both files with their markers", archived)
	}
	if left := regularFiles(t, work); len(left) != 0 {
		t.Errorf("work/ holds %v", left)
	}
}
