package sftp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

func sinkConfig(t *testing.T, srv *sftptest.Server) sftp.Config {
	mkdir(t, srv.Path("outbox"))
	cfg := baseConfig(srv)
	cfg.Dir = "outbox"
	return cfg
}

func newSink(t *testing.T, cfg sftp.Config) *sftp.Sink {
	t.Helper()
	s, err := sftp.NewSink(cfg)
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *sftp.Sink, name, data string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Put(ctx, name, strings.NewReader(data))
}

// sinkTarget views the sink's destination directory on the server's disk.
func sinkTarget(t *testing.T, srv *sftptest.Server, s *sftp.Sink) transporttest.SinkTarget {
	return transporttest.SinkTarget{
		Sink: s,
		Read: func(name string) ([]byte, error) { return os.ReadFile(srv.Path("outbox", name)) },
		List: func() ([]string, error) { return list(t, srv.Path("outbox")), nil },
	}
}

func TestSinkConformance(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
}

func TestSinkConformanceWithoutPosixRename(t *testing.T) {
	srv := startServer(t, sftptest.Options{HideExtensions: true})
	transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
}

// TestSinkConformanceAsProFTPD: a server without posix-rename whose
// rename onto an existing name fails with "File already exists".
func TestSinkConformanceAsProFTPD(t *testing.T) {
	srv := startServer(t, sftptest.Options{HideExtensions: true})
	srv.SetRenameOverExisting(sftptest.RenameAlreadyExists)
	transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
}

func TestSinkConformanceNoRename(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetRefuseRename(true)
	cfg := sinkConfig(t, srv)
	cfg.NoRename = true
	transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, cfg)))
}

// TestSinkReplacesWithoutPosixRename replaces an existing file on servers
// without posix-rename, whose plain rename refuses an existing target
// each in its own words: OpenSSH with SSH_FX_FAILURE, ProFTPD with "File
// already exists" and a status code SFTP v3 does not know. Both backends,
// since the proxy answers for either.
func TestSinkReplacesWithoutPosixRename(t *testing.T) {
	backends := map[string]string{"pkg/sftp": "", "openssh": sftptest.RequireServerBinary(t)}
	for name, bin := range backends {
		for _, mode := range []struct {
			name string
			r    sftptest.RenameOverExisting
		}{{"as OpenSSH", sftptest.RenameFailure}, {"as ProFTPD", sftptest.RenameAlreadyExists}} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				srv := startServer(t, sftptest.Options{ServerBinary: bin, HideExtensions: true})
				srv.SetRenameOverExisting(mode.r)
				s := newSink(t, sinkConfig(t, srv))
				writeFile(t, srv.Path("outbox", "plan.ndjson"), "stale")
				if err := put(t, s, "plan.ndjson", "fresh"); err != nil {
					t.Fatalf("Put over an existing file: %v", err)
				}
				if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != "fresh" {
					t.Errorf("plan.ndjson = %q, want the new content", got)
				}
				if got := list(t, srv.Path("outbox")); !slices.Equal(got, []string{"plan.ndjson"}) {
					t.Errorf("outbox holds %q, want [plan.ndjson] and no temporary file", got)
				}
			})
		}
	}
}

// TestSinkRenameRefusedKeepsTheOldFile: a server that refuses every
// rename, whatever its status code, loses nothing: the old file stays
// until a rename is known to work.
func TestSinkRenameRefusedKeepsTheOldFile(t *testing.T) {
	srv := startServer(t, sftptest.Options{HideExtensions: true})
	srv.SetRefuseRename(true)
	s := newSink(t, sinkConfig(t, srv))
	writeFile(t, srv.Path("outbox", "plan.ndjson"), "old")
	err := put(t, s, "plan.ndjson", "new")
	wantPermanent(t, err, "no_rename")
	if got := list(t, srv.Path("outbox")); !slices.Equal(got, []string{"plan.ndjson"}) {
		t.Errorf("outbox holds %q, want only the old plan.ndjson", got)
	}
	if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != "old" {
		t.Errorf("old file changed to %q although no rename works", got)
	}
}

