package sftp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

func TestSourceConformance(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	transporttest.TestSource(t, transporttest.SourceTarget{
		Source: src,
		Drop: func(name string, data []byte) error {
			return os.WriteFile(srv.Path("inbox", name), data, 0o644)
		},
		Exists: func(name string) bool { return exists(srv.Path("inbox", name)) },
		Quiet:  quiet,
	})
	if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"a.csv", "b.csv", "c.csv"}) {
		t.Errorf("processed holds %q, want the three files", got)
	}
}

func TestSourceWaitsForFileToSettle(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.SettleTime = 300 * time.Millisecond // far longer than one append round below
	src, _ := newSource(t, cfg)

	f, err := os.Create(srv.Path("inbox", "growing.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want strings.Builder
	appendLine := func(line string) {
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		want.WriteString(line)
	}
	appendLine("id,name\n")

	type result struct {
		it  relay.Item
		err error
	}
	results := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		it, err := src.Next(ctx)
		results <- result{it, err}
	}()

	// Grow the file after every listing, as a slow upload would: each
	// listing sees a new size, so the file never settles.
	for i := range 8 {
		listed := srv.Listings()
		eventually(t, 5*time.Second, func() bool { return srv.Listings() > listed }, "no directory listing")
		select {
		case r := <-results:
			t.Fatalf("Next returned (%v, %v) while the file was still growing, after %d appends", r.it, r.err, i)
		default:
		}
		appendLine(fmt.Sprintf("%d,row %d\n", i, i))
	}

	var r result
	select {
	case r = <-results:
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return once the file stopped growing")
	}
	if r.err != nil {
		t.Fatalf("Next: %v", r.err)
	}
	if got := readItem(t, r.it); r.it.Name() != "growing.csv" || got != want.String() || r.it.Size() != int64(want.Len()) {
		t.Errorf("got %s (%d bytes) %q, want growing.csv %q", r.it.Name(), r.it.Size(), got, want.String())
	}
}

func TestSourcePicksUpFilesWithOldMtimes(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	p := srv.Path("inbox", "copied.csv")
	writeFile(t, p, "id\n7\n")
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	it := next(t, src)
	if it.Name() != "copied.csv" || !it.ModTime().Equal(old) || readItem(t, it) != "id\n7\n" {
		t.Errorf("got %s mtime %v content %q, want copied.csv mtime %v", it.Name(), it.ModTime(), readItem(t, it), old)
	}
}

func TestSourceIgnoresTemporaryNames(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv)) // pattern "*"
	for _, name := range []string{
		".hidden.csv", "upload.csv.part", "upload.csv.tmp", "upload.csv.filepart",
		"UPLOAD.CSV.PART", "~$plan.xlsx",
	} {
		writeFile(t, srv.Path("inbox", name), "ignore me")
	}
	mkdir(t, srv.Path("inbox", "sub"))
	writeFile(t, srv.Path("inbox", "sub", "inner.csv"), "ignore me")
	writeFile(t, srv.Path("inbox", "plan.csv"), "take me")

	it := next(t, src)
	if it.Name() != "plan.csv" || readItem(t, it) != "take me" {
		t.Fatalf("got %s %q, want plan.csv", it.Name(), readItem(t, it))
	}
	expectNothing(t, src)
}

func TestSourcePattern(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.Pattern = "*.csv"
	src, _ := newSource(t, cfg)
	writeFile(t, srv.Path("inbox", "notes.txt"), "ignore me")
	writeFile(t, srv.Path("inbox", "plan.csv"), "take me")
	if it := next(t, src); it.Name() != "plan.csv" {
		t.Fatalf("got %s, want plan.csv", it.Name())
	}
	expectNothing(t, src)
}

func TestSourceHashAndSpool(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, spool := newSource(t, baseConfig(srv))
	content := strings.Repeat("consultant,PA,4\n", 10000) // spans many SFTP packets
	writeFile(t, srv.Path("inbox", "big.csv"), content)

	it := next(t, src)
	sum := sha256.Sum256([]byte(content))
	if it.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256() = %s, want %x", it.SHA256(), sum)
	}
	if got := readItem(t, it); got != content {
		t.Errorf("content: got %d bytes, want %d", len(got), len(content))
	}
	if got := list(t, spool); !slices.Equal(got, []string{"big.csv"}) {
		t.Errorf("spool holds %q while the item is outstanding, want [big.csv]", got)
	}
	done(t, it, relay.Processed)
	if got := list(t, spool); len(got) != 0 {
		t.Errorf("spool holds %q after Done, want nothing", got)
	}
	if _, err := it.Open(context.Background()); err == nil {
		t.Error("Open after Done succeeded, want an error")
	}
}

