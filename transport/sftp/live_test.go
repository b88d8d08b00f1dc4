package sftp_test

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// backends runs f against the in-process server and OpenSSH's
// sftp-server.
func backends(t *testing.T, f func(t *testing.T, opts sftptest.Options)) {
	t.Run("in-process", func(t *testing.T) { f(t, sftptest.Options{}) })
	t.Run("openssh", func(t *testing.T) { f(t, sftptest.Options{ServerBinary: sftptest.RequireServerBinary(t)}) })
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

// expectNothingForPolls checks that Next hands out nothing while the
// source lists the folder n more times.
func expectNothingForPolls(t *testing.T, src *sftp.Source, srv *sftptest.Server, n int64) {
	t.Helper()
	want := srv.Listings() + n
	deadline := time.Now().Add(10 * time.Second)
	for srv.Listings() < want {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d listings in 10s", n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		it, err := src.Next(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next: got %v, %v; want nothing", it, err)
		}
	}
}

func newSourceWith(t *testing.T, cfg sftp.Config, opts sftp.SourceOptions) (*sftp.Source, string) {
	t.Helper()
	if opts.SpoolDir == "" {
		opts.SpoolDir = t.TempDir()
	}
	opts.Logger = testLogger(t)
	src, err := sftp.NewSource(cfg, opts)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src, opts.SpoolDir
}

// TestSourceRefusesHostileNames: names a server lists that cannot be
// taken safely are never downloaded nor written locally, stay on the
// server untouched, and are reported once each, however many polls.
func TestSourceRefusesHostileNames(t *testing.T) {
	backends(t, func(t *testing.T, opts sftptest.Options) {
		srv := startServer(t, opts)
		long := strings.Repeat("n", 300) + ".csv"
		onDisk := map[string]string{ // name on the server's disk → the reason expected
			"bad\nname.csv":        "control character U+000A",
			"ansi\x1b[2Jclear.csv": "control character U+001B",
			`back\slash.csv`:       "backslash",
			"latin1-\xe9t\xe9.csv": "not valid UTF-8",
			"long.csv":             "304 bytes long",
			"link.csv":             "symbolic link",
			// pkg/sftp gives a listed path by its last element, which
			// is not in the folder.
			"dotdot.csv":   "listed, but could not be downloaded",
			"absolute.csv": "listed, but could not be downloaded",
		}
		listedAs := map[string]string{"dotdot.csv": "../../etc/passwd-dotdot", "absolute.csv": "/etc/passwd-absolute", "long.csv": long}
		for name := range onDisk {
			p := srv.Path("inbox", name)
			if name == "link.csv" {
				if err := os.Symlink("/etc/hostname", p); err != nil {
					t.Fatal(err)
				}
				continue
			}
			writeFile(t, p, "x,y\n")
			if l, ok := listedAs[name]; ok {
				srv.ListAs(name, l)
			}
		}
		writeFile(t, srv.Path("inbox", "good.csv"), "take me")
		var rr refusals
		src, spool := newSource(t, baseConfig(srv))
		src.ReportRefusalsTo(rr.report)

		it := next(t, src)
		if it.Name() != "good.csv" {
			t.Fatalf("collected %q, want good.csv", it.Name())
		}
		if got := list(t, spool); !slices.Equal(got, []string{"good.csv"}) {
			t.Errorf("spool holds %q, want good.csv only", got)
		}
		expectNothingForPolls(t, src, srv, 5)

		got := rr.current()
		for name, reason := range onDisk {
			shown := name
			if l, ok := listedAs[name]; ok {
				shown = path.Base(l)
			}
			if !strings.Contains(got[shown], reason) {
				t.Errorf("%s: reported %q, want %q", relay.QuoteName(shown), got[shown], reason)
			}
			if n, want := srv.Opens("inbox/"+shown), 0; n != want && !(strings.HasPrefix(reason, "listed, but") && n == 1) {
				t.Errorf("%s opened %d times, want never (or once, to find it is not there)", relay.QuoteName(shown), n)
			}
			if _, err := os.Lstat(srv.Path("inbox", name)); err != nil {
				t.Errorf("%s is gone from the server: %v", relay.QuoteName(name), err)
			}
		}
		if n := len(rr.list()); n != len(onDisk) {
			t.Errorf("%d reports, want one per refused name (%d): %v", n, len(onDisk), rr.list())
		}
		if got := list(t, spool); !slices.Equal(got, []string{"good.csv"}) {
			t.Errorf("spool holds %q after the polls, want good.csv only", got)
		}
		done(t, it, relay.Processed)
		if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"good.csv"}) {
			t.Errorf("processed holds %q, want good.csv only", got)
		}

		// Renamed on the server: the refusal is withdrawn, the file taken.
		if err := os.Rename(srv.Path("inbox", "bad\nname.csv"), srv.Path("inbox", "badname.csv")); err != nil {
			t.Fatal(err)
		}
		if it := next(t, src); it.Name() != "badname.csv" {
			t.Fatalf("collected %q, want badname.csv", it.Name())
		}
		if _, ok := rr.current()["bad\nname.csv"]; ok {
			t.Error("the refusal of the renamed file was not withdrawn")
		}
	})
}