func TestSinkPublishesOnlyWhenComplete(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	s := newSink(t, sinkConfig(t, srv))
	first := bytes.Repeat([]byte("a"), 100_000)
	second := bytes.Repeat([]byte("b"), 50_000)

	pr, pw := io.Pipe()
	errs := make(chan error, 1)
	go func() { errs <- s.Put(context.Background(), "plan.ndjson", pr) }()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	// Mid-upload: only a hidden .part file exists.
	var names []string
	eventually(t, 5*time.Second, func() bool {
		names = list(t, srv.Path("outbox"))
		return len(names) == 1 && strings.HasPrefix(names[0], ".plan.ndjson.") && strings.HasSuffix(names[0], ".part")
	}, "no .part file during the upload; outbox holds %q", names)
	if exists(srv.Path("outbox", "plan.ndjson")) {
		t.Fatal("final name visible before the upload finished")
	}
	if _, err := pw.Write(second); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-errs; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := list(t, srv.Path("outbox")); !slices.Equal(got, []string{"plan.ndjson"}) {
		t.Errorf("outbox holds %q, want [plan.ndjson]", got)
	}
	if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != string(first)+string(second) {
		t.Errorf("content: got %d bytes, want %d", len(got), len(first)+len(second))
	}
}

func TestSinkFailedUploadLeavesNothing(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	s := newSink(t, sinkConfig(t, srv))
	writeFile(t, srv.Path("outbox", "plan.ndjson"), "old")
	boom := errors.New("staged file unreadable")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	err := s.Put(context.Background(), "plan.ndjson", r)
	if !errors.Is(err, boom) {
		t.Fatalf("Put: %v, want the reader's error", err)
	}
	if got := list(t, srv.Path("outbox")); !slices.Equal(got, []string{"plan.ndjson"}) {
		t.Errorf("outbox holds %q, want only the old plan.ndjson", got)
	}
	if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != "old" {
		t.Errorf("old file changed to %q", got)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSinkRenameRefused(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetRefuseRename(true)
	s := newSink(t, sinkConfig(t, srv))
	writeFile(t, srv.Path("outbox", "plan.ndjson"), "old")
	err := put(t, s, "plan.ndjson", "new")
	wantPermanent(t, err, "no_rename")
	if got := list(t, srv.Path("outbox")); !slices.Equal(got, []string{"plan.ndjson"}) {
		t.Errorf("outbox holds %q, want only the old plan.ndjson (no .part left over)", got)
	}
	if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != "old" {
		t.Errorf("old file changed to %q although the upload failed", got)
	}
}

func TestSinkStat(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetRefuseStat(true) // a write-only drop box

	s := newSink(t, sinkConfig(t, srv))
	err := put(t, s, "plan.ndjson", "rows")
	wantPermanent(t, err, "no_stat")
	if got := list(t, srv.Path("outbox")); len(got) != 0 {
		t.Errorf("outbox holds %q after a failed upload, want nothing", got)
	}

	cfg := sinkConfig(t, srv)
	cfg.NoStat = true
	if err := put(t, newSink(t, cfg), "plan.ndjson", "rows"); err != nil {
		t.Fatalf("Put with no_stat: %v", err)
	}
	if got := readFile(t, srv.Path("outbox", "plan.ndjson")); got != "rows" {
		t.Errorf("plan.ndjson = %q, want rows", got)
	}
}

func TestSinkRejectsBadNames(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	s := newSink(t, sinkConfig(t, srv))
	for _, name := range []string{"", ".", "..", "../escape.ndjson", "sub/plan.ndjson", `..\escape.ndjson`} {
		err := put(t, s, name, "rows")
		if err == nil || retry.IsRetryable(err) {
			t.Errorf("Put(%q): %v, want a permanent error", name, err)
		}
	}
	if got := list(t, srv.Root); !slices.Equal(got, []string{"inbox", "outbox"}) {
		t.Errorf("server root holds %q, want nothing new", got)
	}
	if got := list(t, srv.Path("outbox")); len(got) != 0 {
		t.Errorf("outbox holds %q, want nothing", got)
	}
}

func TestSinkReconnectsAfterDrop(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	s := newSink(t, sinkConfig(t, srv))
	if err := put(t, s, "one.ndjson", "1"); err != nil {
		t.Fatal(err)
	}
	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	// The relay retries temporary failures with a fresh reader; one retry
	// must be enough.
	if err := put(t, s, "two.ndjson", "2"); err != nil {
		if !retry.IsRetryable(err) {
			t.Fatalf("Put after a dropped connection: %v, want success or a temporary error", err)
		}
		if err := put(t, s, "two.ndjson", "2"); err != nil {
			t.Fatalf("Put retried after a dropped connection: %v", err)
		}
	}
	if got := readFile(t, srv.Path("outbox", "two.ndjson")); got != "2" {
		t.Errorf("two.ndjson = %q", got)
	}
	if srv.Logins() != 2 {
		t.Errorf("server saw %d logins, want 2", srv.Logins())
	}
}

func TestSinkMissingDirIsPermanent(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.Dir = "no-such-dir"
	err := put(t, newSink(t, cfg), "plan.ndjson", "rows")
	if err == nil || retry.IsRetryable(err) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Put into a missing directory: %v, want a permanent not-exist error", err)
	}
}
