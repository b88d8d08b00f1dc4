//go:build linux

package localdir

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

// watchTest is a writerWatch over a drop folder and one folder of the
// hub's own, recording the rechecks it calls for.
type watchTest struct {
	t         *testing.T
	w         *writerWatch
	drop, own string

	mu       sync.Mutex
	rechecks []string // "dir/name", name "" for the whole folder
	changed  chan struct{}
}

func newWatchTest(t *testing.T, leases bool) *watchTest {
	t.Helper()
	root := t.TempDir()
	wt := &watchTest{t: t, drop: filepath.Join(root, "drop"), own: filepath.Join(root, "archive"), changed: make(chan struct{})}
	for _, d := range []string{wt.drop, wt.own} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return wt.start(leases)
}

func (wt *watchTest) start(leases bool) *watchTest {
	wt.w = newWriterWatch(wt.drop, []string{wt.own}, leases, slog.New(slog.DiscardHandler), func(dir, name string) {
		wt.mu.Lock()
		wt.rechecks = append(wt.rechecks, filepath.Join(dir, name))
		close(wt.changed)
		wt.changed = make(chan struct{})
		wt.mu.Unlock()
	})
	if wt.w.file == nil {
		wt.t.Fatal("no inotify instance")
	}
	wt.t.Cleanup(func() { wt.w.Close() })
	return wt
}

// writing returns what the watch says of the file called name in the
// drop folder.
func (wt *watchTest) writing(name string) string { return wt.w.Writing(wt.drop, name) }

// waitRecheck waits until the watch has called for a recheck of path.
func (wt *watchTest) waitRecheck(path string) {
	wt.t.Helper()
	testutil.Eventually(wt.t, "a recheck of "+path, func() bool {
		wt.mu.Lock()
		defer wt.mu.Unlock()
		for _, r := range wt.rechecks {
			if r == path {
				return true
			}
		}
		return false
	})
}

func (wt *watchTest) clearRechecks() {
	wt.mu.Lock()
	wt.rechecks = nil
	wt.mu.Unlock()
}

// eventuallyWriting waits until the watch says the file is open for
// writing (want true) or not.
func (wt *watchTest) eventuallyWriting(name string, want bool) {
	wt.t.Helper()
	testutil.Eventually(wt.t, "the watch to say "+name+" is open for writing: "+map[bool]string{true: "yes", false: "no"}[want], func() bool {
		return (wt.writing(name) != "") == want
	})
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestWriterWatchHoldsAFileUntilItsWriterClosesIt: a writer creates a
// file, writes a row and pauses with it open: the file is open for
// writing, by the events alone and by the lease; its close calls for a
// recheck, and then it is not.
func TestWriterWatchHoldsAFileUntilItsWriterClosesIt(t *testing.T) {
	for _, leases := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "leases"}[leases], func(t *testing.T) {
			wt := newWatchTest(t, leases)
			path := filepath.Join(wt.drop, "a.csv")
			f := create(t, path)
			wt.eventuallyWriting("a.csv", true) // open, nothing written yet
			write(t, f, "header\n1,2\n")
			if why := wt.writing("a.csv"); why == "" {
				t.Fatal("a file its writer holds open is not open for writing")
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			wt.waitRecheck(path)
			if why := wt.writing("a.csv"); why != "" {
				t.Errorf("closed by its writer, yet %q", why)
			}
		})
	}
}

// TestWriterWatchSeesAWriterProcessDie: a writer process holds the file
// open; when it is killed the kernel closes its descriptors, and the file
// is let go.
func TestWriterWatchSeesAWriterProcessDie(t *testing.T) {
	wt := newWatchTest(t, false)
	path := filepath.Join(wt.drop, "a.csv")
	// The shell writes a row through descriptor 3 and waits on its input.
	cmd := exec.Command("sh", "-c", `exec 3>"$1"; printf 'header\n1,2\n' >&3; read line`, "sh", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	testutil.Eventually(t, "the writer's row", func() bool {
		b, _ := os.ReadFile(path)
		return strings.HasSuffix(string(b), "1,2\n")
	})
	if why := wt.writing("a.csv"); why == "" {
		t.Fatal("a file a live process holds open is not open for writing")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wt.waitRecheck(path)
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("its writer is dead, yet %q", why)
	}
}

// TestWriterWatchSeveralWriters: two writers of one file. A lease waits
// for the last one to close it; the events cannot count opens (inotify
// merges identical events not yet read), and let it go at the first
// writer's close, as documented.
func TestWriterWatchSeveralWriters(t *testing.T) {
	for _, leases := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "leases"}[leases], func(t *testing.T) {
			wt := newWatchTest(t, leases)
			path := filepath.Join(wt.drop, "a.csv")
			a := create(t, path)
			b, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			write(t, a, "1\n")
			write(t, b, "2\n")
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			wt.waitRecheck(path)
			if why := wt.writing("a.csv"); (why != "") != leases {
				t.Errorf("one writer closed the file, the other holds it open: %q", why)
			}
			wt.clearRechecks()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			wt.waitRecheck(path)
			if why := wt.writing("a.csv"); why != "" {
				t.Errorf("both writers closed it, yet %q", why)
			}
		})
	}
}

