package sftp_test

import (
	"os"
	"slices"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// appendTo writes s through f, a descriptor the writer has held since
// before the file was moved.
func appendTo(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestSourceCollectsAgainAFileThatGrewAfterItWasMoved: a writer on the
// server pauses with the file open; the file is collected and moved to
// processed/, and the writer writes on into it there. The next polls see
// it grow; once it has settled it is collected again, from processed/,
// whole, saying how it grew; done, it stays where it is.
func TestSourceCollectsAgainAFileThatGrewAfterItWasMoved(t *testing.T) {
	backends(t, func(t *testing.T, opts sftptest.Options) {
		srv := startServer(t, opts)
		src, _ := newSource(t, baseConfig(srv))
		f, err := os.Create(srv.Path("inbox", "plan.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		appendTo(t, f, "row 1\n")
		first := next(t, src)
		if first.GrewAfterArchive() != "" {
			t.Errorf("a first collection says it grew: %q", first.GrewAfterArchive())
		}
		done(t, first, relay.Processed)
		moved := srv.Path("inbox", "processed", "plan.csv")
		if got := readFile(t, moved); got != "row 1\n" {
			t.Fatalf("processed/plan.csv = %q", got)
		}
		appendTo(t, f, "row 2\n")
		again := next(t, src)
		if got := readItem(t, again); again.Name() != "plan.csv" || got != "row 1\nrow 2\n" || again.RemotePath() != "inbox/processed/plan.csv" {
			t.Errorf("collected again %s from %s: %q", again.Name(), again.RemotePath(), got)
		}
		if g := again.GrewAfterArchive(); g != "6 bytes when moved to inbox/processed, 12 when collected again" {
			t.Errorf("GrewAfterArchive %q", g)
		}
		done(t, again, relay.Processed)
		if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"plan.csv"}) {
			t.Errorf("processed holds %q, want the one file left where it was", got)
		}
		// Once more, and then it is closed: the last version is whole.
		appendTo(t, f, "row 3\n")
		f.Close()
		last := next(t, src)
		if got := readItem(t, last); got != "row 1\nrow 2\nrow 3\n" {
			t.Errorf("collected the third time %q", got)
		}
		done(t, last, relay.Quarantined)
		if got := readFile(t, srv.Path("inbox", "quarantine", "plan.csv")); got != "row 1\nrow 2\nrow 3\n" || exists(moved) {
			t.Errorf("quarantined %q; processed/plan.csv still there: %v", got, exists(moved))
		}
		expectNothing(t, src)
	})
}

// TestSourceCollectsAgainAFileThatGrewAfterARetake: a file collected again
// that changes before it is recorded is retaken: it is looked at where it
// is, and collected again from there once it has settled.
func TestSourceCollectsAgainAFileThatGrewAfterARetake(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	f, err := os.Create(srv.Path("inbox", "plan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	appendTo(t, f, "row 1\n")
	done(t, next(t, src), relay.Processed)
	appendTo(t, f, "row 2\n")
	again := next(t, src)
	appendTo(t, f, "row 3\n")
	if change, err := again.Changed(t.Context()); err != nil || change == "" {
		t.Fatalf("Changed: %q, %v", change, err)
	}
	if err := again.Retake(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := readItem(t, next(t, src)); got != "row 1\nrow 2\nrow 3\n" {
		t.Errorf("collected after the retake %q", got)
	}
}

// TestSourceWatchesMovedFilesForAWhileOnly: after WatchAfterArchive a
// moved file is no longer looked at; and a source that deletes, or
// archives by copying, cannot follow a writer at all.
func TestSourceWatchesMovedFilesForAWhileOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*sftp.Config, *sftp.SourceOptions)
	}{
		{"window", func(_ *sftp.Config, o *sftp.SourceOptions) { o.WatchAfterArchive = 3 * testPoll }},
		{"off", func(_ *sftp.Config, o *sftp.SourceOptions) { o.WatchAfterArchive = -1 }},
		{"delete", func(c *sftp.Config, _ *sftp.SourceOptions) { c.AfterSuccess = sftp.AfterSuccessDelete }},
		{"no rename", func(c *sftp.Config, _ *sftp.SourceOptions) { c.NoRename = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, sftptest.Options{})
			cfg, opts := baseConfig(srv), sftp.SourceOptions{}
			tc.configure(&cfg, &opts)
			src, _ := newSourceWith(t, cfg, opts)
			writeFile(t, srv.Path("inbox", "plan.csv"), "row 1\n")
			done(t, next(t, src), relay.Processed)
			// Wait the window out, while the source polls.
			expectNothingForPolls(t, src, srv, 6)
			before := srv.Opens("inbox/processed/plan.csv")
			if p := srv.Path("inbox", "processed", "plan.csv"); exists(p) {
				g, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				g.WriteString("row 2\n")
				g.Close()
			}
			expectNothingForPolls(t, src, srv, 4)
			if n := srv.Opens("inbox/processed/plan.csv"); n != before {
				t.Errorf("downloaded %d times after the window", n-before)
			}
		})
	}
}