func TestSourceDone(t *testing.T) {
	for _, tc := range []struct {
		name         string
		afterSuccess string
		outcome      relay.Outcome
		wantDir      string // "" when the file must be deleted
	}{
		{"processed moves", "move", relay.Processed, "processed"},
		{"processed deletes", "delete", relay.Processed, ""},
		{"quarantined moves", "move", relay.Quarantined, "quarantine"},
		{"quarantined moves in delete mode", "delete", relay.Quarantined, "quarantine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, sftptest.Options{})
			cfg := baseConfig(srv)
			cfg.AfterSuccess = tc.afterSuccess
			src, _ := newSource(t, cfg)
			writeFile(t, srv.Path("inbox", "plan.csv"), "rows")

			it := next(t, src)
			done(t, it, tc.outcome)
			done(t, it, tc.outcome) // Done must be safe to repeat

			if exists(srv.Path("inbox", "plan.csv")) {
				t.Error("plan.csv is still in the inbox")
			}
			for _, dir := range []string{"processed", "quarantine"} {
				got := list(t, srv.Path("inbox", dir))
				if dir == tc.wantDir {
					if !slices.Equal(got, []string{"plan.csv"}) || readFile(t, srv.Path("inbox", dir, "plan.csv")) != "rows" {
						t.Errorf("%s holds %q, want plan.csv with its content", dir, got)
					}
				} else if len(got) != 0 {
					t.Errorf("%s holds %q, want nothing", dir, got)
				}
			}
		})
	}
}

func TestSourceArchiveKeepsEarlierFileOfSameName(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	mkdir(t, srv.Path("inbox", "processed"))
	writeFile(t, srv.Path("inbox", "processed", "plan.csv"), "last week")
	writeFile(t, srv.Path("inbox", "plan.csv"), "this week")

	it := next(t, src)
	done(t, it, relay.Processed)
	hashed := "plan." + it.SHA256()[:12] + ".csv"
	if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{hashed, "plan.csv"}) {
		t.Fatalf("processed holds %q, want [%s plan.csv]", got, hashed)
	}
	if got := readFile(t, srv.Path("inbox", "processed", "plan.csv")); got != "last week" {
		t.Errorf("earlier archive overwritten: %q", got)
	}
	if got := readFile(t, srv.Path("inbox", "processed", hashed)); got != "this week" {
		t.Errorf("%s = %q, want this week's file", hashed, got)
	}
}

func TestSourceDoneWhenRemoteAlreadyGone(t *testing.T) {
	// A retry after a lost reply finds the file already archived.
	srv := startServer(t, sftptest.Options{})
	src, spool := newSource(t, baseConfig(srv))
	writeFile(t, srv.Path("inbox", "plan.csv"), "rows")
	it := next(t, src)
	mkdir(t, srv.Path("elsewhere"))
	if err := os.Rename(srv.Path("inbox", "plan.csv"), srv.Path("elsewhere", "plan.csv")); err != nil {
		t.Fatal(err)
	}
	done(t, it, relay.Processed)
	if got := list(t, srv.Path("inbox", "processed")); len(got) != 0 {
		t.Errorf("processed holds %q, want nothing", got)
	}
	if got := list(t, spool); len(got) != 0 {
		t.Errorf("spool holds %q, want nothing", got)
	}
}

func TestSourceDoneLeavesNewDropOfSameName(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	writeFile(t, srv.Path("inbox", "plan.csv"), "version 1")
	it := next(t, src)
	// The supplier drops a corrected file under the same name before the
	// first one is acknowledged; archiving must not take it unread.
	writeFile(t, srv.Path("inbox", "plan.csv"), "version 2, corrected")
	done(t, it, relay.Processed)
	if got := readFile(t, srv.Path("inbox", "plan.csv")); got != "version 2, corrected" {
		t.Fatalf("inbox/plan.csv = %q, want the new drop left in place", got)
	}
	it2 := next(t, src)
	if got := readItem(t, it2); got != "version 2, corrected" {
		t.Errorf("second item %q, want version 2", got)
	}
	done(t, it2, relay.Processed)
	if got := readFile(t, srv.Path("inbox", "processed", "plan.csv")); got != "version 2, corrected" {
		t.Errorf("processed/plan.csv = %q, want version 2", got)
	}
}

func TestSourceLastFileCleanedUpAfterClose(t *testing.T) {
	// Redpanda Connect #2435: the last file was never deleted. Acknowledge
	// the last item after the source has been shut down.
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.AfterSuccess = "delete"
	src, spool := newSource(t, cfg)
	writeFile(t, srv.Path("inbox", "last.csv"), "rows")
	it := next(t, src)
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, relay.ErrSourceClosed) {
		t.Errorf("Next after Close: %v, want ErrSourceClosed", err)
	}
	done(t, it, relay.Processed)
	if got := list(t, srv.Path("inbox")); len(got) != 0 {
		t.Errorf("inbox holds %q after the last Done, want nothing", got)
	}
	if got := list(t, spool); len(got) != 0 {
		t.Errorf("spool holds %q, want nothing", got)
	}
}