// TestSourceLeavesAloneAFileStillListedAfterItWasArchived: a server that
// answers a move with success but keeps listing (and serving) the file.
// It must be downloaded and archived once, not on every poll.
func TestSourceLeavesAloneAFileStillListedAfterItWasArchived(t *testing.T) {
	backends(t, func(t *testing.T, opts sftptest.Options) {
		for _, afterSuccess := range []string{"move", "delete"} {
			t.Run(afterSuccess, func(t *testing.T) {
				srv := startServer(t, opts)
				srv.SetKeepListing(true)
				cfg := baseConfig(srv)
				cfg.AfterSuccess = afterSuccess
				var rr refusals
				src, _ := newSource(t, cfg)
				src.ReportRefusalsTo(rr.report)
				writeFile(t, srv.Path("inbox", "plan.csv"), "not a job plan")
				done(t, next(t, src), relay.Quarantined)
				if got := readFile(t, srv.Path("inbox", "quarantine", "plan.csv")); got != "not a job plan" {
					t.Fatalf("quarantine/plan.csv = %q", got)
				}
				expectNothingForPolls(t, src, srv, 5)
				if n := srv.Opens("inbox/plan.csv"); n != 1 {
					t.Errorf("plan.csv downloaded %d times, want once", n)
				}
				if got := list(t, srv.Path("inbox", "quarantine")); !slices.Equal(got, []string{"plan.csv"}) {
					t.Errorf("quarantine holds %q, want one copy", got)
				}
				if r := rr.current()["plan.csv"]; !strings.Contains(r, "still listed by the server after it was archived") {
					t.Errorf("refusals %v, want plan.csv reported as still listed", rr.list())
				}

				// A new file under the name is collected.
				writeFile(t, srv.Path("inbox", "plan.csv"), "a corrected export")
				it := next(t, src)
				if got := readItem(t, it); got != "a corrected export" {
					t.Errorf("collected %q, want the new file", got)
				}
				if _, ok := rr.current()["plan.csv"]; ok {
					t.Error("still reported as left alone once it changed")
				}
			})
		}
	})
}

func TestSourceReadyMarker(t *testing.T) {
	backends(t, func(t *testing.T, opts sftptest.Options) {
		for _, afterSuccess := range []string{"move", "delete"} {
			t.Run(afterSuccess, func(t *testing.T) {
				srv := startServer(t, opts)
				cfg := baseConfig(srv)
				cfg.AfterSuccess = afterSuccess
				var rr refusals
				src, _ := newSourceWith(t, cfg, sftp.SourceOptions{ReadyMarker: ".done", DoneAttempts: 3})
				src.ReportRefusalsTo(rr.report)
				writeFile(t, srv.Path("inbox", "plan.csv"), "rows")
				expectNothing(t, src)
				writeFile(t, srv.Path("inbox", "plan.csv.done"), "")
				// Listings have one-second times: a marker written in the
				// same second as its file is as new as it.
				it := next(t, src)
				if it.Name() != "plan.csv" || readItem(t, it) != "rows" {
					t.Fatalf("collected %s", it.Name())
				}
				done(t, it, relay.Processed)
				if got := list(t, srv.Path("inbox")); !slices.Equal(got, []string{"processed"}) && !(afterSuccess == "delete" && len(got) == 0) {
					t.Errorf("inbox holds %q, want neither the file nor its marker", got)
				}
				want := []string{"plan.csv", "plan.csv.done"}
				if afterSuccess == "delete" {
					want = nil
				}
				if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, want) {
					t.Errorf("processed holds %q, want %q", got, want)
				}
				if n := len(rr.list()); n != 0 {
					t.Errorf("refusals %v, want none", rr.list())
				}
			})
		}
	})
}