// TestWriterWatchFileOpenBeforeTheWatch: a writer opened the file before
// the watch began (the hub restarted). The events know nothing of it
// until it writes; the lease knows at once.
func TestWriterWatchFileOpenBeforeTheWatch(t *testing.T) {
	wt := newWatchTest(t, false)
	wt.w.Close()
	path := filepath.Join(wt.drop, "a.csv")
	f := create(t, path)
	write(t, f, "header\n")

	wt.start(false)
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("nothing seen of it yet, yet %q", why)
	}
	write(t, f, "1,2\n")
	wt.eventuallyWriting("a.csv", true)
	wt.w.Close()

	wt.start(true)
	if why := wt.writing("a.csv"); why == "" {
		t.Error("the lease does not see the writer")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("closed, yet the lease says %q", why)
	}
}

// TestWriterWatchReaders: readers do not hold a file: not one that
// keeps a finished file open, and not one that opens a file nobody
// writes.
func TestWriterWatchReaders(t *testing.T) {
	for _, leases := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "leases"}[leases], func(t *testing.T) {
			wt := newWatchTest(t, leases)
			path := filepath.Join(wt.drop, "a.csv")
			f := create(t, path)
			write(t, f, "1,2\n")
			r, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
			f.Close()
			wt.waitRecheck(path)
			if why := wt.writing("a.csv"); why != "" {
				t.Errorf("a reader holds the finished file open: %q", why)
			}
			r.Close()
			old := filepath.Join(wt.drop, "old.csv")
			testutil.WriteFile(t, old, "1,2\n")
			wt.waitRecheck(old)
			r, err = os.Open(old)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if why := wt.writing("old.csv"); why != "" {
				t.Errorf("a reader holds a finished file open: %q", why)
			}
		})
	}
}

// TestWriterWatchNewEmptyFile: a writer creates the file and has not
// written yet (its query runs): held until it closes it. A file linked in
// is not held.
func TestWriterWatchNewEmptyFile(t *testing.T) {
	wt := newWatchTest(t, false)
	path := filepath.Join(wt.drop, "a.csv")
	f := create(t, path)
	wt.eventuallyWriting("a.csv", true)
	f.Close()
	wt.waitRecheck(path)
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("closed, yet %q", why)
	}
	elsewhere := filepath.Join(t.TempDir(), "b.csv")
	testutil.WriteFile(t, elsewhere, "1,2\n")
	if err := os.Link(elsewhere, filepath.Join(wt.drop, "b.csv")); err != nil {
		t.Fatal(err)
	}
	// The link's IN_CREATE is read before the open and close of a
	// reader of a.csv that follows it.
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	wt.eventuallyWriting("a.csv", false)
	if why := wt.writing("b.csv"); why != "" {
		t.Errorf("linked in, yet %q", why)
	}
}

// TestWriterWatchRenamedIn: a file written under a temporary name and
// renamed in is complete; one whose writer still holds it after the
// rename and writes on is held until that writer closes it. The hub's
// own folders (archive/) follow writes and closes the same way.
func TestWriterWatchRenamedIn(t *testing.T) {
	wt := newWatchTest(t, false)
	tmp := filepath.Join(wt.drop, ".a.csv.tmp")
	testutil.WriteFile(t, tmp, "1,2\n")
	if err := os.Rename(tmp, filepath.Join(wt.drop, "a.csv")); err != nil {
		t.Fatal(err)
	}
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("renamed in whole, yet %q", why)
	}

	for _, dir := range []string{wt.drop, wt.own} {
		tmp := filepath.Join(wt.drop, ".b.csv.tmp")
		f := create(t, tmp)
		write(t, f, "1,2\n")
		path := filepath.Join(dir, "b.csv")
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		write(t, f, "3,4\n")
		testutil.Eventually(t, "b.csv held in "+dir, func() bool { return wt.w.Writing(dir, "b.csv") != "" })
		wt.clearRechecks()
		f.Close()
		wt.waitRecheck(path)
		if why := wt.w.Writing(dir, "b.csv"); why != "" {
			t.Errorf("%s: closed, yet %q", dir, why)
		}
		os.Remove(path)
	}
}