func TestSourceCloseUnblocksNext(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	errs := make(chan error, 1)
	go func() {
		_, err := src.Next(context.Background())
		errs <- err
	}()
	eventually(t, 5*time.Second, func() bool { return srv.Listings() > 0 }, "source never listed the inbox")
	src.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, relay.ErrSourceClosed) {
			t.Errorf("Next: %v, want ErrSourceClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
}

func TestSourceReconnectsAfterDrop(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	src, _ := newSource(t, baseConfig(srv))
	writeFile(t, srv.Path("inbox", "a.csv"), "first")
	a := next(t, src)
	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	// Done must get through on a fresh connection.
	done(t, a, relay.Processed)

	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	writeFile(t, srv.Path("inbox", "b.csv"), "second")
	b := next(t, src)
	if b.Name() != "b.csv" || readItem(t, b) != "second" {
		t.Errorf("after reconnect got %s %q, want b.csv", b.Name(), readItem(t, b))
	}
	done(t, b, relay.Processed)
	if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"a.csv", "b.csv"}) {
		t.Errorf("processed holds %q, want [a.csv b.csv]", got)
	}
	if n := srv.Logins(); n != 3 {
		t.Errorf("server saw %d logins, want 3 (one per connection)", n)
	}
}

func TestSourceNoRenameCopiesThenDeletes(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetRefuseRename(true)
	cfg := baseConfig(srv)
	cfg.NoRename = true
	src, _ := newSource(t, cfg)
	writeFile(t, srv.Path("inbox", "plan.csv"), "rows")
	it := next(t, src)
	done(t, it, relay.Quarantined)
	if exists(srv.Path("inbox", "plan.csv")) {
		t.Error("plan.csv is still in the inbox")
	}
	if got := readFile(t, srv.Path("inbox", "quarantine", "plan.csv")); got != "rows" {
		t.Errorf("quarantine/plan.csv = %q, want rows", got)
	}
}

func TestSourceRenameRefused(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetRefuseRename(true)
	src, _ := newSource(t, baseConfig(srv))
	writeFile(t, srv.Path("inbox", "plan.csv"), "rows")
	it := next(t, src)

	err := it.Done(context.Background(), relay.Ack{Outcome: relay.Processed})
	if err == nil || retry.IsRetryable(err) {
		t.Fatalf("Done with rename refused: %v, want a permanent error", err)
	}
	if readFile(t, srv.Path("inbox", "plan.csv")) != "rows" {
		t.Fatal("the remote file changed although archiving failed")
	}
	// Done is safe to retry once the server is fixed.
	srv.SetRefuseRename(false)
	done(t, it, relay.Processed)
	if got := readFile(t, srv.Path("inbox", "processed", "plan.csv")); got != "rows" {
		t.Errorf("processed/plan.csv = %q, want rows", got)
	}
}

func TestSourceMissingDirIsPermanent(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.Dir = "no-such-dir"
	src, _ := newSource(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := src.Next(ctx)
	if err == nil || retry.IsRetryable(err) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no-such-dir") {
		t.Fatalf("Next on a missing directory: %v, want a permanent not-exist error naming it", err)
	}
}

func TestSourceRefusesUntrustedHost(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.HostKeyFingerprints = sftp.Fingerprints{otherFingerprint(t)}
	src, _ := newSource(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := src.Next(ctx)
	// Returned at once, to be tried again after the login back-off.
	var hkErr *sftp.HostKeyError
	var refused *sftp.LoginError
	if !errors.As(err, &hkErr) || !errors.As(err, &refused) || retry.After(err) < time.Minute {
		t.Fatalf("Next against an untrusted host: %v, want a *HostKeyError in a *LoginError backing off for minutes", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := sftptest.Start(t, sftptest.Options{Password: testPassword})
	mkdir(t, srv.Path("inbox"))
	src, _ := newSource(t, baseConfig(srv))
	sink := newSink(t, baseConfig(srv))
	if err := put(t, sink, "plan.csv", "rows"); err != nil {
		t.Fatal(err)
	}
	done(t, next(t, src), relay.Processed)
	srv.DropConnections() // leave both clients with a dead connection
	src.Close()
	sink.Close()
	srv.Close()
	eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
		"%d goroutines still running, want %d", runtime.NumGoroutine(), before)
}