func TestSourceReadyMarkerOlderOrAlone(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	var rr refusals
	src, _ := newSourceWith(t, baseConfig(srv), sftp.SourceOptions{ReadyMarker: ".done"})
	src.ReportRefusalsTo(rr.report)
	data, marker := srv.Path("inbox", "plan.csv"), srv.Path("inbox", "plan.csv.done")
	writeFile(t, data, "rows")
	writeFile(t, marker, "")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(marker, old, old); err != nil {
		t.Fatal(err)
	}
	writeFile(t, srv.Path("inbox", "other.csv.done"), "")
	writeFile(t, srv.Path("inbox", "bad\nname.csv.done"), "")
	expectNothingForPolls(t, src, srv, 3)
	c := rr.current()
	if !strings.Contains(c["plan.csv"], "changed after its ready marker plan.csv.done") ||
		c["other.csv.done"] != "ready marker without its file other.csv" ||
		c["bad\nname.csv.done"] != "the name holds the control character U+000A" {
		t.Fatalf("refusals %v, want plan.csv waiting for a newer marker and other.csv.done alone", rr.list())
	}
	now := time.Now().Add(time.Second)
	if err := os.Chtimes(marker, now, now); err != nil {
		t.Fatal(err)
	}
	if it := next(t, src); it.Name() != "plan.csv" {
		t.Fatalf("collected %s", it.Name())
	}
	if _, ok := rr.current()["plan.csv"]; ok {
		t.Error("plan.csv still reported once its marker was newer")
	}
}

// TestSourceItemChangedAndRetaken: a file that grows after it was
// collected is seen as changed, and once retaken is collected again whole
// after it settles.
func TestSourceItemChangedAndRetaken(t *testing.T) {
	backends(t, func(t *testing.T, opts sftptest.Options) {
		srv := startServer(t, opts)
		src, spool := newSource(t, baseConfig(srv))
		p := srv.Path("inbox", "plan.csv")
		writeFile(t, p, "row 1\n")
		it := next(t, src)
		if change, err := it.Changed(t.Context()); err != nil || change != "" {
			t.Fatalf("Changed: %q, %v; want nothing", change, err)
		}
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("row 2\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		change, err := it.Changed(t.Context())
		if err != nil || change != "6 bytes when collected, 12 now" {
			t.Fatalf("Changed: %q, %v; want the sizes", change, err)
		}
		if err := it.Retake(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := list(t, spool); len(got) != 0 {
			t.Errorf("spool holds %q after Retake", got)
		}
		again := next(t, src)
		if got := readItem(t, again); got != "row 1\nrow 2\n" {
			t.Errorf("collected again %q, want both rows", got)
		}
	})
}

// TestSourceDoneLeavesAFileThatChangedAfterItWasRecorded: the remote file
// is stat'ed again just before it is moved; grown since, it stays.
func TestSourceDoneLeavesAFileThatChangedAfterItWasRecorded(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	p := srv.Path("inbox", "plan.csv")
	writeFile(t, p, "row 1\n")
	it := next(t, src)
	writeFile(t, p, "row 1\nrow 2\n")
	done(t, it, relay.Processed)
	if got := readFile(t, p); got != "row 1\nrow 2\n" {
		t.Fatalf("inbox/plan.csv = %q, want it left with both rows", got)
	}
	if got := list(t, srv.Path("inbox", "processed")); len(got) != 0 {
		t.Errorf("processed holds %q, want nothing", got)
	}
	if got := readItem(t, next(t, src)); got != "row 1\nrow 2\n" {
		t.Errorf("collected again %q", got)
	}
}

func TestNewSourceEmptiesTheSpool(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	spool := t.TempDir()
	for _, name := range []string{"plan.csv", ".plan.csv.123456.tmp"} {
		writeFile(t, filepath.Join(spool, name), "left by a killed run")
	}
	newSourceWith(t, baseConfig(srv), sftp.SourceOptions{SpoolDir: spool})
	if got := list(t, spool); len(got) != 0 {
		t.Errorf("spool holds %q, want nothing", got)
	}
}

func TestNewSourceRejectsABadReadyMarker(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	for _, m := range []string{".part", "a/b", "\x1b"} {
		if _, err := sftp.NewSource(baseConfig(srv), sftp.SourceOptions{SpoolDir: t.TempDir(), ReadyMarker: m}); err == nil {
			t.Errorf("ReadyMarker %q accepted", m)
		}
	}
}