// TestWriterWatchOverflow: when events were lost, what was known is
// forgotten (every folder is to be looked at again), and a file whose
// opens were not all seen is no longer held by its count of opens.
func TestWriterWatchOverflow(t *testing.T) {
	wt := newWatchTest(t, false)
	path := filepath.Join(wt.drop, "a.csv")
	f := create(t, path)
	wt.eventuallyWriting("a.csv", true)
	wt.w.handle(-1, unix.IN_Q_OVERFLOW, "")
	wt.waitRecheck(wt.drop)
	wt.waitRecheck(wt.own)
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("after an overflow the opens are not known, yet %q", why)
	}
	// A write says it again.
	write(t, f, "1,2\n")
	wt.eventuallyWriting("a.csv", true)
	// A file created after the overflow is counted again.
	g := create(t, filepath.Join(wt.drop, "b.csv"))
	wt.eventuallyWriting("b.csv", true)
	g.Close()
	wt.eventuallyWriting("b.csv", false)
}

// TestWriterWatchLeaseOnlyForItsOwnFiles: without CAP_LEASE a lease is
// not tried on another user's file (the kernel would refuse it); its
// writer is seen through the events.
func TestWriterWatchLeaseOnlyForItsOwnFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	wt := newWatchTest(t, true)
	wt.w.canLease = false
	path := filepath.Join(wt.drop, "a.csv")
	f := create(t, path)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	write(t, f, "1,2\n")
	if got := wt.w.lease(wt.drop, path); got != leaseUnknown {
		t.Errorf("lease on another user's file: %v, want it not tried", got)
	}
	wt.eventuallyWriting("a.csv", true)
	f.Close()
	wt.waitRecheck(path)
	if why := wt.writing("a.csv"); why != "" {
		t.Errorf("closed, yet %q", why)
	}
}

// TestWriterWatchFolderRemoved: a watched folder that goes ends its
// watch; nothing is known of it after.
func TestWriterWatchFolderRemoved(t *testing.T) {
	wt := newWatchTest(t, false)
	f := create(t, filepath.Join(wt.own, "a.csv"))
	write(t, f, "1\n")
	testutil.Eventually(t, "a.csv held", func() bool { return wt.w.Writing(wt.own, "a.csv") != "" })
	f.Close()
	if err := os.RemoveAll(wt.own); err != nil {
		t.Fatal(err)
	}
	wt.waitRecheck(wt.own)
	if why := wt.w.Writing(wt.own, "a.csv"); why != "" {
		t.Errorf("%q", why)
	}
}

// event is one inotify event as the kernel writes it: the header, then
// the name padded with NULs.
func event(wd int32, mask uint32, name string, pad int) []byte {
	b := make([]byte, unix.SizeofInotifyEvent+len(name)+pad)
	ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
	ev.Wd, ev.Mask, ev.Len = wd, mask, uint32(len(name)+pad)
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

type parsedEvent struct {
	wd   int32
	mask uint32
	name string
}

func TestParseEvents(t *testing.T) {
	buf := slices.Concat(event(1, unix.IN_OPEN, "a.csv", 3), event(2, unix.IN_Q_OVERFLOW, "", 0), event(1, unix.IN_CLOSE_WRITE, "b.csv", 11))
	var got []parsedEvent
	parseEvents(append(buf, event(3, unix.IN_MODIFY, "cut.csv", 1)[:20]...), func(wd int32, mask uint32, name string) {
		got = append(got, parsedEvent{wd, mask, name})
	})
	want := []parsedEvent{{1, unix.IN_OPEN, "a.csv"}, {2, unix.IN_Q_OVERFLOW, ""}, {1, unix.IN_CLOSE_WRITE, "b.csv"}}
	if !slices.Equal(got, want) {
		t.Errorf("parsed %v, want %v (the cut event dropped)", got, want)
	}
}

// FuzzParseEvents: any buffer is read without a panic, within its bounds,
// and a buffer of whole events is read back as written.
func FuzzParseEvents(f *testing.F) {
	f.Add(event(1, unix.IN_OPEN, "a.csv", 3), int32(7), uint32(unix.IN_MODIFY), "b.csv")
	f.Add([]byte{}, int32(-1), uint32(unix.IN_Q_OVERFLOW), "")
	f.Add(bytes.Repeat([]byte{0xff}, 40), int32(0), uint32(0), "x")
	f.Fuzz(func(t *testing.T, junk []byte, wd int32, mask uint32, name string) {
		parseEvents(junk, func(_ int32, _ uint32, name string) {
			if strings.IndexByte(name, 0) >= 0 || len(name) > len(junk) {
				t.Errorf("name %q out of a %d-byte buffer", name, len(junk))
			}
		})
		name = strings.ReplaceAll(name, "\x00", "")
		var got []parsedEvent
		parseEvents(slices.Concat(event(wd, mask, name, 4), event(wd+1, mask, name, 0)), func(wd int32, mask uint32, name string) {
			got = append(got, parsedEvent{wd, mask, name})
		})
		if want := []parsedEvent{{wd, mask, name}, {wd + 1, mask, name}}; !slices.Equal(got, want) {
			t.Errorf("parsed %v, want %v", got, want)
		}
	})
}
